#pragma once

// The deal registration decider: pure Decide / Evolve functions over three
// aggregates (programme rules, deals, direct opportunities per account). No
// I/O, no clock reads, no randomness: time and actor come in the Context, new
// ids and everything read from other aggregates (the rules in force, the claims
// found in the customer index) come in the command. Every function is pure and
// thread-safe.
//
// Errors returned by Decide (nothing is recorded on error):
//   INVALID_ARGUMENT     input that is well formed but wrong in context (unknown
//                        programme, currency other than the programme's, close
//                        date in the past, SPA line index out of range), with
//                        google.rpc.BadRequest field violations
//   NOT_FOUND            the deal / SPA request does not exist
//   ABORTED              UpdateDeal with a stale expected_version
//   FAILED_PRECONDITION  the deal's status does not allow the command
//   PERMISSION_DENIED    DecideSpecialPricing by a role below the request's tier
// Business outcomes (a registration refused by the rules of engagement, a SPA
// above the top tier) are events, not errors.

#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "channelops/dealreg/v1/dealreg.pb.h"
#include "channelops/dealreg/v1/events.pb.h"
#include "channelops/dealreg/v1/read_models.pb.h"
#include "google/protobuf/message.h"

namespace channelops::dealreg::domain {

inline constexpr int32_t kDefaultExpiryDays = 30;
inline constexpr char kAutoDecider[] = "auto";

struct Context {
  absl::Time now;     // the instant the command is decided at
  std::string actor;  // authenticated principal
};

using Event = std::variant<v1::ProgramRulesSet, v1::DealRegistered, v1::DealApproved,
                           v1::DealRejected, v1::DealReturned, v1::DealUpdated, v1::DealExpired,
                           v1::DealClosed, v1::DirectOpportunityRecorded,
                           v1::SpecialPricingRequested, v1::SpecialPricingDecided>;

// The event as a protobuf message (to pack into an envelope).
const google::protobuf::Message& AsMessage(const Event& e);

// Stream ids.
std::string RulesStream(const std::string& program_id);
std::string DealStream(const std::string& deal_id);
std::string AccountStream(const std::string& customer_or_domain_key);

// ---------------------------------------------------------------------------
// Programme rules (stream rules-<program>). State: the rules in force
// (version 0: none yet).
// ---------------------------------------------------------------------------
struct SetProgramRules {
  v1::ProgramRules rules;  // shape-validated
};
absl::StatusOr<std::vector<Event>> Decide(const v1::ProgramRules& state, const SetProgramRules& c,
                                          const Context& ctx);
v1::ProgramRules Evolve(v1::ProgramRules state, const Event& e);
int32_t ExpiryDays(const v1::ProgramRules& rules);  // 0 -> kDefaultExpiryDays

// ---------------------------------------------------------------------------
// Deals (stream deal-<id>). State: v1::Deal; deal_id empty: does not exist.
// ---------------------------------------------------------------------------

// Registration. `rules`: the programme's rules in force (nullopt: unknown
// programme). `claims`: the active claims under the customer's keys, oldest
// first (see customer_index.h). If the partner already holds an active
// registration of the same customer with a product in common, Decide returns
// no events (the caller answers with that registration).
struct RegisterDeal {
  v1::RegisterDealRequest request;        // shape-validated
  std::string deal_id;                    // id for a new registration (UUIDv7)
  std::optional<v1::ProgramRules> rules;  // rules in force
  std::vector<v1::CustomerClaim> claims;  // active claims on the customer
};
struct ApproveDeal {
  std::string reason;
};
struct RejectDeal {
  std::string reason;
};
struct ReturnDeal {
  std::string reason;
};
// Partner update. `rules` and `claims` (the customer's active claims) are used
// only when lines are replaced: new products must be eligible and must not
// collide with another party's claim.
struct UpdateDeal {
  v1::UpdateDealRequest request;          // shape-validated
  std::optional<v1::ProgramRules> rules;  // rules in force for the deal's programme
  std::vector<v1::CustomerClaim> claims;  // active claims on the customer
};
// The expiry sweeper's command: FAILED_PRECONDITION unless the deal is active
// and its expires_at <= ctx.now.
struct ExpireDeal {};
struct CloseDeal {
  v1::CloseDealRequest request;  // shape-validated
};
struct RequestSpecialPricing {
  v1::RequestSpecialPricingRequest request;  // shape-validated
  std::optional<v1::ProgramRules> rules;     // rules in force (tiers)
};
struct DecideSpecialPricing {
  v1::DecideSpecialPricingRequest request;  // shape-validated
  std::optional<v1::ProgramRules> rules;    // rules in force (higher tiers may decide)
};

using DealCommand =
    std::variant<RegisterDeal, ApproveDeal, RejectDeal, ReturnDeal, UpdateDeal, ExpireDeal,
                 CloseDeal, RequestSpecialPricing, DecideSpecialPricing>;

absl::StatusOr<std::vector<Event>> Decide(const v1::Deal& state, const DealCommand& c,
                                          const Context& ctx);
// Applies one event. Deal-stream events bump `version`; DirectOpportunityRecorded
// (account stream) only notes the opportunity on the deals it names.
v1::Deal Evolve(v1::Deal state, const Event& e);

// What a registration would get under `rules` given `claims`, without
// recording anything: status, reasons, and the partner's own active
// registration (existing_deal_id) if it has one. Used by Decide and CheckConflicts.
struct Evaluation {
  v1::DealStatus status = v1::DEAL_STATUS_UNSPECIFIED;
  std::vector<v1::Reason> reasons;
  std::string existing_deal_id;
};
Evaluation EvaluateRegistration(const v1::RegisterDealRequest& request,
                                const v1::ProgramRules& rules,
                                const std::vector<v1::CustomerClaim>& claims);
// The CONFLICT_* reasons `claims` raise for a registration by `partner_id` of
// `product_keys` (sorted). Partner ids of other registrations are never included.
std::vector<v1::Reason> ConflictReasons(const std::vector<v1::CustomerClaim>& claims,
                                        const std::string& partner_id,
                                        const std::vector<std::string>& product_keys);

// The reasons a customer and products are off limits under `rules` whatever
// the deal's size: EXCLUDED_ACCOUNT_TYPE, NAMED_ACCOUNT, PRODUCT_NOT_ELIGIBLE
// (line_index: first offending index into product_keys).
std::vector<v1::Reason> AccountAndProductReasons(const common::v1::Party& customer,
                                                 const std::vector<std::string>& product_keys,
                                                 const v1::ProgramRules& rules);

// ---------------------------------------------------------------------------
// Direct opportunities (stream account-<key>).
// ---------------------------------------------------------------------------
struct RecordDirectOpportunity {
  v1::RecordDirectOpportunityRequest request;     // shape-validated
  std::optional<v1::DirectOpportunity> existing;  // already recorded under this id
  std::vector<v1::CustomerClaim> claims;          // active claims on the customer
};
// No events if the opportunity was already recorded (existing).
absl::StatusOr<std::vector<Event>> Decide(const RecordDirectOpportunity& c, const Context& ctx);

// ---------------------------------------------------------------------------
// Special-pricing forecast.
// ---------------------------------------------------------------------------
// Stage weight in basis points (WON deals: 10000).
int32_t StageWeightBps(v1::DealStage stage);
// The latest approved SPA of a deal, if any.
const v1::SpecialPricing* CommittedSpecialPricing(const v1::Deal& deal);
// The forecast item of a deal for a period [start, end): open deals by expected
// close date, won deals by close date; nullopt if it does not count.
std::optional<v1::ForecastItem> ForecastItemOf(const v1::Deal& deal, absl::CivilDay start,
                                               absl::CivilDay end);
// Totals per currency, sorted by currency code.
std::vector<v1::ForecastTotal> ForecastTotals(const std::vector<v1::ForecastItem>& items);

}  // namespace channelops::dealreg::domain
