#include "channelops/core/normalize.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <utility>
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

// kIsoCountryCodes as a 26 x 26 bit table: IsIsoCountryCode without a search.
struct CountryTable {
  std::array<uint32_t, 26> rows{};  // bit (second letter) of row (first letter)
  constexpr CountryTable() {
    for (std::string_view c : kIsoCountryCodes) rows[c[0] - 'A'] |= 1u << (c[1] - 'A');
  }
  bool Has(std::string_view code) const {
    if (code[0] < 'A' || code[0] > 'Z' || code[1] < 'A' || code[1] > 'Z') return false;
    return (rows[code[0] - 'A'] >> (code[1] - 'A')) & 1u;
  }
};
constexpr CountryTable kCountryTable;

// Every two-label suffix ends in a two-letter country label: a name whose last
// label is longer needs no search of kTwoLabelPublicSuffixes.
constexpr bool EndsInTwoLetterLabel(std::string_view s) {
  return s.size() > 3 && s[s.size() - 3] == '.' && s.find('.') == s.size() - 3;
}
static_assert(std::all_of(kTwoLabelPublicSuffixes.begin(), kTwoLabelPublicSuffixes.end(),
                          EndsInTwoLetterLabel));

// The legal suffixes are 2 to 12 lower-case letters: other words need no search.
constexpr bool IsLowerWord(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= 'a' && c <= 'z'; });
}
static_assert(std::all_of(kLegalSuffixes.begin(), kLegalSuffixes.end(), [](std::string_view s) {
  return s.size() >= 2 && s.size() <= 12 && IsLowerWord(s);
}));

// For each first letter, the range of kLegalSuffixes (sorted) that start with it.
constexpr auto kLegalSuffixRanges = [] {
  std::array<std::pair<uint8_t, uint8_t>, 26> r{};
  for (size_t i = kLegalSuffixes.size(); i-- > 0;) {
    auto& range = r[static_cast<size_t>(kLegalSuffixes[i][0] - 'a')];
    if (range.second == 0) range.second = static_cast<uint8_t>(i + 1);
    range.first = static_cast<uint8_t>(i);
  }
  return r;
}();

// Contains(kLegalSuffixes, word), comparing only with the suffixes of its first letter.
bool IsLegalSuffix(std::string_view word) {
  if (word.size() < 2 || word.size() > 12 || word[0] < 'a' || word[0] > 'z') return false;
  const auto [from, to] = kLegalSuffixRanges[static_cast<size_t>(word[0] - 'a')];
  for (size_t i = from; i < to; ++i) {
    const std::string_view s = kLegalSuffixes[i];
    if (s.size() != word.size()) continue;
    size_t k = 1;
    while (k < s.size() && s[k] == word[k]) ++k;
    if (k == s.size()) return true;
  }
  return false;
}

template <size_t N>
bool Contains(const std::array<std::string_view, N>& sorted, std::string_view s) {
  return std::binary_search(sorted.begin(), sorted.end(), s);
}

bool IsSingleLetter(std::string_view word) {
  return word.size() == 1 && absl::ascii_isalpha(static_cast<unsigned char>(word[0]));
}

// For each byte: its absl::ascii_tolower if absl::ascii_isalnum, else 0.
constexpr auto kAlnumLower = [] {
  std::array<char, 256> t{};
  for (int c = 0; c < 256; ++c) {
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z')) t[c] = static_cast<char>(c);
    if (c >= 'A' && c <= 'Z') t[c] = static_cast<char>(c - 'A' + 'a');
  }
  return t;
}();

// The words of a company name, lower-cased, written joined by single spaces
// into one buffer and tracked as [begin, end) offsets: dropping a leading or
// trailing word moves an index, and the result is one substring. Names up to
// kInlineName bytes need no allocation.
class CompanyWords {
 public:
  static constexpr size_t kInlineName = 100;

  CompanyWords() = default;
  CompanyWords(const CompanyWords&) = delete;  // points into itself
  CompanyWords& operator=(const CompanyWords&) = delete;

