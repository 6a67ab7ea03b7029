#pragma once

// The MDF / co-op decider: pure Decide / Evolve functions over three
// aggregates: funds (stream fund-<id>), fund requests (request-<id>) and claims
// (claim-<id>). No I/O, no clock reads, no randomness: time and actor come in
// the Context; new ids, configuration (claim window, accrual rate) and every
// other aggregate a decision depends on come in the command or as arguments.
// Every function is pure and thread-safe.
//
// Money: a fund's balance is the fold of the ledger movements of its events
// (ledger.h); every command that moves money computes the balance after and
// refuses (FAILED_PRECONDITION, subject "fund/<id>") anything that would take
// the available balance below zero. Each command records exactly one event.
//
// Errors returned by Decide (nothing is recorded on error):
//   INVALID_ARGUMENT     well formed but wrong for the state: a currency other
//                        than the fund's, an approved amount above the
//                        requested one, a claim above the approved amount
//                        still unclaimed, a partner that does not own the
//                        fund, an expiry in the past; with
//                        google.rpc.BadRequest field violations
//   ALREADY_EXISTS       AllocateFunds for an existing fund
//   FAILED_PRECONDITION  the fund / request / claim is not in a state that
//                        allows the command (expired fund, insufficient
//                        available balance, claim window closed, already
//                        decided or paid); google.rpc.PreconditionFailure
//                        with subject "fund/<id>", "fund_request/<id>" or
//                        "claim/<id>"
//   OUT_OF_RANGE         a total would overflow int64 micros
// A missing aggregate is the caller's NOT_FOUND (the service checks before
// calling Decide); Decide CHECKs that what it is given exists.

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "channelops/core/money.h"
#include "channelops/mdf/v1/events.pb.h"
#include "channelops/mdf/v1/mdf.pb.h"
#include "channelops/pos/v1/events.pb.h"
#include "mdf/domain/events.h"

