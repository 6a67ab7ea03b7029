#pragma once

// A small channel, hand-computed (see docs/projections.md, "The scenario"):
//
//   partners   partner-ny (CAM cam-alice), partner-ct (CAM cam-alice),
//              partner-ma (CAM cam-bob, assigned late: after all its sales)
//   inside     isr-ct: territory US/CT; isr-us: territory US (everything else)
//   direct     rep-dan: opportunity opp-1 on Globex (NY), storage, 2026-01-05
//   plan       channel-2026 v1 from 2026-01-01: PARTNER 10%, CAM 2%, ISR 3%,
//              DIRECT 5%; PARTNER/DIRECT SPLIT 60/40; CAM/ISR OVERLAY;
//              registered deal +2.5% and USD 100 once per registration;
//              hold 30 days; clawback within 90 days.
//              v2 from 2026-03-01: PARTNER 12%.
//   deals      deal-1 partner-ny Acme (CT) storage, lead-1, approved 01-05
//              deal-2 partner-ct Initech (CT) compute, lead-2, approved 01-10, won 02-28
//              deal-3 partner-ma Umbrella (MA) storage, approved 01-04, expired 02-10
//   campaigns  camp-ny-webinar (partner-ny MDF: 5,000 approved 01-02, 4,000 paid 02-15)
//              camp-ct-event (partner-ct co-op: 2,000 approved 01-08, 500 paid 02-20)
//   sales      S1..S20 (below), returns R1 (2 of S1's 10 units, 02-10) and
//              R2 (1 of S9's 3 units, 03-25, delivered before S9), a price
//              drop credit of 450 to partner-ny (02-15), January closed after
//              S1..S7 (S14, dated 01-30, arrives after the close).
//
// The events come in a delivery order that exercises late facts: S1 before
// the approval of deal-1, S3 naming deal-2 before deal-2 exists, R2 before
// S9, cam-bob's assignment after all partner-ma sales.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "channelops/comp/v1/events.pb.h"
#include "channelops/core/money.h"
#include "channelops/core/normalize.h"
#include "channelops/dealreg/v1/events.pb.h"
#include "channelops/kafka/consumer_runner.h"
#include "channelops/leads/v1/events.pb.h"
#include "channelops/mdf/v1/events.pb.h"
#include "channelops/pos/v1/events.pb.h"
#include "compensation/domain/convert.h"
#include "projections/projector.h"

