#pragma once

// Storage engines behind the event store: RocksDB, and an in-memory twin used
// by the contract suite. Private to libs/eventstore.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "channelops/eventstore/event_store.h"

namespace channelops::eventstore {

struct WriteOp {
  int cf;
  std::string key;
  std::optional<std::string> value;  // nullopt: delete
};

// A consistent read view pinned by Backend::PinView (a RocksDB snapshot).
// Reads given nullptr see the latest writes, synced or not.
using View = std::shared_ptr<const void>;

// What the engine holds in memory and on disk (RocksDB properties; zeros for
// the in-memory twin).
struct EngineUsage {
  uint64_t memtable_bytes = 0;      // all column families' memtables
  uint64_t table_reader_bytes = 0;  // index and filter blocks of open tables (outside the cache)
  uint64_t block_cache_bytes = 0;   // the shared block cache's usage
  uint64_t sst_bytes = 0;           // live table files on disk
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual EngineUsage Usage() const { return {}; }
  // Roughly how many keys a column family holds (sizes the key filters).
  virtual uint64_t EstimateKeys(int /*cf*/) const { return 0; }
  // Column family names in index order; index i is the `cf` of WriteOp.
  virtual absl::StatusOr<std::optional<std::string>> Get(int cf, absl::string_view key,
                                                         const void* view) const = 0;
  // Atomic and visible on return. With sync, durable on return; without, durable
  // after the next successful SyncWal. Errors: UNAVAILABLE or RESOURCE_EXHAUSTED
  // (disk full); a failed write changed nothing.
  virtual absl::Status Write(const std::vector<WriteOp>& ops, bool sync) = 0;
  // Makes every Write that returned before this call durable. May run
  // concurrently with Write (the next batch goes in while this one syncs).
  virtual absl::Status SyncWal() = 0;
  // Writes every memtable to fsynced table files: durable without the WAL (the
  // fallback when a WAL sync failed).
  virtual absl::Status FlushMemtables() = 0;
  // fsyncs the WAL files and their directory through descriptors of its own:
  // after a failed append RocksDB refuses (Debian's build: asserts) to sync
  // the WAL, but what was appended before is in the files.
  virtual absl::Status SyncWalFilesDirectly() = 0;
  // After a failed write: resumes the store (RocksDB flushes every memtable to
  // table files and starts a new WAL). OK: nothing had failed, or resumed.
  virtual absl::Status Recover() = 0;
  // Everything written so far, frozen (nullptr where the engine has no
  // snapshots: the in-memory twin).
  virtual View PinView() = 0;
  virtual absl::Status Scan(int cf, absl::string_view prefix, absl::string_view start, size_t limit,
                            const std::function<bool(absl::string_view, absl::string_view)>& fn,
                            const void* view) const = 0;
  // Last key of a column family (for recovering the log head), or nullopt.
  virtual absl::StatusOr<std::optional<std::string>> LastKey(int cf) const = 0;
  virtual void Close() = 0;
};

absl::StatusOr<std::unique_ptr<Backend>> OpenRocksDbBackend(const Options& options,
                                                            const std::vector<std::string>& cfs);
std::unique_ptr<Backend> OpenMemoryBackend(const std::vector<std::string>& cfs);

// Column family names of a store with these options, in Backend index order.
absl::StatusOr<std::vector<std::string>> ColumnFamilies(const Options& options);
// The store over a given backend: tests wrap a backend to hold or fail its syncs.
absl::StatusOr<std::unique_ptr<EventStore>> OpenOnBackend(const Options& options,
                                                          std::unique_ptr<Backend> backend);

}  // namespace channelops::eventstore
