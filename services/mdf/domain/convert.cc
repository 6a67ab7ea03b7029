#include "mdf/domain/convert.h"

#include "absl/strings/ascii.h"
#include "channelops/core/check.h"

namespace channelops::mdf::domain {

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

std::string FormatInstant(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ", t, absl::UTCTimeZone());
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

absl::Time StartOf(absl::CivilDay d) { return absl::FromCivil(d, absl::UTCTimeZone()); }

core::Money MoneyOf(const common::v1::Money& m) {
  auto money = core::Money::Create(m.currency_code(), m.amount_micros());
  CHANNELOPS_CHECK(money.ok()) << "unvalidated money: " << money.status();
  return *money;
}

core::Money Zero(const std::string& currency) {
  auto money = core::Money::Create(currency, 0);
  CHANNELOPS_CHECK(money.ok()) << "bad currency " << currency;
  return *money;
}

bool HasMoney(const common::v1::Money& m) {
  return !m.currency_code().empty() || m.amount_micros() != 0;
}

}  // namespace channelops::mdf::domain
