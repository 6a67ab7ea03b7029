// Domain tests of the routing pipeline, one rule at a time: given partners
// and territories, when a lead is submitted (or declined, or times out), then
// it goes to the expected partner, or to the manual queue, with the rule that
// decided it.

#include <map>
#include <string>
#include <vector>

#include "channelops/core/grpc_status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lead_routing/domain/geo.h"
#include "lead_routing/domain/router.h"
#include "world.h"

namespace channelops::leads {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::LeadSpec;
using testing::World;

std::vector<v1::RoutingRule> StepRules(const v1::Lead& lead) {
  std::vector<v1::RoutingRule> out;
  for (const auto& s : lead.last_decision().steps()) out.push_back(s.rule());
  return out;
}

// ---------------------------------------------------------------------------
// TERRITORY: the most specific match wins.
// ---------------------------------------------------------------------------

class TerritoryRuleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* id : {"p-country", "p-region", "p-zip3", "p-zip5", "p-health", "p-a", "p-b"}) {
      w.Partner({.id = id});
    }
    w.Territory({.id = "t-us", .owner = "p-country"});
    w.Territory({.id = "t-ca", .regions = {"CA"}, .owner = "p-region"});
    w.Territory({.id = "t-941", .postal_prefixes = {"941"}, .owner = "p-zip3"});
    w.Territory({.id = "t-94105", .postal_prefixes = {"94105"}, .owner = "p-zip5"});
  }
  World w;
};

TEST_F(TerritoryRuleTest, LongestPostalPrefixBeatsShorterPrefixRegionAndCountry) {
  std::string id = w.Submit({.region = "US-CA", .postal_code = "94105"});
  const v1::Lead& lead = w.Lead(id);
  EXPECT_EQ(lead.status(), v1::LEAD_STATUS_ASSIGNED);
  EXPECT_EQ(lead.partner_id(), "p-zip5");
  EXPECT_EQ(lead.territory_id(), "t-94105");
  EXPECT_EQ(lead.last_decision().decided_by(), v1::ROUTING_RULE_EXCLUSIVE_OWNER);
  EXPECT_THAT(lead.last_decision().steps(0).detail(), HasSubstr("postal prefix '94105'"));
}

TEST_F(TerritoryRuleTest, ShorterPrefixWhenTheLongerDoesNotMatch) {
  std::string id = w.Submit({.region = "US-CA", .postal_code = "94110"});
  EXPECT_EQ(w.Lead(id).partner_id(), "p-zip3");
}

TEST_F(TerritoryRuleTest, RegionWhenNoPrefixMatches) {
  std::string id = w.Submit({.region = "US-CA", .postal_code = "90210"});
  EXPECT_EQ(w.Lead(id).partner_id(), "p-region");
  EXPECT_EQ(w.Lead(id).territory_id(), "t-ca");
}

TEST_F(TerritoryRuleTest, CountryWhenNothingMoreSpecificMatches) {
  std::string id = w.Submit({.region = "US-NY", .postal_code = "10001"});
  EXPECT_EQ(w.Lead(id).partner_id(), "p-country");
}

TEST_F(TerritoryRuleTest, IndustrySpecificBeatsAnyIndustryAtTheSameLevel) {
  w.Territory({.id = "t-zz-any", .postal_prefixes = {"100"}, .owner = "p-a"});
  w.Territory({.id = "t-health",
               .postal_prefixes = {"100"},
               .industries = {"healthcare"},
               .owner = "p-health"});
  EXPECT_EQ(w.Lead(w.Submit({.postal_code = "10001", .industry = "healthcare"})).partner_id(),
            "p-health");
  EXPECT_EQ(w.Lead(w.Submit({.postal_code = "10001", .industry = "retail"})).partner_id(), "p-a");
}

TEST_F(TerritoryRuleTest, EqualSpecificityTiesToTheSmallestTerritoryId) {
  w.Territory({.id = "t-b", .postal_prefixes = {"606"}, .owner = "p-b"});
  w.Territory({.id = "t-a", .postal_prefixes = {"606"}, .owner = "p-a"});
  EXPECT_EQ(w.Lead(w.Submit({.postal_code = "60601"})).territory_id(), "t-a");
}

