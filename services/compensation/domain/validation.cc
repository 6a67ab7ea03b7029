#include "compensation/domain/validation.h"

#include <set>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "channelops/core/grpc_status.h"
#include "channelops/core/money.h"
#include "channelops/core/normalize.h"
#include "channelops/core/strings.h"
#include "channelops/core/validation.h"
#include "compensation/domain/convert.h"

namespace channelops::comp::domain {
namespace {

using core::FieldViolations;

std::string Index(const std::string& prefix, int i) { return absl::StrCat(prefix, "[", i, "]"); }

void Id(FieldViolations& v, const std::string& field, const std::string& value, bool required) {
  core::ValidateId(v, field, value, required, kMaxIdLength);
}

void Text(FieldViolations& v, const std::string& field, const std::string& value, size_t max,
          bool required) {
  core::ValidateText(v, field, value, max, required);
}

void Date(FieldViolations& v, const std::string& field, const std::string& value, bool required) {
  if (value.empty()) {
    if (required) v.Add(field, "is required");
    return;
  }
  if (!ParseDate(value)) v.Add(field, "must be a calendar date YYYY-MM-DD");
}

void Bps(FieldViolations& v, const std::string& field, int64_t value) {
  if (value < 0 || value > 10000) v.Add(field, "must be between 0 and 10000 basis points");
}

void Days(FieldViolations& v, const std::string& field, int32_t value) {
  if (value < 0 || value > kMaxDays) v.Add(field, absl::StrCat("must be between 0 and ", kMaxDays));
}

bool KnownRole(v1::Role role) { return v1::Role_IsValid(role) && role != v1::ROLE_UNSPECIFIED; }

void RoleField(FieldViolations& v, const std::string& field, v1::Role role) {
  if (!KnownRole(role)) v.Add(field, "must be a role other than ROLE_UNSPECIFIED");
}

void PageToken(FieldViolations& v, const std::string& token) {
  std::string raw;
  if (!token.empty() && !absl::WebSafeBase64Unescape(token, &raw)) {
    v.Add("page_token", "is not a token from a previous response");
  }
}

void PageSize(FieldViolations& v, int32_t page_size) {
  if (page_size < 0 || page_size > kMaxPageSize) {
    v.Add("page_size", absl::StrCat("must be between 0 and ", kMaxPageSize));
  }
}

void Period(FieldViolations& v, const std::string& field, const std::string& value) {
  if (value.empty()) {
    v.Add(field, "is required");
  } else if (!ParsePeriodId(value)) {
    v.Add(field, "must be a month YYYY-MM");
  }
}

void PlanShape(FieldViolations& v, const v1::Plan& p) {
  Id(v, "plan.plan_id", p.plan_id(), true);
  Text(v, "plan.name", p.name(), kMaxNameLength, false);
  if (!core::IsIsoCurrencyCode(p.currency_code())) {
    v.Add("plan.currency_code", "must be an ISO 4217 currency code");
  }
  Date(v, "plan.effective_from", p.effective_from(), true);
  if (!v1::CreditingBasis_IsValid(p.crediting_basis())) {
    v.Add("plan.crediting_basis", "is not a known crediting basis");
  }
  std::set<v1::Role> rated;
  for (int i = 0; i < p.rates_size(); ++i) {
    const auto& r = p.rates(i);
    const std::string f = Index("plan.rates", i);
    RoleField(v, f + ".role", r.role());
    Bps(v, f + ".rate_bps", r.rate_bps());
    if (KnownRole(r.role()) && !rated.insert(r.role()).second) {
      v.Add(f + ".role", "has a rate already");
    }
  }
  std::set<std::pair<v1::Role, v1::Role>> pairs;
  std::set<v1::Role> in_split;
  for (int i = 0; i < p.splits_size(); ++i) {
    const auto& s = p.splits(i);
    const std::string f = Index("plan.splits", i);
    RoleField(v, f + ".first_role", s.first_role());
    RoleField(v, f + ".second_role", s.second_role());
    if (!v1::SplitMode_IsValid(s.mode())) v.Add(f + ".mode", "is not a known split mode");
    if (KnownRole(s.first_role()) && s.first_role() == s.second_role()) {
      v.Add(f + ".second_role", "must differ from first_role");
      continue;
    }
    // Plain values: std::minmax returns references to its arguments, here
    // temporaries (ASan flagged the reference pair in the clang build).
    const v1::Role a = s.first_role(), b = s.second_role();
    const std::pair<v1::Role, v1::Role> pair(std::min(a, b), std::max(a, b));
    if (!pairs.insert(pair).second) v.Add(f, "repeats a pair of roles");
    if (s.mode() == v1::SPLIT_MODE_SPLIT) {
      if (s.first_share_bps() <= 0 || s.second_share_bps() <= 0 ||
          static_cast<int64_t>(s.first_share_bps()) + s.second_share_bps() != 10000) {
        v.Add(f, "SPLIT shares must be positive and sum to exactly 10000 basis points");
      }
      for (v1::Role role : {s.first_role(), s.second_role()}) {
        if (KnownRole(role) && !in_split.insert(role).second) {
          v.Add(f, absl::StrCat("role ", RoleName(role), " is already in another SPLIT rule"));
        }
      }
    } else if (s.first_share_bps() != 0 || s.second_share_bps() != 0) {
      v.Add(f, "shares are only given for SPLIT (OVERLAY credits each role in full)");
    }
  }
  const auto& bonus = p.registered_deal_bonus();
  Bps(v, "plan.registered_deal_bonus.extra_margin_bps", bonus.extra_margin_bps());
  if (bonus.has_incentive()) {
    const std::string f = "plan.registered_deal_bonus.incentive";
    auto m = core::Money::FromProto(bonus.incentive(), f);
    if (!m.ok()) {
      v.AddFrom(m.status(), f);
    } else if (m->is_negative()) {
      v.Add(f + ".amount_micros", "must not be negative");
    } else if (m->currency() != p.currency_code()) {
      v.Add(f + ".currency_code", "must be the plan's currency");
    }
  }
  Days(v, "plan.hold_days", p.hold_days());
  Days(v, "plan.clawback_window_days", p.clawback_window_days());
  if (p.scope().partner_ids_size() > kMaxScopeEntries) {
    v.Add("plan.scope.partner_ids", absl::StrCat("at most ", kMaxScopeEntries, " entries"));
  }
  for (int i = 0; i < p.scope().partner_ids_size() && i < kMaxScopeEntries; ++i) {
    Id(v, Index("plan.scope.partner_ids", i), p.scope().partner_ids(i), true);
  }
  if (p.scope().product_lines_size() > kMaxScopeEntries) {
    v.Add("plan.scope.product_lines", absl::StrCat("at most ", kMaxScopeEntries, " entries"));
  }
  for (int i = 0; i < p.scope().product_lines_size() && i < kMaxScopeEntries; ++i) {
    Text(v, Index("plan.scope.product_lines", i), p.scope().product_lines(i), kMaxNameLength, true);
  }
}

}  // namespace

absl::Status ValidatePublishPlan(const v1::PublishPlanRequest& r) {
  FieldViolations v;
  Id(v, "request_id", r.request_id(), true);
  if (!r.has_plan()) {
    v.Add("plan", "is required");
  } else {
    PlanShape(v, r.plan());
  }
  return v.ToStatus();
}

absl::Status ValidateGetPlan(const v1::GetPlanRequest& r) {
  FieldViolations v;
  Id(v, "plan_id", r.plan_id(), true);
  Date(v, "as_of", r.as_of(), false);
  if (r.version() != 0 && !r.as_of().empty()) v.Add("as_of", "give either version or as_of");
  return v.ToStatus();
}

absl::Status ValidateAssignRole(const v1::AssignRoleRequest& r) {
  FieldViolations v;
  Id(v, "request_id", r.request_id(), true);
  Id(v, "payee_id", r.payee_id(), false);
  Date(v, "effective_from", r.effective_from(), true);
  if (!KnownRole(r.role())) {
    v.Add("role", "must be a role other than ROLE_UNSPECIFIED");
  } else if (r.role() == v1::ROLE_PARTNER) {
    v.Add("role", "partners are credited as the seller; assign a rep role");
  }
  const auto& t = r.target();
  auto want = [&](v1::AssignmentTarget::TargetCase kind, const char* what) {
    if (t.target_case() != kind) v.Add("target", absl::StrCat("must be ", what, " for this role"));
  };
  switch (r.role()) {
    case v1::ROLE_CHANNEL_ACCOUNT_MANAGER:
    case v1::ROLE_DISTRIBUTOR_REP:
      want(v1::AssignmentTarget::kPartnerId, "partner_id");
      break;
    case v1::ROLE_INSIDE_SALES:
      want(v1::AssignmentTarget::kTerritory, "a territory");
      break;
    case v1::ROLE_DIRECT_REP:
      want(v1::AssignmentTarget::kAccount, "a named account");
      break;
    default:
      break;
  }
  switch (t.target_case()) {
    case v1::AssignmentTarget::kPartnerId:
      Id(v, "target.partner_id", t.partner_id(), true);
      break;
    case v1::AssignmentTarget::kTerritory: {
      const auto& ter = t.territory();
      std::string country = core::NormalizeCountryCode(ter.country_code());
      if (!core::IsIsoCountryCode(country)) {
        v.Add("target.territory.country_code", "must be an ISO 3166-1 alpha-2 code");
      }
      Text(v, "target.territory.region", ter.region(), 64, false);
      Text(v, "target.territory.postal_prefix", ter.postal_prefix(), 16, false);
      for (const std::string& part : {NormalizeRegion(country, ter.region()),
                                      core::NormalizePostalCode(ter.postal_prefix())}) {
        if (part.find('|') != std::string::npos) v.Add("target.territory", "must not contain '|'");
      }
      break;
    }
    case v1::AssignmentTarget::kAccount: {
      const auto& a = t.account();
      Text(v, "target.account.name", a.name(), kMaxNameLength, false);
      if (!a.name().empty()) {
        if (!core::IsIsoCountryCode(core::NormalizeCountryCode(a.country_code()))) {
          v.Add("target.account.country_code", "must be an ISO 3166-1 alpha-2 code with a name");
        }
        if (core::NormalizeCompanyName(a.name()).empty()) {
          v.Add("target.account.name", "must contain a letter or digit");
        }
      } else if (a.email_domain().empty()) {
        v.Add("target.account", "needs a name and country, or an email_domain");
      } else if (core::DomainKey(a.email_domain()).empty()) {
        v.Add("target.account.email_domain", "is not a valid domain");
      }
      break;
    }
    case v1::AssignmentTarget::TARGET_NOT_SET:
      v.Add("target", "is required");
      break;
  }
  return v.ToStatus();
}

absl::Status ValidateListAssignments(const v1::ListAssignmentsRequest& r) {
  FieldViolations v;
  if (!v1::Role_IsValid(r.role())) v.Add("role", "is not a known role");
  Id(v, "payee_id", r.payee_id(), false);
  Id(v, "partner_id", r.partner_id(), false);
  Date(v, "as_of", r.as_of(), false);
  PageSize(v, r.page_size());
  PageToken(v, r.page_token());
  return v.ToStatus();
}

absl::Status ValidateClosePeriod(const v1::ClosePeriodRequest& r) {
  FieldViolations v;
  Id(v, "request_id", r.request_id(), true);
  Period(v, "period_id", r.period_id());
  return v.ToStatus();
}

absl::Status ValidateGetPeriod(const v1::GetPeriodRequest& r) {
  FieldViolations v;
  Period(v, "period_id", r.period_id());
  return v.ToStatus();
}

}  // namespace channelops::comp::domain
