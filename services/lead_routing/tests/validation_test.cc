// Shape validation and normalisation: every bad input names its field.

#include "lead_routing/domain/validation.h"

#include <string>
#include <utility>
#include <vector>

#include "channelops/core/grpc_status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lead_routing/domain/normalize.h"

namespace channelops::leads::domain {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Key;
using ::testing::Pair;

std::vector<std::string> Fields(const absl::Status& s) {
  std::vector<std::string> out;
  for (const auto& [field, reason] : core::GetFieldViolations(s)) out.push_back(field);
  return out;
}

v1::SubmitLeadRequest GoodLead() {
  v1::SubmitLeadRequest r;
  r.set_request_id("req-1");
  r.set_company(" Acme Corp ");
  r.mutable_contact()->set_email("jane@acme.com");
  r.set_country_code(" us ");
  r.set_region("ca");
  r.set_postal_code("94105-1234");
  r.set_industry("  Health   Care ");
  r.set_product_interest("Security");
  r.set_score(80);
  return r;
}

TEST(ValidateSubmitLead, NormalisesAGoodLead) {
  auto n = ValidateSubmitLead(GoodLead());
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(n->company(), "Acme Corp");
  EXPECT_EQ(n->country_code(), "US");
  EXPECT_EQ(n->region(), "US-CA");
  EXPECT_EQ(n->postal_code(), "941051234");
  EXPECT_EQ(n->industry(), "health care");
  EXPECT_EQ(n->product_interest(), "security");
}

TEST(ValidateSubmitLead, RejectsBadInputNamingEveryField) {
  v1::SubmitLeadRequest r = GoodLead();
  r.set_request_id("");
  r.set_company("   ");
  r.set_country_code("XX");
  r.set_score(101);
  r.mutable_contact()->set_email("not-an-email");
  r.mutable_location()->set_latitude(91);
  auto n = ValidateSubmitLead(r);
  EXPECT_EQ(n.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Fields(n.status()), ElementsAre("request_id", "company", "contact.email",
                                              "country_code", "score", "location.latitude"));
}

TEST(ValidateSubmitLead, MalformedPostalCodesForTheCountry) {
  for (auto [country, postal] : std::vector<std::pair<std::string, std::string>>{{"US", "1234"},
                                                                                 {"US", "ABCDE"},
                                                                                 {"CA", "123456"},
                                                                                 {"GB", "12345"},
                                                                                 {"DE", "1234"},
                                                                                 {"NL", "1234"},
                                                                                 {"ZA", "!!"}}) {
    v1::SubmitLeadRequest r = GoodLead();
    r.set_country_code(country);
    r.clear_region();
    r.set_postal_code(postal);
    EXPECT_THAT(Fields(ValidateSubmitLead(r).status()), ElementsAre("postal_code"))
        << country << " " << postal;
  }
  for (auto [country, postal] : std::vector<std::pair<std::string, std::string>>{{"US", "10001"},
                                                                                 {"CA", "K1A 0B1"},
                                                                                 {"GB", "SW1A 1AA"},
                                                                                 {"GB", "M1 1AE"},
                                                                                 {"NL", "1012 AB"},
                                                                                 {"JP", "100-0001"},
                                                                                 {"ZA", "0001"}}) {
    v1::SubmitLeadRequest r = GoodLead();
    r.set_country_code(country);
    r.clear_region();
    r.set_postal_code(postal);
    EXPECT_TRUE(ValidateSubmitLead(r).ok()) << country << " " << postal;
  }
}

TEST(ValidateSubmitLead, RegionOrPostalCodeNeedACountry) {
  v1::SubmitLeadRequest r = GoodLead();
  r.clear_country_code();
  EXPECT_THAT(core::GetFieldViolations(ValidateSubmitLead(r).status()),
              ElementsAre(Pair("country_code", "is required when region is given"),
                          Pair("country_code", "is required when postal_code is given")));
  // Without geography at all the lead is valid: a location or the manual queue routes it.
  r.clear_region();
  r.clear_postal_code();
  EXPECT_TRUE(ValidateSubmitLead(r).ok());
}

TEST(ValidateSubmitLead, RegionOfAnotherCountryIsRejected) {
  v1::SubmitLeadRequest r = GoodLead();
  r.set_region("CA-ON");
  EXPECT_THAT(Fields(ValidateSubmitLead(r).status()), ElementsAre("region"));
}

v1::UpsertTerritoryRequest GoodTerritory() {
  v1::UpsertTerritoryRequest r;
  r.set_request_id("req-t");
  v1::Territory* t = r.mutable_territory();
  t->set_territory_id("t-west");
  t->add_countries("us");
  t->add_regions("ca");
  t->add_regions("US-CA");  // duplicate once normalised
  t->add_postal_prefixes("941 0");
  t->add_industries(" Retail ");
  t->set_mode(v1::TERRITORY_MODE_SHARED);
  t->add_partner_ids("p-1");
  t->add_partner_ids("p-2");
  return r;
}

TEST(ValidateUpsertTerritory, NormalisesGeographyAndKeywords) {
  auto t = ValidateUpsertTerritory(GoodTerritory());
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_THAT(t->countries(), ElementsAre("US"));
  EXPECT_THAT(t->regions(), ElementsAre("US-CA"));
  EXPECT_THAT(t->postal_prefixes(), ElementsAre("9410"));
  EXPECT_THAT(t->industries(), ElementsAre("retail"));
}

TEST(ValidateUpsertTerritory, RejectsBadTerritories) {
  v1::UpsertTerritoryRequest r = GoodTerritory();
  v1::Territory* t = r.mutable_territory();
  t->add_countries("UK");  // not ISO (GB is)
  t->add_postal_prefixes("94-1!");
  t->set_acceptance_sla_hours(-1);
  t->add_partner_ids("p-1");
  t->set_owner_partner_id("p-9");
  EXPECT_THAT(Fields(ValidateUpsertTerritory(r).status()),
              ElementsAre("territory.countries[1]", "territory.postal_prefixes[1]",
                          "territory.owner_partner_id", "territory.partner_ids[2]",
                          "territory.acceptance_sla_hours"));
}

TEST(ValidateUpsertTerritory, RegionsNeedACountryPrefixWithSeveralCountries) {
  v1::UpsertTerritoryRequest r = GoodTerritory();
  r.mutable_territory()->add_countries("CA");
  EXPECT_THAT(Fields(ValidateUpsertTerritory(r).status()), ElementsAre("territory.regions[0]"));
  r.mutable_territory()->set_regions(0, "MX-JAL");
  EXPECT_THAT(Fields(ValidateUpsertTerritory(r).status()), ElementsAre("territory.regions[0]"));
}

TEST(ValidateUpsertTerritory, ModeDecidesOwnerOrPool) {
  v1::UpsertTerritoryRequest r = GoodTerritory();
  r.mutable_territory()->set_mode(v1::TERRITORY_MODE_UNSPECIFIED);
  EXPECT_THAT(Fields(ValidateUpsertTerritory(r).status()), ElementsAre("territory.mode"));
  r.mutable_territory()->set_mode(v1::TERRITORY_MODE_EXCLUSIVE);
  EXPECT_THAT(Fields(ValidateUpsertTerritory(r).status()),
              ElementsAre("territory.owner_partner_id", "territory.partner_ids"));
  r.mutable_territory()->clear_countries();
  EXPECT_THAT(Fields(ValidateUpsertTerritory(r).status()), Contains("territory.countries"));
}

v1::UpsertPartnerProfileRequest GoodProfile() {
  v1::UpsertPartnerProfileRequest r;
  r.set_request_id("req-p");
  v1::PartnerProfile* p = r.mutable_profile();
  p->set_partner_id("p-1");
  p->set_active(true);
  p->set_tier(" gold ");
  p->set_routing_weight(50);
  p->add_product_lines("Security");
  p->set_max_open_leads(10);
  return r;
}

TEST(ValidateUpsertPartnerProfile, RejectsNegativeCapacityAndWeightsOutOfRange) {
  ASSERT_TRUE(ValidateUpsertPartnerProfile(GoodProfile()).ok());
  EXPECT_EQ(ValidateUpsertPartnerProfile(GoodProfile())->tier(), "GOLD");
  for (int weight : {0, -1, 101}) {
    v1::UpsertPartnerProfileRequest r = GoodProfile();
    r.mutable_profile()->set_routing_weight(weight);
    EXPECT_THAT(core::GetFieldViolations(ValidateUpsertPartnerProfile(r).status()),
                ElementsAre(Pair("profile.routing_weight", "must be between 1 and 100")))
        << weight;
  }
  v1::UpsertPartnerProfileRequest r = GoodProfile();
  r.mutable_profile()->set_max_open_leads(-5);
  r.mutable_profile()->mutable_location()->set_longitude(200);
  r.mutable_profile()->mutable_sla_miss_policy()->set_max_misses(-1);
  r.mutable_profile()->add_certifications("  ");
  EXPECT_THAT(Fields(ValidateUpsertPartnerProfile(r).status()),
              ElementsAre("profile.certifications[0]", "profile.max_open_leads",
                          "profile.location.longitude", "profile.sla_miss_policy.max_misses"));
}

TEST(ValidateLeadActions, RequireIdsAndReasons) {
  v1::DeclineLeadRequest d;
  EXPECT_THAT(Fields(ValidateDeclineLead(d)),
              ElementsAre("request_id", "lead_id", "partner_id", "reason"));
  v1::CloseLeadRequest c;
  c.set_request_id("r");
  c.set_lead_id("l");
  c.set_reason("lost");
  EXPECT_TRUE(ValidateCloseLead(c).ok()) << "a channel manager closes without a partner";
  v1::ListLeadsRequest l;
  l.set_partner_id("p");
  l.set_page_size(501);
  EXPECT_THAT(Fields(ValidateListLeads(l)), ElementsAre("page_size"));
  v1::AcceptLeadRequest a;
  a.set_request_id("r");
  a.set_lead_id("l");
  a.set_partner_id("has space");
  EXPECT_THAT(Fields(ValidateAcceptLead(a)), ElementsAre("partner_id"));
}

TEST(Normalize, RegionsAndKeywords) {
  EXPECT_EQ(NormalizeRegion("US", " ca "), "US-CA");
  EXPECT_EQ(NormalizeRegion("US", "us-ny"), "US-NY");
  EXPECT_EQ(NormalizeRegion("US", "CA-ON"), "");
  EXPECT_EQ(NormalizeRegion("US", "CALI"), "");
  EXPECT_EQ(NormalizeRegion("", "CA"), "");
  EXPECT_EQ(NormalizeKeyword("  Health \t Care "), "health care");
  EXPECT_THAT(NormalizeKeyword(" "), IsEmpty());
  EXPECT_TRUE(IsValidPostalCode("US", "941051234"));
  EXPECT_FALSE(IsValidPostalCode("US", "9410"));
  EXPECT_TRUE(IsValidPostalCode("XK", "10000")) << "generic format for unlisted countries";
}

}  // namespace
}  // namespace channelops::leads::domain