TEST_F(TerritoryRuleTest, ReplacingATerritoryReindexesIt) {
  w.Territory({.id = "t-941", .postal_prefixes = {"100"}, .owner = "p-zip3"});
  EXPECT_EQ(w.Lead(w.Submit({.region = "US-CA", .postal_code = "94110"})).partner_id(), "p-region");
  EXPECT_EQ(w.Lead(w.Submit({.postal_code = "10001"})).partner_id(), "p-zip3");
  EXPECT_EQ(w.index.FindTerritory("t-941")->territory.version(), 2u);
}

TEST(TerritoryRule, LeadWithoutCountryOrLocationGoesToTheManualQueue) {
  World w;
  w.Partner({.id = "p-1"});
  w.Territory({.id = "t-us", .owner = "p-1"});
  std::string id = w.Submit({.country = ""});
  const v1::Lead& lead = w.Lead(id);
  EXPECT_EQ(lead.status(), v1::LEAD_STATUS_UNROUTED);
  EXPECT_EQ(lead.partner_id(), "");
  EXPECT_EQ(lead.last_decision().decided_by(), v1::ROUTING_RULE_TERRITORY);
  EXPECT_THAT(lead.unrouted_reason(), HasSubstr("no location"));
}

// ---------------------------------------------------------------------------
// ELIGIBILITY, CAPACITY, PRIOR_RESPONSE narrow the pool, in that order.
// ---------------------------------------------------------------------------

TEST(EligibilityRule, SkipsInactiveAndUncertifiedPartners) {
  World w;
  w.Partner({.id = "p-inactive", .active = false});
  w.Partner({.id = "p-network-only", .product_lines = {"network"}});
  w.Partner({.id = "p-ok"});
  w.Territory({.id = "t", .pool = {"p-inactive", "p-network-only", "p-ok"}});
  for (int i = 0; i < 5; ++i) {
    std::string id = w.Submit({});
    EXPECT_EQ(w.Lead(id).partner_id(), "p-ok");
    const auto& steps = w.Lead(id).last_decision().steps();
    EXPECT_EQ(steps[1].rule(), v1::ROUTING_RULE_ELIGIBILITY);
    EXPECT_EQ(steps[1].candidates_before(), 3);
    EXPECT_EQ(steps[1].candidates_after(), 1);
    EXPECT_THAT(steps[1].detail(), HasSubstr("1 inactive"));
    EXPECT_THAT(steps[1].detail(), HasSubstr("1 not certified for 'security'"));
  }
}

TEST(EligibilityRule, RequiresTheTerritoryCertifications) {
  World w;
  w.Partner({.id = "p-plain"});
  w.Partner({.id = "p-cert", .certifications = {"cloud expert"}});
  w.Territory(
      {.id = "t", .pool = {"p-plain", "p-cert"}, .required_certifications = {"cloud expert"}});
  EXPECT_EQ(w.Lead(w.Submit({})).partner_id(), "p-cert");
  EXPECT_EQ(w.Lead(w.Submit({})).partner_id(), "p-cert");
}

TEST(EligibilityRule, NobodyEligibleQueuesTheLeadNamingTheRule) {
  World w;
  w.Partner({.id = "p-1", .active = false});
  w.Territory({.id = "t", .owner = "p-1"});
  const v1::Lead& lead = w.Lead(w.Submit({}));
  EXPECT_EQ(lead.status(), v1::LEAD_STATUS_UNROUTED);
  EXPECT_EQ(lead.last_decision().decided_by(), v1::ROUTING_RULE_ELIGIBILITY);
  EXPECT_EQ(lead.territory_id(), "t");
  EXPECT_THAT(lead.unrouted_reason(), HasSubstr("eligibility"));
  EXPECT_THAT(lead.unrouted_reason(), HasSubstr("1 inactive"));
  EXPECT_THAT(StepRules(lead),
              ElementsAre(v1::ROUTING_RULE_TERRITORY, v1::ROUTING_RULE_ELIGIBILITY,
                          v1::ROUTING_RULE_CAPACITY, v1::ROUTING_RULE_PRIOR_RESPONSE));
}

