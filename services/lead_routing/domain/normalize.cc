#include "lead_routing/domain/normalize.h"

#include <algorithm>
#include <array>

#include "absl/strings/ascii.h"

namespace channelops::leads::domain {
namespace {

bool IsAlnum(char c) { return absl::ascii_isalnum(static_cast<unsigned char>(c)); }
bool IsSpace(char c) { return absl::ascii_isspace(static_cast<unsigned char>(c)); }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

// '9' a digit, 'A' a letter, '?' either.
bool MatchesPattern(std::string_view s, std::string_view pattern) {
  if (s.size() != pattern.size()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    switch (pattern[i]) {
      case '9':
        if (!absl::ascii_isdigit(c)) return false;
        break;
      case 'A':
        if (!absl::ascii_isupper(c)) return false;
        break;
      default:
        if (!absl::ascii_isdigit(c) && !absl::ascii_isupper(c)) return false;
    }
  }
  return true;
}

struct PostalFormat {
  const char* country;
  std::array<const char*, 6> patterns;  // nullptr-terminated when shorter
};

// Formats after core::NormalizePostalCode (no spaces or dashes, upper case).
constexpr PostalFormat kFormats[] = {
    {"US", {"99999", "999999999"}},
    {"CA", {"A9A9A9"}},
    {"GB", {"A99AA", "A999AA", "AA99AA", "AA999AA", "A9A9AA", "AA9A9AA"}},
    {"DE", {"99999"}},
    {"FR", {"99999"}},
    {"IT", {"99999"}},
    {"ES", {"99999"}},
    {"FI", {"99999"}},
    {"SE", {"99999"}},
    {"PL", {"99999"}},
    {"MX", {"99999"}},
    {"NL", {"9999AA"}},
    {"AU", {"9999"}},
    {"AT", {"9999"}},
    {"BE", {"9999"}},
    {"CH", {"9999"}},
    {"DK", {"9999"}},
    {"NO", {"9999"}},
    {"NZ", {"9999"}},
    {"JP", {"9999999"}},
    {"IN", {"999999"}},
    {"BR", {"99999999"}},
    {"PT", {"9999999"}},
};

}  // namespace

std::string NormalizeKeyword(std::string_view s) {
  s = Trim(s);
  std::string out;
  out.reserve(s.size());
  bool space = false;
  for (char c : s) {
    if (IsSpace(c)) {
      space = true;
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(absl::ascii_tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

std::string NormalizeTier(std::string_view s) {
  std::string out(Trim(s));
  for (char& c : out) c = absl::ascii_toupper(static_cast<unsigned char>(c));
  return out;
}

std::string NormalizeRegion(std::string_view country, std::string_view region) {
  region = Trim(region);
  std::string upper(region);
  for (char& c : upper) c = absl::ascii_toupper(static_cast<unsigned char>(c));
  std::string_view sub = upper;
  size_t dash = sub.find('-');
  if (dash != std::string_view::npos) {
    if (sub.substr(0, dash) != country) return "";
    sub = sub.substr(dash + 1);
  }
  if (country.empty() || sub.empty() || sub.size() > 3 ||
      !std::all_of(sub.begin(), sub.end(), IsAlnum)) {
    return "";
  }
  std::string out(country);
  out.push_back('-');
  out.append(sub);
  return out;
}

std::string_view RegionCountry(std::string_view normalized_region) {
  size_t dash = normalized_region.find('-');
  return dash == std::string_view::npos ? std::string_view() : normalized_region.substr(0, dash);
}

bool IsValidPostalCode(std::string_view country, std::string_view normalized) {
  for (const PostalFormat& f : kFormats) {
    if (country != f.country) continue;
    for (const char* p : f.patterns) {
      if (p != nullptr && MatchesPattern(normalized, p)) return true;
    }
    return false;
  }
  return normalized.size() >= 2 && normalized.size() <= 10 &&
         std::all_of(normalized.begin(), normalized.end(), IsAlnum);
}

bool IsValidPostalPrefix(std::string_view normalized) {
  return !normalized.empty() && normalized.size() <= 10 &&
         std::all_of(normalized.begin(), normalized.end(), IsAlnum);
}

}  // namespace channelops::leads::domain
