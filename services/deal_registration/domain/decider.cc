#include "deal_registration/domain/decider.h"

#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "channelops/core/check.h"
#include "channelops/core/grpc_status.h"
#include "channelops/core/money.h"
#include "channelops/core/normalize.h"
#include "channelops/core/status_macros.h"
#include "channelops/core/vectors.h"
#include "deal_registration/domain/convert.h"
#include "deal_registration/domain/customer_index.h"

namespace channelops::dealreg::domain {
namespace {

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

std::string StatusName(v1::DealStatus s) {
  std::string n = v1::DealStatus_Name(s);
  return n.substr(std::string("DEAL_STATUS_").size());
}

std::string Subject(const v1::Deal& d) { return absl::StrCat("deal/", d.deal_id()); }

absl::Status NotFound() { return absl::NotFoundError("deal: not found"); }

absl::Status NotInStatus(const v1::Deal& d, const char* action, const char* allowed) {
  return core::FailedPrecondition(
      Subject(d), absl::StrCat("only a ", allowed, " registration can be ", action, "; it is ",
                               StatusName(d.status())));
}

v1::DealKeys KeysOfDeal(const v1::Deal& d) {
  v1::DealKeys k;
  k.set_deal_id(d.deal_id());
  k.set_program_id(d.program_id());
  k.set_partner_id(d.partner_id());
  k.set_customer_key(d.customer_key());
  k.set_domain_key(d.domain_key());
  *k.mutable_product_lines() = d.product_keys();
  k.set_lead_id(d.lead_id());
  return k;
}

google::protobuf::Timestamp ExpiresAt(absl::Time from, int32_t days) {
  return ToProtoTime(from + absl::Hours(24) * days);
}

absl::Status NotInPast(const std::string& field, const std::string& date, absl::Time now) {
  auto d = ParseDate(date);
  CHANNELOPS_CHECK(d.has_value()) << "unvalidated date " << date;
  if (*d < DayOf(now)) {
    return core::InvalidArgument(
        field, absl::StrCat("must not be in the past (today is ", FormatDate(DayOf(now)), " UTC)"));
  }
  return absl::OkStatus();
}

// Every line priced in `currency`.
absl::Status LinesInCurrency(const google::protobuf::RepeatedPtrField<v1::DealLine>& lines,
                             const std::string& currency, const char* what) {
  core::FieldViolations v;
  for (int i = 0; i < lines.size(); ++i) {
    if (lines[i].unit_price().currency_code() != currency) {
      v.Add(absl::StrCat("lines[", i, "].unit_price.currency_code"),
            absl::StrCat("must be the ", what, " currency ", currency));
    }
  }
  return v.ToStatus();
}

bool ListContains(const google::protobuf::RepeatedPtrField<std::string>& list,
                  const std::string& key) {
  return std::find(list.begin(), list.end(), key) != list.end();
}

bool AllEligible(const v1::ProgramRules& r) {
  return r.eligible_product_lines().empty() && r.eligible_skus().empty();
}

// Rules are stored normalised, so these are exact comparisons.
bool LineEligible(const v1::DealLine& line, const v1::ProgramRules& r) {
  if (AllEligible(r)) return true;
  std::string pl = NormalizeProductKey(line.product_line());
  std::string sku = NormalizeProductKey(line.sku());
  return (!pl.empty() && ListContains(r.eligible_product_lines(), pl)) ||
         (!sku.empty() && ListContains(r.eligible_skus(), sku));
}

bool KeyEligible(const std::string& key, const v1::ProgramRules& r) {
  if (AllEligible(r)) return true;
  if (key.rfind("sku:", 0) == 0) return ListContains(r.eligible_skus(), key.substr(4));
  return ListContains(r.eligible_product_lines(), key);
}

v1::Reason MakeReason(v1::ReasonCode code, std::string message) {
  v1::Reason r;
  r.set_code(code);
  r.set_message(std::move(message));
  return r;
}

// EXCLUDED_ACCOUNT_TYPE and NAMED_ACCOUNT.
void AccountReasons(const common::v1::Party& customer, const v1::ProgramRules& rules,
                    std::vector<v1::Reason>& out) {
  std::string type = NormalizeAccountType(customer.account_type());
  if (!type.empty() && ListContains(rules.excluded_account_types(), type)) {
    out.push_back(
        MakeReason(v1::REASON_CODE_EXCLUDED_ACCOUNT_TYPE,
                   absl::StrCat("account type ", type, " is excluded from the programme")));
  }
  std::string name = core::NormalizeCompanyName(customer.name());
  std::string country = core::NormalizeCountryCode(customer.address().country_code());
  std::string domain = core::NormalizeEmailDomain(customer.email_domain());
  for (const v1::NamedAccount& n : rules.named_accounts()) {
    bool by_name =
        !n.name().empty() && core::NormalizeCompanyName(n.name()) == name &&
        (n.country_code().empty() || core::NormalizeCountryCode(n.country_code()) == country);
    bool by_domain = !n.email_domain().empty() && !domain.empty() &&
                     core::NormalizeEmailDomain(n.email_domain()) == domain;
    if (by_name || by_domain) {
      out.push_back(MakeReason(v1::REASON_CODE_NAMED_ACCOUNT,
                               "the end customer is a named account reserved for direct sales"));
      return;
    }
  }
}

v1::Reason IneligibleReason(const std::vector<std::string>& products, int first_index,
                            const std::string& program_id) {
  v1::Reason r = MakeReason(
      v1::REASON_CODE_PRODUCT_NOT_ELIGIBLE,
      absl::StrCat("not eligible in programme ", program_id, ": ", absl::StrJoin(products, ", ")));
  for (const auto& p : products) r.add_product_lines(p);
  r.set_line_index(first_index);
  return r;
}

// ---- Decide, one per command ----

absl::StatusOr<std::vector<Event>> DecideRegister(const v1::Deal& state, const RegisterDeal& c,
                                                  const Context& ctx) {
  CHANNELOPS_CHECK(state.deal_id().empty()) << "a new registration gets a fresh id";
  CHANNELOPS_CHECK(!c.deal_id.empty()) << "the service provides the new deal id";
  const v1::RegisterDealRequest& r = c.request;
  if (!c.rules.has_value()) {
    return core::InvalidArgument(
        "program_id", absl::StrCat("unknown programme '", r.program_id(), "' (no rules set)"));
  }
  const v1::ProgramRules& rules = *c.rules;
  CHANNELOPS_RETURN_IF_ERROR(LinesInCurrency(r.lines(), rules.currency_code(), "programme"));
  CHANNELOPS_RETURN_IF_ERROR(NotInPast("expected_close_date", r.expected_close_date(), ctx.now));
  CHANNELOPS_ASSIGN_OR_RETURN(core::Money amount, LinesTotal(r.lines()));

  Evaluation eval = EvaluateRegistration(r, rules, c.claims);
  if (!eval.existing_deal_id.empty()) return std::vector<Event>{};

  CustomerKeys keys = KeysOf(r.end_customer());
  v1::DealRegistered e;
  v1::DealKeys* k = e.mutable_keys();
  k->set_deal_id(c.deal_id);
  k->set_program_id(r.program_id());
  k->set_partner_id(r.partner_id());
  k->set_customer_key(keys.customer_key);
  k->set_domain_key(keys.domain_key);
  for (auto& p : ProductKeys(r.lines())) k->add_product_lines(std::move(p));
  k->set_lead_id(r.lead_id());
  e.set_rules_version(rules.version());
  *e.mutable_partner_contact() = r.partner_contact();
  *e.mutable_end_customer() = r.end_customer();
  *e.mutable_lines() = r.lines();
  *e.mutable_amount() = amount.ToProto();
  e.set_total_units(LinesUnits(r.lines()));
  e.set_expected_close_date(r.expected_close_date());
  e.set_stage(r.stage());
  e.set_status(eval.status);
  for (auto& reason : eval.reasons) *e.add_reasons() = std::move(reason);
  *e.mutable_benefits() = rules.benefits();
  e.set_expiry_days(ExpiryDays(rules));
  if (IsActive(eval.status)) *e.mutable_expires_at() = ExpiresAt(ctx.now, ExpiryDays(rules));
  if (eval.status != v1::DEAL_STATUS_PENDING_APPROVAL) e.set_decided_by(kAutoDecider);
  *e.mutable_occurred_at() = ToProtoTime(ctx.now);
  return core::VectorOf<Event>(std::move(e));
}

absl::StatusOr<std::vector<Event>> DecideApprove(const v1::Deal& s, const ApproveDeal& c,
                                                 const Context& ctx) {
  if (s.status() != v1::DEAL_STATUS_PENDING_APPROVAL) {
    return NotInStatus(s, "approved", "PENDING_APPROVAL");
  }
  v1::DealApproved e;
  *e.mutable_keys() = KeysOfDeal(s);
  *e.mutable_amount() = s.amount();
  e.set_reason(c.reason);
  e.set_decided_by(ctx.actor);
  *e.mutable_benefits() = s.benefits();
  *e.mutable_expires_at() = ExpiresAt(ctx.now, s.expiry_days());
  *e.mutable_occurred_at() = ToProtoTime(ctx.now);
  return core::VectorOf<Event>(std::move(e));
}

absl::StatusOr<std::vector<Event>> DecideReject(const v1::Deal& s, const RejectDeal& c,
                                                const Context& ctx) {
  if (s.status() != v1::DEAL_STATUS_PENDING_APPROVAL) {
    return NotInStatus(s, "rejected", "PENDING_APPROVAL");
  }
  v1::DealRejected e;
  *e.mutable_keys() = KeysOfDeal(s);
  *e.mutable_amount() = s.amount();
  e.set_reason(c.reason);
  e.set_decided_by(ctx.actor);
  *e.mutable_occurred_at() = ToProtoTime(ctx.now);
  return core::VectorOf<Event>(std::move(e));
}

absl::StatusOr<std::vector<Event>> DecideReturn(const v1::Deal& s, const ReturnDeal& c,
                                                const Context& ctx) {
  if (s.status() != v1::DEAL_STATUS_PENDING_APPROVAL) {
    return NotInStatus(s, "returned", "PENDING_APPROVAL");
  }
  v1::DealReturned e;
  *e.mutable_keys() = KeysOfDeal(s);
  e.set_reason(c.reason);
  e.set_decided_by(ctx.actor);
  *e.mutable_expires_at() = ExpiresAt(ctx.now, s.expiry_days());
  *e.mutable_occurred_at() = ToProtoTime(ctx.now);
  return core::VectorOf<Event>(std::move(e));
}

absl::StatusOr<std::vector<Event>> DecideUpdate(const v1::Deal& s, const UpdateDeal& c,
                                                const Context& ctx) {
  const v1::UpdateDealRequest& r = c.request;
  if (r.expected_version() != s.version()) {
    return absl::AbortedError(absl::StrCat("deal ", s.deal_id(), ": expected version ",
                                           r.expected_version(), ", current version ", s.version(),
                                           " (read it again)"));
  }
  if (!IsActive(s.status()))
    return NotInStatus(s, "updated", "PENDING_APPROVAL, RETURNED or APPROVED");
  const std::string& currency = s.amount().currency_code();
  if (!r.expected_close_date().empty()) {
    CHANNELOPS_RETURN_IF_ERROR(NotInPast("expected_close_date", r.expected_close_date(), ctx.now));
  }
  if (r.has_amount() && r.amount().currency_code() != currency) {
    return core::InvalidArgument("amount.currency_code",
                                 absl::StrCat("must be the deal currency ", currency));
  }

  v1::DealUpdated e;
  v1::DealKeys keys = KeysOfDeal(s);
  e.set_stage(r.stage() != v1::DEAL_STAGE_UNSPECIFIED ? r.stage() : s.stage());
  e.set_expected_close_date(r.expected_close_date().empty() ? s.expected_close_date()
                                                            : r.expected_close_date());
  *e.mutable_amount() = s.amount();
  e.set_total_units(s.total_units());
  if (r.replace_lines()) {
    CHANNELOPS_RETURN_IF_ERROR(LinesInCurrency(r.lines(), currency, "deal"));
    CHANNELOPS_ASSIGN_OR_RETURN(core::Money total, LinesTotal(r.lines()));
    std::vector<std::string> new_keys = ProductKeys(r.lines());
    // An update may not smuggle in what a registration would have been refused.
    if (c.rules.has_value()) {
      for (int i = 0; i < r.lines().size(); ++i) {
        if (!LineEligible(r.lines(i), *c.rules)) {
          return core::FailedPrecondition(
              Subject(s), absl::StrCat("lines[", i, "]: product ", ProductKey(r.lines(i)),
                                       " is not eligible in programme ", s.program_id()));
        }
      }
    }
    std::vector<std::string> old_keys(s.product_keys().begin(), s.product_keys().end());
    std::vector<std::string> added;
    std::set_difference(new_keys.begin(), new_keys.end(), old_keys.begin(), old_keys.end(),
                        std::back_inserter(added));
    std::vector<v1::CustomerClaim> others;
    for (const auto& cl : c.claims) {
      if (!(cl.kind() == v1::CustomerClaim::KIND_DEAL && cl.id() == s.deal_id()))
        others.push_back(cl);
    }
    std::vector<v1::Reason> conflicts = ConflictReasons(others, s.partner_id(), added);
    if (!conflicts.empty()) {
      return core::FailedPrecondition(Subject(s),
                                      absl::StrCat("lines: ", conflicts.front().message()));
    }
    e.set_lines_replaced(true);
    *e.mutable_lines() = r.lines();
    *e.mutable_amount() = total.ToProto();
    e.set_total_units(LinesUnits(r.lines()));
    keys.clear_product_lines();
    for (auto& k : new_keys) keys.add_product_lines(std::move(k));
  }
  if (r.has_amount()) *e.mutable_amount() = r.amount();
  *e.mutable_keys() = std::move(keys);
  e.set_previous_status(s.status());
  e.set_status(s.status() == v1::DEAL_STATUS_RETURNED ? v1::DEAL_STATUS_PENDING_APPROVAL
                                                      : s.status());
  *e.mutable_expires_at() = ExpiresAt(ctx.now, s.expiry_days());
  *e.mutable_occurred_at() = ToProtoTime(ctx.now);
  return core::VectorOf<Event>(std::move(e));
}

absl::StatusOr<std::vector<Event>> DecideExpire(const v1::Deal& s, const ExpireDeal&,
                                                const Context& ctx) {
  if (!IsActive(s.status()))
    return NotInStatus(s, "expired", "PENDING_APPROVAL, RETURNED or APPROVED");
  absl::Time deadline = FromProtoTime(s.expires_at());
  if (deadline > ctx.now) {
    return core::FailedPrecondition(
        Subject(s),
        absl::StrCat("not due: expires at ", absl::FormatTime(deadline, absl::UTCTimeZone())));
  }
  v1::DealExpired e;
  *e.mutable_keys() = KeysOfDeal(s);
  *e.mutable_amount() = s.amount();
  e.set_previous_status(s.status());
  *e.mutable_last_activity_at() = s.last_activity_at();
  *e.mutable_expires_at() = s.expires_at();
  *e.mutable_occurred_at() = ToProtoTime(ctx.now);
  return core::VectorOf<Event>(std::move(e));
}

absl::StatusOr<std::vector<Event>> DecideClose(const v1::Deal& s, const CloseDeal& c,
                                               const Context& ctx) {
  if (!IsActive(s.status()))
    return NotInStatus(s, "closed", "PENDING_APPROVAL, RETURNED or APPROVED");
  const v1::CloseDealRequest& r = c.request;
  v1::DealClosed e;
  *e.mutable_keys() = KeysOfDeal(s);
  e.set_outcome(r.outcome());
  if (r.outcome() == v1::CLOSE_OUTCOME_WON) {
    if (r.final_amount().currency_code() != s.amount().currency_code()) {
      return core::InvalidArgument(
          "final_amount.currency_code",
          absl::StrCat("must be the deal currency ", s.amount().currency_code()));
    }
    e.set_status(v1::DEAL_STATUS_WON);
    *e.mutable_final_amount() = r.final_amount();
  } else {
    e.set_status(v1::DEAL_STATUS_LOST);
    e.set_lost_reason(r.lost_reason());
  }
  e.set_previous_status(s.status());
  *e.mutable_amount() = s.amount();
  e.set_registration_approved(s.status() == v1::DEAL_STATUS_APPROVED);
  if (e.registration_approved()) *e.mutable_benefits() = s.benefits();
  *e.mutable_direct_opportunity_ids() = s.direct_opportunity_ids();
  if (const v1::SpecialPricing* spa = CommittedSpecialPricing(s)) {
    *e.mutable_special_pricing_discount() = spa->discount_amount();
  }
  *e.mutable_occurred_at() = ToProtoTime(ctx.now);
  return core::VectorOf<Event>(std::move(e));
}

int32_t RoundedBps(__int128 discount, __int128 list) {
  if (list <= 0) return 0;
  __int128 bps = (discount * 10000 * 2 + list) / (list * 2);  // round half up (non-negative)
  return static_cast<int32_t>(std::min<__int128>(bps, 10000));
}

absl::StatusOr<std::vector<Event>> DecideRequestSpa(const v1::Deal& s,
                                                    const RequestSpecialPricing& c,
                                                    const Context& ctx) {
  if (s.status() != v1::DEAL_STATUS_PENDING_APPROVAL && s.status() != v1::DEAL_STATUS_APPROVED) {
    return NotInStatus(s, "given special pricing", "PENDING_APPROVAL or APPROVED");
  }
  for (const auto& spa : s.special_pricing()) {
    if (spa.status() == v1::SPECIAL_PRICING_STATUS_PENDING) {
      return core::FailedPrecondition(
          Subject(s), absl::StrCat("special pricing request ", spa.spa_id(), " is still pending"));
    }
  }
  if (!c.rules.has_value()) {
    return core::FailedPrecondition(Subject(s), "the deal's programme has no rules");
  }
  const v1::RequestSpecialPricingRequest& r = c.request;
  const std::string& currency = s.amount().currency_code();
  CHANNELOPS_ASSIGN_OR_RETURN(core::Money discount, core::Money::Create(currency, 0));
  int32_t effective = 0;
  v1::SpecialPricing spa;
  auto overflow = [] { return core::InvalidArgument("discount", "discount amount overflows"); };
  if (r.discount_case() == v1::RequestSpecialPricingRequest::kDiscountBps) {
    effective = r.discount_bps();
    spa.set_requested_discount_bps(r.discount_bps());
    for (const v1::DealLine& l : s.lines()) {
      auto line_total = MoneyOf(l.unit_price()).MultiplyBy(l.quantity());
      if (!line_total.ok()) return overflow();
      auto d = line_total->ApplyBasisPoints(r.discount_bps());
      if (!d.ok()) return overflow();
      auto sum = discount.Add(*d);
      if (!sum.ok()) return overflow();
      discount = *sum;
    }
  } else {
    core::FieldViolations v;
    const auto& prices = r.line_prices().prices();
    for (int i = 0; i < prices.size(); ++i) {
      const std::string f = absl::StrCat("line_prices.prices[", i, "]");
      const v1::LinePrice& p = prices[i];
      if (p.line_index() >= s.lines_size()) {
        v.Add(absl::StrCat(f, ".line_index"),
              absl::StrCat("the deal has ", s.lines_size(), " lines"));
        continue;
      }
      const v1::DealLine& l = s.lines(p.line_index());
      if (p.unit_price().currency_code() != currency) {
        v.Add(absl::StrCat(f, ".unit_price.currency_code"),
              absl::StrCat("must be the deal currency ", currency));
        continue;
      }
      int64_t list = l.unit_price().amount_micros();
      int64_t asked = p.unit_price().amount_micros();
      if (asked > list) {
        v.Add(absl::StrCat(f, ".unit_price"),
              absl::StrCat("must not exceed the list price ", MoneyOf(l.unit_price()).ToString()));
        continue;
      }
      auto d = core::Money::Create(currency, list - asked);
      CHANNELOPS_CHECK(d.ok()) << d.status();
      auto line_discount = d->MultiplyBy(l.quantity());
      if (!line_discount.ok()) return overflow();
      auto sum = discount.Add(*line_discount);
      if (!sum.ok()) return overflow();
      discount = *sum;
      effective = std::max(effective, RoundedBps(list - asked, list));
    }
    CHANNELOPS_RETURN_IF_ERROR(v.ToStatus());
    if (discount.is_zero()) return core::InvalidArgument("line_prices", "requests no discount");
    *spa.mutable_line_prices() = r.line_prices();
  }

  const v1::ProgramRules& rules = *c.rules;
  spa.set_spa_id(absl::StrCat("spa-", s.special_pricing_size() + 1));
  spa.set_effective_discount_bps(effective);
  *spa.mutable_discount_amount() = discount.ToProto();
  spa.set_competitor(r.competitor());
  spa.set_justification(r.justification());
  *spa.mutable_requested_at() = ToProtoTime(ctx.now);
  const v1::SpecialPricingTier* tier = nullptr;
  for (const auto& t : rules.spa_tiers()) {
    if (effective <= t.max_discount_bps()) {
      tier = &t;
      break;
    }
  }
  if (effective <= rules.spa_auto_approve_max_bps()) {
    spa.set_status(v1::SPECIAL_PRICING_STATUS_APPROVED);
    spa.set_decided_by(kAutoDecider);
    spa.set_decision_reason(absl::StrCat("at or below the auto-approval threshold of ",
                                         rules.spa_auto_approve_max_bps(), " bps"));
    *spa.mutable_decided_at() = ToProtoTime(ctx.now);
  } else if (tier != nullptr) {
    spa.set_status(v1::SPECIAL_PRICING_STATUS_PENDING);
    spa.set_approver_role(tier->approver_role());
    spa.set_tier_max_discount_bps(tier->max_discount_bps());
  } else {
    spa.set_status(v1::SPECIAL_PRICING_STATUS_REJECTED);
    spa.set_decided_by(kAutoDecider);
    int32_t top = rules.spa_tiers().empty() ? rules.spa_auto_approve_max_bps()
                                            : rules.spa_tiers().rbegin()->max_discount_bps();
    spa.set_decision_reason(
        absl::StrCat("discount of ", effective, " bps is above the top tier (", top, " bps)"));
    *spa.mutable_decided_at() = ToProtoTime(ctx.now);
  }
  v1::SpecialPricingRequested e;
  *e.mutable_keys() = KeysOfDeal(s);
  *e.mutable_request() = std::move(spa);
  e.set_stage(s.stage());
  e.set_deal_status(s.status());
  *e.mutable_occurred_at() = ToProtoTime(ctx.now);
  return core::VectorOf<Event>(std::move(e));
}

absl::StatusOr<std::vector<Event>> DecideDecideSpa(const v1::Deal& s, const DecideSpecialPricing& c,
                                                   const Context& ctx) {
  const v1::DecideSpecialPricingRequest& r = c.request;
  const v1::SpecialPricing* spa = nullptr;
  for (const auto& x : s.special_pricing()) {
    if (x.spa_id() == r.spa_id()) spa = &x;
  }
  if (spa == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("spa_id: no special pricing request ", r.spa_id(), " on deal ", s.deal_id()));
  }
  if (spa->status() != v1::SPECIAL_PRICING_STATUS_PENDING) {
    return core::FailedPrecondition(
        absl::StrCat(Subject(s), "/", spa->spa_id()),
        absl::StrCat("only a PENDING request can be decided; it is ",
                     v1::SpecialPricingStatus_Name(spa->status()).substr(23)));
  }
  if (!IsActive(s.status())) {
    return NotInStatus(s, "given special pricing", "PENDING_APPROVAL, RETURNED or APPROVED");
  }
  bool allowed = r.approver_role() == spa->approver_role();
  if (!allowed && c.rules.has_value()) {
    for (const auto& t : c.rules->spa_tiers()) {
      if (t.max_discount_bps() > spa->tier_max_discount_bps() &&
          t.approver_role() == r.approver_role()) {
        allowed = true;
      }
    }
  }
  if (!allowed) {
    absl::Status st = absl::PermissionDeniedError(absl::StrCat(
        "approver_role: role '", r.approver_role(), "' may not decide a discount of ",
        spa->effective_discount_bps(), " bps (the tier up to ", spa->tier_max_discount_bps(),
        " bps needs '", spa->approver_role(), "' or a higher tier's role)"));
    return st;
  }
  v1::SpecialPricingDecided e;
  *e.mutable_keys() = KeysOfDeal(s);
  e.set_spa_id(spa->spa_id());
  e.set_approved(r.approve());
  e.set_status(r.approve() ? v1::SPECIAL_PRICING_STATUS_APPROVED
                           : v1::SPECIAL_PRICING_STATUS_REJECTED);
  e.set_approver_role(r.approver_role());
  e.set_decided_by(ctx.actor);
  e.set_reason(r.reason());
  e.set_effective_discount_bps(spa->effective_discount_bps());
  *e.mutable_discount_amount() = spa->discount_amount();
  *e.mutable_occurred_at() = ToProtoTime(ctx.now);
  return core::VectorOf<Event>(std::move(e));
}

// ---- Evolve helpers ----

void Touch(v1::Deal& d, const google::protobuf::Timestamp& at) {
  *d.mutable_last_activity_at() = at;
}

void SetProductKeys(v1::Deal& d, const v1::DealKeys& k) {
  *d.mutable_product_keys() = k.product_lines();
}

}  // namespace