TEST(CapacityRule, PartnerAtMaxOpenLeadsIsSkippedUntilALeadIsReleased) {
  World w;
  w.Partner({.id = "p-small", .weight = 100, .max_open_leads = 1});
  w.Partner({.id = "p-big", .weight = 1});
  w.Territory({.id = "t", .pool = {"p-small", "p-big"}});
  std::string first = w.Submit({});
  EXPECT_EQ(w.Lead(first).partner_id(), "p-small");
  // p-small is full: p-big gets the next ones even though its weight is tiny.
  std::string second = w.Submit({});
  EXPECT_EQ(w.Lead(second).partner_id(), "p-big");
  EXPECT_THAT(w.Lead(second).last_decision().steps(2).detail(), HasSubstr("1 at capacity"));
  // Releasing the first (decline) frees the capacity.
  ASSERT_TRUE(w.Do(first, domain::DeclineLead{"p-small", "not our segment"}).ok());
  EXPECT_EQ(w.Lead(first).partner_id(), "p-big");
  EXPECT_EQ(w.Lead(w.Submit({})).partner_id(), "p-small");
}

TEST(CapacityRule, EveryoneAtCapacityQueuesTheLead) {
  World w;
  w.Partner({.id = "p-1", .max_open_leads = 1});
  w.Territory({.id = "t", .owner = "p-1"});
  w.Submit({});
  const v1::Lead& lead = w.Lead(w.Submit({}));
  EXPECT_EQ(lead.status(), v1::LEAD_STATUS_UNROUTED);
  EXPECT_EQ(lead.last_decision().decided_by(), v1::ROUTING_RULE_CAPACITY);
}

TEST(PriorResponseRule, ADeclinedLeadIsNeverOfferedAgainToTheDecliner) {
  World w;
  w.Partner({.id = "p-1"});
  w.Partner({.id = "p-2"});
  w.Partner({.id = "p-3"});
  w.Territory({.id = "t", .pool = {"p-1", "p-2", "p-3"}});
  std::string id = w.Submit({});
  std::vector<std::string> holders = {w.Lead(id).partner_id()};
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(w.Do(id, domain::DeclineLead{w.Lead(id).partner_id(), "busy"}).ok());
    holders.push_back(w.Lead(id).partner_id());
  }
  std::sort(holders.begin(), holders.end());
  EXPECT_THAT(holders, ElementsAre("p-1", "p-2", "p-3"));
  // The third decline leaves nobody.
  ASSERT_TRUE(w.Do(id, domain::DeclineLead{w.Lead(id).partner_id(), "busy"}).ok());
  const v1::Lead& lead = w.Lead(id);
  EXPECT_EQ(lead.status(), v1::LEAD_STATUS_UNROUTED);
  EXPECT_EQ(lead.last_decision().decided_by(), v1::ROUTING_RULE_PRIOR_RESPONSE);
  EXPECT_EQ(lead.excluded_partner_ids_size(), 3);
  EXPECT_EQ(lead.routing_attempts(), 4);
}

TEST(PriorResponseRule, ExclusiveOwnerWhoDeclinedSendsTheLeadToTheQueue) {
  World w;
  w.Partner({.id = "p-owner"});
  w.Partner({.id = "p-other"});
  w.Territory({.id = "t", .owner = "p-owner"});
  std::string id = w.Submit({});
  ASSERT_TRUE(w.Do(id, domain::DeclineLead{"p-owner", "no"}).ok());
  EXPECT_EQ(w.Lead(id).status(), v1::LEAD_STATUS_UNROUTED);
  EXPECT_EQ(w.Lead(id).last_decision().decided_by(), v1::ROUTING_RULE_PRIOR_RESPONSE);
}

// ---------------------------------------------------------------------------
// NEAREST_PARTNER: no territory matched.
// ---------------------------------------------------------------------------

TEST(NearestPartnerRule, NearestQualifyingPartnerByGreatCircleDistance) {
  World w;
  // Lead in Lyon. Paris ~392 km, Geneva ~112 km (but not certified), Milan ~336 km.
  w.Partner({.id = "p-paris", .location = std::make_pair(48.8566, 2.3522)});
  w.Partner({.id = "p-geneva",
             .product_lines = {"network"},
             .location = std::make_pair(46.2044, 6.1432)});
  w.Partner({.id = "p-milan", .location = std::make_pair(45.4642, 9.19)});
  w.Partner({.id = "p-nowhere"});
  std::string id = w.Submit({.country = "FR", .location = std::make_pair(45.764, 4.8357)});
  const v1::Lead& lead = w.Lead(id);
  EXPECT_EQ(lead.partner_id(), "p-milan");
  EXPECT_EQ(lead.last_decision().decided_by(), v1::ROUTING_RULE_NEAREST_PARTNER);
  EXPECT_NEAR(lead.last_decision().distance_km(), 336, 5);
  EXPECT_THAT(lead.last_decision().steps(1).detail(),
              HasSubstr("1 nearer partners did not qualify"));
  EXPECT_EQ(lead.territory_id(), "");
}

