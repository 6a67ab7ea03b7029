// The demo scenario, driven only through the public gRPC APIs, then checked
// against the events on Kafka. Deterministic for a seed: request ids derive from
// the seed, so running it twice against the same stack replays the same answers
// (idempotency) instead of creating new facts.
//
// Deal registration: 200 partners in three tiers, one programme with rules of
// engagement, 2,000 registrations over 500 end customers typed the way partners
// type them (name variants, subdomains), government and named accounts, small
// and ineligible deals, CRM direct opportunities before and after partners,
// channel-manager decisions, special pricing (SPA) in three tiers, won and lost
// closes, and the SPA forecast.
#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/ascii.h"
#include "absl/time/clock.h"
#include "channelops/common/v1/envelope.pb.h"
#include "channelops/dealreg/v1/dealreg.grpc.pb.h"
#include "channelopsctl.h"
#include "demo.h"

namespace channelops::ctl {
namespace {

namespace dr = channelops::dealreg::v1;
using common::v1::Money;

Money Usd(int64_t units) {
  Money m;
  m.set_currency_code("USD");
  m.set_amount_micros(units * 1'000'000);
  return m;
}

std::string FormatUsd(int64_t micros) {
  bool neg = micros < 0;
  uint64_t u = static_cast<uint64_t>(neg ? -micros : micros) / 1'000'000;
  std::string s = std::to_string(u);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(i, ",");
  return absl::StrCat(neg ? "-$" : "$", s);
}

std::string CivilDate(absl::Time t) { return absl::FormatTime("%Y-%m-%d", t, absl::UTCTimeZone()); }

struct Customer {
  std::string base;     // canonical name
  std::string domain;   // registrable domain
  std::string country, region, postal;
  std::string account_type;
};

// Partners type the same company differently; normalisation must see through it.
std::string Variant(const std::string& base, std::mt19937& rng) {
  switch (rng() % 5) {
    case 0: return base + " Corp.";
    case 1: return base + " Corporation";
    case 2: {
      std::string up = base;
      std::transform(up.begin(), up.end(), up.begin(), ::toupper);
      return up + ", Inc";
    }
    case 3: return base + " LLC";
    default: return base;
  }
}

struct Stats {
  std::mutex mu;
  std::map<std::string, int> by_status;
  std::map<std::string, int> by_reason;
  std::map<std::string, int64_t> approved_pipeline_by_partner;  // micros
  std::vector<std::string> approved_ids, pending_ids;
  int rpc_errors = 0;
  int existing_returned = 0;
};

std::map<std::string, int64_t> CountTopic(const std::string& bootstrap, const std::string& topic,
                                          int64_t* total) {
  std::map<std::string, int64_t> by_type;
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), err, sizeof(err));
  rd_kafka_conf_set(conf, "group.id", absl::StrCat("channelops-demo-", getpid()).c_str(), err, sizeof(err));
  rd_kafka_conf_set(conf, "enable.partition.eof", "true", err, sizeof(err));
  rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof(err));
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
  if (!rk) return by_type;
  rd_kafka_poll_set_consumer(rk);
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  int partitions = 0;
  if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1) {
    partitions = md->topics[0].partition_cnt;
  }
  if (md) rd_kafka_metadata_destroy(md);
  rd_kafka_topic_destroy(rkt);
  rd_kafka_topic_partition_list_t* parts = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; ++p) {
    rd_kafka_topic_partition_list_add(parts, topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  }
  rd_kafka_assign(rk, parts);
  rd_kafka_topic_partition_list_destroy(parts);
  std::set<uint64_t> positions;  // at-least-once: dedupe by global position
  int eof = 0;
  absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (eof < partitions && absl::Now() < deadline) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 500);
    if (!m) continue;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      ++eof;
    } else if (!m->err) {
      common::v1::EventEnvelope env;
      if (env.ParseFromArray(m->payload, static_cast<int>(m->len)) &&
          positions.insert(env.global_position()).second) {
        by_type[env.event_type()]++;
      }
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  *total = static_cast<int64_t>(positions.size());
  return by_type;
}

