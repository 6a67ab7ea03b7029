#pragma once

// Small pure conversions shared by the MDF domain and service: instants, civil
// dates, money on the wire. Thread-safe (stateless).

#include <optional>
#include <string>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "channelops/common/v1/types.pb.h"
#include "channelops/core/money.h"
#include "google/protobuf/timestamp.pb.h"

namespace channelops::mdf::domain {

google::protobuf::Timestamp ToProtoTime(absl::Time t);
absl::Time FromProtoTime(const google::protobuf::Timestamp& ts);
// RFC 3339 in UTC, e.g. "2026-03-01T00:00:00Z" (for messages).
std::string FormatInstant(absl::Time t);

// Strict "YYYY-MM-DD" (a real calendar day). nullopt otherwise.
std::optional<absl::CivilDay> ParseDate(const std::string& s);
std::string FormatDate(absl::CivilDay d);
// The UTC civil day of an instant, and the instant a UTC day starts.
absl::CivilDay DayOf(absl::Time t);
absl::Time StartOf(absl::CivilDay d);

// Money from a proto already validated by the shape checks (CHECKs the currency).
core::Money MoneyOf(const common::v1::Money& m);
// Zero of `currency` (CHECKs the code).
core::Money Zero(const std::string& currency);
// An optional money field is present when it names a currency or an amount.
bool HasMoney(const common::v1::Money& m);

}  // namespace channelops::mdf::domain
