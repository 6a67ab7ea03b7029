// Parser tests on real-shaped CSV, X12 867 and X12 852 files (tests/testdata/,
// described in tests/testdata/README.md), well formed and malformed, fed in
// chunks of every size: the push parsers must give the same items however the
// bytes are split.

#include <fstream>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pos_ingestion/parsers/line.h"
#include "pos_ingestion/parsers/text.h"

namespace channelops::pos::parse {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string TestData(const std::string& name) {
  std::string here = __FILE__;
  std::string path = here.substr(0, here.rfind('/')) + "/testdata/" + name;
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

enum class Format { kCsv, k867, k852 };

std::unique_ptr<Parser> New(Format f) {
  switch (f) {
    case Format::kCsv:
      return NewCsvParser();
    case Format::k867:
      return NewX12_867Parser();
    case Format::k852:
      return NewX12_852Parser();
  }
  return nullptr;
}

struct Parsed {
  std::vector<Item> items;
  bool failed = false;
};

Parsed ParseAll(Format f, const std::string& input, size_t chunk = 0) {
  auto p = New(f);
  Parsed out;
  if (chunk == 0) chunk = input.size() + 1;
  for (size_t i = 0; i < input.size(); i += chunk) {
    p->Push(std::string_view(input).substr(i, chunk), out.items);
  }
  p->Finish(out.items);
  out.failed = p->failed();
  return out;
}

std::vector<Line> Lines(const Parsed& p) {
  std::vector<Line> out;
  for (const Item& i : p.items) {
    if (std::holds_alternative<Line>(i)) out.push_back(std::get<Line>(i));
  }
  return out;
}

// "L<n>" for a line, "I<n>:<field>" for an issue: the shape of the output.
std::vector<std::string> Shape(const Parsed& p) {
  std::vector<std::string> out;
  for (const Item& i : p.items) {
    if (std::holds_alternative<Line>(i)) {
      out.push_back("L" + std::to_string(std::get<Line>(i).line_number));
    } else {
      const Issue& is = std::get<Issue>(i);
      out.push_back("I" + std::to_string(is.line_number) + ":" + is.field);
    }
  }
  return out;
}

std::string Describe(const Line& l) {
  std::ostringstream os;
  os << l.line_number << "|" << l.activity_code << "|" << l.sku << "|" << l.has_quantity << ":"
     << l.quantity << "|" << l.unit_of_measure << "|" << l.unit_price << "|" << l.currency << "|"
     << l.date << "|" << l.invoice_number << "#" << l.invoice_line << "|"
     << l.original_invoice_number << "|" << l.deal_registration_id << "|" << l.spa_id << "|"
     << l.customer.name << "|" << l.customer.customer_id << "|" << l.customer.email_domain << "|"
     << l.customer.address_line << "|" << l.customer.city << "|" << l.customer.region << "|"
     << l.customer.postal_code << "|" << l.customer.country;
  return os.str();
}

std::vector<std::string> DescribeAll(const Parsed& p) {
  std::vector<std::string> out;
  for (const Item& i : p.items) {
    if (std::holds_alternative<Line>(i)) {
      out.push_back(Describe(std::get<Line>(i)));
    } else {
      const Issue& is = std::get<Issue>(i);
      out.push_back("issue " + std::to_string(is.line_number) + " " + is.field + " " + is.message);
    }
  }
  return out;
}

// Every chunking of `input` gives exactly the items of the unsplit parse.
void ExpectChunkingInvariant(Format f, const std::string& input) {
  const auto whole = DescribeAll(ParseAll(f, input));
  for (size_t chunk : {1, 2, 3, 7, 64, 1000}) {
    EXPECT_EQ(DescribeAll(ParseAll(f, input, chunk)), whole) << "chunk size " << chunk;
  }
}

// A sink like the service's batches: a pool of items reused round-robin,
// every line first filled with junk (another line's longer text), so that a
// parser's line differs if it leaves any field of a reused line as it was.
class ReusingSink final : public ItemSink {
 public:
  ReusingSink() : pool_(3) {
    for (Item& i : pool_) i = Junk();
  }
  Line& AddLine() override {
    Item& item = Slot();
    auto* line = std::get_if<Line>(&item);
    if (line == nullptr) line = &item.emplace<Line>();
    line->Clear();
    return *line;
  }
  void Add(Item item) override { Slot() = std::move(item); }
  std::vector<std::string> described;

