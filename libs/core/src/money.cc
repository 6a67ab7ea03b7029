#include "channelops/core/money.h"

#include <algorithm>
#include <array>
#include <bitset>
#include <limits>
#include <numeric>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl_string_view.h"
#include "channelops/core/grpc_status.h"

namespace channelops::core {
namespace {

using internal::ToAbsl;

// ISO 4217 list one, active alphabetic codes (2025), sorted for binary search.
// Withdrawn codes (HRK, ...) and XXX / XTS are deliberately absent.
constexpr auto kIsoCurrencyCodes = std::to_array<std::string_view>({
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
    "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BOV", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD",
    "CAD", "CDF", "CHE", "CHF", "CHW", "CLF", "CLP", "CNY", "COP", "COU", "CRC", "CUC", "CUP",
    "CVE", "CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP",
    "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS",
    "INR", "IQD", "IRR", "ISK", "JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW",
    "KWD", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD",
    "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN", "MXV", "MYR", "MZN", "NAD", "NGN",
    "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PYG", "QAR",
    "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SLL",
    "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP", "TRY",
    "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "USN", "UYI", "UYU", "UYW", "UZS", "VED", "VES",
    "VND", "VUV", "WST", "XAF", "XAG", "XAU", "XBA", "XBB", "XBC", "XBD", "XCD", "XCG", "XDR",
    "XOF", "XPD", "XPF", "XPT", "XSU", "XUA", "YER", "ZAR", "ZMW", "ZWG", "ZWL",
});
static_assert(std::is_sorted(kIsoCurrencyCodes.begin(), kIsoCurrencyCodes.end()));
static_assert(std::adjacent_find(kIsoCurrencyCodes.begin(), kIsoCurrencyCodes.end()) ==
              kIsoCurrencyCodes.end());

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
constexpr unsigned __int128 kMinMagnitude = static_cast<unsigned __int128>(kMax) + 1;  // |kMin|

constexpr char kCurrencyReason[] = "must be a 3-letter ISO 4217 code";

// Quotes untrusted text for an error message: escaped and bounded.
std::string Quote(std::string_view s) {
  constexpr size_t kMaxEcho = 32;
  std::string out = absl::StrCat("\"", absl::CHexEscape(ToAbsl(s.substr(0, kMaxEcho))), "\"");
  if (s.size() > kMaxEcho) out.append("...");
  return out;
}

absl::Status BadCurrency(std::string_view currency) {
  return absl::InvalidArgumentError(
      absl::StrCat("currency code ", kCurrencyReason, ", got ", Quote(currency)));
}

absl::Status Overflow(std::string_view op) {
  return absl::OutOfRangeError(absl::StrCat("money ", ToAbsl(op), " overflows int64 micros"));
}

bool AllDigits(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

uint64_t Magnitude(int64_t v) {
  return v < 0 ? uint64_t{0} - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
}

// Builds the signed micros of a part whose magnitude was computed from a total
// of the given sign. Never overflows: |part| <= |total|.
int64_t Signed(unsigned __int128 magnitude, bool negative) {
  return negative ? static_cast<int64_t>(-static_cast<__int128>(magnitude))
                  : static_cast<int64_t>(magnitude);
}

enum class DecimalError { kNone, kSyntax, kFraction, kOverflow };

// Money::Parse's decimal rules; *micros is set when kNone.
DecimalError ParseDecimal(std::string_view decimal, int64_t* micros) {
  std::string_view s = decimal;
  bool negative = !s.empty() && s.front() == '-';
  if (negative) s.remove_prefix(1);
  size_t dot = s.find('.');
  std::string_view int_part = s.substr(0, dot);
  std::string_view frac_part = dot == std::string_view::npos ? "" : s.substr(dot + 1);
  if (int_part.empty() || !AllDigits(int_part) ||
      (dot != std::string_view::npos && (frac_part.empty() || !AllDigits(frac_part)))) {
    return DecimalError::kSyntax;
  }
  if (frac_part.size() > 6) return DecimalError::kFraction;
  const unsigned __int128 limit = negative ? kMinMagnitude : static_cast<unsigned __int128>(kMax);
  unsigned __int128 units = 0;
  for (char c : int_part) {
    units = units * 10 + static_cast<unsigned>(c - '0');
    // Stop early so that a very long digit string cannot wrap the accumulator.
    if (units > limit) return DecimalError::kOverflow;
  }
  unsigned __int128 frac = 0;
  for (size_t i = 0; i < 6; ++i) {
    frac = frac * 10 + (i < frac_part.size() ? static_cast<unsigned>(frac_part[i] - '0') : 0);
  }
  unsigned __int128 magnitude = units * Money::kMicrosPerUnit + frac;
  if (magnitude > limit) return DecimalError::kOverflow;
  *micros = Signed(magnitude, negative);
  return DecimalError::kNone;
}

// kIsoCurrencyCodes as one bit per three-letter upper-case code: a lookup
// instead of a search (POS validates a currency per line).
class CurrencyTable {
 public:
  CurrencyTable() {
    for (std::string_view c : kIsoCurrencyCodes) bits_.set(Index(c));
  }
  bool Has(std::string_view code) const {
    for (char c : code) {
      if (c < 'A' || c > 'Z') return false;
    }
    return bits_.test(Index(code));
  }

 private:
  static size_t Index(std::string_view c) {
    return static_cast<size_t>(((c[0] - 'A') * 26 + (c[1] - 'A')) * 26 + (c[2] - 'A'));
  }
  std::bitset<26 * 26 * 26> bits_;
};

}  // namespace

bool IsIsoCurrencyCode(std::string_view code) {
  static const CurrencyTable* const kTable = new CurrencyTable();
  return code.size() == 3 && kTable->Has(code);
}

absl::StatusOr<Money> Money::Create(std::string_view currency, int64_t micros) {
  if (!IsIsoCurrencyCode(currency)) return BadCurrency(currency);
  return Money(std::string(currency), micros);
}

absl::StatusOr<Money> Money::Parse(std::string_view decimal, std::string_view currency) {
  if (!IsIsoCurrencyCode(currency)) return BadCurrency(currency);
  int64_t micros = 0;
  switch (ParseDecimal(decimal, &micros)) {
    case DecimalError::kNone:
      return Money(std::string(currency), micros);
    case DecimalError::kSyntax:
      return absl::InvalidArgumentError(
          absl::StrCat("invalid decimal amount ", Quote(decimal),
                       ": expected an optional '-', digits, and optionally '.' and 1 to 6 digits"));
    case DecimalError::kFraction:
      return absl::InvalidArgumentError(absl::StrCat("invalid decimal amount ", Quote(decimal),
                                                     ": more than 6 fractional digits"));
    case DecimalError::kOverflow:
      break;
  }
  return Overflow("parse");
}

std::optional<int64_t> Money::ParseMicros(std::string_view decimal) {
  int64_t micros = 0;
  if (ParseDecimal(decimal, &micros) != DecimalError::kNone) return std::nullopt;
  return micros;
}

absl::StatusOr<Money> Money::FromProto(const common::v1::Money& proto,
                                       std::string_view field_path) {
  if (!IsIsoCurrencyCode(proto.currency_code())) {
    std::string field = field_path.empty() ? std::string("currency_code")
                                           : absl::StrCat(ToAbsl(field_path), ".currency_code");
    return InvalidArgument(field, kCurrencyReason);
  }
  return Money(proto.currency_code(), proto.amount_micros());
}

common::v1::Money Money::ToProto() const {
  common::v1::Money p;
  p.set_currency_code(currency_);
  p.set_amount_micros(micros_);
  return p;
}

std::string Money::ToString() const {
  uint64_t m = Magnitude(micros_);
  return absl::StrFormat("%s %s%d.%06d", currency_, micros_ < 0 ? "-" : "", m / kMicrosPerUnit,
                         m % kMicrosPerUnit);
}

std::string Money::ToDecimalString() const {
  uint64_t m = Magnitude(micros_);
  std::string out = absl::StrCat(micros_ < 0 ? "-" : "", m / kMicrosPerUnit);
  uint64_t frac = m % kMicrosPerUnit;
  if (frac != 0) {
    std::string digits = absl::StrFormat("%06d", frac);
    digits.erase(digits.find_last_not_of('0') + 1);
    absl::StrAppend(&out, ".", digits);
  }
  return out;
}

absl::StatusOr<Money> Money::Add(const Money& other) const {
  if (currency_ != other.currency_) {
    return absl::InvalidArgumentError(
        absl::StrCat("currency mismatch: cannot add ", other.currency_, " to ", currency_));
  }
  int64_t r;
  if (__builtin_add_overflow(micros_, other.micros_, &r)) return Overflow("addition");
  return Money(currency_, r);
}

absl::StatusOr<Money> Money::Sub(const Money& other) const {
  if (currency_ != other.currency_) {
    return absl::InvalidArgumentError(
        absl::StrCat("currency mismatch: cannot subtract ", other.currency_, " from ", currency_));
  }
  int64_t r;
  if (__builtin_sub_overflow(micros_, other.micros_, &r)) return Overflow("subtraction");
  return Money(currency_, r);
}

absl::StatusOr<Money> Money::MultiplyBy(int64_t qty) const {
  int64_t r;
  if (__builtin_mul_overflow(micros_, qty, &r)) return Overflow("multiplication");
  return Money(currency_, r);
}

absl::StatusOr<Money> Money::Negate() const {
  if (micros_ == kMin) return Overflow("negation");
  return Money(currency_, -micros_);
}

absl::StatusOr<Money> Money::ApplyBasisPoints(int64_t bps) const {
  // |micros * bps| < 2^126: exact in 128 bits.
  __int128 product = static_cast<__int128>(micros_) * bps;
  __int128 q = product / 10'000;  // truncates toward zero
  __int128 r = product % 10'000;  // same sign as product
  if (r * 2 >= 10'000) {
    ++q;
  } else if (r * 2 <= -10'000) {
    --q;
  }
  if (q > kMax || q < kMin) return Overflow("basis-point share");
  return Money(currency_, static_cast<int64_t>(q));
}

absl::StatusOr<std::vector<Money>> Allocate(const Money& total,
                                            const std::vector<int64_t>& weights) {
  if (weights.empty()) return absl::InvalidArgumentError("allocation weights must not be empty");
  unsigned __int128 weight_sum = 0;  // n * 2^63 fits for any n a vector can hold
  for (size_t i = 0; i < weights.size(); ++i) {
    if (weights[i] < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("allocation weights[", i, "] must not be negative, got ", weights[i]));
    }
    weight_sum += static_cast<uint64_t>(weights[i]);
  }
  if (weight_sum == 0) return absl::InvalidArgumentError("allocation weights must not all be zero");

