#include "channelops/eventstore/event_store.h"

#include <pthread.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <deque>
#include <map>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/btree_map.h"
#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "backend.h"
#include "channelops/core/check.h"
#include "channelops/core/ids.h"
#include "channelops/core/status_macros.h"
#include "google/protobuf/timestamp.pb.h"
#include "key_filter.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace channelops::eventstore {

std::string EncodeU64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 7; i >= 0; --i) {
    s[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  return s;
}

uint64_t DecodeU64(absl::string_view b) {
  CHANNELOPS_CHECK(b.size() == 8u) << "corrupt big-endian u64";
  uint64_t v = 0;
  for (unsigned char c : b) v = (v << 8) | c;
  return v;
}

NewEvent NewEvent::Of(const google::protobuf::Message& m, absl::Time occurred_at) {
  NewEvent e;
  e.payload.PackFrom(m);
  e.occurred_at = occurred_at;
  return e;
}

absl::StatusOr<CommandResult> EventStore::ExecuteSync(CommandMeta meta, Command command) {
  absl::Notification done;
  absl::StatusOr<CommandResult> out = absl::UnknownError("not run");
  Execute(std::move(meta), std::move(command), [&](absl::StatusOr<CommandResult> r) {
    out = std::move(r);
    done.Notify();
  });
  done.WaitForNotification();
  return out;
}

namespace {

// Commands decided between two looks at the committer: small, so a burst is
// written in pieces while the rest of it is decided.
constexpr size_t kDecideChunk = 16;
// A decided batch this large goes to the committer before the rest of its
// chunk is decided: large commands (a POS report's 2,000-line batches, queued
// a few at a time) are then written while the next is decided, instead of all
// of them being decided first and written after.
constexpr size_t kHandOffOps = 1024;
// How often the committer tries to resume a failed store while acknowledged-
// to-be batches wait for it.
constexpr absl::Duration kRecoverInterval = absl::Seconds(1);
// Stream heads remembered by the writer (about 130 bytes each, ~1 MiB): the
// streams being appended to now. A stream appended to once (a new deal) gains
// nothing from it, so it is kept small; it is cleared when full. The soak saw
// a cache of 65,536 grow RSS for the whole 30 minutes (docs/RELIABILITY.md).
constexpr size_t kHeadCacheEntries = 8192;

enum Cf : int { kLog = 0, kStreams, kHeads, kIdem, kMeta, kSnap, kFirstReadModel };

void ToTimestamp(absl::Time t, google::protobuf::Timestamp* ts) {
  int64_t us = absl::ToUnixMicros(t);
  int64_t secs = us >= 0 ? us / 1000000 : -((-us + 999999) / 1000000);
  ts->set_seconds(secs);
  ts->set_nanos(static_cast<int32_t>((us - secs * 1000000) * 1000));
}

std::string StreamKey(absl::string_view stream, uint64_t version) {
  return absl::StrCat(stream, absl::string_view("\0", 1), EncodeU64(version));
}

// Idempotency record: BE u64 unix micros of the first answer, then the response.
std::string EncodeIdem(absl::Time at, absl::string_view response) {
  return absl::StrCat(EncodeU64(static_cast<uint64_t>(absl::ToUnixMicros(at))), response);
}
// The idempotency family's time index, written with each record: "\0t", BE
// u64 unix micros, the idempotency key -> "". Pruning walks it from the oldest
// and stops at the retention cutoff, so it reads only what expired instead of
// every record (and its stored response). Idempotency keys may not begin with
// a NUL byte, so no key collides with it.
constexpr absl::string_view kIdemTimePrefix("\0t", 2);
std::string IdemTimeKey(uint64_t micros, absl::string_view key) {
  return absl::StrCat(kIdemTimePrefix, EncodeU64(micros), key);
}
// Meta key set once every idempotency record has its time index entry (new
// stores, and older ones after the first prune indexed their records).
constexpr char kIdemIndexedMeta[] = "idempotency_time_index";

struct Metrics {
  prometheus::Histogram* commit_latency = nullptr;  // enqueue -> durable answer
  prometheus::Histogram* batch_commands = nullptr;
  prometheus::Histogram* write_seconds = nullptr;  // WAL write + memtable insert
  prometheus::Histogram* sync_seconds = nullptr;   // WAL fsync
  // Where append latency goes, per command: waiting for the writer, deciding,
  // from decided to durable (waiting for the committer, write, linger, fsync),
  // and from durable to its callback running.
  prometheus::Histogram* stage_queued = nullptr;
  prometheus::Histogram* stage_decided = nullptr;
  prometheus::Histogram* stage_durable = nullptr;
  prometheus::Histogram* stage_answered = nullptr;
  // The answered stage, split: the answer thread waking for a hand-over, and
  // each callback's own run time (callbacks of a hand-over run one after another).
  prometheus::Histogram* answer_wake = nullptr;
  prometheus::Histogram* answer_callback = nullptr;
  prometheus::Counter* commands_ok = nullptr;
  prometheus::Counter* commands_rejected = nullptr;
  prometheus::Counter* commands_replayed = nullptr;
  prometheus::Counter* storage_errors = nullptr;
  prometheus::Counter* events = nullptr;
  prometheus::Gauge* last_position = nullptr;
  // Engine memory and disk (Backend::Usage), set at open and then once a second
  // by the stats thread.
  prometheus::Gauge* memtable_bytes = nullptr;
  prometheus::Gauge* table_reader_bytes = nullptr;
  prometheus::Gauge* block_cache_bytes = nullptr;
  prometheus::Gauge* sst_bytes = nullptr;
  prometheus::Gauge* key_filter_bytes = nullptr;  // every point-lookup family's filter
  prometheus::Gauge* memory_read_model_bytes = nullptr;  // keys and values of memory_read_cfs
};

Metrics MakeMetrics(prometheus::Registry* r) {
  Metrics m;
  if (r == nullptr) return m;
  auto lat = prometheus::Histogram::BucketBoundaries{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                     0.01,   0.025,   0.05,   0.1,   0.25,   1};
  m.commit_latency = &prometheus::BuildHistogram()
                          .Name("channelops_eventstore_append_latency_seconds")
                          .Help("Time from command submission to durable answer")
                          .Register(*r)
                          .Add({}, lat);
  m.write_seconds = &prometheus::BuildHistogram()
                         .Name("channelops_eventstore_batch_write_seconds")
                         .Help("Time to write one group-commit batch to the WAL and memtables")
                         .Register(*r)
                         .Add({}, lat);
  m.sync_seconds = &prometheus::BuildHistogram()
                        .Name("channelops_eventstore_wal_sync_seconds")
                        .Help("Time of one WAL fsync (covers every batch written before it)")
                        .Register(*r)
                        .Add({}, lat);
  auto& stages = prometheus::BuildHistogram()
                     .Name("channelops_eventstore_stage_seconds")
                     .Help(
                         "Append latency by stage: queued (submission to the writer taking "
                         "it), decided (the command's decision), durable (decided to synced: "
                         "committer wait, write, linger, fsync), answered (synced to its "
                         "callback)")
                     .Register(*r);
  auto fine = prometheus::Histogram::BucketBoundaries{0.00001, 0.000025, 0.00005, 0.0001, 0.00025,
                                                      0.0005,  0.001,    0.0015,  0.002,  0.003,
                                                      0.005,   0.01,     0.025,   0.1,    1};
  m.stage_queued = &stages.Add({{"stage", "queued"}}, fine);
  m.stage_decided = &stages.Add({{"stage", "decided"}}, fine);
  m.stage_durable = &stages.Add({{"stage", "durable"}}, fine);
  m.stage_answered = &stages.Add({{"stage", "answered"}}, fine);
  m.answer_wake = &prometheus::BuildHistogram()
                       .Name("channelops_eventstore_answer_wake_seconds")
                       .Help(
                           "From a synced group's hand-over to the answer thread running "
                           "(its wake-up, or the callbacks it was still running)")
                       .Register(*r)
                       .Add({}, fine);
  m.answer_callback = &prometheus::BuildHistogram()
                           .Name("channelops_eventstore_answer_callback_seconds")
                           .Help(
                               "Run time of one caller's callback on the answer thread (for "
                               "gRPC: finishing the call, its send included)")
                           .Register(*r)
                           .Add({}, fine);
  m.batch_commands = &prometheus::BuildHistogram()
                          .Name("channelops_eventstore_batch_size_commands")
                          .Help("Commands per group-commit batch")
                          .Register(*r)
                          .Add({}, prometheus::Histogram::BucketBoundaries{1, 2, 4, 8, 16, 32, 64,
                                                                           128, 256, 1024, 4096});
  auto& cmds = prometheus::BuildCounter()
                   .Name("channelops_eventstore_commands_total")
                   .Help("Commands by outcome")
                   .Register(*r);
  m.commands_ok = &cmds.Add({{"outcome", "committed"}});
  m.commands_rejected = &cmds.Add({{"outcome", "rejected"}});
  m.commands_replayed = &cmds.Add({{"outcome", "replayed"}});
  m.storage_errors = &cmds.Add({{"outcome", "storage_error"}});
  m.events = &prometheus::BuildCounter()
                  .Name("channelops_eventstore_events_appended_total")
                  .Help("Events durably appended")
                  .Register(*r)
                  .Add({});
  m.last_position = &prometheus::BuildGauge()
                         .Name("channelops_eventstore_last_position")
                         .Help("Highest durable global position")
                         .Register(*r)
                         .Add({});
  auto& mem = prometheus::BuildGauge()
                  .Name("channelops_eventstore_memory_bytes")
                  .Help(
                      "Memory held by the storage engine: memtables (bounded by "
                      "--store_memtable_budget_mb), block_cache (bounded by "
                      "--store_block_cache_mb), table_readers (index and filter blocks of the "
                      "open table files, outside the cache), key_filters (in-process filters "
                      "of point-lookup keys), memory_read_models (the keys and values of the "
                      "read models held whole in memory)")
                  .Register(*r);
  m.memtable_bytes = &mem.Add({{"component", "memtables"}});
  m.table_reader_bytes = &mem.Add({{"component", "table_readers"}});
  m.block_cache_bytes = &mem.Add({{"component", "block_cache"}});
  m.key_filter_bytes = &mem.Add({{"component", "key_filters"}});
  m.memory_read_model_bytes = &mem.Add({{"component", "memory_read_models"}});
  m.sst_bytes = &prometheus::BuildGauge()
                     .Name("channelops_eventstore_table_files_bytes")
                     .Help("Size of the live table files on disk")
                     .Register(*r)
                     .Add({});
  return m;
}

class StoreImpl;

// Writes staged by commands whose batches are not yet durable. Touched only by
// the writer thread.
struct OverlayEntry {
  std::optional<std::string> value;
  uint64_t batch = 0;
};

struct Answer {
  Done done;
  absl::StatusOr<CommandResult> result;
  absl::Time submitted;
  absl::Time decided = absl::InfinitePast();  // when its decision ended (stage metrics)
};

struct Batch {
  uint64_t seq = 0;
  std::vector<WriteOp> ops;
  std::vector<Answer> answers;
  std::vector<std::string> overlay_keys;
  uint64_t last_position = 0;
  uint64_t events = 0;
};

// A batch in the store, waiting for the fsync that makes it durable.
struct Written {
  std::vector<Answer> answers;
  uint64_t last_position = 0;
  uint64_t events = 0;
  bool wrote = false;
  View view;  // the store right after its write: readers' view once synced
  std::vector<WriteOp> mirrored;  // its writes to memory read models (Options::memory_read_cfs)
};

struct Answering {
  std::vector<Answer> answers;
  bool durable = false;
  absl::Time handed = absl::InfinitePast();  // handed to the answerer (stage metrics)
};

struct Pending {
  CommandMeta meta;
  Command command;
  Done done;
  absl::Time submitted;
};

// A command's view of the store. It stages straight into the batch being
// decided (its ops) and into the store's overlay, which is how the command
// reads its own writes and later commands read them before they are durable.
// If the command fails, Discard() takes both back: the ops are truncated and
// every overlay entry it replaced is restored (`undo`, parallel to the
// batch's overlay keys from the command's first).
class TxImpl final : public Tx {
 public:
  TxImpl(StoreImpl& store, absl::Time now, const CommandMeta& meta, uint64_t next_position,
         Batch& batch, std::vector<std::optional<OverlayEntry>>& undo)
      : store_(store),
        now_(now),
        meta_(meta),
        next_position_(next_position),
        batch_(batch),
        first_op_(batch.ops.size()),
        first_key_(batch.overlay_keys.size()),
        undo_(undo) {
    undo_.clear();
  }

  absl::Time now() const override { return now_; }
  absl::StatusOr<std::optional<std::string>> Get(absl::string_view cf,
                                                 absl::string_view key) override;
  void Put(absl::string_view cf, absl::string_view key, std::string value) override;
  void Delete(absl::string_view cf, absl::string_view key) override;
  absl::Status Scan(absl::string_view cf, absl::string_view prefix,
                    const std::function<void(absl::string_view, absl::string_view)>& fn) override;
  absl::StatusOr<uint64_t> StreamVersion(absl::string_view stream_id) override;
  absl::StatusOr<uint64_t> Append(absl::string_view stream_id, int64_t expected_version,
                                  std::vector<NewEvent> events) override;
  uint64_t discard_epoch() const override;

  absl::StatusOr<std::optional<std::string>> GetByIndex(int cf, absl::string_view key);
  // `overlay`: visible to this command's and later commands' reads.
  void Stage(int cf, absl::string_view key, std::optional<std::string> value, bool overlay);
  // Takes back everything staged (the command failed).
  void Discard();

  uint64_t next_position() const { return next_position_; }
  uint64_t events() const { return events_; }
  size_t first_op() const { return first_op_; }

 private:
  int CfIndex(absl::string_view cf);
  StoreImpl& store_;
  absl::Time now_;
  const CommandMeta& meta_;
  uint64_t next_position_;
  uint64_t events_ = 0;
  Batch& batch_;
  const size_t first_op_;
  const size_t first_key_;
  std::vector<std::optional<OverlayEntry>>& undo_;
};

uint64_t NextStoreEpochBase() {
  static std::atomic<uint64_t> stores{0};
  return (stores.fetch_add(1) + 1) << 32;
}

std::string OverlayKey(int cf, absl::string_view key) {
  std::string k(1, static_cast<char>(cf));
  k.append(key.data(), key.size());
  return k;
}

class StoreImpl final : public EventStore {
 public:
  StoreImpl(const Options& o, std::unique_ptr<Backend> backend, std::vector<std::string> cfs)
      : options_(o),
        backend_(std::move(backend)),
        cf_names_(std::move(cfs)),
        clock_(o.clock ? o.clock : &core::SystemClock::Instance()),
        metrics_(MakeMetrics(o.metrics)) {
    for (size_t i = 0; i < cf_names_.size(); ++i) cf_index_[cf_names_[i]] = static_cast<int>(i);
  }

  absl::Status Init() {
    CHANNELOPS_ASSIGN_OR_RETURN(auto last, backend_->LastKey(kLog));
    uint64_t pos = last ? DecodeU64(*last) : 0;
    next_position_ = pos + 1;
    {
      absl::MutexLock l(&pos_mu_);
      last_committed_ = pos;
    }
    {
      absl::MutexLock l(&mu_);
      last_written_ = pos;
    }
    {
      absl::MutexLock l(&view_mu_);
      durable_view_ = backend_->PinView();  // everything recovered is durable
    }
    if (metrics_.last_position) metrics_.last_position->Set(static_cast<double>(pos));
    CHANNELOPS_RETURN_IF_ERROR(LoadMirrors());
    CHANNELOPS_RETURN_IF_ERROR(OpenKeyFilters());
    UpdateUsageGauges();  // what recovery loaded; then once a second (StatsLoop)
    // Named for top -H and profiles.
    writer_ = std::thread([this] {
      pthread_setname_np(pthread_self(), "es-decide");
      WriterLoop();
    });
    committer_ = std::thread([this] {
      pthread_setname_np(pthread_self(), "es-commit");
      CommitterLoop();
    });
    answerer_ = std::thread([this] {
      pthread_setname_np(pthread_self(), "es-answer");
      AnswererLoop();
    });
    if (metrics_.memtable_bytes != nullptr) {
      stats_ = std::thread([this] {
        pthread_setname_np(pthread_self(), "es-stats");
        StatsLoop();
      });
    }
    return absl::OkStatus();
  }

  ~StoreImpl() override { Close(); }

  // Submissions go to an inbox with a lock of its own: a burst of callers
  // (a group's answers resubmitting) does not contend with the pipeline's
  // lock, and only the first of a burst wakes the writer.
  void Execute(CommandMeta meta, Command command, Done done) override {
    bool queued = false;
    bool wake = false;
    {
      absl::MutexLock l(&inbox_mu_);
      if (!inbox_closed_) {
        wake = inbox_.empty();
        inbox_.push_back(
            Pending{std::move(meta), std::move(command), std::move(done), absl::Now()});
        queued = true;
      }
    }
    if (!queued) {
      done(absl::CancelledError("event store is closed"));
      return;
    }
    if (wake) {
      absl::MutexLock l(&mu_);
      inbox_ready_ = true;
    }
  }

  absl::StatusOr<std::vector<EventEnvelope>> ReadStream(absl::string_view stream_id,
                                                        uint64_t from_version,
                                                        size_t max_count) const override {
    std::vector<EventEnvelope> out;
    std::string prefix = absl::StrCat(stream_id, absl::string_view("\0", 1));
    std::vector<uint64_t> positions;
    const View view = DurableView();
    CHANNELOPS_RETURN_IF_ERROR(backend_->Scan(
        kStreams, prefix, StreamKey(stream_id, std::max<uint64_t>(from_version, 1)), max_count,
        [&](absl::string_view, absl::string_view v) {
          positions.push_back(DecodeU64(v));
          return true;
        },
        view.get()));
    for (uint64_t p : positions) {
      CHANNELOPS_ASSIGN_OR_RETURN(auto raw, backend_->Get(kLog, EncodeU64(p), view.get()));
      if (!raw) return absl::DataLossError(absl::StrCat("log entry ", p, " missing"));
      EventEnvelope e;
      if (!e.ParseFromString(*raw)) return absl::DataLossError("corrupt envelope");
      out.push_back(std::move(e));
    }
    return out;
  }

  absl::StatusOr<std::vector<EventEnvelope>> ReadAll(uint64_t from_position,
                                                     size_t max_count) const override {
    std::vector<EventEnvelope> out;
    absl::Status parse = absl::OkStatus();
    CHANNELOPS_RETURN_IF_ERROR(
        ReadAllRaw(from_position, max_count, [&](uint64_t, absl::string_view v) {
          EventEnvelope e;
          if (!e.ParseFromArray(v.data(), static_cast<int>(v.size()))) {
            parse = absl::DataLossError("corrupt envelope");
          }
          out.push_back(std::move(e));
        }));
    CHANNELOPS_RETURN_IF_ERROR(parse);
    return out;
  }

  absl::Status ReadAllRaw(
      uint64_t from_position, size_t max_count,
      const std::function<void(uint64_t, absl::string_view)>& fn) const override {
    uint64_t last = LastPosition();
    const View view = DurableView();
    return backend_->Scan(
        kLog, "", EncodeU64(from_position), max_count,
        [&](absl::string_view k, absl::string_view v) {
          uint64_t p = DecodeU64(k);
          if (p > last) return false;  // not yet durable
          fn(p, v);
          return true;
        },
        view.get());
  }

  absl::StatusOr<std::optional<std::string>> Get(absl::string_view cf,
                                                 absl::string_view key) const override {
    auto it = cf_index_.find(cf);
    if (it == cf_index_.end())
      return absl::InvalidArgumentError(absl::StrCat("unknown column family ", cf));
    if (const Mirror* m = mirrors_[it->second].get()) {
      const Mirror::Shard& shard = m->For(key);
      absl::ReaderMutexLock l(&shard.mu);
      auto found = shard.rows.find(key);
      if (found == shard.rows.end()) return std::nullopt;
      return found->second;
    }
    const View view = ViewFor(it->second);
    return backend_->Get(it->second, key, view.get());
  }

  absl::Status Scan(
      absl::string_view cf, absl::string_view prefix, absl::string_view start, size_t limit,
      const std::function<bool(absl::string_view, absl::string_view)>& fn) const override {
    auto it = cf_index_.find(cf);
    if (it == cf_index_.end())
      return absl::InvalidArgumentError(absl::StrCat("unknown column family ", cf));
    const View view = ViewFor(it->second);
    return backend_->Scan(it->second, prefix, start, limit, fn, view.get());
  }

  uint64_t LastPosition() const override {
    absl::MutexLock l(&pos_mu_);
    return last_committed_;
  }

  bool WaitForPosition(uint64_t position, absl::Duration timeout) const override {
    absl::MutexLock l(&pos_mu_);
    auto reached = [&]()
                       ABSL_SHARED_LOCKS_REQUIRED(pos_mu_) { return last_committed_ >= position; };
    return pos_mu_.AwaitWithTimeout(absl::Condition(&reached), timeout);
  }

  absl::Status PutMeta(absl::string_view key, absl::string_view value) override {
    return backend_->Write({WriteOp{kMeta, std::string(key), std::string(value)}}, false);
  }

  // Walks the time index up to the cutoff: O(expired records), in pages. A
  // store written before the index existed is indexed by its first prune (one
  // full pass, the old way), then marked. Deleting through the writer would
  // serialise with commands; a direct delete is safe because an expired key
  // is no longer consulted for correctness. A record written again since its
  // index entry (a key reused after it expired) is newer than the entry and
  // stays; its own entry prunes it later.
  absl::StatusOr<size_t> PruneIdempotency(absl::Time now) override {
    const uint64_t cutoff = static_cast<uint64_t>(
        std::max<int64_t>(0, absl::ToUnixMicros(now - options_.idempotency_retention)));
    CHANNELOPS_ASSIGN_OR_RETURN(auto indexed, backend_->Get(kMeta, kIdemIndexedMeta, nullptr));
    if (!indexed.has_value()) {
      CHANNELOPS_ASSIGN_OR_RETURN(size_t n, PruneAndIndexAll(cutoff));
      CHANNELOPS_RETURN_IF_ERROR(PutMeta(kIdemIndexedMeta, "1"));
      return n;
    }
    constexpr size_t kPage = 4096;
    size_t removed = 0;
    while (true) {
      std::vector<WriteOp> dels;
      bool more = false;
      std::vector<std::pair<std::string, uint64_t>> expired;  // idempotency key, entry time
      CHANNELOPS_RETURN_IF_ERROR(backend_->Scan(
          kIdem, kIdemTimePrefix, kIdemTimePrefix, kPage + 1,
          [&](absl::string_view k, absl::string_view) {
            if (expired.size() == kPage) {
              more = true;
              return false;
            }
            if (k.size() < kIdemTimePrefix.size() + 8) {  // not an entry: dropped
              dels.push_back(WriteOp{kIdem, std::string(k), std::nullopt});
              return true;
            }
            const uint64_t at = DecodeU64(k.substr(kIdemTimePrefix.size(), 8));
            if (at >= cutoff) return false;
            dels.push_back(WriteOp{kIdem, std::string(k), std::nullopt});
            expired.emplace_back(std::string(k.substr(kIdemTimePrefix.size() + 8)), at);
            return true;
          },
          nullptr));
      for (const auto& [key, at] : expired) {
        CHANNELOPS_ASSIGN_OR_RETURN(auto record, backend_->Get(kIdem, key, nullptr));
        if (record && record->size() >= 8 &&
            DecodeU64(absl::string_view(*record).substr(0, 8)) <= at) {
          dels.push_back(WriteOp{kIdem, key, std::nullopt});
          ++removed;
        }
      }
      if (!dels.empty()) CHANNELOPS_RETURN_IF_ERROR(backend_->Write(dels, false));
      if (!more) return removed;
    }
  }

  // The first prune of a store written before the time index: every record is
  // visited once; the expired ones go, the rest get their index entry
  // (written in pages, so a large store is not held in one batch).
  absl::StatusOr<size_t> PruneAndIndexAll(uint64_t cutoff) {
    constexpr size_t kPage = 4096;
    std::vector<WriteOp> ops;
    size_t removed = 0;
    absl::Status written = absl::OkStatus();
    CHANNELOPS_RETURN_IF_ERROR(backend_->Scan(
        kIdem, "", "", SIZE_MAX,
        [&](absl::string_view k, absl::string_view v) {
          if (ops.size() >= kPage) {
            written = backend_->Write(ops, false);
            ops.clear();
            if (!written.ok()) return false;
          }
          if (absl::StartsWith(k, kIdemTimePrefix) || v.size() < 8) return true;
          const uint64_t at = DecodeU64(v.substr(0, 8));
          if (at < cutoff) {
            ops.push_back(WriteOp{kIdem, std::string(k), std::nullopt});
            ++removed;
          } else {
            ops.push_back(WriteOp{kIdem, IdemTimeKey(at, k), std::string()});
          }
          return true;
        },
        nullptr));
    CHANNELOPS_RETURN_IF_ERROR(written);
    if (!ops.empty()) CHANNELOPS_RETURN_IF_ERROR(backend_->Write(ops, false));
    return removed;
  }

  void Close() override {
    {
      absl::MutexLock l(&inbox_mu_);
      inbox_closed_ = true;  // before closing_: the writer's last look at the inbox is final
    }
    {
      absl::MutexLock l(&mu_);
      if (closed_) return;
      closing_ = true;
    }
    if (writer_.joinable()) writer_.join();
    {
      absl::MutexLock l(&mu_);
      committer_stop_ = true;
    }
    if (committer_.joinable()) committer_.join();
    {
      absl::MutexLock l(&mu_);
      answerer_stop_ = true;  // after every answer handed over
    }
    if (answerer_.joinable()) answerer_.join();
    {
      absl::MutexLock l(&stats_mu_);
      stats_stop_ = true;
    }
    if (stats_.joinable()) stats_.join();
    filter_loader_stop_.store(true);
    if (filter_loader_.joinable()) filter_loader_.join();
    {
      absl::MutexLock l(&view_mu_);
      durable_view_.reset();
    }
    backend_->Close();
    absl::MutexLock l(&mu_);
    closed_ = true;
  }

  const std::string& source() const override { return options_.source; }

  // ---- writer-thread helpers used by TxImpl ----
  absl::StatusOr<std::optional<std::string>> ReadThrough(int cf, absl::string_view key) {
    // The overlay key in a buffer of this thread's: a lookup allocates nothing.
    lookup_key_.assign(1, static_cast<char>(cf));
    lookup_key_.append(key.data(), key.size());
    auto it = overlay_.find(lookup_key_);
    if (it != overlay_.end()) return it->second.value;
    if (Filtered* f = filters_[cf].get()) {
      // Everything this store wrote to the family went through RunCommand,
      // which added its keys: a "no" is exact. Until the loader has added the
      // keys stored before the open, read the store.
      if (!f->loaded.load(std::memory_order_acquire)) {
        if (f->loading) f->loading->Increment();
      } else if (!f->filter.MayContain(key)) {
        if (f->absent) f->absent->Increment();
        return std::nullopt;
      } else if (f->maybe) {
        f->maybe->Increment();
      }
    }
    if (cf == kHeads) {
      auto h = heads_.find(key);
      if (h != heads_.end()) return h->second;
    }
    // Latest: written batches, synced or not.
    CHANNELOPS_ASSIGN_OR_RETURN(std::optional<std::string> v, backend_->Get(cf, key, nullptr));
    if (cf == kHeads && v) RememberHead(key, *v);
    return v;
  }
  // Stream heads are written only by this thread, so a cache of them is exact
  // (cleared with the overlay when a batch fails). Saves a memtable lookup per
  // append, the largest single cost of deciding one.
  void RememberHead(absl::string_view stream, const std::string& version) {
    if (heads_.size() >= kHeadCacheEntries) heads_.clear();
    heads_[stream] = version;
  }
  // Overlay entries of `cf` under `prefix` (writer thread only), through the
  // ordered index of the family's overlay keys: O(log n + matches), not the
  // whole overlay per scan.
  void OverlayPrefix(int cf, absl::string_view prefix,
                     std::map<std::string, std::optional<std::string>>& into) {
    if (!ordered_cf_[cf]) {
      // The family's first scan: from now on its overlay keys are also kept in
      // order (OverlayStaged / OverlayErased).
      ordered_cf_[cf] = true;
      for (const auto& [k, e] : overlay_) {
        if (static_cast<unsigned char>(k[0]) == cf) ordered_keys_.insert(k);
      }
    }
    const std::string start = OverlayKey(cf, prefix);
    for (auto it = ordered_keys_.lower_bound(start);
         it != ordered_keys_.end() && absl::StartsWith(*it, start); ++it) {
      into[it->substr(1)] = overlay_.at(*it).value;
    }
  }
  // Keeps the ordered index of the families that are scanned (writer thread).
  void OverlayStaged(const std::string& overlay_key) {
    if (ordered_cf_[static_cast<unsigned char>(overlay_key[0])]) ordered_keys_.insert(overlay_key);
  }
  void OverlayErased(const std::string& overlay_key) {
    if (ordered_cf_[static_cast<unsigned char>(overlay_key[0])]) ordered_keys_.erase(overlay_key);
  }
  void OverlayClear() {
    overlay_.clear();
    ordered_keys_.clear();
  }
  Backend& backend() { return *backend_; }

  int CfIndex(absl::string_view cf) const {
    auto it = cf_index_.find(cf);
    CHANNELOPS_CHECK(it != cf_index_.end()) << "unknown column family " << cf;
    return it->second;
  }
  const Options& options() const { return options_; }

 private:
  void WriterLoop() {
    Batch current;
    current.seq = ++batch_seq_;
    while (true) {
      std::deque<Pending> work;
      Batch voided;
      bool hand_off = false;
      bool exit = false;
      {
        absl::MutexLock l(&mu_);
        // Wakes for new commands, a finished write (the committer is free for
        // the batch decided meanwhile), a failure, or shutdown. Batching is
        // not decided here: the committer groups written batches into one fsync.
        auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return inbox_ready_ || !queue_.empty() || (closing_ && committer_idle_) || failed_ ||
                 !completed_.empty() || (committer_idle_ && !current.answers.empty());
        };
        mu_.Await(absl::Condition(&ready));
        {
          inbox_ready_ = false;
          absl::MutexLock il(&inbox_mu_);  // lock order: mu_, then inbox_mu_
          for (Pending& p : inbox_) queue_.push_back(std::move(p));
          inbox_.clear();
        }
        CleanupCompletedLocked();
        if (failed_) {
          // The batch in flight failed: everything decided on top of it is void.
          failed_ = false;
          OverlayClear();
          heads_.clear();
          completed_.clear();
          next_position_ = last_written_ + 1;
          ++discard_epoch_;
          FailAnswers(current, failure_status_);
          voided = std::move(current);
          current = FreshBatch(voided);
        }
        // What is decided goes to the committer as soon as it is free, and
        // commands are decided a few at a time in between: a burst is written
        // in pieces while the rest of it is still being decided.
        if (committer_idle_ && !current.answers.empty()) {
          hand_off = true;
          committer_idle_ = false;
          in_flight_ = std::move(current);
          current = FreshBatch(*in_flight_);
        }
        if (current.answers.size() < options_.max_batch_commands) {
          size_t room =
              std::min(options_.max_batch_commands - current.answers.size(), kDecideChunk);
          while (!queue_.empty() && work.size() < room) {
            work.push_back(std::move(queue_.front()));
            queue_.pop_front();
          }
        }
        writer_busy_ = !work.empty() || !current.answers.empty();
        exit = closing_ && queue_.empty() && work.empty() && current.answers.empty() &&
               committer_idle_ && !hand_off;
      }
      // Decided on top of a batch that failed to commit: answered with its
      // storage error, and counted as such.
      if (!voided.answers.empty() && metrics_.storage_errors) {
        metrics_.storage_errors->Increment(static_cast<double>(voided.answers.size()));
      }
      for (Answer& a : voided.answers) a.done(std::move(a.result));
      if (exit) return;
      for (size_t i = 0; i < work.size(); ++i) {
        Pending& p = work[i];
        const absl::Time start = absl::Now();
        const size_t answered = current.answers.size();
        RunCommand(p, current);
        const absl::Time end = absl::Now();
        if (metrics_.stage_queued) {
          metrics_.stage_queued->Observe(absl::ToDoubleSeconds(start - p.submitted));
          metrics_.stage_decided->Observe(absl::ToDoubleSeconds(end - start));
        }
        if (current.answers.size() > answered) current.answers.back().decided = end;
        if (current.ops.size() >= kHandOffOps && i + 1 < work.size()) {
          // The rest goes back to the front of the queue, in order; the loop
          // hands this batch over if the committer is free, then decides on.
          absl::MutexLock l(&mu_);
          for (size_t j = work.size(); j-- > i + 1;) queue_.push_front(std::move(work[j]));
          break;
        }
      }
    }
  }

  // The next batch, its vectors reserved at `like`'s sizes: grown from empty,
  // they were reallocated and moved ~log2(n) times per batch (~3% of the
  // writer's instructions for RegisterDeal).
  Batch FreshBatch(const Batch& like) {
    Batch b;
    b.seq = ++batch_seq_;
    b.ops.reserve(like.ops.size());
    b.answers.reserve(like.answers.size());
    b.overlay_keys.reserve(like.overlay_keys.size());
    return b;
  }

  void CleanupCompletedLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (auto& [seq, keys] : completed_) {
      for (const std::string& k : keys) {
        auto it = overlay_.find(k);
        if (it != overlay_.end() && it->second.batch == seq) {
          overlay_.erase(it);
          OverlayErased(k);
        }
      }
    }
    completed_.clear();
  }

  static void FailAnswers(Batch& b, const absl::Status& s) {
    for (Answer& a : b.answers) a.result = s;
  }

  void RunCommand(Pending& p, Batch& batch) {
    absl::Time now = clock_->Now();
    if (!p.meta.idempotency_key.empty() && p.meta.idempotency_key[0] == '\0') {
      batch.answers.push_back(
          Answer{std::move(p.done),
                 absl::InvalidArgumentError("idempotency_key: must not begin with a NUL byte"),
                 p.submitted});
      return;
    }
    if (!p.meta.idempotency_key.empty()) {
      auto prior = ReadThrough(kIdem, p.meta.idempotency_key);
      if (!prior.ok()) {
        batch.answers.push_back(Answer{std::move(p.done), prior.status(), p.submitted});
        return;
      }
      if (prior->has_value()) {
        CommandResult r;
        r.replayed = true;
        r.response = (*prior)->substr(8);
        if (metrics_.commands_replayed) metrics_.commands_replayed->Increment();
        // Answered with this batch, so never before the original is durable.
        batch.answers.push_back(Answer{std::move(p.done), std::move(r), p.submitted});
        return;
      }
    }
    if (p.meta.correlation_id.empty()) p.meta.correlation_id = p.meta.request_id;
    TxImpl tx(*this, now, p.meta, next_position_, batch, undo_);
    absl::StatusOr<std::string> response = p.command(tx);
    if (!response.ok()) {
      tx.Discard();
      if (metrics_.commands_rejected) metrics_.commands_rejected->Increment();
      ++discard_epoch_;  // what it staged is dropped
      batch.answers.push_back(Answer{std::move(p.done), response.status(), p.submitted});
      return;
    }
    if (!p.meta.idempotency_key.empty()) {
      tx.Stage(kIdem, p.meta.idempotency_key, EncodeIdem(now, *response), true);
      tx.Stage(kIdem,
               IdemTimeKey(static_cast<uint64_t>(absl::ToUnixMicros(now)), p.meta.idempotency_key),
               std::string(), false);
    }
    CommandResult r;
    r.response = std::move(*response);
    if (tx.next_position() != next_position_) {
      r.last_position = tx.next_position() - 1;
      batch.last_position = r.last_position;
      batch.events += tx.events();
      next_position_ = tx.next_position();
    }
    for (size_t i = tx.first_op(); i < batch.ops.size(); ++i) {
      const WriteOp& op = batch.ops[i];
      if (op.cf == kHeads && op.value) RememberHead(op.key, *op.value);
      // Before the write reaches the engine, so a key can never be stored and
      // not in its filter.
      if (op.value && filters_[op.cf]) filters_[op.cf]->filter.Add(op.key);
    }
    batch.answers.push_back(Answer{std::move(p.done), std::move(r), p.submitted});
  }

  // The committer writes each batch as soon as it is handed over (WAL write +
  // memtable insert, no fsync: visible to the writer's next decisions, not to
  // readers), and syncs once the burst is in: when nothing more is being
  // decided or written and the unsynced commands reach three quarters of the
  // last group, or when the oldest unsynced batch has waited half a (smoothed)
  // fsync (PostgreSQL's commit_delay, made adaptive; a lone caller, last group
  // of one, never waits). One fsync then covers every batch of the burst, and
  // the memtable inserts of a burst overlap with deciding the rest of it.
  //
  // Writes and the fsync stay on this one thread: RocksDB must not sync a WAL
  // whose last append failed (Debian's build asserts, and aborts, in
  // WritableFileWriter when a sync follows a failed append), and only the
  // thread that wrote knows for sure that no append is failing meanwhile.
  void CommitterLoop() {
    std::vector<Written> unsynced;
    absl::Time unsynced_since = absl::InfiniteFuture();
    // A write failed after `unsynced` was written: their WAL cannot be synced.
    // They wait, unanswered, until the store resumes (RocksDB's recovery
    // flushes the memtables, so they are durable then) and are acknowledged
    // then; a crash meanwhile loses them unacknowledged. Never answered with
    // an error: they would become visible after the resume.
    bool wal_failed = false;
    size_t unsynced_commands = 0;
    while (true) {
      std::optional<Batch> b;
      bool sync_now = false;
      bool try_recover = false;
      {
        absl::MutexLock l(&mu_);
        auto drained = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return !writer_busy_ && !inbox_ready_ && queue_.empty();
        };
        auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return in_flight_.has_value() || committer_stop_ ||
                 (!unsynced.empty() && drained() && unsynced_commands >= sync_target_);
        };
        if (unsynced.empty()) {
          mu_.Await(absl::Condition(&ready));
        } else if (wal_failed) {
          auto woken = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
            return in_flight_.has_value() || committer_stop_;
          };
          try_recover = !mu_.AwaitWithTimeout(absl::Condition(&woken), kRecoverInterval);
        } else {
          mu_.AwaitWithTimeout(absl::Condition(&ready),
                               unsynced_since + sync_linger_ - absl::Now());
        }
        if (in_flight_.has_value()) {
          b = std::move(*in_flight_);
          in_flight_.reset();
          try_recover = false;
        } else if (wal_failed) {
          if (committer_stop_) break;  // unacknowledged; durable or not after the close
        } else if (!unsynced.empty()) {
          sync_now = true;  // drained, lingered long enough, or stopping
        } else if (committer_stop_) {
          break;
        }
      }
      // Resumed, and the memtables (holding what waited) in table files:
      // RocksDB's recovery flushes them; flushed again here so the
      // acknowledgement does not rest on that detail.
      if (try_recover && backend_->Recover().ok() && backend_->FlushMemtables().ok()) {
        wal_failed = false;
        sync_now = true;
      }
      if (sync_now) {
        // Target of the next group: three quarters of this one. Callers
        // answered now resubmit a network round trip later; a fragment would
        // pay a whole fsync and make groups alternate tiny and large.
        sync_target_ = std::max<size_t>(1, unsynced_commands * 3 / 4);
        unsynced_commands = 0;
        SyncGroup(unsynced);
        unsynced.clear();
        unsynced_since = absl::InfiniteFuture();
        continue;
      }
      if (!b) continue;
      absl::Status s = absl::OkStatus();
      View view;
      if (!b->ops.empty()) {
        absl::Time t0 = absl::Now();
        s = backend_->Write(b->ops, /*sync=*/false);
        if (metrics_.write_seconds)
          metrics_.write_seconds->Observe(absl::ToDoubleSeconds(absl::Now() - t0));
        if (s.ok()) view = backend_->PinView();
      }
      if (metrics_.batch_commands)
        metrics_.batch_commands->Observe(static_cast<double>(b->answers.size()));
      if (!s.ok()) {
        // Nothing of this batch reached the store: answered with the error.
        if (metrics_.storage_errors)
          metrics_.storage_errors->Increment(static_cast<double>(b->answers.size()));
        FailAnswers(*b, s);
        std::vector<Written> failed;
        failed.push_back(Written{std::move(b->answers), 0, 0, false, nullptr, {}});
        HandToAnswerer(failed, /*durable=*/false);
        // The batches written before it are in the WAL file (their appends
        // succeeded) but RocksDB will not sync a WAL after a failed append:
        // the files are fsynced directly. Recovery replays them and stops at
        // the failed append's torn record, so they are acknowledged now.
        if (!unsynced.empty()) {
          if (backend_->SyncWalFilesDirectly().ok()) {
            SyncGroup(unsynced, /*synced=*/true);
            unsynced.clear();
            unsynced_commands = 0;
            unsynced_since = absl::InfiniteFuture();
          } else {
            wal_failed = true;
          }
        }
      } else {
        // A write succeeded after a failure: the store resumed (the backend
        // resumes before writing) into a new WAL, which can be synced; what
        // waited is durable once the memtables are in table files.
        if (wal_failed && backend_->FlushMemtables().ok()) wal_failed = false;
        if (unsynced.empty()) unsynced_since = absl::Now();
        unsynced_commands += b->answers.size();
        const bool wrote = !b->ops.empty();
        unsynced.push_back(Written{std::move(b->answers), b->last_position, b->events, wrote,
                                   std::move(view), TakeMirrored(b->ops)});
      }
      absl::MutexLock l(&mu_);
      if (s.ok()) {
        // In the store now: the overlay entries may go (later decisions read
        // the store). Every answer, even of a batch without writes (a replay,
        // a rejection decided on staged state), waits for the sync of
        // everything written before it.
        completed_.emplace_back(b->seq, std::move(b->overlay_keys));
        if (b->last_position > 0) last_written_ = b->last_position;
      } else {
        failed_ = true;
        failure_status_ = s;
      }
      committer_idle_ = true;
    }
  }

  // Refreshes the engine usage gauges once a second on its own thread, off the
  // commit path. They used to be set on the committer after an fsync, before
  // that group's callers were answered, so one group a second waited for
  // RocksDB's aggregated properties (every family's table readers and live
  // files, some under the DB mutex).
  void StatsLoop() {
    while (true) {
      {
        absl::MutexLock l(&stats_mu_);
        auto stop = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(stats_mu_) { return stats_stop_; };
        if (stats_mu_.AwaitWithTimeout(absl::Condition(&stop), absl::Seconds(1))) return;
      }
      UpdateUsageGauges();
    }
  }

  // A key filter (key_filter.h) for each point-lookup family, sized for twice
  // the keys it holds (at least kMinFilterKeys). Those keys are added by a
  // loader thread; meanwhile the writer reads the store, as without a filter.
  // Keys written from now on are added by RunCommand. Together they cover every
  // key stored (a key deleted before the loader reaches it is rightly absent).
  // The store's own stream heads and idempotency records are filtered too:
  // every command with a new request id, and every append to a new stream,
  // looks up a key that does not exist (bench_dealreg: the writer's engine
  // reads were ~25% of its time).
  absl::Status OpenKeyFilters() {
    filters_.resize(cf_names_.size());
    if (!options_.key_filters) return absl::OkStatus();
    std::vector<int> to_load;
    std::vector<std::string> filtered = {cf_names_[kHeads], cf_names_[kIdem]};
    filtered.insert(filtered.end(), options_.point_lookup_cfs.begin(),
                    options_.point_lookup_cfs.end());
    for (const std::string& name : filtered) {
      const int cf = CfIndex(name);
      CHANNELOPS_ASSIGN_OR_RETURN(std::optional<std::string> last, backend_->LastKey(cf));
      const uint64_t stored = last ? backend_->EstimateKeys(cf) : 0;
      auto f = std::make_unique<Filtered>(std::max<uint64_t>(2 * stored, kMinFilterKeys));
      if (options_.metrics != nullptr) {
        auto& lookups = prometheus::BuildCounter()
                            .Name("channelops_eventstore_key_filter_lookups_total")
                            .Help(
                                "Point reads of a point-lookup family by the writer, by the "
                                "key filter's answer: absent (the store was not read), maybe "
                                "(read), loading (read: the filter is still being loaded)")
                            .Register(*options_.metrics);
        f->absent = &lookups.Add({{"cf", name}, {"answer", "absent"}});
        f->maybe = &lookups.Add({{"cf", name}, {"answer", "maybe"}});
        f->loading = &lookups.Add({{"cf", name}, {"answer", "loading"}});
        f->ready = &prometheus::BuildGauge()
                        .Name("channelops_eventstore_key_filter_loaded")
                        .Help(
                            "1 once a point-lookup family's key filter holds the keys stored "
                            "before the open")
                        .Register(*options_.metrics)
                        .Add({{"cf", name}});
      }
      if (last) {
        to_load.push_back(cf);
      } else {
        f->filter.LoadDone();  // nothing to load
        f->loaded.store(true, std::memory_order_release);
        if (f->ready) f->ready->Set(1);
      }
      filters_[cf] = std::move(f);
    }
    if (!to_load.empty()) {
      filter_loader_ = std::thread([this, to_load] {
        pthread_setname_np(pthread_self(), "es-filters");
        LoadKeyFilters(to_load);
      });
    }
    return absl::OkStatus();
  }

  void LoadKeyFilters(const std::vector<int>& cfs) {
    for (int cf : cfs) {
      Filtered& f = *filters_[cf];
      absl::Status s = backend_->Scan(
          cf, "", "", SIZE_MAX,
          [&](absl::string_view key, absl::string_view) {
            if (filter_loader_stop_.load(std::memory_order_relaxed)) return false;
            f.filter.AddLoaded(key);
            return true;
          },
          nullptr);
      f.filter.LoadDone();  // adds nothing more, whatever happened
      if (filter_loader_stop_.load()) return;
      if (!s.ok()) {
        // The filter stays unused (lookups{answer="loading"}): reads go to the store.
        fprintf(stderr, "event store: loading the key filter of %s failed: %s\n",
                cf_names_[cf].c_str(), std::string(s.message()).c_str());
        continue;
      }
      f.loaded.store(true, std::memory_order_release);
      if (f.ready) f.ready->Set(1);
    }
  }

  // Loads every memory read model from the engine (recovered state: durable).
  absl::Status LoadMirrors() {
    mirrors_.resize(cf_names_.size());
    for (const std::string& name : options_.memory_read_cfs) {
      const int cf = cf_index_.at(name);
      auto m = std::make_unique<Mirror>();
      // Sized for the rows the engine estimates, so that the load does not rehash.
      const uint64_t estimate = backend_->EstimateKeys(cf);
      for (Mirror::Shard& shard : m->shards) {
        absl::MutexLock l(&shard.mu);
        shard.rows.reserve(estimate / Mirror::kShards);
      }
      uint64_t bytes = 0;
      CHANNELOPS_RETURN_IF_ERROR(backend_->Scan(
          cf, "", "", SIZE_MAX,
          [&](absl::string_view key, absl::string_view value) {
            Mirror::Shard& shard = m->For(key);
            absl::MutexLock l(&shard.mu);
            shard.rows.emplace(std::string(key), std::string(value));
            bytes += key.size() + value.size();
            return true;
          },
          nullptr));
      m->bytes.store(bytes, std::memory_order_relaxed);
      mirrors_[cf] = std::move(m);
      any_mirror_ = true;
    }
    return absl::OkStatus();
  }

  // The writes of a batch to memory read models, taken out of its ops once
  // they are in the engine.
  std::vector<WriteOp> TakeMirrored(std::vector<WriteOp>& ops) const {
    std::vector<WriteOp> out;
    if (!any_mirror_) return out;
    for (WriteOp& op : ops) {
      if (mirrors_[op.cf] != nullptr) out.push_back(std::move(op));
    }
    return out;
  }

  void ApplyMirrored(std::vector<WriteOp>& ops) {
    for (WriteOp& op : ops) {
      Mirror& m = *mirrors_[op.cf];
      Mirror::Shard& shard = m.For(op.key);
      absl::MutexLock l(&shard.mu);
      auto it = shard.rows.find(op.key);
      int64_t delta = 0;
      if (it != shard.rows.end()) {
        delta -= static_cast<int64_t>(it->first.size() + it->second.size());
        if (op.value) {
          delta += static_cast<int64_t>(it->first.size() + op.value->size());
          it->second = std::move(*op.value);
        } else {
          shard.rows.erase(it);
        }
      } else if (op.value) {
        delta += static_cast<int64_t>(op.key.size() + op.value->size());
        shard.rows.emplace(std::move(op.key), std::move(*op.value));
      }
      m.bytes.fetch_add(static_cast<uint64_t>(delta), std::memory_order_relaxed);
    }
    ops.clear();
  }

  void UpdateUsageGauges() {
    if (metrics_.memtable_bytes == nullptr) return;
    const EngineUsage u = backend_->Usage();
    metrics_.memtable_bytes->Set(static_cast<double>(u.memtable_bytes));
    metrics_.table_reader_bytes->Set(static_cast<double>(u.table_reader_bytes));
    metrics_.block_cache_bytes->Set(static_cast<double>(u.block_cache_bytes));
    metrics_.sst_bytes->Set(static_cast<double>(u.sst_bytes));
    uint64_t filters = 0;
    for (const auto& f : filters_) filters += f ? f->filter.bytes() : 0;
    metrics_.key_filter_bytes->Set(static_cast<double>(filters));
    uint64_t mirrored = 0;
    for (const auto& m : mirrors_) mirrored += m ? m->bytes.load(std::memory_order_relaxed) : 0;
    metrics_.memory_read_model_bytes->Set(static_cast<double>(mirrored));
  }

  // One fsync for every batch written since the last; then the batches are
  // durable: readers see them (the durable view), the relay may publish them,
  // and their callers are answered (on the answerer thread).
  void SyncGroup(std::vector<Written>& group, bool synced = false) {
    bool wrote = false;
    for (const Written& w : group) wrote = wrote || w.wrote;
    if (wrote && options_.sync && !synced) {
      absl::Time t0 = absl::Now();
      absl::Status s = backend_->SyncWal();
      absl::Duration took = absl::Now() - t0;
      if (metrics_.sync_seconds) metrics_.sync_seconds->Observe(absl::ToDoubleSeconds(took));
      sync_ewma_ = sync_ewma_ * 0.8 + took * 0.2;
      sync_linger_ = std::min(sync_ewma_ / 2, absl::Milliseconds(2));
      if (!s.ok()) {
        // After a failed fsync the WAL's pages may be gone from the page
        // cache without reaching the disk (Linux drops them), so retrying the
        // fsync proves nothing. The batches are in the memtables: writing
        // those to new, fsynced table files makes them durable without the
        // WAL. If that fails too, the process stops before answering anyone
        // and recovery replays the WAL (PostgreSQL's data_sync_retry=off).
        absl::Status f = backend_->FlushMemtables();
        CHANNELOPS_CHECK(f.ok()) << "event store: WAL sync failed (" << s.ToString()
                                 << ") and flushing the memtables failed (" << f.ToString()
                                 << "); stopping before acknowledging anything";
      }
    }
    uint64_t last = 0;
    uint64_t events = 0;
    View view;
    for (Written& w : group) {
      if (w.last_position > 0) last = w.last_position;
      events += w.events;
      if (w.view) view = std::move(w.view);
    }
    // Durable now: the memory read models take the group's writes, in order,
    // before its callers are answered.
    for (Written& w : group) ApplyMirrored(w.mirrored);
    if (view) {
      absl::MutexLock l(&view_mu_);
      durable_view_ = std::move(view);
    }
    if (last > 0) {
      {
        absl::MutexLock l(&pos_mu_);
        last_committed_ = last;
      }
      if (metrics_.last_position) metrics_.last_position->Set(static_cast<double>(last));
    }
    if (metrics_.events) metrics_.events->Increment(static_cast<double>(events));
    HandToAnswerer(group, /*durable=*/true);
  }

  void HandToAnswerer(std::vector<Written>& group, bool durable) {
    absl::MutexLock l(&mu_);
    const absl::Time now = absl::Now();
    for (Written& w : group) answering_.push_back(Answering{std::move(w.answers), durable, now});
  }

  // Runs the callers' callbacks off the committer, which goes on writing and
  // syncing meanwhile (a callback may resubmit, or finish a gRPC call).
  void AnswererLoop() {
    while (true) {
      std::deque<Answering> work;
      {
        absl::MutexLock l(&mu_);
        auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return !answering_.empty() || answerer_stop_;
        };
        mu_.Await(absl::Condition(&ready));
        if (answering_.empty()) return;
        work.swap(answering_);
      }
      if (metrics_.answer_wake) {
        metrics_.answer_wake->Observe(absl::ToDoubleSeconds(absl::Now() - work.front().handed));
      }
      for (Answering& a : work) AnswerAll(a.answers, a.durable, a.handed);
    }
  }

  void AnswerAll(std::vector<Answer>& answers, bool durable, absl::Time handed) {
    absl::Time now = absl::Now();
    for (Answer& a : answers) {
      if (metrics_.commit_latency)
        metrics_.commit_latency->Observe(absl::ToDoubleSeconds(now - a.submitted));
      if (durable && metrics_.stage_durable && a.decided != absl::InfinitePast()) {
        metrics_.stage_durable->Observe(absl::ToDoubleSeconds(handed - a.decided));
        metrics_.stage_answered->Observe(absl::ToDoubleSeconds(now - handed));
      }
      if (durable && a.result.ok() && !a.result->replayed && metrics_.commands_ok) {
        metrics_.commands_ok->Increment();
      }
      const absl::Time t0 = absl::Now();
      a.done(std::move(a.result));
      if (metrics_.answer_callback)
        metrics_.answer_callback->Observe(absl::ToDoubleSeconds(absl::Now() - t0));
    }
  }

  // Reads outside commands see only what a sync covered. The meta family
  // (relay cursor, consumer offsets) is written outside the pipeline too, and
  // read as it is.
  View DurableView() const {
    absl::MutexLock l(&view_mu_);
    return durable_view_;
  }
  View ViewFor(int cf) const { return cf == kMeta ? nullptr : DurableView(); }

  // A point-lookup family's key filter, whether the loader is done with it,
  // and its metrics (null without a registry).
  struct Filtered {
    explicit Filtered(uint64_t capacity) : filter(capacity) {}
    KeyFilter filter;
    std::atomic<bool> loaded{false};
    prometheus::Counter* absent = nullptr;
    prometheus::Counter* maybe = nullptr;
    prometheus::Counter* loading = nullptr;
    prometheus::Gauge* ready = nullptr;
  };
  static constexpr uint64_t kMinFilterKeys = uint64_t{1} << 20;  // 1.25 MiB

  friend class TxImpl;
  Options options_;
  std::unique_ptr<Backend> backend_;
  std::vector<std::string> cf_names_;
  absl::flat_hash_map<std::string, int> cf_index_;
  core::Clock* clock_;
  Metrics metrics_;

  // Writer-thread state.
  // Decided writes not yet in the engine, by OverlayKey: a hash map, as nearly
  // every read of it is a point lookup (POS ingestion stages a key per line,
  // and a btree's string comparisons were ~20% of its writer's time). The keys
  // of the families a command has scanned (Tx::Scan) are also kept in order.
  absl::flat_hash_map<std::string, OverlayEntry> overlay_;
  absl::btree_set<std::string> ordered_keys_;
  std::array<bool, 256> ordered_cf_{};
  std::vector<std::optional<OverlayEntry>> undo_;        // the running command's (TxImpl)
  std::string lookup_key_;                               // ReadThrough's overlay key
  absl::flat_hash_map<std::string, std::string> heads_;  // stream -> encoded version
  uint64_t next_position_ = 1;
  uint64_t batch_seq_ = 0;
  // Tx::discard_epoch(): starts apart for every store opened in the process
  // (a cache kept across commands must not outlive its store either).
  uint64_t discard_epoch_ = NextStoreEpochBase();

  mutable absl::Mutex mu_;
  std::deque<Pending> queue_ ABSL_GUARDED_BY(mu_);  // taken from the inbox, not yet decided
  bool inbox_ready_ ABSL_GUARDED_BY(mu_) = false;   // the inbox got its first command
  absl::Mutex inbox_mu_;
  std::vector<Pending> inbox_ ABSL_GUARDED_BY(inbox_mu_);
  bool inbox_closed_ ABSL_GUARDED_BY(inbox_mu_) = false;
  std::optional<Batch> in_flight_ ABSL_GUARDED_BY(mu_);
  bool committer_idle_ ABSL_GUARDED_BY(mu_) = true;
  bool writer_busy_ ABSL_GUARDED_BY(mu_) = false;  // holds commands not yet handed off
  // Committer thread only (read by its own wait conditions while it waits).
  absl::Duration sync_ewma_ = absl::ZeroDuration();
  absl::Duration sync_linger_ = absl::ZeroDuration();
  size_t sync_target_ = 1;  // commands worth an fsync without lingering
  bool committer_stop_ ABSL_GUARDED_BY(mu_) = false;
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  bool failed_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status failure_status_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<uint64_t, std::vector<std::string>>> completed_ ABSL_GUARDED_BY(mu_);
  uint64_t last_written_ ABSL_GUARDED_BY(mu_) = 0;  // highest position in the store, synced or not
  std::deque<Answering> answering_ ABSL_GUARDED_BY(mu_);
  bool answerer_stop_ ABSL_GUARDED_BY(mu_) = false;

  mutable absl::Mutex view_mu_;
  View durable_view_ ABSL_GUARDED_BY(view_mu_);

  mutable absl::Mutex pos_mu_;
  uint64_t last_committed_ ABSL_GUARDED_BY(pos_mu_) = 0;

  // A memory read model (Options::memory_read_cfs): the family's durable rows,
  // in shards by key hash, so that growing a table past a power of two (a
  // rehash, on the committer) moves 1/kShards of the rows and blocks readers
  // of one shard only.
  struct Mirror {
    static constexpr size_t kShards = 16;
    struct Shard {
      mutable absl::Mutex mu;
      absl::flat_hash_map<std::string, std::string> rows ABSL_GUARDED_BY(mu);
    };
    Shard& For(absl::string_view key) { return shards[absl::Hash<absl::string_view>()(key) % kShards]; }
    const Shard& For(absl::string_view key) const {
      return shards[absl::Hash<absl::string_view>()(key) % kShards];
    }
    std::array<Shard, kShards> shards;
    std::atomic<uint64_t> bytes{0};  // keys and values
  };
  // By column family index; null where the family is not held in memory. Set
  // up before the writer starts.
  std::vector<std::unique_ptr<Mirror>> mirrors_;
  bool any_mirror_ = false;

  // By column family index; null where the family has no key filter. Set up
  // before the writer starts; then the filters change only inside (KeyFilter).
  std::vector<std::unique_ptr<Filtered>> filters_;
  std::thread filter_loader_;
  std::atomic<bool> filter_loader_stop_{false};

  std::thread writer_;
  std::thread committer_;
  std::thread answerer_;
  absl::Mutex stats_mu_;
  bool stats_stop_ ABSL_GUARDED_BY(stats_mu_) = false;
  std::thread stats_;  // only with metrics
};

