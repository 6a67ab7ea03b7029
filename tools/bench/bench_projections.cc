// Projections throughput from the dev Kafka cluster (librdkafka's mock, in
// process). One run produces N source events on the five source topics, as the
// services publish them (their event protos in EventEnvelopes, keyed by stream,
// with the outbox relay's CloudEvents headers): POS sale lines and returns,
// leads (submitted, routed, accepted), deal registrations (registered,
// approved), MDF claims, after a comp plan, CAM / inside-sales assignments and
// one funded campaign per partner (the setup: applied before the measurement,
// as in steady state, unless --rebuild). Then it measures
//   (a) a bare librdkafka consumer reading every record (the baseline), and
//   (b) the projections applying them end to end: ProjectionsConsumer (the
//       consumer runner, Projector::Apply, Projector::FinishBatch) committing
//       to a durable RocksDB store (fsync per group commit), as in production,
//       with the partner ROI published as main.cc does (ProjectionsConsumer::
//       FlushRoi every --roi_publish_interval, default 1 s), from Start()
//       (group join included) to the last record applied and a final
//       FlushRoi (nothing left to publish),
// and prints events/s, the ratio and the floor (>= 0.5x the bare consumer).
// The relay is not running (publishing the derived topics is bench_outbox's).
//
// Usage: bench_projections [--events=200000] [--partners=200] [--customers=20000]
//                          [--partitions=32] [--max_batch=500] [--roi_publish_ms=1000]
//                          [--rebuild] [--help]
#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "absl/time/clock.h"
#include "channelops/analytics/v1/events.pb.h"
#include "channelops/comp/v1/events.pb.h"
#include "channelops/core/ids.h"
#include "channelops/core/normalize.h"
#include "channelops/dealreg/v1/events.pb.h"
#include "channelops/eventstore/event_store.h"
#include "channelops/kafka/consumer_runner.h"
#include "channelops/leads/v1/events.pb.h"
#include "channelops/mdf/v1/events.pb.h"
#include "channelops/pos/v1/events.pb.h"
#include "channelops/testing/kafka_cluster.h"
#include "channelops/testing/temp_dir.h"
#include "compensation/domain/convert.h"
#include "google/protobuf/util/time_util.h"
#include "projections/consumer.h"
#include "projections/projector.h"

using namespace channelops;
namespace cd = comp::domain;

namespace {

struct Flags {
  int64_t events = 200000;
  int partners = 200;
  int customers = 20000;
  int partitions = 32;
  size_t max_batch = 500;     // records per store command (the consumer runner's default)
  int roi_publish_ms = 1000;  // main.cc's --roi_publish_interval default
  bool rebuild = false;       // setup facts in the measured stream
  bool in_memory = false;     // diagnostic: the store in memory (compute vs storage)
  int cache_mb = 128;         // the projector's read-model cache, per generation
  // 0: each POS line its own PosLineAccepted record (the format before chunks);
  // N: a partner's lines in PosLinesAccepted records of N lines, as
  // pos_ingestion publishes them now (one record = N sales).
  int pos_chunk_lines = 0;
};

constexpr const char* kStates[] = {"NY", "CT", "MA", "CA", "TX", "WA", "IL", "FL", "GA", "NJ"};
constexpr const char* kProducts[] = {"storage", "compute", "network", "security"};

common::v1::Money Usd(int64_t micros) {
  common::v1::Money m;
  m.set_currency_code("USD");
  m.set_amount_micros(micros);
  return m;
}

// Produces envelopes as the services' relays do: key = stream id, value = the
// EventEnvelope bytes, the same eight headers.
class SourceTopics {
 public:
  explicit SourceTopics(const std::string& bootstraps) {
    char err[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    for (const auto& [k, v] :
         std::map<std::string, std::string>{{"bootstrap.servers", bootstraps},
                                            {"enable.idempotence", "true"},
                                            {"acks", "all"},
                                            {"linger.ms", "5"},
                                            {"batch.num.messages", "10000"},
                                            {"queue.buffering.max.messages", "1000000"},
                                            {"queue.buffering.max.kbytes", "1048576"},
                                            {"compression.type", "lz4"}}) {
      rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof(err));
    }
    rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
  }
  ~SourceTopics() { rd_kafka_destroy(rk_); }

  // Add() is a no-op once `limit` events were produced.
  void set_limit(int64_t limit) { limit_ = limit; }
  bool full() const { return produced_ >= limit_; }
  int64_t produced() const { return produced_; }
  size_t bytes() const { return bytes_; }
  const std::map<std::string, int64_t>& by_type() const { return by_type_; }

