#include "channelops/testing/kafka_cluster.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <set>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "channelops/kafka/message.h"

namespace channelops::testing {
namespace {

// Destroys a topic partition list on scope exit.
struct PartitionListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* l) const {
    rd_kafka_topic_partition_list_destroy(l);
  }
};
using PartitionList = std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionListDeleter>;

std::atomic<int> g_reader_seq{0};

// Partition count of `topic`, or 0 if the cluster does not know it (yet).
int PartitionCount(rd_kafka_t* rk, const std::string& topic, absl::Duration timeout) {
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  const rd_kafka_metadata_t* md = nullptr;
  int count = 0;
  if (rd_kafka_metadata(rk, 0, rkt, &md, static_cast<int>(absl::ToInt64Milliseconds(timeout))) ==
      RD_KAFKA_RESP_ERR_NO_ERROR) {
    for (int i = 0; i < md->topic_cnt; ++i) {
      if (topic == md->topics[i].topic && md->topics[i].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        count = md->topics[i].partition_cnt;
      }
    }
    rd_kafka_metadata_destroy(md);
  }
  rd_kafka_topic_destroy(rkt);
  return count;
}

}  // namespace

absl::StatusOr<std::unique_ptr<KafkaCluster>> KafkaCluster::Create(int brokers,
                                                                   int default_partitions) {
  if (brokers < 1) return absl::InvalidArgumentError("KafkaCluster: brokers must be >= 1");
  if (default_partitions < 1) {
    return absl::InvalidArgumentError("KafkaCluster: default_partitions must be >= 1");
  }
  // The handle only does the mock's bookkeeping; it never talks to a cluster,
  // so it gets no bootstrap.servers (and would warn about it at level 5).
  kafka::ConfPtr conf(rd_kafka_conf_new());
  if (absl::Status s = kafka::SetProperty(conf.get(), "log_level", "3"); !s.ok()) return s;
  auto rk = kafka::NewClient(RD_KAFKA_PRODUCER, std::move(conf));
  if (!rk.ok()) return rk.status();
  rd_kafka_mock_cluster_t* mock = rd_kafka_mock_cluster_new(rk->get(), brokers);
  if (mock == nullptr) return absl::InternalError("rd_kafka_mock_cluster_new failed");
  return std::unique_ptr<KafkaCluster>(
      new KafkaCluster(std::move(*rk), mock, brokers, default_partitions));
}

KafkaCluster::KafkaCluster(kafka::ClientPtr rk, rd_kafka_mock_cluster_t* mock, int brokers,
                           int default_partitions)
    : rk_(std::move(rk)),
      mock_(mock),
      brokers_(brokers),
      default_partitions_(default_partitions),
      bootstraps_(rd_kafka_mock_cluster_bootstraps(mock)) {}

KafkaCluster::~KafkaCluster() {
  rd_kafka_mock_cluster_destroy(mock_);
  rk_.reset();
}

absl::Status KafkaCluster::CreateTopic(const std::string& name, int partitions) {
  if (name.empty()) return absl::InvalidArgumentError("CreateTopic: empty topic name");
  const int n = partitions > 0 ? partitions : default_partitions_;
  return kafka::ToStatus(rd_kafka_mock_topic_create(mock_, name.c_str(), n, /*replication=*/1),
                         absl::StrCat("create topic ", name));
}

absl::Status KafkaCluster::SetBrokerDown(int32_t broker_id) {
  return kafka::ToStatus(rd_kafka_mock_broker_set_down(mock_, broker_id),
                         absl::StrCat("set broker ", broker_id, " down"));
}

absl::Status KafkaCluster::SetBrokerUp(int32_t broker_id) {
  return kafka::ToStatus(rd_kafka_mock_broker_set_up(mock_, broker_id),
                         absl::StrCat("set broker ", broker_id, " up"));
}

