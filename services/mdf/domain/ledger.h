#pragma once

// The fund ledger: every money-moving event becomes one or two LedgerEntry
// movements, and a fund's balance is the fold of its movements. The fund read
// model, the `fund_balance` carried by events, and the partner statement all
// use these functions, so they cannot disagree. Pure and thread-safe.
//
//   type       allocated accrued adjustments reserved paid expired | available
//   ALLOCATED     +a                                               |    +a
//   ACCRUED               +a                                       |    +a
//   ADJUSTED                      +a (signed)                      |    +a
//   RESERVED                                  +a                   |    -a
//   RELEASED                                  -a                   |    +a
//   PAID                                      -a     +a            |     0
//   EXPIRED                                                  +a    |    -a

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "channelops/core/money.h"
#include "channelops/mdf/v1/mdf.pb.h"
#include "mdf/domain/events.h"

namespace channelops::mdf::domain {

// A balance / activity of all zeros in `currency`.
v1::FundBalance ZeroBalance(const std::string& currency);
v1::FundActivity ZeroActivity(const std::string& currency);

// The movements an event records, in order (empty for events that move no
// money). Zero-amount releases and expiries are left out; an allocation of
// zero (a co-op fund opened to accrue) is kept.
std::vector<v1::LedgerEntry> LedgerEntriesOf(const Event& e);

// The effect of a movement on the available balance.
core::Money AvailableDelta(const v1::LedgerEntry& entry);

// Applies a movement (and recomputes `available`). OUT_OF_RANGE if a total
// would overflow. CHECKs that the currencies agree.
absl::Status ApplyEntry(v1::FundBalance& balance, const v1::LedgerEntry& entry);
// Adds a movement to period totals. OUT_OF_RANGE on overflow.
absl::Status AddToActivity(v1::FundActivity& activity, const v1::LedgerEntry& entry);

// allocated + accrued + adjustments - reserved - paid - expired.
// OUT_OF_RANGE on overflow.
absl::StatusOr<core::Money> ComputeAvailable(const v1::FundBalance& b);

}  // namespace channelops::mdf::domain
