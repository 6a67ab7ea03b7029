#pragma once

// The projections' Kafka consumer: the libs/kafka consumer runner applying
// every record with Projector::Apply, and ending the store command of each
// batch with Projector::FinishBatch, so that the partner ROI changes a batch
// may have caused are marked dirty atomically with the batch's read models,
// credit lines, offsets and dedupe marks (exactly-once effect, as the
// runner's). FlushRoi publishes the marked changes, in store commands of their
// own; its owner calls it periodically (main.cc: --roi_publish_interval).
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
  // `projector`'s Apply / FinishBatch while it runs (FlushRoi may run any time:
  // PublishRoi touches none of the batch's state).
  static absl::StatusOr<std::unique_ptr<ProjectionsConsumer>> Create(
      eventstore::EventStore& store, kafka::ConsumerOptions options, Projector& projector,
      prometheus::Registry* metrics = nullptr);
  ~ProjectionsConsumer();  // Stop()s

  // As kafka::ConsumerRunner. Thread-safe.
  absl::Status Start();
  void Stop();
  kafka::ConsumerRunner::Stats stats() const;

  // Publishes the partner ROI changes marked by the batches durable so far:
  // FlushRoi(store, projector, options) (projector.h). Works whether the
  // consumer runs or not (e.g. once more after Stop, to drain). Blocking;
  // thread-safe. Errors: the store's (UNAVAILABLE, CANCELLED when closing);
  // unpublished marks stay for the next call.
  absl::StatusOr<RoiFlushStats> FlushRoi(const RoiFlushOptions& options = {});

 private:
  ProjectionsConsumer(eventstore::EventStore& store, Projector& projector)
      : store_(store), projector_(projector) {}
  eventstore::EventStore& store_;
  Projector& projector_;
  std::unique_ptr<eventstore::EventStore> batch_store_;  // outlives runner_
  std::unique_ptr<kafka::ConsumerRunner> runner_;
};

}  // namespace channelops::projections