  void Split(std::string_view name) {
    // Each byte of a name makes at most 5 bytes of words (" and ") and starts
    // at most one word. The buffers are not zero-filled: only what is
    // written is read.
    if (name.size() > kInlineName) {
      heap_text_.reset(new char[5 * name.size() + 1]);
      heap_words_.reset(new Span[name.size() + 1]);
      text_ = heap_text_.get();
      words_ = heap_words_.get();
    }
    char* const text = text_;
    Span* const words = words_;
    size_t n = 0, w = 0;
    bool in_word = false;
    auto start_word = [&] {
      if (!in_word) {
        if (n != 0) text[n++] = ' ';
        words[w++].begin = static_cast<uint32_t>(n);
        in_word = true;
      }
    };
    auto separator = [&] {
      if (in_word) words[w - 1].end = static_cast<uint32_t>(n);
      in_word = false;
    };
    const size_t size = name.size();
    for (size_t i = 0; i < size; ++i) {
      unsigned char c = static_cast<unsigned char>(name[i]);
      if (char lower = kAlnumLower[c]; lower != 0) {  // absl::ascii_isalnum
        start_word();
        text[n++] = lower;
        // The rest of the run of letters and digits, without the word checks.
        while (i + 1 < size &&
               (lower = kAlnumLower[static_cast<unsigned char>(name[i + 1])]) != 0) {
          text[n++] = lower;
          ++i;
        }
      } else if (c == '&') {
        separator();
        start_word();
        text[n++] = 'a';
        text[n++] = 'n';
        text[n++] = 'd';
        separator();
      } else if (c == '\'') {
        // Dropped, the word goes on: "McDonald's" == "McDonalds".
      } else if (c == 0xE2 && name.substr(i, 3) == "\xE2\x80\x99") {
        i += 2;  // U+2019 RIGHT SINGLE QUOTATION MARK, the typographic apostrophe.
      } else if (c >= 0x80) {
        start_word();
        text[n++] = static_cast<char>(c);  // part of a UTF-8 letter: keep
      } else {
        separator();
      }
    }
    separator();
    first_ = 0;
    last_ = w;
  }

  size_t size() const { return last_ - first_; }
  std::string_view Word(size_t i) const {  // i-th remaining word
    const Span& s = words_[first_ + i];
    return std::string_view(text_ + s.begin, s.end - s.begin);
  }
  std::string_view Back() const { return Word(size() - 1); }
  void PopFront() { ++first_; }
  void PopBack(size_t n = 1) { last_ -= n; }

  std::string Joined() const {
    if (size() == 0) return "";
    const size_t from = words_[first_].begin, to = words_[last_ - 1].end;
    return std::string(text_ + from, to - from);
  }

 private:
  struct Span {
    uint32_t begin, end;
  };

  char inline_text_[5 * kInlineName + 1];
  Span inline_words_[kInlineName + 1];
  std::unique_ptr<char[]> heap_text_;  // names longer than kInlineName
  std::unique_ptr<Span[]> heap_words_;
  char* text_ = inline_text_;
  Span* words_ = inline_words_;
  size_t first_ = 0, last_ = 0;
};

// Removes one legal suffix (plain, or spelled as single letters such as "s a" from
// "S.A.") from the end of `words`, never the last word. Returns whether it did.
bool DropOneSuffix(CompanyWords& words) {
  if (words.size() > 1 && IsLegalSuffix(words.Back())) {
    words.PopBack();
    return true;
  }
  size_t run = 0;
  while (run < words.size() && IsSingleLetter(words.Word(words.size() - 1 - run))) ++run;
  // The longest suffix has 12 letters; a dotted one, in practice, at most 5 ("s.a.r.l.").
  for (size_t k = std::min<size_t>(run, 5); k >= 2; --k) {
    if (words.size() <= k) continue;
    char joined[5];
    for (size_t i = 0; i < k; ++i) joined[i] = words.Word(words.size() - k + i)[0];
    if (IsLegalSuffix(std::string_view(joined, k))) {
      words.PopBack(k);
      return true;
    }
  }
  return false;
}

// absl::StripAsciiWhitespace, inline (absl::ascii_isspace: space, \t \n \v \f \r).
std::string_view StripWhitespace(std::string_view s) {
  auto space = [](char c) { return c == ' ' || (c >= '\t' && c <= '\r'); };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

// For each byte: 1 if it is [a-z0-9-] once lower-cased, 2 for '.', else 0.
constexpr auto kLabelClass = [] {
  std::array<uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    t[c] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
  }
  t['.'] = 2;
  return t;
}();

