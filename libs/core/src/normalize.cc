#include "channelops/core/normalize.h"

#include <algorithm>
#include <array>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl_string_view.h"

namespace channelops::core {
namespace {

using internal::ToAbsl;
using internal::ToStd;

// Legal-form words dropped from the end of a company name. Sorted.
constexpr auto kLegalSuffixes = std::to_array<std::string_view>({
    "ab",   "ag",          "aps",  "as",   "bhd",          "bv",  "co",      "company",
    "corp", "corporation", "gmbh", "inc",  "incorporated", "kk",  "limited", "llc",
    "llp",  "lp",          "ltd",  "ltda", "nv",           "oy",  "oyj",     "plc",
    "pte",  "pty",         "pvt",  "sa",   "sarl",         "sdn", "srl",
});
static_assert(std::is_sorted(kLegalSuffixes.begin(), kLegalSuffixes.end()));

// Two-label public suffixes: a subset of the ICANN section of the Public Suffix
// List, chosen for the markets channel partners sell in. Sorted.
constexpr auto kTwoLabelPublicSuffixes = std::to_array<std::string_view>({
    "ac.in",  "ac.jp",  "ac.kr",  "ac.nz",  "ac.th",  "ac.uk",  "ac.za",  "co.at",  "co.id",
    "co.il",  "co.in",  "co.jp",  "co.ke",  "co.kr",  "co.nz",  "co.th",  "co.uk",  "co.za",
    "com.ar", "com.au", "com.br", "com.cn", "com.co", "com.eg", "com.hk", "com.mx", "com.my",
    "com.ng", "com.pe", "com.ph", "com.pk", "com.pl", "com.sa", "com.sg", "com.tr", "com.tw",
    "com.ua", "com.vn", "edu.au", "edu.cn", "edu.hk", "edu.sg", "go.jp",  "go.kr",  "gob.mx",
    "gov.au", "gov.br", "gov.cn", "gov.in", "gov.sg", "gov.uk", "gov.za", "ltd.uk", "me.uk",
    "ne.jp",  "ne.kr",  "net.au", "net.br", "net.cn", "net.in", "net.mx", "net.nz", "net.uk",
    "nhs.uk", "or.at",  "or.jp",  "or.kr",  "org.au", "org.br", "org.cn", "org.in", "org.mx",
    "org.nz", "org.uk", "org.za", "plc.uk",
});
static_assert(std::is_sorted(kTwoLabelPublicSuffixes.begin(), kTwoLabelPublicSuffixes.end()));

// ISO 3166-1 alpha-2, all 249 officially assigned codes. Sorted.
constexpr auto kIsoCountryCodes = std::to_array<std::string_view>({
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ",
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS",
    "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN",
    "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE",
    "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF",
    "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HM",
    "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM",
    "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC",
    "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK",
    "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA",
    "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG",
    "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW",
    "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS",
    "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO",
    "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI",
    "VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW",
});
static_assert(kIsoCountryCodes.size() == 249);
static_assert(std::is_sorted(kIsoCountryCodes.begin(), kIsoCountryCodes.end()));
static_assert(std::adjacent_find(kIsoCountryCodes.begin(), kIsoCountryCodes.end()) ==
              kIsoCountryCodes.end());

template <size_t N>
bool Contains(const std::array<std::string_view, N>& sorted, std::string_view s) {
  return std::binary_search(sorted.begin(), sorted.end(), s);
}

bool IsSingleLetter(const std::string& word) {
  return word.size() == 1 && absl::ascii_isalpha(static_cast<unsigned char>(word[0]));
}

// Removes one legal suffix (plain, or spelled as single letters such as "s a" from
// "S.A.") from the end of `words`, never the last word. Returns whether it did.
bool DropOneSuffix(std::vector<std::string>& words) {
  if (words.size() > 1 && Contains(kLegalSuffixes, words.back())) {
    words.pop_back();
    return true;
  }
  size_t run = 0;
  while (run < words.size() && IsSingleLetter(words[words.size() - 1 - run])) ++run;
  // The longest suffix has 12 letters; a dotted one, in practice, at most 5 ("s.a.r.l.").
  for (size_t k = std::min<size_t>(run, 5); k >= 2; --k) {
    if (words.size() <= k) continue;
    std::string joined;
    for (size_t i = words.size() - k; i < words.size(); ++i) joined += words[i];
    if (Contains(kLegalSuffixes, joined)) {
      words.resize(words.size() - k);
      return true;
    }
  }
  return false;
}

}  // namespace

std::string NormalizeCompanyName(std::string_view name) {
  std::string spaced;
  spaced.reserve(name.size() + 8);
  for (size_t i = 0; i < name.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(name[i]);
    if (absl::ascii_isalnum(c)) {
      spaced.push_back(absl::ascii_tolower(c));
    } else if (c == '&') {
      spaced.append(" and ");
    } else if (c == '\'') {
      // Dropped: "McDonald's" == "McDonalds".
    } else if (c == 0xE2 && name.substr(i, 3) == "\xE2\x80\x99") {
      i += 2;  // U+2019 RIGHT SINGLE QUOTATION MARK, the typographic apostrophe.
    } else if (c >= 0x80) {
      spaced.push_back(static_cast<char>(c));  // part of a UTF-8 letter: keep
    } else {
      spaced.push_back(' ');
    }
  }
  std::vector<std::string> words = absl::StrSplit(spaced, ' ', absl::SkipEmpty());
  // Repeated so that normalising twice changes nothing ("The The Acme" -> "acme").
  while (words.size() > 1 && words.front() == "the") words.erase(words.begin());
  while (DropOneSuffix(words)) {
    // "Smith & Co" -> "smith and" -> "smith".
    if (words.size() > 1 && words.back() == "and") words.pop_back();
  }
  return absl::StrJoin(words, " ");
}

std::string NormalizeEmailDomain(std::string_view email_or_domain) {
  std::string_view s = ToStd(absl::StripAsciiWhitespace(ToAbsl(email_or_domain)));
  if (size_t at = s.rfind('@'); at != std::string_view::npos) s.remove_prefix(at + 1);
  if (!s.empty() && s.back() == '.') s.remove_suffix(1);
  std::string domain = absl::AsciiStrToLower(ToAbsl(s));
  // "www.com" is a domain of its own; "www.acme.com" is acme.com's web host.
  if (absl::StartsWith(domain, "www.") && domain.find('.', 4) != std::string::npos) {
    domain.erase(0, 4);
  }
  if (domain.empty() || domain.size() > 253) return "";

  std::vector<absl::string_view> labels = absl::StrSplit(domain, '.');
  if (labels.size() < 2) return "";
  for (absl::string_view label : labels) {
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return "";
    }
    for (char c : label) {
      if (!(absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-')) return "";
    }
  }
  absl::string_view tld = labels.back();
  if (std::all_of(tld.begin(), tld.end(), [](char c) { return absl::ascii_isdigit(c); })) {
    return "";
  }

  size_t suffix_labels = 1;
  std::string last_two = absl::StrCat(labels[labels.size() - 2], ".", labels.back());
  if (Contains(kTwoLabelPublicSuffixes, last_two)) suffix_labels = 2;
  if (labels.size() <= suffix_labels) return "";  // the name is a public suffix itself
  return absl::StrJoin(labels.end() - static_cast<long>(suffix_labels + 1), labels.end(), ".");
}

std::string NormalizePostalCode(std::string_view postal_code) {
  std::string out;
  out.reserve(postal_code.size());
  for (char c : postal_code) {
    if (absl::ascii_isspace(static_cast<unsigned char>(c)) || c == '-') continue;
    out.push_back(absl::ascii_toupper(static_cast<unsigned char>(c)));
  }
  return out;
}

std::string NormalizeCountryCode(std::string_view country_code) {
  return absl::AsciiStrToUpper(absl::StripAsciiWhitespace(ToAbsl(country_code)));
}

bool IsIsoCountryCode(std::string_view code) {
  return code.size() == 2 && Contains(kIsoCountryCodes, code);
}

std::string CustomerKey(std::string_view country, std::string_view company_name) {
  std::string name = NormalizeCompanyName(company_name);
  if (name.empty()) return "";
  return absl::StrCat(NormalizeCountryCode(country), "|", name);
}

std::string DomainKey(std::string_view email_or_domain) {
  std::string domain = NormalizeEmailDomain(email_or_domain);
  if (domain.empty()) return "";
  return absl::StrCat("d|", domain);
}

}  // namespace channelops::core
