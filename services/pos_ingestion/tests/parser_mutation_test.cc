// Deterministic random-mutation test of the report parsers (the portable
// stand-in for the libFuzzer targets in tests/fuzz/, which need clang): the
// fixtures of tests/testdata/ are mutated with a seeded generator (byte flips,
// separator and quote insertions, deletions, duplications, truncations, and
// other formats' bytes) and fed to every parser in random chunk sizes. Each
// input must keep the parser contract (tests/parser_contract.h) and every line
// it yields must get exactly one verdict from the domain validation, without
// crashing. Seeds are fixed: a failure names the seed that reproduces it.

#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "pos_ingestion/domain/convert.h"
#include "pos_ingestion/domain/lines.h"
#include "pos_ingestion/parsers/line.h"
#include "pos_ingestion/tests/parser_contract.h"

namespace channelops::pos::parse::testing {
namespace {

constexpr int kMutantsPerFixture = 400;

std::string TestData(const std::string& name) {
  std::string here = __FILE__;
  std::ifstream in(here.substr(0, here.rfind('/')) + "/testdata/" + name, std::ios::binary);
  EXPECT_TRUE(in.good()) << name;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Bytes that matter to the parsers: separators, quotes, line breaks, digits.
constexpr char kInteresting[] = {',', '"', '\n', '\r', '*', '~', '>', '-', '0',
                                 '9', '.', ' ',  '\0', 'S', 'Q', 'I', 'A'};

std::string Mutate(std::string s, std::mt19937_64& rng) {
  const int edits = 1 + static_cast<int>(rng() % 8);
  for (int e = 0; e < edits; ++e) {
    const size_t at = s.empty() ? 0 : rng() % s.size();
    switch (rng() % 7) {
      case 0:  // flip a byte
        if (!s.empty()) s[at] = static_cast<char>(rng() % 256);
        break;
      case 1:  // insert an interesting byte
        s.insert(s.begin() + static_cast<long>(at), kInteresting[rng() % sizeof(kInteresting)]);
        break;
      case 2: {  // delete a range
        size_t n = std::min<size_t>(s.size() - at, 1 + rng() % 16);
        s.erase(at, n);
        break;
      }
      case 3: {  // duplicate a range
        size_t n = std::min<size_t>(s.size() - at, 1 + rng() % 64);
        s.insert(at, s.substr(at, n));
        break;
      }
      case 4:  // truncate
        s.resize(at);
        break;
      case 5:  // replace a digit run with a huge number
        s.insert(at, "99999999999999999999");
        break;
      case 6: {  // swap two bytes far apart
        if (s.size() > 1) std::swap(s[at], s[rng() % s.size()]);
        break;
      }
    }
  }
  return s;
}

// Whether `m` parses back from its bytes: a protobuf string that is not UTF-8
// does not (and would fail every consumer of the topic, or the client of an
// answer), whatever bytes the report held.
bool RoundTrips(const google::protobuf::MessageLite& m) {
  std::unique_ptr<google::protobuf::MessageLite> copy(m.New());
  return copy->ParseFromString(m.SerializeAsString());
}

// Every line gets exactly one verdict; accepted ones are within bounds; every
// verdict and every issue's reject parse back.
void ValidateEveryLine(const ParseResult& r) {
  static const v1::Product kProduct = [] {
    v1::Product p;
    p.set_sku("SSD-2TB");
    p.set_product_line("storage");
    p.set_unit_of_measure("EA");
    p.mutable_list_price()->set_currency_code("USD");
    p.mutable_list_price()->set_amount_micros(125'500'000);
    return p;
  }();
  for (v1::ReportKind kind :
       {v1::REPORT_KIND_SELL_THROUGH, v1::REPORT_KIND_INVENTORY, v1::REPORT_KIND_RETURNS}) {
    v1::ReportHeader h;
    h.set_report_id("R");
    h.set_partner_id("P");
    h.set_kind(kind);
    h.mutable_period()->set_start_date("2026-01-01");
    h.mutable_period()->set_end_date("2026-02-01");
    domain::LineContext ctx;
    ctx.header = &h;
    ctx.today = absl::CivilDay(2026, 2, 5);
    ctx.period_start = absl::CivilDay(2026, 1, 1);
    ctx.period_end = absl::CivilDay(2026, 2, 1);
    int64_t lines = 0, verdicts = 0;
    for (const Item& item : r.items) {
      if (const auto* issue = std::get_if<Issue>(&item)) {
        ASSERT_TRUE(RoundTrips(domain::RejectOf(*issue))) << issue->field << ": " << issue->message;
      }
      const auto* l = std::get_if<Line>(&item);
      if (l == nullptr) continue;
      ++lines;
      domain::LineVerdict v = domain::ValidateLine(
          *l, ctx, [](const std::string& sku) { return sku == "SSD-2TB" ? &kProduct : nullptr; });
      ++verdicts;
      if (v.kind == domain::LineVerdict::Kind::kAccepted) {
        ASSERT_GE(v.line.quantity(), -domain::kMaxLineQuantity);
        ASSERT_LE(v.line.quantity(), domain::kMaxLineQuantity);
        ASSERT_TRUE(domain::ParseDate(v.line.date()).has_value());
        ASSERT_EQ(v.line.line_number(), l->line_number);
        ASSERT_TRUE(RoundTrips(v.line)) << v.line.end_customer().name();
      } else if (v.kind == domain::LineVerdict::Kind::kRejected) {
        ASSERT_EQ(v.reject.line_number(), l->line_number);
        ASSERT_NE(v.reject.code(), v1::REJECT_CODE_UNSPECIFIED);
        ASSERT_LE(v.reject.message().size(), 1024u);  // bounded whatever the input
        ASSERT_TRUE(RoundTrips(v.reject)) << v.reject.field() << ": " << v.reject.message();
      }
    }
    ASSERT_EQ(lines, verdicts);
  }
}

struct Fixture {
  const char* file;
  Format format;
};

class ParserMutationTest : public ::testing::TestWithParam<Fixture> {};

TEST_P(ParserMutationTest, MutantsKeepTheContractInEveryParser) {
  const std::string original = TestData(GetParam().file);
  for (int seed = 1; seed <= kMutantsPerFixture; ++seed) {
    std::mt19937_64 rng(static_cast<uint64_t>(seed) * 7919 + original.size());
    const std::string mutant = Mutate(original, rng);
    const size_t chunk = 1 + rng() % 97;
    // Its own parser first, then the others (wrong-format input must be safe too).
    for (Format f : {GetParam().format, Format::kCsv, Format::k867, Format::k852}) {
      std::string violation = CheckParserContract(f, mutant, chunk);
      ASSERT_EQ(violation, "") << "seed " << seed << " fixture " << GetParam().file << " parser "
                               << static_cast<int>(f);
      ValidateEveryLine(ParseInChunks(f, mutant, chunk));
      if (::testing::Test::HasFatalFailure()) {
        FAIL() << "seed " << seed << " fixture " << GetParam().file;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ParserMutationTest,
                         ::testing::Values(Fixture{"sell_through.csv", Format::kCsv},
                                           Fixture{"sell_through_malformed.csv", Format::kCsv},
                                           Fixture{"sell_through_867.edi", Format::k867},
                                           Fixture{"sell_through_867_malformed.edi", Format::k867},
                                           Fixture{"inventory_852.edi", Format::k852},
                                           Fixture{"inventory_852_malformed.edi", Format::k852}),
                         [](const ::testing::TestParamInfo<Fixture>& info) {
                           std::string name = info.param.file;
                           for (char& c : name) {
                             if (!isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return name;
                         });

// The unmutated fixtures keep the contract in every chunking.
TEST(ParserContractTest, FixturesKeepTheContractInEveryChunking) {
  for (const char* file : {"sell_through.csv", "sell_through_867.edi", "inventory_852.edi"}) {
    const std::string input = TestData(file);
    for (Format f : {Format::kCsv, Format::k867, Format::k852}) {
      for (size_t chunk = 1; chunk < 40; chunk += 3) {
        EXPECT_EQ(CheckParserContract(f, input, chunk), "") << file << " chunk " << chunk;
      }
    }
  }
}

}  // namespace
}  // namespace channelops::pos::parse::testing
