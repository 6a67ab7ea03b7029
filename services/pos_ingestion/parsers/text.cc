#include "pos_ingestion/parsers/text.h"

namespace channelops::pos::parse {
namespace {

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

bool AllDigits(std::string_view s) {
  for (char c : s) {
    if (!IsDigit(c)) return false;
  }
  return !s.empty();
}

int DaysInMonth(int y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : kDays[m - 1];
}

int Num(std::string_view s) {
  int v = 0;
  for (char c : s) v = v * 10 + (c - '0');
  return v;
}

bool ValidDay(int y, int m, int d) {
  return y >= 1900 && y <= 9999 && m >= 1 && m <= 12 && d >= 1 && d <= DaysInMonth(y, m);
}

// "YYYY-MM-DD" of a ValidDay (4-digit year).
std::optional<std::string> Day(int y, int m, int d) {
  if (!ValidDay(y, m, d)) return std::nullopt;
  std::string out = "0000-00-00";
  for (int i = 3; i >= 0; --i, y /= 10)
    out[static_cast<size_t>(i)] = static_cast<char>('0' + y % 10);
  out[5] = static_cast<char>('0' + m / 10);
  out[6] = static_cast<char>('0' + m % 10);
  out[8] = static_cast<char>('0' + d / 10);
  out[9] = static_cast<char>('0' + d % 10);
  return out;
}

}  // namespace

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

std::string Quote(std::string_view s) {
  constexpr size_t kMax = 64;
  std::string out = "'";
  out.append(s.substr(0, kMax));
  if (s.size() > kMax) out.append("...");
  out.push_back('\'');
  return out;
}

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

std::optional<int64_t> ParseWholeNumber(std::string_view s) {
  size_t dot = s.find('.');
  if (dot == std::string_view::npos) return ParseInt(s);
  std::string_view frac = s.substr(dot + 1);
  if (frac.empty()) return std::nullopt;
  for (char c : frac) {
    if (c != '0') return std::nullopt;
  }
  return ParseInt(s.substr(0, dot));
}

bool IsIsoDate(std::string_view s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return false;
  std::string_view y = s.substr(0, 4), m = s.substr(5, 2), d = s.substr(8, 2);
  if (!AllDigits(y) || !AllDigits(m) || !AllDigits(d)) return false;
  return ValidDay(Num(y), Num(m), Num(d));
}

std::optional<std::string> ParseIsoDate(std::string_view s) {
  // A valid date has a 4-digit year, so its "%04d-%02d-%02d" form is `s` itself.
  if (!IsIsoDate(s)) return std::nullopt;
  return std::string(s);
}

std::optional<std::string> ParseX12Date(std::string_view s) {
  if (!AllDigits(s)) return std::nullopt;
  if (s.size() == 8) return Day(Num(s.substr(0, 4)), Num(s.substr(4, 2)), Num(s.substr(6, 2)));
  if (s.size() == 6)
    return Day(2000 + Num(s.substr(0, 2)), Num(s.substr(2, 2)), Num(s.substr(4, 2)));
  return std::nullopt;
}

}  // namespace channelops::pos::parse
