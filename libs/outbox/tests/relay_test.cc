// The outbox relay against the in-process Kafka-protocol cluster.
#include "channelops/outbox/relay.h"

#include <atomic>
#include <map>
#include <set>
#include <thread>
#include <tuple>

#include "channelops/common/v1/envelope.pb.h"
#include "channelops/testing/kafka_cluster.h"
#include "channelops/testing/temp_dir.h"
#include "google/protobuf/wrappers.pb.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"

namespace channelops::outbox {
namespace {

using eventstore::CommandMeta;
using eventstore::EventStore;
using eventstore::NewEvent;
using eventstore::Tx;

std::string Header(const testing::Record& r, const std::string& name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return v;
  }
  return "<missing>";
}

// The value of channelops_outbox_published_total{topic}, or -1 if absent.
double Published(prometheus::Registry& registry, const std::string& topic) {
  for (const auto& family : registry.Collect()) {
    if (family.name != "channelops_outbox_published_total") continue;
    for (const auto& m : family.metric) {
      for (const auto& l : m.label) {
        if (l.name == "topic" && l.value == topic) return m.counter.value;
      }
    }
  }
  return -1;
}

class RelayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = testing::KafkaCluster::Create(1, 4);
    ASSERT_TRUE(c.ok()) << c.status();
    cluster_ = std::move(*c);
    ASSERT_TRUE(cluster_->CreateTopic(kTopic, 4).ok());
    OpenStore();
  }
  void OpenStore() {
    eventstore::Options o;
    o.path = dir_.Path("store");
    o.source = "channelops/relay_test";
    auto s = EventStore::Open(o);
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = std::move(*s);
  }
  void AppendN(int n, const std::string& prefix = "v") {
    for (int i = 0; i < n; ++i) {
      google::protobuf::StringValue v;
      v.set_value(prefix + std::to_string(i));
      auto r = store_->ExecuteSync(
          CommandMeta{"", "req", "", "tester"}, [&](Tx& tx) -> absl::StatusOr<std::string> {
            std::vector<NewEvent> evs;
            evs.push_back(NewEvent::Of(v));
            auto p =
                tx.Append("s-" + std::to_string(i % 7), eventstore::kAnyVersion, std::move(evs));
            if (!p.ok()) return p.status();
            return "";
          });
      ASSERT_TRUE(r.ok()) << r.status();
    }
  }
  std::unique_ptr<Relay> StartRelay(Format f = Format::kProtobuf) {
    RelayOptions ro;
    ro.bootstraps = cluster_->bootstraps();
    ro.topic = kTopic;
    ro.format = f;
    auto r = Relay::Create(*store_, ro);
    EXPECT_TRUE(r.ok()) << r.status();
    (*r)->Start();
    return std::move(*r);
  }
  bool WaitCaughtUp(Relay& r, absl::Duration timeout) {
    absl::Time end = absl::Now() + timeout;
    while (absl::Now() < end) {
      if (r.lag() == 0 && r.cursor() == store_->LastPosition()) return true;
      absl::SleepFor(absl::Milliseconds(10));
    }
    return false;
  }

  static constexpr char kTopic[] = "channelops.relay_test.events.v1";
  testing::TempDir dir_;
  std::unique_ptr<testing::KafkaCluster> cluster_;
  std::unique_ptr<EventStore> store_;
};

TEST_F(RelayTest, PublishesEveryEventWithCloudEventsHeaders) {
  AppendN(50);
  auto relay = StartRelay();
  ASSERT_TRUE(WaitCaughtUp(*relay, absl::Seconds(20)));
  auto recs = testing::ReadTopic(cluster_->bootstraps(), kTopic, 50, absl::Seconds(20));
  ASSERT_EQ(recs.size(), 50u);
  std::map<std::string, uint64_t> last_version;
  std::set<uint64_t> positions;
  for (const auto& r : recs) {
    common::v1::EventEnvelope env;
    ASSERT_TRUE(env.ParseFromString(r.value));
    EXPECT_EQ(r.key, env.stream_id());
    EXPECT_EQ(Header(r, "ce_specversion"), "1.0");
    EXPECT_EQ(Header(r, "ce_id"), env.event_id());
    EXPECT_EQ(Header(r, "ce_source"), "channelops/relay_test");
    EXPECT_EQ(Header(r, "ce_type"), "google.protobuf.StringValue");
    EXPECT_EQ(Header(r, "ce_subject"), env.stream_id());
    EXPECT_NE(Header(r, "ce_time"), "<missing>");
    EXPECT_NE(Header(r, "content-type").find("application/protobuf"), std::string::npos);
    // Same key -> same partition -> the stream's order is kept.
    EXPECT_GT(env.stream_version(), last_version[env.stream_id()]);
    last_version[env.stream_id()] = env.stream_version();
    positions.insert(env.global_position());
  }
  EXPECT_EQ(positions.size(), 50u);
  relay->Stop(absl::Seconds(5));
  EXPECT_EQ(*Relay::LoadCursor(*store_), 50u);
}