 private:
  static Line Junk() {
    Line l;
    l.line_number = 99;
    l.activity_code = l.sku = l.unit_of_measure = l.unit_price = l.currency = l.date =
        l.invoice_number = l.original_invoice_number = l.deal_registration_id = l.spa_id =
            "junk left from an earlier, longer line";
    l.has_quantity = true;
    l.quantity = 77;
    l.invoice_line = 5;
    l.customer.name = l.customer.customer_id = l.customer.email_domain = l.customer.address_line =
        l.customer.city = l.customer.region = l.customer.postal_code = l.customer.country =
            "junk left from an earlier, longer line";
    return l;
  }
  // Describes the previous item (it is final once the next begins), and
  // hands out the next slot, refilled with junk when it held a line.
  Item& Slot() {
    Flush();
    Item& item = pool_[next_++ % pool_.size()];
    if (std::holds_alternative<Line>(item)) item = Junk();
    last_ = &item;
    return item;
  }

 public:
  void Flush() {
    if (last_ == nullptr) return;
    if (std::holds_alternative<Line>(*last_)) {
      described.push_back(Describe(std::get<Line>(*last_)));
    } else {
      const Issue& is = std::get<Issue>(*last_);
      described.push_back("issue " + std::to_string(is.line_number) + " " + is.field + " " +
                          is.message);
    }
    last_ = nullptr;
  }

