#pragma once

// Co-op accrual: the handler the Kafka consumer runner (libs/kafka) calls for
// every event of the pos_ingestion topic. A sell-in shipment credits the
// partner's open co-op fund with --coop_accrual_bps of its purchase value
// (domain::DecideAccrual), exactly once:
//  - redelivery and restarts: the runner applies the handler's writes in the
//    same store command as its offsets and (ce_source, global_position)
//    marks, so a redelivered event is skipped and an applied one is never
//    lost;
//  - a shipment re-sent in a NEW event (another global position, e.g. a
//    corrected re-upload of a report): the credit is keyed by shipment id in
//    rm_shipments, written in the same command as the CoopAccrued event, so
//    the second one credits nothing.
// A shipment that credits nothing (no open co-op fund of the partner in its
// currency covering the shipment day, zero value) is not recorded, so it is
// considered again if it is re-sent later. Events of other types are ignored.
// A malformed shipment is an INVALID_ARGUMENT: the runner logs it, counts it
// and skips it (poison).
//
// The consumed contract: event_type "channelops.pos.v1.ShipmentRecorded" with
// a channelops.pos.v1.ShipmentRecorded payload (proto/channelops/pos/v1/events.proto).
//
// Thread-safe (stateless after construction); Apply runs on the store's writer.

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "channelops/eventstore/event_store.h"
#include "channelops/kafka/consumer_runner.h"

namespace channelops::mdf {

inline constexpr char kPosTopic[] = "channelops.pos_ingestion.events.v1";
inline constexpr char kShipmentRecordedType[] = "channelops.pos.v1.ShipmentRecorded";
inline constexpr char kCoopAccrualActor[] = "system:coop_accrual";

class CoopAccrual {
 public:
  // CHECKs 0 <= rate_bps <= 10000.
  explicit CoopAccrual(int64_t rate_bps);

  // The kafka::Handler: see the header comment. Errors: INVALID_ARGUMENT
  // (poison: malformed shipment), OUT_OF_RANGE (poison: overflow), the Tx's
  // UNAVAILABLE (the runner retries the batch), DATA_LOSS (corrupt read model).
  absl::Status Apply(eventstore::Tx& tx, const kafka::ConsumedEvent& event) const;

  // Apply as a kafka::Handler (this must outlive the runner).
  kafka::Handler AsHandler() const;

  int64_t rate_bps() const { return rate_bps_; }

 private:
  const int64_t rate_bps_;
};

}  // namespace channelops::mdf
