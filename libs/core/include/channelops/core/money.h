#pragma once

#include <cstdint>
#include <ostream>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "channelops/common/v1/types.pb.h"

namespace channelops::core {

// True iff `code` is an active ISO 4217 alphabetic currency code, written in
// upper case ("USD", "EUR", "JPY", also the funds and precious-metal codes such
// as "XAU"). "XXX" (no currency) and "XTS" (testing) are rejected: they are not
// money. The built-in table is the ISO 4217 list one as of 2025.
bool IsIsoCurrencyCode(std::string_view code);

// An exact amount of money: a signed 64-bit count of micros (1e-6 of a unit)
// and an ISO 4217 currency code. Never floating point. A Money always holds a
// valid currency code: the only ways to get one are the factories below.
//
// Every operation is a pure function of its arguments; a Money is a value type
// and, like an int, safe to read from many threads at once.
//
// Money has no default constructor on purpose (an amount without a currency is
// not money): hold an optional<Money> where a value may be absent.
class Money {
 public:
  static constexpr int64_t kMicrosPerUnit = 1'000'000;

  // Returns `micros` of `currency`.
  // INVALID_ARGUMENT if `currency` is not an ISO 4217 code (see IsIsoCurrencyCode;
  // lower case is rejected, not folded).
  static absl::StatusOr<Money> Create(std::string_view currency, int64_t micros);

  // Parses an exact decimal amount: an optional '-', one or more digits, and
  // optionally '.' followed by 1 to 6 digits. "12.34", "-5", "0.000001", "007.50".
  // No '+', no spaces, no exponent, no thousands separators, no ".5" or "5.".
  // INVALID_ARGUMENT for any other text (including more than 6 fractional digits,
  // which would need rounding) or a bad currency code;
  // OUT_OF_RANGE if the amount does not fit in int64 micros (|x| > ~9.2e12 units).
  static absl::StatusOr<Money> Parse(std::string_view decimal, std::string_view currency);
  // The micros Parse would give, without a currency and without allocating;
  // nullopt where Parse fails (for the reason, call Parse). For hot paths
  // (POS lines).
  static std::optional<int64_t> ParseMicros(std::string_view decimal);

  // Converts from the wire type. `field_path` names the message in the request
  // (e.g. "lines[2].unit_price") and is used in the error:
  //   INVALID_ARGUMENT "lines[2].unit_price.currency_code: must be a 3-letter ISO 4217 code"
  // carrying that field violation as a google.rpc.BadRequest payload (see
  // grpc_status.h), so the gRPC layer reports it as rich error details.
  // Every int64 amount is valid.
  static absl::StatusOr<Money> FromProto(const common::v1::Money& proto,
                                         std::string_view field_path);

  common::v1::Money ToProto() const;

  // The ISO 4217 code, upper case.
  const std::string& currency() const { return currency_; }
  int64_t micros() const { return micros_; }

  bool is_zero() const { return micros_ == 0; }
  bool is_negative() const { return micros_ < 0; }

  // "<CODE> <amount with exactly 6 fractional digits>", e.g. "USD 12.340000",
  // "EUR -0.000001". Meant for logs and messages; it does not depend on the
  // currency's minor unit (JPY prints 6 digits too).
  std::string ToString() const;

  // The shortest exact decimal, without the currency: "12.34", "-5", "0.000001".
  // Parse(m.ToDecimalString(), m.currency()) == m for every Money.
  std::string ToDecimalString() const;

  // Checked arithmetic. Each returns INVALID_ARGUMENT if the currencies differ
  // and OUT_OF_RANGE if the exact result does not fit in int64 micros.
  absl::StatusOr<Money> Add(const Money& other) const;
  absl::StatusOr<Money> Sub(const Money& other) const;
  // this * qty. OUT_OF_RANGE on overflow.
  absl::StatusOr<Money> MultiplyBy(int64_t qty) const;
  // -this. OUT_OF_RANGE only for the most negative amount.
  absl::StatusOr<Money> Negate() const;

  // The `bps` basis-point share of this amount: micros * bps / 10000, rounded to
  // the nearest micro with ties away from zero (so the result is symmetric:
  // ApplyBasisPoints(-x) == -ApplyBasisPoints(x)). 250 bps of USD 100 is USD 2.5;
  // 10000 bps is the amount itself; negative bps give a negative share.
  // OUT_OF_RANGE if the result does not fit in int64 micros.
  absl::StatusOr<Money> ApplyBasisPoints(int64_t bps) const;

  // Same currency and amount.
  friend bool operator==(const Money& a, const Money& b) = default;

  // Prints ToString(); lets GoogleTest show values.
  friend std::ostream& operator<<(std::ostream& os, const Money& m) { return os << m.ToString(); }

 private:
  Money(std::string currency, int64_t micros) : currency_(std::move(currency)), micros_(micros) {}

  std::string currency_;
  int64_t micros_;
};

// Splits `total` into one part per weight, proportionally, with the largest
// remainder (Hamilton) method, so that:
//   - the parts sum exactly to `total` and each part is within one micro of its
//     exact proportional share;
//   - a zero weight gets exactly zero;
//   - leftover micros go to the largest fractional remainders, ties to the
//     earlier index (deterministic);
//   - a negative total is split symmetrically: Allocate(-t, w) == -Allocate(t, w)
//     part by part.
// INVALID_ARGUMENT if `weights` is empty, has a negative weight, or sums to zero.
absl::StatusOr<std::vector<Money>> Allocate(const Money& total,
                                            const std::vector<int64_t>& weights);

// Allocate(total, n equal weights): the first |total.micros| % n parts carry
// one more micro (in magnitude) than the rest.
// INVALID_ARGUMENT unless 1 <= n <= kMaxSplitParts.
inline constexpr int64_t kMaxSplitParts = 1'000'000;
absl::StatusOr<std::vector<Money>> SplitEvenly(const Money& total, int64_t n);

}  // namespace channelops::core
