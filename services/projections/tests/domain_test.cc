// Pure projection rules: attribution, the credit ledger (credit / clawback /
// adjustment lines), ROI arithmetic. No I/O.

#include <string>
#include <vector>

#include "channelops/core/money.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "projections/domain/attribution.h"
#include "projections/domain/ledger.h"
#include "projections/domain/roi.h"

namespace channelops::projections::domain {
namespace {

using ::testing::ElementsAre;
using ::testing::SizeIs;

core::Money Usd(int64_t micros) { return *core::Money::Create("USD", micros); }

v1::DealRecord Deal(const std::string& id, const std::string& partner, const std::string& approved,
                    std::vector<std::string> products) {
  v1::DealRecord d;
  d.set_deal_id(id);
  d.set_partner_id(partner);
  d.set_customer_key("US|acme");
  d.set_approved_date(approved);
  d.set_expiry_days(30);
  for (auto& p : products) d.add_product_lines(p);
  return d;
}

v1::SaleRecord Sale(const std::string& partner, const std::string& date,
                    const std::string& product_line, const std::string& sku = "SKU-1") {
  v1::SaleRecord s;
  s.set_sale_key("pos:r1/1");
  s.set_partner_id(partner);
  s.set_date(date);
  s.set_product_line(product_line);
  s.set_sku(sku);
  s.set_customer_key("US|acme");
  return s;
}

TEST(AttributionTest, ApprovedAndActiveOnTheSaleDate) {
  v1::DealRecord d = Deal("deal-1", "partner-ny", "2026-01-05", {"storage"});
  EXPECT_FALSE(AttributesOn(d, absl::CivilDay(2026, 1, 4)));
  EXPECT_TRUE(AttributesOn(d, absl::CivilDay(2026, 1, 5)));
  d.set_ended_date("2026-02-10");  // expired
  EXPECT_TRUE(AttributesOn(d, absl::CivilDay(2026, 2, 9)));
  EXPECT_FALSE(AttributesOn(d, absl::CivilDay(2026, 2, 10)));
  d.clear_ended_date();
  d.set_won_date("2026-02-28");  // won: the programme's expiry window of grace
  EXPECT_TRUE(AttributesOn(d, absl::CivilDay(2026, 3, 29)));
  EXPECT_FALSE(AttributesOn(d, absl::CivilDay(2026, 3, 30)));
  v1::DealRecord pending = Deal("deal-2", "partner-ny", "", {"storage"});
  EXPECT_FALSE(AttributesOn(pending, absl::CivilDay(2026, 3, 1)));
}

TEST(AttributionTest, ExplicitReferenceFirstThenEarliestApprovedMatch) {
  std::vector<v1::DealRecord> candidates = {
      Deal("deal-b", "partner-ny", "2026-01-06", {"storage"}),
      Deal("deal-a", "partner-ny", "2026-01-05", {"storage", "sku:sku-9"}),
      Deal("deal-c", "partner-ct", "2026-01-01", {"storage"}),  // another reseller
  };
  auto m =
      AttributeToRegistration(Sale("partner-ny", "2026-01-10", "storage"), nullptr, candidates);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->deal_id, "deal-a");
  EXPECT_EQ(m->how, kMatched);
  // By SKU when the product line differs.
  m = AttributeToRegistration(Sale("partner-ny", "2026-01-10", "compute", "SKU-9"), nullptr,
                              candidates);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->deal_id, "deal-a");
  EXPECT_FALSE(
      AttributeToRegistration(Sale("partner-ny", "2026-01-10", "compute"), nullptr, candidates));
  // The explicit reference wins over a match.
  v1::DealRecord named = Deal("deal-z", "partner-ny", "2026-01-07", {"compute"});
  m = AttributeToRegistration(Sale("partner-ny", "2026-01-10", "storage"), &named, candidates);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->deal_id, "deal-z");
  EXPECT_EQ(m->how, kExplicitReference);
  // ... unless it is another reseller's or not active: then the match.
  named.set_partner_id("partner-ct");
  m = AttributeToRegistration(Sale("partner-ny", "2026-01-10", "storage"), &named, candidates);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->deal_id, "deal-a");
}

TEST(AttributionTest, DirectOpportunityRecordedOnOrBeforeTheSale) {
  v1::DirectOpportunityRecord late;
  late.set_opportunity_id("opp-2");
  late.set_recorded_date("2026-01-20");
  late.add_product_lines("storage");
  v1::DirectOpportunityRecord early = late;
  early.set_opportunity_id("opp-1");
  early.set_recorded_date("2026-01-05");
  v1::DirectOpportunityRecord other = early;
  other.set_opportunity_id("opp-0");
  other.set_product_lines(0, "compute");
  std::vector<v1::DirectOpportunityRecord> opps = {late, other, early};
  EXPECT_EQ(FindDirectOpportunity(Sale("p", "2026-01-04", "storage"), opps), nullptr);
  EXPECT_EQ(FindDirectOpportunity(Sale("p", "2026-01-21", "storage"), opps)->opportunity_id(),
            "opp-1");
}

