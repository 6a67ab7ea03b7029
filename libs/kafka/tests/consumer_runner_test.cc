// The consumer runner against an in-process Kafka cluster and a RocksDB event
// store: exactly-once effect across redelivery and restarts, poison records,
// retried batches, JSON envelopes, metrics.

#include "channelops/kafka/consumer_runner.h"

#include <atomic>
#include <functional>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "channelops/testing/kafka_cluster.h"
#include "channelops/testing/metrics.h"
#include "channelops/testing/temp_dir.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/wrappers.pb.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"

namespace channelops::kafka {
namespace {

using common::v1::EventEnvelope;
using testing::MetricValue;
using testing::Record;

constexpr char kTopic[] = "channelops.test.events.v1";
constexpr char kSource[] = "channelops/test";
constexpr int kPartitions = 8;

EventEnvelope Envelope(uint64_t position) {
  EventEnvelope e;
  e.set_event_id(absl::StrCat("event-", position));
  e.set_stream_id(absl::StrCat("stream-", position % 25));
  e.set_global_position(position);
  e.set_event_type("google.protobuf.StringValue");
  e.set_source(kSource);
  google::protobuf::StringValue payload;
  payload.set_value(absl::StrCat("payload-", position));
  e.mutable_payload()->PackFrom(payload);
  return e;
}

Record ToRecord(const EventEnvelope& e, bool json = false) {
  Record r;
  r.topic = kTopic;
  r.key = e.stream_id();
  if (json) {
    EXPECT_TRUE(google::protobuf::util::MessageToJsonString(e, &r.value).ok());
  } else {
    r.value = e.SerializeAsString();
  }
  r.headers = {{"ce_specversion", "1.0"},
               {"ce_id", e.event_id()},
               {"ce_source", kSource},
               {"ce_type", e.event_type()},
               {"content-type", json ? "application/json" : "application/protobuf"}};
  return r;
}

std::vector<Record> Records(uint64_t from, uint64_t to, bool json = false) {
  std::vector<Record> out;
  for (uint64_t p = from; p <= to; ++p) out.push_back(ToRecord(Envelope(p), json));
  return out;
}

// Reads a decimal counter from the store ("" = 0).
uint64_t ReadU64(const eventstore::EventStore& store, absl::string_view cf, absl::string_view key) {
  auto v = store.Get(cf, key);
  uint64_t n = 0;
  if (v.ok() && v->has_value()) {
    EXPECT_TRUE(absl::SimpleAtoi(**v, &n)) << **v;
  }
  return n;
}

// The read model the tests derive: a count, one row per applied position, and
// a count of positions applied twice (which must stay 0).
absl::Status CountInto(eventstore::Tx& tx, const ConsumedEvent& ev) {
  auto count = tx.Get("rm_counts", "count");
  if (!count.ok()) return count.status();
  uint64_t n = 0;
  if (count->has_value() && !absl::SimpleAtoi(**count, &n)) return absl::InternalError("bad count");
  tx.Put("rm_counts", "count", std::to_string(n + 1));
  const std::string seen_key = absl::StrCat("seen/", ev.global_position);
  auto seen = tx.Get("rm_counts", seen_key);
  if (!seen.ok()) return seen.status();
  if (seen->has_value()) {
    auto dups = tx.Get("rm_counts", "dups");
    uint64_t d = 0;
    if (dups.ok() && dups->has_value()) (void)absl::SimpleAtoi(**dups, &d);
    tx.Put("rm_counts", "dups", std::to_string(d + 1));
  }
  tx.Put("rm_counts", seen_key, "1");
  return absl::OkStatus();
}

bool WaitFor(const std::function<bool()>& pred, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (pred()) return true;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return pred();
}

class ConsumerRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cluster = testing::KafkaCluster::Create(1, kPartitions);
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = std::move(*cluster);
    ASSERT_TRUE(cluster_->CreateTopic(kTopic).ok());
    ASSERT_NO_FATAL_FAILURE(OpenStore());
  }

  void OpenStore() {
    eventstore::Options o;
    o.path = dir_.Path("db");
    o.source = "channelops/consumer_runner_test";
    o.read_model_cfs = {"rm_counts"};
    auto store = eventstore::EventStore::Open(o);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }

  void CloseStore() {
    store_->Close();
    store_.reset();
  }