const google::protobuf::Message& AsMessage(const Event& e) {
  return std::visit([](const auto& m) -> const google::protobuf::Message& { return m; }, e);
}

std::string RulesStream(const std::string& program_id) {
  return absl::StrCat("rules-", program_id);
}
std::string DealStream(const std::string& deal_id) { return absl::StrCat("deal-", deal_id); }
std::string AccountStream(const std::string& key) { return absl::StrCat("account-", key); }

int32_t ExpiryDays(const v1::ProgramRules& rules) {
  return rules.expiry_days() > 0 ? rules.expiry_days() : kDefaultExpiryDays;
}

// ---------------------------------------------------------------------------
// Rules
// ---------------------------------------------------------------------------

absl::StatusOr<std::vector<Event>> Decide(const v1::ProgramRules& state, const SetProgramRules& c,
                                          const Context& ctx) {
  v1::ProgramRulesSet e;
  v1::ProgramRules* r = e.mutable_rules();
  *r = c.rules;
  r->set_version(state.version() + 1);
  *r->mutable_effective_at() = ToProtoTime(ctx.now);
  // Stored normalised, so evaluation compares exactly.
  for (std::string& t : *r->mutable_excluded_account_types()) t = NormalizeAccountType(t);
  for (std::string& p : *r->mutable_eligible_product_lines()) p = NormalizeProductKey(p);
  for (std::string& p : *r->mutable_eligible_skus()) p = NormalizeProductKey(p);
  return core::VectorOf<Event>(std::move(e));
}