  void Add(const std::string& topic, const std::string& source, const std::string& stream,
           const google::protobuf::Message& m, absl::Time occurred) {
    if (full()) return;
    common::v1::EventEnvelope env;
    const uint64_t pos = ++positions_[source];
    env.set_event_id(core::NewUuidV7(occurred));
    env.set_stream_id(stream);
    env.set_stream_version(++versions_[stream]);
    env.set_global_position(pos);
    env.set_event_type(m.GetDescriptor()->full_name());
    *env.mutable_occurred_at() = cd::ToProtoTime(occurred);
    *env.mutable_recorded_at() = cd::ToProtoTime(occurred + absl::Milliseconds(3));
    env.set_correlation_id(core::NewUuidV7(occurred));
    env.set_causation_id(env.correlation_id());
    env.set_actor("spiffe://channelops/partner/bench");
    env.set_source(source);
    env.mutable_payload()->PackFrom(m);
    const std::string value = env.SerializeAsString();
    rd_kafka_headers_t* h = rd_kafka_headers_new(8);
    auto add = [&](const char* k, const std::string& v) {
      rd_kafka_header_add(h, k, -1, v.data(), static_cast<ssize_t>(v.size()));
    };
    add("ce_specversion", "1.0");
    add("ce_id", env.event_id());
    add("ce_source", source);
    add("ce_type", env.event_type());
    add("ce_time", google::protobuf::util::TimeUtil::ToString(env.occurred_at()));
    add("ce_subject", stream);
    add("content-type", "application/protobuf; proto=channelops.common.v1.EventEnvelope");
    add("channelops_position", absl::StrCat(pos));
    while (rd_kafka_producev(rk_, RD_KAFKA_V_TOPIC(topic.c_str()),
                             RD_KAFKA_V_KEY(stream.data(), stream.size()),
                             RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                             RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(h),
                             RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      rd_kafka_poll(rk_, 10);
    }
    rd_kafka_poll(rk_, 0);
    ++produced_;
    bytes_ += value.size();
    ++by_type_[env.event_type()];
  }

  bool Flush() { return rd_kafka_flush(rk_, 120000) == RD_KAFKA_RESP_ERR_NO_ERROR; }

 private:
  rd_kafka_t* rk_;
  int64_t limit_ = INT64_MAX;
  int64_t produced_ = 0;
  size_t bytes_ = 0;
  std::map<std::string, uint64_t> positions_;
  std::map<std::string, uint64_t> versions_;
  std::map<std::string, int64_t> by_type_;
};

constexpr char kComp[] = "channelops/compensation";
constexpr char kDeal[] = "channelops/deal_registration";
constexpr char kLead[] = "channelops/lead_routing";
constexpr char kPos[] = "channelops/pos_ingestion";
constexpr char kMdf[] = "channelops/mdf";

// The channel: partners, customers with a home partner and two product lines,
// events in time order over the first half of 2026.
class Channel {
 public:
  Channel(SourceTopics& out, const Flags& f) : out_(out), f_(f), rng_(42) {}

  // The mix, until the producer's limit: POS sale lines (most), returns,
  // leads, deal registrations, MDF claims.
  void Run() {
    while (!out_.full()) {
      const int r = Uniform(0, 99);
      if (r < 76) {
        Sale();
      } else if (r < 80) {
        Return();
      } else if (r < 88) {
        Lead();
      } else if (r < 98) {
        Deal();
      } else {
        Claim();
      }
    }
  }

 private:
  int Uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  std::string Partner(int p) const { return absl::StrCat("partner-", p); }
  std::string Customer(int c) const { return absl::StrCat("Customer ", c, " Inc"); }
  int HomePartner(int c) const { return c % f_.partners; }
  const char* State(int c) const { return kStates[c % 10]; }
  const char* Product(int c, int which) const { return kProducts[(c + which * 3) % 4]; }

  // Business time advances with the events produced: Jan 1 .. Jun 29.
  absl::Time Now() const {
    const int64_t day = out_.produced() * 180 / std::max<int64_t>(1, f_.events);
    return absl::FromCivil(absl::CivilSecond(2026, 1, 1, 9, 0, 0), absl::UTCTimeZone()) +
           absl::Hours(24 * day) + absl::Seconds(out_.produced() % 28800);
  }
  std::string Today() const { return cd::FormatDate(absl::ToCivilDay(Now(), absl::UTCTimeZone())); }