  ConsumerOptions Options(const std::string& name) {
    ConsumerOptions o;
    o.bootstraps = cluster_->bootstraps();
    o.group_id = "group-" + name;
    o.topics = {kTopic};
    o.name = name;
    o.max_batch = 50;
    o.retry_backoff = absl::Milliseconds(20);
    // The mock finishes the rebalance after a member leaves only when that
    // member's session timeout passes (45 s by default): keep restarts quick.
    o.kafka_properties["session.timeout.ms"] = "6000";
    o.kafka_properties["heartbeat.interval.ms"] = "500";
    return o;
  }

  // True once the offsets the store holds for `name` reach every partition's end.
  bool CaughtUp(const std::string& name) {
    auto conf = MakeConf(cluster_->bootstraps(), {{"log_level", "3"}});
    if (!conf.ok()) return false;
    auto rk = NewClient(RD_KAFKA_PRODUCER, std::move(*conf));
    if (!rk.ok()) return false;
    for (int p = 0; p < kPartitions; ++p) {
      int64_t low = 0, high = 0;
      if (rd_kafka_query_watermark_offsets(rk->get(), kTopic, p, &low, &high, 5000) !=
          RD_KAFKA_RESP_ERR_NO_ERROR) {
        return false;
      }
      const uint64_t stored =
          ReadU64(*store_, eventstore::kMetaCf, ConsumerRunner::OffsetKey(name, kTopic, p));
      if (static_cast<int64_t>(stored) != high) return false;
    }
    return true;
  }

  uint64_t Count() { return ReadU64(*store_, "rm_counts", "count"); }

  testing::TempDir dir_;
  std::unique_ptr<testing::KafkaCluster> cluster_;
  std::unique_ptr<eventstore::EventStore> store_;
};

TEST_F(ConsumerRunnerTest, ExactlyOnceAcrossRedeliveryAndRestart) {
  constexpr uint64_t kN = 400;
  ASSERT_TRUE(testing::ProduceRecords(cluster_->bootstraps(), Records(1, kN / 2)).ok());

  // Runner A applies some batches, then every batch fails as if storage broke:
  // it must retry the same batch (from the stored offsets) without advancing.
  prometheus::Registry registry_a;
  std::atomic<bool> broken{false};
  auto a = ConsumerRunner::Create(
      *store_, Options("projection"),
      [&](eventstore::Tx& tx, const ConsumedEvent& ev) -> absl::Status {
        auto n = tx.Get("rm_counts", "count");
        if (n.ok() && n->has_value() && **n == "120") broken = true;
        if (broken) return absl::UnavailableError("disk on fire");
        return CountInto(tx, ev);
      },
      &registry_a);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE((*a)->Start().ok());
  ASSERT_TRUE(WaitFor([&] { return (*a)->stats().retries >= 3; }, absl::Seconds(60)))
      << "count=" << Count();
  const uint64_t before_restart = Count();
  EXPECT_GT(before_restart, 0u);
  EXPECT_LE(before_restart, 120u);
  EXPECT_EQ((*a)->stats().applied, before_restart);
  EXPECT_GE(MetricValue(registry_a, "channelops_consumer_errors_total", {{"kind", "storage"}}), 3);
  // While stalled, the lag shows what is left.
  EXPECT_TRUE(
      WaitFor([&] { return MetricValue(registry_a, "channelops_consumer_lag_events", {}) > 0; },
              absl::Seconds(10)));
  (*a)->Stop();
  a->reset();
  EXPECT_EQ(Count(), before_restart);  // nothing of the failed batches leaked in

  // Reopen the store, publish the rest, and redeliver the first half (as a
  // relay restart would). Runner B continues from the stored offsets.
  CloseStore();
  ASSERT_NO_FATAL_FAILURE(OpenStore());
  ASSERT_TRUE(testing::ProduceRecords(cluster_->bootstraps(), Records(kN / 2 + 1, kN)).ok());
  ASSERT_TRUE(testing::ProduceRecords(cluster_->bootstraps(), Records(1, kN / 2)).ok());

  prometheus::Registry registry_b;
  auto b = ConsumerRunner::Create(*store_, Options("projection"), CountInto, &registry_b);
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_TRUE((*b)->Start().ok());
  ASSERT_TRUE(WaitFor([&] { return CaughtUp("projection"); }, absl::Seconds(90)))
      << "count=" << Count();
  (*b)->Stop();

  EXPECT_EQ(Count(), kN);
  EXPECT_EQ(ReadU64(*store_, "rm_counts", "dups"), 0u);
  for (uint64_t p : {1ul, 120ul, 121ul, 200ul, 201ul, 400ul}) {
    EXPECT_TRUE(store_->Get("rm_counts", absl::StrCat("seen/", p))->has_value()) << p;
  }
  EXPECT_EQ((*b)->stats().applied, kN - before_restart);
  EXPECT_EQ((*b)->stats().duplicates, kN / 2);
  EXPECT_EQ((*b)->stats().errors, 0u);
  EXPECT_EQ(MetricValue(registry_b, "channelops_consumer_events_applied_total",
                        {{"consumer", "projection"}, {"topic", kTopic}}),
            static_cast<double>(kN - before_restart));
  EXPECT_EQ(
      MetricValue(registry_b, "channelops_consumer_duplicates_skipped_total", {{"topic", kTopic}}),
      static_cast<double>(kN / 2));
  // Every partition's dedupe mark is the highest position it carried.
  uint64_t highest = 0;
  for (int p = 0; p < kPartitions; ++p) {
    highest =
        std::max(highest, ReadU64(*store_, eventstore::kMetaCf,
                                  ConsumerRunner::DedupeKey("projection", kSource, kTopic, p)));
  }
  EXPECT_EQ(highest, kN);

  // A third runner on the same store resumes at the stored offsets: it applies
  // one new event and sees nothing old again.
  ASSERT_TRUE(testing::ProduceRecords(cluster_->bootstraps(), Records(kN + 1, kN + 1)).ok());
  auto c = ConsumerRunner::Create(*store_, Options("projection"), CountInto);
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE((*c)->Start().ok());
  ASSERT_TRUE(WaitFor([&] { return CaughtUp("projection"); }, absl::Seconds(60)));
  (*c)->Stop();
  EXPECT_EQ((*c)->stats().applied, 1u);
  EXPECT_EQ((*c)->stats().duplicates, 0u);
  EXPECT_EQ(Count(), kN + 1);
}

