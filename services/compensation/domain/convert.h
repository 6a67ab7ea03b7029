#pragma once

// Small pure conversions shared by the compensation domain, the service and the
// projections that credit sales: instants, civil dates, commission periods
// (civil months "YYYY-MM"), normalised assignment targets. Stateless and
// thread-safe.

#include <optional>
#include <string>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "channelops/comp/v1/comp.pb.h"
#include "google/protobuf/timestamp.pb.h"

namespace channelops::comp::domain {

google::protobuf::Timestamp ToProtoTime(absl::Time t);
absl::Time FromProtoTime(const google::protobuf::Timestamp& ts);

// Strict "YYYY-MM-DD" (a real calendar day). nullopt otherwise.
std::optional<absl::CivilDay> ParseDate(const std::string& s);
std::string FormatDate(absl::CivilDay d);
// The UTC civil day of an instant.
absl::CivilDay DayOf(absl::Time t);

// Commission periods are civil months, named "YYYY-MM".
std::optional<absl::CivilMonth> ParsePeriodId(const std::string& s);  // strict
std::string PeriodId(absl::CivilMonth m);
std::string PeriodOf(absl::CivilDay d);                  // the period holding a day
std::string NextPeriodId(const std::string& period_id);  // CHECKs a valid id
absl::CivilDay PeriodStart(absl::CivilMonth m);
absl::CivilDay PeriodEnd(absl::CivilMonth m);  // exclusive: first day of the next month

// Product lines are matched lower-cased and trimmed.
std::string NormalizeProductLine(const std::string& product_line);

// Region codes are upper-cased; "US-CT" given for country US becomes "CT".
std::string NormalizeRegion(const std::string& country_code, const std::string& region);

// The normalised key of a target ("" if it cannot be keyed, e.g. a nameless
// account): partner id as given; territory "US|CT|06" (country, region, postal
// prefix; empty parts stay empty); named account core::CustomerKey ("US|acme")
// or, without a name, core::DomainKey ("d|acme.com").
std::string TargetKey(const v1::AssignmentTarget& target);

// The stable id of an assignment: "<role>|<kind>|<target key>", e.g.
// "cam|p|partner-ny", "isr|t|US|CT|", "direct|a|US|acme", "dist|p|dist-1".
std::string AssignmentId(v1::Role role, const std::string& target_key,
                         v1::AssignmentTarget::TargetCase kind);
// Prefix of every assignment id of a role and target kind ("isr|t|").
std::string AssignmentIdPrefix(v1::Role role, v1::AssignmentTarget::TargetCase kind);

// Stream ids.
std::string PlanStream(const std::string& plan_id);
std::string AssignmentStream(const std::string& assignment_id);
std::string PeriodStream(const std::string& period_id);

// "PARTNER", "CHANNEL_ACCOUNT_MANAGER", ... (the enum name without ROLE_).
std::string RoleName(v1::Role role);

}  // namespace channelops::comp::domain
