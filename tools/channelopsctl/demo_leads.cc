// Lead routing part of the demo: partner routing profiles in three tiers,
// shared territories per state/country plus one exclusive postal territory,
// 5,000 leads from ten campaigns, worked by the partners (accept, decline ->
// re-route, convert to a deal registration, close lost), some leads with no
// territory (nearest partner) or no eligible partner (manual queue).
#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "channelops/leads/v1/leads.grpc.pb.h"
#include "demo.h"

namespace channelops::ctl {

namespace lr = channelops::leads::v1;

LeadsOutcome RunLeadsScenario(const std::string& addr, const DemoWorld& world, int n_leads, int seed,
                              const std::function<std::string(const std::string& partner,
                                                              const std::string& lead_id, int i)>&
                                  register_deal_for_lead) {
  LeadsOutcome out;
  auto stub = lr::LeadRoutingService::NewStub(Connect(addr));
  auto deadline = [] { return std::chrono::system_clock::now() + std::chrono::seconds(30); };
  const std::string run = absl::StrCat("demo", seed);
  const std::vector<std::string> lines = {"net", "sec", "cloud", "storage"};
  std::mt19937 rng(seed + 17);

  // Routing profiles: tier weights 50 / 30 / 20; certified for 2-4 product lines.
  for (int p = 1; p <= world.partners; ++p) {
    lr::UpsertPartnerProfileRequest req;
    req.set_request_id(absl::StrCat(run, "-profile-", p));
    auto* pr = req.mutable_profile();
    pr->set_partner_id(absl::StrFormat("P%03d", p));
    pr->set_name(absl::StrFormat("Partner %03d", p));
    pr->set_active(p % 50 != 0);  // a few inactive partners: they must never get a lead
    const char* tier = p % 10 == 0 ? "PLATINUM" : (p % 3 == 0 ? "GOLD" : "SILVER");
    pr->set_tier(tier);
    pr->set_routing_weight(p % 10 == 0 ? 50 : (p % 3 == 0 ? 30 : 20));
    for (size_t k = 0; k < lines.size(); ++k) {
      if ((p / 8 + k) % 4 != 0) pr->add_product_lines(lines[k]);  // pools mix specialisations
    }
    pr->set_max_open_leads(80);
    const auto& g = world.geo[p % world.geo.size()];
    pr->mutable_location()->set_latitude(g.lat + (rng() % 100) / 100.0);
    pr->mutable_location()->set_longitude(g.lon + (rng() % 100) / 100.0);
    grpc::ClientContext ctx;
    ctx.set_deadline(deadline());
    lr::PartnerProfileResponse resp;
    if (!stub->UpsertPartnerProfile(&ctx, req, &resp).ok()) ++out.rpc_errors;
  }
  // Territories: one shared pool per region, partners assigned round-robin by geo;
  // one exclusive Manhattan territory (postal prefix 100) owned by P010.
  for (size_t gi = 0; gi < world.geo.size(); ++gi) {
    const auto& g = world.geo[gi];
    lr::UpsertTerritoryRequest req;
    req.set_request_id(absl::StrCat(run, "-territory-", gi));
    auto* t = req.mutable_territory();
    t->set_territory_id(absl::StrCat("T-", g.country, "-", g.region));
    t->set_name(absl::StrCat(g.country, " ", g.region));
    t->add_countries(g.country);
    t->add_regions(g.region);
    t->set_mode(lr::TERRITORY_MODE_SHARED);
    t->set_performance_bias(gi % 2 == 0);
    for (int p = 1; p <= world.partners; ++p) {
      if (static_cast<size_t>(p) % world.geo.size() == gi) t->add_partner_ids(absl::StrFormat("P%03d", p));
    }
    grpc::ClientContext ctx;
    ctx.set_deadline(deadline());
    lr::TerritoryResponse resp;
    grpc::Status s = stub->UpsertTerritory(&ctx, req, &resp);
    if (!s.ok()) {
      ++out.rpc_errors;
      fprintf(stderr, "UpsertTerritory: %s\n", s.error_message().c_str());
    }
  }
  {
    lr::UpsertTerritoryRequest req;
    req.set_request_id(run + "-territory-manhattan");
    auto* t = req.mutable_territory();
    t->set_territory_id("T-US-NYC-100");
    t->set_name("Manhattan (exclusive)");
    t->add_countries("US");
    t->add_postal_prefixes("100");
    t->set_mode(lr::TERRITORY_MODE_EXCLUSIVE);
    t->set_owner_partner_id("P010");
    grpc::ClientContext ctx;
    ctx.set_deadline(deadline());
    lr::TerritoryResponse resp;
    if (!stub->UpsertTerritory(&ctx, req, &resp).ok()) ++out.rpc_errors;
  }

  // Leads, worked by the partners that receive them.
  std::mutex mu;
  std::atomic<int> next{0};
  auto worker = [&] {
    while (true) {
      int i = next++;
      if (i >= n_leads) return;
      std::mt19937 r(seed * 31 + i);
      const auto& g = world.geo[r() % world.geo.size()];
      lr::SubmitLeadRequest req;
      req.set_request_id(absl::StrCat(run, "-lead-", i));
      req.set_source(r() % 2 ? "web" : "event");
      // A third of the leads come from partner-run, MDF-funded campaigns.
      std::string funder;
      if (r() % 3 == 0) {
        int fp = 5 * (1 + static_cast<int>(r() % (world.partners / 5)));
        funder = absl::StrFormat("P%03d", fp);
        req.set_campaign_id(absl::StrFormat("camp-P%03d-%d", fp, static_cast<int>(r() % 2)));
      } else {
        req.set_campaign_id(absl::StrCat("web-", r() % 4 + 1));
      }
      req.set_company(absl::StrCat("Prospect ", i, " GmbH"));
      req.mutable_contact()->set_name(absl::StrCat("Buyer ", i));
      req.mutable_contact()->set_email(absl::StrCat("buyer", i, "@prospect", i, ".example"));
      int kind = static_cast<int>(r() % 100);
      if (kind < 4) {
        // No territory information: routed to the nearest eligible partner.
        req.mutable_location()->set_latitude(g.lat);
        req.mutable_location()->set_longitude(g.lon);
      } else {
        req.set_country_code(g.country);
        req.set_region(g.region);
        req.set_postal_code(kind < 10 && g.region == "NY" ? absl::StrCat("100", r() % 90 + 10) : g.postal);
      }
      req.set_product_interest(kind >= 4 && kind < 6 ? "quantum" : lines[r() % lines.size()]);  // nobody sells quantum
      req.set_score(static_cast<int>(r() % 100));
      grpc::ClientContext ctx;
      ctx.set_deadline(deadline());
      lr::LeadResponse resp;
      grpc::Status s = stub->SubmitLead(&ctx, req, &resp);
      if (!s.ok()) {
        std::lock_guard<std::mutex> l(mu);
        if (out.rpc_errors++ < 3) fprintf(stderr, "SubmitLead: %s\n", s.error_message().c_str());
        continue;
      }
      lr::Lead lead = resp.lead();
      // The channel manager keeps a funded campaign's leads with the partner that
      // paid for the campaign (the history keeps the routing decision too).
      if (!funder.empty() && lead.partner_id() != funder && (funder != "P050" && funder != "P100" &&
                                                             funder != "P150" && funder != "P200")) {
        lr::ReassignLeadRequest ra;
        ra.set_request_id(absl::StrCat(run, "-reassign-", i));
        ra.set_lead_id(lead.lead_id());
        ra.set_partner_id(funder);
        ra.set_reason("lead from the partner's own MDF-funded campaign");
        grpc::ClientContext cr;
        cr.set_deadline(deadline());
        lr::LeadResponse rr;
        if (stub->ReassignLead(&cr, ra, &rr).ok()) lead = rr.lead();
      }
      {
        std::lock_guard<std::mutex> l(mu);
        out.by_rule[lr::RoutingRule_Name(lead.last_decision().decided_by())]++;
        out.submitted++;
      }
      // The holder works it: decline (re-routed to the next), accept, convert, close.
      for (int round = 0; round < 3 && lead.status() == lr::LEAD_STATUS_ASSIGNED; ++round) {
        int act = static_cast<int>(r() % 100);
        grpc::ClientContext c2;
        c2.set_deadline(deadline());
        lr::LeadResponse r2;
        if (act < 18) {
          lr::DeclineLeadRequest d;
          d.set_request_id(absl::StrCat(run, "-decline-", i, "-", round));
          d.set_lead_id(lead.lead_id());
          d.set_partner_id(lead.partner_id());
          d.set_reason("outside our focus");
          if (!stub->DeclineLead(&c2, d, &r2).ok()) break;
          std::lock_guard<std::mutex> l(mu);
          out.declined++;
        } else if (act < 88) {
          lr::AcceptLeadRequest a;
          a.set_request_id(absl::StrCat(run, "-accept-", i));
          a.set_lead_id(lead.lead_id());
          a.set_partner_id(lead.partner_id());
          if (!stub->AcceptLead(&c2, a, &r2).ok()) break;
          std::lock_guard<std::mutex> l(mu);
          out.accepted++;
        } else {
          std::lock_guard<std::mutex> l(mu);
          out.left_waiting++;  // would time out after the territory's SLA
          break;
        }
        lead = r2.lead();
      }
      if (lead.status() == lr::LEAD_STATUS_ACCEPTED) {
        int act = static_cast<int>(r() % 100);
        if (act < 35) {
          std::string deal_id = register_deal_for_lead(lead.partner_id(), lead.lead_id(), i);
          if (!deal_id.empty()) {
            lr::ConvertLeadRequest c;
            c.set_request_id(absl::StrCat(run, "-convert-", i));
            c.set_lead_id(lead.lead_id());
            c.set_partner_id(lead.partner_id());
            c.set_deal_id(deal_id);
            grpc::ClientContext c3;
            c3.set_deadline(deadline());
            lr::LeadResponse r3;
            if (stub->ConvertLead(&c3, c, &r3).ok()) {
              std::lock_guard<std::mutex> l(mu);
              out.converted++;
              out.conversions.push_back({lead.partner_id(), deal_id, absl::StrCat("Prospect ", i, " GmbH")});
            }
          }
        } else if (act < 55) {
          lr::CloseLeadRequest c;
          c.set_request_id(absl::StrCat(run, "-close-", i));
          c.set_lead_id(lead.lead_id());
          c.set_partner_id(lead.partner_id());
          c.set_reason("no budget");
          grpc::ClientContext c3;
          c3.set_deadline(deadline());
          lr::LeadResponse r3;
          if (stub->CloseLead(&c3, c, &r3).ok()) {
            std::lock_guard<std::mutex> l(mu);
            out.closed_lost++;
          }
        }
      }
    }
  };
  std::vector<std::thread> ts;
  for (int t = 0; t < 8; ++t) ts.emplace_back(worker);
  for (auto& t : ts) t.join();

  // Partner statistics, best acceptance first.
  for (int p = 1; p <= world.partners; ++p) {
    lr::GetPartnerLeadStatsRequest req;
    req.set_partner_id(absl::StrFormat("P%03d", p));
    grpc::ClientContext ctx;
    ctx.set_deadline(deadline());
    lr::PartnerLeadStats st;
    if (stub->GetPartnerLeadStats(&ctx, req, &st).ok()) {
      out.received_by_partner.emplace_back(st.partner_id(), st.received());
      if (p % 50 == 0 && st.received() > 0) out.inactive_partner_got_leads = true;
    }
  }
  {
    lr::ListUnroutedLeadsRequest req;
    req.set_page_size(500);
    grpc::ClientContext ctx;
    ctx.set_deadline(deadline());
    lr::ListLeadsResponse resp;
    if (stub->ListUnroutedLeads(&ctx, req, &resp).ok()) out.manual_queue = resp.leads_size();
  }
  return out;
}

}  // namespace channelops::ctl