TEST_F(ConsumerRunnerTest, PoisonRecordsAreSkippedWithoutStallingOrPartialWrites) {
  constexpr uint64_t kN = 60;
  std::vector<Record> records = Records(1, kN);
  // Three records that cannot be decoded into something dedupable.
  Record garbage = records[0];
  garbage.value = "garbage";
  EventEnvelope no_source = Envelope(1000);
  no_source.clear_source();
  Record no_source_rec = ToRecord(no_source);
  no_source_rec.headers.erase(no_source_rec.headers.begin() + 2);  // ce_source
  Record no_position = ToRecord(Envelope(0));
  records.insert(records.begin() + 10, garbage);
  records.insert(records.begin() + 30, no_source_rec);
  records.push_back(no_position);
  ASSERT_TRUE(testing::ProduceRecords(cluster_->bootstraps(), records).ok());

  prometheus::Registry registry;
  auto runner = ConsumerRunner::Create(
      *store_, Options("poison"),
      [](eventstore::Tx& tx, const ConsumedEvent& ev) -> absl::Status {
        // Stage a write first: it must not survive the error.
        tx.Put("rm_counts", absl::StrCat("touched/", ev.global_position), "1");
        if (ev.global_position % 20 == 7) return absl::InvalidArgumentError("bad event");
        return CountInto(tx, ev);
      },
      &registry);
  ASSERT_TRUE(runner.ok()) << runner.status();
  ASSERT_TRUE((*runner)->Start().ok());
  ASSERT_TRUE(WaitFor([&] { return CaughtUp("poison"); }, absl::Seconds(60))) << Count();
  (*runner)->Stop();

  EXPECT_EQ(Count(), kN - 3);  // 7, 27, 47
  for (uint64_t p : {7ul, 27ul, 47ul}) {
    EXPECT_FALSE(store_->Get("rm_counts", absl::StrCat("touched/", p))->has_value()) << p;
    EXPECT_FALSE(store_->Get("rm_counts", absl::StrCat("seen/", p))->has_value()) << p;
  }
  EXPECT_TRUE(store_->Get("rm_counts", "touched/8")->has_value());
  EXPECT_EQ((*runner)->stats().errors, 6u);
  EXPECT_EQ(MetricValue(registry, "channelops_consumer_errors_total", {{"kind", "handler"}}), 3);
  EXPECT_EQ(MetricValue(registry, "channelops_consumer_errors_total", {{"kind", "decode"}}), 3);
  EXPECT_EQ(ReadU64(*store_, "rm_counts", "dups"), 0u);
}

