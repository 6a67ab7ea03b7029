// Co-op accrual end to end through Kafka: POS ShipmentRecorded events, wrapped
// in EventEnvelopes with the relay's CloudEvents headers, are published to an
// in-process Kafka cluster; the libs/kafka consumer runner applies them through
// the mdf handler into a RocksDB store served by the real MdfService. The
// runner is stopped mid-stream, the store is reopened, the first half of the
// topic is redelivered, a shipment is re-sent in new events, a poison record
// is mixed in, and finally a second consumer (fresh offsets and marks) replays
// the whole topic. The accrued totals must equal the amounts computed here by
// hand, exactly.

#include "mdf/coop_accrual.h"

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "channelops/core/clock.h"
#include "channelops/eventstore/event_store.h"
#include "channelops/kafka/config.h"
#include "channelops/kafka/consumer_runner.h"
#include "channelops/mdf/v1/events.pb.h"
#include "channelops/mdf/v1/mdf.grpc.pb.h"
#include "channelops/pos/v1/events.pb.h"
#include "channelops/testing/kafka_cluster.h"
#include "channelops/testing/temp_dir.h"
#include "grpcpp/grpcpp.h"
#include "channelops/testing/local_server.h"
#include "gtest/gtest.h"
#include "mdf/domain/convert.h"
#include "mdf/mdf_service.h"

namespace channelops::mdf {
namespace {

using common::v1::EventEnvelope;
using testing::Record;

constexpr char kSource[] = "channelops/pos_ingestion";
constexpr int kPartitions = 4;
constexpr int64_t kRateBps = 275;       // 2.75%
constexpr uint64_t kEvents = 240;       // global positions 1..240 on the POS topic
constexpr uint64_t kPoison = 233;       // a ShipmentRecorded without a partner
constexpr int kBreakAtP1Shipment = 30;  // runner A stalls on partner p1's 30th shipment
const absl::Time kStart = absl::FromUnixSeconds(1767225600);  // 2026-01-01T00:00:00Z

// ---- the POS topic, generated deterministically from the position ----

// Position p carries either another event type (every 10th: ignored) or a
// shipment. Every 17th position re-sends an earlier shipment (base p - 5) in a
// new event; its content is a function of the base id only, so either copy
// credits the same amount.
struct ShipmentSpec {
  uint64_t base;  // shipment id number
  std::string partner;
  std::string currency;
  int64_t micros;
  absl::CivilDay day;
};

ShipmentSpec SpecOf(uint64_t base) {
  ShipmentSpec s;
  s.base = base;
  s.partner = std::vector<std::string>{"p1", "p2", "p3"}[base % 3];  // p3 has no co-op fund
  s.currency = base % 11 == 0 ? "EUR" : "USD";                       // no EUR fund: not credited
  s.micros = static_cast<int64_t>((base * 7919 * 1000003) % 9'000'000'000) + 1;
  // Within Q1 2026, except every 13th: shipped before the fund's period.
  s.day = base % 13 == 0 ? absl::CivilDay(2025, 12, 20) : absl::CivilDay(2026, 1, 1) + base % 80;
  return s;
}

bool IsShipment(uint64_t p) { return p % 10 != 0; }
uint64_t BaseOf(uint64_t p) { return p % 17 == 0 ? p - 5 : p; }

EventEnvelope EnvelopeAt(uint64_t p) {
  EventEnvelope e;
  e.set_event_id(absl::StrCat("pos-event-", p));
  e.set_global_position(p);
  e.set_source(kSource);
  *e.mutable_occurred_at() = domain::ToProtoTime(kStart + absl::Minutes(p));
  if (!IsShipment(p)) {
    pos::v1::ShipmentReceived received;
    received.set_shipment_id(absl::StrCat("shp-", p - 1));
    received.set_partner_id("p1");
    e.set_stream_id("partner-p1");
    e.set_event_type("channelops.pos.v1.ShipmentReceived");
    e.mutable_payload()->PackFrom(received);
    return e;
  }
  const ShipmentSpec spec = SpecOf(BaseOf(p));
  pos::v1::ShipmentRecorded s;
  s.set_shipment_id(absl::StrCat("shp-", spec.base));
  s.set_partner_id(p == kPoison ? "" : spec.partner);
  s.set_sku("NET-100");
  s.set_quantity(3);
  s.mutable_extended_amount()->set_currency_code(spec.currency);
  s.mutable_extended_amount()->set_amount_micros(spec.micros);
  *s.mutable_shipped_at() = domain::ToProtoTime(domain::StartOf(spec.day) + absl::Hours(10));
  e.set_stream_id(absl::StrCat("partner-", spec.partner));
  e.set_event_type(kShipmentRecordedType);
  e.mutable_payload()->PackFrom(s);
  return e;
}

// As the outbox relay publishes it (libs/outbox/src/relay.cc).
Record ToRecord(const EventEnvelope& e) {
  Record r;
  r.topic = kPosTopic;
  r.key = e.stream_id();
  r.value = e.SerializeAsString();
  r.headers = {{"ce_specversion", "1.0"},
               {"ce_id", e.event_id()},
               {"ce_source", e.source()},
               {"ce_type", e.event_type()},
               {"ce_time", "2026-01-01T00:00:00Z"},
               {"ce_subject", e.stream_id()},
               {"content-type", "application/protobuf; proto=channelops.common.v1.EventEnvelope"},
               {"channelops_position", absl::StrCat(e.global_position())}};
  return r;
}

std::vector<Record> Records(uint64_t from, uint64_t to) {
  std::vector<Record> out;
  for (uint64_t p = from; p <= to; ++p) out.push_back(ToRecord(EnvelopeAt(p)));
  return out;
}

// The hand computation: each distinct eligible shipment once, at
// micros x 275 / 10000 rounded half up (amounts are positive).
struct Expected {
  std::map<std::string, int64_t> accrued;  // partner -> micros
  std::map<std::string, int64_t> count;    // partner -> shipments credited
};

Expected ExpectedAccruals() {
  Expected out;
  std::set<uint64_t> seen;
  for (uint64_t p = 1; p <= kEvents; ++p) {
    if (!IsShipment(p) || p == kPoison) continue;
    const ShipmentSpec s = SpecOf(BaseOf(p));
    if (!seen.insert(s.base).second) continue;
    if (s.partner == "p3" || s.currency != "USD" || s.day < absl::CivilDay(2026, 1, 1)) continue;
    const int64_t amount = (s.micros * kRateBps + 5000) / 10000;
    if (amount == 0) continue;
    out.accrued[s.partner] += amount;
    out.count[s.partner] += 1;
  }
  return out;
}

bool WaitFor(const std::function<bool()>& pred, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (pred()) return true;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return pred();
}

class CoopAccrualTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cluster = testing::KafkaCluster::Create(1, kPartitions);
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = std::move(*cluster);
    ASSERT_TRUE(cluster_->CreateTopic(kPosTopic).ok());
    ASSERT_NO_FATAL_FAILURE(Open());
  }

