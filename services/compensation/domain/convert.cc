#include "compensation/domain/convert.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "channelops/core/check.h"
#include "channelops/core/normalize.h"

namespace channelops::comp::domain {

google::protobuf::Timestamp ToProtoTime(absl::Time t) {
  google::protobuf::Timestamp ts;
  int64_t us = absl::ToUnixMicros(t);
  int64_t secs = us >= 0 ? us / 1000000 : -((-us + 999999) / 1000000);
  ts.set_seconds(secs);
  ts.set_nanos(static_cast<int32_t>((us - secs * 1000000) * 1000));
  return ts;
}

absl::Time FromProtoTime(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

std::optional<absl::CivilDay> ParseDate(const std::string& s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return std::nullopt;
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9}) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(s[i]))) return std::nullopt;
  }
  absl::CivilDay d;
  if (!absl::ParseCivilTime(s, &d)) return std::nullopt;
  // ParseCivilTime normalises 2026-02-30 to 2026-03-02: reject such input.
  if (FormatDate(d) != s) return std::nullopt;
  return d;
}

std::string FormatDate(absl::CivilDay d) { return absl::FormatCivilTime(d); }

absl::CivilDay DayOf(absl::Time t) { return absl::ToCivilDay(t, absl::UTCTimeZone()); }

std::optional<absl::CivilMonth> ParsePeriodId(const std::string& s) {
  if (s.size() != 7 || s[4] != '-') return std::nullopt;
  for (size_t i : {0, 1, 2, 3, 5, 6}) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(s[i]))) return std::nullopt;
  }
  absl::CivilMonth m;
  if (!absl::ParseCivilTime(s, &m)) return std::nullopt;
  if (PeriodId(m) != s) return std::nullopt;
  return m;
}

std::string PeriodId(absl::CivilMonth m) { return absl::FormatCivilTime(m); }

std::string PeriodOf(absl::CivilDay d) { return PeriodId(absl::CivilMonth(d)); }

std::string NextPeriodId(const std::string& period_id) {
  auto m = ParsePeriodId(period_id);
  CHANNELOPS_CHECK(m.has_value()) << "bad period id " << period_id;
  return PeriodId(*m + 1);
}

absl::CivilDay PeriodStart(absl::CivilMonth m) { return absl::CivilDay(m); }
absl::CivilDay PeriodEnd(absl::CivilMonth m) { return absl::CivilDay(m + 1); }

std::string NormalizeProductLine(const std::string& product_line) {
  return absl::AsciiStrToLower(absl::StripAsciiWhitespace(product_line));
}

std::string NormalizeRegion(const std::string& country_code, const std::string& region) {
  std::string r = absl::AsciiStrToUpper(absl::StripAsciiWhitespace(region));
  std::string prefix = absl::StrCat(core::NormalizeCountryCode(country_code), "-");
  if (prefix.size() > 1 && absl::StartsWith(r, prefix)) r = r.substr(prefix.size());
  return r;
}

std::string TargetKey(const v1::AssignmentTarget& target) {
  switch (target.target_case()) {
    case v1::AssignmentTarget::kPartnerId:
      return target.partner_id();
    case v1::AssignmentTarget::kTerritory: {
      const auto& t = target.territory();
      std::string country = core::NormalizeCountryCode(t.country_code());
      if (country.empty()) return "";
      return absl::StrCat(country, "|", NormalizeRegion(country, t.region()), "|",
                          core::NormalizePostalCode(t.postal_prefix()));
    }
    case v1::AssignmentTarget::kAccount: {
      const auto& a = target.account();
      if (!a.name().empty()) return core::CustomerKey(a.country_code(), a.name());
      return core::DomainKey(a.email_domain());
    }
    case v1::AssignmentTarget::TARGET_NOT_SET:
      break;
  }
  return "";
}

namespace {
const char* RoleTag(v1::Role role) {
  switch (role) {
    case v1::ROLE_PARTNER:
      return "partner";
    case v1::ROLE_CHANNEL_ACCOUNT_MANAGER:
      return "cam";
    case v1::ROLE_INSIDE_SALES:
      return "isr";
    case v1::ROLE_DIRECT_REP:
      return "direct";
    case v1::ROLE_DISTRIBUTOR_REP:
      return "dist";
    default:
      return "none";
  }
}
const char* KindTag(v1::AssignmentTarget::TargetCase kind) {
  switch (kind) {
    case v1::AssignmentTarget::kPartnerId:
      return "p";
    case v1::AssignmentTarget::kTerritory:
      return "t";
    case v1::AssignmentTarget::kAccount:
      return "a";
    default:
      return "x";
  }
}
}  // namespace

std::string AssignmentIdPrefix(v1::Role role, v1::AssignmentTarget::TargetCase kind) {
  return absl::StrCat(RoleTag(role), "|", KindTag(kind), "|");
}

std::string AssignmentId(v1::Role role, const std::string& target_key,
                         v1::AssignmentTarget::TargetCase kind) {
  return absl::StrCat(AssignmentIdPrefix(role, kind), target_key);
}

std::string PlanStream(const std::string& plan_id) { return absl::StrCat("plan-", plan_id); }
std::string AssignmentStream(const std::string& assignment_id) {
  return absl::StrCat("assignment-", assignment_id);
}
std::string PeriodStream(const std::string& period_id) {
  return absl::StrCat("period-", period_id);
}

std::string RoleName(v1::Role role) {
  std::string name = v1::Role_Name(role);
  return absl::StartsWith(name, "ROLE_") ? name.substr(5) : name;
}

}  // namespace channelops::comp::domain