std::vector<Record> ReadTopic(const std::string& bootstraps, const std::string& topic,
                              size_t min_records, absl::Duration timeout) {
  std::vector<Record> out;
  const absl::Time deadline = absl::Now() + timeout;
  auto conf =
      kafka::MakeConf(bootstraps, {{"group.id", absl::StrCat("channelops-readtopic-", ::getpid(),
                                                             "-", g_reader_seq.fetch_add(1))},
                                   {"enable.auto.commit", "false"},
                                   {"enable.partition.eof", "true"},
                                   {"log_level", "3"}});
  if (!conf.ok()) return out;
  auto rk = kafka::NewClient(RD_KAFKA_CONSUMER, std::move(*conf));
  if (!rk.ok()) return out;

  int partitions = 0;
  while (partitions == 0 && absl::Now() < deadline) {
    partitions = PartitionCount(rk->get(), topic, absl::Seconds(1));
    if (partitions == 0) absl::SleepFor(absl::Milliseconds(50));
  }
  if (partitions == 0) {
    rd_kafka_consumer_close(rk->get());
    return out;
  }
  PartitionList list(rd_kafka_topic_partition_list_new(partitions));
  for (int p = 0; p < partitions; ++p) {
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
  }
  rd_kafka_assign(rk->get(), list.get());

  std::set<int32_t> at_end;  // partitions whose last event was EOF, not a message
  while (absl::Now() < deadline) {
    if (out.size() >= min_records && static_cast<int>(at_end.size()) == partitions) break;
    rd_kafka_message_t* msg = rd_kafka_consumer_poll(rk->get(), 100);
    if (msg == nullptr) continue;
    if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      at_end.insert(msg->partition);
    } else if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      at_end.erase(msg->partition);
      Record r;
      r.topic = rd_kafka_topic_name(msg->rkt);
      r.partition = msg->partition;
      r.offset = msg->offset;
      r.key = kafka::KeyOf(msg);
      r.value = kafka::ValueOf(msg);
      r.headers = kafka::HeadersOf(msg);
      out.push_back(std::move(r));
    }
    rd_kafka_message_destroy(msg);
  }
  rd_kafka_consumer_close(rk->get());
  std::sort(out.begin(), out.end(), [](const Record& a, const Record& b) {
    return std::tie(a.partition, a.offset) < std::tie(b.partition, b.offset);
  });
  return out;
}

namespace {

struct DeliveryState {
  std::atomic<size_t> acked{0};
  std::atomic<int> first_error{RD_KAFKA_RESP_ERR_NO_ERROR};
};

void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* msg, void* opaque) {
  auto* st = static_cast<DeliveryState*>(opaque);
  if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    int expected = RD_KAFKA_RESP_ERR_NO_ERROR;
    st->first_error.compare_exchange_strong(expected, msg->err);
  }
  st->acked.fetch_add(1);
}

}  // namespace

absl::Status ProduceRecords(const std::string& bootstraps, const std::vector<Record>& records,
                            absl::Duration timeout, const kafka::Properties& properties) {
  kafka::Properties props = {{"log_level", "3"},
                             {"message.timeout.ms", std::to_string(std::max<int64_t>(
                                                        1, absl::ToInt64Milliseconds(timeout)))}};
  for (const auto& [k, v] : properties) props[k] = v;
  auto conf = kafka::MakeConf(bootstraps, props);
  if (!conf.ok()) return conf.status();
  DeliveryState state;
  rd_kafka_conf_set_dr_msg_cb(conf->get(), OnDelivery);
  rd_kafka_conf_set_opaque(conf->get(), &state);
  auto rk = kafka::NewClient(RD_KAFKA_PRODUCER, std::move(*conf));
  if (!rk.ok()) return rk.status();

  const absl::Time deadline = absl::Now() + timeout;
  for (const Record& r : records) {
    rd_kafka_headers_t* hdrs = rd_kafka_headers_new(r.headers.size());
    for (const auto& [k, v] : r.headers) {
      rd_kafka_header_add(hdrs, k.data(), static_cast<ssize_t>(k.size()), v.data(),
                          static_cast<ssize_t>(v.size()));
    }
    rd_kafka_resp_err_t err;
    while (true) {
      err = rd_kafka_producev(
          rk->get(), RD_KAFKA_V_TOPIC(r.topic.c_str()), RD_KAFKA_V_PARTITION(r.partition),
          RD_KAFKA_V_KEY(r.key.data(), r.key.size()),
          RD_KAFKA_V_VALUE(const_cast<char*>(r.value.data()), r.value.size()),
          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
      if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || absl::Now() >= deadline) break;
      rd_kafka_poll(rk->get(), 10);
    }
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      rd_kafka_headers_destroy(hdrs);  // ownership passes to librdkafka only on success
      return kafka::ToStatus(err, "produce");
    }
    rd_kafka_poll(rk->get(), 0);
  }
  while (state.acked.load() < records.size() && absl::Now() < deadline) {
    rd_kafka_poll(rk->get(), 50);
  }
  if (state.first_error.load() != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return kafka::ToStatus(static_cast<rd_kafka_resp_err_t>(state.first_error.load()), "delivery");
  }
  if (state.acked.load() < records.size()) {
    rd_kafka_purge(rk->get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(rk->get(), 0);
    return absl::DeadlineExceededError(absl::StrCat("produce: ", state.acked.load(), " of ",
                                                    records.size(), " acknowledged within ",
                                                    absl::FormatDuration(timeout)));
  }
  return absl::OkStatus();
}

}  // namespace channelops::testing