  void TearDown() override { Close(); }

  // The mdf store and service (the process, as far as this test goes).
  void Open() {
    eventstore::Options o;
    o.path = dir_.Path("store");
    o.source = "channelops/mdf";
    o.read_model_cfs = MdfService::ReadModelCfs();
    o.clock = &clock_;
    auto store = eventstore::EventStore::Open(o);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    service_ = std::make_unique<MdfService>(*store_, clock_);
    auto local = ::channelops::testing::StartLocalServer(service_.get());
    ASSERT_TRUE(local.ok()) << local.status();
    server_ = std::move(local->server);
    stub_ = v1::MdfService::NewStub(local->channel);
  }

  void Close() {
    if (server_) server_->Shutdown();
    server_.reset();
    service_.reset();
    if (store_) store_->Close();
    store_.reset();
  }

  void AllocateCoop(const std::string& fund_id, const std::string& partner) {
    v1::AllocateFundsRequest r;
    r.set_request_id(absl::StrCat("alloc-", fund_id));
    r.set_fund_id(fund_id);
    r.set_partner_id(partner);
    r.set_kind(v1::FUND_KIND_COOP);
    r.mutable_period()->set_start_date("2026-01-01");
    r.mutable_period()->set_end_date("2026-04-01");
    r.mutable_amount()->set_currency_code("USD");
    *r.mutable_expires_at() = domain::ToProtoTime(kStart + absl::Hours(24 * 120));
    grpc::ClientContext ctx;
    v1::FundResponse resp;
    grpc::Status s = stub_->AllocateFunds(&ctx, r, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  v1::Fund GetFund(const std::string& fund_id) {
    v1::GetFundRequest r;
    r.set_fund_id(fund_id);
    grpc::ClientContext ctx;
    v1::FundResponse resp;
    grpc::Status s = stub_->GetFund(&ctx, r, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.fund();
  }

  kafka::ConsumerOptions Options(const std::string& name, size_t max_batch) {
    kafka::ConsumerOptions o;
    o.bootstraps = cluster_->bootstraps();
    o.group_id = "group-" + name;
    o.topics = {kPosTopic};
    o.name = name;
    o.max_batch = max_batch;
    o.retry_backoff = absl::Milliseconds(20);
    // The mock finishes a rebalance after a member leaves only when its session
    // times out: keep restarts quick.
    o.kafka_properties["session.timeout.ms"] = "6000";
    o.kafka_properties["heartbeat.interval.ms"] = "500";
    return o;
  }

  // True once the offsets the store holds for `name` reach every partition's end.
  bool CaughtUp(const std::string& name) {
    auto conf = kafka::MakeConf(cluster_->bootstraps(), {{"log_level", "3"}});
    if (!conf.ok()) return false;
    auto rk = kafka::NewClient(RD_KAFKA_PRODUCER, std::move(*conf));
    if (!rk.ok()) return false;
    for (int p = 0; p < kPartitions; ++p) {
      int64_t low = 0, high = 0;
      if (rd_kafka_query_watermark_offsets(rk->get(), kPosTopic, p, &low, &high, 5000) !=
          RD_KAFKA_RESP_ERR_NO_ERROR) {
        return false;
      }
      auto stored =
          store_->Get(eventstore::kMetaCf, kafka::ConsumerRunner::OffsetKey(name, kPosTopic, p));
      int64_t next = 0;
      if (!stored.ok()) return false;
      if (stored->has_value() && !absl::SimpleAtoi(**stored, &next)) return false;
      if (next != high) return false;
    }
    return true;
  }

  // CoopAccrued events in the store, and the shipment ids they credit.
  std::multiset<std::string> CreditedShipments() {
    std::multiset<std::string> out;
    auto events = store_->ReadAll(1, 1'000'000);
    EXPECT_TRUE(events.ok()) << events.status();
    for (const auto& env : *events) {
      v1::CoopAccrued e;
      if (env.payload().UnpackTo(&e)) out.insert(e.shipment_id());
    }
    return out;
  }

  core::FakeClock clock_{kStart};
  testing::TempDir dir_{"mdf_coop_accrual_test"};
  std::unique_ptr<testing::KafkaCluster> cluster_;
  std::unique_ptr<eventstore::EventStore> store_;
  std::unique_ptr<MdfService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::MdfService::Stub> stub_;
};

TEST_F(CoopAccrualTest, EachShipmentAccruesExactlyOnceAcrossRedeliveryRestartAndReplay) {
  const Expected expected = ExpectedAccruals();
  ASSERT_GT(expected.count.at("p1"), kBreakAtP1Shipment);  // the break happens mid-stream
  ASSERT_GT(expected.count.at("p2"), 10);
  AllocateCoop("coop-p1", "p1");
  AllocateCoop("coop-p2", "p2");
  ASSERT_TRUE(testing::ProduceRecords(cluster_->bootstraps(), Records(1, kEvents / 2)).ok());

  // Runner A applies small batches, then stalls for good on p1's 30th shipment
  // (as if storage failed): every batch with it is abandoned and retried.
  CoopAccrual accrual(kRateBps);
  std::atomic<int> p1_seen{0};
  std::atomic<bool> broken{false};
  std::set<uint64_t> p1_positions;
  for (uint64_t p = 1; p <= kEvents / 2; ++p) {
    if (IsShipment(p) && SpecOf(BaseOf(p)).partner == "p1") p1_positions.insert(p);
  }
  const uint64_t break_at = *std::next(p1_positions.begin(), kBreakAtP1Shipment - 1);
  auto a = kafka::ConsumerRunner::Create(
      *store_, Options("coop_accrual", 20),
      [&](eventstore::Tx& tx, const kafka::ConsumedEvent& ev) -> absl::Status {
        if (ev.global_position == break_at) broken = true;
        if (broken) return absl::UnavailableError("disk on fire");
        return accrual.Apply(tx, ev);
      });
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE((*a)->Start().ok());
  ASSERT_TRUE(WaitFor([&] { return (*a)->stats().retries >= 3; }, absl::Seconds(90)));
  (*a)->Stop();
  const kafka::ConsumerRunner::Stats stats_a = (*a)->stats();
  a->reset();
  EXPECT_GT(stats_a.applied, 0u);
  EXPECT_LT(stats_a.applied, kEvents / 2);
  const v1::Fund p1_mid = GetFund("coop-p1");
  EXPECT_LT(p1_mid.accrual_count(), kBreakAtP1Shipment);  // nothing of the failed batches

  // Restart: reopen the store; the relay republishes the first half after the
  // second (redelivery with the same positions).
  Close();
  ASSERT_NO_FATAL_FAILURE(Open());
  EXPECT_EQ(GetFund("coop-p1").SerializeAsString(), p1_mid.SerializeAsString());
  ASSERT_TRUE(
      testing::ProduceRecords(cluster_->bootstraps(), Records(kEvents / 2 + 1, kEvents)).ok());
  ASSERT_TRUE(testing::ProduceRecords(cluster_->bootstraps(), Records(1, kEvents / 2)).ok());

  auto b = kafka::ConsumerRunner::Create(*store_, Options("coop_accrual", 50), accrual.AsHandler());
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_TRUE((*b)->Start().ok());
  ASSERT_TRUE(WaitFor([&] { return CaughtUp("coop_accrual"); }, absl::Seconds(120)));
  (*b)->Stop();
  const kafka::ConsumerRunner::Stats stats_b = (*b)->stats();
  b->reset();

  // Every record applied exactly once (ignored types and skips included) but
  // the poison record, which is reported and skipped; every redelivered copy
  // was a duplicate.
  EXPECT_EQ(stats_a.applied + stats_b.applied, kEvents - 1);
  EXPECT_EQ(stats_b.duplicates, kEvents / 2);
  EXPECT_EQ(stats_b.errors, 1u);

  auto check_totals = [&](const char* when) {
    const v1::Fund p1 = GetFund("coop-p1");
    const v1::Fund p2 = GetFund("coop-p2");
    EXPECT_EQ(p1.balance().accrued().amount_micros(), expected.accrued.at("p1")) << when;
    EXPECT_EQ(p2.balance().accrued().amount_micros(), expected.accrued.at("p2")) << when;
    EXPECT_EQ(p1.balance().available().amount_micros(), expected.accrued.at("p1")) << when;
    EXPECT_EQ(p1.accrual_count(), expected.count.at("p1")) << when;
    EXPECT_EQ(p2.accrual_count(), expected.count.at("p2")) << when;
    // One CoopAccrued per credited shipment, never two.
    std::multiset<std::string> credited = CreditedShipments();
    EXPECT_EQ(static_cast<int64_t>(credited.size()),
              expected.count.at("p1") + expected.count.at("p2"))
        << when;
    for (const std::string& id : credited) EXPECT_EQ(credited.count(id), 1u) << id << " " << when;
  };
  check_totals("after redelivery and restart");

  // A consumer with fresh offsets and marks (say, a re-created consumer name)
  // replays the whole topic, redelivered copies included: the runner's marks
  // do not protect here, the shipment-id key does.
  auto c = kafka::ConsumerRunner::Create(*store_, Options("coop_accrual_replay", 100),
                                         accrual.AsHandler());
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE((*c)->Start().ok());
  ASSERT_TRUE(WaitFor([&] { return CaughtUp("coop_accrual_replay"); }, absl::Seconds(120)));
  (*c)->Stop();
  EXPECT_EQ((*c)->stats().applied, kEvents - 1);
  EXPECT_EQ((*c)->stats().duplicates, kEvents / 2);
  check_totals("after a full replay");
}

}  // namespace
}  // namespace channelops::mdf