int TxImpl::CfIndex(absl::string_view cf) { return store_.CfIndex(cf); }

absl::StatusOr<std::optional<std::string>> TxImpl::GetByIndex(int cf, absl::string_view key) {
  return store_.ReadThrough(cf, key);  // the overlay holds this command's writes too
}

uint64_t TxImpl::discard_epoch() const { return store_.discard_epoch_; }

absl::StatusOr<std::optional<std::string>> TxImpl::Get(absl::string_view cf,
                                                       absl::string_view key) {
  return GetByIndex(CfIndex(cf), key);
}

void TxImpl::Stage(int cf, absl::string_view key, std::optional<std::string> value, bool overlay) {
  if (overlay) {
    std::string ok = OverlayKey(cf, key);
    auto [it, added] = store_.overlay_.try_emplace(ok);
    if (added) {
      undo_.emplace_back();
      store_.OverlayStaged(ok);
    } else {
      undo_.emplace_back(std::move(it->second));
    }
    it->second = OverlayEntry{value, batch_.seq};
    batch_.overlay_keys.push_back(std::move(ok));
  }
  batch_.ops.push_back(WriteOp{cf, std::string(key), std::move(value)});
}

void TxImpl::Discard() {
  // Newest first: a key staged twice gets back what it had before the command.
  for (size_t i = batch_.overlay_keys.size(); i-- > first_key_;) {
    std::optional<OverlayEntry>& prior = undo_[i - first_key_];
    if (prior) {
      store_.overlay_[batch_.overlay_keys[i]] = std::move(*prior);
    } else {
      store_.overlay_.erase(batch_.overlay_keys[i]);
      store_.OverlayErased(batch_.overlay_keys[i]);
    }
  }
  batch_.overlay_keys.resize(first_key_);
  batch_.ops.resize(first_op_);
  undo_.clear();
}