TEST_F(RelayTest, RoutesEventTypesToTheirTopicsWithOneCursor) {
  constexpr char kOther[] = "channelops.relay_test.other.v1";
  ASSERT_TRUE(cluster_->CreateTopic(kOther, 4).ok());
  // Interleaved in the log: StringValue streams s-*, Int64Value streams n-*.
  constexpr int kEvents = 60;
  int strings = 0, numbers = 0;
  for (int i = 0; i < kEvents; ++i) {
    const bool number = i % 3 == 0;
    auto r = store_->ExecuteSync(CommandMeta{}, [&](Tx& tx) -> absl::StatusOr<std::string> {
      std::vector<NewEvent> evs;
      if (number) {
        google::protobuf::Int64Value v;
        v.set_value(i);
        evs.push_back(NewEvent::Of(v));
      } else {
        google::protobuf::StringValue v;
        v.set_value(std::to_string(i));
        evs.push_back(NewEvent::Of(v));
      }
      const std::string stream =
          number ? "n-" + std::to_string(i % 2) : "s-" + std::to_string(i % 7);
      auto p = tx.Append(stream, eventstore::kAnyVersion, std::move(evs));
      if (!p.ok()) return p.status();
      return "";
    });
    ASSERT_TRUE(r.ok()) << r.status();
    (number ? numbers : strings)++;
  }

  prometheus::Registry registry;
  std::map<std::string, int> asked;
  RelayOptions ro;
  ro.bootstraps = cluster_->bootstraps();
  ro.topic = kTopic;
  ro.metrics = &registry;
  ro.route = [&](absl::string_view type) -> std::string {
    ++asked[std::string(type)];
    return type == "google.protobuf.Int64Value" ? kOther : "";
  };
  auto relay = Relay::Create(*store_, ro);
  ASSERT_TRUE(relay.ok()) << relay.status();
  (*relay)->Start();
  ASSERT_TRUE(WaitCaughtUp(**relay, absl::Seconds(20)));
  (*relay)->Stop(absl::Seconds(5));
  EXPECT_EQ(*Relay::LoadCursor(*store_), static_cast<uint64_t>(kEvents));
  // The router is asked once per type, not once per event.
  EXPECT_EQ(asked, (std::map<std::string, int>{{"google.protobuf.Int64Value", 1},
                                               {"google.protobuf.StringValue", 1}}));
  EXPECT_EQ(Published(registry, kTopic), strings);
  EXPECT_EQ(Published(registry, kOther), numbers);

  std::set<uint64_t> positions;
  for (const auto& [topic, type, expected] :
       {std::tuple<std::string, std::string, int>{kTopic, "google.protobuf.StringValue", strings},
        {kOther, "google.protobuf.Int64Value", numbers}}) {
    SCOPED_TRACE(topic);
    auto recs = testing::ReadTopic(cluster_->bootstraps(), topic, expected, absl::Seconds(20));
    ASSERT_EQ(recs.size(), static_cast<size_t>(expected));
    std::map<std::string, uint64_t> last_version;
    for (const auto& r : recs) {
      common::v1::EventEnvelope env;
      ASSERT_TRUE(env.ParseFromString(r.value));
      EXPECT_EQ(env.event_type(), type);
      // The same CloudEvents headers whatever the topic.
      EXPECT_EQ(r.key, env.stream_id());
      EXPECT_EQ(Header(r, "ce_specversion"), "1.0");
      EXPECT_EQ(Header(r, "ce_id"), env.event_id());
      EXPECT_EQ(Header(r, "ce_source"), "channelops/relay_test");
      EXPECT_EQ(Header(r, "ce_type"), type);
      EXPECT_EQ(Header(r, "ce_subject"), env.stream_id());
      EXPECT_NE(Header(r, "ce_time"), "<missing>");
      EXPECT_EQ(Header(r, "content-type"),
                "application/protobuf; proto=channelops.common.v1.EventEnvelope");
      EXPECT_EQ(Header(r, "channelops_position"), std::to_string(env.global_position()));
      EXPECT_EQ(r.headers.size(), 8u);
      EXPECT_GT(env.stream_version(), last_version[env.stream_id()]);
      last_version[env.stream_id()] = env.stream_version();
      EXPECT_TRUE(positions.insert(env.global_position()).second) << env.global_position();
    }
  }
  EXPECT_EQ(positions.size(), static_cast<size_t>(kEvents));  // every position, on one topic
}