std::string SvgBars(const std::vector<std::pair<std::string, double>>& rows, const std::string& unit) {
  double max = 1;
  for (auto& [_, v] : rows) max = std::max(max, v);
  int h = 24 * static_cast<int>(rows.size()) + 10;
  std::string svg = absl::StrFormat("<svg width=\"720\" height=\"%d\" xmlns=\"http://www.w3.org/2000/svg\">", h);
  int y = 5;
  for (auto& [label, v] : rows) {
    int w = static_cast<int>(440 * v / max);
    absl::StrAppendFormat(&svg,
                          "<text x=\"0\" y=\"%d\" font-size=\"12\">%s</text>"
                          "<rect x=\"200\" y=\"%d\" width=\"%d\" height=\"16\" fill=\"#3b7dd8\"/>"
                          "<text x=\"%d\" y=\"%d\" font-size=\"12\">%s</text>",
                          y + 13, label, y, std::max(w, 1), 206 + w, y + 13,
                          unit == "$" ? FormatUsd(static_cast<int64_t>(v)) : absl::StrCat(static_cast<int64_t>(v)));
    y += 24;
  }
  return svg + "</svg>";
}

}  // namespace

int RunDemo(const Flags& flags) {
  const std::string addr = Flag(flags, "deal_registration", "127.0.0.1:50051");
  const std::string kafka = Flag(flags, "kafka", "127.0.0.1:9092");
  const std::string html_path = Flag(flags, "report_html", "var/report.html");
  const int seed = std::stoi(Flag(flags, "seed", "2027"));
  const int n_partners = std::stoi(Flag(flags, "partners", "200"));
  const int n_deals = std::stoi(Flag(flags, "deals", "2000"));
  const int n_customers = std::max(10, n_deals * 3 / 5);
  const int threads = std::stoi(Flag(flags, "threads", "8"));
  std::mt19937 rng(seed);
  const std::string run = absl::StrCat("demo", seed);
  auto stub = dr::DealRegistrationService::NewStub(Connect(addr));
  auto deadline = [] { return std::chrono::system_clock::now() + std::chrono::seconds(30); };
  absl::Time t0 = absl::Now();

  // ---- Programme rules of engagement ----
  const std::vector<std::string> named = {"Globex", "Initech", "Umbrella", "Hooli", "Stark Industries"};
  {
    dr::SetProgramRulesRequest req;
    req.set_request_id(run + "-rules");
    auto* r = req.mutable_rules();
    r->set_program_id("partner-first-2027");
    r->set_currency_code("USD");
    *r->mutable_min_deal_amount() = Usd(5'000);
    r->add_excluded_account_types("GOVERNMENT");
    r->add_excluded_account_types("NATIONAL");
    for (const auto& n : named) {
      auto* na = r->add_named_accounts();
      na->set_name(n);
      na->set_country_code("US");
    }
    for (const char* pl : {"NET", "SEC", "CLOUD", "STORAGE"}) r->add_eligible_product_lines(pl);
    r->set_expiry_days(30);
    r->set_approval_mode(dr::APPROVAL_MODE_AUTO);
    *r->mutable_auto_approve_max_amount() = Usd(50'000);
    r->mutable_benefits()->set_extra_margin_bps(500);
    *r->mutable_benefits()->mutable_incentive() = Usd(1'000);
    r->mutable_benefits()->set_exclusivity(true);
    r->set_spa_auto_approve_max_bps(1000);
    auto* t1 = r->add_spa_tiers();
    t1->set_max_discount_bps(2000);
    t1->set_approver_role("channel_manager");
    auto* t2 = r->add_spa_tiers();
    t2->set_max_discount_bps(3500);
    t2->set_approver_role("director");
    grpc::ClientContext ctx;
    ctx.set_deadline(deadline());
    dr::SetProgramRulesResponse resp;
    grpc::Status s = stub->SetProgramRules(&ctx, req, &resp);
    if (!s.ok()) {
      std::cerr << "SetProgramRules failed: " << s.error_message() << "\n";
      return 1;
    }
    std::cout << "programme partner-first-2027: rules version " << resp.rules().version() << "\n";
  }

  // ---- Compensation plan and assignments (before any sale is credited) ----
  const std::string comp_addr = Flag(flags, "compensation", "");
  const std::string projections_addr = Flag(flags, "projections", "");
  int comp_errors = 0;
  // (world is filled below; assignments need its geography)

  // ---- Customers, partners ----
  const std::vector<std::string> syll = {"ac", "me", "zen", "tri", "no", "va", "lux", "or", "bit", "ka",
                                         "lo", "ra", "quant", "sys", "dyn", "ex", "io", "pex", "tor", "vel"};
  DemoWorld world;
  world.partners = n_partners;
  world.geo = {{"US", "NY", "12207", 42.65, -73.75}, {"US", "CT", "06103", 41.76, -72.67},
               {"US", "CA", "94105", 37.79, -122.39}, {"US", "TX", "75201", 32.78, -96.80},
               {"US", "MA", "02110", 42.36, -71.05},  {"DE", "BY", "80331", 48.14, 11.58},
               {"GB", "LND", "EC1A1BB", 51.52, -0.10}, {"FR", "IDF", "75001", 48.86, 2.34}};
  const auto& geo = world.geo;
  if (!comp_addr.empty()) comp_errors += SetUpCompensation(comp_addr, world, seed);
  std::vector<Customer> customers;
  std::set<std::string> used;
  while (static_cast<int>(customers.size()) < n_customers) {
    std::string n = syll[rng() % syll.size()] + syll[rng() % syll.size()] + syll[rng() % syll.size()];
    n[0] = static_cast<char>(toupper(n[0]));
    if (!used.insert(n).second) continue;
    const auto& g = geo[rng() % geo.size()];
    Customer c{n, absl::StrCat(absl::AsciiStrToLower(n), ".com"), g.country, g.region, g.postal,
               "COMMERCIAL"};
    int kind = static_cast<int>(rng() % 100);
    if (kind < 4) c.account_type = "GOVERNMENT";
    customers.push_back(c);
  }
  for (const auto& n : named) {
    std::string d = absl::AsciiStrToLower(n);
    d.erase(std::remove(d.begin(), d.end(), ' '), d.end());
    customers.push_back(Customer{n, d + ".com", "US", "NY", "10001", "COMMERCIAL"});
  }

  // ---- Direct opportunities first (CRM): 60 customers direct sales already works ----
  int direct_recorded = 0, direct_after_partner = 0;
  auto record_direct = [&](int ci, int k, const std::string& pl) {
    const Customer& c = customers[ci];
    dr::RecordDirectOpportunityRequest req;
    req.set_request_id(absl::StrCat(run, "-opp-", k));
    req.set_opportunity_id(absl::StrCat("CRM-OPP-", 10000 + k));
    req.set_owner_rep_id(absl::StrCat("rep-", k % 5 + 1));
    req.mutable_end_customer()->set_name(c.base + " Inc.");
    req.mutable_end_customer()->set_email_domain("sales." + c.domain);
    req.mutable_end_customer()->mutable_address()->set_country_code(c.country);
    req.mutable_end_customer()->mutable_address()->set_region(c.region);
    req.mutable_end_customer()->set_account_type(c.account_type);
    req.add_product_lines(pl);
    *req.mutable_amount() = Usd(80'000);
    grpc::ClientContext ctx;
    ctx.set_deadline(deadline());
    dr::RecordDirectOpportunityResponse resp;
    grpc::Status s = stub->RecordDirectOpportunity(&ctx, req, &resp);
    if (s.ok()) {
      ++direct_recorded;
      if (resp.partner_got_there_first_size() > 0) ++direct_after_partner;
    }
  };
  const std::vector<std::string> lines = {"NET", "SEC", "CLOUD", "STORAGE", "SERVICES"};
  for (int k = 0; k < 60; ++k) record_direct(static_cast<int>(rng() % n_customers), k, lines[rng() % 4]);

  // ---- 2,000 registrations from 200 partners ----
  struct Plan {
    int partner, customer, kind;
    std::string pl1, pl2;
    int64_t qty;
    int64_t price;
  };
  std::vector<Plan> plans;
  for (int i = 0; i < n_deals; ++i) {
    Plan p;
    p.partner = static_cast<int>(rng() % n_partners) + 1;
    p.customer = static_cast<int>(rng() % customers.size());
    p.kind = static_cast<int>(rng() % 100);
    p.pl1 = lines[rng() % 4];
    p.pl2 = p.kind < 3 ? "SERVICES" : lines[rng() % 4];  // SERVICES is not eligible
    p.qty = 1 + rng() % 40;
    p.price = p.kind < 8 ? 50 : 500 + (rng() % 40) * 100;  // some below the minimum
    plans.push_back(p);
  }
  Stats stats;
  std::atomic<int> next{0};
  absl::Time close_date = absl::Now() + absl::Hours(24 * 60);
  auto worker = [&] {
    std::mt19937 wrng(seed + next.load());
    while (true) {
      int i = next++;
      if (i >= static_cast<int>(plans.size())) return;
      const Plan& p = plans[i];
      const Customer& c = customers[p.customer];
      std::mt19937 vr(seed * 7919 + i);
      dr::RegisterDealRequest req;
      req.set_request_id(absl::StrCat(run, "-reg-", i));
      req.set_program_id("partner-first-2027");
      req.set_partner_id(absl::StrFormat("P%03d", p.partner));
      req.mutable_partner_contact()->set_name(absl::StrFormat("Rep of P%03d", p.partner));
      req.mutable_partner_contact()->set_email(absl::StrFormat("deals@p%03d.example", p.partner));
      auto* ec = req.mutable_end_customer();
      ec->set_name(Variant(c.base, vr));
      ec->set_email_domain(vr() % 2 ? c.domain : "it." + c.domain);
      ec->mutable_address()->set_country_code(c.country);
      ec->mutable_address()->set_region(c.region);
      ec->mutable_address()->set_postal_code(c.postal);
      ec->set_account_type(c.account_type);
      auto* l1 = req.add_lines();
      l1->set_product_line(p.pl1);
      l1->set_quantity(p.qty);
      *l1->mutable_unit_price() = Usd(p.price);
      if (p.pl2 != p.pl1) {
        auto* l2 = req.add_lines();
        l2->set_product_line(p.pl2);
        l2->set_quantity(1 + p.qty / 4);
        *l2->mutable_unit_price() = Usd(p.price);
      }
      req.set_expected_close_date(CivilDate(close_date));
      req.set_stage(static_cast<dr::DealStage>(1 + vr() % 5));
      if (vr() % 3 == 0) req.set_lead_id(absl::StrCat("lead-", i));
      grpc::ClientContext ctx;
      ctx.set_deadline(deadline());
      dr::RegisterDealResponse resp;
      grpc::Status s = stub->RegisterDeal(&ctx, req, &resp);
      std::lock_guard<std::mutex> l(stats.mu);
      if (!s.ok()) {
        if (stats.rpc_errors++ < 3) std::cerr << "RegisterDeal: " << s.error_message() << "\n";
        continue;
      }
      if (resp.existing()) ++stats.existing_returned;
      const dr::Deal& d = resp.deal();
      stats.by_status[dr::DealStatus_Name(d.status())]++;
      for (const auto& r : d.reasons()) stats.by_reason[dr::ReasonCode_Name(r.code())]++;
      if (d.status() == dr::DEAL_STATUS_APPROVED) {
        stats.approved_ids.push_back(d.deal_id());
        stats.approved_pipeline_by_partner[d.partner_id()] += d.amount().amount_micros();
      } else if (d.status() == dr::DEAL_STATUS_PENDING_APPROVAL) {
        stats.pending_ids.push_back(d.deal_id());
      }
    }
  };
  {
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t) ts.emplace_back(worker);
    for (auto& t : ts) t.join();
  }
  // Direct sales arriving after partners registered: "the partner got there first".
  for (int k = 60; k < 100; ++k) record_direct(static_cast<int>(rng() % n_customers), k, lines[rng() % 4]);

  // ---- Channel manager decides the pending ones (approve 3 of 4) ----
  int approved_manually = 0, rejected_manually = 0;
  // A partner re-registering gets its existing registration back: count each once.
  std::sort(stats.pending_ids.begin(), stats.pending_ids.end());
  stats.pending_ids.erase(std::unique(stats.pending_ids.begin(), stats.pending_ids.end()), stats.pending_ids.end());
  for (size_t i = 0; i < stats.pending_ids.size(); ++i) {
    grpc::ClientContext ctx;
    ctx.set_deadline(deadline());
    dr::DealResponse resp;
    grpc::Status s;
    if (i % 4 != 3) {
      dr::ApproveDealRequest req;
      req.set_request_id(absl::StrCat(run, "-approve-", stats.pending_ids[i]));
      req.set_deal_id(stats.pending_ids[i]);
      req.set_reason("large deal reviewed");
      s = stub->ApproveDeal(&ctx, req, &resp);
      if (s.ok()) {
        ++approved_manually;
        stats.approved_ids.push_back(resp.deal().deal_id());
        stats.approved_pipeline_by_partner[resp.deal().partner_id()] += resp.deal().amount().amount_micros();
      }
    } else {
      dr::RejectDealRequest req;
      req.set_request_id(absl::StrCat(run, "-reject-", stats.pending_ids[i]));
      req.set_deal_id(stats.pending_ids[i]);
      req.set_reason("customer already engaged with a distributor");
      s = stub->RejectDeal(&ctx, req, &resp);
      if (s.ok()) ++rejected_manually;
    }
  }

  // ---- Special pricing on approved deals, and closes ----
  std::sort(stats.approved_ids.begin(), stats.approved_ids.end());
  stats.approved_ids.erase(std::unique(stats.approved_ids.begin(), stats.approved_ids.end()), stats.approved_ids.end());
  std::map<std::string, int> spa_by_status;
  int won = 0, lost = 0;
  int64_t won_micros = 0;
  for (size_t i = 0; i < stats.approved_ids.size(); ++i) {
    const std::string& id = stats.approved_ids[i];
    if (i % 3 == 0) {
      dr::RequestSpecialPricingRequest req;
      req.set_request_id(absl::StrCat(run, "-spa-", id));
      req.set_deal_id(id);
      req.set_discount_bps(i % 9 == 0 ? 2800 : (i % 2 ? 1500 : 800));
      req.set_competitor("Initrode");
      req.set_justification("competitive displacement");
      grpc::ClientContext ctx;
      ctx.set_deadline(deadline());
      dr::SpecialPricingResponse resp;
      if (stub->RequestSpecialPricing(&ctx, req, &resp).ok()) {
        const auto& spa = resp.special_pricing();
        if (spa.status() == dr::SPECIAL_PRICING_STATUS_PENDING) {
          dr::DecideSpecialPricingRequest dq;
          dq.set_request_id(absl::StrCat(run, "-spa-decide-", id));
          dq.set_deal_id(id);
          dq.set_spa_id(spa.spa_id());
          dq.set_approve(true);
          dq.set_approver_role(spa.approver_role());
          dq.set_reason("approved to win");
          grpc::ClientContext c2;
          c2.set_deadline(deadline());
          dr::SpecialPricingResponse r2;
          if (stub->DecideSpecialPricing(&c2, dq, &r2).ok()) {
            spa_by_status[dr::SpecialPricingStatus_Name(r2.special_pricing().status())]++;
          }
        } else {
          spa_by_status[dr::SpecialPricingStatus_Name(spa.status())]++;
        }
      }
    }
    if (i % 5 == 0 || i % 7 == 0) {
      grpc::ClientContext gctx;
      gctx.set_deadline(deadline());
      dr::GetDealRequest g;
      g.set_deal_id(id);
      dr::DealResponse cur;
      if (!stub->GetDeal(&gctx, g, &cur).ok()) continue;
      dr::CloseDealRequest req;
      req.set_request_id(absl::StrCat(run, "-close-", id));
      req.set_deal_id(id);
      if (i % 5 == 0) {
        req.set_outcome(dr::CLOSE_OUTCOME_WON);
        *req.mutable_final_amount() = cur.deal().amount();
      } else {
        req.set_outcome(dr::CLOSE_OUTCOME_LOST);
        req.set_lost_reason("budget frozen");
      }
      grpc::ClientContext ctx;
      ctx.set_deadline(deadline());
      dr::DealResponse resp;
      if (stub->CloseDeal(&ctx, req, &resp).ok()) {
        if (resp.deal().status() == dr::DEAL_STATUS_WON) {
          ++won;
          won_micros += resp.deal().final_amount().amount_micros();
        } else {
          ++lost;
        }
      }
    }
  }
  // ---- Lead routing (when the service is part of the stack) ----
  const std::string leads_addr = Flag(flags, "lead_routing", "");
  const int n_leads = std::stoi(Flag(flags, "leads", "5000"));
  LeadsOutcome leads;
  std::atomic<int> lead_deals{0};
  if (!leads_addr.empty()) {
    leads = RunLeadsScenario(leads_addr, world, n_leads, seed,
                             [&](const std::string& partner, const std::string& lead_id, int i) {
      dr::RegisterDealRequest req;
      req.set_request_id(absl::StrCat(run, "-lead-deal-", i));
      req.set_program_id("partner-first-2027");
      req.set_partner_id(partner);
      req.mutable_partner_contact()->set_name("Lead owner");
      req.mutable_end_customer()->set_name(absl::StrCat("Prospect ", i, " GmbH"));
      req.mutable_end_customer()->mutable_address()->set_country_code("US");
      req.mutable_end_customer()->set_account_type("COMMERCIAL");
      auto* l = req.add_lines();
      l->set_product_line("NET");
      l->set_quantity(10);
      *l->mutable_unit_price() = Usd(1'500);
      req.set_expected_close_date(CivilDate(close_date));
      req.set_lead_id(lead_id);
      grpc::ClientContext ctx;
      ctx.set_deadline(deadline());
      dr::RegisterDealResponse resp;
      if (!stub->RegisterDeal(&ctx, req, &resp).ok()) return std::string();
      lead_deals++;
      return resp.deal().deal_id();
    });
  }

  // ---- MDF / co-op ----
  const std::string mdf_addr = Flag(flags, "mdf", "");
  MdfOutcome funds;
  if (!mdf_addr.empty()) funds = RunMdfScenario(mdf_addr, world, seed);

  // ---- POS / sell-through ----
  const std::string pos_addr = Flag(flags, "pos_ingestion", "");
  PosOutcome sales;
  if (!pos_addr.empty()) {
    std::vector<SoldTo> sold_to;
    for (const auto& c : customers) {
      if (c.country == "US") sold_to.push_back({c.base + " Inc.", c.domain, c.region});
    }
    sales = RunPosScenario(pos_addr, world, sold_to, leads.conversions, seed,
                           std::stoi(Flag(flags, "pos_lines", "100000")));
  }

  dr::ForecastSpecialPricingResponse forecast;
  {
    dr::ForecastSpecialPricingRequest req;
    req.mutable_period()->set_start_date(CivilDate(absl::Now() - absl::Hours(24 * 365)));
    req.mutable_period()->set_end_date(CivilDate(absl::Now() + absl::Hours(24 * 365)));
    grpc::ClientContext ctx;
    ctx.set_deadline(deadline());
    stub->ForecastSpecialPricing(&ctx, req, &forecast);
  }
  // ---- A month later (development clock): expiries and SLA timeouts ----
  const std::string dev_clock = Flag(flags, "dev_clock_file", "");
  if (!dev_clock.empty()) {
    std::ofstream(dev_clock) << 32 * 24 * 3600 << "\n";
    std::cout << "moving the stack's development clock 32 days ahead; waiting for the sweepers...\n";
    absl::SleepFor(absl::Seconds(4));
  }
  CompOutcome comp;
  if (!comp_addr.empty() || !projections_addr.empty()) {
    comp = CloseAndReport(comp_addr, projections_addr, world, seed);
  }
  absl::Duration took = absl::Now() - t0;

  // ---- What reached Kafka ----
  absl::SleepFor(absl::Seconds(1));  // let the outbox publish the tail
  int64_t on_topic = 0;
  auto by_type = CountTopic(kafka, "channelops.deal_registration.events.v1", &on_topic);
  int64_t lead_events = 0;
  std::map<std::string, int64_t> lead_types;
  if (!leads_addr.empty()) lead_types = CountTopic(kafka, "channelops.lead_routing.events.v1", &lead_events);

  // ---- Report ----
  int conflicts = stats.by_reason["REASON_CODE_CONFLICT_PARTNER_REGISTRATION"];
  int direct_conflicts = stats.by_reason["REASON_CODE_CONFLICT_DIRECT_OPPORTUNITY"];
  std::vector<std::pair<std::string, int64_t>> leaders(stats.approved_pipeline_by_partner.begin(),
                                                       stats.approved_pipeline_by_partner.end());
  std::sort(leaders.begin(), leaders.end(), [](auto& a, auto& b) { return a.second > b.second || (a.second == b.second && a.first < b.first); });
  if (leaders.size() > 10) leaders.resize(10);

  std::cout << "\n=== channelops demo report (seed " << seed << ", " << absl::FormatDuration(took) << ") ===\n\n";
  std::cout << "Deal registration: " << n_deals << " registrations from " << n_partners << " partners over "
            << customers.size() << " end customers\n";
  for (auto& [k, v] : stats.by_status) std::cout << absl::StrFormat("  %-32s %6d\n", k, v);
  std::cout << "Conflicts prevented (rejected as facts, with reasons):\n";
  for (auto& [k, v] : stats.by_reason) std::cout << absl::StrFormat("  %-44s %6d\n", k, v);
  std::cout << absl::StrFormat("  partner-vs-partner collisions stopped: %d; direct-sales collisions stopped: %d\n",
                               conflicts, direct_conflicts);
  std::cout << absl::StrFormat("  CRM direct opportunities recorded: %d (%d found a partner got there first)\n",
                               direct_recorded, direct_after_partner);
  std::cout << absl::StrFormat("Channel manager: %d approved, %d rejected; closes: %d won (%s), %d lost\n",
                               approved_manually, rejected_manually, won, FormatUsd(won_micros), lost);
  std::cout << "Special pricing requests:";
  for (auto& [k, v] : spa_by_status) std::cout << " " << k << "=" << v;
  std::cout << "\n";
  for (const auto& t : forecast.totals()) {
    std::cout << absl::StrFormat("SPA forecast (%s): committed %s, stage-weighted %s over %d open and %d won deals\n",
                                 t.currency_code(), FormatUsd(t.committed().amount_micros()),
                                 FormatUsd(t.weighted().amount_micros()), t.open_deals(), t.won_deals());
  }
  std::cout << "Top partners by approved registered pipeline:\n";
  for (auto& [p, v] : leaders) std::cout << absl::StrFormat("  %-6s %14s\n", p, FormatUsd(v));
  if (!leads_addr.empty()) {
    std::cout << absl::StrFormat(
        "Lead routing: %d leads submitted; first routing decided by:\n", leads.submitted);
    for (auto& [k, v] : leads.by_rule) std::cout << absl::StrFormat("  %-40s %6d\n", k, v);
    std::cout << absl::StrFormat(
        "  worked: %d accepted, %d declined (re-routed to the next partner), %d converted to deal "
        "registrations, %d closed lost, %d left waiting for the SLA; manual queue: %d%s\n",
        leads.accepted, leads.declined, leads.converted, leads.closed_lost, leads.left_waiting,
        leads.manual_queue, leads.inactive_partner_got_leads ? "; WARNING: an inactive partner got leads" : "");
    auto rec = leads.received_by_partner;
    std::sort(rec.begin(), rec.end(), [](auto& a, auto& b) { return a.second > b.second || (a.second == b.second && a.first < b.first); });
    std::cout << "  most leads received (tier weights 50/30/20):";
    for (size_t k = 0; k < std::min<size_t>(5, rec.size()); ++k) std::cout << " " << rec[k].first << "=" << rec[k].second;
    std::cout << "\n";
  }
  if (!mdf_addr.empty()) {
    std::cout << absl::StrFormat(
        "MDF: %s allocated to %d partners; %d fund requests:", FormatUsd(funds.allocated_micros),
        n_partners / 5, funds.requests);
    for (auto& [k, v] : funds.by_request_status) std::cout << " " << k.substr(20) << "=" << v;
    std::cout << absl::StrFormat("\n  %s reserved for approved activities; %d claims with proof paid (%s)\n",
                                 FormatUsd(funds.reserved_micros), funds.claims_paid, FormatUsd(funds.paid_micros));
    std::cout << "  a request for more than the fund holds was "
              << (funds.overdraw_refused ? "refused: " + funds.overdraw_message : std::string("NOT refused (bug!)"))
              << "\n";
  }
  if (!dev_clock.empty()) {
    std::cout << absl::StrFormat(
        "32 days later: %d registrations expired without an update (their customers are free again); "
        "%d lead offers timed out and were re-routed; %d partners paused for missed SLAs\n",
        by_type["channelops.dealreg.v1.DealExpired"], lead_types["channelops.leads.v1.LeadAcceptanceTimedOut"],
        lead_types["channelops.leads.v1.PartnerPaused"]);
  }
  if (!pos_addr.empty()) {
    std::cout << absl::StrFormat(
        "POS: %d sell-in shipments; CSV report (%d bytes) streamed in %.1f s: %d lines, %d accepted, %d "
        "rejected, %d duplicate; X12 867: %d lines, %d accepted, %d rejected\n",
        sales.shipments, sales.csv_bytes, sales.csv_seconds, sales.csv.lines_received(), sales.csv.accepted(),
        sales.csv.rejected(), sales.csv.duplicates(), sales.edi.lines_received(), sales.edi.accepted(),
        sales.edi.rejected());
    for (const auto& r : sales.reject_examples) std::cout << "  rejected: " << r << "\n";
    std::cout << absl::StrFormat("  %d partners reported %d sales of deals registered from leads\n",
                                 sales.partner_reports, sales.partner_report_lines);
    std::cout << absl::StrFormat(
        "Price drop on %s: %d price-protection credits, %d eligible units, total %s (75%% of the drop)\n",
        sales.price_drop_sku, sales.pp_credits, sales.pp_eligible_units, FormatUsd(sales.pp_total_micros));
    std::cout << "Channel inventory of P010:";
    for (const auto& p : sales.p010_inventory) {
      std::cout << absl::StrFormat(" %s on hand %d (received %d, sold %d, returned %d)", p.sku(), p.on_hand(),
                                   p.received(), p.sold(), p.customer_returned());
    }
    std::cout << "\n";
  }
  if (!comp_addr.empty()) {
    std::cout << "Compensation: period " << comp.period_id
              << (comp.period_closed ? " closed (statements frozen)" : " NOT closed: " + comp.close_error) << "\n";
  }
  if (!projections_addr.empty()) {
    std::cout << absl::StrFormat(
        "Projections: lag %d events; %d sales seen, %d credit lines, %d sales no plan credits\n",
        comp.projection_lag, comp.sales, comp.credit_lines, comp.uncredited_sales);
    std::cout << "Commission statements (" << comp.period_id << "):\n";
    for (const auto& st : comp.statements) {
      for (const auto& t : st.totals()) {
        std::cout << absl::StrFormat("  %-12s earned %14s  (credits %s, clawbacks %s, held %s)%s\n", st.payee_id(),
                                     FormatUsd(t.earned().amount_micros()), FormatUsd(t.credits().amount_micros()),
                                     FormatUsd(t.clawbacks().amount_micros()), FormatUsd(t.held().amount_micros()),
                                     st.frozen() ? " frozen" : "");
      }
    }
    std::cout << "Partner ROI leaderboard (" << comp.period_id << "):\n";
    for (const auto& r : comp.roi) {
      std::cout << absl::StrFormat("  %-6s ROI %8s  fund spend %12s  attributed revenue %14s  leads from funded campaigns %d\n",
                                   r.partner_id(), r.roi_defined() ? r.roi() : std::string("n/a"),
                                   FormatUsd(r.fund_spend().amount_micros()),
                                   FormatUsd(r.attributed_revenue().amount_micros()), r.leads_from_funded_campaigns());
    }
  }
  if (!leads_addr.empty()) {
    std::cout << "Events on Kafka topic channelops.lead_routing.events.v1 (distinct positions): " << lead_events << "\n";
    for (auto& [k, v] : lead_types) std::cout << absl::StrFormat("  %-48s %6d\n", k, v);
  }
  std::cout << "Events on Kafka topic channelops.deal_registration.events.v1 (distinct positions): " << on_topic << "\n";
  for (auto& [k, v] : by_type) std::cout << absl::StrFormat("  %-48s %6d\n", k, v);
  if (stats.rpc_errors) std::cout << "RPC errors: " << stats.rpc_errors << "\n";

  // ---- HTML (inline SVG, no network fetches) ----
  std::vector<std::pair<std::string, double>> status_rows, reason_rows, leader_rows, type_rows;
  for (auto& [k, v] : stats.by_status) status_rows.emplace_back(k.substr(12), v);
  for (auto& [k, v] : stats.by_reason) reason_rows.emplace_back(k.substr(12), v);
  for (auto& [p, v] : leaders) leader_rows.emplace_back(p, static_cast<double>(v));
  for (auto& [k, v] : by_type) type_rows.emplace_back(k.substr(k.rfind('.') + 1), static_cast<double>(v));
  std::vector<std::pair<std::string, double>> lead_rows, roi_rows;
  for (const auto& r : comp.roi) {
    if (r.roi_defined()) roi_rows.emplace_back(r.partner_id(), static_cast<double>(std::max<int64_t>(r.roi_bps(), 0)));
  }
  for (auto& [k, v] : leads.by_rule) lead_rows.emplace_back(k.substr(13), v);
  std::ofstream html(html_path);
  html << "<!doctype html><html><head><meta charset=\"utf-8\"><title>channelops demo report</title>"
       << "<style>body{font-family:sans-serif;max-width:900px;margin:2em auto}h2{margin-top:1.6em}</style></head><body>"
       << "<h1>channelops demo report</h1><p>Seed " << seed << ", " << n_deals << " registrations from "
       << n_partners << " partners, driven through the public gRPC API in " << absl::FormatDuration(took) << ".</p>"
       << "<h2>Registrations by status</h2>" << SvgBars(status_rows, "")
       << "<h2>Reasons (conflicts prevented and rules applied)</h2>" << SvgBars(reason_rows, "")
       << "<h2>Top partners by approved registered pipeline</h2>" << SvgBars(leader_rows, "$")
       << "<h2>Events on Kafka by type</h2>" << SvgBars(type_rows, "")
       << (leads_addr.empty() ? std::string() : "<h2>Leads: deciding routing rule</h2>" + SvgBars(lead_rows, ""))
       << (comp.roi.empty() ? std::string() : "<h2>Partner ROI leaderboard (basis points)</h2>" + SvgBars(roi_rows, ""))
       << "<p>Total distinct events on channelops.deal_registration.events.v1: " << on_topic << "</p>"
       << "</body></html>\n";
  html.close();
  std::cout << "\nHTML report: " << html_path << "\n";
  return stats.rpc_errors == 0 && leads.rpc_errors == 0 && funds.rpc_errors == 0 && sales.rpc_errors == 0 &&
                 comp_errors == 0 && comp.rpc_errors == 0 && (comp_addr.empty() || comp.period_closed) &&
                 (mdf_addr.empty() || funds.overdraw_refused)
             ? 0
             : 1;
}

}  // namespace channelops::ctl