  // Allocate the magnitude, then give every part the sign of the total: this is
  // what makes negative totals symmetric (no bias toward -infinity).
  const bool negative = total.micros() < 0;
  const unsigned __int128 magnitude = Magnitude(total.micros());
  const size_t n = weights.size();
  std::vector<unsigned __int128> parts(n);
  std::vector<unsigned __int128> remainders(n);
  unsigned __int128 assigned = 0;
  for (size_t i = 0; i < n; ++i) {
    // magnitude * weight < 2^63 * 2^63 = 2^126.
    unsigned __int128 share = magnitude * static_cast<uint64_t>(weights[i]);
    parts[i] = share / weight_sum;
    remainders[i] = share % weight_sum;
    assigned += parts[i];
  }
  // Sum of remainders / weight_sum == leftover, and each remainder < weight_sum,
  // so leftover < number of positive remainders: zero weights never get a micro.
  unsigned __int128 leftover = magnitude - assigned;
  if (leftover > 0) {
    std::vector<size_t> order(n);
    std::iota(order.begin(), order.end(), size_t{0});
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return remainders[a] > remainders[b]; });
    for (size_t k = 0; k < static_cast<size_t>(leftover); ++k) ++parts[order[k]];
  }

  std::vector<Money> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    // Currency was validated when `total` was made.
    out.push_back(Money::Create(total.currency(), Signed(parts[i], negative)).value());
  }
  return out;
}

absl::StatusOr<std::vector<Money>> SplitEvenly(const Money& total, int64_t n) {
  if (n < 1 || n > kMaxSplitParts) {
    return absl::InvalidArgumentError(
        absl::StrCat("split count must be in [1, ", kMaxSplitParts, "], got ", n));
  }
  const bool negative = total.micros() < 0;
  const uint64_t magnitude = Magnitude(total.micros());
  const uint64_t base = magnitude / static_cast<uint64_t>(n);
  const uint64_t extra = magnitude % static_cast<uint64_t>(n);
  std::vector<Money> out;
  out.reserve(static_cast<size_t>(n));
  for (uint64_t i = 0; i < static_cast<uint64_t>(n); ++i) {
    uint64_t part = base + (i < extra ? 1 : 0);
    out.push_back(Money::Create(total.currency(), Signed(part, negative)).value());
  }
  return out;
}

}  // namespace channelops::core