namespace channelops::mdf::domain {

inline constexpr int32_t kDefaultClaimWindowDays = 60;
inline constexpr int32_t kMaxClaimWindowDays = 3650;
inline constexpr int64_t kMaxAccrualBps = 10000;

struct Context {
  absl::Time now;     // the instant the command is decided at
  std::string actor;  // authenticated principal (or system:<sweeper>)
};

// A fund accepts new money movements (adjustments, requests, approvals,
// accruals) while OPEN and before its expiry instant (the sweeper may not have
// recorded the expiry yet).
bool IsOpen(const v1::Fund& fund, absl::Time now);

// ---------------------------------------------------------------------------
// Funds. State: v1::Fund; fund_id empty: does not exist.
// ---------------------------------------------------------------------------
struct AllocateFunds {
  v1::AllocateFundsRequest request;  // shape-validated
};
struct AdjustFunds {
  v1::AdjustFundsRequest request;  // shape-validated
};
// The expiry sweeper's command: FAILED_PRECONDITION unless the fund is OPEN and
// its expires_at <= ctx.now.
struct ExpireFund {};
using FundCommand = std::variant<AllocateFunds, AdjustFunds, ExpireFund>;

absl::StatusOr<std::vector<Event>> Decide(const v1::Fund& state, const FundCommand& c,
                                          const Context& ctx);

// Applies one event to a fund: fund-stream events bump `version`; every
// event's ledger movements on this fund update the balance. Events of other
// funds leave it unchanged.
v1::Fund Evolve(v1::Fund state, const Event& e);

// ---------------------------------------------------------------------------
// Co-op accrual from a sell-in shipment consumed from the pos_ingestion topic.
// ---------------------------------------------------------------------------
struct AccrueCoop {
  pos::v1::ShipmentRecorded shipment;  // shape-validated (ValidateShipment)
  std::string source;                  // ce_source of the event that carried it
  uint64_t source_global_position = 0;
  std::string source_event_id;
  absl::Time occurred_at;  // the carrying event's occurred_at (used if shipped_at is unset)
  int64_t rate_bps = 0;    // 0..kMaxAccrualBps
  std::vector<v1::Fund> partner_funds;  // every fund of shipment.partner_id
};

// Either one CoopAccrued event (on the chosen fund) or the reason nothing is
// credited (no open co-op fund of the partner in the shipment's currency whose
// period covers the shipment day; zero purchase value or accrual; rate 0).
// The chosen fund: an open COOP fund of the partner, in the purchase currency,
// whose period contains the shipment's UTC day (shipped_at, else
// occurred_at); among several, the earliest expires_at, then the smallest
// fund id. Amount = purchase x rate_bps / 10000 rounded half away from zero,
// where purchase = extended_amount, else unit_price x quantity.
// Errors: OUT_OF_RANGE (overflow).
struct AccrualDecision {
  std::vector<Event> events;   // empty when skipped
  std::string fund_id;         // the fund credited
  std::string skipped_reason;  // non-empty when skipped
};
absl::StatusOr<AccrualDecision> DecideAccrual(const AccrueCoop& c, const Context& ctx);

// The purchase value of a shipment (extended_amount, else unit_price x quantity).
// OUT_OF_RANGE on overflow.
absl::StatusOr<core::Money> PurchaseValue(const pos::v1::ShipmentRecorded& s);

// ---------------------------------------------------------------------------
// Fund requests. State: v1::FundRequest; fund_request_id empty: does not exist.
// Every request command also gets the request's fund (which must exist).
// ---------------------------------------------------------------------------
struct SubmitFundRequest {
  v1::SubmitFundRequestRequest request;  // shape-validated
  std::string fund_request_id;           // id for the new request (UUIDv7)
};
struct ResubmitFundRequest {
  v1::ResubmitFundRequestRequest request;  // shape-validated
};
struct DecideFundRequest {
  v1::DecideFundRequestRequest request;                 // shape-validated
  int32_t claim_window_days = kDefaultClaimWindowDays;  // deadline = end of end_date + N days (UTC)
};
// Closes a request. By a caller: SUBMITTED / RETURNED (withdrawn) or APPROVED
// (completed). By the claim-window sweeper (claim_window_passed): APPROVED only,
// and only once claim_deadline <= ctx.now. Releases the unclaimed reservation.
struct CloseFundRequest {
  std::string reason;
  bool claim_window_passed = false;
};
using RequestCommand =
    std::variant<SubmitFundRequest, ResubmitFundRequest, DecideFundRequest, CloseFundRequest>;

absl::StatusOr<std::vector<Event>> Decide(const v1::FundRequest& state, const v1::Fund& fund,
                                          const RequestCommand& c, const Context& ctx);
// Applies one event: request-stream events bump `version`; claim events
// against this request update claimed / paid / released / claim_ids.
v1::FundRequest Evolve(v1::FundRequest state, const Event& e);

// approved - released - claimed: what new claims may still ask for (zero if
// the request was never approved).
core::Money Unclaimed(const v1::FundRequest& r);
// The claim deadline of an activity ending on `end_date`: 00:00 UTC of the
// day after end_date + window_days (claims are accepted through the end of
// that Nth day).
absl::Time ClaimDeadline(absl::CivilDay end_date, int32_t window_days);

// ---------------------------------------------------------------------------
// Claims. State: v1::Claim; claim_id empty: does not exist. Every claim
// command also gets the claim's request and fund (which must exist).
// ---------------------------------------------------------------------------
struct SubmitClaim {
  v1::SubmitClaimRequest request;  // shape-validated
  std::string claim_id;            // id for the new claim (UUIDv7)
};
struct DecideClaim {
  v1::DecideClaimRequest request;  // shape-validated
};
struct RecordPayment {
  v1::RecordPaymentRequest request;  // shape-validated
};
using ClaimCommand = std::variant<SubmitClaim, DecideClaim, RecordPayment>;

absl::StatusOr<std::vector<Event>> Decide(const v1::Claim& state, const v1::FundRequest& request,
                                          const v1::Fund& fund, const ClaimCommand& c,
                                          const Context& ctx);
v1::Claim Evolve(v1::Claim state, const Event& e);

}  // namespace channelops::mdf::domain