TEST_F(RelayTest, JsonFormatForAnalysts) {
  AppendN(3);
  auto relay = StartRelay(Format::kJson);
  ASSERT_TRUE(WaitCaughtUp(*relay, absl::Seconds(20)));
  auto recs = testing::ReadTopic(cluster_->bootstraps(), kTopic, 3, absl::Seconds(20));
  ASSERT_EQ(recs.size(), 3u);
  for (const auto& r : recs) {
    EXPECT_EQ(Header(r, "content-type"), "application/json");
    EXPECT_NE(r.value.find("\"event_type\":\"google.protobuf.StringValue\""), std::string::npos)
        << r.value;
    EXPECT_NE(r.value.find("\"payload\""), std::string::npos) << r.value;
  }
}

TEST_F(RelayTest, CursorSurvivesRestartAndRepublishRestoresTopic) {
  AppendN(20);
  {
    auto relay = StartRelay();
    ASSERT_TRUE(WaitCaughtUp(*relay, absl::Seconds(20)));
    relay->Stop(absl::Seconds(5));
  }
  AppendN(5, "w");
  {
    auto relay = StartRelay();  // resumes after the cursor: publishes only the 5 new ones
    ASSERT_TRUE(WaitCaughtUp(*relay, absl::Seconds(20)));
    relay->Stop(absl::Seconds(5));
  }
  auto recs = testing::ReadTopic(cluster_->bootstraps(), kTopic, 25, absl::Seconds(20));
  EXPECT_EQ(recs.size(), 25u);
  // Operator republish from position 1: every event is sent again.
  ASSERT_TRUE(Relay::ResetCursor(*store_, 1).ok());
  {
    auto relay = StartRelay();
    ASSERT_TRUE(WaitCaughtUp(*relay, absl::Seconds(20)));
    relay->Stop(absl::Seconds(5));
  }
  recs = testing::ReadTopic(cluster_->bootstraps(), kTopic, 50, absl::Seconds(20));
  EXPECT_EQ(recs.size(), 50u);
}

TEST_F(RelayTest, KafkaOutageNeverFailsAppendsAndBacklogDrains) {
  auto relay = StartRelay();
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0};
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t) {
    writers.emplace_back([&, t] {
      int i = 0;
      while (!stop) {
        google::protobuf::StringValue v;
        v.set_value(std::to_string(t) + ":" + std::to_string(i++));
        auto r = store_->ExecuteSync(CommandMeta{}, [&](Tx& tx) -> absl::StatusOr<std::string> {
          std::vector<NewEvent> evs;
          evs.push_back(NewEvent::Of(v));
          auto p = tx.Append("w-" + std::to_string(t), eventstore::kAnyVersion, std::move(evs));
          if (!p.ok()) return p.status();
          return "";
        });
        (r.ok() ? ok : failed)++;
        absl::SleepFor(absl::Milliseconds(1));
      }
    });
  }
  absl::SleepFor(absl::Milliseconds(500));
  ASSERT_TRUE(cluster_->SetBrokerDown(1).ok());
  uint64_t cursor_at_down = relay->cursor();
  absl::SleepFor(absl::Seconds(3));
  uint64_t lag_during = relay->lag();
  ASSERT_TRUE(cluster_->SetBrokerUp(1).ok());
  absl::SleepFor(absl::Milliseconds(500));
  stop = true;
  for (auto& w : writers) w.join();
  EXPECT_EQ(failed.load(), 0) << "an outage must never fail an append";
  EXPECT_GT(lag_during, 100u) << "cursor at down " << cursor_at_down;
  ASSERT_TRUE(WaitCaughtUp(*relay, absl::Seconds(60))) << "lag " << relay->lag();
  uint64_t total = store_->LastPosition();
  EXPECT_EQ(total, static_cast<uint64_t>(ok.load()));
  auto recs = testing::ReadTopic(cluster_->bootstraps(), kTopic, total, absl::Seconds(30));
  std::set<uint64_t> positions;
  for (const auto& r : recs) {
    common::v1::EventEnvelope env;
    ASSERT_TRUE(env.ParseFromString(r.value));
    positions.insert(env.global_position());
  }
  EXPECT_EQ(positions.size(), total) << "every event on the topic (duplicates allowed)";
}

}  // namespace
}  // namespace channelops::outbox