 private:
  std::vector<Item> pool_;
  size_t next_ = 0;
  Item* last_ = nullptr;
};

std::vector<std::string> ParseIntoReusedItems(Format f, const std::string& input, size_t chunk) {
  auto p = New(f);
  ReusingSink sink;
  for (size_t i = 0; i < input.size(); i += chunk) {
    p->PushTo(std::string_view(input).substr(i, chunk), sink);
  }
  p->FinishTo(sink);
  sink.Flush();
  return sink.described;
}

// The service gives the parsers reused lines (their strings keep their
// memory): every parser fills them exactly as new ones, in any chunking.
TEST(ItemSinkTest, ReusedLinesAreFilledAsNewOnes) {
  for (const auto& [format, file] :
       std::vector<std::pair<Format, std::string>>{{Format::kCsv, "sell_through.csv"},
                                                   {Format::kCsv, "sell_through_malformed.csv"},
                                                   {Format::k867, "sell_through_867.edi"},
                                                   {Format::k867, "sell_through_867_malformed.edi"},
                                                   {Format::k852, "inventory_852.edi"},
                                                   {Format::k852, "inventory_852_malformed.edi"}}) {
    const std::string input = TestData(file);
    const auto expected = DescribeAll(ParseAll(format, input));
    ASSERT_FALSE(expected.empty()) << file;
    for (size_t chunk : {size_t{1}, size_t{7}, input.size() + 1}) {
      EXPECT_EQ(ParseIntoReusedItems(format, input, chunk), expected)
          << file << ", chunks of " << chunk;
    }
  }
}

// Line::Clear must reset every field: a field added to Line (or Party) changes
// its size, and must be added to Clear() (and to Describe above) before this
// compiles again.
static_assert(sizeof(Party) == 8 * sizeof(std::string), "a Party field: update Party::Clear()");
static_assert(sizeof(Line) == 3 * sizeof(int64_t) + 8 /* has_quantity, padded */ +
                                  10 * sizeof(std::string) + sizeof(Party),
              "a Line field: update Line::Clear()");

TEST(ItemSinkTest, ClearGivesANewLine) {
  Line l;
  l.line_number = 3;
  l.activity_code = "SS";
  l.sku = "SKU";
  l.has_quantity = true;
  l.quantity = 4;
  l.unit_of_measure = l.unit_price = l.currency = l.date = l.invoice_number = "x";
  l.invoice_line = 2;
  l.original_invoice_number = l.deal_registration_id = l.spa_id = "y";
  l.customer.name = l.customer.customer_id = l.customer.email_domain = l.customer.address_line =
      l.customer.city = l.customer.region = l.customer.postal_code = l.customer.country = "z";
  l.Clear();
  EXPECT_EQ(Describe(l), Describe(Line()));
  EXPECT_TRUE(l.customer.empty());
}

// ---------------------------------------------------------------------------
// Text helpers
// ---------------------------------------------------------------------------

TEST(TextTest, StrictNumbersAndDates) {
  EXPECT_EQ(ParseInt("42"), 42);
  EXPECT_EQ(ParseInt("-7"), -7);
  EXPECT_FALSE(ParseInt("+7").has_value());
  EXPECT_FALSE(ParseInt("1e3").has_value());
  EXPECT_FALSE(ParseInt("").has_value());
  EXPECT_FALSE(ParseInt("-").has_value());
  EXPECT_FALSE(ParseInt("1234567890123456789").has_value());  // 19 digits
  EXPECT_EQ(ParseWholeNumber("10.00"), 10);
  EXPECT_FALSE(ParseWholeNumber("10.5").has_value());
  EXPECT_FALSE(ParseWholeNumber("10.").has_value());
  EXPECT_EQ(ParseIsoDate("2028-02-29"), "2028-02-29");
  EXPECT_FALSE(ParseIsoDate("2026-02-29").has_value());
  EXPECT_FALSE(ParseIsoDate("2026-1-05").has_value());
  EXPECT_EQ(ParseX12Date("20260131"), "2026-01-31");
  EXPECT_EQ(ParseX12Date("260131"), "2026-01-31");
  EXPECT_FALSE(ParseX12Date("20260231").has_value());
  EXPECT_FALSE(ParseX12Date("2026-01-31").has_value());
}

// ---------------------------------------------------------------------------
// CSV
// ---------------------------------------------------------------------------

TEST(CsvParserTest, SampleReportGivesEveryLineWithItsPhysicalLineNumber) {
  Parsed p = ParseAll(Format::kCsv, TestData("sell_through.csv"));
  EXPECT_FALSE(p.failed);
  // The DS record spans physical lines 4-5 (quoted line break); line 10 is blank.
  EXPECT_THAT(Shape(p), ElementsAre("L2", "L3", "L4", "L6", "L7", "L8", "L9", "L11"));
  auto lines = Lines(p);
  ASSERT_EQ(lines.size(), 8u);
  EXPECT_EQ(Describe(lines[0]),
            "2|SS|SSD-2TB|1:10|EA|125.50|USD|2026-01-12|INV-1001#1||||Globex Corporation|C-778|"
            "globex.com|100 Main St|Hartford|CT|06103|US");
  EXPECT_EQ(lines[1].deal_registration_id, "DR-2026-0042");
  EXPECT_EQ(lines[1].unit_price, "1000");
  EXPECT_EQ(lines[2].customer.name, "Initech, LLC");
  EXPECT_EQ(lines[2].customer.address_line, "1 Initech Way\nBuilding 2");
  EXPECT_EQ(lines[3].spa_id, "SPA-7781");
  EXPECT_EQ(lines[4].activity_code, "RU");
  EXPECT_EQ(lines[4].quantity, -1);
  EXPECT_EQ(lines[4].original_invoice_number, "INV-1001");
  EXPECT_EQ(lines[5].unit_price, "");
  EXPECT_EQ(lines[6].quantity, -2);
  EXPECT_EQ(lines[6].invoice_number, "");
  EXPECT_EQ(lines[6].invoice_line, 0);
  EXPECT_EQ(lines[7].customer.name, "The \"Best\" Buyers, Inc.");
  EXPECT_EQ(lines[7].unit_of_measure, "");
  EXPECT_EQ(lines[7].customer.country, "CA");
}

TEST(CsvParserTest, SampleReportIsTheSameInAnyChunking) {
  ExpectChunkingInvariant(Format::kCsv, TestData("sell_through.csv"));
  ExpectChunkingInvariant(Format::kCsv, TestData("sell_through_malformed.csv"));
}

// A record that lies whole in one pushed chunk is read by a fast path (views
// into the input); one split across chunks by the state machine alone (chunks
// of 1 byte never hold a whole record). Both must give the same items for
// every shape of record, simple or not.
TEST(CsvParserTest, WholeRecordFastPathReadsAsTheStateMachine) {
  const std::string header = "activity,sku,quantity,date,customer_name,customer_country\n";
  const std::string records[] = {
      "SS,A,1,2026-01-02,Acme,US\n",
      "SS,A,1,2026-01-02,Acme,US\r\n",                           // CRLF
      "SS,A,1,2026-01-02,\"Acme, Inc\",US\n",                    // quoted, with a comma
      "SS,A,1,2026-01-02,\"\",US\n",                             // empty quoted
      "\"SS\",A,1,2026-01-02,Acme,\"US\"\n",                     // quoted first and last
      "SS,A,1,2026-01-02,\"The \"\"Best\"\"\",US\n",             // doubled quotes
      "SS,A,1,2026-01-02,\"Acme\"x,US\n",                        // text after a closing quote
      "SS,A,1,2026-01-02,Ac\"me,US\n",                           // a quote inside unquoted data
      "SS,A,1,2026-01-02,\"Acme\nWest\",US\n",                   // a line break inside quotes
      "SS,A,1,2026-01-02,\"Acme\r\nWest\",US\n",                 // CRLF inside quotes
      "SS,A,1,2026-01-02,\"Acme\rWest\",US\n",                   // CR inside quotes
      "SS,A,1,2026-01-02,Acme,US\rSS,B,2,2026-01-03,Beta,US\n",  // a bare CR ends a record
      "SS,A,1,2026-01-02,Acme,US,\n",                            // a trailing empty field
      "SS,A,1,2026-01-02,Acme,\n",                               // an empty last field
      "SS,A,1\n",                                                // too few fields
      ",A,1,2026-01-02,Acme,US\n",                               // an empty first field
      "SS,A,1,2026-01-02, \"Acme\" ,US\n",                       // spaces around quotes
      "SS,A,1,2026-01-02,\"Acme\",US \n",                        // a space before the break
      "\n\r\n\n",                                                // blank lines
      "SS,A,x,2026-01-02,Acme,US\n",                             // a malformed quantity
      "SS,A,1,2026-13-02,Acme,US\n",                             // a malformed date
      "SS,A,1,2026-01-02,Acme,US",                               // the last, without a break
  };
  std::string all = header;
  for (const std::string& r : records) {
    SCOPED_TRACE(::testing::PrintToString(r));
    ExpectChunkingInvariant(Format::kCsv, header + r);
    ExpectChunkingInvariant(Format::kCsv, header + r + "SS,C,3,2026-01-04,Gamma,US\n");
    if (r.back() == '\n') all += r;
  }
  ExpectChunkingInvariant(Format::kCsv, all);
  ExpectChunkingInvariant(Format::kCsv, "\xEF\xBB\xBF" + header + records[0]);      // BOM
  ExpectChunkingInvariant(Format::kCsv, header + "SS,A,1,2026-01-02,\"Acme,US\n");  // unterminated
  // What the two paths read, not only that they agree.
  Parsed p = ParseAll(Format::kCsv, header + records[2] + records[5] + records[1]);
  auto lines = Lines(p);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0].customer.name, "Acme, Inc");  // the fast path
  EXPECT_EQ(lines[0].line_number, 2);
  EXPECT_EQ(lines[1].customer.name, "The \"Best\"");  // the state machine
  EXPECT_EQ(lines[1].line_number, 3);
  EXPECT_EQ(lines[2].customer.country, "US");  // CRLF
  EXPECT_EQ(lines[2].line_number, 4);
}

