#pragma once

// The projections' Kafka consumer: the libs/kafka consumer runner applying
// every record with Projector::Apply, and ending the store command of each
// batch with Projector::FinishBatch, so that the partner ROI changes of a
// batch are appended once per partner, atomically with the batch's read
// models, credit lines, offsets and dedupe marks (exactly-once effect, as the
// runner's).
//
// The runner has no end-of-batch hook, so the runner is given a view of the
// store whose Execute wraps each command (its only commands are batches):
// after the runner's batch function succeeds, FinishBatch runs in the same
// Tx; if it fails, AbandonBatch.

#include <memory>

#include "absl/status/statusor.h"
#include "channelops/eventstore/event_store.h"
#include "channelops/kafka/consumer_runner.h"
#include "projections/projector.h"

namespace prometheus {
class Registry;
}

namespace channelops::projections {

class ProjectionsConsumer {
 public:
  // As kafka::ConsumerRunner::Create (same errors). `store`, `projector` and
  // `metrics` (optional) must outlive the consumer; nothing else may call
  // `projector` while it runs.
  static absl::StatusOr<std::unique_ptr<ProjectionsConsumer>> Create(
      eventstore::EventStore& store, kafka::ConsumerOptions options, Projector& projector,
      prometheus::Registry* metrics = nullptr);
  ~ProjectionsConsumer();  // Stop()s

  // As kafka::ConsumerRunner. Thread-safe.
  absl::Status Start();
  void Stop();
  kafka::ConsumerRunner::Stats stats() const;

 private:
  ProjectionsConsumer() = default;
  std::unique_ptr<eventstore::EventStore> batch_store_;  // outlives runner_
  std::unique_ptr<kafka::ConsumerRunner> runner_;
};

}  // namespace channelops::projections
