#pragma once

// The outbox relay: tails a store's global log and publishes every event to the
// service's Kafka topic, in global order, key = stream id, with CloudEvents
// binary-mode headers. Idempotent producer, acks=all. A store whose events go
// to several topics (e.g. projections' derived topics) routes them by event
// type with RelayOptions::route: still one relay and one cursor, so the order
// and delivery guarantees below hold for every topic.
//
// The cursor (the highest position such that it and everything before it was
// acknowledged by Kafka) advances only over delivered events and is persisted
// in the store's meta column family, so a restart re-publishes at most the
// unacknowledged tail (at-least-once; consumers dedupe on ce_source + position).
// Kafka being down never blocks the store: the relay falls behind, reports its
// lag, and drains the backlog when Kafka returns.

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "channelops/eventstore/event_store.h"

namespace prometheus {
class Registry;
}

namespace channelops::outbox {

enum class Format { kProtobuf, kJson };

// Parses "protobuf" | "json". INVALID_ARGUMENT otherwise.
absl::StatusOr<Format> ParseFormat(absl::string_view s);

// Picks the topic of an event from its EventEnvelope.event_type (e.g.
// "channelops.analytics.v1.PartnerRoiChanged"); an empty answer means
// RelayOptions::topic. Called on the relay thread once per distinct event type
// (the answer is kept), so it must depend on the type only.
using TopicRouter = std::function<std::string(absl::string_view event_type)>;

struct RelayOptions {
  std::string bootstraps;  // Kafka bootstrap servers, host:port[,host:port]
  std::string topic;       // channelops.<context>.events.v1
  // Optional: the topic per event type (default: every event to `topic`). A
  // stream whose event types go to different topics is ordered per topic only.
  TopicRouter route;
  Format format = Format::kProtobuf;
  size_t max_in_flight = 200000;  // unacknowledged events at most
  absl::Duration cursor_save_interval = absl::Milliseconds(100);
  std::map<std::string, std::string> producer_properties;  // extra librdkafka settings
  // channelops_outbox_{published,errors}_total{topic} per topic published to;
  // channelops_outbox_{lag_events,cursor_position}{topic} once, under `topic`.
  prometheus::Registry* metrics = nullptr;
};

class Relay {
 public:
  // Errors: INVALID_ARGUMENT for a bad librdkafka property or empty topic/bootstraps.
  static absl::StatusOr<std::unique_ptr<Relay>> Create(eventstore::EventStore& store,
                                                       RelayOptions options);
  ~Relay();

  // Starts the relay thread. Not thread-safe with Stop.
  void Start();
  // Stops reading the log, waits up to flush_timeout for in-flight deliveries,
  // saves the cursor. Idempotent.
  void Stop(absl::Duration flush_timeout);

  // Highest position with every event at or before it delivered. Thread-safe.
  uint64_t cursor() const;
  // Events committed in the store but not yet delivered. Thread-safe.
  uint64_t lag() const;

  // Operator tool: make the relay (next time it starts) publish again from
  // `from_position` (>= 1), e.g. to restore a lost or expired topic.
  static absl::Status ResetCursor(eventstore::EventStore& store, uint64_t from_position);
  // The persisted cursor (0 if none).
  static absl::StatusOr<uint64_t> LoadCursor(const eventstore::EventStore& store);

  class Impl;

 private:
  explicit Relay(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace channelops::outbox