void TxImpl::Put(absl::string_view cf, absl::string_view key, std::string value) {
  int idx = CfIndex(cf);
  CHANNELOPS_CHECK(idx != kLog && idx != kStreams && idx != kHeads) << "the log is append-only";
  Stage(idx, key, std::move(value), true);
}

absl::Status TxImpl::Scan(absl::string_view cf, absl::string_view prefix,
                          const std::function<void(absl::string_view, absl::string_view)>& fn) {
  int idx = CfIndex(cf);
  std::map<std::string, std::optional<std::string>> merged;
  CHANNELOPS_RETURN_IF_ERROR(store_.backend().Scan(
      idx, prefix, "", SIZE_MAX,
      [&](absl::string_view k, absl::string_view v) {
        merged[std::string(k)] = std::string(v);
        return true;
      },
      nullptr));
  store_.OverlayPrefix(idx, prefix, merged);  // this command's writes included
  for (const auto& [k, v] : merged) {
    if (v) fn(k, *v);
  }
  return absl::OkStatus();
}

void TxImpl::Delete(absl::string_view cf, absl::string_view key) {
  int idx = CfIndex(cf);
  CHANNELOPS_CHECK(idx != kLog && idx != kStreams && idx != kHeads) << "the log is append-only";
  Stage(idx, key, std::nullopt, true);
}