TEST(CsvParserTest, MalformedRecordsAreIssuesAndTheRestIsRead) {
  Parsed p = ParseAll(Format::kCsv, TestData("sell_through_malformed.csv"));
  EXPECT_THAT(Shape(p), ElementsAre("L2", "I3:quantity", "I4:date", "I5:", "I6:invoice_line",
                                    "I7:", "L8", "I9:"));
  auto describe = DescribeAll(p);
  EXPECT_THAT(describe[1], HasSubstr("'ten' is not a whole number"));
  EXPECT_THAT(describe[2], HasSubstr("'12/01/2026' is not a YYYY-MM-DD date"));
  EXPECT_THAT(describe[3], HasSubstr("expected 12 fields, got 10"));
  EXPECT_THAT(describe[5], HasSubstr("text after a closing quote"));
  EXPECT_THAT(describe[7], HasSubstr("unterminated quoted field"));
  EXPECT_TRUE(p.failed);
  // Aliased header names map to the canonical columns; "Extra Column" is ignored.
  auto lines = Lines(p);
  EXPECT_EQ(Describe(lines[0]),
            "2|SS|SSD-2TB|1:10|EA|125.50|USD|2026-01-12|INV-3001#1||||Globex|||||||US");
}

TEST(CsvParserTest, MissingRequiredColumnIsFatal) {
  Parsed p = ParseAll(Format::kCsv, "activity,sku,date\nSS,A,2026-01-01\n");
  EXPECT_TRUE(p.failed);
  EXPECT_THAT(Shape(p), ElementsAre("I1:quantity"));
  EXPECT_EQ(std::get<Issue>(p.items[0]).code, IssueCode::kMissingField);
}

