#pragma once

// The projector's read models as its last commands left them, kept in memory
// across store commands so that crediting a sale does not go back to RocksDB
// (and parse again) for the plan, the assignments, the statements and the
// lists it read a moment ago.
//
// StateCache holds, per (column family, key), the value as the projector's
// commands see it (committed, staged by an earlier command of this process,
// or written by this command and not yet staged), raw and/or parsed; and, per
// list prefix (ending in '\0', as ListGet's), the entries a Scan returned.
// CachedTx is the Tx a command runs the projector on: reads are served from
// the cache, or read through and remembered; writes update the cache and are
// staged in the command's Tx when the command ends (Flush, from
// Projector::FinishBatch and PublishRoi): a statement total that 500 sales of
// a batch add to is serialized and staged once, not 500 times. Durability and
// exactly-once stay the store's: what Flush stages commits with the command or
// not at all. Append and StreamVersion pass through.
//
// Validity. The cache mirrors only what went through a CachedTx, so every
// write to the column families it caches must go through one (the projector's
// Apply, FinishBatch and PublishRoi do; the consumer runner writes only its
// own offset and dedupe keys), and a command that wrote through one must Flush
// before it returns (the projector's contract: every command that Applies ends
// with FinishBatch, or fails). The cache is dropped whole, unflushed writes
// included, when the store's Tx::discard_epoch() moved since it was filled: a
// command returned an error (its writes were thrown away) or a batch failed to
// write (it and all decided on top of it were). Bounded: two generations of
// about `max_entries` each, turned over between commands; a lookup that hits
// the old generation moves the entry to the young one (an approximate LRU
// without per-hit bookkeeping).
//
// Thread-compatible: used on the store's writer thread only (in commands).

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "channelops/core/check.h"
#include "channelops/eventstore/event_store.h"
#include "google/protobuf/message.h"

namespace channelops::projections {

struct StateCacheStats {
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t scan_hits = 0;
  uint64_t scan_misses = 0;
  uint64_t drops = 0;  // whole cache dropped (a discard, or a generation turned over)
  size_t bytes = 0;    // estimated memory of both generations' entries
};

class StateCache {
 public:
  // `uncached_cfs`: column families read and written straight through the
  // command's Tx (e.g. ones that other commands write too). A generation is
  // turned over when it holds `max_entries` or about `max_bytes` (estimated:
  // a parsed record counts three times its serialized size), so the cache
  // holds at most about twice that, plus one command's reads and writes.
  explicit StateCache(std::vector<std::string> uncached_cfs = {}, size_t max_entries = 200000,
                      size_t max_bytes = 128 << 20)
      : uncached_(uncached_cfs.begin(), uncached_cfs.end()),
        max_entries_(max_entries),
        max_bytes_(max_bytes) {}

  StateCacheStats stats() const {
    StateCacheStats s = stats_;
    s.bytes = young_bytes_ + old_bytes_;
    return s;
  }
  void Clear();

 private:
  friend class CachedTx;
  struct Entry {
    std::optional<std::string> raw;  // nullopt: absent (or, if parsed is set, not serialized yet)
    std::shared_ptr<const google::protobuf::Message> parsed;  // of the value, when asked for
    bool dirty = false;  // written by this command, not yet staged (Flush)
    size_t charged = 0;  // what its generation's byte estimate counts for it
  };
  using ScanResult = std::vector<std::pair<std::string, std::string>>;

  static std::string Key(absl::string_view cf, absl::string_view key);
  Entry* Find(const std::string& k);
  Entry& Insert(const std::string& k, Entry e);
  // A write of this command: cached, marked to be staged by Flush.
  void Write(absl::string_view cf, absl::string_view key, Entry e);
  const ScanResult* FindScan(const std::string& k);
  void InsertScan(const std::string& k, ScanResult r);
  // A write to (cf, key): every cached list scan whose prefix covers it goes.
  void ForgetScansOver(absl::string_view cf, absl::string_view key);
  // At the start of a command: drops everything if the epoch moved; turns
  // the generations over if the young one is full.
  void Sync(uint64_t epoch);

  bool Cached(absl::string_view cf) const { return !uncached_.contains(cf); }

  absl::flat_hash_set<std::string> uncached_;
  // The estimate for an entry (key, value, parsed form, map slot); Charge
  // brings a young entry's share of young_bytes_ up to date after it changed
  // (replaced, parsed, serialized), so the estimate follows the entries held.
  static size_t Cost(size_t key_size, const Entry& e);
  void Charge(size_t key_size, Entry& e);

  size_t max_entries_;
  size_t max_bytes_;
  size_t young_bytes_ = 0, old_bytes_ = 0;  // sums of the generations' entries' `charged`
  bool synced_ = false;
  uint64_t epoch_ = 0;
  absl::flat_hash_map<std::string, Entry> young_, old_;
  absl::flat_hash_map<std::string, ScanResult> scans_;
  size_t scan_entries_ = 0;
  absl::btree_set<std::string> dirty_;  // cache keys of the entries marked dirty (ordered: scans)
  StateCacheStats stats_;
};

class CachedTx final : public eventstore::Tx {
 public:
  CachedTx(eventstore::Tx& inner, StateCache& cache);

