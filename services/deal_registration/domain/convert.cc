#include "deal_registration/domain/convert.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "channelops/core/check.h"
#include "channelops/core/grpc_status.h"

namespace channelops::dealreg::domain {

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
  auto digits = [&s](size_t at, size_t n) {
    int v = 0;
    for (size_t i = at; i < at + n; ++i) v = v * 10 + (s[i] - '0');
    return v;
  };
  // By hand rather than absl::ParseCivilTime + a round trip through
  // FormatCivilTime (which caught 2026-02-30, normalised to 2026-03-02): that
  // was ~1,900 instructions of every RegisterDeal on the writer.
  const int year = digits(0, 4), month = digits(5, 2), day = digits(8, 2);
  // Years 1000-9999, as before (FormatCivilTime does not pad a year to four
  // digits, so the round trip refused 0001-0999, and 0000 is no year at all).
  if (year < 1000 || month < 1 || month > 12 || day < 1) return std::nullopt;
  static constexpr int kDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  if (day > kDays[month - 1] + (month == 2 && leap ? 1 : 0)) return std::nullopt;
  return absl::CivilDay(year, month, day);
}

std::string FormatDate(absl::CivilDay d) { return absl::FormatCivilTime(d); }

absl::CivilDay DayOf(absl::Time t) { return absl::ToCivilDay(t, absl::UTCTimeZone()); }

std::string NormalizeProductKey(const std::string& product_line) {
  return absl::AsciiStrToLower(absl::StripAsciiWhitespace(product_line));
}

std::string ProductKey(const v1::DealLine& line) {
  std::string pl = NormalizeProductKey(line.product_line());
  if (!pl.empty()) return pl;
  return absl::StrCat("sku:", NormalizeProductKey(line.sku()));
}

std::vector<std::string> ProductKeys(
    const google::protobuf::RepeatedPtrField<v1::DealLine>& lines) {
  std::vector<std::string> keys;
  keys.reserve(lines.size());
  for (const auto& l : lines) keys.push_back(ProductKey(l));
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  return keys;
}

std::vector<std::string> Intersect(const std::vector<std::string>& a,
                                   const std::vector<std::string>& b) {
  std::vector<std::string> out;
  std::set_intersection(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out;
}

std::string NormalizeAccountType(const std::string& account_type) {
  return absl::AsciiStrToUpper(absl::StripAsciiWhitespace(account_type));
}

core::Money MoneyOf(const common::v1::Money& m) {
  auto money = core::Money::Create(m.currency_code(), m.amount_micros());
  CHANNELOPS_CHECK(money.ok()) << "unvalidated money: " << money.status();
  return *money;
}

bool HasMoney(const common::v1::Money& m) { return !m.currency_code().empty(); }

absl::StatusOr<core::Money> LinesTotal(
    const google::protobuf::RepeatedPtrField<v1::DealLine>& lines) {
  CHANNELOPS_CHECK(!lines.empty()) << "a deal has lines";
  absl::StatusOr<core::Money> total = core::Money::Create(lines[0].unit_price().currency_code(), 0);
  CHANNELOPS_CHECK(total.ok()) << total.status();
  for (int i = 0; i < lines.size(); ++i) {
    auto line_total = MoneyOf(lines[i].unit_price()).MultiplyBy(lines[i].quantity());
    if (line_total.ok()) total = total->Add(*line_total);
    if (!line_total.ok() || !total.ok()) {
      return core::InvalidArgument(std::string(absl::StrCat("lines[", i, "].quantity")),
                                   "quantity x unit_price overflows");
    }
  }
  return total;
}

int64_t LinesUnits(const google::protobuf::RepeatedPtrField<v1::DealLine>& lines) {
  int64_t units = 0;
  for (const auto& l : lines) units += l.quantity();  // quantities are bounded by validation
  return units;
}

}  // namespace channelops::dealreg::domain