// The registrable domain of NormalizeEmailDomain, written after `prefix` into a
// new string; "" (without the prefix) when there is none.
std::string RegistrableDomain(std::string_view email_or_domain, std::string_view prefix) {
  std::string_view s = StripWhitespace(email_or_domain);
  if (size_t at = s.rfind('@'); at != std::string_view::npos) s.remove_prefix(at + 1);
  if (!s.empty() && s.back() == '.') s.remove_suffix(1);
  // "www.com" is a domain of its own; "www.acme.com" is acme.com's web host.
  if (s.size() >= 4 && absl::ascii_tolower(static_cast<unsigned char>(s[0])) == 'w' &&
      absl::ascii_tolower(static_cast<unsigned char>(s[1])) == 'w' &&
      absl::ascii_tolower(static_cast<unsigned char>(s[2])) == 'w' && s[3] == '.' &&
      s.find('.', 4) != std::string_view::npos) {
    s.remove_prefix(4);
  }
  if (s.empty() || s.size() > 253) return "";
  // Labels: each non-empty, at most 63 of [a-z0-9-] (after lower-casing), not
  // starting or ending with '-'. The starts of the last three are kept.
  size_t starts[3] = {0, 0, 0};  // starts[0]: the last label's
  size_t labels = 0;
  size_t start = 0;
  auto end_label = [&](size_t end) {
    const size_t len = end - start;
    if (len == 0 || len > 63 || s[start] == '-' || s[end - 1] == '-') return false;
    starts[2] = starts[1];
    starts[1] = starts[0];
    starts[0] = start;
    ++labels;
    start = end + 1;
    return true;
  };
  for (size_t i = 0; i < s.size(); ++i) {
    const uint8_t k = kLabelClass[static_cast<unsigned char>(s[i])];
    if (k == 1) continue;
    if (k == 0 || !end_label(i)) return "";
  }
  if (!end_label(s.size())) return "";
  if (labels < 2) return "";
  std::string_view tld = s.substr(starts[0]);
  if (std::all_of(tld.begin(), tld.end(), [](char c) { return absl::ascii_isdigit(c); })) {
    return "";
  }
  size_t suffix_labels = 1;
  if (s.size() - starts[0] == 2) {  // see EndsInTwoLetterLabel
    char last_two[128];             // two labels of at most 63 and a dot
    std::string_view two = s.substr(starts[1]);
    for (size_t i = 0; i < two.size(); ++i) {
      last_two[i] = absl::ascii_tolower(static_cast<unsigned char>(two[i]));
    }
    if (Contains(kTwoLabelPublicSuffixes, std::string_view(last_two, two.size()))) {
      suffix_labels = 2;
    }
  }
  if (labels <= suffix_labels) return "";  // the name is a public suffix itself
  std::string_view domain = s.substr(starts[suffix_labels]);
  std::string out(prefix.size() + domain.size(), '\0');
  prefix.copy(out.data(), prefix.size());
  // [a-zA-Z0-9-] (kLabelClass): setting bit 0x20 lower-cases a letter and
  // leaves digits and '-' as they are.
  char* to = out.data() + prefix.size();
  for (size_t i = 0; i < domain.size(); ++i) to[i] = static_cast<char>(domain[i] | 0x20);
  return out;
}

}  // namespace

std::string NormalizeCompanyName(std::string_view name) {
  CompanyWords words;
  words.Split(name);
  // Repeated so that normalising twice changes nothing ("The The Acme" -> "acme").
  while (words.size() > 1 && words.Word(0) == "the") words.PopFront();
  while (DropOneSuffix(words)) {
    // "Smith & Co" -> "smith and" -> "smith".
    if (words.size() > 1 && words.Back() == "and") words.PopBack();
  }
  return words.Joined();
}

std::string NormalizeEmailDomain(std::string_view email_or_domain) {
  return RegistrableDomain(email_or_domain, "");
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
  // absl::AsciiStrToUpper(absl::StripAsciiWhitespace(country_code)), in one pass.
  std::string_view s = StripWhitespace(country_code);
  std::string out(s.size(), '\0');
  for (size_t i = 0; i < s.size(); ++i)
    out[i] = absl::ascii_toupper(static_cast<unsigned char>(s[i]));
  return out;
}

bool IsIsoCountryCode(std::string_view code) { return code.size() == 2 && kCountryTable.Has(code); }

std::string CustomerKey(std::string_view country, std::string_view company_name) {
  std::string name = NormalizeCompanyName(company_name);
  if (name.empty()) return "";
  return absl::StrCat(NormalizeCountryCode(country), "|", name);
}

std::string DomainKey(std::string_view email_or_domain) {
  return RegistrableDomain(email_or_domain, "d|");
}

}  // namespace channelops::core
