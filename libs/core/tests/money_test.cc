#include "channelops/core/money.h"

#include <cstdint>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "channelops/core/grpc_status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace channelops::core {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr int64_t kMin = std::numeric_limits<int64_t>::min();

Money M(int64_t micros, std::string_view currency = "USD") {
  return Money::Create(currency, micros).value();
}

std::vector<int64_t> MicrosOf(const std::vector<Money>& parts) {
  std::vector<int64_t> out;
  for (const Money& m : parts) out.push_back(m.micros());
  return out;
}

TEST(IsIsoCurrencyCodeTest, Table) {
  struct Case {
    std::string_view code;
    bool want;
  };
  const Case cases[] = {
      {"USD", true},  {"EUR", true},  {"JPY", true},   {"GBP", true},  {"CHF", true},
      {"AED", true},  {"ZWL", true},  {"XAU", true},   {"CLF", true},  {"usd", false},
      {"Usd", false}, {"US", false},  {"USDD", false}, {"", false},    {"XXX", false},
      {"XTS", false}, {"ABC", false}, {"HRK", false},  {"U$D", false}, {" USD", false},
      {"US1", false}, {"AAA", false}, {"ZZZ", false},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(IsIsoCurrencyCode(c.code), c.want) << c.code;
  }
}

TEST(MoneyTest, CreateKeepsCurrencyAndMicros) {
  absl::StatusOr<Money> m = Money::Create("EUR", -1234);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->currency(), "EUR");
  EXPECT_EQ(m->micros(), -1234);
  EXPECT_TRUE(m->is_negative());
  EXPECT_FALSE(m->is_zero());
  EXPECT_TRUE(M(0).is_zero());
}

TEST(MoneyTest, CreateRejectsBadCurrency) {
  for (std::string_view code : {"", "usd", "US", "USDX", "XYZ", "12A", "U D", "XXX"}) {
    absl::StatusOr<Money> m = Money::Create(code, 1);
    ASSERT_FALSE(m.ok()) << code;
    EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument) << code;
    EXPECT_THAT(std::string(m.status().message()), HasSubstr("ISO 4217")) << code;
  }
}

TEST(MoneyTest, ParseValid) {
  struct Case {
    std::string_view text;
    int64_t micros;
  };
  const Case cases[] = {
      {"12.34", 12'340'000},
      {"-5", -5'000'000},
      {"0.000001", 1},
      {"-0.000001", -1},
      {"0", 0},
      {"-0", 0},
      {"0.0", 0},
      {"007.50", 7'500'000},
      {"-0.5", -500'000},
      {"1.1", 1'100'000},
      {"123456.123456", 123'456'123'456},
      {"1000000", 1'000'000'000'000},
      {"9223372036854.775807", kMax},
      {"-9223372036854.775808", kMin},
      {"00000000000000000000000000001", 1'000'000},
  };
  for (const Case& c : cases) {
    absl::StatusOr<Money> m = Money::Parse(c.text, "USD");
    ASSERT_TRUE(m.ok()) << c.text << ": " << m.status();
    EXPECT_EQ(m->micros(), c.micros) << c.text;
    EXPECT_EQ(m->currency(), "USD");
  }
}

TEST(MoneyTest, ParseRejectsMalformedText) {
  for (std::string_view text : {"",
                                "-",
                                ".",
                                ".5",
                                "-.5",
                                "5.",
                                "1.2345678",
                                "1.0000000",
                                "1,000.00",
                                " 1",
                                "1 ",
                                "+1",
                                "1e3",
                                "--1",
                                "1.2.3",
                                "abc",
                                "0x10",
                                "1-",
                                "\xEF\xBC\x91" /* fullwidth 1 */,
                                "1\n",
                                "NaN",
                                "inf",
                                "- 1"}) {
    absl::StatusOr<Money> m = Money::Parse(text, "USD");
    ASSERT_FALSE(m.ok()) << "'" << text << "' parsed as " << *m;
    EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument) << text;
  }
}

TEST(MoneyTest, ParseSevenFractionalDigitsSaysSo) {
  absl::StatusOr<Money> m = Money::Parse("0.0000001", "USD");
  ASSERT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(m.status().message()), HasSubstr("6 fractional digits"));
}

TEST(MoneyTest, ParseOverflowIsOutOfRange) {
  for (std::string_view text :
       {"9223372036854.775808", "-9223372036854.775809", "9223372036855", "-9223372036855",
        "99999999999999999999999999999999999999999999999999999999999999999999999"}) {
    absl::StatusOr<Money> m = Money::Parse(text, "USD");
    ASSERT_FALSE(m.ok()) << text;
    EXPECT_EQ(m.status().code(), absl::StatusCode::kOutOfRange) << text;
  }
}