absl::StatusOr<uint64_t> TxImpl::StreamVersion(absl::string_view stream_id) {
  CHANNELOPS_ASSIGN_OR_RETURN(auto head, GetByIndex(kHeads, stream_id));
  return head ? DecodeU64(*head) : 0;
}

absl::StatusOr<uint64_t> TxImpl::Append(absl::string_view stream_id, int64_t expected_version,
                                        std::vector<NewEvent> events) {
  if (stream_id.empty()) return absl::InvalidArgumentError("stream_id: must not be empty");
  CHANNELOPS_ASSIGN_OR_RETURN(uint64_t version, StreamVersion(stream_id));
  if (expected_version != kAnyVersion && static_cast<uint64_t>(expected_version) != version) {
    return absl::AbortedError(absl::StrCat("stream ", stream_id, ": expected version ",
                                           expected_version, ", current version ", version));
  }
  if (events.empty()) return next_position_ - 1;
  std::string buf;
  for (NewEvent& ev : events) {
    ++version;
    EventEnvelope env;
    env.set_event_id(core::NewUuidV7(now_));
    env.set_stream_id(std::string(stream_id));
    env.set_stream_version(version);
    env.set_global_position(next_position_);
    absl::string_view type_url = ev.payload.type_url();
    auto slash = type_url.rfind('/');
    env.set_event_type(
        std::string(slash == absl::string_view::npos ? type_url : type_url.substr(slash + 1)));
    ToTimestamp(ev.occurred_at == absl::InfinitePast() ? now_ : ev.occurred_at,
                env.mutable_occurred_at());
    ToTimestamp(now_, env.mutable_recorded_at());
    env.set_correlation_id(meta_.correlation_id);
    env.set_causation_id(meta_.request_id);
    env.set_actor(meta_.actor);
    env.set_source(store_.options().source);
    *env.mutable_payload() = std::move(ev.payload);
    env.SerializeToString(&buf);
    Stage(kLog, EncodeU64(next_position_), std::move(buf), false);
    buf = std::string();
    Stage(kStreams, StreamKey(stream_id, version), EncodeU64(next_position_), false);
    ++next_position_;
    ++events_;
  }
  Stage(kHeads, stream_id, EncodeU64(version), true);
  return next_position_ - 1;
}

