#pragma once

// Small pure conversions shared by the POS domain and service: instants, civil
// dates, activity codes, units of measure, money. Thread-safe (stateless).

#include <optional>
#include <string>
#include <string_view>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "channelops/common/v1/types.pb.h"
#include "channelops/core/money.h"
#include "channelops/pos/v1/pos.pb.h"
#include "google/protobuf/timestamp.pb.h"

namespace channelops::pos::domain {

google::protobuf::Timestamp ToProtoTime(absl::Time t);
absl::Time FromProtoTime(const google::protobuf::Timestamp& ts);

// Strict "YYYY-MM-DD" (a real calendar day). nullopt otherwise.
std::optional<absl::CivilDay> ParseDate(std::string_view s);
std::string FormatDate(absl::CivilDay d);
// The UTC civil day of an instant.
absl::CivilDay DayOf(absl::Time t);
// 00:00:00 UTC of a day: the instant a dated movement enters the ledger.
absl::Time StartOf(absl::CivilDay d);
// The last microsecond of a day: an on-hand count "as of day D" is the ledger
// as of this instant (every movement dated D included).
absl::Time EndOf(absl::CivilDay d);

// How a report line's activity code is understood.
struct ActivityCode {
  enum class Kind { kKnown, kIgnored, kUnknown };
  Kind kind = Kind::kUnknown;
  v1::LineActivity activity = v1::LINE_ACTIVITY_UNSPECIFIED;
};
// X12 867 transfer types / 852 activity codes (also used by CSV):
//   SS, DS, SD, SH, RU, RV, IA, SA, QA, QS, QR, QU  -> known activities;
//   PA, RC, IB, BB (867) and QP, QI, QB, QE (852)   -> ignored (reported, not modelled);
//   anything else                                    -> unknown.
ActivityCode ActivityFromCode(std::string_view code);
// The canonical code of an activity ("SS" for STOCK_SALE); "" for UNSPECIFIED.
std::string CodeOf(v1::LineActivity activity);

bool IsSale(v1::LineActivity a);    // stock, drop-ship and ship-and-debit sales
bool IsReturn(v1::LineActivity a);  // customer returns, returns to vendor, reported returns
// Whether a report of `kind` may carry `activity`.
bool AllowedIn(v1::ReportKind kind, v1::LineActivity activity);

// True iff `uom` is a supported X12 (355) count unit: EA, CA, BX, PK, DZ, PL,
// KT, ST, RL, UN (upper case).
bool IsSupportedUnit(std::string_view uom);

// Money from a proto already validated by the shape checks (CHECKs the currency).
core::Money MoneyOf(const common::v1::Money& m);
bool HasMoney(const common::v1::Money& m);  // currency_code set

}  // namespace channelops::pos::domain
