#pragma once

// The crediting rules of a comp plan: which roles a sale credits, how the
// revenue is shared between them (SPLIT or OVERLAY), the commission of each,
// the partner's registered-deal bonus and incentive, hold days and clawback.
// Used by the projections service, which resolves the facts (attribution,
// payees) and keeps the credit lines. Pure and thread-safe; amounts are exact
// (core::Money) and splits sum exactly (core::Allocate, largest remainder).

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "channelops/comp/v1/comp.pb.h"
#include "channelops/core/money.h"

namespace channelops::comp::domain {

// A role holder on a sale, other than the selling partner.
struct CreditParty {
  v1::Role role = v1::ROLE_UNSPECIFIED;
  std::string payee_id;
  std::string source;  // why: the assignment id, or "direct_opportunity:<id>"
};

struct SaleForCredit {
  SaleForCredit(core::Money revenue, std::string partner_id)
      : revenue(std::move(revenue)), partner_id(std::move(partner_id)) {}

  core::Money revenue;     // the line's revenue (>= 0), in the plan's currency
  std::string partner_id;  // the selling partner (credited as ROLE_PARTNER)
  // Attributed to an approved deal registration: the partner earns the
  // plan's registered-deal bonus.
  bool registered = false;
  std::string deal_id;  // the registration, if registered
  // This sale carries the registration's one-off incentive (the first sale
  // attributed to it).
  bool carries_incentive = false;
  std::vector<CreditParty> parties;  // at most one per role; ROLE_PARTNER not allowed
};

// One credit component of a sale: what one payee earns in one role and kind.
struct CreditComponent {
  std::string key;  // "<ROLE>|<payee>|<KIND>": unique within a sale
  v1::Role role = v1::ROLE_UNSPECIFIED;
  std::string payee_id;
  v1::CreditKind kind = v1::CREDIT_KIND_UNSPECIFIED;
  core::Money credited_revenue;  // revenue credited to the role (after a split)
  int32_t rate_bps = 0;          // rate applied (0 for the incentive)
  core::Money amount;            // what the payee earns (exact)
  int32_t share_bps = 10000;     // share of the revenue credited to the role
  v1::SplitMode split_mode = v1::SPLIT_MODE_UNSPECIFIED;  // with split_with, if a rule applied
  v1::Role split_with = v1::ROLE_UNSPECIFIED;
  std::string source;  // why this payee (assignment id, opportunity)
  std::string rule;    // the plan rule, in words
};

// The components a sale earns under `plan`. Roles without a rate in the plan
// are not credited and take no part in splits; zero amounts are omitted.
// INVALID_ARGUMENT if the revenue is negative or not in the plan's currency,
// or a party is ROLE_PARTNER / repeats a role; OUT_OF_RANGE on overflow.
absl::StatusOr<std::vector<CreditComponent>> ComputeCredits(const v1::Plan& plan,
                                                            const SaleForCredit& sale);

// The component key.
std::string ComponentKey(v1::Role role, const std::string& payee_id, v1::CreditKind kind);

// The part of `amount` that `returned` of `quantity` units carry:
// core::Allocate(amount, {returned, quantity - returned})[0], so that the
// parts of successive returns, computed as Share(total returned) - Share(before),
// add up exactly to `amount` when everything is returned.
// INVALID_ARGUMENT unless 0 <= returned <= quantity and quantity > 0.
absl::StatusOr<core::Money> ReturnedShare(const core::Money& amount, int64_t returned,
                                          int64_t quantity);

// Whether a return on `return_day` of a sale on `sale_day` claws its credits
// back under `plan`.
bool ClawbackApplies(const v1::Plan& plan, absl::CivilDay sale_day, absl::CivilDay return_day);

// The day a credit of a sale on `sale_day` becomes payable: sale day + hold days.
absl::CivilDay PayableOn(const v1::Plan& plan, absl::CivilDay sale_day);

}  // namespace channelops::comp::domain
