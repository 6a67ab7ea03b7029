#pragma once

// The event store: one per service instance. Streams of immutable events, a
// gap-free global log, idempotent commands, read models written in the same
// atomic batch as the events, and a single writer with group commit.
//
// Write path. Every mutation is a Command: a function run on the store's single
// writer thread with a Tx. The command reads state (committed data plus what
// earlier, not yet durable commands staged), decides, and stages events and
// read-model writes. The writer packs many commands into one storage batch and
// commits it with sync=true while it already runs the commands of the next batch
// (the fsync overlaps with deciding). Each caller is answered through its
// callback only after the batch holding its writes is durable: an acknowledged
// command survives a crash at any instant.
//
// Because every command runs on one thread in one total order, invariants that
// span aggregates (e.g. "one active registration per customer") are decided
// deterministically: the earlier command in the global order wins.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "channelops/common/v1/envelope.pb.h"
#include "channelops/core/clock.h"
#include "google/protobuf/any.pb.h"
#include "google/protobuf/message.h"

namespace prometheus {
class Registry;
}

namespace channelops::eventstore {

using common::v1::EventEnvelope;

// Column families every store has. Services add their own read models, whose
// names must start with "rm_".
inline constexpr char kLogCf[] = "log";                  // BE u64 position -> EventEnvelope
inline constexpr char kStreamsCf[] = "streams";          // stream \0 BE u64 version -> BE u64 position
inline constexpr char kHeadsCf[] = "heads";              // stream -> BE u64 version
inline constexpr char kIdempotencyCf[] = "idempotency";  // key -> IdempotencyRecord
inline constexpr char kMetaCf[] = "meta";                // cursors, offsets, schema version
inline constexpr char kSnapshotsCf[] = "snapshots";      // aggregate -> state

// Expected-version sentinels for Tx::Append.
inline constexpr int64_t kAnyVersion = -1;  // no check
inline constexpr int64_t kNoStream = 0;     // the stream must not exist yet

// Big-endian u64 keys iterate in numeric order.
std::string EncodeU64(uint64_t v);
uint64_t DecodeU64(absl::string_view b);  // CHECKs size == 8

// An event to append: the payload is packed into an Any.
struct NewEvent {
  google::protobuf::Any payload;
  absl::Time occurred_at = absl::InfinitePast();  // InfinitePast -> the command's time

  static NewEvent Of(const google::protobuf::Message& m,
                     absl::Time occurred_at = absl::InfinitePast());
};

// Who asked and why; recorded in every event of the command.
struct CommandMeta {
  // Idempotency key (usually "<method>/<request_id>"). Empty: not idempotent.
  std::string idempotency_key;
  std::string request_id;      // becomes causation_id
  std::string correlation_id;  // defaults to request_id
  std::string actor;           // authenticated principal
};

// The writer's view while a command runs. Not thread-safe: used only on the
// writer thread, only during the command.
class Tx {
 public:
  virtual ~Tx() = default;

  // The instant this command is decided at (one clock read per command).
  virtual absl::Time now() const = 0;

  // Reads see committed data and everything staged before (earlier commands
  // whose batches are not yet durable, and this command's own writes).
  // Errors: UNAVAILABLE on a storage failure.
  virtual absl::StatusOr<std::optional<std::string>> Get(absl::string_view cf,
                                                         absl::string_view key) = 0;
  virtual void Put(absl::string_view cf, absl::string_view key, std::string value) = 0;
  virtual void Delete(absl::string_view cf, absl::string_view key) = 0;

  // Visits, in key order, every live key starting with `prefix` as the command
  // sees it (committed, staged by earlier commands, and its own writes). Costs
  // the committed and staged matches (staged writes are kept ordered: a log
  // search each, not a walk over every write not yet durable); meant for small,
  // per-entity key ranges (e.g. one key per list element instead of a growing
  // list under one key). UNAVAILABLE on a storage failure.
  virtual absl::Status Scan(absl::string_view cf, absl::string_view prefix,
                            const std::function<void(absl::string_view key, absl::string_view value)>& fn) = 0;

