#pragma once

// Storage engines behind the event store: RocksDB, and an in-memory twin used
// by the contract suite. Private to libs/eventstore.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace channelops::eventstore {

struct WriteOp {
  int cf;
  std::string key;
  std::optional<std::string> value;  // nullopt: delete
};

class Backend {
 public:
  virtual ~Backend() = default;
  // Column family names in index order; index i is the `cf` of WriteOp.
  virtual absl::StatusOr<std::optional<std::string>> Get(int cf, absl::string_view key) const = 0;
  // Atomic. With sync, durable on return. Errors: UNAVAILABLE or RESOURCE_EXHAUSTED (disk full).
  virtual absl::Status Write(const std::vector<WriteOp>& ops, bool sync) = 0;
  virtual absl::Status Scan(
      int cf, absl::string_view prefix, absl::string_view start, size_t limit,
      const std::function<bool(absl::string_view, absl::string_view)>& fn) const = 0;
  // Last key of a column family (for recovering the log head), or nullopt.
  virtual absl::StatusOr<std::optional<std::string>> LastKey(int cf) const = 0;
  virtual void Close() = 0;
};

absl::StatusOr<std::unique_ptr<Backend>> OpenRocksDbBackend(const std::string& path,
                                                            const std::vector<std::string>& cfs);
std::unique_ptr<Backend> OpenMemoryBackend(const std::vector<std::string>& cfs);

}  // namespace channelops::eventstore
