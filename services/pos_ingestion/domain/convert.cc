#include "pos_ingestion/domain/convert.h"

#include <array>

#include "absl/strings/ascii.h"
#include "channelops/core/check.h"

namespace channelops::pos::domain {

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

std::optional<absl::CivilDay> ParseDate(std::string_view s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return std::nullopt;
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9}) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(s[i]))) return std::nullopt;
  }
  auto num = [&](size_t from, size_t n) {
    int v = 0;
    for (size_t i = from; i < from + n; ++i) v = v * 10 + (s[i] - '0');
    return v;
  };
  const int y = num(0, 4), m = num(5, 2), d = num(8, 2);
  // Exactly the days whose FormatDate is `s`: FormatDate writes years below 1000
  // with fewer than 4 digits, and a day that does not exist is no day's form.
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (y < 1000 || m < 1 || m > 12 || d < 1) return std::nullopt;
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (d > (m == 2 && leap ? 29 : kDays[m - 1])) return std::nullopt;
  return absl::CivilDay(y, m, d);
}

std::string FormatDate(absl::CivilDay d) { return absl::FormatCivilTime(d); }

absl::CivilDay DayOf(absl::Time t) { return absl::ToCivilDay(t, absl::UTCTimeZone()); }

absl::Time StartOf(absl::CivilDay d) { return absl::FromCivil(d, absl::UTCTimeZone()); }

absl::Time EndOf(absl::CivilDay d) { return StartOf(d + 1) - absl::Microseconds(1); }

ActivityCode ActivityFromCode(std::string_view code) {
  struct Entry {
    const char* code;
    v1::LineActivity activity;
  };
  static constexpr Entry kKnown[] = {
      {"SS", v1::LINE_ACTIVITY_STOCK_SALE},
      {"DS", v1::LINE_ACTIVITY_DROP_SHIP_SALE},
      {"SD", v1::LINE_ACTIVITY_SHIP_AND_DEBIT_SALE},
      {"SH", v1::LINE_ACTIVITY_SHIP_AND_DEBIT_SALE},
      {"RU", v1::LINE_ACTIVITY_CUSTOMER_RETURN},
      {"RV", v1::LINE_ACTIVITY_RETURN_TO_VENDOR},
      {"IA", v1::LINE_ACTIVITY_ADJUSTMENT},
      {"SA", v1::LINE_ACTIVITY_ADJUSTMENT},
      {"QA", v1::LINE_ACTIVITY_ON_HAND},
      {"QS", v1::LINE_ACTIVITY_REPORTED_SOLD},
      {"QR", v1::LINE_ACTIVITY_REPORTED_RECEIVED},
      {"QU", v1::LINE_ACTIVITY_REPORTED_RETURNED},
  };
  static constexpr const char* kIgnored[] = {"PA", "RC", "IB", "BB", "QP", "QI", "QB", "QE"};
  ActivityCode out;
  if (code.size() != 2) return out;  // every code is two characters
  for (const Entry& e : kKnown) {
    if (code[0] == e.code[0] && code[1] == e.code[1]) {
      out.kind = ActivityCode::Kind::kKnown;
      out.activity = e.activity;
      return out;
    }
  }
  for (const char* c : kIgnored) {
    if (code[0] == c[0] && code[1] == c[1]) out.kind = ActivityCode::Kind::kIgnored;
  }
  return out;
}

std::string CodeOf(v1::LineActivity activity) {
  switch (activity) {
    case v1::LINE_ACTIVITY_STOCK_SALE:
      return "SS";
    case v1::LINE_ACTIVITY_DROP_SHIP_SALE:
      return "DS";
    case v1::LINE_ACTIVITY_SHIP_AND_DEBIT_SALE:
      return "SD";
    case v1::LINE_ACTIVITY_CUSTOMER_RETURN:
      return "RU";
    case v1::LINE_ACTIVITY_RETURN_TO_VENDOR:
      return "RV";
    case v1::LINE_ACTIVITY_ADJUSTMENT:
      return "IA";
    case v1::LINE_ACTIVITY_ON_HAND:
      return "QA";
    case v1::LINE_ACTIVITY_REPORTED_SOLD:
      return "QS";
    case v1::LINE_ACTIVITY_REPORTED_RECEIVED:
      return "QR";
    case v1::LINE_ACTIVITY_REPORTED_RETURNED:
      return "QU";
    default:
      return "";
  }
}

bool IsSale(v1::LineActivity a) {
  return a == v1::LINE_ACTIVITY_STOCK_SALE || a == v1::LINE_ACTIVITY_DROP_SHIP_SALE ||
         a == v1::LINE_ACTIVITY_SHIP_AND_DEBIT_SALE;
}

bool IsReturn(v1::LineActivity a) {
  return a == v1::LINE_ACTIVITY_CUSTOMER_RETURN || a == v1::LINE_ACTIVITY_RETURN_TO_VENDOR ||
         a == v1::LINE_ACTIVITY_REPORTED_RETURNED;
}

bool AllowedIn(v1::ReportKind kind, v1::LineActivity a) {
  switch (kind) {
    case v1::REPORT_KIND_SELL_THROUGH:
      return IsSale(a) || a == v1::LINE_ACTIVITY_CUSTOMER_RETURN ||
             a == v1::LINE_ACTIVITY_RETURN_TO_VENDOR || a == v1::LINE_ACTIVITY_ADJUSTMENT;
    case v1::REPORT_KIND_RETURNS:
      return a == v1::LINE_ACTIVITY_CUSTOMER_RETURN || a == v1::LINE_ACTIVITY_RETURN_TO_VENDOR;
    case v1::REPORT_KIND_INVENTORY:
      return a == v1::LINE_ACTIVITY_ON_HAND || a == v1::LINE_ACTIVITY_REPORTED_SOLD ||
             a == v1::LINE_ACTIVITY_REPORTED_RECEIVED || a == v1::LINE_ACTIVITY_REPORTED_RETURNED;
    default:
      return false;
  }
}

bool IsSupportedUnit(std::string_view uom) {
  static constexpr std::array<const char*, 10> kUnits = {"EA", "CA", "BX", "PK", "DZ",
                                                         "PL", "KT", "ST", "RL", "UN"};
  if (uom.size() != 2) return false;  // every unit is two characters
  for (const char* u : kUnits) {
    if (uom[0] == u[0] && uom[1] == u[1]) return true;
  }
  return false;
}

core::Money MoneyOf(const common::v1::Money& m) {
  auto money = core::Money::Create(m.currency_code(), m.amount_micros());
  CHANNELOPS_CHECK(money.ok()) << "unvalidated money: " << money.status();
  return *money;
}

bool HasMoney(const common::v1::Money& m) { return !m.currency_code().empty(); }

}  // namespace channelops::pos::domain
