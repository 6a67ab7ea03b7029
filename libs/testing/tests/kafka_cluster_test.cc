#include "channelops/testing/kafka_cluster.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"

namespace channelops::testing {
namespace {

// Partition count as the cluster reports it to a fresh client (0: unknown).
int PartitionsOf(const std::string& bootstraps, const std::string& topic) {
  auto conf = kafka::MakeConf(bootstraps, {{"allow.auto.create.topics", "false"}});
  if (!conf.ok()) return -1;
  auto rk = kafka::NewClient(RD_KAFKA_PRODUCER, std::move(*conf));
  if (!rk.ok()) return -1;
  const rd_kafka_metadata_t* md = nullptr;
  int n = 0;
  if (rd_kafka_metadata(rk->get(), 1, nullptr, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    for (int i = 0; i < md->topic_cnt; ++i) {
      if (topic == md->topics[i].topic) n = md->topics[i].partition_cnt;
    }
    rd_kafka_metadata_destroy(md);
  }
  return n;
}

TEST(KafkaClusterTest, RejectsBadArguments) {
  EXPECT_EQ(KafkaCluster::Create(0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(KafkaCluster::Create(1, 0).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(KafkaClusterTest, CreatesTopicsWithDefaultAndExplicitPartitions) {
  auto cluster = KafkaCluster::Create(/*brokers=*/3, /*default_partitions=*/8);
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  const std::vector<std::string> brokers = absl::StrSplit((*cluster)->bootstraps(), ',');
  EXPECT_EQ(brokers.size(), 3u);
  for (const auto& b : brokers) EXPECT_EQ(b.rfind("127.0.0.1:", 0), 0u) << b;

  ASSERT_TRUE((*cluster)->CreateTopic("t.default").ok());
  ASSERT_TRUE((*cluster)->CreateTopic("t.three", 3).ok());
  EXPECT_EQ((*cluster)->CreateTopic("t.three", 5).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(PartitionsOf((*cluster)->bootstraps(), "t.default"), 8);
  EXPECT_EQ(PartitionsOf((*cluster)->bootstraps(), "t.three"), 3);
}

TEST(KafkaClusterTest, ProducedRecordsAreReadBackWithHeaders) {
  auto cluster = KafkaCluster::Create(1, 4);
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  ASSERT_TRUE((*cluster)->CreateTopic("events").ok());
  std::vector<Record> in;
  for (int i = 0; i < 50; ++i) {
    Record r;
    r.topic = "events";
    r.key = absl::StrCat("stream-", i % 7);
    r.value = absl::StrCat("value-", i);
    r.headers = {{"ce_source", "channelops/test"}, {"ce_id", absl::StrCat(i)}};
    in.push_back(r);
  }
  ASSERT_TRUE(ProduceRecords((*cluster)->bootstraps(), in).ok());

  std::vector<Record> out = ReadTopic((*cluster)->bootstraps(), "events", 50, absl::Seconds(30));
  ASSERT_EQ(out.size(), 50u);
  std::set<std::string> values;
  std::set<int32_t> partitions;
  for (size_t i = 0; i < out.size(); ++i) {
    const Record& r = out[i];
    EXPECT_EQ(r.topic, "events");
    values.insert(r.value);
    partitions.insert(r.partition);
    ASSERT_EQ(r.headers.size(), 2u);
    EXPECT_EQ(r.headers[0], (std::pair<std::string, std::string>("ce_source", "channelops/test")));
    EXPECT_EQ(r.value, absl::StrCat("value-", r.headers[1].second));
    if (i > 0 && out[i - 1].partition == r.partition) {
      EXPECT_EQ(r.offset, out[i - 1].offset + 1);  // ordered, gap-free per partition
    }
  }
  EXPECT_EQ(values.size(), 50u);
  EXPECT_GT(partitions.size(), 1u);  // keys spread over partitions

  // Asking for more than exists returns what there is once the timeout passes.
  const absl::Time start = absl::Now();
  EXPECT_EQ(ReadTopic((*cluster)->bootstraps(), "events", 51, absl::Seconds(2)).size(), 50u);
  EXPECT_GE(absl::Now() - start, absl::Seconds(2));
}

TEST(KafkaClusterTest, AutoCreatedTopicsGetTheMockDefaultPartitionCount) {
  auto cluster = KafkaCluster::Create(1, 8);
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  Record r;
  r.topic = "auto.created";
  r.key = "k";
  r.value = "v";
  ASSERT_TRUE(ProduceRecords((*cluster)->bootstraps(), {r}).ok());
  EXPECT_EQ(PartitionsOf((*cluster)->bootstraps(), "auto.created"), kMockAutoCreatePartitions);
  EXPECT_EQ(ReadTopic((*cluster)->bootstraps(), "auto.created", 1, absl::Seconds(30)).size(), 1u);
}

TEST(KafkaClusterTest, BrokerDownBlocksProducingUntilItIsUp) {
  auto cluster = KafkaCluster::Create(1, 1);
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  ASSERT_TRUE((*cluster)->CreateTopic("outage").ok());
  Record r;
  r.topic = "outage";
  r.value = "v";
  ASSERT_TRUE((*cluster)->SetBrokerDown(1).ok());
  EXPECT_FALSE(ProduceRecords((*cluster)->bootstraps(), {r}, absl::Seconds(2)).ok());
  ASSERT_TRUE((*cluster)->SetBrokerUp(1).ok());
  EXPECT_TRUE(ProduceRecords((*cluster)->bootstraps(), {r}, absl::Seconds(30)).ok());
  EXPECT_EQ(ReadTopic((*cluster)->bootstraps(), "outage", 1, absl::Seconds(30)).size(), 1u);
  EXPECT_FALSE((*cluster)->SetBrokerDown(42).ok());
}

}  // namespace
}  // namespace channelops::testing
