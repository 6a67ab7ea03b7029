// The projections through the real consumer runner and an in-process Kafka
// cluster: the hand-computed scenario produced on the five service topics,
// consumed into a RocksDB store (offsets with the state), the credit lines
// relayed to channelops.analytics.commission_credits.v1 and the partner ROI
// changes (published by ProjectionsConsumer::FlushRoi, periodically while the
// runner consumes and once after it stopped, as main.cc does) to
// channelops.analytics.partner_roi.v1 by one relay; then a restart with every
// record delivered again: totals, lines and published events unchanged.

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "channelops/analytics/v1/events.pb.h"
#include "channelops/eventstore/event_store.h"
#include "channelops/kafka/consumer_runner.h"
#include "channelops/outbox/relay.h"
#include "channelops/testing/kafka_cluster.h"
#include "channelops/testing/temp_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "projections/analytics_service.h"
#include "projections/consumer.h"
#include "projections/projector.h"
#include "projections/tests/scenario.h"
#include "prometheus/registry.h"

namespace channelops::projections {
namespace {

namespace av1 = ::channelops::analytics::v1;
using testing::Record;

constexpr int kPartitions = 4;

std::string Header(const Record& r, const std::string& name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return v;
  }
  return "<missing>";
}

bool WaitFor(const std::function<bool()>& pred, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (pred()) return true;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return pred();
}

std::vector<Record> ToRecords(const std::vector<kafka::ConsumedEvent>& events) {
  std::vector<Record> out;
  for (const auto& e : events) {
    Record r;
    r.topic = e.topic;
    r.key = e.envelope.stream_id();
    r.value = e.envelope.SerializeAsString();
    r.headers = {{"ce_specversion", "1.0"},
                 {"ce_id", e.envelope.event_id()},
                 {"ce_source", e.ce_source},
                 {"ce_type", e.envelope.event_type()},
                 {"content-type", "application/protobuf"}};
    out.push_back(std::move(r));
  }
  return out;
}

class ProjectionsKafkaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cluster = testing::KafkaCluster::Create(1, kPartitions);
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = std::move(*cluster);
    for (const std::string& t : SourceTopics()) ASSERT_TRUE(cluster_->CreateTopic(t).ok()) << t;
    ASSERT_TRUE(cluster_->CreateTopic(kCommissionCreditsTopic).ok());
    ASSERT_TRUE(cluster_->CreateTopic(kPartnerRoiTopic).ok());
    OpenStore();
  }

  void OpenStore() {
    eventstore::Options o;
    o.path = dir_.Path("projections");
    o.source = "channelops/projections";
    o.read_model_cfs = ReadModelCfs();
    auto store = eventstore::EventStore::Open(o);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }

  std::unique_ptr<ProjectionsConsumer> Runner(prometheus::Registry* registry) {
    kafka::ConsumerOptions o;
    o.bootstraps = cluster_->bootstraps();
    o.group_id = "channelops.projections.test";
    o.topics = SourceTopics();
    o.name = "projections";
    o.max_batch = 7;  // small batches: many commands, offsets stored with each
    o.retry_backoff = absl::Milliseconds(20);
    o.kafka_properties["session.timeout.ms"] = "6000";
    o.kafka_properties["heartbeat.interval.ms"] = "500";
    auto r = ProjectionsConsumer::Create(*store_, o, projector_, registry);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? std::move(*r) : nullptr;
  }

  // Calls runner.FlushRoi() every 50 ms until destroyed, as main.cc's
  // background task does every --roi_publish_interval.
  class PeriodicFlush {
   public:
    explicit PeriodicFlush(ProjectionsConsumer& runner)
        : thread_([this, &runner] {
            while (!stop_.load()) {
              auto flushed = runner.FlushRoi();
              EXPECT_TRUE(flushed.ok()) << flushed.status();
              if (flushed.ok()) events_ += flushed->published.events;
              absl::SleepFor(absl::Milliseconds(50));
            }
          }) {}
    ~PeriodicFlush() {
      stop_.store(true);
      thread_.join();
    }
    uint64_t events() const { return events_.load(); }

   private:
    std::atomic<bool> stop_{false};
    std::atomic<uint64_t> events_{0};
    std::thread thread_;
  };

  size_t DirtyMarks() {
    size_t n = 0;
    EXPECT_TRUE(store_
                    ->Scan(kRoiDirtyCf, "", "", SIZE_MAX,
                           [&](absl::string_view, absl::string_view) {
                             ++n;
                             return true;
                           })
                    .ok());
    return n;
  }

  int64_t EventsApplied(const AnalyticsService& service) {
    auto st = service.Status();
    if (!st.ok()) return -1;
    int64_t n = 0;
    for (const auto& t : st->topics()) n += t.events_applied();
    return n;
  }

  void ExpectStatements(const AnalyticsService& service) {
    for (const auto& [payee, periods] : scenario::ExpectedWithoutClose()) {
      for (const std::string period : {"2026-01", "2026-02", "2026-03"}) {
        auto st = service.Statement(payee, period);
        ASSERT_TRUE(st.ok()) << st.status();
        int64_t earned = 0;
        for (const auto& t : st->totals()) earned += t.earned().amount_micros();
        auto it = periods.find(period);
        EXPECT_EQ(earned, it == periods.end() ? 0 : it->second) << payee << " " << period;
      }
    }
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::KafkaCluster> cluster_;
  std::unique_ptr<eventstore::EventStore> store_;
  Projector projector_;
};