TEST(NearestPartnerRule, NoQualifyingLocatedPartnerQueuesTheLead) {
  World w;
  w.Partner({.id = "p-1", .active = false, .location = std::make_pair(0.0, 0.0)});
  const v1::Lead& lead = w.Lead(w.Submit({.country = "GH", .location = std::make_pair(5.6, -0.2)}));
  EXPECT_EQ(lead.status(), v1::LEAD_STATUS_UNROUTED);
  EXPECT_EQ(lead.last_decision().decided_by(), v1::ROUTING_RULE_NEAREST_PARTNER);
}

TEST(Geo, HaversineMatchesKnownDistances) {
  EXPECT_NEAR(domain::HaversineKm(51.5074, -0.1278, 48.8566, 2.3522), 343.5, 1.0);  // London-Paris
  EXPECT_NEAR(domain::HaversineKm(40.7128, -74.006, 34.0522, -118.2437), 3936, 5);  // NYC-LA
  EXPECT_NEAR(domain::HaversineKm(0, 179.5, 0, -179.5), 111.2, 0.5);                // antimeridian
}

// ---------------------------------------------------------------------------
// WEIGHTED_ROTATION
// ---------------------------------------------------------------------------

TEST(WeightedRotation, SharesOver10000LeadsAreWithin2PercentOfTheWeights) {
  World w;
  std::map<std::string, int> weights = {{"p-10", 10}, {"p-20", 20}, {"p-30", 30}, {"p-40", 40}};
  std::vector<std::string> pool;
  for (const auto& [id, weight] : weights) {
    w.Partner({.id = id, .weight = weight});
    pool.push_back(id);
  }
  w.Territory({.id = "t", .pool = pool});
  std::map<std::string, int> got;
  constexpr int kLeads = 10000;
  for (int i = 0; i < kLeads; ++i) {
    std::string id = w.Submit({});
    ASSERT_EQ(w.Lead(id).last_decision().decided_by(), v1::ROUTING_RULE_WEIGHTED_ROTATION);
    ++got[w.Lead(id).partner_id()];
    // Partners accept and convert: capacity is never the constraint here.
    ASSERT_TRUE(w.Do(id, domain::AcceptLead{w.Lead(id).partner_id()}).ok());
    ASSERT_TRUE(w.Do(id, domain::ConvertLead{w.Lead(id).partner_id(), "deal"}).ok());
  }
  for (const auto& [id, weight] : weights) {
    double share = static_cast<double>(got[id]) / kLeads;
    EXPECT_NEAR(share, weight / 100.0, 0.02) << id << " got " << got[id];
    // Stride scheduling is in fact exact to within one lead.
    EXPECT_NEAR(got[id], kLeads * weight / 100, 1) << id;
  }
}

TEST(WeightedRotation, IsDeterministicAndInterleavesRatherThanBursting) {
  auto run = [] {
    World w;
    w.Partner({.id = "p-a", .weight = 1});
    w.Partner({.id = "p-b", .weight = 2});
    w.Territory({.id = "t", .pool = {"p-a", "p-b"}});
    std::string seq;
    for (int i = 0; i < 9; ++i) seq += w.Lead(w.Submit({})).partner_id().back();
    return seq;
  };
  std::string first = run();
  EXPECT_EQ(first, run());
  // Ties go to the heavier partner; then b, a, b, b, a, b ... never a run of a's.
  EXPECT_EQ(first, "babbabbab");
}

TEST(WeightedRotation, APartnerJoiningLateStartsAtTheCurrentPassInsteadOfCatchingUp) {
  World w;
  w.Partner({.id = "p-old", .weight = 10});
  w.Partner({.id = "p-new", .weight = 10});
  w.Territory({.id = "t", .pool = {"p-old"}});
  for (int i = 0; i < 100; ++i) w.Submit({});
  w.Territory({.id = "t", .pool = {"p-old", "p-new"}});
  std::map<std::string, int> got;
  for (int i = 0; i < 10; ++i) ++got[w.Lead(w.Submit({})).partner_id()];
  // p-new re-enters at the rotation's current pass: it is at most one lead
  // ahead (6 / 4), not 10 / 0 as it would be if it started from zero.
  EXPECT_EQ(got["p-new"], 6);
  EXPECT_EQ(got["p-old"], 4);
}

