#pragma once

// Consumes channelops event topics into a service's own event store with an
// exactly-once effect.
//
// Kafka delivers at least once, and the relay may re-publish after a restart.
// The runner makes the *effect* exactly-once by writing, in the SAME store
// command (one atomic batch), (a) whatever the handler derives from a batch of
// records, (b) the next offset of every partition in the batch, and (c) per
// (ce_source, topic, partition) the highest global_position applied. The store,
// not Kafka, is the source of truth for offsets: on assignment the runner seeks
// to the offsets stored in the meta column family, and a record whose
// global_position is at or below its (source, topic, partition) mark is skipped
// as a duplicate. The mark is exact because the relay publishes each partition
// in position order and only ever re-sends lower positions.
//
// Meta keys (values are decimal text):
//   consumer/<name>/<topic>/<partition>              next offset to read
//   dedupe/<name>/<ce_source>/<topic>/<partition>    highest applied global_position
//
// Failures:
//  - A record that cannot be decoded, or whose handler returns an error other
//    than the retryable ones below, is poison: it is logged (JSON on stderr),
//    counted, and skipped; nothing its handler staged is written (the batch is
//    re-run without it), and the consumer moves on.
//  - A handler returning UNAVAILABLE, RESOURCE_EXHAUSTED or DEADLINE_EXCEEDED,
//    or the store failing the command, abandons the whole batch: nothing is
//    written, the consumer seeks back to the first offset of the batch and
//    retries after a backoff (doubling up to 5 s) until it succeeds or Stop().
//
// Pipelining. Up to max_batches_in_flight batches are queued in the store at
// once, so the store decides the next batch while the one before is written
// and synced (each reads the ones before it: the store's read-your-writes).
// They form a chain: a batch runs only if nothing was discarded since the
// batch before it was decided (Tx::discard_epoch, checked on the writer
// thread); otherwise it returns ABORTED without running. So when one batch
// fails (poison, retryable error, failed write), every batch queued after it
// fails too and none is written out of order; the runner waits for them all,
// then applies them again one at a time, in order (the failed one without its
// poison record), or seeks back to the first of them after a storage failure.
// Answers are handled in order; a rebalance and Stop() first wait for every
// queued batch.
//
// Metrics (when a registry is given; label consumer=<name>):
//   channelops_consumer_events_applied_total{topic}
//   channelops_consumer_duplicates_skipped_total{topic}
//   channelops_consumer_errors_total{kind="decode"|"handler"|"storage"}
//   channelops_consumer_lag_events{topic,partition}   high watermark - next offset

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "channelops/common/v1/envelope.pb.h"
#include "channelops/eventstore/event_store.h"
#include "channelops/kafka/config.h"

namespace prometheus {
class Registry;
}

namespace channelops::kafka {

// One consumed record, decoded. The value is a protobuf EventEnvelope, or
// proto3 JSON when the record's content-type header is application/json (the
// payload's Any type must then be linked into the binary to be parsed).
struct ConsumedEvent {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  std::string key;
  std::string ce_source;         // ce_source header, else envelope.source
  uint64_t global_position = 0;  // envelope.global_position (1-based)
  common::v1::EventEnvelope envelope;
};

// Applies one event. Runs on the store's writer thread inside a store command,
// so it must be fast and must not block on other store commands. Reads and
// writes go through `tx`; they become durable together with the consumer's
// offsets and dedupe marks, or not at all. See the header comment for what an
// error return means.
using Handler = std::function<absl::Status(eventstore::Tx& tx, const ConsumedEvent& event)>;

struct ConsumerOptions {
  std::string bootstraps;           // bootstrap.servers
  std::string group_id;             // Kafka consumer group (partition assignment)
  std::vector<std::string> topics;  // topics, or ^regex patterns, to subscribe to
  // Names this consumer's offsets and marks in the store; one per logical
  // consumer of a store. Non-empty, without '/'.
  std::string name;
  size_t max_batch = 500;  // records per store command, at most
  // Record bytes (Kafka values) per store command: a batch ends with the
  // record that reaches it. 0: no bound. For topics whose records vary in
  // weight, e.g. pos_ingestion's PosLinesAccepted (up to 256 report lines in
  // one record): the projections bound a batch's work with it.
  size_t max_batch_bytes = 0;
  // Batches queued in the store at once: the next batch is decided while the
  // one before is written and synced (read-your-writes across them is the
  // store's). A failed batch voids the ones queued after it (they are re-run,
  // in order); 1 (the default) applies one batch at a time. The projections
  // use 3 (docs/BENCHMARKS.md).
  size_t max_batches_in_flight = 1;
  // After the first record of a batch, how long to wait for more.
  absl::Duration batch_window = absl::Milliseconds(5);
  // First backoff after a failed batch; doubles up to 5 s.
  absl::Duration retry_backoff = absl::Milliseconds(100);
  // Also commit applied offsets to the group asynchronously, so Kafka tools
  // show the lag. Never read back.
  bool commit_to_kafka = true;
  Properties kafka_properties;  // extra librdkafka consumer properties
};

class ConsumerRunner {
 public:
  // Validates the options and creates the consumer (not yet subscribed).
  // INVALID_ARGUMENT for empty bootstraps/group_id/topics/name, a name with '/',
  // max_batch == 0, max_batches_in_flight == 0, a null handler, or a Kafka
  // property librdkafka refuses.
  // `store`, and `metrics` if given, must outlive the runner.
  static absl::StatusOr<std::unique_ptr<ConsumerRunner>> Create(
      eventstore::EventStore& store, ConsumerOptions options, Handler handler,
      prometheus::Registry* metrics = nullptr);

  // Stop()s.
  ~ConsumerRunner();
  ConsumerRunner(const ConsumerRunner&) = delete;
  ConsumerRunner& operator=(const ConsumerRunner&) = delete;

  // Subscribes and starts the consumer thread. FAILED_PRECONDITION if already
  // started (a stopped runner is not restarted: Create a new one); the
  // subscribe error (kafka::ToStatus) otherwise. Thread-safe.
  absl::Status Start();

  // Stops consuming: lets the batch being applied finish (or abandons it while
  // it waits to be retried), leaves the group and returns. What was applied is
  // durable; the next runner with the same name continues from the store.
  // Idempotent. Thread-safe; must not be called from the handler.
  void Stop();

  // Counters since Create (also exported as metrics). Thread-safe.
  struct Stats {
    uint64_t applied = 0;     // handler succeeded and the batch was committed
    uint64_t duplicates = 0;  // skipped as already applied
    uint64_t errors = 0;      // poison records skipped (decode or handler)
    uint64_t retries = 0;     // batches abandoned and retried
    uint64_t batches = 0;     // store commands committed
  };
  Stats stats() const;

  static std::string OffsetKey(absl::string_view name, absl::string_view topic, int32_t partition);
  static std::string DedupeKey(absl::string_view name, absl::string_view source,
                               absl::string_view topic, int32_t partition);

  class Impl;

 private:
  explicit ConsumerRunner(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace channelops::kafka
