#pragma once

// Small strict text helpers shared by the parsers. Pure, std-only, thread-safe.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace channelops::pos::parse {

// Without leading / trailing ASCII whitespace.
std::string_view Trim(std::string_view s);
// ASCII upper case.
std::string Upper(std::string_view s);
// 's' for an issue's message: in single quotes, cut after 64 bytes with "..."
// after it, whatever the input held. The domain makes the message UTF-8
// (RejectOf escapes what is not).
std::string Quote(std::string_view s);

// An optional '-' and 1..18 digits. nullopt for anything else.
inline std::optional<int64_t> ParseInt(std::string_view s) {
  bool neg = false;
  if (!s.empty() && s.front() == '-') {
    neg = true;
    s.remove_prefix(1);
  }
  if (s.empty() || s.size() > 18) return std::nullopt;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return neg ? -v : v;
}
// Like ParseInt, but also accepts a fractional part of zeros ("10.0", "10.000"),
// as X12 decimal (R) elements are often written.
std::optional<int64_t> ParseWholeNumber(std::string_view s);

// "YYYY-MM-DD", a real calendar day (year 1900..9999). Returns it unchanged, or nullopt.
std::optional<std::string> ParseIsoDate(std::string_view s);
// Whether ParseIsoDate(s) has a value; allocates nothing.
bool IsIsoDate(std::string_view s);
// X12 DT: CCYYMMDD (or YYMMDD, taken as 20YY), a real calendar day, as
// "YYYY-MM-DD"; nullopt otherwise.
std::optional<std::string> ParseX12Date(std::string_view s);

}  // namespace channelops::pos::parse