TEST(CsvParserTest, DuplicateColumnIsFatal) {
  Parsed p = ParseAll(Format::kCsv, "activity,sku,qty,quantity,date\n");
  EXPECT_TRUE(p.failed);
  EXPECT_THAT(Shape(p), ElementsAre("I1:quantity"));
}

TEST(CsvParserTest, ByteOrderMarkAndMissingFinalNewline) {
  Parsed p = ParseAll(Format::kCsv,
                      "\xEF\xBB\xBF"
                      "Activity,SKU,Quantity,Date\nss,A-1,3,2026-01-02");
  EXPECT_FALSE(p.failed);
  ASSERT_THAT(Shape(p), ElementsAre("L2"));
  EXPECT_EQ(Lines(p)[0].activity_code, "SS");  // upper-cased
}

TEST(CsvParserTest, OverlongRecordIsFatalAndBoundsMemory) {
  std::string input = "activity,sku,quantity,date\n\"";
  input.append(Parser::kMaxRecordBytes + 10, 'x');
  input += "\",A,1,2026-01-01\nSS,A,1,2026-01-01\n";
  Parsed p = ParseAll(Format::kCsv, input, 4096);
  EXPECT_TRUE(p.failed);
  EXPECT_THAT(Shape(p), ElementsAre("I2:"));
}

TEST(CsvParserTest, EmptyInputGivesNothing) {
  EXPECT_TRUE(ParseAll(Format::kCsv, "").items.empty());
  EXPECT_TRUE(ParseAll(Format::kCsv, "activity,sku,quantity,date\r\n\r\n").items.empty());
}

// ---------------------------------------------------------------------------
// X12 867
// ---------------------------------------------------------------------------

