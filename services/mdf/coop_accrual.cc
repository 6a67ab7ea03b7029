#include "mdf/coop_accrual.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "channelops/core/check.h"
#include "channelops/core/status_macros.h"
#include "channelops/pos/v1/events.pb.h"
#include "channelops/server/rpc.h"
#include "mdf/domain/convert.h"
#include "mdf/domain/decider.h"
#include "mdf/domain/validation.h"
#include "mdf/storage.h"

namespace channelops::mdf {
namespace {

absl::Status Malformed(const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat(kShipmentRecordedType, ": ", why));
}

}  // namespace

CoopAccrual::CoopAccrual(int64_t rate_bps) : rate_bps_(rate_bps) {
  CHANNELOPS_CHECK(rate_bps >= 0 && rate_bps <= domain::kMaxAccrualBps) << "rate " << rate_bps;
}

absl::Status CoopAccrual::Apply(eventstore::Tx& tx, const kafka::ConsumedEvent& event) const {
  const common::v1::EventEnvelope& env = event.envelope;
  if (env.event_type() != kShipmentRecordedType) return absl::OkStatus();
  pos::v1::ShipmentRecorded shipment;
  if (!env.payload().UnpackTo(&shipment)) {
    return Malformed(absl::StrCat("payload ", env.payload().type_url(), " does not unpack"));
  }
  if (auto st = domain::ValidateShipment(shipment); !st.ok()) {
    return Malformed(absl::StrCat("shipment ", shipment.shipment_id(), ": ", st.message()));
  }
  CHANNELOPS_ASSIGN_OR_RETURN(auto credited, server::GetProto<v1::ShipmentAccrual>(
                                                 tx, kShipmentsCf, shipment.shipment_id()));
  if (credited) return absl::OkStatus();  // re-sent: credited once already

  domain::AccrueCoop cmd;
  cmd.source = event.ce_source;
  cmd.source_global_position = event.global_position;
  cmd.source_event_id = env.event_id();
  cmd.occurred_at = domain::FromProtoTime(env.occurred_at());
  cmd.rate_bps = rate_bps_;
  CHANNELOPS_ASSIGN_OR_RETURN(cmd.partner_funds, LoadPartnerFunds(tx, shipment.partner_id()));
  cmd.shipment = std::move(shipment);
  const domain::Context ctx{tx.now(), kCoopAccrualActor};
  CHANNELOPS_ASSIGN_OR_RETURN(domain::AccrualDecision decision, domain::DecideAccrual(cmd, ctx));
  if (decision.events.empty()) return absl::OkStatus();

  Aggregates before;
  for (v1::Fund& f : cmd.partner_funds) {
    if (f.fund_id() == decision.fund_id) before.fund = std::move(f);
  }
  CHANNELOPS_CHECK(!before.fund.fund_id().empty()) << "the chosen fund is the partner's";
  CHANNELOPS_RETURN_IF_ERROR(Commit(tx, before, decision.events).status());
  const auto& accrued = std::get<v1::CoopAccrued>(decision.events.front());
  v1::ShipmentAccrual record;
  record.set_shipment_id(accrued.shipment_id());
  record.set_fund_id(decision.fund_id);
  *record.mutable_amount() = accrued.amount();
  record.set_source(event.ce_source);
  record.set_source_global_position(event.global_position);
  *record.mutable_accrued_at() = accrued.occurred_at();
  tx.Put(kShipmentsCf, accrued.shipment_id(), record.SerializeAsString());
  return absl::OkStatus();
}

kafka::Handler CoopAccrual::AsHandler() const {
  return [this](eventstore::Tx& tx, const kafka::ConsumedEvent& event) { return Apply(tx, event); };
}

}  // namespace channelops::mdf
