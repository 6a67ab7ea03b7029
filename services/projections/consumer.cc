#include "projections/consumer.h"

#include <algorithm>
#include <utility>

#include "channelops/core/status_macros.h"

namespace channelops::projections {
namespace {

// The store as the consumer runner sees it: every command (one per batch of
// records) ends with Projector::FinishBatch in the same Tx. Everything else
// is the store's.
class BatchEndStore final : public eventstore::EventStore {
 public:
  BatchEndStore(eventstore::EventStore& store, Projector& projector)
      : store_(store), projector_(projector) {}

  void Execute(eventstore::CommandMeta meta, eventstore::Command command,
               eventstore::Done done) override {
    store_.Execute(
        std::move(meta),
        [this,
         command = std::move(command)](eventstore::Tx& tx) mutable -> absl::StatusOr<std::string> {
          absl::StatusOr<std::string> result = command(tx);
          absl::Status finished = result.ok() ? projector_.FinishBatch(tx) : result.status();
          if (!finished.ok()) {
            projector_.AbandonBatch();
            return finished;
          }
          return result;
        },
        std::move(done));
  }

  absl::StatusOr<std::vector<eventstore::EventEnvelope>> ReadStream(
      absl::string_view stream_id, uint64_t from_version, size_t max_count) const override {
    return store_.ReadStream(stream_id, from_version, max_count);
  }
  absl::StatusOr<std::vector<eventstore::EventEnvelope>> ReadAll(uint64_t from_position,
                                                                 size_t max_count) const override {
    return store_.ReadAll(from_position, max_count);
  }
  absl::Status ReadAllRaw(
      uint64_t from_position, size_t max_count,
      const std::function<void(uint64_t, absl::string_view)>& fn) const override {
    return store_.ReadAllRaw(from_position, max_count, fn);
  }
  absl::StatusOr<std::optional<std::string>> Get(absl::string_view cf,
                                                 absl::string_view key) const override {
    return store_.Get(cf, key);
  }
  absl::Status Scan(
      absl::string_view cf, absl::string_view prefix, absl::string_view start, size_t limit,
      const std::function<bool(absl::string_view, absl::string_view)>& fn) const override {
    return store_.Scan(cf, prefix, start, limit, fn);
  }
  uint64_t LastPosition() const override { return store_.LastPosition(); }
  bool WaitForPosition(uint64_t position, absl::Duration timeout) const override {
    return store_.WaitForPosition(position, timeout);
  }
  absl::Status PutMeta(absl::string_view key, absl::string_view value) override {
    return store_.PutMeta(key, value);
  }
  absl::StatusOr<size_t> PruneIdempotency(absl::Time now) override {
    return store_.PruneIdempotency(now);
  }
  void Close() override {}  // the store is its owner's to close
  const std::string& source() const override { return store_.source(); }

 private:
  eventstore::EventStore& store_;
  Projector& projector_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<ProjectionsConsumer>> ProjectionsConsumer::Create(
    eventstore::EventStore& store, kafka::ConsumerOptions options, Projector& projector,
    prometheus::Registry* metrics) {
  // The next batch is decided while the one before is written and synced
  // (docs/BENCHMARKS.md: the writer was idle 61% of the time with one).
  options.max_batches_in_flight = std::max<size_t>(options.max_batches_in_flight, 3);
  // One pos_ingestion record holds up to 256 report lines (PosLinesAccepted):
  // 500 of them in one command would be 128,000 sales to credit, one write
  // batch, and all of it re-run after a poison record or a retry. About 1 MiB
  // of records per command is ~8 full chunks (~2,000 sales), or ~2,000 small
  // events of the other topics (max_batch caps those at 500 anyway).
  if (options.max_batch_bytes == 0) options.max_batch_bytes = 1 << 20;
  std::unique_ptr<ProjectionsConsumer> c(new ProjectionsConsumer(store, projector));
  c->batch_store_ = std::make_unique<BatchEndStore>(store, projector);
  CHANNELOPS_ASSIGN_OR_RETURN(c->runner_,
                              kafka::ConsumerRunner::Create(
                                  *c->batch_store_, std::move(options),
                                  [&projector](eventstore::Tx& tx, const kafka::ConsumedEvent& e) {
                                    return projector.Apply(tx, e);
                                  },
                                  metrics));
  return c;
}

ProjectionsConsumer::~ProjectionsConsumer() { Stop(); }

absl::Status ProjectionsConsumer::Start() { return runner_->Start(); }
void ProjectionsConsumer::Stop() {
  if (runner_) runner_->Stop();
}
kafka::ConsumerRunner::Stats ProjectionsConsumer::stats() const { return runner_->stats(); }

absl::StatusOr<RoiFlushStats> ProjectionsConsumer::FlushRoi(const RoiFlushOptions& options) {
  // The store itself, not batch_store_: a flush is no batch (nothing to finish).
  return projections::FlushRoi(store_, projector_, options);
}

}  // namespace channelops::projections