TEST_F(ConsumerRunnerTest, RetryableHandlerErrorRetriesTheBatchFromTheStoredOffsets) {
  constexpr uint64_t kN = 100;
  ASSERT_TRUE(testing::ProduceRecords(cluster_->bootstraps(), Records(1, kN)).ok());
  std::atomic<int> failures{0};
  auto runner = ConsumerRunner::Create(
      *store_, Options("retry"), [&](eventstore::Tx& tx, const ConsumedEvent& ev) -> absl::Status {
        if (ev.global_position == 13 && failures.fetch_add(1) < 3) {
          return absl::DeadlineExceededError("downstream slow");
        }
        return CountInto(tx, ev);
      });
  ASSERT_TRUE(runner.ok()) << runner.status();
  ASSERT_TRUE((*runner)->Start().ok());
  ASSERT_TRUE(WaitFor([&] { return CaughtUp("retry"); }, absl::Seconds(60))) << Count();
  (*runner)->Stop();
  EXPECT_EQ(Count(), kN);
  EXPECT_TRUE(store_->Get("rm_counts", "seen/13")->has_value());
  EXPECT_EQ((*runner)->stats().retries, 3u);
  EXPECT_EQ((*runner)->stats().errors, 0u);
  EXPECT_EQ(ReadU64(*store_, "rm_counts", "dups"), 0u);
}

TEST_F(ConsumerRunnerTest, PipelinedBatchesStayInOrderThroughPoisonAndRetries) {
  // Small batches, several queued in the store at once: a poison record or a
  // retryable error in one batch voids the batches queued after it, which are
  // then applied again, in order, exactly once.
  constexpr uint64_t kN = 400;
  ASSERT_TRUE(testing::ProduceRecords(cluster_->bootstraps(), Records(1, kN)).ok());
  std::atomic<int> failures{0};
  ConsumerOptions o = Options("pipelined");
  o.max_batch = 7;
  o.max_batches_in_flight = 4;
  auto runner = ConsumerRunner::Create(
      *store_, o, [&](eventstore::Tx& tx, const ConsumedEvent& ev) -> absl::Status {
        if (ev.global_position % 50 == 7) return absl::InvalidArgumentError("bad event");
        if (ev.global_position == 123 && failures.fetch_add(1) < 2) {
          return absl::UnavailableError("downstream down");
        }
        // Per partition, positions must arrive increasing (each partition
        // holds them in order): count any that does not.
        const std::string last_key = absl::StrCat("last/", ev.partition);
        auto last = tx.Get("rm_counts", last_key);
        if (!last.ok()) return last.status();
        uint64_t prev = 0;
        if (last->has_value()) (void)absl::SimpleAtoi(**last, &prev);
        if (ev.global_position <= prev) {
          auto v = tx.Get("rm_counts", "order_violations");
          uint64_t n = 0;
          if (v.ok() && v->has_value()) (void)absl::SimpleAtoi(**v, &n);
          tx.Put("rm_counts", "order_violations", std::to_string(n + 1));
        }
        tx.Put("rm_counts", last_key, std::to_string(ev.global_position));
        return CountInto(tx, ev);
      });
  ASSERT_TRUE(runner.ok()) << runner.status();
  ASSERT_TRUE((*runner)->Start().ok());
  ASSERT_TRUE(WaitFor([&] { return CaughtUp("pipelined"); }, absl::Seconds(60))) << Count();
  (*runner)->Stop();
  EXPECT_EQ(Count(), kN - 8);  // 7, 57, ..., 357
  EXPECT_EQ(ReadU64(*store_, "rm_counts", "dups"), 0u);
  EXPECT_EQ(ReadU64(*store_, "rm_counts", "order_violations"), 0u);
  EXPECT_TRUE(store_->Get("rm_counts", "seen/123")->has_value());
  EXPECT_FALSE(store_->Get("rm_counts", "seen/57")->has_value());
  EXPECT_EQ((*runner)->stats().errors, 8u);
  EXPECT_EQ((*runner)->stats().retries, 2u);
  EXPECT_GE((*runner)->stats().batches, kN / 7);
}

