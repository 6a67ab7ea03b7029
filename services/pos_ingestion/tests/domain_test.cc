// Domain tests of POS ingestion: line validation (every reject code), batch
// decisions (duplicates, corrections), report lifecycle, shipments, products,
// inventory arithmetic and price protection with hand-computed money. Pure
// functions only: no RocksDB, no gRPC, time given in the Context.

#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/time/time.h"
#include "channelops/core/grpc_status.h"
#include "channelops/core/normalize.h"
#include "channelops/pos/v1/read_models.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pos_ingestion/domain/convert.h"
#include "pos_ingestion/domain/decider.h"
#include "pos_ingestion/domain/inventory.h"
#include "pos_ingestion/domain/lines.h"
#include "pos_ingestion/domain/validation.h"
#include "pos_ingestion/domain/wire.h"

namespace channelops::pos::domain {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::SizeIs;

const absl::Time kNow =
    absl::FromCivil(absl::CivilSecond(2026, 2, 5, 12, 0, 0), absl::UTCTimeZone());

common::v1::Money Usd(int64_t micros) {
  common::v1::Money m;
  m.set_currency_code("USD");
  m.set_amount_micros(micros);
  return m;
}

v1::Product Product(const std::string& sku, const std::string& uom, int64_t price_micros) {
  v1::Product p;
  p.set_sku(sku);
  p.set_product_line("storage");
  p.set_unit_of_measure(uom);
  *p.mutable_list_price() = Usd(price_micros);
  *p.mutable_price_effective_at() = ToProtoTime(kNow - absl::Hours(24 * 60));
  return p;
}

v1::ReportHeader Header(v1::ReportKind kind = v1::REPORT_KIND_SELL_THROUGH) {
  v1::ReportHeader h;
  h.set_report_id("R1");
  h.set_partner_id("P-100");
  h.set_kind(kind);
  h.mutable_period()->set_start_date("2026-01-01");
  h.mutable_period()->set_end_date("2026-02-01");
  h.set_format(v1::REPORT_FORMAT_CSV);
  return h;
}

parse::Line Sale() {
  parse::Line l;
  l.line_number = 2;
  l.activity_code = "SS";
  l.sku = "SSD-2TB";
  l.has_quantity = true;
  l.quantity = 10;
  l.unit_of_measure = "EA";
  l.unit_price = "125.50";
  l.currency = "USD";
  l.date = "2026-01-12";
  l.invoice_number = "INV-1001";
  l.invoice_line = 1;
  l.customer.name = "Globex Corporation";
  l.customer.email_domain = "purchasing@globex.com";
  l.customer.country = "us";
  return l;
}

// A return to the vendor: no price, no customer.
parse::Line ReturnToVendor() {
  parse::Line rv;
  rv.line_number = 9;
  rv.activity_code = "RV";
  rv.sku = "SSD-2TB";
  rv.has_quantity = true;
  rv.quantity = 3;
  rv.date = "2026-01-28";
  rv.invoice_number = "RMA-55";
  return rv;
}

// A stock adjustment: no price, invoice or customer.
parse::Line Adjustment() {
  parse::Line ia;
  ia.line_number = 3;
  ia.activity_code = "IA";
  ia.sku = "CBL-CASE";
  ia.has_quantity = true;
  ia.quantity = -2;
  ia.date = "2026-01-30";
  return ia;
}

class LinesTest : public ::testing::Test {
 protected:
  LineContext Context() const {
    LineContext ctx;
    ctx.header = &header_;
    ctx.today = DayOf(kNow);
    ctx.period_start = *ParseDate(header_.period().start_date());
    ctx.period_end = *ParseDate(header_.period().end_date());
    return ctx;
  }
  ProductLookup Lookup() const {
    return [this](const std::string& sku) -> const v1::Product* {
      if (sku == ssd_.sku()) return &ssd_;
      if (sku == cables_.sku()) return &cables_;
      return nullptr;
    };
  }
  LineVerdict Validate(const parse::Line& l) { return ValidateLine(l, Context(), Lookup()); }
  // "<code>:<field>" of a rejected line.
  std::string RejectOf(const parse::Line& l) {
    LineVerdict v = Validate(l);
    if (v.kind != LineVerdict::Kind::kRejected) return "not rejected";
    return v1::RejectCode_Name(v.reject.code()) + ":" + v.reject.field();
  }

