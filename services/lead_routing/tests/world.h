#pragma once

// A test harness for the pure lead routing domain: a RoutingIndex and the
// leads, moved forward only by Decide + Evolve/Apply (what the service does on
// its writer thread, minus storage). Time comes from a FakeClock.

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "channelops/core/clock.h"
#include "gtest/gtest.h"
#include "lead_routing/domain/decider.h"
#include "lead_routing/domain/events.h"
#include "lead_routing/domain/routing_index.h"
#include "lead_routing/domain/validation.h"

namespace channelops::leads::testing {

using domain::Event;

inline std::string LeadIdOf(const Event& e) {
  return std::visit(
      [](const auto& m) -> std::string {
        if constexpr (requires { m.keys(); }) {
          return m.keys().lead_id();
        } else {
          return "";
        }
      },
      e);
}

struct PartnerSpec {
  std::string id;
  int32_t weight = 10;
  bool active = true;
  std::vector<std::string> product_lines = {"security"};
  std::vector<std::string> certifications = {};
  int32_t max_open_leads = 0;
  std::optional<std::pair<double, double>> location;
  int32_t max_misses = 0;
};

struct TerritorySpec {
  std::string id;
  std::vector<std::string> countries = {"US"};
  std::vector<std::string> regions = {};
  std::vector<std::string> postal_prefixes = {};
  std::vector<std::string> industries = {};
  std::string owner;                   // EXCLUSIVE when set
  std::vector<std::string> pool = {};  // SHARED otherwise
  int32_t sla_hours = 0;
  bool performance_bias = false;
  std::vector<std::string> required_certifications = {};
};

struct LeadSpec {
  std::string country = "US";
  std::string region;       // normalised "US-CA"
  std::string postal_code;  // normalised
  std::string industry;
  std::string product = "security";
  std::optional<std::pair<double, double>> location;
  std::string campaign_id = "cmp-1";
};

class World {
 public:
  core::FakeClock clock;
  domain::RoutingIndex index;
  std::map<std::string, v1::Lead> leads;

  domain::Context Ctx() const { return domain::Context{clock.Now(), "manager@vendor"}; }

  void Apply(const std::vector<Event>& events) {
    for (const Event& e : events) {
      index.Apply(e);
      std::string id = LeadIdOf(e);
      if (!id.empty()) leads[id] = domain::Evolve(leads[id], e);
    }
  }

  void Partner(const PartnerSpec& s) {
    v1::PartnerProfile p;
    p.set_partner_id(s.id);
    p.set_active(s.active);
    p.set_tier("GOLD");
    p.set_routing_weight(s.weight);
    for (const auto& l : s.product_lines) p.add_product_lines(l);
    for (const auto& c : s.certifications) p.add_certifications(c);
    p.set_max_open_leads(s.max_open_leads);
    if (s.location) {
      p.mutable_location()->set_latitude(s.location->first);
      p.mutable_location()->set_longitude(s.location->second);
    }
    p.mutable_sla_miss_policy()->set_max_misses(s.max_misses);
    // Through the shape validation, as the service does: normalised input.
    v1::UpsertPartnerProfileRequest req;
    req.set_request_id("r");
    *req.mutable_profile() = p;
    auto valid = domain::ValidateUpsertPartnerProfile(req);
    ASSERT_TRUE(valid.ok()) << valid.status();
    auto events = domain::Decide(index, domain::UpsertPartnerProfile{*valid, false}, Ctx());
    ASSERT_TRUE(events.ok()) << events.status();
    Apply(*events);
  }

  void Territory(const TerritorySpec& s) {
    v1::Territory t;
    t.set_territory_id(s.id);
    for (const auto& c : s.countries) t.add_countries(c);
    for (const auto& r : s.regions) t.add_regions(r);
    for (const auto& p : s.postal_prefixes) t.add_postal_prefixes(p);
    for (const auto& i : s.industries) t.add_industries(i);
    if (!s.owner.empty()) {
      t.set_mode(v1::TERRITORY_MODE_EXCLUSIVE);
      t.set_owner_partner_id(s.owner);
    } else {
      t.set_mode(v1::TERRITORY_MODE_SHARED);
      for (const auto& p : s.pool) t.add_partner_ids(p);
    }
    t.set_acceptance_sla_hours(s.sla_hours);
    t.set_performance_bias(s.performance_bias);
    for (const auto& c : s.required_certifications) t.add_required_certifications(c);
    v1::UpsertTerritoryRequest req;
    req.set_request_id("r");
    *req.mutable_territory() = t;
    auto valid = domain::ValidateUpsertTerritory(req);
    ASSERT_TRUE(valid.ok()) << valid.status();
    auto events = domain::Decide(index, domain::UpsertTerritory{*valid}, Ctx());
    ASSERT_TRUE(events.ok()) << events.status();
    Apply(*events);
  }

  // Decides and, on success, applies. Returns the events (or the error).
  absl::StatusOr<std::vector<Event>> Do(const std::string& lead_id,
                                        const domain::LeadCommand& command) {
    auto it = leads.find(lead_id);
    v1::Lead state = it == leads.end() ? v1::Lead() : it->second;
    auto events = domain::Decide(state, command, index, Ctx());
    if (events.ok()) Apply(*events);
    return events;
  }

  // Submits a lead and returns its id (the routing outcome is in Lead(id)).
  std::string Submit(const LeadSpec& s) {
    std::string id = absl::StrCat("lead-", ++next_lead_);
    domain::SubmitLead c;
    c.lead_id = id;
    c.request.set_request_id(id);
    c.request.set_company("Acme");
    c.request.mutable_contact()->set_name("Jane Doe");
    c.request.mutable_contact()->set_email("jane@acme.com");
    c.request.set_country_code(s.country);
    c.request.set_region(s.region);
    c.request.set_postal_code(s.postal_code);
    c.request.set_industry(s.industry);
    c.request.set_product_interest(s.product);
    c.request.set_campaign_id(s.campaign_id);
    if (s.location) {
      c.request.mutable_location()->set_latitude(s.location->first);
      c.request.mutable_location()->set_longitude(s.location->second);
    }
    auto events = Do(id, c);
    EXPECT_TRUE(events.ok()) << events.status();
    return id;
  }

  const v1::Lead& Lead(const std::string& id) const { return leads.at(id); }
  const v1::PartnerCounters& Counters(const std::string& partner_id) const {
    return index.FindPartner(partner_id)->counters;
  }

 private:
  int next_lead_ = 0;
};

}  // namespace channelops::leads::testing