// A byte bound ends a batch with the record that reaches it: with a bound of
// one byte, every record is its own store command (max_batch would allow 50).
TEST_F(ConsumerRunnerTest, MaxBatchBytesEndsABatchAtTheRecordThatReachesIt) {
  constexpr uint64_t kN = 60;
  ASSERT_TRUE(testing::ProduceRecords(cluster_->bootstraps(), Records(1, kN)).ok());
  ConsumerOptions o = Options("bytes");
  o.max_batch_bytes = 1;
  auto runner = ConsumerRunner::Create(*store_, o, CountInto);
  ASSERT_TRUE(runner.ok()) << runner.status();
  ASSERT_TRUE((*runner)->Start().ok());
  ASSERT_TRUE(WaitFor([&] { return CaughtUp("bytes"); }, absl::Seconds(60))) << Count();
  (*runner)->Stop();
  EXPECT_EQ(Count(), kN);
  // One record per store command (without the bound, a handful of commands
  // of up to 50 records would do).
  EXPECT_GE((*runner)->stats().batches, kN);
}

TEST_F(ConsumerRunnerTest, DecodesJsonEnvelopes) {
  constexpr uint64_t kN = 30;
  ASSERT_TRUE(testing::ProduceRecords(cluster_->bootstraps(), Records(1, kN, /*json=*/true)).ok());
  std::atomic<int> good{0};
  auto runner = ConsumerRunner::Create(
      *store_, Options("json"), [&](eventstore::Tx& tx, const ConsumedEvent& ev) -> absl::Status {
        google::protobuf::StringValue payload;
        if (ev.envelope.event_id() == absl::StrCat("event-", ev.global_position) &&
            ev.ce_source == kSource && ev.key == ev.envelope.stream_id() &&
            ev.envelope.payload().UnpackTo(&payload) &&
            payload.value() == absl::StrCat("payload-", ev.global_position)) {
          good.fetch_add(1);
        }
        return CountInto(tx, ev);
      });
  ASSERT_TRUE(runner.ok()) << runner.status();
  ASSERT_TRUE((*runner)->Start().ok());
  ASSERT_TRUE(WaitFor([&] { return CaughtUp("json"); }, absl::Seconds(60))) << Count();
  (*runner)->Stop();
  EXPECT_EQ(Count(), kN);
  EXPECT_EQ(good.load(), static_cast<int>(kN));
}

TEST_F(ConsumerRunnerTest, CreateValidatesOptions) {
  auto bad = [&](std::function<void(ConsumerOptions&)> mutate) {
    ConsumerOptions o = Options("v");
    mutate(o);
    return ConsumerRunner::Create(*store_, o, CountInto).status().code();
  };
  using C = absl::StatusCode;
  EXPECT_EQ(bad([](ConsumerOptions& o) { o.bootstraps.clear(); }), C::kInvalidArgument);
  EXPECT_EQ(bad([](ConsumerOptions& o) { o.group_id.clear(); }), C::kInvalidArgument);
  EXPECT_EQ(bad([](ConsumerOptions& o) { o.topics.clear(); }), C::kInvalidArgument);
  EXPECT_EQ(bad([](ConsumerOptions& o) { o.name = "a/b"; }), C::kInvalidArgument);
  EXPECT_EQ(bad([](ConsumerOptions& o) { o.max_batch = 0; }), C::kInvalidArgument);
  EXPECT_EQ(bad([](ConsumerOptions& o) { o.max_batches_in_flight = 0; }), C::kInvalidArgument);
  EXPECT_EQ(bad([](ConsumerOptions& o) { o.kafka_properties["no.such"] = "1"; }),
            C::kInvalidArgument);
  EXPECT_EQ(ConsumerRunner::Create(*store_, Options("v"), nullptr).status().code(),
            C::kInvalidArgument);

  auto ok = ConsumerRunner::Create(*store_, Options("v"), CountInto);
  ASSERT_TRUE(ok.ok()) << ok.status();
  ASSERT_TRUE((*ok)->Start().ok());
  EXPECT_EQ((*ok)->Start().code(), C::kFailedPrecondition);
  (*ok)->Stop();
  (*ok)->Stop();  // idempotent
  EXPECT_EQ((*ok)->Start().code(), C::kFailedPrecondition);
}

}  // namespace
}  // namespace channelops::kafka
