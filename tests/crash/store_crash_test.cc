// Crash test (label `crash`): a child appends through the store and relays to
// Kafka while it is SIGKILLed at random instants, 20 times. After each restart
// every acknowledged append is present exactly once and stream versions are
// gap-free; after the relay catches up every event is on Kafka in per-stream
// order (duplicates allowed, detected by position).
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "absl/strings/str_split.h"
#include "channelops/eventstore/event_store.h"
#include "channelops/outbox/relay.h"
#include "channelops/testing/child_process.h"
#include "channelops/testing/kafka_cluster.h"
#include "channelops/testing/temp_dir.h"
#include "google/protobuf/wrappers.pb.h"
#include "gtest/gtest.h"

namespace channelops {
namespace {

constexpr char kTopic[] = "channelops.crash_test.events.v1";

struct Ack {
  std::string stream;
  uint64_t version, position;
};

TEST(StoreCrash, SigkillAtRandomInstantsLosesNoAcknowledgedAppend) {
  testing::TempDir dir;
  auto cluster = testing::KafkaCluster::Create(1, 16);
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  ASSERT_TRUE((*cluster)->CreateTopic(kTopic, 16).ok());
  std::string bin = testing::BinDir() + "/store_crash_child";
  std::mt19937 rng(20261126);
  std::map<std::string, Ack> acked;  // idempotency key -> ack
  const int kRuns = 20;
  for (int run = 0; run < kRuns; ++run) {
    auto child = testing::ChildProcess::Start(
        bin, {dir.Path("store"), "r" + std::to_string(run), (*cluster)->bootstraps(), kTopic});
    ASSERT_TRUE(child.ok()) << child.status();
    ASSERT_TRUE((*child)->WaitForLine("^READY", absl::Seconds(30)).ok()) << (*child)->OutputTail();
    absl::SleepFor(absl::Milliseconds(100 + rng() % 500));
    ASSERT_TRUE((*child)->Kill(SIGKILL).ok());
    ASSERT_EQ(*(*child)->Wait(), 128 + SIGKILL);
    std::istringstream out((*child)->ReadStdout());
    std::string line;
    int n = 0;
    while (std::getline(out, line)) {
      std::vector<std::string> f = absl::StrSplit(line, ' ');
      if (f.size() != 5 || f[0] != "ACK") continue;
      acked[f[1]] = Ack{f[2], std::stoull(f[3]), std::stoull(f[4])};
      ++n;
    }
    EXPECT_GT(n, 0) << "run " << run << " acknowledged nothing";
  }
  ASSERT_GT(acked.size(), 1000u);

  // Reopen: every acknowledged append present exactly once, at the position and
  // version it was acknowledged with; global positions and versions gap-free.
  eventstore::Options o;
  o.path = dir.Path("store");
  o.source = "channelops/crash_test";
  auto store = eventstore::EventStore::Open(o);
  ASSERT_TRUE(store.ok()) << store.status();
  auto all = (*store)->ReadAll(1, 10'000'000);
  ASSERT_TRUE(all.ok());
  std::map<std::string, int> seen;
  std::map<std::string, uint64_t> last_version;
  for (size_t i = 0; i < all->size(); ++i) {
    const auto& e = (*all)[i];
    ASSERT_EQ(e.global_position(), i + 1) << "gap in the global log";
    ASSERT_EQ(e.stream_version(), last_version[e.stream_id()] + 1) << "gap in " << e.stream_id();
    last_version[e.stream_id()] = e.stream_version();
    google::protobuf::StringValue v;
    ASSERT_TRUE(e.payload().UnpackTo(&v));
    seen[v.value()]++;
    auto it = acked.find(v.value());
    if (it != acked.end()) {
      EXPECT_EQ(it->second.position, e.global_position());
      EXPECT_EQ(it->second.stream, e.stream_id());
      EXPECT_EQ(it->second.version, e.stream_version());
    }
  }
  for (const auto& [key, ack] : acked) {
    ASSERT_EQ(seen[key], 1) << "acknowledged append " << key << " present " << seen[key] << " times";
  }
  for (const auto& [key, count] : seen) ASSERT_EQ(count, 1) << key << " duplicated";

  // Let the relay finish what the killed children left, then check the topic.
  outbox::RelayOptions ro;
  ro.bootstraps = (*cluster)->bootstraps();
  ro.topic = kTopic;
  auto relay = outbox::Relay::Create(**store, ro);
  ASSERT_TRUE(relay.ok());
  (*relay)->Start();
  absl::Time end = absl::Now() + absl::Seconds(60);
  while ((*relay)->cursor() < (*store)->LastPosition() && absl::Now() < end) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_EQ((*relay)->cursor(), (*store)->LastPosition());
  (*relay)->Stop(absl::Seconds(5));
  auto recs = testing::ReadTopic((*cluster)->bootstraps(), kTopic, all->size(), absl::Seconds(60));
  std::set<uint64_t> positions;
  std::map<std::string, uint64_t> topic_version;
  size_t dups = 0;
  for (const auto& r : recs) {
    common::v1::EventEnvelope env;
    ASSERT_TRUE(env.ParseFromString(r.value));
    if (!positions.insert(env.global_position()).second) {
      ++dups;
      continue;
    }
    // First occurrences of a stream's events appear in version order.
    EXPECT_EQ(env.stream_version(), topic_version[env.stream_id()] + 1) << env.stream_id();
    topic_version[env.stream_id()] = env.stream_version();
  }
  EXPECT_EQ(positions.size(), all->size()) << "events missing from Kafka";
  RecordProperty("events", static_cast<int>(all->size()));
  RecordProperty("acked", static_cast<int>(acked.size()));
  RecordProperty("duplicates_on_topic", static_cast<int>(dups));
  std::cout << "crash test: " << all->size() << " events, " << acked.size() << " acknowledged, "
            << dups << " duplicates on the topic after 20 SIGKILLs\n";
}

}  // namespace
}  // namespace channelops