TEST_F(ProjectionsKafkaTest, ExactlyOnceThroughTheConsumerRunnerAcrossRestartAndRedelivery) {
  const auto events = scenario::Build(/*close_january=*/false);
  const int64_t total = static_cast<int64_t>(events.size());
  ASSERT_TRUE(testing::ProduceRecords(cluster_->bootstraps(), ToRecords(events)).ok());

  // Run A: consume everything, relay the credit lines.
  uint64_t lines_published = 0;
  int64_t credit_lines = 0;
  {
    prometheus::Registry registry;
    AnalyticsService service(*store_, &registry, {});
    auto runner = Runner(&registry);
    ASSERT_NE(runner, nullptr);
    outbox::RelayOptions ro;
    ro.bootstraps = cluster_->bootstraps();
    ro.topic = kCommissionCreditsTopic;
    ro.route = DerivedTopicOf;
    auto relay = outbox::Relay::Create(*store_, ro);
    ASSERT_TRUE(relay.ok()) << relay.status();
    (*relay)->Start();
    ASSERT_TRUE(runner->Start().ok());
    auto periodic = std::make_unique<PeriodicFlush>(*runner);
    ASSERT_TRUE(WaitFor([&] { return EventsApplied(service) == total; }, absl::Seconds(120)))
        << "applied " << EventsApplied(service) << " of " << total;
    ExpectStatements(service);
    auto status = service.Status();
    ASSERT_TRUE(status.ok());
    EXPECT_EQ(status->sales(), 20);
    EXPECT_EQ(status->uncredited_sales(), 0);
    credit_lines = status->credit_lines();
    EXPECT_GT(credit_lines, 0);
    // Offsets are stored per partition, and the lag is exported and reported.
    EXPECT_FALSE(status->partitions().empty());
    EXPECT_TRUE(WaitFor(
        [&] {
          auto s = service.Status();
          return s.ok() && s->total_lag() == 0 && !s->partitions().empty() &&
                 std::all_of(s->partitions().begin(), s->partitions().end(),
                             [](const av1::PartitionProgress& p) { return p.lag() == 0; });
        },
        absl::Seconds(60)));
    // ROI does not depend on the arrival order either.
    auto ct = service.Roi("partner-ct", "2026-02", "");
    ASSERT_TRUE(ct.ok());
    EXPECT_EQ(ct->roi_bps(), 3333);
    runner->Stop();
    EXPECT_EQ(runner->stats().errors, 0u);
    EXPECT_EQ(runner->stats().applied, static_cast<uint64_t>(total));
    // The periodic flushes, concurrent with the batches, publish every mark
    // the batches left; one more after Stop (main.cc's shutdown) finds none.
    EXPECT_TRUE(
        WaitFor([&] { return periodic->events() > 0 && DirtyMarks() == 0; }, absl::Seconds(30)));
    periodic.reset();
    auto last_flush = runner->FlushRoi();
    ASSERT_TRUE(last_flush.ok()) << last_flush.status();
    EXPECT_EQ(last_flush->published.marks, 0u);
    EXPECT_EQ(DirtyMarks(), 0u);

    // Every event the projection recorded reached its derived topic: the
    // credit lines (no period closed: no statements) and the ROI changes.
    lines_published = store_->LastPosition();
    uint64_t line_events = 0, roi_events = 0;
    auto log = store_->ReadAll(1, SIZE_MAX);
    ASSERT_TRUE(log.ok()) << log.status();
    for (const auto& env : *log) {
      if (env.event_type() == av1::CreditLineRecorded::descriptor()->full_name()) ++line_events;
      if (env.event_type() == av1::PartnerRoiChanged::descriptor()->full_name()) ++roi_events;
    }
    EXPECT_EQ(line_events, static_cast<uint64_t>(credit_lines));
    EXPECT_GT(roi_events, 0u);
    EXPECT_EQ(line_events + roi_events, lines_published);
    ASSERT_TRUE(WaitFor([&] { return (*relay)->cursor() == lines_published; }, absl::Seconds(60)));
    (*relay)->Stop(absl::Seconds(5));
    auto records = testing::ReadTopic(cluster_->bootstraps(), kCommissionCreditsTopic, line_events,
                                      absl::Seconds(60));
    ASSERT_EQ(records.size(), line_events);
    int64_t sum = 0;
    for (const auto& r : records) {
      common::v1::EventEnvelope env;
      ASSERT_TRUE(env.ParseFromString(r.value));
      av1::CreditLineRecorded line;
      ASSERT_TRUE(env.payload().UnpackTo(&line)) << env.event_type();
      EXPECT_EQ(r.key, PayeeStream(line.line().payee_id()));
      sum += line.line().amount().amount_micros();
    }
    int64_t expected_sum = 0;
    for (const auto& [payee, periods] : scenario::ExpectedWithoutClose()) {
      for (const auto& [period, micros] : periods) expected_sum += micros;
    }
    EXPECT_EQ(sum, expected_sum);

    // The ROI topic: PartnerRoiChanged only, keyed by partner, with the
    // relay's CloudEvents headers; the last figures per (partner, month) are
    // the ones GetPartnerRoi serves.
    auto roi_records =
        testing::ReadTopic(cluster_->bootstraps(), kPartnerRoiTopic, roi_events, absl::Seconds(60));
    ASSERT_EQ(roi_records.size(), roi_events);
    std::map<std::pair<std::string, std::string>, std::pair<uint64_t, av1::PartnerRoi>> latest;
    for (const auto& r : roi_records) {
      common::v1::EventEnvelope env;
      ASSERT_TRUE(env.ParseFromString(r.value));
      av1::PartnerRoiChanged changed;
      ASSERT_TRUE(env.payload().UnpackTo(&changed)) << env.event_type();
      EXPECT_EQ(r.key, PartnerRoiStream(changed.partner_id()));
      EXPECT_EQ(Header(r, "ce_specversion"), "1.0");
      EXPECT_EQ(Header(r, "ce_id"), env.event_id());
      EXPECT_EQ(Header(r, "ce_source"), "channelops/projections");
      EXPECT_EQ(Header(r, "ce_type"), "channelops.analytics.v1.PartnerRoiChanged");
      EXPECT_EQ(Header(r, "ce_subject"), PartnerRoiStream(changed.partner_id()));
      EXPECT_NE(Header(r, "ce_time"), "<missing>");
      EXPECT_EQ(Header(r, "content-type"),
                "application/protobuf; proto=channelops.common.v1.EventEnvelope");
      EXPECT_EQ(Header(r, "channelops_position"), absl::StrCat(env.global_position()));
      for (const auto& roi : changed.periods()) {
        auto& slot = latest[{roi.partner_id(), roi.period_id()}];
        if (env.global_position() > slot.first) slot = {env.global_position(), roi};
      }
    }
    for (const std::string partner : {"partner-ct", "partner-ma", "partner-ny"}) {
      for (const std::string period : {"2026-01", "2026-02", "2026-03"}) {
        EXPECT_TRUE(latest.contains({partner, period})) << partner << " " << period;
      }
    }
    for (const auto& [key, published] : latest) {
      auto served = service.Roi(key.first, key.second, "");
      ASSERT_TRUE(served.ok()) << served.status();
      EXPECT_EQ(published.second.ShortDebugString(), served->ShortDebugString())
          << key.first << " " << key.second;
    }
    EXPECT_EQ(latest.at({"partner-ct", "2026-02"}).second.roi_bps(), 3333);
    EXPECT_EQ(latest.at({"partner-ny", "2026-02"}).second.roi_bps(), -8500);
  }

  // Restart: reopen the store, deliver every record again (a relay restart
  // re-publishing from an old cursor), and run B from the stored offsets.
  store_->Close();
  store_.reset();
  OpenStore();
  ASSERT_TRUE(testing::ProduceRecords(cluster_->bootstraps(), ToRecords(events)).ok());
  {
    prometheus::Registry registry;
    AnalyticsService service(*store_, &registry, {});
    auto runner = Runner(&registry);
    ASSERT_NE(runner, nullptr);
    ASSERT_TRUE(runner->Start().ok());
    ASSERT_TRUE(WaitFor([&] { return runner->stats().duplicates == static_cast<uint64_t>(total); },
                        absl::Seconds(120)))
        << "duplicates " << runner->stats().duplicates << " of " << total;
    runner->Stop();
    // Duplicates mark nothing: no ROI to publish.
    auto flushed = runner->FlushRoi();
    ASSERT_TRUE(flushed.ok()) << flushed.status();
    EXPECT_EQ(flushed->commands, 0u);
    EXPECT_EQ(runner->stats().applied, 0u);
    EXPECT_EQ(EventsApplied(service), total);
    ExpectStatements(service);
    auto status = service.Status();
    ASSERT_TRUE(status.ok());
    EXPECT_EQ(status->credit_lines(), credit_lines);
    EXPECT_EQ(store_->LastPosition(), lines_published);  // nothing new to publish
  }
}

}  // namespace
}  // namespace channelops::projections