 public:
  // A comp plan, CAM and inside-sales assignments, one MDF-funded campaign per partner.
  void Setup() {
    comp::v1::PlanPublished plan;
    auto* p = plan.mutable_plan();
    p->set_plan_id("channel-2026");
    p->set_version(1);
    p->set_name("Channel 2026");
    p->set_currency_code("USD");
    p->set_effective_from("2026-01-01");
    p->set_crediting_basis(comp::v1::CREDITING_BASIS_SELL_THROUGH);
    for (auto [role, bps] : {std::pair{comp::v1::ROLE_PARTNER, 1000},
                             {comp::v1::ROLE_CHANNEL_ACCOUNT_MANAGER, 200},
                             {comp::v1::ROLE_INSIDE_SALES, 300},
                             {comp::v1::ROLE_DIRECT_REP, 500}}) {
      auto* r = p->add_rates();
      r->set_role(role);
      r->set_rate_bps(bps);
    }
    auto* overlay = p->add_splits();
    overlay->set_first_role(comp::v1::ROLE_CHANNEL_ACCOUNT_MANAGER);
    overlay->set_second_role(comp::v1::ROLE_INSIDE_SALES);
    overlay->set_mode(comp::v1::SPLIT_MODE_OVERLAY);
    p->mutable_registered_deal_bonus()->set_extra_margin_bps(250);
    p->set_hold_days(30);
    p->set_clawback_on_return(true);
    p->set_clawback_window_days(90);
    *plan.mutable_occurred_at() = cd::ToProtoTime(Now());
    out_.Add(projections::kCompensationTopic, kComp, cd::PlanStream("channel-2026"), plan, Now());

    auto assign = [&](comp::v1::Role role, const comp::v1::AssignmentTarget& target,
                      const std::string& payee) {
      comp::v1::RoleAssigned e;
      const std::string key = cd::TargetKey(target);
      e.set_assignment_id(cd::AssignmentId(role, key, target.target_case()));
      e.set_role(role);
      *e.mutable_target() = target;
      e.set_target_key(key);
      e.mutable_entry()->set_payee_id(payee);
      e.mutable_entry()->set_effective_from("2026-01-01");
      e.mutable_entry()->set_version(1);
      *e.mutable_occurred_at() = cd::ToProtoTime(Now());
      out_.Add(projections::kCompensationTopic, kComp, cd::AssignmentStream(e.assignment_id()), e,
               Now());
    };
    for (int i = 0; i < f_.partners; ++i) {
      comp::v1::AssignmentTarget t;
      t.set_partner_id(Partner(i));
      assign(comp::v1::ROLE_CHANNEL_ACCOUNT_MANAGER, t, absl::StrCat("cam-", i % 20));
    }
    for (const char* state : kStates) {
      comp::v1::AssignmentTarget t;
      t.mutable_territory()->set_country_code("US");
      t.mutable_territory()->set_region(state);
      assign(comp::v1::ROLE_INSIDE_SALES, t, absl::StrCat("isr-", state));
    }
    // One MDF-funded campaign per partner.
    for (int i = 0; i < f_.partners; ++i) {
      mdf::v1::FundRequestApproved e;
      auto* k = e.mutable_keys();
      k->set_fund_request_id(absl::StrCat("req-", i));
      k->set_fund_id(absl::StrCat("fund-", i));
      k->set_partner_id(Partner(i));
      k->set_fund_kind(mdf::v1::FUND_KIND_MDF);
      k->set_campaign_id(absl::StrCat("camp-", i));
      *e.mutable_approved_amount() = Usd(50'000'000'000);
      out_.Add(projections::kMdfTopic, kMdf, absl::StrCat("request-req-", i), e, Now());
    }
  }

 private:
  void Sale() {
    const int c = Uniform(0, f_.customers - 1);
    const int p = Uniform(0, 9) < 8 ? HomePartner(c) : Uniform(0, f_.partners - 1);
    const std::string product = Product(c, Uniform(0, 1));
    // A report is a run of lines of one partner.
    if (report_lines_ == 0 || report_partner_ != p || report_lines_ >= 20) {
      report_id_ = absl::StrCat("rep-", ++reports_);
      report_partner_ = p;
      report_lines_ = 0;
    }
    pos::v1::PosLineAccepted e;
    auto* l = e.mutable_line();
    l->set_report_id(report_id_);
    l->set_partner_id(Partner(p));
    l->set_line_number(++report_lines_);
    if (f_.pos_chunk_lines > 0) {
      // The partner's open report: its lines go out in chunks.
      Pending& pending = pending_[p];
      if (pending.report_id.empty()) pending.report_id = absl::StrCat("rep-", ++reports_);
      l->set_report_id(pending.report_id);
      l->set_line_number(pending.chunk.lines_size() + 1 + pending.lines_sent);
    }
    l->set_activity(pos::v1::LINE_ACTIVITY_STOCK_SALE);
    l->set_sku(absl::StrCat("SKU-", product, "-", c % 50));
    l->set_product_line(product);
    const int64_t qty = Uniform(1, 10);
    const int64_t unit = Uniform(100, 5000) * 1'000'000LL;
    l->set_quantity(qty);
    l->set_unit_of_measure("EA");
    *l->mutable_unit_price() = Usd(unit);
    *l->mutable_extended_amount() = Usd(unit * qty);
    l->set_date(Today());
    l->set_invoice_number(absl::StrCat("INV-", p, "-", ++invoices_));
    l->set_invoice_line(1);
    l->mutable_end_customer()->set_name(Customer(c));
    auto* a = l->mutable_end_customer()->mutable_address();
    a->set_country_code("US");
    a->set_region(State(c));
    a->set_postal_code(absl::StrCat(10000 + c % 89999));
    l->set_customer_key(core::CustomerKey("US", Customer(c)));
    l->set_inventory_delta(-qty);
    l->set_report_kind(pos::v1::REPORT_KIND_SELL_THROUGH);
    sales_.push_back({p, l->invoice_number(), l->sku(), product});
    if (f_.pos_chunk_lines > 0) {
      Pending& pending = pending_[p];
      *pending.chunk.add_lines() = std::move(*l);
      if (pending.chunk.lines_size() >= f_.pos_chunk_lines && !out_.full()) {
        out_.Add(projections::kPosIngestionTopic, kPos,
                 absl::StrCat("report-", pending.report_id), pending.chunk, Now());
        chunk_lines_ += pending.chunk.lines_size();
        pending.lines_sent += pending.chunk.lines_size();
        pending.chunk.Clear();
        if (pending.lines_sent >= 100'000) pending = Pending();  // the next report
      }
      return;
    }
    out_.Add(projections::kPosIngestionTopic, kPos, absl::StrCat("report-", report_id_), e, Now());
  }

  void Return() {
    if (sales_.empty()) return Sale();
    const SaleRef& s = sales_[Uniform(0, static_cast<int>(sales_.size()) - 1)];
    pos::v1::PosLineAccepted e;
    auto* l = e.mutable_line();
    const std::string id = absl::StrCat("rma-", ++reports_);
    l->set_report_id(id);
    l->set_partner_id(Partner(s.partner));
    l->set_line_number(1);
    l->set_activity(pos::v1::LINE_ACTIVITY_CUSTOMER_RETURN);
    l->set_sku(s.sku);
    l->set_product_line(s.product);
    l->set_quantity(1);
    l->set_date(Today());
    l->set_invoice_number(absl::StrCat("CM-", reports_));
    l->set_original_invoice_number(s.invoice);
    l->set_inventory_delta(1);
    out_.Add(projections::kPosIngestionTopic, kPos, absl::StrCat("report-", id), e, Now());
  }

  void Lead() {
    const int c = Uniform(0, f_.customers - 1);
    const int p = HomePartner(c);
    const std::string id = absl::StrCat("lead-", ++leads_);
    const std::string campaign = Uniform(0, 1) ? absl::StrCat("camp-", p) : "";
    const std::string stream = absl::StrCat("lead-", id);
    auto keys = [&](leads::v1::LeadKeys* k) {
      k->set_lead_id(id);
      k->set_campaign_id(campaign);
      k->set_source(campaign.empty() ? "web" : "campaign");
    };
    leads::v1::LeadSubmitted submitted;
    keys(submitted.mutable_keys());
    submitted.set_company(Customer(c));
    submitted.set_country_code("US");
    submitted.set_region(absl::StrCat("US-", State(c)));
    submitted.set_postal_code(absl::StrCat(10000 + c % 89999));
    submitted.set_product_interest(Product(c, 0));
    out_.Add(projections::kLeadRoutingTopic, kLead, stream, submitted, Now());
    leads::v1::LeadRouted routed;
    keys(routed.mutable_keys());
    routed.set_partner_id(Partner(p));
    routed.set_territory_id(absl::StrCat("terr-", State(c)));
    routed.set_reason("territory match");
    routed.set_attempt(1);
    out_.Add(projections::kLeadRoutingTopic, kLead, stream, routed, Now());
    leads::v1::LeadAccepted accepted;
    keys(accepted.mutable_keys());
    accepted.set_partner_id(Partner(p));
    out_.Add(projections::kLeadRoutingTopic, kLead, stream, accepted, Now());
    if (!campaign.empty()) open_leads_[c] = id;
  }

  void Deal() {
    const int c = Uniform(0, f_.customers - 1);
    const int p = HomePartner(c);
    const std::string id = absl::StrCat("deal-", ++deals_);
    dealreg::v1::DealKeys k;
    k.set_deal_id(id);
    k.set_program_id("prog-1");
    k.set_partner_id(Partner(p));
    k.set_customer_key(core::CustomerKey("US", Customer(c)));
    k.add_product_lines(Product(c, Uniform(0, 1)));
    if (auto it = open_leads_.find(c); it != open_leads_.end()) {
      k.set_lead_id(it->second);
      open_leads_.erase(it);
    }
    const std::string stream = absl::StrCat("deal-", id);
    const common::v1::Money amount = Usd(Uniform(5, 200) * 1'000'000'000LL);
    dealreg::v1::DealRegistered registered;
    *registered.mutable_keys() = k;
    registered.set_status(dealreg::v1::DEAL_STATUS_PENDING_APPROVAL);
    registered.set_stage(dealreg::v1::DEAL_STAGE_PROPOSAL);
    *registered.mutable_amount() = amount;
    registered.set_expiry_days(90);
    out_.Add(projections::kDealRegistrationTopic, kDeal, stream, registered, Now());
    dealreg::v1::DealApproved approved;
    *approved.mutable_keys() = k;
    *approved.mutable_amount() = amount;
    out_.Add(projections::kDealRegistrationTopic, kDeal, stream, approved, Now());
  }

  void Claim() {
    const int p = Uniform(0, f_.partners - 1);
    mdf::v1::ClaimPaid e;
    auto* k = e.mutable_keys();
    k->set_claim_id(absl::StrCat("claim-", ++claims_));
    k->set_fund_request_id(absl::StrCat("req-", p));
    k->set_fund_id(absl::StrCat("fund-", p));
    k->set_partner_id(Partner(p));
    k->set_fund_kind(mdf::v1::FUND_KIND_MDF);
    k->set_campaign_id(absl::StrCat("camp-", p));
    *e.mutable_amount() = Usd(Uniform(1, 20) * 100'000'000LL);
    out_.Add(projections::kMdfTopic, kMdf, absl::StrCat("claim-", k->claim_id()), e, Now());
  }

  struct SaleRef {
    int partner;
    std::string invoice, sku, product;
  };
  struct Pending {  // --pos_chunk_lines: a partner's report being sent
    std::string report_id;
    pos::v1::PosLinesAccepted chunk;
    int64_t lines_sent = 0;
  };
  std::map<int, Pending> pending_;
  int64_t chunk_lines_ = 0;

 public:
  // Sale lines produced in PosLinesAccepted records (--pos_chunk_lines).
  int64_t chunk_lines() const { return chunk_lines_; }

 private:
  SourceTopics& out_;
  Flags f_;
  std::mt19937 rng_;
  std::vector<SaleRef> sales_;
  std::map<int, std::string> open_leads_;  // customer -> a campaign lead not yet registered
  std::string report_id_;
  int report_partner_ = -1, report_lines_ = 0;
  int64_t reports_ = 0, invoices_ = 0, leads_ = 0, deals_ = 0, claims_ = 0;
};

// (a) Every partition of every source topic assigned from the beginning; reads
// until `n` records arrived. Returns events/s, or 0 if fewer came within 120 s.
double BareConsumer(const std::string& bootstraps, int partitions, int64_t n) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps.c_str(), err, sizeof(err));
  rd_kafka_conf_set(conf, "group.id", "bench.bare", err, sizeof(err));
  rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof(err));
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
  rd_kafka_poll_set_consumer(rk);
  rd_kafka_topic_partition_list_t* parts = rd_kafka_topic_partition_list_new(5 * partitions);
  for (const std::string& t : projections::SourceTopics()) {
    for (int p = 0; p < partitions; ++p) {
      rd_kafka_topic_partition_list_add(parts, t.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    }
  }
  const absl::Time t0 = absl::Now();
  rd_kafka_assign(rk, parts);
  rd_kafka_topic_partition_list_destroy(parts);
  int64_t got = 0;
  size_t bytes = 0;
  const absl::Time deadline = t0 + absl::Seconds(120);
  while (got < n && absl::Now() < deadline) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
    if (m == nullptr) continue;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      ++got;
      bytes += m->len + m->key_len;
    }
    rd_kafka_message_destroy(m);
  }
  const double secs = absl::ToDoubleSeconds(absl::Now() - t0);
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  if (got < n) {
    fprintf(stderr, "bare consumer read %lld of %lld records (mock retention? more --partitions)\n",
            static_cast<long long>(got), static_cast<long long>(n));
    return 0;
  }
  return n / secs;
}

}  // namespace

