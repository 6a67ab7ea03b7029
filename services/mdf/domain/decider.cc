#include "mdf/domain/decider.h"

#include <algorithm>
#include <type_traits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "channelops/core/check.h"
#include "channelops/core/grpc_status.h"
#include "channelops/core/status_macros.h"
#include "channelops/core/vectors.h"
#include "mdf/domain/convert.h"
#include "mdf/domain/ledger.h"
#include "mdf/domain/validation.h"

namespace channelops::mdf::domain {
namespace {

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

// ---- names in messages ----

std::string Name(const std::string& enum_name, const char* prefix) {
  return enum_name.substr(std::string(prefix).size());
}
std::string StatusName(v1::FundStatus s) { return Name(v1::FundStatus_Name(s), "FUND_STATUS_"); }
std::string StatusName(v1::FundRequestStatus s) {
  return Name(v1::FundRequestStatus_Name(s), "FUND_REQUEST_STATUS_");
}
std::string StatusName(v1::ClaimStatus s) { return Name(v1::ClaimStatus_Name(s), "CLAIM_STATUS_"); }

std::string Subject(const v1::Fund& f) { return absl::StrCat("fund/", f.fund_id()); }
std::string Subject(const v1::FundRequest& r) {
  return absl::StrCat("fund_request/", r.fund_request_id());
}
std::string Subject(const v1::Claim& c) { return absl::StrCat("claim/", c.claim_id()); }

// ---- keys ----

v1::FundKeys KeysOf(const v1::Fund& f) {
  v1::FundKeys k;
  k.set_fund_id(f.fund_id());
  k.set_partner_id(f.partner_id());
  k.set_kind(f.kind());
  k.set_currency_code(f.currency_code());
  return k;
}

v1::FundRequestKeys KeysOf(const v1::FundRequest& r) {
  v1::FundRequestKeys k;
  k.set_fund_request_id(r.fund_request_id());
  k.set_fund_id(r.fund_id());
  k.set_partner_id(r.partner_id());
  k.set_fund_kind(r.fund_kind());
  k.set_campaign_id(r.details().campaign_id());
  k.set_activity_type(r.details().activity_type());
  return k;
}

v1::ClaimKeys KeysOf(const v1::Claim& c) {
  v1::ClaimKeys k;
  k.set_claim_id(c.claim_id());
  k.set_fund_request_id(c.fund_request_id());
  k.set_fund_id(c.fund_id());
  k.set_partner_id(c.partner_id());
  k.set_fund_kind(c.fund_kind());
  k.set_campaign_id(c.campaign_id());
  k.set_activity_type(c.activity_type());
  return k;
}

// ---- money ----

// The balance after `e`'s movements. FAILED_PRECONDITION if the available
// balance would go below zero: the one place that rule is enforced.
absl::StatusOr<v1::FundBalance> BalanceAfter(const v1::Fund& fund, const v1::FundBalance& before,
                                             const Event& e) {
  v1::FundBalance after = before;
  for (const v1::LedgerEntry& entry : LedgerEntriesOf(e)) {
    CHANNELOPS_RETURN_IF_ERROR(ApplyEntry(after, entry));
  }
  core::Money available = MoneyOf(after.available());
  if (available.is_negative()) {
    core::Money had = MoneyOf(before.available());
    auto needed = had.Sub(available);
    CHANNELOPS_CHECK(needed.ok()) << needed.status();
    return core::FailedPrecondition(Subject(fund),
                                    absl::StrCat("insufficient available balance: ", had.ToString(),
                                                 " available, ", needed->ToString(), " needed"));
  }
  return after;
}

// Fills `fund_balance` of a money-moving event with the fund's balance after it.
template <class E>
absl::StatusOr<Event> WithBalance(const v1::Fund& fund, E e) {
  CHANNELOPS_ASSIGN_OR_RETURN(v1::FundBalance after, BalanceAfter(fund, fund.balance(), Event(e)));
  *e.mutable_fund_balance() = std::move(after);
  return Event(std::move(e));
}

absl::Status InFundCurrency(const v1::Fund& fund, const std::string& field,
                            const common::v1::Money& m) {
  if (m.currency_code() == fund.currency_code()) return absl::OkStatus();
  return core::InvalidArgument(absl::StrCat(field, ".currency_code"),
                               absl::StrCat("must be the fund's currency ", fund.currency_code()));
}

// Every money field of a proposal in the fund's currency (all violations).
absl::Status DetailsInFundCurrency(const v1::Fund& fund, const v1::FundRequestDetails& d) {
  core::FieldViolations v;
  v.AddFrom(InFundCurrency(fund, "details.planned_cost", d.planned_cost()));
  v.AddFrom(InFundCurrency(fund, "details.requested_amount", d.requested_amount()));
  if (HasMoney(d.expected_revenue())) {
    v.AddFrom(InFundCurrency(fund, "details.expected_revenue", d.expected_revenue()));
  }
  return v.ToStatus();
}

absl::Status RequireOpen(const v1::Fund& fund, absl::Time now, const char* action) {
  if (IsOpen(fund, now)) return absl::OkStatus();
  return core::FailedPrecondition(
      Subject(fund),
      absl::StrCat("the fund expired at ", FormatInstant(FromProtoTime(fund.expires_at())), " (",
                   StatusName(fund.status()), "); it takes no more ", action));
}

common::v1::Money ZeroLike(const common::v1::Money& m) { return Zero(m.currency_code()).ToProto(); }

core::Money Sub(const common::v1::Money& a, const common::v1::Money& b) {
  auto d = MoneyOf(a).Sub(MoneyOf(b));
  CHANNELOPS_CHECK(d.ok()) << d.status();
  return *d;
}

void AddInPlace(common::v1::Money* field, const common::v1::Money& delta) {
  if (!HasMoney(delta)) return;
  auto sum = MoneyOf(*field).Add(MoneyOf(delta));
  CHANNELOPS_CHECK(sum.ok()) << sum.status();
  *field = sum->ToProto();
}

void SubInPlace(common::v1::Money* field, const core::Money& delta) {
  auto diff = MoneyOf(*field).Sub(delta);
  CHANNELOPS_CHECK(diff.ok()) << diff.status();
  *field = diff->ToProto();
}

// ---- funds ----

absl::StatusOr<std::vector<Event>> DecideAllocate(const v1::Fund& state, const AllocateFunds& c,
                                                  const Context& ctx) {
  const v1::AllocateFundsRequest& r = c.request;
  if (!state.fund_id().empty()) {
    return absl::AlreadyExistsError(absl::StrCat("fund_id: fund ", r.fund_id(),
                                                 " already exists; AdjustFunds changes its money"));
  }
  const absl::Time expires_at = FromProtoTime(r.expires_at());
  if (expires_at <= ctx.now) {
    return core::InvalidArgument(
        "expires_at", absl::StrCat("must be in the future (now is ", FormatInstant(ctx.now), ")"));
  }
  if (expires_at <= StartOf(*ParseDate(r.period().start_date()))) {
    return core::InvalidArgument("expires_at", "must be after the start of the period");
  }
  v1::FundAllocated e;
  v1::FundKeys* k = e.mutable_keys();
  k->set_fund_id(r.fund_id());
  k->set_partner_id(r.partner_id());
  k->set_kind(r.kind());
  k->set_currency_code(r.amount().currency_code());
  e.set_name(r.name());
  *e.mutable_period() = r.period();
  *e.mutable_amount() = r.amount();
  *e.mutable_expires_at() = r.expires_at();
  *e.mutable_occurred_at() = ToProtoTime(ctx.now);
  v1::Fund empty;
  empty.set_fund_id(r.fund_id());
  CHANNELOPS_ASSIGN_OR_RETURN(
      v1::FundBalance after,
      BalanceAfter(empty, ZeroBalance(r.amount().currency_code()), Event(e)));
  *e.mutable_fund_balance() = std::move(after);
  return core::VectorOf<Event>(std::move(e));
}

absl::StatusOr<std::vector<Event>> DecideAdjust(const v1::Fund& fund, const AdjustFunds& c,
                                                const Context& ctx) {
  const v1::AdjustFundsRequest& r = c.request;
  CHANNELOPS_RETURN_IF_ERROR(InFundCurrency(fund, "amount", r.amount()));
  CHANNELOPS_RETURN_IF_ERROR(RequireOpen(fund, ctx.now, "adjustments"));
  v1::FundsAdjusted e;
  *e.mutable_keys() = KeysOf(fund);
  *e.mutable_amount() = r.amount();
  e.set_reason(r.reason());
  e.set_adjusted_by(ctx.actor);
  *e.mutable_occurred_at() = ToProtoTime(ctx.now);
  CHANNELOPS_ASSIGN_OR_RETURN(Event out, WithBalance(fund, std::move(e)));
  return core::VectorOf<Event>(std::move(out));
}

absl::StatusOr<std::vector<Event>> DecideExpire(const v1::Fund& fund, const Context& ctx) {
  const absl::Time expires_at = FromProtoTime(fund.expires_at());
  if (fund.status() != v1::FUND_STATUS_OPEN || expires_at > ctx.now) {
    return core::FailedPrecondition(Subject(fund),
                                    absl::StrCat("not due: the fund is ", StatusName(fund.status()),
                                                 " and expires at ", FormatInstant(expires_at)));
  }
  v1::FundExpired e;
  *e.mutable_keys() = KeysOf(fund);
  *e.mutable_expired_amount() = fund.balance().available();
  *e.mutable_expires_at() = fund.expires_at();
  *e.mutable_occurred_at() = ToProtoTime(ctx.now);
  CHANNELOPS_ASSIGN_OR_RETURN(Event out, WithBalance(fund, std::move(e)));
  return core::VectorOf<Event>(std::move(out));
}

// ---- requests ----

absl::StatusOr<std::vector<Event>> DecideSubmit(const v1::FundRequest& state, const v1::Fund& fund,
                                                const SubmitFundRequest& c, const Context& ctx) {
  CHANNELOPS_CHECK(state.fund_request_id().empty()) << "a new request gets a fresh id";
  CHANNELOPS_CHECK(!c.fund_request_id.empty()) << "the service provides the new request id";
  const v1::SubmitFundRequestRequest& r = c.request;
  if (r.partner_id() != fund.partner_id()) {
    return core::InvalidArgument(
        "partner_id", absl::StrCat("fund ", fund.fund_id(), " belongs to another partner"));
  }
  CHANNELOPS_RETURN_IF_ERROR(RequireOpen(fund, ctx.now, "requests"));
  CHANNELOPS_RETURN_IF_ERROR(DetailsInFundCurrency(fund, r.details()));
  v1::FundRequestSubmitted e;
  v1::FundRequestKeys* k = e.mutable_keys();
  k->set_fund_request_id(c.fund_request_id);
  k->set_fund_id(fund.fund_id());
  k->set_partner_id(fund.partner_id());
  k->set_fund_kind(fund.kind());
  k->set_campaign_id(r.details().campaign_id());
  k->set_activity_type(r.details().activity_type());
  *e.mutable_details() = r.details();
  *e.mutable_occurred_at() = ToProtoTime(ctx.now);
  return core::VectorOf<Event>(std::move(e));
}

absl::StatusOr<std::vector<Event>> DecideResubmit(const v1::FundRequest& state,
                                                  const v1::Fund& fund,
                                                  const ResubmitFundRequest& c,
                                                  const Context& ctx) {
  if (state.status() != v1::FUND_REQUEST_STATUS_RETURNED) {
    return core::FailedPrecondition(
        Subject(state), absl::StrCat("only a RETURNED request can be resubmitted; it is ",
                                     StatusName(state.status())));
  }
  CHANNELOPS_RETURN_IF_ERROR(RequireOpen(fund, ctx.now, "requests"));
  CHANNELOPS_RETURN_IF_ERROR(DetailsInFundCurrency(fund, c.request.details()));
  v1::FundRequestResubmitted e;
  *e.mutable_keys() = KeysOf(state);
  e.mutable_keys()->set_campaign_id(c.request.details().campaign_id());
  e.mutable_keys()->set_activity_type(c.request.details().activity_type());
  *e.mutable_details() = c.request.details();
  e.set_revision(state.revision() + 1);
  *e.mutable_occurred_at() = ToProtoTime(ctx.now);
  return core::VectorOf<Event>(std::move(e));
}

absl::StatusOr<std::vector<Event>> DecideDecision(const v1::FundRequest& state,
                                                  const v1::Fund& fund, const DecideFundRequest& c,
                                                  const Context& ctx) {
  const v1::DecideFundRequestRequest& r = c.request;
  if (state.status() != v1::FUND_REQUEST_STATUS_SUBMITTED) {
    return core::FailedPrecondition(Subject(state),
                                    absl::StrCat("only a SUBMITTED request can be decided; it is ",
                                                 StatusName(state.status())));
  }
  const auto at = ToProtoTime(ctx.now);
  switch (r.decision()) {
    case v1::FUND_REQUEST_DECISION_APPROVE: {
      const common::v1::Money& requested = state.details().requested_amount();
      common::v1::Money approved = HasMoney(r.approved_amount()) ? r.approved_amount() : requested;
      CHANNELOPS_RETURN_IF_ERROR(InFundCurrency(fund, "approved_amount", approved));
      if (approved.amount_micros() > requested.amount_micros()) {
        return core::InvalidArgument(
            "approved_amount",
            absl::StrCat("must not exceed the requested amount ", MoneyOf(requested).ToString()));
      }
      CHANNELOPS_RETURN_IF_ERROR(RequireOpen(fund, ctx.now, "approvals"));
      CHANNELOPS_CHECK(c.claim_window_days >= 0 && c.claim_window_days <= kMaxClaimWindowDays)
          << "claim window " << c.claim_window_days;
      v1::FundRequestApproved e;
      *e.mutable_keys() = KeysOf(state);
      *e.mutable_requested_amount() = requested;
      *e.mutable_approved_amount() = approved;
      *e.mutable_planned_cost() = state.details().planned_cost();
      e.set_expected_leads(state.details().expected_leads());
      *e.mutable_expected_revenue() = state.details().expected_revenue();
      e.set_start_date(state.details().start_date());
      e.set_end_date(state.details().end_date());
      *e.mutable_claim_deadline() =
          ToProtoTime(ClaimDeadline(*ParseDate(state.details().end_date()), c.claim_window_days));
      e.set_reason(r.reason());
      e.set_decided_by(ctx.actor);
      *e.mutable_occurred_at() = at;
      CHANNELOPS_ASSIGN_OR_RETURN(Event out, WithBalance(fund, std::move(e)));
      return core::VectorOf<Event>(std::move(out));
    }
    case v1::FUND_REQUEST_DECISION_REJECT: {
      v1::FundRequestRejected e;
      *e.mutable_keys() = KeysOf(state);
      *e.mutable_requested_amount() = state.details().requested_amount();
      e.set_reason(r.reason());
      e.set_decided_by(ctx.actor);
      *e.mutable_occurred_at() = at;
      return core::VectorOf<Event>(std::move(e));
    }
    case v1::FUND_REQUEST_DECISION_RETURN: {
      v1::FundRequestReturned e;
      *e.mutable_keys() = KeysOf(state);
      e.set_reason(r.reason());
      e.set_decided_by(ctx.actor);
      *e.mutable_occurred_at() = at;
      return core::VectorOf<Event>(std::move(e));
    }
    default:
      CHANNELOPS_CHECK(false) << "unvalidated decision " << r.decision();
      return absl::InternalError("unreachable");
  }
}

absl::StatusOr<std::vector<Event>> DecideClose(const v1::FundRequest& state, const v1::Fund& fund,
                                               const CloseFundRequest& c, const Context& ctx) {
  v1::CloseReason why;
  if (c.claim_window_passed) {
    const absl::Time deadline = FromProtoTime(state.claim_deadline());
    if (state.status() != v1::FUND_REQUEST_STATUS_APPROVED || deadline > ctx.now) {
      return core::FailedPrecondition(
          Subject(state),
          absl::StrCat("not due: the request is ", StatusName(state.status()),
                       " and its claim window closes at ", FormatInstant(deadline)));
    }
    why = v1::CLOSE_REASON_CLAIM_WINDOW_PASSED;
  } else if (state.status() == v1::FUND_REQUEST_STATUS_SUBMITTED ||
             state.status() == v1::FUND_REQUEST_STATUS_RETURNED) {
    why = v1::CLOSE_REASON_WITHDRAWN;
  } else if (state.status() == v1::FUND_REQUEST_STATUS_APPROVED) {
    why = v1::CLOSE_REASON_COMPLETED;
  } else {
    return core::FailedPrecondition(
        Subject(state), absl::StrCat("only a SUBMITTED, RETURNED or APPROVED request can be "
                                     "closed; it is ",
                                     StatusName(state.status())));
  }
  const core::Money released = Unclaimed(state);
  const bool fund_expired = fund.status() == v1::FUND_STATUS_EXPIRED;
  v1::FundRequestClosed e;
  *e.mutable_keys() = KeysOf(state);
  e.set_previous_status(state.status());
  e.set_close_reason(why);
  e.set_reason(c.reason);
  if (HasMoney(state.approved_amount())) *e.mutable_approved_amount() = state.approved_amount();
  *e.mutable_released_amount() = released.ToProto();
  *e.mutable_expired_amount() =
      fund_expired ? released.ToProto() : Zero(released.currency()).ToProto();
  e.set_closed_by(ctx.actor);
  *e.mutable_occurred_at() = ToProtoTime(ctx.now);
  CHANNELOPS_ASSIGN_OR_RETURN(Event out, WithBalance(fund, std::move(e)));
  return core::VectorOf<Event>(std::move(out));
}

// ---- claims ----

absl::StatusOr<std::vector<Event>> DecideSubmitClaim(const v1::Claim& state,
                                                     const v1::FundRequest& request,
                                                     const v1::Fund& fund, const SubmitClaim& c,
                                                     const Context& ctx) {
  CHANNELOPS_CHECK(state.claim_id().empty()) << "a new claim gets a fresh id";
  CHANNELOPS_CHECK(!c.claim_id.empty()) << "the service provides the new claim id";
  const v1::SubmitClaimRequest& r = c.request;
  if (r.partner_id() != request.partner_id()) {
    return core::InvalidArgument("partner_id", "the fund request belongs to another partner");
  }
  if (request.status() != v1::FUND_REQUEST_STATUS_APPROVED) {
    return core::FailedPrecondition(
        Subject(request),
        absl::StrCat("claims need an APPROVED request; it is ", StatusName(request.status())));
  }
  const absl::Time deadline = FromProtoTime(request.claim_deadline());
  if (ctx.now >= deadline) {
    return core::FailedPrecondition(
        Subject(request),
        absl::StrCat("the claim window closed at ", FormatInstant(deadline),
                     " (the activity ended on ", request.details().end_date(), ")"));
  }
  core::FieldViolations v;
  v.AddFrom(InFundCurrency(fund, "actual_cost", r.actual_cost()));
  v.AddFrom(InFundCurrency(fund, "claimed_amount", r.claimed_amount()));
  CHANNELOPS_RETURN_IF_ERROR(v.ToStatus());
  const core::Money unclaimed = Unclaimed(request);
  if (MoneyOf(r.claimed_amount()).micros() > unclaimed.micros()) {
    return core::InvalidArgument(
        "claimed_amount",
        absl::StrCat("must not exceed the approved amount still unclaimed: ", unclaimed.ToString(),
                     " of ", MoneyOf(request.approved_amount()).ToString(), " approved"));
  }
  v1::ClaimSubmitted e;
  v1::ClaimKeys* k = e.mutable_keys();
  k->set_claim_id(c.claim_id);
  k->set_fund_request_id(request.fund_request_id());
  k->set_fund_id(request.fund_id());
  k->set_partner_id(request.partner_id());
  k->set_fund_kind(request.fund_kind());
  k->set_campaign_id(request.details().campaign_id());
  k->set_activity_type(request.details().activity_type());
  *e.mutable_actual_cost() = r.actual_cost();
  *e.mutable_claimed_amount() = r.claimed_amount();
  *e.mutable_proofs() = r.proofs();
  for (auto& p : *e.mutable_proofs()) p.set_content_hash(NormalizeContentHash(p.content_hash()));
  *e.mutable_results() = r.results();
  e.set_description(r.description());
  *e.mutable_occurred_at() = ToProtoTime(ctx.now);
  return core::VectorOf<Event>(std::move(e));
}

absl::StatusOr<std::vector<Event>> DecideClaimDecision(const v1::Claim& state,
                                                       const v1::FundRequest& request,
                                                       const v1::Fund& fund, const DecideClaim& c,
                                                       const Context& ctx) {
  const v1::DecideClaimRequest& r = c.request;
  if (state.status() != v1::CLAIM_STATUS_SUBMITTED) {
    return core::FailedPrecondition(
        Subject(state),
        absl::StrCat("only a SUBMITTED claim can be decided; it is ", StatusName(state.status())));
  }
  const bool request_closed = request.status() == v1::FUND_REQUEST_STATUS_CLOSED;
  const bool fund_expired = fund.status() == v1::FUND_STATUS_EXPIRED;
  const common::v1::Money& claimed = state.claimed_amount();
  // Money no longer claimed goes back to the request; once the request is
  // closed, that means back to the fund (or to expired).
  auto release = [&](const core::Money& given_back, auto& e) {
    core::Money released = request_closed ? given_back : Zero(given_back.currency());
    *e.mutable_released_amount() = released.ToProto();
    *e.mutable_expired_amount() =
        fund_expired ? released.ToProto() : Zero(released.currency()).ToProto();
  };
  if (r.decision() == v1::CLAIM_DECISION_APPROVE) {
    common::v1::Money approved = HasMoney(r.approved_amount()) ? r.approved_amount() : claimed;
    CHANNELOPS_RETURN_IF_ERROR(InFundCurrency(fund, "approved_amount", approved));
    if (approved.amount_micros() > claimed.amount_micros()) {
      return core::InvalidArgument(
          "approved_amount",
          absl::StrCat("must not exceed the claimed amount ", MoneyOf(claimed).ToString()));
    }
    v1::ClaimApproved e;
    *e.mutable_keys() = KeysOf(state);
    *e.mutable_claimed_amount() = claimed;
    *e.mutable_approved_amount() = approved;
    release(Sub(claimed, approved), e);
    *e.mutable_results() = state.results();
    e.set_reason(r.reason());
    e.set_decided_by(ctx.actor);
    *e.mutable_occurred_at() = ToProtoTime(ctx.now);
    CHANNELOPS_ASSIGN_OR_RETURN(Event out, WithBalance(fund, std::move(e)));
    return core::VectorOf<Event>(std::move(out));
  }
  CHANNELOPS_CHECK(r.decision() == v1::CLAIM_DECISION_REJECT) << "unvalidated decision";
  v1::ClaimRejected e;
  *e.mutable_keys() = KeysOf(state);
  *e.mutable_claimed_amount() = claimed;
  release(MoneyOf(claimed), e);
  e.set_reason(r.reason());
  e.set_decided_by(ctx.actor);
  *e.mutable_occurred_at() = ToProtoTime(ctx.now);
  CHANNELOPS_ASSIGN_OR_RETURN(Event out, WithBalance(fund, std::move(e)));
  return core::VectorOf<Event>(std::move(out));
}

absl::StatusOr<std::vector<Event>> DecidePayment(const v1::Claim& state, const v1::Fund& fund,
                                                 const RecordPayment& c, const Context& ctx) {
  if (state.status() != v1::CLAIM_STATUS_APPROVED) {
    return core::FailedPrecondition(
        Subject(state),
        absl::StrCat("only an APPROVED claim can be paid; it is ", StatusName(state.status())));
  }
  v1::ClaimPaid e;
  *e.mutable_keys() = KeysOf(state);
  *e.mutable_amount() = state.approved_amount();
  e.set_payment_reference(c.request.payment_reference());
  *e.mutable_actual_cost() = state.actual_cost();
  *e.mutable_results() = state.results();
  e.set_recorded_by(ctx.actor);
  *e.mutable_occurred_at() = ToProtoTime(ctx.now);
  CHANNELOPS_ASSIGN_OR_RETURN(Event out, WithBalance(fund, std::move(e)));
  return core::VectorOf<Event>(std::move(out));
}

// ---- Evolve helpers ----

bool OnStream(const Event& e, const std::string& stream) { return StreamOf(e) == stream; }

void RecomputeReserved(v1::FundRequest& r) {
  if (!HasMoney(r.approved_amount())) return;
  core::Money reserved = Sub(r.approved_amount(), r.released());
  auto after_paid = reserved.Sub(MoneyOf(r.paid()));
  CHANNELOPS_CHECK(after_paid.ok() && !after_paid->is_negative())
      << "request " << r.fund_request_id() << " reserves a negative amount";
  *r.mutable_reserved() = after_paid->ToProto();
}

}  // namespace

bool IsOpen(const v1::Fund& fund, absl::Time now) {
  return fund.status() == v1::FUND_STATUS_OPEN && now < FromProtoTime(fund.expires_at());
}

// ---------------------------------------------------------------------------
// Funds
// ---------------------------------------------------------------------------

absl::StatusOr<std::vector<Event>> Decide(const v1::Fund& state, const FundCommand& c,
                                          const Context& ctx) {
  if (!std::holds_alternative<AllocateFunds>(c)) {
    CHANNELOPS_CHECK(!state.fund_id().empty()) << "the service checks that the fund exists";
  }
  return std::visit(Overloaded{
                        [&](const AllocateFunds& a) { return DecideAllocate(state, a, ctx); },
                        [&](const AdjustFunds& a) { return DecideAdjust(state, a, ctx); },
                        [&](const ExpireFund&) { return DecideExpire(state, ctx); },
                    },
                    c);
}

v1::Fund Evolve(v1::Fund s, const Event& e) {
  if (const auto* a = std::get_if<v1::FundAllocated>(&e); a && s.fund_id().empty()) {
    s.set_fund_id(a->keys().fund_id());
    s.set_partner_id(a->keys().partner_id());
    s.set_kind(a->keys().kind());
    s.set_name(a->name());
    *s.mutable_period() = a->period();
    s.set_currency_code(a->keys().currency_code());
    *s.mutable_balance() = ZeroBalance(a->keys().currency_code());
    *s.mutable_expires_at() = a->expires_at();
    s.set_status(v1::FUND_STATUS_OPEN);
    *s.mutable_allocated_at() = a->occurred_at();
  }
  if (s.fund_id().empty() || FundIdOf(e) != s.fund_id()) return s;
  if (OnStream(e, FundStream(s.fund_id()))) s.set_version(s.version() + 1);
  for (const v1::LedgerEntry& entry : LedgerEntriesOf(e)) {
    absl::Status st = ApplyEntry(*s.mutable_balance(), entry);
    CHANNELOPS_CHECK(st.ok()) << "fund " << s.fund_id() << ": " << st;
  }
  CHANNELOPS_CHECK(!MoneyOf(s.balance().available()).is_negative())
      << "fund " << s.fund_id() << " available below zero";
  if (const auto* x = std::get_if<v1::FundExpired>(&e)) {
    s.set_status(v1::FUND_STATUS_EXPIRED);
    *s.mutable_expired_at() = x->occurred_at();
  }
  if (std::holds_alternative<v1::CoopAccrued>(e)) s.set_accrual_count(s.accrual_count() + 1);
  return s;
}

// ---------------------------------------------------------------------------
// Co-op accrual
// ---------------------------------------------------------------------------

absl::StatusOr<core::Money> PurchaseValue(const pos::v1::ShipmentRecorded& s) {
  if (HasMoney(s.extended_amount())) return MoneyOf(s.extended_amount());
  auto total = MoneyOf(s.unit_price()).MultiplyBy(s.quantity());
  if (!total.ok()) {
    return absl::OutOfRangeError(
        absl::StrCat("shipment ", s.shipment_id(), ": quantity x unit_price overflows"));
  }
  return total;
}

absl::StatusOr<AccrualDecision> DecideAccrual(const AccrueCoop& c, const Context& ctx) {
  CHANNELOPS_CHECK(c.rate_bps >= 0 && c.rate_bps <= kMaxAccrualBps) << "rate " << c.rate_bps;
  const pos::v1::ShipmentRecorded& s = c.shipment;
  AccrualDecision out;
  CHANNELOPS_ASSIGN_OR_RETURN(core::Money purchase, PurchaseValue(s));
  if (purchase.micros() <= 0) {
    out.skipped_reason = "the shipment has no purchase value";
    return out;
  }
  if (c.rate_bps == 0) {
    out.skipped_reason = "the co-op accrual rate is 0";
    return out;
  }
  CHANNELOPS_ASSIGN_OR_RETURN(core::Money amount, purchase.ApplyBasisPoints(c.rate_bps));
  if (amount.is_zero()) {
    out.skipped_reason = "the accrual rounds to zero";
    return out;
  }
  const absl::Time shipped = s.has_shipped_at() ? FromProtoTime(s.shipped_at()) : c.occurred_at;
  const absl::CivilDay day = DayOf(shipped);
  const v1::Fund* chosen = nullptr;
  for (const v1::Fund& f : c.partner_funds) {
    if (f.partner_id() != s.partner_id() || f.kind() != v1::FUND_KIND_COOP || !IsOpen(f, ctx.now) ||
        f.currency_code() != purchase.currency()) {
      continue;
    }
    if (day < *ParseDate(f.period().start_date()) || day >= *ParseDate(f.period().end_date())) {
      continue;
    }
    auto key = [](const v1::Fund& x) {
      return std::make_pair(FromProtoTime(x.expires_at()), x.fund_id());
    };
    if (chosen == nullptr || key(f) < key(*chosen)) chosen = &f;
  }
  if (chosen == nullptr) {
    out.skipped_reason =
        absl::StrCat("partner ", s.partner_id(), " has no open co-op fund in ", purchase.currency(),
                     " whose period covers ", FormatDate(day));
    return out;
  }
  v1::CoopAccrued e;
  *e.mutable_keys() = KeysOf(*chosen);
  e.set_shipment_id(s.shipment_id());
  e.set_sku(s.sku());
  e.set_quantity(s.quantity());
  *e.mutable_purchase_amount() = purchase.ToProto();
  e.set_rate_bps(c.rate_bps);
  *e.mutable_amount() = amount.ToProto();
  *e.mutable_shipped_at() = ToProtoTime(shipped);
  e.set_source(c.source);
  e.set_source_global_position(c.source_global_position);
  e.set_source_event_id(c.source_event_id);
  *e.mutable_occurred_at() = ToProtoTime(ctx.now);
  CHANNELOPS_ASSIGN_OR_RETURN(Event event, WithBalance(*chosen, std::move(e)));
  out.fund_id = chosen->fund_id();
  out.events.push_back(std::move(event));
  return out;
}

// ---------------------------------------------------------------------------
// Fund requests
// ---------------------------------------------------------------------------

absl::StatusOr<std::vector<Event>> Decide(const v1::FundRequest& state, const v1::Fund& fund,
                                          const RequestCommand& c, const Context& ctx) {
  CHANNELOPS_CHECK(!fund.fund_id().empty()) << "the service loads the request's fund";
  if (!std::holds_alternative<SubmitFundRequest>(c)) {
    CHANNELOPS_CHECK(!state.fund_request_id().empty())
        << "the service checks that the request exists";
    CHANNELOPS_CHECK(state.fund_id() == fund.fund_id()) << "the request's own fund";
  }
  return std::visit(
      Overloaded{
          [&](const SubmitFundRequest& s) { return DecideSubmit(state, fund, s, ctx); },
          [&](const ResubmitFundRequest& s) { return DecideResubmit(state, fund, s, ctx); },
          [&](const DecideFundRequest& d) { return DecideDecision(state, fund, d, ctx); },
          [&](const CloseFundRequest& cl) { return DecideClose(state, fund, cl, ctx); },
      },
      c);
}

v1::FundRequest Evolve(v1::FundRequest s, const Event& e) {
  if (const auto* sub = std::get_if<v1::FundRequestSubmitted>(&e);
      sub && s.fund_request_id().empty()) {
    const auto& k = sub->keys();
    s.set_fund_request_id(k.fund_request_id());
    s.set_fund_id(k.fund_id());
    s.set_partner_id(k.partner_id());
    s.set_fund_kind(k.fund_kind());
    common::v1::Money zero = ZeroLike(sub->details().requested_amount());
    *s.mutable_claimed() = zero;
    *s.mutable_paid() = zero;
    *s.mutable_released() = zero;
    *s.mutable_reserved() = zero;
    *s.mutable_submitted_at() = sub->occurred_at();
  }
  if (s.fund_request_id().empty()) return s;
  const bool own_stream = OnStream(e, RequestStream(s.fund_request_id()));
  std::visit(Overloaded{
                 [&](const v1::FundRequestSubmitted& x) {
                   if (!own_stream) return;
                   *s.mutable_details() = x.details();
                   s.set_status(v1::FUND_REQUEST_STATUS_SUBMITTED);
                   s.set_revision(1);
                 },
                 [&](const v1::FundRequestResubmitted& x) {
                   if (!own_stream) return;
                   *s.mutable_details() = x.details();
                   s.set_status(v1::FUND_REQUEST_STATUS_SUBMITTED);
                   s.set_revision(x.revision());
                 },
                 [&](const v1::FundRequestApproved& x) {
                   if (!own_stream) return;
                   s.set_status(v1::FUND_REQUEST_STATUS_APPROVED);
                   *s.mutable_approved_amount() = x.approved_amount();
                   *s.mutable_claim_deadline() = x.claim_deadline();
                   s.set_decision_reason(x.reason());
                   s.set_decided_by(x.decided_by());
                   *s.mutable_decided_at() = x.occurred_at();
                 },
                 [&](const v1::FundRequestRejected& x) {
                   if (!own_stream) return;
                   s.set_status(v1::FUND_REQUEST_STATUS_REJECTED);
                   s.set_decision_reason(x.reason());
                   s.set_decided_by(x.decided_by());
                   *s.mutable_decided_at() = x.occurred_at();
                 },
                 [&](const v1::FundRequestReturned& x) {
                   if (!own_stream) return;
                   s.set_status(v1::FUND_REQUEST_STATUS_RETURNED);
                   s.set_decision_reason(x.reason());
                   s.set_decided_by(x.decided_by());
                   *s.mutable_decided_at() = x.occurred_at();
                 },
                 [&](const v1::FundRequestClosed& x) {
                   if (!own_stream) return;
                   s.set_status(v1::FUND_REQUEST_STATUS_CLOSED);
                   s.set_close_reason(x.close_reason());
                   *s.mutable_closed_at() = x.occurred_at();
                   AddInPlace(s.mutable_released(), x.released_amount());
                 },
                 [&](const v1::ClaimSubmitted& x) {
                   if (x.keys().fund_request_id() != s.fund_request_id()) return;
                   AddInPlace(s.mutable_claimed(), x.claimed_amount());
                   s.add_claim_ids(x.keys().claim_id());
                 },
                 [&](const v1::ClaimApproved& x) {
                   if (x.keys().fund_request_id() != s.fund_request_id()) return;
                   SubInPlace(s.mutable_claimed(), Sub(x.claimed_amount(), x.approved_amount()));
                   AddInPlace(s.mutable_released(), x.released_amount());
                 },
                 [&](const v1::ClaimRejected& x) {
                   if (x.keys().fund_request_id() != s.fund_request_id()) return;
                   SubInPlace(s.mutable_claimed(), MoneyOf(x.claimed_amount()));
                   AddInPlace(s.mutable_released(), x.released_amount());
                 },
                 [&](const v1::ClaimPaid& x) {
                   if (x.keys().fund_request_id() != s.fund_request_id()) return;
                   AddInPlace(s.mutable_paid(), x.amount());
                 },
                 [](const auto&) {},
             },
             e);
  if (own_stream) s.set_version(s.version() + 1);
  RecomputeReserved(s);
  return s;
}

core::Money Unclaimed(const v1::FundRequest& r) {
  if (!HasMoney(r.approved_amount())) return Zero(r.claimed().currency_code());
  core::Money left = Sub(r.approved_amount(), r.released());
  auto unclaimed = left.Sub(MoneyOf(r.claimed()));
  CHANNELOPS_CHECK(unclaimed.ok() && !unclaimed->is_negative())
      << "request " << r.fund_request_id() << " is over-claimed";
  return *unclaimed;
}

absl::Time ClaimDeadline(absl::CivilDay end_date, int32_t window_days) {
  return StartOf(end_date + window_days + 1);
}

// ---------------------------------------------------------------------------
// Claims
// ---------------------------------------------------------------------------

absl::StatusOr<std::vector<Event>> Decide(const v1::Claim& state, const v1::FundRequest& request,
                                          const v1::Fund& fund, const ClaimCommand& c,
                                          const Context& ctx) {
  CHANNELOPS_CHECK(!request.fund_request_id().empty() && !fund.fund_id().empty())
      << "the service loads the claim's request and fund";
  CHANNELOPS_CHECK(request.fund_id() == fund.fund_id()) << "the request's own fund";
  if (!std::holds_alternative<SubmitClaim>(c)) {
    CHANNELOPS_CHECK(!state.claim_id().empty()) << "the service checks that the claim exists";
    CHANNELOPS_CHECK(state.fund_request_id() == request.fund_request_id()) << "its own request";
  }
  return std::visit(
      Overloaded{
          [&](const SubmitClaim& s) { return DecideSubmitClaim(state, request, fund, s, ctx); },
          [&](const DecideClaim& d) { return DecideClaimDecision(state, request, fund, d, ctx); },
          [&](const RecordPayment& p) { return DecidePayment(state, fund, p, ctx); },
      },
      c);
}

v1::Claim Evolve(v1::Claim s, const Event& e) {
  if (const auto* sub = std::get_if<v1::ClaimSubmitted>(&e); sub && s.claim_id().empty()) {
    const auto& k = sub->keys();
    s.set_claim_id(k.claim_id());
    s.set_fund_request_id(k.fund_request_id());
    s.set_fund_id(k.fund_id());
    s.set_partner_id(k.partner_id());
    s.set_fund_kind(k.fund_kind());
    s.set_campaign_id(k.campaign_id());
    s.set_activity_type(k.activity_type());
    *s.mutable_actual_cost() = sub->actual_cost();
    *s.mutable_claimed_amount() = sub->claimed_amount();
    *s.mutable_proofs() = sub->proofs();
    *s.mutable_results() = sub->results();
    s.set_description(sub->description());
    s.set_status(v1::CLAIM_STATUS_SUBMITTED);
    *s.mutable_submitted_at() = sub->occurred_at();
    s.set_version(1);
    return s;
  }
  if (s.claim_id().empty() || !OnStream(e, ClaimStream(s.claim_id()))) return s;
  std::visit(Overloaded{
                 [&](const v1::ClaimApproved& x) {
                   s.set_status(v1::CLAIM_STATUS_APPROVED);
                   *s.mutable_approved_amount() = x.approved_amount();
                   s.set_decision_reason(x.reason());
                   s.set_decided_by(x.decided_by());
                   *s.mutable_decided_at() = x.occurred_at();
                 },
                 [&](const v1::ClaimRejected& x) {
                   s.set_status(v1::CLAIM_STATUS_REJECTED);
                   s.set_decision_reason(x.reason());
                   s.set_decided_by(x.decided_by());
                   *s.mutable_decided_at() = x.occurred_at();
                 },
                 [&](const v1::ClaimPaid& x) {
                   s.set_status(v1::CLAIM_STATUS_PAID);
                   *s.mutable_paid_amount() = x.amount();
                   s.set_payment_reference(x.payment_reference());
                   *s.mutable_paid_at() = x.occurred_at();
                 },
                 [](const auto&) {},
             },
             e);
  s.set_version(s.version() + 1);
  return s;
}

}  // namespace channelops::mdf::domain
