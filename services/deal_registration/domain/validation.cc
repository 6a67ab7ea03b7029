#include "deal_registration/domain/validation.h"

#include <set>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "channelops/core/grpc_status.h"
#include "channelops/core/money.h"
#include "channelops/core/normalize.h"
#include "channelops/core/strings.h"
#include "channelops/core/validation.h"
#include "deal_registration/domain/convert.h"

namespace channelops::dealreg::domain {
namespace {

using core::FieldViolations;

std::string At(const std::string& prefix, const char* field) {
  return prefix.empty() ? std::string(field) : absl::StrCat(prefix, ".", field);
}
std::string Index(const std::string& prefix, int i) { return absl::StrCat(prefix, "[", i, "]"); }

// A field's name, joined only when a violation names it: building every
// field's name up front was ~14 string joins per RegisterDeal (~4,000
// instructions on the gRPC thread), for requests that are nearly always valid.
class FieldName {
 public:
  FieldName(const char* name) : prefix_(name) {}         // NOLINT: implicit by design
  FieldName(const std::string& name) : prefix_(name) {}  // NOLINT
  FieldName(const std::string& prefix, const char* name) : prefix_(prefix), name_(name) {}
  std::string str() const {
    if (name_ == nullptr) return std::string(prefix_);
    return prefix_.empty() ? std::string(name_) : absl::StrCat(prefix_, ".", name_);
  }