TEST(MoneyTest, ParseRejectsBadCurrency) {
  absl::StatusOr<Money> m = Money::Parse("1.00", "usd");
  EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(MoneyTest, ToStringAndToDecimalString) {
  struct Case {
    int64_t micros;
    std::string_view currency;
    std::string_view to_string;
    std::string_view decimal;
  };
  const Case cases[] = {
      {12'340'000, "USD", "USD 12.340000", "12.34"},
      {-1, "EUR", "EUR -0.000001", "-0.000001"},
      {0, "USD", "USD 0.000000", "0"},
      {-5'000'000, "JPY", "JPY -5.000000", "-5"},
      {1'000'001, "GBP", "GBP 1.000001", "1.000001"},
      {100'000, "USD", "USD 0.100000", "0.1"},
      {kMax, "USD", "USD 9223372036854.775807", "9223372036854.775807"},
      {kMin, "USD", "USD -9223372036854.775808", "-9223372036854.775808"},
  };
  for (const Case& c : cases) {
    Money m = M(c.micros, c.currency);
    EXPECT_EQ(m.ToString(), c.to_string);
    EXPECT_EQ(m.ToDecimalString(), c.decimal);
    std::ostringstream os;
    os << m;
    EXPECT_EQ(os.str(), c.to_string);
  }
}

TEST(MoneyTest, DecimalStringRoundTripsThroughParse) {
  std::mt19937_64 rng(20260101);
  std::vector<int64_t> values = {0,          1,    -1,   10,       999'999, 1'000'000,
                                 -1'000'000, kMax, kMin, kMax - 1, kMin + 1};
  for (int i = 0; i < 1000; ++i) values.push_back(static_cast<int64_t>(rng()));
  for (int i = 0; i < 1000; ++i)
    values.push_back(static_cast<int64_t>(rng() % 100'000'000) - 50'000'000);
  for (int64_t v : values) {
    Money m = M(v, "CHF");
    absl::StatusOr<Money> back = Money::Parse(m.ToDecimalString(), "CHF");
    ASSERT_TRUE(back.ok()) << m.ToDecimalString() << ": " << back.status();
    EXPECT_EQ(*back, m);
  }
}

TEST(MoneyTest, Equality) {
  EXPECT_EQ(M(5, "USD"), M(5, "USD"));
  EXPECT_NE(M(5, "USD"), M(5, "EUR"));
  EXPECT_NE(M(5, "USD"), M(6, "USD"));
}

struct BinaryCase {
  int64_t a;
  int64_t b;
  absl::StatusCode code;
  int64_t want;  // when code is kOk
};

TEST(MoneyTest, Add) {
  const BinaryCase cases[] = {
      {1'500'000, 2'250'000, absl::StatusCode::kOk, 3'750'000},
      {-1, 1, absl::StatusCode::kOk, 0},
      {kMax, 0, absl::StatusCode::kOk, kMax},
      {kMax, 1, absl::StatusCode::kOutOfRange, 0},
      {kMin, -1, absl::StatusCode::kOutOfRange, 0},
      {kMin, kMax, absl::StatusCode::kOk, -1},
      {kMax, kMax, absl::StatusCode::kOutOfRange, 0},
  };
  for (const BinaryCase& c : cases) {
    absl::StatusOr<Money> r = M(c.a).Add(M(c.b));
    ASSERT_EQ(r.status().code(), c.code) << c.a << " + " << c.b;
    if (r.ok()) {
      EXPECT_EQ(*r, M(c.want)) << c.a << " + " << c.b;
    }
  }
}

TEST(MoneyTest, Sub) {
  const BinaryCase cases[] = {
      {5'000'000, 7'500'000, absl::StatusCode::kOk, -2'500'000},
      {kMin, 0, absl::StatusCode::kOk, kMin},
      {kMin, 1, absl::StatusCode::kOutOfRange, 0},
      {0, kMin, absl::StatusCode::kOutOfRange, 0},
      {-1, kMin, absl::StatusCode::kOk, kMax},
      {kMax, -1, absl::StatusCode::kOutOfRange, 0},
  };
  for (const BinaryCase& c : cases) {
    absl::StatusOr<Money> r = M(c.a).Sub(M(c.b));
    ASSERT_EQ(r.status().code(), c.code) << c.a << " - " << c.b;
    if (r.ok()) {
      EXPECT_EQ(*r, M(c.want)) << c.a << " - " << c.b;
    }
  }
}

TEST(MoneyTest, AddAndSubRejectCurrencyMismatch) {
  absl::StatusOr<Money> sum = M(1, "USD").Add(M(1, "EUR"));
  EXPECT_EQ(sum.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(sum.status().message()), HasSubstr("currency mismatch"));
  absl::StatusOr<Money> diff = M(1, "USD").Sub(M(1, "EUR"));
  EXPECT_EQ(diff.status().code(), absl::StatusCode::kInvalidArgument);
  // Mismatch is reported even when the amounts would overflow.
  EXPECT_EQ(M(kMax, "USD").Add(M(kMax, "EUR")).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(MoneyTest, MultiplyBy) {
  const BinaryCase cases[] = {
      {2'500'000, 3, absl::StatusCode::kOk, 7'500'000},
      {2'500'000, 0, absl::StatusCode::kOk, 0},
      {2'500'000, -4, absl::StatusCode::kOk, -10'000'000},
      {kMax, 1, absl::StatusCode::kOk, kMax},
      {kMax, -1, absl::StatusCode::kOk, -kMax},
      {kMin, -1, absl::StatusCode::kOutOfRange, 0},
      {kMax, 2, absl::StatusCode::kOutOfRange, 0},
      {1'000'000, 9'223'372'036'855, absl::StatusCode::kOutOfRange, 0},
      {1'000'000, 9'223'372'036'854, absl::StatusCode::kOk, 9'223'372'036'854'000'000},
      {kMin / 2, 2, absl::StatusCode::kOk, kMin},
  };
  for (const BinaryCase& c : cases) {
    absl::StatusOr<Money> r = M(c.a, "EUR").MultiplyBy(c.b);
    ASSERT_EQ(r.status().code(), c.code) << c.a << " * " << c.b;
    if (r.ok()) {
      EXPECT_EQ(*r, M(c.want, "EUR")) << c.a << " * " << c.b;
    }
  }
}

TEST(MoneyTest, Negate) {
  EXPECT_EQ(M(5).Negate().value(), M(-5));
  EXPECT_EQ(M(kMax).Negate().value(), M(-kMax));
  EXPECT_EQ(M(kMin).Negate().status().code(), absl::StatusCode::kOutOfRange);
}

TEST(MoneyTest, ApplyBasisPoints) {
  const BinaryCase cases[] = {
      {100'000'000, 250, absl::StatusCode::kOk, 2'500'000},  // 2.5% of 100
      {100'000'000, 10'000, absl::StatusCode::kOk, 100'000'000},
      {100'000'000, 0, absl::StatusCode::kOk, 0},
      {100'000'000, -250, absl::StatusCode::kOk, -2'500'000},
      {1, 5'000, absl::StatusCode::kOk, 1},    // 0.5 -> 1 (half away from zero)
      {-1, 5'000, absl::StatusCode::kOk, -1},  // -0.5 -> -1
      {1, -5'000, absl::StatusCode::kOk, -1},
      {1, 4'999, absl::StatusCode::kOk, 0},  // 0.4999 -> 0
      {-1, 4'999, absl::StatusCode::kOk, 0},
      {3, 5'000, absl::StatusCode::kOk, 2},  // 1.5 -> 2
      {5, 5'000, absl::StatusCode::kOk, 3},  // 2.5 -> 3 (banker's would give 2)
      {-5, 5'000, absl::StatusCode::kOk, -3},
      {1, 15'000, absl::StatusCode::kOk, 2},          // 1.5 -> 2
      {12'345, 3'333, absl::StatusCode::kOk, 4'115},  // 4114.5885 -> 4115
      {12'345, 3'332, absl::StatusCode::kOk, 4'113},  // 4113.354 -> 4113
      {kMax, 10'000, absl::StatusCode::kOk, kMax},
      {kMax, 10'001, absl::StatusCode::kOutOfRange, 0},
      {kMin, 10'000, absl::StatusCode::kOk, kMin},
      {kMin, -10'000, absl::StatusCode::kOutOfRange, 0},
      {kMax, kMax, absl::StatusCode::kOutOfRange, 0},
      {kMax, 1, absl::StatusCode::kOk, 922'337'203'685'478},  // ...477.5807 -> ...478
  };
  for (const BinaryCase& c : cases) {
    absl::StatusOr<Money> r = M(c.a, "GBP").ApplyBasisPoints(c.b);
    ASSERT_EQ(r.status().code(), c.code) << c.a << " bps " << c.b;
    if (r.ok()) {
      EXPECT_EQ(*r, M(c.want, "GBP")) << c.a << " bps " << c.b;
    }
  }
}

TEST(MoneyTest, ApplyBasisPointsIsSymmetricAndNearest) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 20000; ++i) {
    int64_t micros = static_cast<int64_t>(rng() % 2'000'000'000'000) - 1'000'000'000'000;
    int64_t bps = static_cast<int64_t>(rng() % 40'001) - 20'000;
    Money pos = M(micros).ApplyBasisPoints(bps).value();
    Money neg = M(-micros).ApplyBasisPoints(bps).value();
    ASSERT_EQ(neg.micros(), -pos.micros()) << micros << " bps " << bps;
    // |result * 10000 - exact * 10000| <= 5000: the nearest micro.
    __int128 exact = static_cast<__int128>(micros) * bps;
    __int128 err = static_cast<__int128>(pos.micros()) * 10'000 - exact;
    ASSERT_LE(err, 5'000) << micros << " bps " << bps;
    ASSERT_GE(err, -5'000) << micros << " bps " << bps;
  }
}

TEST(AllocateTest, Table) {
  struct Case {
    int64_t total;
    std::vector<int64_t> weights;
    std::vector<int64_t> want;
  };
  const Case cases[] = {
      {100, {1, 1, 1}, {34, 33, 33}},
      {-100, {1, 1, 1}, {-34, -33, -33}},
      {100, {1, 2}, {33, 67}},  // remainders 1/3 vs 2/3: the larger wins
      {-100, {1, 2}, {-33, -67}},
      {11, {5, 3, 2}, {6, 3, 2}},  // 5.5, 3.3, 2.2
      {11, {2, 3, 5}, {2, 3, 6}},  // largest remainder is last, not first
      {2, {1, 1, 1}, {1, 1, 0}},   // ties: earlier index wins
      {7, {1, 1, 1, 1}, {2, 2, 2, 1}},
      {1, {1, 1}, {1, 0}},
      {-1, {1, 1}, {-1, 0}},
      {5, {0, 1, 0}, {0, 5, 0}},
      {5, {0, 1, 1}, {0, 3, 2}},  // zero weight gets nothing, even first
      {10, {1, 2, 3, 4}, {1, 2, 3, 4}},
      {0, {1, 2}, {0, 0}},
      {12'340'000, {1}, {12'340'000}},
      {kMax, {1, 1}, {kMax / 2 + 1, kMax / 2}},
      {kMin, {1, 1}, {kMin / 2, kMin / 2}},
      {kMin, {1}, {kMin}},
      // Exact shares: 2^62 - 0.75.., 2^62 - 0.75.., 0.49..: the small weight's remainder wins.
      {kMax, {kMax, kMax, 1}, {4'611'686'018'427'387'903, 4'611'686'018'427'387'903, 1}},
      {1'000'000, {kMax, 1}, {1'000'000, 0}},
  };
  for (const Case& c : cases) {
    absl::StatusOr<std::vector<Money>> parts = Allocate(M(c.total, "EUR"), c.weights);
    ASSERT_TRUE(parts.ok()) << c.total << ": " << parts.status();
    EXPECT_EQ(MicrosOf(*parts), c.want) << "total " << c.total;
    for (const Money& p : *parts) EXPECT_EQ(p.currency(), "EUR");
  }
}

TEST(AllocateTest, RejectsBadWeights) {
  struct Case {
    std::vector<int64_t> weights;
    std::string_view message;
  };
  const Case cases[] = {
      {{}, "empty"},
      {{1, -1, 3}, "weights[1] must not be negative"},
      {{0}, "all be zero"},
      {{0, 0, 0}, "all be zero"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<std::vector<Money>> parts = Allocate(M(100), c.weights);
    ASSERT_EQ(parts.status().code(), absl::StatusCode::kInvalidArgument) << c.message;
    EXPECT_THAT(std::string(parts.status().message()), HasSubstr(c.message));
  }
}

// The Hamilton guarantees, on random inputs: exact sum, each part within one
// micro of its exact share, zero weight -> zero, negative totals symmetric.
TEST(AllocateTest, RandomisedInvariants) {
  std::mt19937_64 rng(42);
  for (int iter = 0; iter < 3000; ++iter) {
    int64_t total;
    switch (iter % 3) {
      case 0:
        total = static_cast<int64_t>(rng() % 1000) - 500;
        break;
      case 1:
        total = static_cast<int64_t>(rng() % 2'000'000'000) - 1'000'000'000;
        break;
      default:
        total = static_cast<int64_t>(rng());
        break;
    }
    size_t n = 1 + rng() % 12;
    std::vector<int64_t> weights(n);
    for (auto& w : weights) {
      w = (rng() % 4 == 0) ? 0 : static_cast<int64_t>(rng() % (iter % 2 ? 10 : 1'000'000'000));
    }
    weights[rng() % n] += 1;  // never all zero

    std::vector<Money> parts = Allocate(M(total), weights).value();
    ASSERT_EQ(parts.size(), n);
    __int128 weight_sum = 0;
    for (int64_t w : weights) weight_sum += w;
    __int128 sum = 0;
    for (size_t i = 0; i < n; ++i) {
      sum += parts[i].micros();
      __int128 scaled_err = static_cast<__int128>(parts[i].micros()) * weight_sum -
                            static_cast<__int128>(total) * weights[i];
      ASSERT_LT(scaled_err < 0 ? -scaled_err : scaled_err, weight_sum)
          << "part " << i << " of " << total << " is not within one micro of its share";
      if (weights[i] == 0) {
        ASSERT_EQ(parts[i].micros(), 0);
      }
    }
    ASSERT_EQ(sum, total);
    if (total != kMin) {
      std::vector<Money> mirrored = Allocate(M(-total), weights).value();
      for (size_t i = 0; i < n; ++i) ASSERT_EQ(mirrored[i].micros(), -parts[i].micros());
    }
  }
}

TEST(SplitEvenlyTest, Table) {
  struct Case {
    int64_t total;
    int64_t n;
    std::vector<int64_t> want;
  };
  const Case cases[] = {
      {100, 3, {34, 33, 33}},
      {-100, 3, {-34, -33, -33}},
      {2, 3, {1, 1, 0}},
      {0, 2, {0, 0}},
      {9, 3, {3, 3, 3}},
      {10'000'000, 4, {2'500'000, 2'500'000, 2'500'000, 2'500'000}},
      {kMin, 2, {kMin / 2, kMin / 2}},
      {kMax, 1, {kMax}},
  };
  for (const Case& c : cases) {
    absl::StatusOr<std::vector<Money>> parts = SplitEvenly(M(c.total, "JPY"), c.n);
    ASSERT_TRUE(parts.ok()) << parts.status();
    EXPECT_EQ(MicrosOf(*parts), c.want) << c.total << " / " << c.n;
    // Same answer as Allocate with equal weights.
    EXPECT_EQ(*parts, Allocate(M(c.total, "JPY"), std::vector<int64_t>(c.n, 7)).value());
  }
}

TEST(SplitEvenlyTest, RejectsBadCount) {
  for (int64_t n : {int64_t{0}, int64_t{-1}, kMin, kMaxSplitParts + 1, kMax}) {
    EXPECT_EQ(SplitEvenly(M(100), n).status().code(), absl::StatusCode::kInvalidArgument) << n;
  }
  EXPECT_EQ(SplitEvenly(M(100), kMaxSplitParts).value().size(),
            static_cast<size_t>(kMaxSplitParts));
}

TEST(MoneyProtoTest, ToProto) {
  common::v1::Money p = M(-12'340'000, "SEK").ToProto();
  EXPECT_EQ(p.currency_code(), "SEK");
  EXPECT_EQ(p.amount_micros(), -12'340'000);
}

TEST(MoneyProtoTest, RoundTrip) {
  for (int64_t v : {int64_t{0}, int64_t{1}, int64_t{-1}, kMax, kMin}) {
    Money m = M(v, "AUD");
    absl::StatusOr<Money> back = Money::FromProto(m.ToProto(), "price");
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, m);
  }
}

TEST(MoneyProtoTest, FromProtoNamesTheFieldPath) {
  struct Case {
    std::string_view currency;
    std::string_view path;
    std::string_view field;
  };
  const Case cases[] = {
      {"usd", "lines[2].unit_price", "lines[2].unit_price.currency_code"},
      {"", "total", "total.currency_code"},
      {"DOLLARS", "a.b.c", "a.b.c.currency_code"},
      {"XYZ", "", "currency_code"},
  };
  for (const Case& c : cases) {
    common::v1::Money p;
    p.set_currency_code(std::string(c.currency));
    p.set_amount_micros(5);
    absl::StatusOr<Money> m = Money::FromProto(p, c.path);
    ASSERT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument) << c.currency;
    EXPECT_EQ(m.status().message(),
              absl::StrCat(std::string(c.field), ": must be a 3-letter ISO 4217 code"));
    using Violation = std::pair<std::string, std::string>;
    EXPECT_EQ(GetFieldViolations(m.status()),
              (std::vector<Violation>{{std::string(c.field), "must be a 3-letter ISO 4217 code"}}));
  }
}

}  // namespace
}  // namespace channelops::core