int main(int argc, char** argv) {
  Flags f;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char* name) -> const char* {
      const std::string prefix = absl::StrCat("--", name, "=");
      return a.rfind(prefix, 0) == 0 ? argv[i] + prefix.size() : nullptr;
    };
    if (a == "--help" || a == "-h") {
      printf(
          "bench_projections [--events=200000] [--partners=200] [--customers=20000] "
          "[--partitions=32] [--max_batch=500] [--roi_publish_ms=1000] [--rebuild] [--in_memory] [--cache_mb=128]\n"
          "  [--pos_chunk_lines=0]\n"
          "Produces N source events (POS sale lines and returns, leads, deal registrations, MDF\n"
          "claims, after a plan, assignments and one funded campaign per partner) to the\n"
          "in-process dev Kafka cluster, then measures a bare librdkafka consumer reading them\n"
          "and the projections applying them end to end into a durable store. The mock keeps\n"
          "about 5 MB per partition (~10,000 POS lines): the defaults put ~4,000 on each POS\n"
          "partition, and the bench stops if the bare consumer finds records missing.\n"
          "--roi_publish_ms: the partner ROI is published (ProjectionsConsumer::FlushRoi) this\n"
          "often while the projections run, and once more before the clock stops (main.cc's\n"
          "--roi_publish_interval).\n"
          "--rebuild: the plan, assignments and fund approvals are measured with the rest (as\n"
          "when projections re-consume every topic); default: applied before, untimed.\n"
          "--in_memory: the store on its in-memory backend instead of RocksDB (a diagnostic:\n"
          "storage's share of the time).\n"
          "--cache_mb: the projector's read-model cache per generation (the projections\n"
          "binary's --read_model_cache_mb).\n"
          "--pos_chunk_lines: 0 (default), one PosLineAccepted record per POS line, the format\n"
          "before chunks; N, each partner's lines in PosLinesAccepted records of N lines, as\n"
          "pos_ingestion publishes them now (pos_ingestion writes at most 256): records are\n"
          "then heavier, and the sale lines/s is printed too.\n");
      return 0;
    } else if (const char* v = value("events")) {
      f.events = std::stoll(v);
    } else if (const char* v = value("partners")) {
      f.partners = std::stoi(v);
    } else if (const char* v = value("customers")) {
      f.customers = std::stoi(v);
    } else if (const char* v = value("partitions")) {
      f.partitions = std::stoi(v);
    } else if (const char* v = value("max_batch")) {
      f.max_batch = std::stoul(v);
    } else if (const char* v = value("roi_publish_ms")) {
      f.roi_publish_ms = std::stoi(v);
    } else if (a == "--rebuild") {
      f.rebuild = true;
    } else if (a == "--in_memory") {
      f.in_memory = true;
    } else if (const char* v = value("cache_mb")) {
      f.cache_mb = std::stoi(v);
    } else if (const char* v = value("pos_chunk_lines")) {
      f.pos_chunk_lines = std::stoi(v);
    } else {
      // `tools/channelops bench ARGS` gives every bench the same arguments.
      fprintf(stderr, "bench_projections: ignoring %s (see --help)\n", argv[i]);
    }
  }
  if (f.events < 1000 || f.partners < 1 || f.customers < 1 || f.partitions < 1 || f.max_batch < 1 ||
      f.roi_publish_ms < 1) {
    fprintf(stderr,
            "--events >= 1000; --partners, --customers, --partitions, --max_batch, "
            "--roi_publish_ms >= 1\n");
    return 2;
  }
  auto cluster = testing::KafkaCluster::Create(1, f.partitions);
  if (!cluster.ok()) {
    fprintf(stderr, "%s\n", cluster.status().ToString().c_str());
    return 1;
  }
  for (const std::string& t : projections::SourceTopics()) {
    (void)(*cluster)->CreateTopic(t, f.partitions);
  }
  const std::string bootstraps = (*cluster)->bootstraps();

  testing::TempDir dir;
  eventstore::Options so;
  so.path = dir.Path("projections");
  so.source = "channelops/projections";
  so.read_model_cfs = projections::ReadModelCfs();
  so.sync = true;  // durable, as in production
  auto store = f.in_memory ? eventstore::EventStore::OpenInMemory(so) : eventstore::EventStore::Open(so);
  if (!store.ok()) {
    fprintf(stderr, "%s\n", store.status().ToString().c_str());
    return 1;
  }
  projections::Projector projector(
      {.cache_generation_bytes = static_cast<size_t>(std::max(1, f.cache_mb)) << 20});
  // Applies records until `n` were applied (or skipped) by this consumer.
  struct Run {
    double seconds = 0, to_first_batch = 0;
    kafka::ConsumerRunner::Stats stats;
    int flushes = 0;                 // FlushRoi calls (periodic + the final one)
    double flush_seconds = 0;        // their wall time, inside `seconds`
    projections::RoiFlushStats roi;  // summed
  };
  int runs = 0;
  auto project = [&](int64_t n) -> std::optional<Run> {
    kafka::ConsumerOptions co;
    co.bootstraps = bootstraps;
    // Offsets live in the store; a fresh group spares waiting for the last
    // run's member to time out of the mock's group.
    co.group_id = absl::StrCat("bench.projections.", ++runs);
    co.topics = projections::SourceTopics();
    co.name = "projections";
    co.max_batch = f.max_batch;
    auto consumer = projections::ProjectionsConsumer::Create(**store, co, projector);
    if (!consumer.ok()) {
      fprintf(stderr, "%s\n", consumer.status().ToString().c_str());
      return std::nullopt;
    }
    Run run;
    const absl::Time t0 = absl::Now();
    if (auto s = (*consumer)->Start(); !s.ok()) {
      fprintf(stderr, "%s\n", s.ToString().c_str());
      return std::nullopt;
    }
    auto done = [&] {
      auto st = (*consumer)->stats();
      if (st.batches > 0 && run.to_first_batch == 0) {
        run.to_first_batch = absl::ToDoubleSeconds(absl::Now() - t0);
      }
      return static_cast<int64_t>(st.applied + st.duplicates + st.errors) >= n;
    };
    // The ROI publisher, as main.cc's background task: FlushRoi every
    // interval while the consumer runs (here on the polling thread: the
    // consumer's own threads keep going meanwhile).
    bool flush_failed = false;
    auto flush = [&] {
      const absl::Time f0 = absl::Now();
      auto r = (*consumer)->FlushRoi();
      run.flush_seconds += absl::ToDoubleSeconds(absl::Now() - f0);
      ++run.flushes;
      if (!r.ok()) {
        fprintf(stderr, "FlushRoi: %s\n", r.status().ToString().c_str());
        flush_failed = true;
        return;
      }
      run.roi.commands += r->commands;
      run.roi.published.marks += r->published.marks;
      run.roi.published.events += r->published.events;
      run.roi.published.periods += r->published.periods;
    };
    const absl::Duration interval = absl::Milliseconds(f.roi_publish_ms);
    absl::Time next_flush = t0 + interval;
    const absl::Time deadline = t0 + absl::Minutes(60);
    while (!done() && absl::Now() < deadline && !flush_failed) {
      if (absl::Now() >= next_flush) {
        flush();
        next_flush = absl::Now() + interval;  // as the runtime's task: the interval between
      } else {
        absl::SleepFor(absl::Milliseconds(5));
      }
    }
    flush();  // the last changes, inside the measured time
    run.seconds = absl::ToDoubleSeconds(absl::Now() - t0);
    (*consumer)->Stop();
    run.stats = (*consumer)->stats();
    if (flush_failed) return std::nullopt;
    if (static_cast<int64_t>(run.stats.applied + run.stats.duplicates + run.stats.errors) < n) {
      fprintf(stderr, "projections applied %llu of %lld in 60 min\n",
              static_cast<unsigned long long>(run.stats.applied), static_cast<long long>(n));
      return std::nullopt;
    }
    return run;
  };

  // The facts every sale is credited against. In steady state they were
  // consumed long before; with --rebuild they are part of the measured stream
  // and meet the sales in whatever order the consumer fetches the topics.
  SourceTopics out(bootstraps);
  Channel channel(out, f);
  channel.Setup();
  const int64_t setup = out.produced();
  if (!out.Flush()) {
    fprintf(stderr, "producing the source events failed\n");
    return 1;
  }
  if (!f.rebuild && !project(setup)) return 1;
  out.set_limit(setup + f.events);
  channel.Run();
  if (!out.Flush()) {
    fprintf(stderr, "producing the source events failed\n");
    return 1;
  }
  const int64_t total = out.produced();
  std::string mix;
  for (const auto& [type, n] : out.by_type()) {
    absl::StrAppend(&mix, mix.empty() ? "" : ", ", type.substr(type.rfind('.') + 1), " ", n);
  }
  printf(
      "# projections benchmark: %lld source events + %lld setup (plan, assignments, funded "
      "campaigns; %s), %zu bytes/event on average, 5 topics x %d partitions, in-process dev Kafka "
      "cluster, %d partners, %d customers, batches of <= %zu records, partner ROI published "
      "every %d ms, read-model cache %d MiB per generation%s\n# mix: %s\n",
      static_cast<long long>(f.events), static_cast<long long>(setup),
      f.rebuild ? "produced with the rest: a rebuild" : "applied before the measurement",
      out.bytes() / total, f.partitions, f.partners, f.customers, f.max_batch, f.roi_publish_ms,
      f.cache_mb, f.in_memory ? ", store IN MEMORY (diagnostic)" : "", mix.c_str());
  fflush(stdout);

  const double bare = BareConsumer(bootstraps, f.partitions, total);
  if (bare == 0) return 1;

  const int64_t measured = f.rebuild ? total : f.events;
  auto run = project(measured);
  if (!run) return 1;
  const double rate = measured / run->seconds;
  std::map<std::string, int64_t> derived;
  (void)(*store)->ReadAllRaw(1, SIZE_MAX, [&](uint64_t, absl::string_view raw) {
    common::v1::EventEnvelope env;
    if (env.ParseFromArray(raw.data(), static_cast<int>(raw.size()))) {
      const std::string& t = env.event_type();
      ++derived[t.substr(t.rfind('.') + 1)];
    }
  });
  std::string derived_text;
  for (const auto& [type, n] : derived) {
    absl::StrAppend(&derived_text, derived_text.empty() ? "" : ", ", type, " ", n);
  }
  (*store)->Close();
  const auto& stats = run->stats;
  const double secs = run->seconds;

  printf("bare librdkafka consumer (assign, read only)          : %10.0f events/s\n", bare);
  printf(
      "projections end to end (runner+projector, durable)   : %10.0f events/s  (%.3fx bare "
      "consumer; %.1f s, of which %.1f s to the first batch)\n",
      rate, rate / bare, secs, run->to_first_batch);
  if (run->seconds > run->to_first_batch) {
    // The dev cluster's group coordinator holds a new group's first join for
    // 3 s (librdkafka 2.0's mock: group.initial.rebalance.delay.ms, fixed):
    // the rate once the consumer has its partitions.
    const double steady = measured / (run->seconds - run->to_first_batch);
    printf("  from the first batch on: %.0f events/s (%.3fx bare consumer)\n", steady,
           steady / bare);
  }
  if (f.pos_chunk_lines > 0) {
    printf("  POS sale lines in PosLinesAccepted records of %d: %lld, %.0f lines/s end to end\n",
           f.pos_chunk_lines, static_cast<long long>(channel.chunk_lines()),
           channel.chunk_lines() / secs);
  }
  printf("  %llu batches (%.0f records each), %llu applied, %llu errors; derived: %s\n",
         static_cast<unsigned long long>(stats.batches),
         static_cast<double>(measured) / std::max<uint64_t>(1, stats.batches),
         static_cast<unsigned long long>(stats.applied),
         static_cast<unsigned long long>(stats.errors), derived_text.c_str());
  printf(
      "  partner ROI: %d flushes (%.1f s of the run), %zu commands, %zu (partner, month) marks "
      "recomputed, %zu published in %zu PartnerRoiChanged\n",
      run->flushes, run->flush_seconds, run->roi.commands, run->roi.published.marks,
      run->roi.published.periods, run->roi.published.events);
  const auto cache = projector.cache_stats();
  printf(
      "  read-model cache: %llu hits, %llu misses, list scans %llu hits, %llu misses, %llu "
      "drops, ~%zu MiB at the end\n",
      static_cast<unsigned long long>(cache.hits), static_cast<unsigned long long>(cache.misses),
      static_cast<unsigned long long>(cache.scan_hits),
      static_cast<unsigned long long>(cache.scan_misses),
      static_cast<unsigned long long>(cache.drops), cache.bytes >> 20);
  printf("floor: >= 0.5x bare consumer: %s\n", rate >= 0.5 * bare ? "PASS" : "FAIL");
  return 0;
}