 private:
  absl::string_view prefix_;
  const char* name_ = nullptr;
};

void Id(FieldViolations& v, const FieldName& field, const std::string& value, bool required) {
  if (value.empty() ? !required : core::IsValidIdentifier(value, kMaxIdLength)) return;
  core::ValidateId(v, field.str(), value, required, kMaxIdLength);
}

void Text(FieldViolations& v, const FieldName& field, const std::string& value, size_t max,
          bool required) {
  if (value.size() <= max && (!required || !absl::StripAsciiWhitespace(value).empty())) return;
  core::ValidateText(v, field.str(), value, max, required);
}

void RequestId(FieldViolations& v, const std::string& request_id) {
  Id(v, "request_id", request_id, true);
}

// A money field: valid ISO currency; `positive` / non-negative amount.
void MoneyShape(FieldViolations& v, const std::string& field, const common::v1::Money& m,
                bool allow_zero) {
  auto money = core::Money::FromProto(m, field);
  if (!money.ok()) {
    v.AddFrom(money.status(), field);
    return;
  }
  if (money->is_negative() || (!allow_zero && money->is_zero())) {
    v.Add(At(field, "amount_micros"), allow_zero ? "must not be negative" : "must be positive");
  }
}

void AccountType(FieldViolations& v, const FieldName& field, const std::string& value) {
  if (value.empty()) return;
  if (value.size() > 64) {
    v.Add(field.str(), "must be at most 64 characters");
    return;
  }
  for (char c : NormalizeAccountType(value)) {
    if (!(absl::ascii_isupper(static_cast<unsigned char>(c)) || c == '_' ||
          absl::ascii_isdigit(static_cast<unsigned char>(c)))) {
      v.Add(field.str(), "must be a word of letters, digits and '_' (e.g. GOVERNMENT)");
      return;
    }
  }
}

// An end customer: name and country required; the rest bounded.
void PartyShape(FieldViolations& v, const std::string& prefix, const common::v1::Party& p,
                bool name_required) {
  const FieldName name_field(prefix, "name");
  if (p.name().empty()) {
    if (name_required) v.Add(name_field.str(), "is required");
  } else if (p.name().size() > kMaxNameLength) {
    v.Add(name_field.str(), absl::StrCat("must be at most ", kMaxNameLength, " characters"));
  } else if (core::NormalizeCompanyName(p.name()).empty()) {
    v.Add(name_field.str(), "must contain a letter or digit");
  }
  if (!p.email_domain().empty()) {
    if (p.email_domain().size() > 253) {
      v.Add(At(prefix, "email_domain"), "must be at most 253 characters");
    } else if (core::NormalizeEmailDomain(p.email_domain()).empty()) {
      v.Add(At(prefix, "email_domain"), "must be an email address or a registrable domain");
    }
  }
  const std::string addr = At(prefix, "address");
  const auto& a = p.address();
  Text(v, FieldName(addr, "line1"), a.line1(), kMaxNameLength, false);
  Text(v, FieldName(addr, "line2"), a.line2(), kMaxNameLength, false);
  Text(v, FieldName(addr, "city"), a.city(), kMaxNameLength, false);
  Text(v, FieldName(addr, "region"), a.region(), 64, false);
  Text(v, FieldName(addr, "postal_code"), a.postal_code(), 32, false);
  if (a.country_code().empty()) {
    if (name_required) v.Add(At(addr, "country_code"), "is required");
  } else if (!core::IsIsoCountryCode(core::NormalizeCountryCode(a.country_code()))) {
    v.Add(At(addr, "country_code"), "must be an ISO 3166-1 alpha-2 code");
  }
  AccountType(v, FieldName(prefix, "account_type"), p.account_type());
}

void ProductLineText(FieldViolations& v, const FieldName& field, const std::string& value) {
  if (value.size() > kMaxNameLength) {
    v.Add(field.str(), absl::StrCat("must be at most ", kMaxNameLength, " characters"));
  } else if (!value.empty() && NormalizeProductKey(value).empty()) {
    v.Add(field.str(), "must not be blank");
  }
}

// Deal lines: 1..1000, product, positive quantity, priced, one currency.
void Lines(FieldViolations& v, const std::string& field,
           const google::protobuf::RepeatedPtrField<v1::DealLine>& lines) {
  if (lines.empty()) {
    v.Add(field, "must have at least one line");
    return;
  }
  if (lines.size() > kMaxLines) {
    v.Add(field, absl::StrCat("must have at most ", kMaxLines, " lines, got ", lines.size()));
    return;
  }
  std::string first_currency;
  int first_index = -1;
  for (int i = 0; i < lines.size(); ++i) {
    const v1::DealLine& l = lines[i];
    const std::string p = Index(field, i);
    if (l.product_line().empty() && l.sku().empty()) {
      v.Add(At(p, "product_line"), "product_line or sku is required");
    }
    ProductLineText(v, FieldName(p, "product_line"), l.product_line());
    Id(v, FieldName(p, "sku"), l.sku(), false);
    if (l.quantity() <= 0) {
      v.Add(At(p, "quantity"), "must be positive");
    } else if (l.quantity() > kMaxQuantity) {
      v.Add(At(p, "quantity"), absl::StrCat("must be at most ", kMaxQuantity));
    }
    if (!l.has_unit_price()) {
      v.Add(At(p, "unit_price"), "is required");
      continue;
    }
    const std::string price = At(p, "unit_price");
    size_t before = v.size();
    MoneyShape(v, price, l.unit_price(), /*allow_zero=*/true);
    if (v.size() != before) continue;
    if (first_index < 0) {
      first_currency = l.unit_price().currency_code();
      first_index = i;
    } else if (l.unit_price().currency_code() != first_currency) {
      v.Add(At(price, "currency_code"),
            absl::StrCat("all lines of a deal must use one currency (", Index(field, first_index),
                         " uses ", first_currency, ")"));
    }
  }
}

void Date(FieldViolations& v, const std::string& field, const std::string& value, bool required) {
  if (value.empty()) {
    if (required) v.Add(field, "is required");
    return;
  }
  if (!ParseDate(value)) v.Add(field, "must be a date YYYY-MM-DD");
}

void Stage(FieldViolations& v, const std::string& field, int stage) {
  if (!v1::DealStage_IsValid(stage)) v.Add(field, absl::StrCat("unknown stage ", stage));
}

void Contact(FieldViolations& v, const std::string& prefix, const common::v1::Contact& c) {
  Text(v, FieldName(prefix, "name"), c.name(), kMaxNameLength, true);
  if (!c.email().empty()) {
    if (c.email().size() > 254) {
      v.Add(At(prefix, "email"), "must be at most 254 characters");
    } else if (c.email().find('@') == std::string::npos ||
               core::NormalizeEmailDomain(c.email()).empty()) {
      v.Add(At(prefix, "email"), "must be an email address");
    }
  }
  Text(v, FieldName(prefix, "phone"), c.phone(), 64, false);
}

void ProductLineList(FieldViolations& v, const std::string& field,
                     const google::protobuf::RepeatedPtrField<std::string>& lines) {
  if (lines.empty()) {
    v.Add(field, "must name at least one product line");
    return;
  }
  if (lines.size() > kMaxLines) {
    v.Add(field, absl::StrCat("must have at most ", kMaxLines, " entries, got ", lines.size()));
    return;
  }
  for (int i = 0; i < lines.size(); ++i) {
    if (lines[i].empty()) {
      v.Add(Index(field, i), "must not be empty");
    } else {
      ProductLineText(v, Index(field, i), lines[i]);
    }
  }
}

void Bps(FieldViolations& v, const std::string& field, int64_t bps, int64_t min) {
  if (bps < min || bps > 10000) v.Add(field, absl::StrCat("must be between ", min, " and 10000"));
}

void Decision(FieldViolations& v, const std::string& request_id, const std::string& deal_id,
              const std::string& reason, bool reason_required) {
  RequestId(v, request_id);
  Id(v, "deal_id", deal_id, true);
  Text(v, "reason", reason, kMaxTextLength, reason_required);
}

}  // namespace

absl::Status ValidateSetProgramRules(const v1::SetProgramRulesRequest& r) {
  FieldViolations v;
  RequestId(v, r.request_id());
  if (!r.has_rules()) {
    v.Add("rules", "is required");
    return v.ToStatus();
  }
  const v1::ProgramRules& x = r.rules();
  Id(v, "rules.program_id", x.program_id(), true);
  if (!core::IsIsoCurrencyCode(x.currency_code())) {
    v.Add("rules.currency_code", "must be a 3-letter ISO 4217 code");
  }
  auto program_money = [&](const std::string& field, const common::v1::Money& m) {
    size_t before = v.size();
    MoneyShape(v, field, m, /*allow_zero=*/true);
    if (v.size() == before && m.currency_code() != x.currency_code()) {
      v.Add(At(field, "currency_code"), "must be the programme currency");
    }
  };
  if (x.has_min_deal_amount()) program_money("rules.min_deal_amount", x.min_deal_amount());
  if (x.min_deal_units() < 0) v.Add("rules.min_deal_units", "must not be negative");
  for (int i = 0; i < x.excluded_account_types_size(); ++i) {
    const std::string f = Index("rules.excluded_account_types", i);
    if (x.excluded_account_types(i).empty()) v.Add(f, "must not be empty");
    AccountType(v, f, x.excluded_account_types(i));
  }
  if (x.named_accounts_size() > 100000) v.Add("rules.named_accounts", "at most 100000 entries");
  for (int i = 0; i < x.named_accounts_size() && i < 100000; ++i) {
    const auto& n = x.named_accounts(i);
    const std::string f = Index("rules.named_accounts", i);
    if (n.name().empty() && n.email_domain().empty()) {
      v.Add(At(f, "name"), "name or email_domain is required");
    }
    if (!n.name().empty() &&
        (n.name().size() > kMaxNameLength || core::NormalizeCompanyName(n.name()).empty())) {
      v.Add(At(f, "name"), "must be a company name of at most 200 characters");
    }
    if (!n.email_domain().empty() && core::NormalizeEmailDomain(n.email_domain()).empty()) {
      v.Add(At(f, "email_domain"), "must be a registrable domain");
    }
    if (!n.country_code().empty() &&
        !core::IsIsoCountryCode(core::NormalizeCountryCode(n.country_code()))) {
      v.Add(At(f, "country_code"), "must be an ISO 3166-1 alpha-2 code");
    }
  }
  for (int i = 0; i < x.eligible_product_lines_size(); ++i) {
    const std::string f = Index("rules.eligible_product_lines", i);
    if (x.eligible_product_lines(i).empty()) v.Add(f, "must not be empty");
    ProductLineText(v, f, x.eligible_product_lines(i));
  }
  for (int i = 0; i < x.eligible_skus_size(); ++i) {
    Id(v, Index("rules.eligible_skus", i), x.eligible_skus(i), true);
  }
  if (x.expiry_days() < 0 || x.expiry_days() > kMaxExpiryDays) {
    v.Add("rules.expiry_days", absl::StrCat("must be between 0 (default 30) and ", kMaxExpiryDays));
  }
  if (!v1::ApprovalMode_IsValid(x.approval_mode())) {
    v.Add("rules.approval_mode", absl::StrCat("unknown approval mode ", x.approval_mode()));
  }
  if (x.has_auto_approve_max_amount()) {
    program_money("rules.auto_approve_max_amount", x.auto_approve_max_amount());
  }
  if (x.has_benefits()) {
    Bps(v, "rules.benefits.extra_margin_bps", x.benefits().extra_margin_bps(), 0);
    if (x.benefits().has_incentive())
      program_money("rules.benefits.incentive", x.benefits().incentive());
  }
  Bps(v, "rules.spa_auto_approve_max_bps", x.spa_auto_approve_max_bps(), 0);
  int32_t previous = x.spa_auto_approve_max_bps();
  std::set<std::string> roles;
  for (int i = 0; i < x.spa_tiers_size(); ++i) {
    const auto& t = x.spa_tiers(i);
    const std::string f = Index("rules.spa_tiers", i);
    Bps(v, At(f, "max_discount_bps"), t.max_discount_bps(), 1);
    if (t.max_discount_bps() <= previous) {
      v.Add(At(f, "max_discount_bps"),
            "tiers must ascend strictly and lie above spa_auto_approve_max_bps");
    }
    previous = t.max_discount_bps();
    Id(v, FieldName(f, "approver_role"), t.approver_role(), true);
    if (!t.approver_role().empty() && !roles.insert(t.approver_role()).second) {
      v.Add(At(f, "approver_role"), "each role may own one tier");
    }
  }
  return v.ToStatus();
}

absl::Status ValidateGetProgramRules(const v1::GetProgramRulesRequest& r) {
  FieldViolations v;
  Id(v, "program_id", r.program_id(), true);
  return v.ToStatus();
}

absl::Status ValidateRegisterDeal(const v1::RegisterDealRequest& r) {
  FieldViolations v;
  RequestId(v, r.request_id());
  Id(v, "program_id", r.program_id(), true);
  Id(v, "partner_id", r.partner_id(), true);
  if (!r.has_partner_contact()) {
    v.Add("partner_contact", "is required");
  } else {
    Contact(v, "partner_contact", r.partner_contact());
  }
  if (!r.has_end_customer()) {
    v.Add("end_customer", "is required");
  } else {
    PartyShape(v, "end_customer", r.end_customer(), /*name_required=*/true);
  }
  Lines(v, "lines", r.lines());
  Date(v, "expected_close_date", r.expected_close_date(), true);
  Id(v, "lead_id", r.lead_id(), false);
  Stage(v, "stage", r.stage());
  return v.ToStatus();
}

absl::Status ValidateCheckConflicts(const v1::CheckConflictsRequest& r) {
  FieldViolations v;
  Id(v, "program_id", r.program_id(), true);
  Id(v, "partner_id", r.partner_id(), false);
  if (!r.has_end_customer()) {
    v.Add("end_customer", "is required");
  } else {
    PartyShape(v, "end_customer", r.end_customer(), /*name_required=*/true);
  }
  ProductLineList(v, "product_lines", r.product_lines());
  return v.ToStatus();
}

absl::Status ValidateRecordDirectOpportunity(const v1::RecordDirectOpportunityRequest& r) {
  FieldViolations v;
  RequestId(v, r.request_id());
  Id(v, "opportunity_id", r.opportunity_id(), true);
  Id(v, "owner_rep_id", r.owner_rep_id(), true);
  if (!r.has_end_customer()) {
    v.Add("end_customer", "is required");
  } else {
    PartyShape(v, "end_customer", r.end_customer(), /*name_required=*/true);
  }
  ProductLineList(v, "product_lines", r.product_lines());
  if (r.has_amount()) MoneyShape(v, "amount", r.amount(), /*allow_zero=*/true);
  return v.ToStatus();
}

absl::Status ValidateApproveDeal(const v1::ApproveDealRequest& r) {
  FieldViolations v;
  Decision(v, r.request_id(), r.deal_id(), r.reason(), false);
  return v.ToStatus();
}

absl::Status ValidateRejectDeal(const v1::RejectDealRequest& r) {
  FieldViolations v;
  Decision(v, r.request_id(), r.deal_id(), r.reason(), true);
  return v.ToStatus();
}

absl::Status ValidateReturnDeal(const v1::ReturnDealRequest& r) {
  FieldViolations v;
  Decision(v, r.request_id(), r.deal_id(), r.reason(), true);
  return v.ToStatus();
}

absl::Status ValidateUpdateDeal(const v1::UpdateDealRequest& r) {
  FieldViolations v;
  RequestId(v, r.request_id());
  Id(v, "deal_id", r.deal_id(), true);
  if (r.expected_version() == 0) v.Add("expected_version", "is required (the deal's version)");
  Stage(v, "stage", r.stage());
  if (r.has_amount()) MoneyShape(v, "amount", r.amount(), /*allow_zero=*/false);
  Date(v, "expected_close_date", r.expected_close_date(), false);
  if (r.replace_lines()) {
    Lines(v, "lines", r.lines());
  } else if (!r.lines().empty()) {
    v.Add("lines", "lines are only accepted with replace_lines");
  }
  return v.ToStatus();
}

absl::Status ValidateCloseDeal(const v1::CloseDealRequest& r) {
  FieldViolations v;
  RequestId(v, r.request_id());
  Id(v, "deal_id", r.deal_id(), true);
  switch (r.outcome()) {
    case v1::CLOSE_OUTCOME_WON:
      if (!r.has_final_amount()) {
        v.Add("final_amount", "is required when the deal is won");
      } else {
        MoneyShape(v, "final_amount", r.final_amount(), /*allow_zero=*/false);
      }
      if (!r.lost_reason().empty()) v.Add("lost_reason", "only for a lost deal");
      break;
    case v1::CLOSE_OUTCOME_LOST:
      Text(v, "lost_reason", r.lost_reason(), kMaxTextLength, true);
      if (r.has_final_amount()) v.Add("final_amount", "only for a won deal");
      break;
    case v1::CLOSE_OUTCOME_UNSPECIFIED:
      v.Add("outcome", "is required (WON or LOST)");
      break;
    default:
      v.Add("outcome", absl::StrCat("unknown outcome ", r.outcome()));
  }
  return v.ToStatus();
}

absl::Status ValidateRequestSpecialPricing(const v1::RequestSpecialPricingRequest& r) {
  FieldViolations v;
  RequestId(v, r.request_id());
  Id(v, "deal_id", r.deal_id(), true);
  switch (r.discount_case()) {
    case v1::RequestSpecialPricingRequest::kDiscountBps:
      Bps(v, "discount_bps", r.discount_bps(), 1);
      break;
    case v1::RequestSpecialPricingRequest::kLinePrices: {
      const auto& prices = r.line_prices().prices();
      if (prices.empty()) v.Add("line_prices.prices", "must have at least one price");
      if (prices.size() > kMaxLines) v.Add("line_prices.prices", "must have at most 1000 prices");
      std::set<int> seen;
      for (int i = 0; i < prices.size() && i < kMaxLines; ++i) {
        const std::string f = Index("line_prices.prices", i);
        if (prices[i].line_index() < 0 || prices[i].line_index() >= kMaxLines) {
          v.Add(At(f, "line_index"), "must be a line index (0..999)");
        } else if (!seen.insert(prices[i].line_index()).second) {
          v.Add(At(f, "line_index"), "each line may be priced once");
        }
        if (!prices[i].has_unit_price()) {
          v.Add(At(f, "unit_price"), "is required");
        } else {
          MoneyShape(v, At(f, "unit_price"), prices[i].unit_price(), /*allow_zero=*/true);
        }
      }
      break;
    }
    default:
      v.Add("discount_bps", "discount_bps or line_prices is required");
  }
  Text(v, "competitor", r.competitor(), kMaxNameLength, false);
  Text(v, "justification", r.justification(), kMaxTextLength, true);
  return v.ToStatus();
}

absl::Status ValidateDecideSpecialPricing(const v1::DecideSpecialPricingRequest& r) {
  FieldViolations v;
  RequestId(v, r.request_id());
  Id(v, "deal_id", r.deal_id(), true);
  Id(v, "spa_id", r.spa_id(), true);
  Id(v, "approver_role", r.approver_role(), true);
  Text(v, "reason", r.reason(), kMaxTextLength, !r.approve());
  return v.ToStatus();
}

absl::Status ValidateForecastSpecialPricing(const v1::ForecastSpecialPricingRequest& r) {
  FieldViolations v;
  if (!r.has_period()) {
    v.Add("period", "is required");
  } else {
    Date(v, "period.start_date", r.period().start_date(), true);
    Date(v, "period.end_date", r.period().end_date(), true);
    auto s = ParseDate(r.period().start_date());
    auto e = ParseDate(r.period().end_date());
    if (s && e && *e <= *s) v.Add("period.end_date", "must be after start_date");
  }
  Id(v, "program_id", r.program_id(), false);
  return v.ToStatus();
}

absl::Status ValidateGetDeal(const v1::GetDealRequest& r) {
  FieldViolations v;
  Id(v, "deal_id", r.deal_id(), true);
  return v.ToStatus();
}

absl::Status ValidateListDeals(const v1::ListDealsRequest& r) {
  FieldViolations v;
  Id(v, "partner_id", r.partner_id(), false);
  if (!v1::DealStatus_IsValid(r.status()))
    v.Add("status", absl::StrCat("unknown status ", r.status()));
  if (r.has_customer()) {
    PartyShape(v, "customer", r.customer(), /*name_required=*/false);
    bool by_name = !r.customer().name().empty() && !r.customer().address().country_code().empty();
    if (!by_name && r.customer().email_domain().empty()) {
      v.Add("customer", "needs name and address.country_code, or email_domain");
    }
  }
  if (r.page_size() < 0 || r.page_size() > kMaxPageSize) {
    v.Add("page_size",
          absl::StrCat("must be between 0 (default ", kDefaultPageSize, ") and ", kMaxPageSize));
  }
  if (!r.page_token().empty()) {
    std::string raw;
    if (r.page_token().size() > 256 || !absl::WebSafeBase64Unescape(r.page_token(), &raw) ||
        !core::IsValidIdentifier(raw, kMaxIdLength)) {
      v.Add("page_token", "is not a token returned by ListDeals");
    }
  }
  return v.ToStatus();
}

absl::Status ValidateGetDealHistory(const v1::GetDealHistoryRequest& r) {
  FieldViolations v;
  Id(v, "deal_id", r.deal_id(), true);
  return v.ToStatus();
}

}  // namespace channelops::dealreg::domain
