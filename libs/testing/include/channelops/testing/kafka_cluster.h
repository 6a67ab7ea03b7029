#pragma once

// An in-process Kafka-protocol cluster for tests (librdkafka's mock cluster)
// and small helpers to write and read topics.
//
// The mock (librdkafka 2.0.2) keeps everything in memory and has known limits;
// see tools/dev_kafka/README.md. The ones tests meet:
//  - it retains about the last 5 MB or 100,000 batches per partition;
//  - topics it auto-creates (a client's metadata request for an unknown topic)
//    get kMockAutoCreatePartitions partitions, whatever default_partitions is:
//    librdkafka 2.0.2 has no API to change that. Call CreateTopic() first when
//    the partition count matters;
//  - it ignores isolation.level=read_committed and dedupes retried produce
//    requests only for transactional producers.

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "channelops/kafka/config.h"

namespace channelops::testing {

// Partition count the mock gives to topics it creates on demand.
inline constexpr int kMockAutoCreatePartitions = 4;

class KafkaCluster {
 public:
  // Starts `brokers` mock brokers (ids 1..brokers) on random loopback ports.
  // default_partitions is what CreateTopic(name) uses when no count is given.
  // INVALID_ARGUMENT if brokers < 1 or default_partitions < 1; INTERNAL if
  // librdkafka could not start the cluster.
  static absl::StatusOr<std::unique_ptr<KafkaCluster>> Create(int brokers = 1,
                                                              int default_partitions = 8);
  ~KafkaCluster();
  KafkaCluster(const KafkaCluster&) = delete;
  KafkaCluster& operator=(const KafkaCluster&) = delete;

  // "127.0.0.1:port,127.0.0.1:port": the bootstrap.servers for clients.
  const std::string& bootstraps() const { return bootstraps_; }
  int broker_count() const { return brokers_; }
  int default_partitions() const { return default_partitions_; }

  // Creates a topic with `partitions` partitions (<= 0: default_partitions).
  // ALREADY_EXISTS if the topic exists (possibly auto-created by a client).
  // Thread-safe.
  absl::Status CreateTopic(const std::string& name, int partitions = 0);

  // Takes a broker down (closes its connections and its listener, so clients
  // get "connection refused") or back up. UNAVAILABLE (BROKER_NOT_AVAILABLE)
  // for an unknown id. Thread-safe.
  absl::Status SetBrokerDown(int32_t broker_id);
  absl::Status SetBrokerUp(int32_t broker_id);

  // The raw mock, for error injection (rd_kafka_mock_push_request_errors ...).
  rd_kafka_mock_cluster_t* mock() const { return mock_; }

 private:
  KafkaCluster(kafka::ClientPtr rk, rd_kafka_mock_cluster_t* mock, int brokers,
               int default_partitions);

  kafka::ClientPtr rk_;  // owns the mock's bookkeeping handle; outlives mock_
  rd_kafka_mock_cluster_t* mock_;
  int brokers_;
  int default_partitions_;
  std::string bootstraps_;
};

// One Kafka record as tests see it.
struct Record {
  std::string topic;
  int32_t partition = -1;  // producing: -1 lets the partitioner pick by key
  int64_t offset = -1;     // set by ReadTopic
  std::string key;
  std::string value;
  std::vector<std::pair<std::string, std::string>> headers;
};

// Reads `topic` from the beginning of every partition (assigning all partitions
// from OFFSET_BEGINNING, no group offsets involved) until at least min_records
// were read AND every partition has been read to its end, or until `timeout`.
// Returns what it read, ordered by (partition, offset): on timeout that may be
// fewer than min_records, which the caller asserts. Waits for the topic to
// exist (it does not create it). Thread-safe.
std::vector<Record> ReadTopic(const std::string& bootstraps, const std::string& topic,
                              size_t min_records, absl::Duration timeout);

// Produces `records` (in order, partition -1 = by key) and waits until each is
// acknowledged. Returns the first delivery error (kafka::ToStatus), or
// DEADLINE_EXCEEDED if not all were acknowledged within `timeout`.
// `properties` are extra producer settings. Thread-safe.
absl::Status ProduceRecords(const std::string& bootstraps, const std::vector<Record>& records,
                            absl::Duration timeout = absl::Seconds(30),
                            const kafka::Properties& properties = {});

}  // namespace channelops::testing
