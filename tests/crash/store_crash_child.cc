// Load generator for the event-store crash test: appends through a real
// RocksDB store (and relays to Kafka) until it is SIGKILLed. For every
// acknowledged append it writes one line "ACK <key> <stream> <version> <position>"
// to stdout with a single write(2), so a line the parent reads was acknowledged
// before the kill.
#include <unistd.h>

#include <atomic>
#include <random>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "channelops/eventstore/event_store.h"
#include "channelops/outbox/relay.h"
#include "google/protobuf/wrappers.pb.h"

using namespace channelops;

int main(int argc, char** argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s <data_dir> <run_id> <kafka_bootstrap|-> [topic]\n", argv[0]);
    return 2;
  }
  std::string dir = argv[1], run = argv[2], kafka = argv[3];
  std::string topic = argc > 4 ? argv[4] : "channelops.crash_test.events.v1";
  eventstore::Options o;
  o.path = dir;
  o.source = "channelops/crash_test";
  auto store = eventstore::EventStore::Open(o);
  if (!store.ok()) {
    fprintf(stderr, "open: %s\n", store.status().ToString().c_str());
    return 1;
  }
  std::unique_ptr<outbox::Relay> relay;
  if (kafka != "-") {
    outbox::RelayOptions ro;
    ro.bootstraps = kafka;
    ro.topic = topic;
    auto r = outbox::Relay::Create(**store, ro);
    if (!r.ok()) {
      fprintf(stderr, "relay: %s\n", r.status().ToString().c_str());
      return 1;
    }
    relay = std::move(*r);
    relay->Start();
  }
  printf("READY\n");
  fflush(stdout);
  // 32 appends in flight, ~5,000/s, across 40 streams.
  std::atomic<int> in_flight{0};
  std::mt19937 rng(std::random_device{}());
  for (uint64_t seq = 0;; ++seq) {
    while (in_flight.load() >= 32) std::this_thread::sleep_for(std::chrono::microseconds(200));
    if (seq % 32 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(6));
    std::string key = absl::StrCat(run, "-", seq);
    std::string stream = absl::StrCat("s-", rng() % 40);
    in_flight++;
    eventstore::CommandMeta meta;
    meta.idempotency_key = key;
    meta.request_id = key;
    (*store)->Execute(
        meta,
        [key, stream](eventstore::Tx& tx) -> absl::StatusOr<std::string> {
          google::protobuf::StringValue v;
          v.set_value(key);
          std::vector<eventstore::NewEvent> evs;
          evs.push_back(eventstore::NewEvent::Of(v));
          auto pos = tx.Append(stream, eventstore::kAnyVersion, std::move(evs));
          if (!pos.ok()) return pos.status();
          auto ver = tx.StreamVersion(stream);
          return absl::StrCat(stream, " ", *ver, " ", *pos);
        },
        [key, &in_flight](absl::StatusOr<eventstore::CommandResult> r) {
          if (r.ok()) {
            std::string line = absl::StrCat("ACK ", key, " ", r->response, "\n");
            ssize_t n = ::write(1, line.data(), line.size());
            (void)n;
          }
          in_flight--;
        });
  }
}