TEST(X12_867ParserTest, SampleReportGivesOneLinePerQtyLoop) {
  Parsed p = ParseAll(Format::k867, TestData("sell_through_867.edi"));
  EXPECT_FALSE(p.failed);
  EXPECT_THAT(Shape(p), ElementsAre("L16", "L19", "L29", "L36", "L47", "L53", "L58"));
  auto l = Lines(p);
  ASSERT_EQ(l.size(), 7u);
  // PTD-level DTM / REF / N1+N3+N4 are the defaults of every QTY loop of the PTD.
  EXPECT_EQ(Describe(l[0]),
            "16|SS|SSD-2TB|1:10|EA|125.50|USD|2026-01-12|INV-1001#1||||Globex Corporation|C-778||"
            "100 Main St|Hartford|CT|06103|US");
  EXPECT_EQ(Describe(l[1]),
            "19|SS|SRV-100|1:2|EA|1000|USD|2026-01-12|INV-1001#2||DR-2026-0042||Globex "
            "Corporation|C-778||100 Main St|Hartford|CT|06103|US");
  // N1*EN (end user) wins over N1*ST (ship-to).
  EXPECT_EQ(Describe(l[2]),
            "29|DS|SSD-2TB|1:5|EA|125.50|USD|2026-01-15|INV-1002#1||||Initech LLC||||Austin|TX|"
            "78701|US");
  // The SPA contract at PTD level, the customer at QTY level.
  EXPECT_EQ(Describe(l[3]),
            "36|SD|SSD-2TB|1:20|EA|99.00|USD|2026-01-20|INV-1003#1|||SPA-7781|Umbrella Corp.||||"
            "Boston|MA|02110|US");
  EXPECT_EQ(Describe(l[4]),
            "47|RU|SSD-2TB|1:-1|EA|125.50|USD|2026-01-25|CM-0007#1|INV-1001|||Globex "
            "Corporation||||Hartford|CT|06103|US");
  EXPECT_EQ(Describe(l[5]), "53|RV|SSD-2TB|1:3|EA||USD|2026-01-28|RMA-55#1|||||||||||");
  EXPECT_EQ(l[6].activity_code, "PA");
}

TEST(X12_867ParserTest, SampleReportIsTheSameInAnyChunking) {
  ExpectChunkingInvariant(Format::k867, TestData("sell_through_867.edi"));
  ExpectChunkingInvariant(Format::k867, TestData("sell_through_867_malformed.edi"));
}

TEST(X12_867ParserTest, MalformedSegmentsAreIssuesNamedAfterTheElement) {
  Parsed p = ParseAll(Format::k867, TestData("sell_through_867_malformed.edi"));
  EXPECT_FALSE(p.failed);  // nothing unreadable: every problem is local
  EXPECT_THAT(Shape(p), ElementsAre("I5:QTY", "I11:QTY02", "L13", "I16:DTM02", "I22:DTM02",
                                    "I24:SE01", "L28", "I30:SE"));
  auto d = DescribeAll(p);
  EXPECT_THAT(d[0], HasSubstr("QTY outside a PTD loop"));
  EXPECT_THAT(d[1], HasSubstr("'ten' is not a whole quantity"));
  EXPECT_THAT(d[3], HasSubstr("'2026-01-13' is not a CCYYMMDD date"));
  EXPECT_THAT(d[4], HasSubstr("'20260231' is not a CCYYMMDD date"));  // inherited from the PTD
  EXPECT_THAT(d[5], HasSubstr("SE01 declares 99 segments, the transaction set has 22"));
  EXPECT_THAT(d[7], HasSubstr("no SE trailer"));
  auto l = Lines(p);
  EXPECT_EQ(Describe(l[0]),
            "13|SS|SSD-2TB|1:4|EA|125.50||2026-01-12|INV-2001#2||||Globex Corporation||||"
            "Hartford|CT|06103|US");
  // The truncated last segment (no terminator) is still read.
  EXPECT_EQ(l[1].sku, "SSD-2TB");
  EXPECT_EQ(l[1].invoice_number, "INV-2003");
  EXPECT_EQ(l[1].date, "");
}

TEST(X12_867ParserTest, NotAnInterchangeIsFatal) {
  Parsed p = ParseAll(Format::k867, "activity,sku,quantity,date\nSS,A,1,2026-01-01\n");
  EXPECT_TRUE(p.failed);
  EXPECT_THAT(Shape(p), ElementsAre("I1:ISA"));
}