absl::StatusOr<std::unique_ptr<EventStore>> OpenWith(const Options& options, bool memory) {
  CHANNELOPS_ASSIGN_OR_RETURN(std::vector<std::string> cfs, ColumnFamilies(options));
  std::unique_ptr<Backend> backend;
  if (memory) {
    backend = OpenMemoryBackend(cfs);
  } else {
    if (options.path.empty()) return absl::InvalidArgumentError("path: must not be empty");
    CHANNELOPS_ASSIGN_OR_RETURN(backend, OpenRocksDbBackend(options, cfs));
  }
  return OpenOnBackend(options, std::move(backend));
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ColumnFamilies(const Options& o) {
  std::vector<std::string> cfs = {kLogCf,         kStreamsCf, kHeadsCf,
                                  kIdempotencyCf, kMetaCf,    kSnapshotsCf};
  for (const auto& rm : o.read_model_cfs) {
    if (!absl::StartsWith(rm, "rm_") || rm.size() > 64) {
      return absl::InvalidArgumentError(
          absl::StrCat("read_model_cfs: '", rm, "' must start with rm_ and be at most 64 chars"));
    }
    cfs.push_back(rm);
  }
  // Options that name some of the read models.
  for (const auto& [option, names] :
       {std::pair<const char*, const std::vector<std::string>*>{"point_lookup_cfs",
                                                                &o.point_lookup_cfs},
        {"memory_read_cfs", &o.memory_read_cfs}}) {
    for (const auto& name : *names) {
      if (std::find(o.read_model_cfs.begin(), o.read_model_cfs.end(), name) ==
          o.read_model_cfs.end()) {
        return absl::InvalidArgumentError(
            absl::StrCat(option, ": '", name, "' is not one of read_model_cfs"));
      }
    }
  }
  return cfs;
}

absl::StatusOr<std::unique_ptr<EventStore>> OpenOnBackend(const Options& options,
                                                          std::unique_ptr<Backend> backend) {
  CHANNELOPS_ASSIGN_OR_RETURN(std::vector<std::string> cfs, ColumnFamilies(options));
  auto store = std::make_unique<StoreImpl>(options, std::move(backend), std::move(cfs));
  CHANNELOPS_RETURN_IF_ERROR(store->Init());
  return std::unique_ptr<EventStore>(std::move(store));
}

absl::StatusOr<std::unique_ptr<EventStore>> EventStore::Open(const Options& options) {
  return OpenWith(options, false);
}

absl::StatusOr<std::unique_ptr<EventStore>> EventStore::OpenInMemory(const Options& options) {
  return OpenWith(options, true);
}

}  // namespace channelops::eventstore
