#pragma once

// Partner ROI over the projections read models: the figures GetPartnerRoi and
// ListPartnerRoi serve and PartnerRoiChanged carries, computed by one function
// from either committed data (the query side) or what a store command sees
// (the projector, inside the batch that changed them), so the two cannot
// disagree. The definitions are in docs/projections.md, "Partner ROI".

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "channelops/analytics/v1/analytics.pb.h"
#include "channelops/common/v1/types.pb.h"
#include "channelops/core/money.h"
#include "channelops/eventstore/event_store.h"
#include "projections/state_cache.h"

namespace channelops::projections {

// Point reads and prefix scans over the read models.
class ReadModelView {
 public:
  virtual ~ReadModelView() = default;
  // UNAVAILABLE on a storage failure.
  virtual absl::StatusOr<std::optional<std::string>> Get(const char* cf,
                                                         const std::string& key) = 0;
  // The keys starting with `prefix`, in key order, with the prefix removed.
  // UNAVAILABLE on a storage failure.
  virtual absl::StatusOr<std::vector<std::string>> Suffixes(const char* cf,
                                                            const std::string& prefix) = 0;
  // The projector's cache, when the view reads through one (parsed records
  // are then shared, not parsed again); nullptr otherwise.
  virtual CachedTx* cached_tx() { return nullptr; }
};

// Committed data. Thread-safe (the store's reads are); `store` must outlive it.
class CommittedView final : public ReadModelView {
 public:
  explicit CommittedView(const eventstore::EventStore& store) : store_(store) {}
  absl::StatusOr<std::optional<std::string>> Get(const char* cf, const std::string& key) override;
  absl::StatusOr<std::vector<std::string>> Suffixes(const char* cf,
                                                    const std::string& prefix) override;

 private:
  const eventstore::EventStore& store_;
};

// What a store command sees: committed data, writes staged by earlier
// commands and its own. Only on the writer thread, during the command.
class CommandView final : public ReadModelView {
 public:
  explicit CommandView(eventstore::Tx& tx) : tx_(tx) {}
  explicit CommandView(CachedTx& tx) : tx_(tx), cached_(&tx) {}
  absl::StatusOr<std::optional<std::string>> Get(const char* cf, const std::string& key) override;
  absl::StatusOr<std::vector<std::string>> Suffixes(const char* cf,
                                                    const std::string& prefix) override;
  CachedTx* cached_tx() override { return cached_; }

 private:
  eventstore::Tx& tx_;
  CachedTx* cached_ = nullptr;
};

// The figures of `partner_id` in the month `period_id` ("YYYY-MM"), in
// `currency` (amounts in other currencies are ignored), ROI at `margin_bps`
// (0..10000). Inputs are not validated (the RPCs do). Errors: DATA_LOSS for a
// corrupt read model, UNAVAILABLE from storage, OUT_OF_RANGE on overflow.
absl::StatusOr<analytics::v1::PartnerRoi> ComputePartnerRoi(ReadModelView& view,
                                                            const std::string& partner_id,
                                                            const std::string& period_id,
                                                            const std::string& currency,
                                                            int32_t margin_bps);

// The same for several months of one partner at once (what is read for every
// month, the partner's funded campaigns, their leads and its registrations, is
// read once): one result per entry of `period_ids`, in order, each exactly
// ComputePartnerRoi's for that month. Errors of the whole call: DATA_LOSS for
// a corrupt read model, UNAVAILABLE from storage; a month's own: OUT_OF_RANGE
// on overflow (also DATA_LOSS / INVALID_ARGUMENT for a corrupt amount).
absl::StatusOr<std::vector<absl::StatusOr<analytics::v1::PartnerRoi>>> ComputePartnerRois(
    ReadModelView& view, const std::string& partner_id, const std::vector<std::string>& period_ids,
    const std::string& currency, int32_t margin_bps);

// Helpers shared with the pipeline query.
// A registration counted in the pipeline: pending, approved or returned.
bool IsOpenRegistration(int32_t deal_status);
// Zero in `currency` (an ISO code).
core::Money ZeroIn(const std::string& currency);
// total += m when m is in total's currency; other currencies are ignored.
// OUT_OF_RANGE on overflow, INVALID_ARGUMENT for a malformed amount.
absl::Status AddInCurrency(core::Money& total, const common::v1::Money& m);

}  // namespace channelops::projections
