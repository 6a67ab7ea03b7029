// Outbox relay throughput into the dev Kafka cluster (librdkafka's mock, in
// process), against a bare librdkafka idempotent producer sending the same number
// of records of the same size to the same cluster in the same run (the baseline).
// Usage: bench_outbox [--events=N]
#include <librdkafka/rdkafka.h>

#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "channelops/eventstore/event_store.h"
#include "channelops/outbox/relay.h"
#include "channelops/testing/kafka_cluster.h"
#include "channelops/testing/temp_dir.h"
#include "google/protobuf/wrappers.pb.h"

using namespace channelops;

namespace {

double BareProducer(const std::string& bootstraps, const std::string& topic, int64_t n, size_t size) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps.c_str(), err, sizeof(err));
  rd_kafka_conf_set(conf, "enable.idempotence", "true", err, sizeof(err));
  rd_kafka_conf_set(conf, "acks", "all", err, sizeof(err));
  rd_kafka_conf_set(conf, "linger.ms", "5", err, sizeof(err));
  rd_kafka_conf_set(conf, "batch.num.messages", "10000", err, sizeof(err));
  rd_kafka_conf_set(conf, "queue.buffering.max.messages", "1000000", err, sizeof(err));
  rd_kafka_conf_set(conf, "compression.type", "lz4", err, sizeof(err));
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
  std::string value(size, 'x');
  absl::Time t0 = absl::Now();
  for (int64_t i = 0; i < n; ++i) {
    std::string key = absl::StrCat("stream-", i % 1000);
    while (rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_KEY(key.data(), key.size()),
                             RD_KAFKA_V_VALUE(value.data(), value.size()),
                             RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END) ==
           RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      rd_kafka_poll(rk, 10);
    }
    rd_kafka_poll(rk, 0);
  }
  rd_kafka_flush(rk, 120000);
  double secs = absl::ToDoubleSeconds(absl::Now() - t0);
  rd_kafka_destroy(rk);
  return n / secs;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t n = 200000;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--events=", 0) == 0) n = std::stoll(a.substr(9));
    if (a == "--help") {
      printf("bench_outbox [--events=200000]\n");
      return 0;
    }
  }
  auto cluster = testing::KafkaCluster::Create(1, 32);
  if (!cluster.ok()) return 1;
  for (const char* topic : {"bench.bare.v1", "bench.relay.v1"}) {
    if (absl::Status s = (*cluster)->CreateTopic(topic, 32); !s.ok()) {
      fprintf(stderr, "create topic %s: %s\n", topic, s.ToString().c_str());
      return 1;
    }
  }
  testing::TempDir dir;
  eventstore::Options o;
  o.path = dir.Path("store");
  o.source = "channelops/bench";
  o.sync = false;  // preload only; the relay reads committed events either way
  auto store = eventstore::EventStore::Open(o);
  if (!store.ok()) {
    fprintf(stderr, "open store: %s\n", store.status().ToString().c_str());
    return 1;
  }
  google::protobuf::StringValue payload;
  payload.set_value(std::string(300, 'x'));
  size_t envelope_size = 0;
  for (int64_t i = 0; i < n; i += 1000) {
    auto r = (*store)->ExecuteSync(eventstore::CommandMeta{}, [&](eventstore::Tx& tx) -> absl::StatusOr<std::string> {
      for (int64_t j = i; j < std::min(n, i + 1000); ++j) {
        std::vector<eventstore::NewEvent> evs;
        evs.push_back(eventstore::NewEvent::Of(payload));
        auto p = tx.Append(absl::StrCat("stream-", j % 1000), eventstore::kAnyVersion, std::move(evs));
        if (!p.ok()) return p.status();
      }
      return std::string();
    });
    if (!r.ok()) return 1;
  }
  if (absl::Status s = (*store)->ReadAllRaw(
          1, 1, [&](uint64_t, absl::string_view v) { envelope_size = v.size(); });
      !s.ok()) {
    fprintf(stderr, "read back: %s\n", s.ToString().c_str());
    return 1;
  }
  printf("# outbox relay benchmark: %lld events of %zu bytes (envelope), in-process dev Kafka cluster, 32 partitions\n",
         static_cast<long long>(n), envelope_size);
  double bare = BareProducer((*cluster)->bootstraps(), "bench.bare.v1", n, envelope_size);
  outbox::RelayOptions ro;
  ro.bootstraps = (*cluster)->bootstraps();
  ro.topic = "bench.relay.v1";
  auto relay = outbox::Relay::Create(**store, ro);
  if (!relay.ok()) return 1;
  absl::Time t0 = absl::Now();
  (*relay)->Start();
  while ((*relay)->cursor() < static_cast<uint64_t>(n)) absl::SleepFor(absl::Milliseconds(2));
  double secs = absl::ToDoubleSeconds(absl::Now() - t0);
  (*relay)->Stop(absl::Seconds(10));
  double relay_rate = n / secs;
  printf("bare librdkafka idempotent producer : %10.0f events/s\n", bare);
  printf("outbox relay (log -> Kafka, acked)  : %10.0f events/s  (%.2fx bare producer)\n", relay_rate,
         relay_rate / bare);
  printf("floor: >= 100000 events/s: %s\n", relay_rate >= 100000 ? "PASS" : "FAIL");
  return 0;
}