v1::ProgramRules Evolve(v1::ProgramRules state, const Event& e) {
  if (const auto* set = std::get_if<v1::ProgramRulesSet>(&e)) return set->rules();
  return state;
}

// ---------------------------------------------------------------------------
// Registration evaluation
// ---------------------------------------------------------------------------

std::vector<v1::Reason> ConflictReasons(const std::vector<v1::CustomerClaim>& claims,
                                        const std::string& partner_id,
                                        const std::vector<std::string>& product_keys) {
  std::vector<v1::Reason> out;
  for (const v1::CustomerClaim& c : claims) {
    std::vector<std::string> theirs(c.product_lines().begin(), c.product_lines().end());
    std::vector<std::string> common = Intersect(theirs, product_keys);
    if (common.empty()) continue;
    v1::Reason r;
    if (c.kind() == v1::CustomerClaim::KIND_DEAL) {
      if (!partner_id.empty() && c.partner_id() == partner_id) continue;
      r = MakeReason(
          v1::REASON_CODE_CONFLICT_PARTNER_REGISTRATION,
          absl::StrCat("registration ", c.id(), " by another partner holds this customer for ",
                       absl::StrJoin(common, ", "), " (first come, first served)"));
      r.set_conflicting_deal_id(c.id());
    } else if (c.kind() == v1::CustomerClaim::KIND_DIRECT) {
      r = MakeReason(v1::REASON_CODE_CONFLICT_DIRECT_OPPORTUNITY,
                     absl::StrCat("direct sales opportunity ", c.id(), " covers this customer for ",
                                  absl::StrJoin(common, ", ")));
      r.set_direct_opportunity_id(c.id());
    } else {
      continue;
    }
    for (auto& p : common) r.add_product_lines(std::move(p));
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<v1::Reason> AccountAndProductReasons(const common::v1::Party& customer,
                                                 const std::vector<std::string>& product_keys,
                                                 const v1::ProgramRules& rules) {
  std::vector<v1::Reason> out;
  AccountReasons(customer, rules, out);
  std::vector<std::string> bad;
  int first = -1;
  for (size_t i = 0; i < product_keys.size(); ++i) {
    if (!KeyEligible(product_keys[i], rules)) {
      if (first < 0) first = static_cast<int>(i);
      bad.push_back(product_keys[i]);
    }
  }
  if (!bad.empty()) out.push_back(IneligibleReason(bad, first, rules.program_id()));
  return out;
}

Evaluation EvaluateRegistration(const v1::RegisterDealRequest& request,
                                const v1::ProgramRules& rules,
                                const std::vector<v1::CustomerClaim>& claims) {
  Evaluation ev;
  std::vector<std::string> keys = ProductKeys(request.lines());
  if (auto own = FindOwnRegistration(claims, request.partner_id(), keys)) {
    ev.existing_deal_id = *own;
    return ev;
  }
  absl::StatusOr<core::Money> amount = LinesTotal(request.lines());
  CHANNELOPS_CHECK(amount.ok()) << "Decide checks the total first: " << amount.status();
  if (rules.has_min_deal_amount() && HasMoney(rules.min_deal_amount()) &&
      amount->micros() < rules.min_deal_amount().amount_micros()) {
    ev.reasons.push_back(
        MakeReason(v1::REASON_CODE_BELOW_MINIMUM_SIZE,
                   absl::StrCat("amount ", amount->ToString(), " is below the minimum ",
                                MoneyOf(rules.min_deal_amount()).ToString())));
  }
  int64_t units = LinesUnits(request.lines());
  if (rules.min_deal_units() > 0 && units < rules.min_deal_units()) {
    ev.reasons.push_back(MakeReason(
        v1::REASON_CODE_BELOW_MINIMUM_SIZE,
        absl::StrCat(units, " units is below the minimum of ", rules.min_deal_units(), " units")));
  }
  AccountReasons(request.end_customer(), rules, ev.reasons);
  std::vector<std::string> bad;
  int first = -1;
  for (int i = 0; i < request.lines_size(); ++i) {
    if (!LineEligible(request.lines(i), rules)) {
      if (first < 0) first = i;
      std::string k = ProductKey(request.lines(i));
      if (std::find(bad.begin(), bad.end(), k) == bad.end()) bad.push_back(k);
    }
  }
  if (!bad.empty()) ev.reasons.push_back(IneligibleReason(bad, first, rules.program_id()));
  for (auto& r : ConflictReasons(claims, request.partner_id(), keys)) {
    ev.reasons.push_back(std::move(r));
  }

  if (!ev.reasons.empty()) {
    ev.status = v1::DEAL_STATUS_REJECTED;
  } else if (rules.approval_mode() == v1::APPROVAL_MODE_AUTO) {
    if (rules.has_auto_approve_max_amount() && HasMoney(rules.auto_approve_max_amount()) &&
        amount->micros() > rules.auto_approve_max_amount().amount_micros()) {
      ev.status = v1::DEAL_STATUS_PENDING_APPROVAL;
      ev.reasons.push_back(MakeReason(
          v1::REASON_CODE_ABOVE_AUTO_APPROVAL_LIMIT,
          absl::StrCat("amount ", amount->ToString(), " is above the auto-approval limit ",
                       MoneyOf(rules.auto_approve_max_amount()).ToString())));
    } else {
      ev.status = v1::DEAL_STATUS_APPROVED;
    }
  } else {
    ev.status = v1::DEAL_STATUS_PENDING_APPROVAL;
    ev.reasons.push_back(MakeReason(v1::REASON_CODE_MANUAL_APPROVAL_REQUIRED,
                                    "the programme approves registrations manually"));
  }
  return ev;
}

// ---------------------------------------------------------------------------
// Deals
// ---------------------------------------------------------------------------

absl::StatusOr<std::vector<Event>> Decide(const v1::Deal& state, const DealCommand& c,
                                          const Context& ctx) {
  if (const auto* reg = std::get_if<RegisterDeal>(&c)) return DecideRegister(state, *reg, ctx);
  if (state.deal_id().empty()) return NotFound();
  return std::visit(
      Overloaded{
          [&](const RegisterDeal&) -> absl::StatusOr<std::vector<Event>> {
            return absl::InternalError("unreachable");
          },
          [&](const ApproveDeal& x) { return DecideApprove(state, x, ctx); },
          [&](const RejectDeal& x) { return DecideReject(state, x, ctx); },
          [&](const ReturnDeal& x) { return DecideReturn(state, x, ctx); },
          [&](const UpdateDeal& x) { return DecideUpdate(state, x, ctx); },
          [&](const ExpireDeal& x) { return DecideExpire(state, x, ctx); },
          [&](const CloseDeal& x) { return DecideClose(state, x, ctx); },
          [&](const RequestSpecialPricing& x) { return DecideRequestSpa(state, x, ctx); },
          [&](const DecideSpecialPricing& x) { return DecideDecideSpa(state, x, ctx); },
      },
      c);
}

v1::Deal Evolve(v1::Deal d, const Event& event) {
  std::visit(
      Overloaded{
          [&](const v1::ProgramRulesSet&) {},
          [&](const v1::DealRegistered& e) {
            d.Clear();
            const v1::DealKeys& k = e.keys();
            d.set_deal_id(k.deal_id());
            d.set_program_id(k.program_id());
            d.set_rules_version(e.rules_version());
            d.set_partner_id(k.partner_id());
            *d.mutable_partner_contact() = e.partner_contact();
            *d.mutable_end_customer() = e.end_customer();
            d.set_customer_key(k.customer_key());
            d.set_domain_key(k.domain_key());
            *d.mutable_lines() = e.lines();
            *d.mutable_amount() = e.amount();
            d.set_total_units(e.total_units());
            d.set_expected_close_date(e.expected_close_date());
            d.set_lead_id(k.lead_id());
            d.set_status(e.status());
            *d.mutable_reasons() = e.reasons();
            d.set_stage(e.stage());
            *d.mutable_benefits() = e.benefits();
            *d.mutable_registered_at() = e.occurred_at();
            Touch(d, e.occurred_at());
            if (e.has_expires_at()) *d.mutable_expires_at() = e.expires_at();
            d.set_expiry_days(e.expiry_days());
            if (!IsActive(e.status())) *d.mutable_closed_at() = e.occurred_at();
            d.set_decided_by(e.decided_by());
            SetProductKeys(d, k);
          },
          [&](const v1::DealApproved& e) {
            d.set_status(v1::DEAL_STATUS_APPROVED);
            d.clear_reasons();
            d.set_decision_reason(e.reason());
            d.set_decided_by(e.decided_by());
            Touch(d, e.occurred_at());
            *d.mutable_expires_at() = e.expires_at();
          },
          [&](const v1::DealRejected& e) {
            d.set_status(v1::DEAL_STATUS_REJECTED);
            d.clear_reasons();
            d.set_decision_reason(e.reason());
            d.set_decided_by(e.decided_by());
            Touch(d, e.occurred_at());
            *d.mutable_closed_at() = e.occurred_at();
          },
          [&](const v1::DealReturned& e) {
            d.set_status(v1::DEAL_STATUS_RETURNED);
            d.clear_reasons();
            d.set_decision_reason(e.reason());
            d.set_decided_by(e.decided_by());
            Touch(d, e.occurred_at());
            *d.mutable_expires_at() = e.expires_at();
          },
          [&](const v1::DealUpdated& e) {
            if (e.status() != e.previous_status()) d.clear_reasons();
            d.set_status(e.status());
            d.set_stage(e.stage());
            *d.mutable_amount() = e.amount();
            d.set_expected_close_date(e.expected_close_date());
            if (e.lines_replaced()) {
              *d.mutable_lines() = e.lines();
              d.set_total_units(e.total_units());
              SetProductKeys(d, e.keys());
            }
            Touch(d, e.occurred_at());
            *d.mutable_expires_at() = e.expires_at();
          },
          [&](const v1::DealExpired& e) {
            d.set_status(v1::DEAL_STATUS_EXPIRED);
            *d.mutable_closed_at() = e.occurred_at();
          },
          [&](const v1::DealClosed& e) {
            d.set_status(e.status());
            *d.mutable_closed_at() = e.occurred_at();
            if (e.has_final_amount()) *d.mutable_final_amount() = e.final_amount();
            d.set_lost_reason(e.lost_reason());
            Touch(d, e.occurred_at());
          },
          [&](const v1::DirectOpportunityRecorded& e) {
            const auto& ids = e.opportunity().partner_deal_ids();
            if (std::find(ids.begin(), ids.end(), d.deal_id()) != ids.end() &&
                !ListContains(d.direct_opportunity_ids(), e.opportunity().opportunity_id())) {
              d.add_direct_opportunity_ids(e.opportunity().opportunity_id());
            }
          },
          [&](const v1::SpecialPricingRequested& e) { *d.add_special_pricing() = e.request(); },
          [&](const v1::SpecialPricingDecided& e) {
            for (auto& spa : *d.mutable_special_pricing()) {
              if (spa.spa_id() != e.spa_id()) continue;
              spa.set_status(e.status());
              spa.set_decided_by(e.decided_by());
              spa.set_decision_reason(e.reason());
              *spa.mutable_decided_at() = e.occurred_at();
            }
          },
      },
      event);
  // Every event but the direct opportunity (account stream) is on the deal's stream.
  if (!std::holds_alternative<v1::DirectOpportunityRecorded>(event) &&
      !std::holds_alternative<v1::ProgramRulesSet>(event)) {
    d.set_version(d.version() + 1);
  }
  return d;
}

// ---------------------------------------------------------------------------
// Direct opportunities
// ---------------------------------------------------------------------------

absl::StatusOr<std::vector<Event>> Decide(const RecordDirectOpportunity& c, const Context& ctx) {
  if (c.existing.has_value()) return std::vector<Event>{};
  const v1::RecordDirectOpportunityRequest& r = c.request;
  CustomerKeys keys = KeysOf(r.end_customer());
  v1::DirectOpportunityRecorded e;
  v1::DirectOpportunity* o = e.mutable_opportunity();
  o->set_opportunity_id(r.opportunity_id());
  o->set_owner_rep_id(r.owner_rep_id());
  *o->mutable_end_customer() = r.end_customer();
  o->set_customer_key(keys.customer_key);
  o->set_domain_key(keys.domain_key);
  std::set<std::string> products;
  for (const auto& p : r.product_lines()) products.insert(NormalizeProductKey(p));
  for (const auto& p : products) o->add_product_lines(p);
  if (r.has_amount()) *o->mutable_amount() = r.amount();
  *o->mutable_recorded_at() = ToProtoTime(ctx.now);
  std::vector<std::string> mine(products.begin(), products.end());
  for (const v1::CustomerClaim& claim : c.claims) {
    if (claim.kind() != v1::CustomerClaim::KIND_DEAL) continue;
    std::vector<std::string> theirs(claim.product_lines().begin(), claim.product_lines().end());
    std::vector<std::string> common = Intersect(theirs, mine);
    if (common.empty()) continue;
    v1::PartnerRegistrationRef* ref = e.add_partner_got_there_first();
    ref->set_deal_id(claim.id());
    ref->set_partner_id(claim.partner_id());
    ref->set_status(static_cast<v1::DealStatus>(claim.deal_status()));
    for (auto& p : common) ref->add_product_lines(std::move(p));
    o->add_partner_deal_ids(claim.id());
  }
  return core::VectorOf<Event>(std::move(e));
}

// ---------------------------------------------------------------------------
// Forecast
// ---------------------------------------------------------------------------

int32_t StageWeightBps(v1::DealStage stage) {
  switch (stage) {
    case v1::DEAL_STAGE_QUALIFIED:
      return 2500;
    case v1::DEAL_STAGE_PROPOSAL:
      return 5000;
    case v1::DEAL_STAGE_NEGOTIATION:
      return 7500;
    case v1::DEAL_STAGE_COMMIT:
      return 9000;
    default:
      return 1000;  // PROSPECTING and not given
  }
}

const v1::SpecialPricing* CommittedSpecialPricing(const v1::Deal& deal) {
  const v1::SpecialPricing* out = nullptr;
  for (const auto& spa : deal.special_pricing()) {
    if (spa.status() == v1::SPECIAL_PRICING_STATUS_APPROVED) out = &spa;
  }
  return out;
}

std::optional<v1::ForecastItem> ForecastItemOf(const v1::Deal& deal, absl::CivilDay start,
                                               absl::CivilDay end) {
  const v1::SpecialPricing* spa = CommittedSpecialPricing(deal);
  if (spa == nullptr) return std::nullopt;
  int32_t weight = 0;
  if (deal.status() == v1::DEAL_STATUS_WON) {
    absl::CivilDay closed = DayOf(FromProtoTime(deal.closed_at()));
    if (closed < start || closed >= end) return std::nullopt;
    weight = 10000;
  } else if (IsActive(deal.status())) {
    auto close = ParseDate(deal.expected_close_date());
    if (!close || *close < start || *close >= end) return std::nullopt;
    weight = StageWeightBps(deal.stage());
  } else {
    return std::nullopt;
  }
  v1::ForecastItem item;
  item.set_deal_id(deal.deal_id());
  item.set_partner_id(deal.partner_id());
  item.set_status(deal.status());
  item.set_stage(deal.stage());
  *item.mutable_committed() = spa->discount_amount();
  item.set_weight_bps(weight);
  auto weighted = MoneyOf(spa->discount_amount()).ApplyBasisPoints(weight);
  CHANNELOPS_CHECK(weighted.ok()) << "a share of at most 100% fits";
  *item.mutable_weighted() = weighted->ToProto();
  return item;
}

std::vector<v1::ForecastTotal> ForecastTotals(const std::vector<v1::ForecastItem>& items) {
  std::map<std::string, v1::ForecastTotal> by_currency;
  for (const auto& item : items) {
    const std::string& cur = item.committed().currency_code();
    auto [it, fresh] = by_currency.try_emplace(cur);
    v1::ForecastTotal& t = it->second;
    if (fresh) {
      t.set_currency_code(cur);
      t.mutable_committed()->set_currency_code(cur);
      t.mutable_weighted()->set_currency_code(cur);
    }
    // Sums of stored amounts: saturate rather than wrap on absurd totals.
    auto add = [](common::v1::Money* total, const common::v1::Money& x) {
      auto sum = MoneyOf(*total).Add(MoneyOf(x));
      total->set_amount_micros(sum.ok() ? sum->micros() : INT64_MAX);
    };
    add(t.mutable_committed(), item.committed());
    add(t.mutable_weighted(), item.weighted());
    if (item.status() == v1::DEAL_STATUS_WON) {
      t.set_won_deals(t.won_deals() + 1);
    } else {
      t.set_open_deals(t.open_deals() + 1);
    }
  }
  std::vector<v1::ForecastTotal> out;
  for (auto& [cur, t] : by_currency) out.push_back(std::move(t));
  return out;
}

}  // namespace channelops::dealreg::domain