  v1::ReportHeader header_ = Header();
  v1::Product ssd_ = Product("SSD-2TB", "EA", 125'500'000);
  v1::Product cables_ = Product("CBL-CASE", "CA", 60'000'000);
};

TEST_F(LinesTest, AcceptedSaleCarriesTheDealRegistrationCustomerKeyAndExactAmounts) {
  parse::Line l = Sale();
  l.deal_registration_id = "DR-2026-0042";
  LineVerdict v = Validate(l);
  ASSERT_EQ(v.kind, LineVerdict::Kind::kAccepted) << v.reject.message();
  const v1::PosLine& p = v.line;
  // The same key deal registration computes for "Globex Corp." in the US.
  EXPECT_EQ(p.customer_key(), core::CustomerKey("US", "Globex Corp."));
  EXPECT_EQ(p.customer_key(), "US|globex");
  EXPECT_EQ(p.domain_key(), "d|globex.com");
  EXPECT_EQ(p.deal_registration_id(), "DR-2026-0042");
  EXPECT_EQ(p.activity(), v1::LINE_ACTIVITY_STOCK_SALE);
  EXPECT_EQ(p.quantity(), 10);
  EXPECT_EQ(p.inventory_delta(), -10);
  EXPECT_EQ(p.unit_price().amount_micros(), 125'500'000);
  EXPECT_EQ(p.extended_amount().amount_micros(), 1'255'000'000);  // 10 x 125.50
  EXPECT_EQ(FromProtoTime(p.movement_at()),
            absl::FromCivil(absl::CivilDay(2026, 1, 12), absl::UTCTimeZone()));
  EXPECT_EQ(p.product_line(), "storage");
  EXPECT_EQ(p.end_customer().address().country_code(), "US");
  EXPECT_EQ(p.report_id(), "R1");
  EXPECT_EQ(p.partner_id(), "P-100");
}

TEST_F(LinesTest, EveryRejectCodeNamesItsField) {
  auto with = [](auto mutate) {
    parse::Line l = Sale();
    mutate(l);
    return l;
  };
  EXPECT_EQ(RejectOf(with([](auto& l) { l.activity_code = ""; })),
            "REJECT_CODE_MISSING_FIELD:activity");
  EXPECT_EQ(RejectOf(with([](auto& l) { l.activity_code = "XX"; })),
            "REJECT_CODE_UNKNOWN_ACTIVITY:activity");
  EXPECT_EQ(RejectOf(with([](auto& l) { l.activity_code = "QA"; })),
            "REJECT_CODE_ACTIVITY_NOT_ALLOWED:activity");
  EXPECT_EQ(RejectOf(with([](auto& l) { l.sku = ""; })), "REJECT_CODE_MISSING_FIELD:sku");
  EXPECT_EQ(RejectOf(with([](auto& l) { l.sku = "NOPE"; })), "REJECT_CODE_UNKNOWN_SKU:sku");
  EXPECT_EQ(RejectOf(with([](auto& l) { l.unit_of_measure = "ZZ"; })),
            "REJECT_CODE_UNKNOWN_UNIT_OF_MEASURE:unit_of_measure");
  EXPECT_EQ(RejectOf(with([](auto& l) { l.unit_of_measure = "CA"; })),
            "REJECT_CODE_WRONG_UNIT_OF_MEASURE:unit_of_measure");
  EXPECT_EQ(RejectOf(with([](auto& l) { l.has_quantity = false; })),
            "REJECT_CODE_MISSING_FIELD:quantity");
  EXPECT_EQ(RejectOf(with([](auto& l) { l.quantity = 0; })),
            "REJECT_CODE_INVALID_QUANTITY:quantity");
  EXPECT_EQ(RejectOf(with([](auto& l) { l.quantity = -3; })),
            "REJECT_CODE_INVALID_QUANTITY:quantity");
  EXPECT_EQ(RejectOf(with([](auto& l) { l.quantity = 2'000'000'000; })),
            "REJECT_CODE_INVALID_QUANTITY:quantity");
  EXPECT_EQ(RejectOf(with([](auto& l) { l.currency = "EUR"; })),
            "REJECT_CODE_CURRENCY_MISMATCH:currency");
  EXPECT_EQ(RejectOf(with([](auto& l) { l.unit_price = "12.3456789"; })),
            "REJECT_CODE_MALFORMED:unit_price");
  EXPECT_EQ(RejectOf(with([](auto& l) { l.unit_price = "-1"; })),
            "REJECT_CODE_INVALID_PRICE:unit_price");
  EXPECT_EQ(RejectOf(with([](auto& l) { l.date = ""; })), "REJECT_CODE_MISSING_FIELD:date");
  EXPECT_EQ(RejectOf(with([](auto& l) { l.date = "2026-13-01"; })), "REJECT_CODE_MALFORMED:date");
  EXPECT_EQ(RejectOf(with([](auto& l) { l.date = "2026-02-06"; })),  // tomorrow
            "REJECT_CODE_DATE_IN_FUTURE:date");
  EXPECT_EQ(RejectOf(with([](auto& l) { l.date = "2026-02-01"; })),  // period end is exclusive
            "REJECT_CODE_DATE_OUTSIDE_PERIOD:date");
  EXPECT_EQ(RejectOf(with([](auto& l) { l.date = "2025-12-31"; })),
            "REJECT_CODE_DATE_OUTSIDE_PERIOD:date");
  EXPECT_EQ(RejectOf(with([](auto& l) { l.invoice_number = ""; })),
            "REJECT_CODE_MISSING_INVOICE:invoice_number");
  EXPECT_EQ(RejectOf(with([](auto& l) { l.invoice_number = "INV 1"; })),
            "REJECT_CODE_MALFORMED:invoice_number");
  EXPECT_EQ(RejectOf(with([](auto& l) { l.customer.name = ""; })),
            "REJECT_CODE_MISSING_END_CUSTOMER:end_customer.name");
  EXPECT_EQ(RejectOf(with([](auto& l) {
              l.customer.name = "Inc.";
              l.customer.name = "...";
            })),
            "REJECT_CODE_MISSING_END_CUSTOMER:end_customer.name");
  EXPECT_EQ(RejectOf(with([](auto& l) { l.customer.country = ""; })),
            "REJECT_CODE_MISSING_END_CUSTOMER:end_customer.country_code");
  EXPECT_EQ(RejectOf(with([](auto& l) { l.customer.country = "UK"; })),
            "REJECT_CODE_MALFORMED:end_customer.country_code");
  EXPECT_EQ(RejectOf(with([](auto& l) {
              l.activity_code = "RU";
              l.original_invoice_number = "";
            })),
            "REJECT_CODE_MISSING_ORIGINAL_INVOICE:original_invoice_number");
  EXPECT_EQ(RejectOf(with([](auto& l) {
              l.activity_code = "RU";
              l.quantity = 0;
            })),
            "REJECT_CODE_INVALID_QUANTITY:quantity");
}

TEST_F(LinesTest, ReturnsUseTheMagnitudeAndNeedNoCustomerWhenToTheVendor) {
  parse::Line ru = Sale();
  ru.activity_code = "RU";
  ru.quantity = -1;
  ru.original_invoice_number = "INV-1001";
  LineVerdict v = Validate(ru);
  ASSERT_EQ(v.kind, LineVerdict::Kind::kAccepted) << v.reject.message();
  EXPECT_EQ(v.line.quantity(), 1);
  EXPECT_EQ(v.line.inventory_delta(), 1);

  parse::Line rv = ReturnToVendor();
  v = Validate(rv);
  ASSERT_EQ(v.kind, LineVerdict::Kind::kAccepted) << v.reject.message();
  EXPECT_EQ(v.line.inventory_delta(), -3);
  EXPECT_FALSE(v.line.has_unit_price());
  EXPECT_EQ(v.line.invoice_line(), 1);  // defaulted
}

// The service validates each line into a spent verdict (ValidateLineInto),
// which keeps the sub-messages of the line before as spares: every verdict must
// still be byte for byte ValidateLine's, whatever line came before (a sale with
// an address, a return without price or customer, a reject, an ignored line).
TEST_F(LinesTest, ValidatingIntoASpentVerdictGivesAFreshVerdict) {
  std::vector<parse::Line> lines;
  parse::Line full = Sale();
  full.customer.address_line = "1 Main St";
  full.customer.city = "Springfield";
  full.customer.region = "IL";
  full.customer.postal_code = "62701";
  full.deal_registration_id = "DR-1";
  lines.push_back(full);
  parse::Line rv = ReturnToVendor();
  lines.push_back(rv);
  parse::Line other = Sale();
  other.line_number = 10;
  other.customer.name = "Initech";
  other.customer.email_domain = "";
  lines.push_back(other);
  parse::Line bad = Sale();
  bad.sku = "NOPE";
  lines.push_back(bad);
  lines.push_back(full);
  parse::Line ignored = Sale();
  ignored.activity_code = "QP";
  lines.push_back(ignored);
  lines.push_back(rv);
  lines.push_back(other);
  // Every string field set, then an accepted line with as few as there can be
  // (no price, invoice, customer or references), then every field again: each
  // field goes from set to unset and back on a spent line.
  parse::Line maximal = full;
  maximal.line_number = 20;
  maximal.spa_id = "SPA-1";
  maximal.original_invoice_number = "INV-0";
  maximal.customer.customer_id = "C-9";
  parse::Line minimal = Adjustment();
  minimal.line_number = 21;
  for (const parse::Line* l : {&maximal, &minimal, &maximal, &bad, &minimal, &other, &minimal}) {
    lines.push_back(*l);
  }

  const LineContext ctx = Context();
  const ProductLookup lookup = Lookup();
  LineVerdict spent;
  for (size_t i = 0; i < lines.size(); ++i) {
    ValidateLineInto(lines[i], ctx, lookup, spent);
    LineVerdict fresh = ValidateLine(lines[i], ctx, lookup);
    EXPECT_EQ(spent.kind, fresh.kind) << "line " << i;
    EXPECT_EQ(spent.line.SerializeAsString(), fresh.line.SerializeAsString()) << "line " << i;
    EXPECT_EQ(spent.line.has_end_customer(), fresh.line.has_end_customer()) << "line " << i;
    EXPECT_EQ(spent.line.has_unit_price(), fresh.line.has_unit_price()) << "line " << i;
    EXPECT_EQ(spent.reject.SerializeAsString(), fresh.reject.SerializeAsString()) << "line " << i;
  }
  // The accepted lines of every shape were accepted (the comparison is not of
  // two rejects), and the last kept nothing of the one before.
  EXPECT_EQ(spent.kind, LineVerdict::Kind::kAccepted);
  EXPECT_TRUE(spent.line.spa_id().empty());
  EXPECT_FALSE(spent.line.has_end_customer());
  // And the maximal line carries every reference it reported.
  LineVerdict max = ValidateLine(maximal, ctx, lookup);
  ASSERT_EQ(max.kind, LineVerdict::Kind::kAccepted) << max.reject.message();
  EXPECT_EQ(max.line.spa_id(), "SPA-1");
  EXPECT_EQ(max.line.deal_registration_id(), "DR-1");
  EXPECT_EQ(max.line.original_invoice_number(), "INV-0");
  EXPECT_EQ(max.line.end_customer_id(), "C-9");
  EXPECT_EQ(max.line.end_customer().address().line1(), "1 Main St");
}

TEST_F(LinesTest, DropShipDoesNotMoveStockAndAdjustmentsAreSigned) {
  parse::Line ds = Sale();
  ds.activity_code = "DS";
  EXPECT_EQ(Validate(ds).line.inventory_delta(), 0);
  LineVerdict v = Validate(Adjustment());
  ASSERT_EQ(v.kind, LineVerdict::Kind::kAccepted) << v.reject.message();
  EXPECT_EQ(v.line.inventory_delta(), -2);
  EXPECT_EQ(v.line.unit_of_measure(), "CA");  // the product's
}

TEST_F(LinesTest, InventoryReportsAcceptCountsOfZeroAndIgnoreUnmodelledCodes) {
  header_ = Header(v1::REPORT_KIND_INVENTORY);
  parse::Line qa;
  qa.line_number = 7;
  qa.activity_code = "QA";
  qa.sku = "SSD-2TB";
  qa.has_quantity = true;
  qa.quantity = 0;
  qa.date = "2026-01-31";
  LineVerdict v = Validate(qa);
  ASSERT_EQ(v.kind, LineVerdict::Kind::kAccepted) << v.reject.message();
  EXPECT_EQ(v.line.inventory_delta(), 0);
  qa.quantity = -1;
  EXPECT_EQ(RejectOf(qa), "REJECT_CODE_INVALID_QUANTITY:quantity");
  qa.activity_code = "QP";  // on order: reported, not modelled
  EXPECT_EQ(Validate(qa).kind, LineVerdict::Kind::kIgnored);
  qa.activity_code = "SS";
  EXPECT_EQ(RejectOf(qa), "REJECT_CODE_ACTIVITY_NOT_ALLOWED:activity");
}

TEST_F(LinesTest, HeaderCurrencyIsTheDefaultAndMustMatchTheProduct) {
  header_.set_currency_code("EUR");
  parse::Line l = Sale();
  l.currency = "";
  EXPECT_EQ(RejectOf(l), "REJECT_CODE_CURRENCY_MISMATCH:header.currency_code");
  header_.set_currency_code("");
  EXPECT_EQ(Validate(l).kind, LineVerdict::Kind::kAccepted);  // the product's currency
}

TEST_F(LinesTest, TypedLinesAreValidatedLikeParsedOnes) {
  v1::ReportLine t;
  t.set_activity(v1::LINE_ACTIVITY_SHIP_AND_DEBIT_SALE);
  t.set_sku("SSD-2TB");
  t.set_quantity(20);
  *t.mutable_unit_price() = Usd(99'000'000);
  t.set_date("2026-01-20");
  t.set_invoice_number("INV-1003");
  t.set_spa_id("SPA-7781");
  t.mutable_end_customer()->set_name("Umbrella Corp.");
  t.mutable_end_customer()->mutable_address()->set_country_code("US");
  LineVerdict v = Validate(FromTyped(t, 5));
  ASSERT_EQ(v.kind, LineVerdict::Kind::kAccepted) << v.reject.message();
  EXPECT_EQ(v.line.line_number(), 5);
  EXPECT_EQ(v.line.spa_id(), "SPA-7781");
  EXPECT_EQ(v.line.extended_amount().amount_micros(), 1'980'000'000);  // 20 x 99.00
  EXPECT_EQ(v.line.customer_key(), "US|umbrella");
  t.mutable_unit_price()->set_currency_code("usd");
  EXPECT_EQ(RejectOf(FromTyped(t, 5)), "REJECT_CODE_CURRENCY_MISMATCH:currency");
}

// ---------------------------------------------------------------------------
// Batches, duplicates, corrections, report lifecycle
// ---------------------------------------------------------------------------

class BatchTest : public ::testing::Test {
 protected:
  // The decision points at its batch's items: the test keeps the batches.
  BatchDecision Run(std::vector<parse::Item> items) {
    IngestBatch& b = batches_.emplace_back();
    b.header = &header_;
    b.items.assign(std::make_move_iterator(items.begin()), std::make_move_iterator(items.end()));
    b.products.emplace("SSD-2TB", Product("SSD-2TB", "EA", 125'500'000));
    b.owners = owners_;
    return Decide(b, Context{kNow, "test"});
  }
  static parse::Line SaleOn(int64_t n, const std::string& invoice, int64_t invoice_line) {
    parse::Line l = Sale();
    l.line_number = n;
    l.invoice_number = invoice;
    l.invoice_line = invoice_line;
    return l;
  }
  // Invoice line `invoice`/`invoice_line` of P-100 is held by line
  // `report_line` of `report`.
  void HeldBy(const std::string& invoice, int32_t invoice_line, const std::string& report,
              int64_t report_line) {
    v1::LineOwner o;
    o.set_report_id(report);
    o.set_line_number(report_line);
    owners_.emplace(LineIdentityOf("P-100", invoice, invoice_line), o);
  }

  v1::ReportHeader header_ = Header();
  absl::flat_hash_map<std::string, v1::LineOwner> owners_;
  std::deque<IngestBatch> batches_;
};

TEST_F(BatchTest, DuplicatesAreCountedOnceAndNamedWithTheOriginal) {
  HeldBy("INV-9", 1, "R0", 44);
  parse::Issue issue;
  issue.line_number = 5;
  issue.field = "quantity";
  issue.message = "bad";
  BatchDecision d = Run({SaleOn(2, "INV-1", 1), SaleOn(3, "INV-1", 2), SaleOn(4, "INV-1", 1), issue,
                         SaleOn(6, "INV-9", 1)});
  ASSERT_EQ(d.accepted, 2u);
  ASSERT_EQ(d.chunks(), 1u);
  ASSERT_THAT(d.Chunk(0).lines(), SizeIs(2));
  EXPECT_EQ(d.Chunk(0).lines(0).line_number(), 2);
  EXPECT_EQ(d.Chunk(0).lines(1).line_number(), 3);
  ASSERT_THAT(d.duplicates, SizeIs(2));
  EXPECT_EQ(d.duplicates[0].line_number(), 4);  // same invoice line as line 2 of this report
  EXPECT_EQ(d.duplicates[0].original_report_id(), "R1");
  EXPECT_EQ(d.duplicates[0].original_line_number(), 2);
  EXPECT_EQ(d.duplicates[1].line_number(), 6);  // held by another report
  EXPECT_EQ(d.duplicates[1].original_report_id(), "R0");
  EXPECT_EQ(d.duplicates[1].original_line_number(), 44);
  ASSERT_THAT(d.rejects, SizeIs(1));
  EXPECT_EQ(d.rejects[0].code(), v1::REJECT_CODE_MALFORMED);
  // Events: one chunk of the accepted lines, then the batch summary.
  const v1::ReportLinesProcessed& p = d.processed;
  EXPECT_EQ(p.first_line_number(), 2);
  EXPECT_EQ(p.last_line_number(), 6);
  EXPECT_EQ(p.accepted(), 2);
  v1::Report r = Evolve(v1::Report(), v1::ReportReceived());
  r = Evolve(r, d.processed);
  EXPECT_EQ(r.counts().lines_received(), 5);
  EXPECT_EQ(r.counts().accepted(), 2);
  EXPECT_EQ(r.counts().rejected(), 1);
  EXPECT_EQ(r.counts().duplicates(), 2);
  EXPECT_EQ(r.last_line_number(), 6);
}

TEST_F(BatchTest, ACorrectionTakesOverTheLinesOfTheReportItCorrects) {
  HeldBy("INV-1", 1, "R0", 2);
  header_.set_corrects_report_id("R0");
  BatchDecision d = Run({SaleOn(2, "INV-1", 1)});
  EXPECT_EQ(d.accepted, 1u);
  EXPECT_THAT(d.duplicates, SizeIs(0));
}

// Lines validated ahead of the writer (PreparedItem) against a catalogue and a
// day that may have changed by the time the writer decides.
class PreparedBatchTest : public BatchTest {
 protected:
  // Prepares `items` against `catalogue` on the day of `prepared_at`, then
  // decides them against `products` at kNow.
  BatchDecision PrepareAndDecide(std::vector<parse::Item> items,
                                 const std::vector<v1::Product>& catalogue,
                                 const std::vector<v1::Product>& products,
                                 absl::Time prepared_at = kNow) {
    const LineContext lc = LineContextOf(header_, prepared_at);
    IngestBatch& b = batches_.emplace_back();
    b.header = &header_;
    for (parse::Item& item : items) {
      Prepare(b.items.emplace_back(std::move(item)), lc, [&](const std::string& sku) {
        for (const v1::Product& p : catalogue)
          if (p.sku() == sku) return &p;
        return static_cast<const v1::Product*>(nullptr);
      });
    }
    for (const v1::Product& p : products) b.products.emplace(p.sku(), p);
    b.owners = owners_;
    return Decide(b, Context{kNow, "test"});
  }
  static v1::Product Versioned(const std::string& sku, uint64_t version,
                               const std::string& product_line = "storage") {
    v1::Product p = Product(sku, "EA", 125'500'000);
    p.set_version(version);
    p.set_product_line(product_line);
    return p;
  }
  // Every line of the decision's chunks, and the rejects, as text.
  static std::vector<std::string> Render(const BatchDecision& d) {
    std::vector<std::string> out;
    for (size_t i = 0; i < d.chunks(); ++i) {
      // What is recorded (the payload) is the lines the read models see.
      const v1::PosLinesAccepted chunk = d.Chunk(i);
      EXPECT_EQ(chunk.lines_size(), d.encoded[i].lines.size());
      for (int k = 0; k < chunk.lines_size(); ++k) {
        EXPECT_EQ(chunk.lines(k).SerializeAsString(), d.encoded[i].lines[k]->SerializeAsString());
        out.push_back(chunk.lines(k).ShortDebugString());
      }
    }
    for (const v1::RejectedLine& r : d.rejects) out.push_back(r.ShortDebugString());
    for (const v1::DuplicateLine& r : d.duplicates) out.push_back(r.ShortDebugString());
    for (const std::string& id : d.identities) out.push_back(absl::CEscape(id));
    return out;
  }
};

TEST_F(PreparedBatchTest, AVerdictIsKeptOnlyWhileItsCatalogueEntryAndDayAreTheWritersOnes) {
  // Same catalogue, same day: the prepared verdict is the decision.
  BatchDecision d = PrepareAndDecide({SaleOn(2, "INV-1", 1)}, {Versioned("SSD-2TB", 3)},
                                     {Versioned("SSD-2TB", 3)});
  ASSERT_EQ(d.accepted, 1u);
  EXPECT_EQ(d.Chunk(0).lines(0).product_line(), "storage");
  EXPECT_EQ(d.identities, std::vector<std::string>{LineIdentity(d.Chunk(0).lines(0))});

  // The product changed (version 4 moved it to another product line) after
  // the line was prepared: the writer validates it again.
  d = PrepareAndDecide({SaleOn(2, "INV-1", 1)}, {Versioned("SSD-2TB", 3)},
                       {Versioned("SSD-2TB", 4, "flash")});
  ASSERT_EQ(d.accepted, 1u);
  EXPECT_EQ(d.Chunk(0).lines(0).product_line(), "flash");

  // Unknown when prepared, in the catalogue when decided: accepted.
  d = PrepareAndDecide({SaleOn(2, "INV-1", 1)}, {}, {Versioned("SSD-2TB", 1)});
  EXPECT_EQ(d.accepted, 1u);
  EXPECT_THAT(d.rejects, SizeIs(0));

  // In the catalogue when prepared, gone from the writer's view: rejected.
  d = PrepareAndDecide({SaleOn(2, "INV-1", 1)}, {Versioned("SSD-2TB", 1)}, {});
  EXPECT_EQ(d.accepted, 0u);
  ASSERT_THAT(d.rejects, SizeIs(1));
  EXPECT_EQ(d.rejects[0].code(), v1::REJECT_CODE_UNKNOWN_SKU);

  // Prepared the day before a sale's date, decided on it: not in the future
  // any more. (The period is January; the header moves to today's month.)
  header_.mutable_period()->set_start_date("2026-02-01");
  header_.mutable_period()->set_end_date("2026-03-01");
  parse::Line today = SaleOn(2, "INV-1", 1);
  today.date = FormatDate(DayOf(kNow));
  d = PrepareAndDecide({today}, {Versioned("SSD-2TB", 1)}, {Versioned("SSD-2TB", 1)},
                       kNow - absl::Hours(24));
  EXPECT_EQ(d.accepted, 1u);
  EXPECT_THAT(d.rejects, SizeIs(0));
}

TEST_F(PreparedBatchTest, PreparedAndUnpreparedBatchesDecideTheSame) {
  // Lines that pass, and lines that fail each kind of check, in one batch.
  std::vector<parse::Item> items;
  int64_t n = 1;
  auto add = [&](parse::Line l) {
    l.line_number = ++n;
    items.push_back(std::move(l));
  };
  add(SaleOn(0, "INV-1", 1));
  add(SaleOn(0, "INV-1", 2));
  add(SaleOn(0, "INV-1", 1));  // duplicate within the batch
  add(SaleOn(0, "INV-9", 1));  // held by another report
  // A sale of `invoice` line 1, changed by `change`.
  auto sale_with = [](const std::string& invoice, const std::function<void(parse::Line&)>& change) {
    parse::Line l = SaleOn(0, invoice, 1);
    change(l);
    return l;
  };
  add(sale_with("INV-2", [](parse::Line& l) { l.sku = "NOPE"; }));
  add(sale_with("INV-3", [](parse::Line& l) { l.unit_of_measure = "CA"; }));
  add(sale_with("INV-4", [](parse::Line& l) { l.currency = "EUR"; }));
  add(sale_with("INV-5", [](parse::Line& l) { l.date = "2027-01-01"; }));
  add(sale_with("INV-6", [](parse::Line& l) { l.customer.name = ""; }));
  add(SaleOn(0, "", 0));  // no invoice
  // An 852 code the domain does not model: ignored.
  add(sale_with("INV-7", [](parse::Line& l) { l.activity_code = "QP"; }));
  add(sale_with("INV-8", [](parse::Line& l) { l.unit_price = "12.3.4"; }));
  parse::Issue issue;
  issue.line_number = ++n;
  issue.field = "quantity";
  issue.message = "bad";
  items.push_back(issue);
  HeldBy("INV-9", 1, "R0", 44);

  const BatchDecision unprepared = Run(items);
  const v1::Product ssd = Product("SSD-2TB", "EA", 125'500'000);
  const BatchDecision prepared = PrepareAndDecide(items, {ssd}, {ssd});
  EXPECT_EQ(Render(prepared), Render(unprepared));
  EXPECT_EQ(prepared.accepted, 2u);
  EXPECT_EQ(prepared.ignored, 1);
  EXPECT_EQ(unprepared.ignored, 1);
  // A prepared batch decided against a changed catalogue is decided as if unprepared.
  v1::Product moved = ssd;
  moved.set_version(9);
  moved.set_product_line("flash");
  const BatchDecision stale = PrepareAndDecide(items, {ssd}, {moved});
  IngestBatch& b = batches_.emplace_back();
  b.header = &header_;
  b.items.assign(items.begin(), items.end());
  b.products.emplace(moved.sku(), moved);
  b.owners = owners_;
  EXPECT_EQ(Render(stale), Render(Decide(b, Context{kNow, "test"})));
}

TEST(ReportLifecycleTest, OpenDecidesNewResumeReplayAndRefusesConflicts) {
  Context c{kNow, "test"};
  OpenReport open;
  open.header = Header();
  auto d = Decide(open, c);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->kind, OpenKind::kNew);
  ASSERT_THAT(d->events, SizeIs(1));
  v1::Report r = Evolve(v1::Report(), d->events.front());
  EXPECT_EQ(r.status(), v1::REPORT_STATUS_RECEIVING);

  open.header.set_all_or_nothing(true);
  d = Decide(open, c);
  ASSERT_TRUE(d.ok());
  EXPECT_THAT(d->events, SizeIs(0));  // nothing is written before the end
  open.publishing = true;             // ... and everything at the end
  d = Decide(open, c);
  ASSERT_TRUE(d.ok());
  EXPECT_THAT(d->events, SizeIs(1));
  open.publishing = false;
  open.header.set_all_or_nothing(false);

  open.existing = r;
  EXPECT_EQ(Decide(open, c)->kind, OpenKind::kResume);
  open.existing.set_status(v1::REPORT_STATUS_COMPLETED);
  EXPECT_EQ(Decide(open, c)->kind, OpenKind::kReplay);
  open.header.set_format(v1::REPORT_FORMAT_X12_867);  // resuming needs the same line numbers
  EXPECT_EQ(Decide(open, c).status().code(), absl::StatusCode::kAlreadyExists);
  open.header.set_format(v1::REPORT_FORMAT_CSV);
  open.header.set_partner_id("P-999");
  EXPECT_EQ(Decide(open, c).status().code(), absl::StatusCode::kAlreadyExists);

  // Corrections.
  OpenReport corr;
  corr.header = Header();
  corr.header.set_report_id("R2");
  corr.header.set_corrects_report_id("R1");
  EXPECT_EQ(Decide(corr, c).status().code(), absl::StatusCode::kNotFound);
  corr.corrected = r;  // RECEIVING
  EXPECT_EQ(Decide(corr, c).status().code(), absl::StatusCode::kFailedPrecondition);
  corr.corrected->set_status(v1::REPORT_STATUS_COMPLETED);
  auto ok = Decide(corr, c);
  ASSERT_TRUE(ok.ok()) << ok.status();
  // The corrected report learns a correction is pending.
  v1::Report pending = Evolve(*corr.corrected, ok->events.front());
  EXPECT_EQ(pending.correction_pending_by(), "R2");
  EXPECT_EQ(pending.header().report_id(), "R1");
  OpenReport other = corr;
  other.header.set_report_id("R3");
  other.corrected = pending;
  EXPECT_THAT(Decide(other, c).status().message(), HasSubstr("being corrected by R2"));
  corr.corrected->mutable_header()->set_partner_id("P-200");
  EXPECT_THAT(Decide(corr, c).status().message(), HasSubstr("another partner"));

  // Completion supersedes the corrected report.
  CompleteReport done;
  done.report = Evolve(v1::Report(), ok->events.front());
  done.corrected = pending;
  done.lines_reversed = 7;
  CompleteDecision cd = Decide(done, c);
  ASSERT_TRUE(cd.superseded.has_value());
  v1::Report superseded = Evolve(pending, *cd.superseded);
  EXPECT_EQ(superseded.status(), v1::REPORT_STATUS_SUPERSEDED);
  EXPECT_EQ(superseded.superseded_by(), "R2");
  EXPECT_EQ(superseded.counts().lines_reversed(), 7);
  EXPECT_TRUE(superseded.correction_pending_by().empty());
  v1::Report completed = Evolve(done.report, cd.completed);
  EXPECT_EQ(completed.status(), v1::REPORT_STATUS_COMPLETED);
  EXPECT_EQ(FromProtoTime(completed.completed_at()), kNow);
}

// ---------------------------------------------------------------------------
// Products, shipments
// ---------------------------------------------------------------------------

TEST(ProductTest, PricesChangeOnlyThroughChangePrice) {
  Context c{kNow, "test"};
  v1::Product in = Product("SSD-2TB", "EA", 125'500'000);
  auto created = Decide(v1::Product(), UpsertProduct{in}, c);
  ASSERT_TRUE(created.ok());
  v1::Product p = Evolve(v1::Product(), created->front());
  EXPECT_EQ(p.version(), 1u);
  EXPECT_FALSE(p.has_price_effective_at());  // the catalogue load is not a price change
  in.set_description("2 TB NVMe");
  auto updated = Decide(p, UpsertProduct{in}, c);
  ASSERT_TRUE(updated.ok());
  EXPECT_THAT(*updated, SizeIs(1));
  EXPECT_THAT(*Decide(Evolve(p, updated->front()), UpsertProduct{in}, c), SizeIs(0));  // no change
  in.mutable_list_price()->set_amount_micros(1);
  EXPECT_THAT(Decide(p, UpsertProduct{in}, c).status().message(), HasSubstr("ChangePrice"));
  in = Product("SSD-2TB", "CA", 125'500'000);
  EXPECT_EQ(Decide(p, UpsertProduct{in}, c).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(ShipmentsTest, ExtendedAmountIsExactAndResendsAreIdempotent) {
  Context c{kNow, "test"};
  RecordShipments cmd;
  cmd.products.emplace("SSD-2TB", Product("SSD-2TB", "EA", 125'500'000));
  v1::Shipment s;
  s.set_shipment_id("S1");
  s.set_partner_id("P-100");
  s.set_sku("SSD-2TB");
  s.set_quantity(7);
  *s.mutable_unit_price() = Usd(99'990'000);
  *s.mutable_shipped_at() = ToProtoTime(kNow - absl::Hours(48));
  cmd.shipments = {s};
  auto d = Decide(cmd, c);
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_THAT(d->events, SizeIs(1));
  const auto& rec = std::get<v1::ShipmentRecorded>(d->events[0]);
  EXPECT_EQ(rec.extended_amount().amount_micros(), 699'930'000);  // 7 x 99.99
  EXPECT_EQ(rec.unit_of_measure(), "EA");
  EXPECT_EQ(rec.product_line(), "storage");

  // The same shipment again: nothing; now received: ShipmentReceived.
  cmd.existing.emplace("S1", Evolve(v1::Shipment(), d->events[0]));
  EXPECT_EQ(Decide(cmd, c)->already_recorded, 1);
  *cmd.shipments[0].mutable_received_at() = ToProtoTime(kNow);
  d = Decide(cmd, c);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->received_updates, 1);
  EXPECT_TRUE(std::holds_alternative<v1::ShipmentReceived>(d->events[0]));
  // Other content under the same id: refused.
  cmd.shipments[0].set_quantity(8);
  EXPECT_EQ(Decide(cmd, c).status().code(), absl::StatusCode::kFailedPrecondition);

  // Unknown SKU / other currency: INVALID_ARGUMENT naming the shipment.
  RecordShipments bad;
  bad.products = cmd.products;
  v1::Shipment u = s;
  u.set_sku("NOPE");
  v1::Shipment e = s;
  e.set_shipment_id("S2");
  e.mutable_unit_price()->set_currency_code("EUR");
  bad.shipments = {u, e};
  auto st = Decide(bad, c).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(core::GetFieldViolations(st),
              ElementsAre(Pair("shipments[0].sku", HasSubstr("not in the catalogue")),
                          Pair("shipments[1].unit_price.currency_code", HasSubstr("USD"))));
}

// ---------------------------------------------------------------------------
// Inventory arithmetic
// ---------------------------------------------------------------------------

TEST(InventoryTest, OnHandIsReceivedMinusSoldPlusReturnsMinusRtvPlusAdjustments) {
  v1::InventoryPosition p;
  auto entry = [](v1::LedgerKind k, int64_t d) {
    v1::LedgerEntry e;
    e.set_kind(k);
    e.set_delta(d);
    return e;
  };
  Accumulate(p, entry(v1::LEDGER_KIND_RECEIVED, 100));
  Accumulate(p, entry(v1::LEDGER_KIND_SOLD, -30));
  Accumulate(p, entry(v1::LEDGER_KIND_CUSTOMER_RETURN, 1));
  Accumulate(p, entry(v1::LEDGER_KIND_RETURN_TO_VENDOR, -3));
  Accumulate(p, entry(v1::LEDGER_KIND_ADJUSTMENT, -2));
  Accumulate(p, entry(v1::LEDGER_KIND_SOLD, 10));  // a reversed sale of 10
  Accumulate(p, entry(v1::LEDGER_KIND_TRANSIT, 20));
  EXPECT_EQ(p.received(), 100);
  EXPECT_EQ(p.sold(), 20);
  EXPECT_EQ(p.customer_returned(), 1);
  EXPECT_EQ(p.returned_to_vendor(), 3);
  EXPECT_EQ(p.adjusted(), -2);
  EXPECT_EQ(p.on_hand(), 100 - 20 + 1 - 3 - 2);
  EXPECT_EQ(p.in_transit(), 20);
}

TEST(InventoryTest, SellThroughDaysAddAndReverseExactly) {
  v1::PosLine sale;
  sale.set_activity(v1::LINE_ACTIVITY_STOCK_SALE);
  sale.set_quantity(10);
  *sale.mutable_extended_amount() = Usd(1'255'000'000);
  v1::PosLine ds = sale;
  ds.set_activity(v1::LINE_ACTIVITY_DROP_SHIP_SALE);
  ds.set_quantity(5);
  *ds.mutable_extended_amount() = Usd(627'500'000);
  v1::PosLine ret = sale;
  ret.set_activity(v1::LINE_ACTIVITY_CUSTOMER_RETURN);
  ret.set_quantity(1);
  *ret.mutable_extended_amount() = Usd(125'500'000);
  v1::SellThroughDay day;
  ASSERT_TRUE(AddToSellThrough(day, sale, 1).ok());
  ASSERT_TRUE(AddToSellThrough(day, ds, 1).ok());
  ASSERT_TRUE(AddToSellThrough(day, ret, 1).ok());
  v1::SellThrough t;
  ASSERT_TRUE(AddDay(t, day).ok());
  EXPECT_EQ(t.units_sold(), 15);
  EXPECT_EQ(t.units_returned(), 1);
  EXPECT_EQ(t.net_units(), 14);
  EXPECT_EQ(t.sales_amount().amount_micros(), 1'882'500'000);
  EXPECT_EQ(t.returns_amount().amount_micros(), 125'500'000);
  ASSERT_TRUE(AddToSellThrough(day, ds, -1).ok());  // a correction reverses the drop-ship line
  EXPECT_EQ(day.drop_ship_units(), 0);
  EXPECT_EQ(day.sales_amount().amount_micros(), 1'255'000'000);
}

// ---------------------------------------------------------------------------
// Price protection
// ---------------------------------------------------------------------------

v1::PriceProtectionTerms Terms(int32_t bps, bool transit, int32_t window_days = 0,
                               int32_t eligibility_days = 0) {
  v1::PriceProtectionTerms t;
  t.set_program_id("pp");
  t.set_supported_bps(bps);
  t.set_include_in_transit(transit);
  t.set_claim_window_days(window_days);
  t.set_eligibility_days(eligibility_days);
  return t;
}

TEST(PriceProtectionTest, PlanSchedulesFutureChangesAndKeepsEffectiveOrder) {
  Context c{kNow, "test"};
  v1::Product p = Product("SSD-2TB", "EA", 125'500'000);
  ChangePrice cmd{"ch-1", Usd(110'250'000), kNow + absl::Hours(48)};
  auto plan = PlanPriceChange(p, cmd, c);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_FALSE(plan->apply_now);
  ASSERT_THAT(plan->events, SizeIs(1));
  v1::Product scheduled = Evolve(p, plan->events.front());
  // Another change before the scheduled one is out of order.
  ChangePrice earlier{"ch-2", Usd(100'000'000), kNow};
  EXPECT_EQ(PlanPriceChange(scheduled, earlier, c).status().code(),
            absl::StatusCode::kFailedPrecondition);
  auto now = PlanPriceChange(p, earlier, c);
  ASSERT_TRUE(now.ok());
  EXPECT_TRUE(now->apply_now);
  ChangePrice eur{"ch-3", Usd(1), kNow};
  eur.new_price.set_currency_code("EUR");
  auto st = PlanPriceChange(p, eur, c).status();
  EXPECT_THAT(core::GetFieldViolations(st),
              ElementsAre(Pair("new_price.currency_code", HasSubstr("USD"))));
  EXPECT_EQ(PlanPriceChange(v1::Product(), earlier, c).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(PriceProtectionTest, CreditsAreHandComputedExactMoneyPerPartner) {
  Context c{kNow, "test"};
  v1::Product p = Product("SSD-2TB", "EA", 125'500'000);  // USD 125.50
  ApplyPriceChange apply;
  apply.change.set_change_id("ch-1");
  apply.change.set_sku("SSD-2TB");
  *apply.change.mutable_new_price() = Usd(110'250'000);  // USD 110.25: a drop of 15.25
  *apply.change.mutable_effective_at() = ToProtoTime(kNow);
  // P-100: 37 on hand + 5 in transit, 75%, transit counts: 15.25 x 42 x 0.75 = 480.375
  apply.holdings.push_back({"P-100", 37, 0, 5, Terms(7500, true)});
  // P-200: 10 on hand, only 4 received in the last 30 days, 50%, no transit:
  //        15.25 x 4 x 0.50 = 30.50
  apply.holdings.push_back({"P-200", 10, 4, 9, Terms(5000, false, 0, 30)});
  // P-300: stock but no programme; P-400: sold more than it received.
  apply.holdings.push_back({"P-300", 50, 0, 0, std::nullopt});
  apply.holdings.push_back({"P-400", -3, 0, 0, Terms(10000, false)});
  auto events = Decide(p, apply, c);
  ASSERT_TRUE(events.ok()) << events.status();
  ASSERT_THAT(*events, SizeIs(3));
  const auto& changed = std::get<v1::PriceChanged>((*events)[0]);
  EXPECT_EQ(changed.change().old_price().amount_micros(), 125'500'000);
  EXPECT_EQ(changed.change().status(), v1::PRICE_CHANGE_STATUS_APPLIED);
  EXPECT_EQ(changed.change().credits_count(), 2);
  EXPECT_EQ(changed.change().credits_total().amount_micros(), 510'875'000);  // 480.375 + 30.50
  const auto& c1 = std::get<v1::PriceProtectionCredited>((*events)[1]).credit();
  EXPECT_EQ(c1.partner_id(), "P-100");
  EXPECT_EQ(c1.credit_id(), "ch-1/P-100");
  EXPECT_EQ(c1.price_drop().amount_micros(), 15'250'000);
  EXPECT_EQ(c1.eligible_quantity(), 42);
  EXPECT_EQ(c1.amount().amount_micros(), 480'375'000);
  EXPECT_EQ(c1.amount().currency_code(), "USD");
  const auto& c2 = std::get<v1::PriceProtectionCredited>((*events)[2]).credit();
  EXPECT_EQ(c2.partner_id(), "P-200");
  EXPECT_EQ(c2.eligible_quantity(), 4);
  EXPECT_EQ(c2.in_transit_quantity(), 9);  // reported, not eligible under its terms
  EXPECT_EQ(c2.amount().amount_micros(), 30'500'000);
  v1::Product after = Evolve(p, (*events)[0]);
  EXPECT_EQ(after.list_price().amount_micros(), 110'250'000);
}

TEST(PriceProtectionTest, SharesRoundToTheNearestMicroHalfAwayFromZero) {
  v1::PriceChange ch;
  ch.set_change_id("ch");
  ch.set_sku("X");
  *ch.mutable_old_price() = Usd(1'000'000);
  *ch.mutable_new_price() = Usd(666'667);  // drop 0.333333
  *ch.mutable_effective_at() = ToProtoTime(kNow);
  // 0.333333 x 1 x 33.33% = 0.11109988.. -> 0.111100
  auto credit = ComputeCredit(ch, {"P", 1, 0, 0, Terms(3333, false)}, kNow);
  ASSERT_TRUE(credit.ok() && credit->has_value());
  EXPECT_EQ((*credit)->amount().amount_micros(), 111'100);
  // 0.333333 x 3 x 50% = 0.4999995 -> 0.500000 (half away from zero)
  credit = ComputeCredit(ch, {"P", 3, 0, 0, Terms(5000, false)}, kNow);
  ASSERT_TRUE(credit.ok() && credit->has_value());
  EXPECT_EQ((*credit)->amount().amount_micros(), 500'000);
}

TEST(PriceProtectionTest, IncreasesAndLateBackdatedDropsEarnNothing) {
  Context c{kNow, "test"};
  v1::Product p = Product("SSD-2TB", "EA", 100'000'000);
  ApplyPriceChange up;
  up.change.set_change_id("up");
  up.change.set_sku("SSD-2TB");
  *up.change.mutable_new_price() = Usd(120'000'000);
  *up.change.mutable_effective_at() = ToProtoTime(kNow);
  up.holdings.push_back({"P-100", 10, 0, 0, Terms(10000, true)});
  auto events = Decide(p, up, c);
  ASSERT_TRUE(events.ok());
  EXPECT_THAT(*events, SizeIs(1));  // PriceChanged only

  // A drop effective 40 days ago under a 30-day claim window: too late.
  ApplyPriceChange late = up;
  *late.change.mutable_new_price() = Usd(90'000'000);
  *late.change.mutable_effective_at() = ToProtoTime(kNow - absl::Hours(24 * 40));
  late.holdings[0].terms = Terms(10000, true, 30);
  events = Decide(p, late, c);
  ASSERT_TRUE(events.ok()) << events.status();
  ASSERT_THAT(*events, SizeIs(1));
  EXPECT_TRUE(std::get<v1::PriceChanged>((*events)[0]).change().claim_window_passed());
  // Within the window: credited, with the deadline.
  *late.change.mutable_effective_at() = ToProtoTime(kNow - absl::Hours(24 * 20));
  events = Decide(p, late, c);
  ASSERT_THAT(*events, SizeIs(2));
  const auto& credit = std::get<v1::PriceProtectionCredited>((*events)[1]).credit();
  EXPECT_EQ(credit.amount().amount_micros(), 100'000'000);  // 10.00 x 10 x 100%
  EXPECT_EQ(FromProtoTime(credit.claim_deadline()), kNow + absl::Hours(24 * 10));
}

// ---------------------------------------------------------------------------
// Request shapes
// ---------------------------------------------------------------------------

std::vector<std::string> Fields(const absl::Status& s) {
  std::vector<std::string> out;
  for (const auto& [f, r] : core::GetFieldViolations(s)) out.push_back(f);
  return out;
}

TEST(ValidationTest, ReportHeaderNamesEveryBadField) {
  v1::ReportHeader h;
  h.set_kind(v1::REPORT_KIND_SELL_THROUGH);
  h.set_format(v1::REPORT_FORMAT_X12_852);
  h.mutable_period()->set_start_date("2026-02-01");
  h.mutable_period()->set_end_date("2026-01-01");
  h.set_currency_code("usd");
  EXPECT_THAT(Fields(ValidateReportHeader(h)),
              ElementsAre("header.report_id", "header.partner_id", "header.kind",
                          "header.period.end_date", "header.currency_code"));
  EXPECT_TRUE(ValidateReportHeader(Header()).ok());
  v1::ReportHeader self = Header();
  self.set_corrects_report_id("R1");
  EXPECT_THAT(Fields(ValidateReportHeader(self)), ElementsAre("header.corrects_report_id"));
}

TEST(ValidationTest, ShipmentsAndTermsShapes) {
  v1::RecordShipmentsRequest r;
  r.set_request_id("r1");
  auto* s = r.add_shipments();
  s->set_shipment_id("S1");
  s->set_partner_id("P 1");
  s->set_sku("A");
  s->set_quantity(0);
  *s->mutable_unit_price() = Usd(-1);
  *s->mutable_shipped_at() = ToProtoTime(kNow);
  *s->mutable_received_at() = ToProtoTime(kNow - absl::Seconds(1));
  *r.add_shipments() = *s;
  EXPECT_THAT(
      Fields(ValidateRecordShipments(r)),
      ElementsAre("shipments[0].partner_id", "shipments[0].quantity",
                  "shipments[0].unit_price.amount_micros", "shipments[0].received_at",
                  "shipments[1].shipment_id", "shipments[1].partner_id", "shipments[1].quantity",
                  "shipments[1].unit_price.amount_micros", "shipments[1].received_at"));
  v1::SetPriceProtectionTermsRequest t;
  t.set_request_id("t1");
  t.mutable_terms()->set_program_id("pp");
  t.mutable_terms()->set_supported_bps(12000);
  EXPECT_THAT(Fields(ValidateSetPriceProtectionTerms(t)),
              ElementsAre("terms.supported_bps", "terms.partner_ids"));
}

TEST(ValidationTest, PageTokensRoundTripAndForeignOnesAreRejected) {
  std::string key;
  EXPECT_TRUE(DecodePageToken(EncodePageToken(std::string("R1\0\0\0", 5)), &key));
  EXPECT_EQ(key, std::string("R1\0\0\0", 5));
  EXPECT_FALSE(DecodePageToken("bm90IG91cnM", &key));
  v1::ListRejectedLinesRequest r;
  r.set_report_id("R1");
  r.set_page_token("###");
  EXPECT_THAT(Fields(ValidateListRejectedLines(r)), ElementsAre("page_token"));
}

// Every field of `m`, and of the messages it holds, set to a value that is not
// its default, by reflection: a field added to the .proto is covered too.
// `salt` varies the values (signs, lengths).
void FillEveryField(google::protobuf::Message* m, int salt) {
  const auto* d = m->GetDescriptor();
  const auto* r = m->GetReflection();
  using FD = google::protobuf::FieldDescriptor;
  for (int i = 0; i < d->field_count(); ++i) {
    const FD* f = d->field(i);
    const int64_t n = (f->number() * 7919 + salt) * (salt % 2 ? -1 : 1);
    const int count = f->is_repeated() ? 2 : 1;
    for (int k = 0; k < count; ++k) {
      switch (f->cpp_type()) {
        case FD::CPPTYPE_STRING: {
          std::string v = absl::StrCat("f", f->number(), "-", salt, "-caf\xC3\xA9");
          if (salt % 3 == 0) v.append(300, 'x');  // a length of two varint bytes
          f->is_repeated() ? r->AddString(m, f, v) : r->SetString(m, f, v);
          break;
        }
        case FD::CPPTYPE_INT64:
          f->is_repeated() ? r->AddInt64(m, f, n * 1'000'003) : r->SetInt64(m, f, n * 1'000'003);
          break;
        case FD::CPPTYPE_INT32:
          f->is_repeated() ? r->AddInt32(m, f, static_cast<int32_t>(n))
                           : r->SetInt32(m, f, static_cast<int32_t>(n));
          break;
        case FD::CPPTYPE_UINT64:
        case FD::CPPTYPE_UINT32:
        case FD::CPPTYPE_BOOL:
        case FD::CPPTYPE_DOUBLE:
        case FD::CPPTYPE_FLOAT:
          FAIL() << f->full_name() << ": a field type EncodePosLine does not write; add it there";
        case FD::CPPTYPE_ENUM: {
          const auto* e = f->enum_type();
          const auto* v = e->value(e->value_count() - 1 - salt % (e->value_count() - 1));
          f->is_repeated() ? r->AddEnum(m, f, v) : r->SetEnum(m, f, v);
          break;
        }
        case FD::CPPTYPE_MESSAGE:
          FillEveryField(f->is_repeated() ? r->AddMessage(m, f) : r->MutableMessage(m, f), salt);
          break;
      }
    }
  }
}

std::string Hand(const v1::PosLine& l) {
  std::string out = "left over";  // replaced, not appended to
  EncodePosLine(l, &out);
  return out;
}

TEST(PosLineWireTest, HandEncodingIsProtobufsByteForByte) {
  for (int salt = 1; salt <= 6; ++salt) {
    v1::PosLine full;
    FillEveryField(&full, salt);
    ASSERT_EQ(Hand(full), full.SerializeAsString()) << "salt " << salt;
    // Each field alone, the others at their defaults.
    const auto* d = full.GetDescriptor();
    for (int i = 0; i < d->field_count(); ++i) {
      v1::PosLine one;
      std::vector<const google::protobuf::FieldDescriptor*> fields = {d->field(i)};
      one.GetReflection()->SwapFields(&one, &full, fields);
      EXPECT_EQ(Hand(one), one.SerializeAsString()) << d->field(i)->name() << " salt " << salt;
      one.GetReflection()->SwapFields(&one, &full, fields);
    }
  }
  // Nothing set; sub-messages present but empty.
  v1::PosLine empty;
  EXPECT_EQ(Hand(empty), "");
  empty.mutable_unit_price();
  empty.mutable_movement_at();
  empty.mutable_end_customer()->mutable_address();
  EXPECT_EQ(Hand(empty), empty.SerializeAsString());
  // An accepted line as the service builds it.
  v1::Product p;
  p.set_sku("SSD-2TB");
  p.set_unit_of_measure("EA");
  p.mutable_list_price()->set_currency_code("USD");
  p.mutable_list_price()->set_amount_micros(1);
  v1::PosLine parsed;
  v1::PosLine line;
  line.set_report_id("R1");
  line.set_quantity(-3);
  line.set_invoice_line(-1);
  ASSERT_TRUE(parsed.ParseFromString(Hand(line)));
  EXPECT_EQ(parsed.quantity(), -3);
  EXPECT_EQ(parsed.invoice_line(), -1);
}

TEST(PosLineWireTest, LineOwnerIsProtobufsByteForByte) {
  for (const std::string& report : {std::string(), std::string("R1"), std::string(200, 'r')}) {
    const std::string prefix = LineOwnerPrefix(report);
    for (int64_t n : {int64_t{0}, int64_t{1}, int64_t{127}, int64_t{128}, int64_t{10'000'001},
                      int64_t{-1}, std::numeric_limits<int64_t>::max()}) {
      v1::LineOwner owner;
      owner.set_report_id(report);
      owner.set_line_number(n);
      EXPECT_EQ(EncodeLineOwner(prefix, n), owner.SerializeAsString()) << report << " " << n;
    }
  }
  // Every field of LineOwner is one of the two above.
  EXPECT_EQ(v1::LineOwner::descriptor()->field_count(), 2);
}

}  // namespace
}  // namespace channelops::pos::domain