namespace channelops::projections::scenario {

namespace cd = comp::domain;

inline constexpr char kCompSource[] = "channelops/compensation";
inline constexpr char kDealSource[] = "channelops/deal_registration";
inline constexpr char kLeadSource[] = "channelops/lead_routing";
inline constexpr char kPosSource[] = "channelops/pos_ingestion";
inline constexpr char kMdfSource[] = "channelops/mdf";

inline absl::Time At(int m, int d, int h = 12) {
  return absl::FromCivil(absl::CivilSecond(2026, m, d, h, 0, 0), absl::UTCTimeZone());
}

inline common::v1::Money Usd(int64_t micros) {
  common::v1::Money m;
  m.set_currency_code("USD");
  m.set_amount_micros(micros);
  return m;
}

// USD with cents: Cents(1234567) = 12,345.67.
inline common::v1::Money Cents(int64_t cents) { return Usd(cents * 10'000); }

class Feed {
 public:
  void Add(const std::string& topic, const std::string& source, const std::string& stream,
           const google::protobuf::Message& m, absl::Time occurred) {
    kafka::ConsumedEvent e;
    e.topic = topic;
    e.ce_source = source;
    e.key = stream;
    const uint64_t pos = ++positions_[source];
    auto& env = e.envelope;
    env.set_event_id(absl::StrCat(source, "/", pos));
    env.set_stream_id(stream);
    env.set_stream_version(++versions_[stream]);
    env.set_global_position(pos);
    env.set_event_type(m.GetDescriptor()->full_name());
    *env.mutable_occurred_at() = cd::ToProtoTime(occurred);
    *env.mutable_recorded_at() = cd::ToProtoTime(occurred);
    env.mutable_payload()->PackFrom(m);
    env.set_source(source);
    e.global_position = pos;
    events_.push_back(std::move(e));
  }
  const std::vector<kafka::ConsumedEvent>& events() const { return events_; }

 private:
  std::map<std::string, uint64_t> positions_;
  std::map<std::string, uint64_t> versions_;
  std::vector<kafka::ConsumedEvent> events_;
};

// ---- compensation ----

inline comp::v1::Plan Plan(uint64_t version, const std::string& from, int32_t partner_bps) {
  comp::v1::Plan p;
  p.set_plan_id("channel-2026");
  p.set_version(version);
  p.set_name("Channel 2026");
  p.set_currency_code("USD");
  p.set_effective_from(from);
  p.set_crediting_basis(comp::v1::CREDITING_BASIS_SELL_THROUGH);
  auto rate = [&](comp::v1::Role role, int32_t bps) {
    auto* r = p.add_rates();
    r->set_role(role);
    r->set_rate_bps(bps);
  };
  rate(comp::v1::ROLE_PARTNER, partner_bps);
  rate(comp::v1::ROLE_CHANNEL_ACCOUNT_MANAGER, 200);
  rate(comp::v1::ROLE_INSIDE_SALES, 300);
  rate(comp::v1::ROLE_DIRECT_REP, 500);
  auto* split = p.add_splits();
  split->set_first_role(comp::v1::ROLE_PARTNER);
  split->set_second_role(comp::v1::ROLE_DIRECT_REP);
  split->set_mode(comp::v1::SPLIT_MODE_SPLIT);
  split->set_first_share_bps(6000);
  split->set_second_share_bps(4000);
  auto* overlay = p.add_splits();
  overlay->set_first_role(comp::v1::ROLE_CHANNEL_ACCOUNT_MANAGER);
  overlay->set_second_role(comp::v1::ROLE_INSIDE_SALES);
  overlay->set_mode(comp::v1::SPLIT_MODE_OVERLAY);
  p.mutable_registered_deal_bonus()->set_extra_margin_bps(250);
  *p.mutable_registered_deal_bonus()->mutable_incentive() = Cents(10000);
  p.set_hold_days(30);
  p.set_clawback_on_return(true);
  p.set_clawback_window_days(90);
  return p;
}

inline void PublishPlan(Feed& f, const comp::v1::Plan& plan, absl::Time at) {
  comp::v1::PlanPublished e;
  *e.mutable_plan() = plan;
  *e.mutable_occurred_at() = cd::ToProtoTime(at);
  f.Add(kCompensationTopic, kCompSource, cd::PlanStream(plan.plan_id()), e, at);
}

inline void Assign(Feed& f, comp::v1::Role role, comp::v1::AssignmentTarget target,
                   const std::string& payee, absl::Time at) {
  comp::v1::RoleAssigned e;
  const std::string key = cd::TargetKey(target);
  e.set_assignment_id(cd::AssignmentId(role, key, target.target_case()));
  e.set_role(role);
  *e.mutable_target() = target;
  e.set_target_key(key);
  e.mutable_entry()->set_payee_id(payee);
  e.mutable_entry()->set_effective_from("2026-01-01");
  e.mutable_entry()->set_version(1);
  *e.mutable_occurred_at() = cd::ToProtoTime(at);
  f.Add(kCompensationTopic, kCompSource, cd::AssignmentStream(e.assignment_id()), e, at);
}

inline comp::v1::AssignmentTarget PartnerTarget(const std::string& id) {
  comp::v1::AssignmentTarget t;
  t.set_partner_id(id);
  return t;
}

inline comp::v1::AssignmentTarget Territory(const std::string& region) {
  comp::v1::AssignmentTarget t;
  t.mutable_territory()->set_country_code("US");
  t.mutable_territory()->set_region(region);
  return t;
}

inline void CloseJanuary(Feed& f) {
  comp::v1::PeriodClosed e;
  auto* p = e.mutable_period();
  p->set_period_id("2026-01");
  p->set_start_date("2026-01-01");
  p->set_end_date("2026-02-01");
  p->set_status(comp::v1::PERIOD_STATUS_CLOSED);
  *p->mutable_closed_at() = cd::ToProtoTime(At(2, 2));
  p->set_adjustments_period_id("2026-02");
  f.Add(kCompensationTopic, kCompSource, "period-2026-01", e, At(2, 2));
}

// ---- deal registration ----

inline dealreg::v1::DealKeys Keys(const std::string& deal, const std::string& partner,
                                  const std::string& customer, const std::string& product,
                                  const std::string& lead = "") {
  dealreg::v1::DealKeys k;
  k.set_deal_id(deal);
  k.set_program_id("prog-1");
  k.set_partner_id(partner);
  k.set_customer_key(core::CustomerKey("US", customer));
  k.add_product_lines(product);
  k.set_lead_id(lead);
  return k;
}

inline void Register(Feed& f, const dealreg::v1::DealKeys& k, dealreg::v1::DealStatus status,
                     int64_t amount_cents, absl::Time at) {
  dealreg::v1::DealRegistered e;
  *e.mutable_keys() = k;
  e.set_status(status);
  e.set_stage(dealreg::v1::DEAL_STAGE_PROPOSAL);
  *e.mutable_amount() = Cents(amount_cents);
  e.set_expiry_days(30);
  f.Add(kDealRegistrationTopic, kDealSource, "deal-" + k.deal_id(), e, at);
}

// ---- POS ----

struct SaleSpec {
  std::string id;  // "S1": report rep-S1, line 1
  int month, day;
  std::string partner;
  std::string customer;  // company name
  std::string region;    // US state
  std::string postal;
  std::string product;  // product line
  int64_t quantity;
  int64_t cents;  // extended amount
  std::string invoice;
  std::string deal_ref = "";
};

inline std::string SaleKey(const std::string& id) { return absl::StrCat("pos:rep-", id, "/1"); }

// A sale is published as pos_ingestion writes it now: a PosLinesAccepted chunk
// (of one line). Returns below use the earlier one-line PosLineAccepted, which
// topics written before the chunks still hold: the scenario covers both.
inline void Sale(Feed& f, const SaleSpec& s) {
  pos::v1::PosLinesAccepted e;
  auto* l = e.add_lines();
  l->set_report_id("rep-" + s.id);
  l->set_partner_id(s.partner);
  l->set_line_number(1);
  l->set_activity(pos::v1::LINE_ACTIVITY_STOCK_SALE);
  l->set_sku("SKU-" + s.product);
  l->set_product_line(s.product);
  l->set_quantity(s.quantity);
  *l->mutable_extended_amount() = Cents(s.cents);
  l->set_date(cd::FormatDate(absl::CivilDay(2026, s.month, s.day)));
  l->set_invoice_number(s.invoice);
  l->mutable_end_customer()->set_name(s.customer);
  l->mutable_end_customer()->mutable_address()->set_country_code("US");
  l->mutable_end_customer()->mutable_address()->set_region(s.region);
  l->mutable_end_customer()->mutable_address()->set_postal_code(s.postal);
  l->set_customer_key(core::CustomerKey("US", s.customer));
  l->set_deal_registration_id(s.deal_ref);
  f.Add(kPosIngestionTopic, kPosSource, "report-rep-" + s.id, e, At(s.month, s.day, 18));
}

inline void Return(Feed& f, const std::string& id, const std::string& partner,
                   const std::string& product, const std::string& original_invoice,
                   int64_t quantity, int month, int day) {
  pos::v1::PosLineAccepted e;
  auto* l = e.mutable_line();
  l->set_report_id("rep-" + id);
  l->set_partner_id(partner);
  l->set_line_number(1);
  l->set_activity(pos::v1::LINE_ACTIVITY_CUSTOMER_RETURN);
  l->set_sku("SKU-" + product);
  l->set_product_line(product);
  l->set_quantity(quantity);
  l->set_date(cd::FormatDate(absl::CivilDay(2026, month, day)));
  l->set_invoice_number("CM-" + id);
  l->set_original_invoice_number(original_invoice);
  f.Add(kPosIngestionTopic, kPosSource, "report-rep-" + id, e, At(month, day, 18));
}

// ---- leads ----

template <class E>
void LeadEvent(Feed& f, const std::string& lead, const std::string& campaign,
               const std::string& partner, absl::Time at, const std::string& deal = "") {
  E e;
  e.mutable_keys()->set_lead_id(lead);
  e.mutable_keys()->set_campaign_id(campaign);
  if constexpr (!std::is_same_v<E, leads::v1::LeadSubmitted>) e.set_partner_id(partner);
  if constexpr (std::is_same_v<E, leads::v1::LeadConverted>) e.set_deal_id(deal);
  f.Add(kLeadRoutingTopic, kLeadSource, "lead-" + lead, e, at);
}

// ---- MDF ----

inline void ApproveFunds(Feed& f, const std::string& request, const std::string& partner,
                         mdf::v1::FundKind kind, const std::string& campaign, int64_t cents,
                         absl::Time at) {
  mdf::v1::FundRequestApproved e;
  auto* k = e.mutable_keys();
  k->set_fund_request_id(request);
  k->set_fund_id("fund-" + partner);
  k->set_partner_id(partner);
  k->set_fund_kind(kind);
  k->set_campaign_id(campaign);
  *e.mutable_approved_amount() = Cents(cents);
  f.Add(kMdfTopic, kMdfSource, "request-" + request, e, at);
}

inline void PayClaim(Feed& f, const std::string& claim, const std::string& request,
                     const std::string& partner, mdf::v1::FundKind kind,
                     const std::string& campaign, int64_t cents, absl::Time at) {
  mdf::v1::ClaimPaid e;
  auto* k = e.mutable_keys();
  k->set_claim_id(claim);
  k->set_fund_request_id(request);
  k->set_fund_id("fund-" + partner);
  k->set_partner_id(partner);
  k->set_fund_kind(kind);
  k->set_campaign_id(campaign);
  *e.mutable_amount() = Cents(cents);
  f.Add(kMdfTopic, kMdfSource, "claim-" + claim, e, at);
}

// The sales. Amounts in cents.
inline std::vector<SaleSpec> Sales() {
  return {
      {"S1", 1, 8, "partner-ny", "Acme Corp", "CT", "06103", "storage", 10, 1000000, "NY-1"},
      {"S2", 1, 9, "partner-ny", "Hooli", "NY", "10013", "compute", 5, 250000, "NY-2"},
      {"S3", 1, 12, "partner-ct", "Initech", "CT", "06510", "compute", 4, 400000, "CT-1", "deal-2"},
      {"S4", 1, 15, "partner-ny", "Globex", "NY", "10001", "storage", 2, 300000, "NY-3"},
      {"S5", 1, 20, "partner-ma", "Umbrella", "MA", "02110", "storage", 3, 150000, "MA-1"},
      {"S6", 1, 22, "partner-ct", "Acme Corp", "CT", "06103", "storage", 1, 99999, "CT-2"},
      {"S7", 1, 28, "partner-ny", "ACME Corporation", "CT", "06103", "storage", 5, 500000, "NY-4"},
      {"S8", 2, 3, "partner-ny", "Acme Corp", "CT", "06103", "storage", 2, 200000, "NY-5"},
      {"S9", 2, 5, "partner-ct", "Initech", "CT", "06510", "compute", 3, 333333, "CT-3"},
      {"S10", 2, 11, "partner-ma", "Umbrella", "MA", "02110", "storage", 2, 100000, "MA-2"},
      {"S11", 2, 14, "partner-ny", "Hooli", "NY", "10013", "storage", 1, 123457, "NY-6"},
      {"S12", 2, 20, "partner-ct", "Globex", "NY", "10001", "compute", 2, 80000, "CT-4"},
      {"S13", 2, 25, "partner-ma", "Hooli", "NY", "10013", "compute", 4, 200000, "MA-3"},
      {"S14", 1, 30, "partner-ny", "Hooli", "NY", "10013", "compute", 1, 50000, "NY-7"},
      {"S15", 3, 2, "partner-ny", "Acme Corp", "CT", "06103", "storage", 3, 300000, "NY-8"},
      {"S16", 3, 5, "partner-ct", "Initech", "CT", "06510", "compute", 1, 100000, "CT-5"},
      {"S17", 3, 9, "partner-ma", "Umbrella", "MA", "02110", "storage", 1, 50000, "MA-4"},
      {"S18", 3, 12, "partner-ny", "Globex", "NY", "10001", "storage", 4, 600000, "NY-9"},
      {"S19", 3, 15, "partner-ct", "Hooli", "NY", "10013", "storage", 2, 111111, "CT-6"},
      {"S20", 3, 20, "partner-ny", "Acme Corp", "CT", "06103", "compute", 2, 70000, "NY-10"},
  };
}

// The whole scenario in delivery order. Without the period close, every line
// lands in the period of its date whatever the order.
inline std::vector<kafka::ConsumedEvent> Build(bool close_january) {
  Feed f;
  std::map<std::string, SaleSpec> sales;
  for (auto& s : Sales()) sales[s.id] = s;
  auto sale = [&](const char* id) { Sale(f, sales.at(id)); };

  PublishPlan(f, Plan(1, "2026-01-01", 1000), At(1, 1, 8));
  Assign(f, comp::v1::ROLE_CHANNEL_ACCOUNT_MANAGER, PartnerTarget("partner-ny"), "cam-alice",
         At(1, 1, 9));
  Assign(f, comp::v1::ROLE_CHANNEL_ACCOUNT_MANAGER, PartnerTarget("partner-ct"), "cam-alice",
         At(1, 1, 9));
  Assign(f, comp::v1::ROLE_INSIDE_SALES, Territory("CT"), "isr-ct", At(1, 1, 9));
  Assign(f, comp::v1::ROLE_INSIDE_SALES, Territory(""), "isr-us", At(1, 1, 9));

  LeadEvent<leads::v1::LeadSubmitted>(f, "lead-1", "camp-ny-webinar", "", At(1, 2, 8));
  LeadEvent<leads::v1::LeadRouted>(f, "lead-1", "camp-ny-webinar", "partner-ny", At(1, 2, 8));
  LeadEvent<leads::v1::LeadAccepted>(f, "lead-1", "camp-ny-webinar", "partner-ny", At(1, 2, 10));
  LeadEvent<leads::v1::LeadSubmitted>(f, "lead-2", "camp-ct-event", "", At(1, 7, 8));
  LeadEvent<leads::v1::LeadRouted>(f, "lead-2", "camp-ct-event", "partner-ct", At(1, 7, 8));
  LeadEvent<leads::v1::LeadAccepted>(f, "lead-2", "camp-ct-event", "partner-ct", At(1, 7, 9));
  ApproveFunds(f, "req-ny", "partner-ny", mdf::v1::FUND_KIND_MDF, "camp-ny-webinar", 500000,
               At(1, 2));
  ApproveFunds(f, "req-ct", "partner-ct", mdf::v1::FUND_KIND_COOP, "camp-ct-event", 200000,
               At(1, 8));

  Register(f, Keys("deal-1", "partner-ny", "Acme Corp", "storage", "lead-1"),
           dealreg::v1::DEAL_STATUS_PENDING_APPROVAL, 2000000, At(1, 3));
  Register(f, Keys("deal-3", "partner-ma", "Umbrella", "storage"),
           dealreg::v1::DEAL_STATUS_APPROVED, 300000, At(1, 4));
  {
    dealreg::v1::DirectOpportunityRecorded e;
    auto* o = e.mutable_opportunity();
    o->set_opportunity_id("opp-1");
    o->set_owner_rep_id("rep-dan");
    o->set_customer_key(core::CustomerKey("US", "Globex"));
    o->add_product_lines("storage");
    *o->mutable_recorded_at() = cd::ToProtoTime(At(1, 5, 9));
    f.Add(kDealRegistrationTopic, kDealSource, "account-US|globex", e, At(1, 5, 9));
  }
  sale("S1");  // before deal-1 is approved
  {
    dealreg::v1::DealApproved e;
    *e.mutable_keys() = Keys("deal-1", "partner-ny", "Acme Corp", "storage", "lead-1");
    *e.mutable_amount() = Cents(2000000);
    f.Add(kDealRegistrationTopic, kDealSource, "deal-deal-1", e, At(1, 5));
  }
  LeadEvent<leads::v1::LeadConverted>(f, "lead-1", "camp-ny-webinar", "partner-ny", At(1, 3),
                                      "deal-1");
  sale("S2");
  sale("S3");  // names deal-2 before it exists
  Register(f, Keys("deal-2", "partner-ct", "Initech", "compute", "lead-2"),
           dealreg::v1::DEAL_STATUS_APPROVED, 1000000, At(1, 10));
  LeadEvent<leads::v1::LeadConverted>(f, "lead-2", "camp-ct-event", "partner-ct", At(1, 10),
                                      "deal-2");
  sale("S4");
  sale("S5");
  sale("S6");
  sale("S7");
  if (close_january) CloseJanuary(f);
  sale("S14");  // dated 2026-01-30, reported after the close
  sale("S8");
  Return(f, "R2", "partner-ct", "compute", "CT-3", 1, 3, 25);  // before its sale S9
  sale("S9");
  {
    dealreg::v1::DealExpired e;
    *e.mutable_keys() = Keys("deal-3", "partner-ma", "Umbrella", "storage");
    f.Add(kDealRegistrationTopic, kDealSource, "deal-deal-3", e, At(2, 10, 0));
  }
  sale("S10");
  Return(f, "R1", "partner-ny", "storage", "NY-1", 2, 2, 10);
  sale("S11");
  sale("S12");
  sale("S13");
  {
    pos::v1::PriceProtectionCredited e;
    auto* c = e.mutable_credit();
    c->set_credit_id("chg-1/partner-ny");
    c->set_change_id("chg-1");
    c->set_partner_id("partner-ny");
    c->set_sku("SKU-storage");
    *c->mutable_effective_at() = cd::ToProtoTime(At(2, 15, 0));
    *c->mutable_amount() = Cents(45000);
    e.set_product_line("storage");
    f.Add(kPosIngestionTopic, kPosSource, "partner-partner-ny", e, At(2, 15, 0));
  }
  PayClaim(f, "claim-ny", "req-ny", "partner-ny", mdf::v1::FUND_KIND_MDF, "camp-ny-webinar", 400000,
           At(2, 15));
  PayClaim(f, "claim-ct", "req-ct", "partner-ct", mdf::v1::FUND_KIND_COOP, "camp-ct-event", 50000,
           At(2, 20));
  LeadEvent<leads::v1::LeadSubmitted>(f, "lead-3", "camp-ny-webinar", "", At(2, 1, 8));
  LeadEvent<leads::v1::LeadRouted>(f, "lead-3", "camp-ny-webinar", "partner-ny", At(2, 1, 8));
  LeadEvent<leads::v1::LeadAcceptanceTimedOut>(f, "lead-3", "camp-ny-webinar", "partner-ny",
                                               At(2, 3, 8));
  {
    dealreg::v1::DealClosed e;
    *e.mutable_keys() = Keys("deal-2", "partner-ct", "Initech", "compute", "lead-2");
    e.set_outcome(dealreg::v1::CLOSE_OUTCOME_WON);
    e.set_status(dealreg::v1::DEAL_STATUS_WON);
    *e.mutable_final_amount() = Cents(800000);
    f.Add(kDealRegistrationTopic, kDealSource, "deal-deal-2", e, At(2, 28));
  }
  {
    dealreg::v1::SpecialPricingRequested e;
    *e.mutable_keys() = Keys("deal-1", "partner-ny", "Acme Corp", "storage", "lead-1");
    e.mutable_request()->set_spa_id("spa-1");
    e.mutable_request()->set_status(dealreg::v1::SPECIAL_PRICING_STATUS_APPROVED);
    *e.mutable_request()->mutable_discount_amount() = Cents(150000);
    f.Add(kDealRegistrationTopic, kDealSource, "deal-deal-1", e, At(2, 26));
  }
  PublishPlan(f, Plan(2, "2026-03-01", 1200), At(2, 27));
  for (const char* id : {"S15", "S16", "S17", "S18", "S19", "S20"}) sale(id);
  Assign(f, comp::v1::ROLE_CHANNEL_ACCOUNT_MANAGER, PartnerTarget("partner-ma"), "cam-bob",
         At(3, 28));
  return f.events();
}

// Hand-computed statement totals (earned, micros) per payee and period, with
// January closed before S14 and cam-bob's assignment.
inline std::map<std::string, std::map<std::string, int64_t>> ExpectedWithClose() {
  return {
      {"cam-alice", {{"2026-01", 509'999'800}, {"2026-02", 117'358'000}, {"2026-03", 214'000'000}}},
      {"cam-bob", {{"2026-02", 90'000'000}, {"2026-03", 10'000'000}}},
      {"isr-ct", {{"2026-01", 599'999'700}, {"2026-02", 99'999'900}, {"2026-03", 107'666'700}}},
      {"isr-us", {{"2026-01", 210'000'000}, {"2026-02", 166'037'100}, {"2026-03", 228'333'300}}},
      {"rep-dan", {{"2026-01", 60'000'000}, {"2026-03", 120'000'000}}},
      {"partner-ny",
       {{"2026-01", 2'405'000'000}, {"2026-02", 153'457'000}, {"2026-03", 951'000'000}}},
      {"partner-ct",
       {{"2026-01", 699'999'000}, {"2026-02", 496'666'250}, {"2026-03", 139'444'450}}},
      {"partner-ma", {{"2026-01", 287'500'000}, {"2026-02", 300'000'000}, {"2026-03", 60'000'000}}},
  };
}

// Without the close, S14 (01-30) and cam-bob's S5 credit stay in January.
inline std::map<std::string, std::map<std::string, int64_t>> ExpectedWithoutClose() {
  auto e = ExpectedWithClose();
  auto move = [&](const std::string& payee, int64_t micros) {
    e[payee]["2026-01"] += micros;
    e[payee]["2026-02"] -= micros;
  };
  move("cam-alice", 10'000'000);   // S14
  move("isr-us", 15'000'000);      // S14
  move("partner-ny", 50'000'000);  // S14
  move("cam-bob", 30'000'000);     // S5
  return e;
}

}  // namespace channelops::projections::scenario