  absl::Time now() const override { return inner_.now(); }
  absl::StatusOr<std::optional<std::string>> Get(absl::string_view cf,
                                                 absl::string_view key) override;
  void Put(absl::string_view cf, absl::string_view key, std::string value) override;
  void Delete(absl::string_view cf, absl::string_view key) override;
  // Prefixes ending in '\0' (lists) are cached; others are read through.
  absl::Status Scan(
      absl::string_view cf, absl::string_view prefix,
      const std::function<void(absl::string_view key, absl::string_view value)>& fn) override;
  absl::StatusOr<uint64_t> StreamVersion(absl::string_view stream_id) override {
    return inner_.StreamVersion(stream_id);
  }
  absl::StatusOr<uint64_t> Append(absl::string_view stream_id, int64_t expected_version,
                                  std::vector<eventstore::NewEvent> events) override {
    return inner_.Append(stream_id, expected_version, std::move(events));
  }
  uint64_t discard_epoch() const override { return inner_.discard_epoch(); }

  // The value under (cf, key) parsed as M, shared with the cache (nullptr:
  // absent). DATA_LOSS if it does not parse; UNAVAILABLE from storage.
  template <class M>
  absl::StatusOr<std::shared_ptr<const M>> GetParsed(absl::string_view cf, absl::string_view key);
  // The record under (cf, key) to change in place (a default M if absent),
  // written like a Put: staged, serialized, by Flush. Valid until the next
  // call on this CachedTx. DATA_LOSS if it does not parse; UNAVAILABLE from
  // storage.
  template <class M>
  absl::StatusOr<M*> Mutable(absl::string_view cf, absl::string_view key);

  // Put of m (serialized when staged); the cache keeps m as its parsed form.
  void PutMessage(absl::string_view cf, absl::string_view key,
                  std::shared_ptr<const google::protobuf::Message> m);

  // Stages this command's writes in the command's Tx (each written key once,
  // its last value). Must run before the command returns.
  void Flush();

 private:
  absl::StatusOr<StateCache::Entry*> Lookup(absl::string_view cf, absl::string_view key);
  // Brings a scan of the command's Tx (sorted by key) up to this command's
  // writes under `prefix` that Flush has not staged yet.
  void MergeUnflushed(absl::string_view cf, absl::string_view prefix,
                      StateCache::ScanResult* r) const;

  eventstore::Tx& inner_;
  StateCache& cache_;
};

template <class M>
absl::StatusOr<std::shared_ptr<const M>> CachedTx::GetParsed(absl::string_view cf,
                                                             absl::string_view key) {
  if (!cache_.Cached(cf)) {
    auto raw = inner_.Get(cf, key);
    if (!raw.ok()) return raw.status();
    if (!*raw) return std::shared_ptr<const M>();
    auto m = std::make_shared<M>();
    if (!m->ParseFromString(**raw)) {
      return absl::DataLossError(absl::StrCat("corrupt ", cf, " read model at '", key, "'"));
    }
    return std::shared_ptr<const M>(std::move(m));
  }
  auto e = Lookup(cf, key);
  if (!e.ok()) return e.status();
  StateCache::Entry* entry = *e;
  if (entry->parsed && entry->parsed->GetDescriptor() == M::descriptor()) {
    return std::static_pointer_cast<const M>(entry->parsed);
  }
  if (!entry->raw && entry->parsed) {  // written as another type: serialize, parse as M
    entry->raw = entry->parsed->SerializeAsString();
  }
  if (!entry->raw) return std::shared_ptr<const M>();
  auto m = std::make_shared<M>();
  if (!m->ParseFromString(*entry->raw)) {
    return absl::DataLossError(absl::StrCat("corrupt ", cf, " read model at '", key, "'"));
  }
  entry->parsed = m;
  cache_.Charge(cf.size() + 1 + key.size(), *entry);  // found entries are young (Find)
  return std::shared_ptr<const M>(std::move(m));
}

template <class M>
absl::StatusOr<M*> CachedTx::Mutable(absl::string_view cf, absl::string_view key) {
  CHANNELOPS_CHECK(cache_.Cached(cf)) << "Mutable on an uncached family: " << cf;
  auto current = GetParsed<M>(cf, key);
  if (!current.ok()) return current.status();
  // A copy unless the cache holds the only reference (a reader may still
  // hold the record it was given).
  std::shared_ptr<M> m;
  if (*current && current->use_count() == 2) {  // the cache's and `current`
    m = std::const_pointer_cast<M>(std::move(*current));
  } else {
    m = *current ? std::make_shared<M>(**current) : std::make_shared<M>();
    current->reset();
  }
  M* raw = m.get();
  PutMessage(cf, key, std::move(m));
  return raw;
}

}  // namespace channelops::projections