TEST(X12_867ParserTest, MalformedIsaIsFatal) {
  std::string isa = TestData("sell_through_867.edi");
  isa.erase(10, 2);  // ISA02 two bytes short: separators are no longer where they must be
  Parsed p = ParseAll(Format::k867, isa);
  EXPECT_TRUE(p.failed);
  ASSERT_EQ(p.items.size(), 1u);
  EXPECT_THAT(std::get<Issue>(p.items[0]).message, HasSubstr("malformed ISA"));
}

TEST(X12_867ParserTest, SegmentWithoutTerminatorBeyondTheLimitIsFatal) {
  std::string input = "ST*867*1~PTD*SS~QTY*39*1*EA~LIN*1*VP*";
  input.append(Parser::kMaxRecordBytes + 1, 'A');
  Parsed p = ParseAll(Format::k867, input, 1000);
  EXPECT_TRUE(p.failed);
  EXPECT_THAT(Shape(p), ElementsAre("I4:"));
}

TEST(X12_867ParserTest, EnvelopeLessTransactionUsesDefaultSeparators) {
  Parsed p = ParseAll(Format::k867,
                      "ST*867*1~PTD*SS~DTM*003*20260105~REF*IV*I-1~QTY*39*2*EA~LIN*1*VN*A-1~"
                      "UIT*EA*3.5~SE*8*1~");
  EXPECT_FALSE(p.failed);
  ASSERT_THAT(Shape(p), ElementsAre("L5"));
  EXPECT_EQ(Describe(Lines(p)[0]), "5|SS|A-1|1:2|EA|3.5||2026-01-05|I-1#1|||||||||||");
}

// ---------------------------------------------------------------------------
// X12 852
// ---------------------------------------------------------------------------

TEST(X12_852ParserTest, SampleReportGivesOneLinePerZa) {
  Parsed p = ParseAll(Format::k852, TestData("inventory_852.edi"));
  EXPECT_FALSE(p.failed);
  EXPECT_THAT(Shape(p), ElementsAre("L7", "L8", "L9", "L10", "L11", "L13"));
  auto l = Lines(p);
  EXPECT_EQ(Describe(l[0]), "7|QA|SSD-2TB|1:31|EA|||2026-01-31|#0|||||||||||");
  EXPECT_EQ(l[1].activity_code, "QS");
  EXPECT_EQ(l[1].quantity, 35);
  EXPECT_EQ(l[2].activity_code, "QR");
  EXPECT_EQ(l[3].activity_code, "QU");
  EXPECT_EQ(l[4].activity_code, "QP");
  EXPECT_EQ(Describe(l[5]), "13|QA|SRV-100|1:8|EA|||2026-01-31|#0|||||||||||");
}

TEST(X12_852ParserTest, SampleReportIsTheSameInAnyChunking) {
  ExpectChunkingInvariant(Format::k852, TestData("inventory_852.edi"));
  ExpectChunkingInvariant(Format::k852, TestData("inventory_852_malformed.edi"));
}

TEST(X12_852ParserTest, MalformedSegmentsAreIssues) {
  Parsed p = ParseAll(Format::k852, TestData("inventory_852_malformed.edi"));
  EXPECT_FALSE(p.failed);
  EXPECT_THAT(Shape(p), ElementsAre("I5:LIN", "I7:ZA02", "I8:ZA05", "L9", "I11:ST01"));
  auto d = DescribeAll(p);
  EXPECT_THAT(d[0], HasSubstr("ZA without a preceding LIN"));
  EXPECT_THAT(d[4], HasSubstr("'867' is not an 852"));
  EXPECT_EQ(Lines(p)[0].quantity, 9);
}

TEST(X12_852ParserTest, An867IsNotAn852) {
  Parsed p = ParseAll(Format::k852, TestData("sell_through_867.edi"));
  EXPECT_THAT(Shape(p), ElementsAre("I3:ST01"));
}

}  // namespace
}  // namespace channelops::pos::parse