comp::domain::CreditComponent Component(const std::string& payee, int64_t micros) {
  comp::domain::CreditComponent c{
      comp::domain::ComponentKey(comp::v1::ROLE_CHANNEL_ACCOUNT_MANAGER, payee,
                                 comp::v1::CREDIT_KIND_COMMISSION),
      comp::v1::ROLE_CHANNEL_ACCOUNT_MANAGER,
      payee,
      comp::v1::CREDIT_KIND_COMMISSION,
      Usd(micros * 50),
      200,
      Usd(micros)};
  return c;
}

std::vector<ReturnPart> Back(int64_t micros) { return {{"pos:r9/1", "2026-02-10", Usd(micros)}}; }

TEST(LedgerTest, CreditThenClawbackThenAdjustmentsNeverRewrite) {
  std::vector<v1::PostedComponent> posted;
  int64_t next = 1;
  // The sale: 200.00 to alice.
  auto lines = Reconcile("s1", &next, &posted, {{Component("alice", 200'000'000), {}}});
  ASSERT_TRUE(lines.ok()) << lines.status();
  ASSERT_THAT(*lines, SizeIs(1));
  EXPECT_EQ((*lines)[0].line_id, "s1#1");
  EXPECT_EQ((*lines)[0].kind, v1::LINE_KIND_CREDIT);
  EXPECT_EQ((*lines)[0].original_line_id, "s1#1");
  // A return of 20%: a clawback line referencing the credit.
  lines = Reconcile("s1", &next, &posted, {{Component("alice", 200'000'000), Back(-40'000'000)}});
  ASSERT_TRUE(lines.ok());
  ASSERT_THAT(*lines, SizeIs(1));
  EXPECT_EQ((*lines)[0].kind, v1::LINE_KIND_CLAWBACK);
  EXPECT_EQ((*lines)[0].amount, Usd(-40'000'000));
  EXPECT_EQ((*lines)[0].original_line_id, "s1#1");
  EXPECT_EQ((*lines)[0].return_key, "pos:r9/1");
  EXPECT_EQ((*lines)[0].return_date, "2026-02-10");
  // Nothing changed: no lines.
  lines = Reconcile("s1", &next, &posted, {{Component("alice", 200'000'000), Back(-40'000'000)}});
  ASSERT_TRUE(lines.ok());
  EXPECT_THAT(*lines, SizeIs(0));
  // The CAM changed retroactively: alice's component goes to zero (gross and
  // clawback), bob's is credited.
  lines = Reconcile("s1", &next, &posted, {{Component("bob", 200'000'000), Back(-40'000'000)}});
  ASSERT_TRUE(lines.ok());
  ASSERT_THAT(*lines, SizeIs(4));
  std::vector<std::string> summary;
  for (const auto& l : *lines) {
    summary.push_back(
        absl::StrCat(l.payee_id, " ", v1::LineKind_Name(l.kind), " ", l.amount.micros()));
  }
  EXPECT_THAT(
      summary,
      ElementsAre("alice LINE_KIND_ADJUSTMENT -200000000", "alice LINE_KIND_ADJUSTMENT 40000000",
                  "bob LINE_KIND_CREDIT 200000000", "bob LINE_KIND_CLAWBACK -40000000"));
  EXPECT_FALSE((*lines)[0].rule.has_value());
  EXPECT_EQ(next, 7);
  for (const auto& c : posted) {
    auto net = PostedNet(c);
    ASSERT_TRUE(net.ok());
    EXPECT_EQ(net->micros(), c.payee_id() == "alice" ? 0 : 160'000'000) << c.key();
  }
}

TEST(LedgerTest, ReturnsSplitTheClawbackExactlyInDateOrder) {
  // 3 units, returned one by one, delivered out of order: each part is fixed
  // by (date, key), and the parts add up to the whole.
  auto parts =
      SplitClawback(Usd(1'000'000),
                    {{"r3", "2026-03-01", 1}, {"r1", "2026-01-01", 1}, {"r2", "2026-02-01", 5}}, 3);
  ASSERT_TRUE(parts.ok()) << parts.status();
  ASSERT_THAT(*parts, SizeIs(3));
  EXPECT_EQ((*parts)[0].return_key, "r1");
  EXPECT_EQ((*parts)[0].amount, Usd(-333'333));
  EXPECT_EQ((*parts)[1].return_key, "r2");  // capped at the 2 units left
  EXPECT_EQ((*parts)[1].amount, Usd(-666'667));
  EXPECT_EQ((*parts)[2].amount, Usd(0));
}

TEST(RoiTest, ExactRatioInBasisPoints) {
  auto r = ComputeRoi(Usd(100'000'000), 3000, Usd(10'000'000));  // (30 - 10) / 10
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->defined);
  EXPECT_EQ(r->net_return, Usd(20'000'000));
  EXPECT_EQ(r->roi_bps, 20000);
  EXPECT_EQ(r->roi, "2.0000");
  r = ComputeRoi(Usd(2'222'220'000), 3000, Usd(500'000'000));  // 166.666 / 500 = 0.333332
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->roi_bps, 3333);
  EXPECT_EQ(r->roi, "0.3333");
  r = ComputeRoi(Usd(1), 10000, Usd(3));  // (1 - 3) / 3 = -0.66666..: half away from zero
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->roi_bps, -6667);
  EXPECT_EQ(r->roi, "-0.6667");
  r = ComputeRoi(Usd(5), 3000, Usd(0));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->defined);
  EXPECT_EQ(ComputeRoi(Usd(5), 3000, *core::Money::Create("EUR", 1)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace channelops::projections::domain
