#pragma once

// Small pure conversions shared by the deal registration domain and service:
// instants, civil dates, product keys, money sums. Thread-safe (stateless).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "channelops/common/v1/types.pb.h"
#include "channelops/core/money.h"
#include "channelops/dealreg/v1/dealreg.pb.h"
#include "google/protobuf/timestamp.pb.h"

namespace channelops::dealreg::domain {

google::protobuf::Timestamp ToProtoTime(absl::Time t);
absl::Time FromProtoTime(const google::protobuf::Timestamp& ts);

// Strict "YYYY-MM-DD" (a real calendar day). nullopt otherwise.
std::optional<absl::CivilDay> ParseDate(const std::string& s);
std::string FormatDate(absl::CivilDay d);
// The UTC civil day of an instant.
absl::CivilDay DayOf(absl::Time t);

// The key a line is matched on for conflicts and eligibility: the product line,
// else "sku:<sku>", ASCII lower-cased and trimmed.
std::string ProductKey(const v1::DealLine& line);
// A product key given directly (CheckConflicts, direct opportunities):
// lower-cased and trimmed; "sku:X" stays "sku:x".
std::string NormalizeProductKey(const std::string& product_line);
// Sorted, de-duplicated product keys of lines.
std::vector<std::string> ProductKeys(const google::protobuf::RepeatedPtrField<v1::DealLine>& lines);
// Sorted intersection of two sorted key lists.
std::vector<std::string> Intersect(const std::vector<std::string>& a,
                                   const std::vector<std::string>& b);

// Upper-cased, trimmed account type ("government " -> "GOVERNMENT").
std::string NormalizeAccountType(const std::string& account_type);

// Sum of quantity x unit price over lines, which must all be valid and in one
// currency (the shape validation guarantees it). INVALID_ARGUMENT naming the
// line on overflow.
absl::StatusOr<core::Money> LinesTotal(
    const google::protobuf::RepeatedPtrField<v1::DealLine>& lines);
int64_t LinesUnits(const google::protobuf::RepeatedPtrField<v1::DealLine>& lines);

// Money from a proto already validated by the shape checks (CHECKs the currency).
core::Money MoneyOf(const common::v1::Money& m);
bool HasMoney(const common::v1::Money& m);  // currency_code set

}  // namespace channelops::dealreg::domain