// Rotation shares out offers (LeadRouted), re-routes included: a partner that
// declines still consumes its share, and the partner that takes the declined
// lead is charged for it. With performance_bias the shares move toward the
// partners that accept and convert.
TEST(WeightedRotation, PerformanceBiasShiftsOffersTowardPartnersThatAcceptAndConvert) {
  auto offers_to_good = [](bool bias) {
    World w;
    w.Partner({.id = "p-good", .weight = 10});
    w.Partner({.id = "p-poor", .weight = 10});
    w.Territory({.id = "t", .pool = {"p-good", "p-poor"}, .performance_bias = bias});
    for (int i = 0; i < 2000; ++i) {
      std::string id = w.Submit({});
      std::string holder = w.Lead(id).partner_id();
      if (holder == "p-poor") {
        // p-poor declines everything; the lead is offered to p-good.
        EXPECT_TRUE(w.Do(id, domain::DeclineLead{holder, "no"}).ok());
        holder = w.Lead(id).partner_id();
        EXPECT_EQ(holder, "p-good");
      }
      EXPECT_TRUE(w.Do(id, domain::AcceptLead{holder}).ok());
      // p-good converts every other lead.
      if (i % 2) {
        EXPECT_TRUE(w.Do(id, domain::ConvertLead{holder, "deal"}).ok());
      } else {
        EXPECT_TRUE(w.Do(id, domain::CloseLead{holder, "lost"}).ok());
      }
    }
    double good = static_cast<double>(w.Counters("p-good").received());
    return good / (good + static_cast<double>(w.Counters("p-poor").received()));
  };
  double unbiased = offers_to_good(false);
  double biased = offers_to_good(true);
  EXPECT_NEAR(unbiased, 0.5, 0.01) << "equal weights, equal offers";
  // p-poor's factor falls toward 500 + 0 + 250 (no acceptances; conversion
  // prior), p-good's rises toward 500 + 500 + 250: about 62% of the offers.
  EXPECT_GT(biased, 0.58);
  EXPECT_LT(biased, 0.70) << "a poor performer still gets a (smaller) share";
}

TEST(ExclusiveOwner, GetsEveryLeadOfItsTerritory) {
  World w;
  w.Partner({.id = "p-owner", .weight = 1});
  w.Partner({.id = "p-heavy", .weight = 100});
  w.Territory({.id = "t", .owner = "p-owner"});
  for (int i = 0; i < 20; ++i) {
    const v1::Lead& lead = w.Lead(w.Submit({}));
    EXPECT_EQ(lead.partner_id(), "p-owner");
    EXPECT_EQ(lead.last_decision().decided_by(), v1::ROUTING_RULE_EXCLUSIVE_OWNER);
  }
}

TEST(RoutingEvents, CarryWhatDownstreamNeeds) {
  World w;
  w.Partner({.id = "p-1"});
  w.Territory({.id = "t", .owner = "p-1", .sla_hours = 24});
  domain::SubmitLead c;
  c.lead_id = "lead-x";
  c.request.set_company("Acme");
  c.request.set_country_code("US");
  c.request.set_product_interest("security");
  c.request.set_campaign_id("cmp-42");
  c.request.set_source("web");
  auto events = w.Do("lead-x", c);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 2u);
  const auto& routed = std::get<v1::LeadRouted>((*events)[1]);
  EXPECT_EQ(routed.keys().lead_id(), "lead-x");
  EXPECT_EQ(routed.keys().campaign_id(), "cmp-42");
  EXPECT_EQ(routed.keys().source(), "web");
  EXPECT_EQ(routed.partner_id(), "p-1");
  EXPECT_EQ(routed.territory_id(), "t");
  EXPECT_EQ(routed.rule(), v1::ROUTING_RULE_EXCLUSIVE_OWNER);
  EXPECT_EQ(routed.attempt(), 1);
  EXPECT_EQ(routed.acceptance_sla_hours(), 24);
  EXPECT_EQ(domain::FromProtoTime(routed.accept_deadline()), w.clock.Now() + absl::Hours(24));
  EXPECT_EQ(domain::FromProtoTime(routed.occurred_at()), w.clock.Now());
  EXPECT_EQ(domain::StreamOf((*events)[1]), "lead-lead-x");
}

}  // namespace
}  // namespace channelops::leads