  // Current version of a stream (0 if it does not exist), staged writes included.
  virtual absl::StatusOr<uint64_t> StreamVersion(absl::string_view stream_id) = 0;

  // Appends events to a stream. ABORTED if expected_version is neither
  // kAnyVersion nor the stream's current version. Returns the global position
  // of the last appended event.
  virtual absl::StatusOr<uint64_t> Append(absl::string_view stream_id, int64_t expected_version,
                                          std::vector<NewEvent> events) = 0;

  // Changes whenever the store has thrown away state that earlier commands
  // read or staged: a command that returned an error (its writes), or a batch
  // whose write failed (it and every command decided on top of it). A cache
  // that command code keeps across commands (on the writer thread) is valid
  // while this value stays the same, and must be dropped when it changes.
  // Two stores (also the same database opened again) never share a value.
  virtual uint64_t discard_epoch() const = 0;
};

// A command returns the response bytes to give the caller (and to store for
// idempotent retries), or an error. On error nothing it staged is written.
using Command = absl::AnyInvocable<absl::StatusOr<std::string>(Tx&)>;

struct CommandResult {
  std::string response;        // what the command returned (or the first answer, on a retry)
  bool replayed = false;       // true: idempotent retry, nothing was written
  uint64_t last_position = 0;  // global position after the command (0 if it appended nothing)
};

using Done = absl::AnyInvocable<void(absl::StatusOr<CommandResult>)>;

struct Options {
  std::string path;  // directory of the RocksDB database (created if missing)
  std::string source = "channelops/unknown";   // ce_source of this store's events
  std::vector<std::string> read_model_cfs;     // "rm_*" column families
  // Read models (a subset of read_model_cfs) read mostly by point lookups of
  // keys that do not exist yet, e.g. a dedup index checked for every new line:
  // their memtables get a whole-key bloom filter, so a miss skips the
  // memtable's skip-list search (bench_pos: +6-10% lines/s for rm_line_index).
  std::vector<std::string> point_lookup_cfs;
  // Also an in-process filter of each point-lookup family's keys, and of the
  // store's own stream heads and idempotency records (one blocked Bloom
  // filter each, ~10 bits per key, at least 1.25 MiB, loaded at open in the
  // background): the writer answers a miss from it without reading the engine
  // (bench_pos: the engine's Get was ~30% of the writer's time). Reads of
  // committed data (EventStore::Get) do not use it.
  bool key_filters = true;
  // Read models (a subset of read_model_cfs) whose committed contents are also
  // held whole in process memory: EventStore::Get on them answers from that
  // copy and never reads the engine, so a lookup costs no block read (deal
  // registration's customer index, read by every conflict check: a first-touch
  // block read put its p99 at ~75 us with 1,000,000 registrations). The copy is
  // loaded at open and updated with every durable group before its callers are
  // answered, so it is exactly the durable state (read-your-writes holds). It
  // costs the family's keys and values in memory (channelops_eventstore_memory_bytes
  // {component="memory_read_models"}). The writer (Tx::Get) and Scan still
  // read the engine.
  std::vector<std::string> memory_read_cfs;
  // Memtable insert hints for the stream index and the stream heads (one per
  // stream): an append to a stream already in the memtable starts its insert
  // where the stream's last one ended. Worth it only when commands append again
  // and again to the same few streams (bench_eventstore, 1,000 streams: +12%
  // appends/s). The services' commands mostly start new streams (a registration,
  // a lead, a claim), and there each new stream allocates a hint and searches
  // from the top anyway: deal_registration's committer -17% instructions and
  // SubmitLead +30% throughput without them (docs/BENCHMARKS.md, thirteenth
  // session). false: these two families, like every other, keep one hint for
  // the whole family (where its last insert went), which costs no allocation
  // and makes keys that arrive in order (UUIDv7 stream ids) O(1).
  bool stream_insert_hints = false;
  size_t max_batch_commands = 4096;            // upper bound on a group commit
  absl::Duration idempotency_retention = absl::Hours(24 * 7);
  bool sync = true;  // fsync every batch. false only in benchmarks that say so.
  // Open table files (file descriptors) at most, whatever the data volume:
  // RocksDB's table cache closes the least recently used beyond this.
  int max_open_files = 512;
  // Memtables of all column families together (RocksDB db_write_buffer_size).
  size_t memtable_budget_bytes = 32 << 20;
  // One block cache shared by all column families (uncompressed table blocks).
  size_t block_cache_bytes = 32 << 20;
  core::Clock* clock = nullptr;             // defaults to the system clock
  prometheus::Registry* metrics = nullptr;  // optional
};

class EventStore {
 public:
  virtual ~EventStore() = default;

  // Opens (creating if needed) a RocksDB-backed store. Errors: INVALID_ARGUMENT
  // for a bad read-model name; UNAVAILABLE if the database cannot be opened
  // (e.g. locked by another process).
  static absl::StatusOr<std::unique_ptr<EventStore>> Open(const Options& options);
  // An in-memory twin with identical semantics but no durability (contract
  // tests, domain-level service tests).
  static absl::StatusOr<std::unique_ptr<EventStore>> OpenInMemory(const Options& options);

  // Queues a command. `done` runs exactly once, on an internal thread, after the
  // command's writes are durable (or with its error). It must not block.
  // If meta.idempotency_key was already answered, `done` gets the first answer
  // with replayed=true and nothing is written. Thread-safe.
  // Errors given to done: the command's own error; UNAVAILABLE /
  // RESOURCE_EXHAUSTED if storage failed (nothing of the command is visible);
  // CANCELLED if the store is shutting down.
  virtual void Execute(CommandMeta meta, Command command, Done done) = 0;

  // Blocking convenience over Execute. Thread-safe.
  absl::StatusOr<CommandResult> ExecuteSync(CommandMeta meta, Command command);

  // ---- Reads of committed data. Thread-safe. ----
  // Events of a stream with version >= from_version, at most max_count.
  virtual absl::StatusOr<std::vector<EventEnvelope>> ReadStream(absl::string_view stream_id,
                                                                uint64_t from_version,
                                                                size_t max_count) const = 0;
  // Events with global position >= from_position, at most max_count, in order.
  virtual absl::StatusOr<std::vector<EventEnvelope>> ReadAll(uint64_t from_position,
                                                             size_t max_count) const = 0;
  // Same, serialized envelopes, without parsing (the outbox's hot path).
  virtual absl::Status ReadAllRaw(
      uint64_t from_position, size_t max_count,
      const std::function<void(uint64_t position, absl::string_view envelope)>& fn) const = 0;
  virtual absl::StatusOr<std::optional<std::string>> Get(absl::string_view cf,
                                                         absl::string_view key) const = 0;
  // Visits keys >= start that begin with prefix, in order, until fn returns false
  // or `limit` entries were visited.
  virtual absl::Status Scan(
      absl::string_view cf, absl::string_view prefix, absl::string_view start, size_t limit,
      const std::function<bool(absl::string_view key, absl::string_view value)>& fn) const = 0;

  // Highest durable global position (0 when empty).
  virtual uint64_t LastPosition() const = 0;
  // Blocks until LastPosition() >= position or the timeout passes; returns
  // whether it was reached. The basis of catch-up subscriptions.
  virtual bool WaitForPosition(uint64_t position, absl::Duration timeout) const = 0;

  // Direct, unsynced write to the meta column family outside the command path
  // (outbox cursor: losing the last update only causes a re-publish). Thread-safe.
  virtual absl::Status PutMeta(absl::string_view key, absl::string_view value) = 0;

  // Deletes idempotency records older than the retention window. Returns the
  // number removed. Thread-safe.
  virtual absl::StatusOr<size_t> PruneIdempotency(absl::Time now) = 0;

  // Stops accepting commands, finishes queued ones, and flushes. Idempotent.
  virtual void Close() = 0;

  virtual const std::string& source() const = 0;
};

}  // namespace channelops::eventstore
