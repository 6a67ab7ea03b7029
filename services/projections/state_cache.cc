#include "projections/state_cache.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "channelops/core/check.h"

namespace channelops::projections {

size_t StateCache::Cost(size_t key_size, const Entry& e) {
  const size_t raw = e.raw ? e.raw->size() : 0;
  return key_size + raw + (e.parsed ? 3 * raw : 0) + 96;
}

void StateCache::Charge(size_t key_size, Entry& e) {
  young_bytes_ -= std::min(young_bytes_, e.charged);
  e.charged = Cost(key_size, e);
  young_bytes_ += e.charged;
}

void StateCache::Clear() {
  young_.clear();
  old_.clear();
  young_bytes_ = old_bytes_ = 0;
  scans_.clear();
  scan_entries_ = 0;
  dirty_.clear();
}

std::string StateCache::Key(absl::string_view cf, absl::string_view key) {
  std::string k;
  k.reserve(cf.size() + 1 + key.size());
  k.append(cf.data(), cf.size());
  k.push_back('\0');
  k.append(key.data(), key.size());
  return k;
}

StateCache::Entry* StateCache::Find(const std::string& k) {
  if (auto it = young_.find(k); it != young_.end()) return &it->second;
  auto it = old_.find(k);
  if (it == old_.end()) return nullptr;
  Entry e = std::move(it->second);
  old_bytes_ -= std::min(old_bytes_, e.charged);  // moves to the young generation
  old_.erase(it);
  return &Insert(k, std::move(e));
}

StateCache::Entry& StateCache::Insert(const std::string& k, Entry e) {
  auto [it, inserted] = young_.try_emplace(k);
  if (!inserted && it->second.dirty) e.dirty = true;  // still to be staged
  e.charged = inserted ? 0 : it->second.charged;  // what young_bytes_ holds for the slot
  it->second = std::move(e);
  Charge(k.size(), it->second);
  return it->second;
}

void StateCache::Write(absl::string_view cf, absl::string_view key, Entry e) {
  ForgetScansOver(cf, key);
  std::string k = Key(cf, key);
  if (auto it = old_.find(k); it != old_.end()) {
    old_bytes_ -= std::min(old_bytes_, it->second.charged);
    old_.erase(it);
  }
  auto [it, inserted] = young_.try_emplace(k);
  const bool was_dirty = !inserted && it->second.dirty;
  e.charged = inserted ? 0 : it->second.charged;
  it->second = std::move(e);
  Charge(k.size(), it->second);
  it->second.dirty = true;
  if (!was_dirty) dirty_.insert(std::move(k));
}

const StateCache::ScanResult* StateCache::FindScan(const std::string& k) {
  auto it = scans_.find(k);
  return it == scans_.end() ? nullptr : &it->second;
}

void StateCache::InsertScan(const std::string& k, ScanResult r) {
  if (scan_entries_ + r.size() > max_entries_) {
    scans_.clear();
    scan_entries_ = 0;
  }
  scan_entries_ += r.size();
  scans_[k] = std::move(r);
}

void StateCache::ForgetScansOver(absl::string_view cf, absl::string_view key) {
  if (scans_.empty()) return;
  // A cached scan's prefix ends in '\0', so a key under it has a '\0' where
  // the prefix ends: each of the key's '\0's names one prefix that may cover it.
  for (size_t i = key.find('\0'); i != absl::string_view::npos; i = key.find('\0', i + 1)) {
    auto it = scans_.find(Key(cf, key.substr(0, i + 1)));
    if (it == scans_.end()) continue;
    scan_entries_ -= it->second.size();
    scans_.erase(it);
  }
}

void StateCache::Sync(uint64_t epoch) {
  if (synced_ && epoch != epoch_) {
    Clear();
    ++stats_.drops;
  }
  synced_ = true;
  epoch_ = epoch;
  // Between commands nothing is dirty (a command flushes, or fails and moves
  // the epoch), so a generation can be dropped here without losing a write.
  if (dirty_.empty() && (young_.size() >= max_entries_ || young_bytes_ >= max_bytes_)) {
    old_ = std::move(young_);
    young_.clear();
    old_bytes_ = young_bytes_;
    young_bytes_ = 0;
    ++stats_.drops;
  }
}

CachedTx::CachedTx(eventstore::Tx& inner, StateCache& cache) : inner_(inner), cache_(cache) {
  cache_.Sync(inner_.discard_epoch());
}

absl::StatusOr<StateCache::Entry*> CachedTx::Lookup(absl::string_view cf, absl::string_view key) {
  std::string k = StateCache::Key(cf, key);
  if (StateCache::Entry* e = cache_.Find(k)) {
    ++cache_.stats_.hits;
    return e;
  }
  ++cache_.stats_.misses;
  auto raw = inner_.Get(cf, key);
  if (!raw.ok()) return raw.status();
  return &cache_.Insert(k, StateCache::Entry{std::move(*raw), nullptr});
}

absl::StatusOr<std::optional<std::string>> CachedTx::Get(absl::string_view cf,
                                                         absl::string_view key) {
  if (!cache_.Cached(cf)) return inner_.Get(cf, key);
  auto e = Lookup(cf, key);
  if (!e.ok()) return e.status();
  StateCache::Entry* entry = *e;
  if (!entry->raw && entry->parsed) entry->raw = entry->parsed->SerializeAsString();
  return entry->raw;
}

void CachedTx::Put(absl::string_view cf, absl::string_view key, std::string value) {
  if (!cache_.Cached(cf)) return inner_.Put(cf, key, std::move(value));
  cache_.Write(cf, key, StateCache::Entry{std::move(value), nullptr});
}

void CachedTx::PutMessage(absl::string_view cf, absl::string_view key,
                          std::shared_ptr<const google::protobuf::Message> m) {
  if (!cache_.Cached(cf)) return inner_.Put(cf, key, m->SerializeAsString());
  cache_.Write(cf, key, StateCache::Entry{std::nullopt, std::move(m)});
}

void CachedTx::Delete(absl::string_view cf, absl::string_view key) {
  if (!cache_.Cached(cf)) return inner_.Delete(cf, key);
  cache_.Write(cf, key, StateCache::Entry{std::nullopt, nullptr});
}

void CachedTx::Flush() {
  for (const std::string& k : cache_.dirty_) {
    auto it = cache_.young_.find(k);
    CHANNELOPS_CHECK(it != cache_.young_.end()) << "a dirty read-model entry left the cache";
    StateCache::Entry& e = it->second;
    e.dirty = false;
    const size_t sep = k.find('\0');
    const absl::string_view cf(k.data(), sep);
    const absl::string_view key = absl::string_view(k).substr(sep + 1);
    if (!e.raw && e.parsed) {
      e.raw = e.parsed->SerializeAsString();
      cache_.Charge(k.size(), e);  // now known: the bytes and the parsed form
    }
    if (e.raw) {
      inner_.Put(cf, key, *e.raw);
    } else {
      inner_.Delete(cf, key);
    }
  }
  cache_.dirty_.clear();
}

void CachedTx::MergeUnflushed(absl::string_view cf, absl::string_view prefix,
                              StateCache::ScanResult* r) const {
  const std::string from = StateCache::Key(cf, prefix);
  const size_t skip = cf.size() + 1;
  for (auto it = cache_.dirty_.lower_bound(from);
       it != cache_.dirty_.end() && absl::StartsWith(*it, from); ++it) {
    const StateCache::Entry& e = cache_.young_.at(*it);
    const absl::string_view key = absl::string_view(*it).substr(skip);
    auto pos = std::lower_bound(r->begin(), r->end(), key,
                                [](const auto& kv, absl::string_view k) { return kv.first < k; });
    const bool found = pos != r->end() && pos->first == key;
    if (!e.raw && !e.parsed) {  // deleted
      if (found) r->erase(pos);
      continue;
    }
    std::string value = e.raw ? *e.raw : e.parsed->SerializeAsString();
    if (found) {
      pos->second = std::move(value);
    } else {
      r->emplace(pos, std::string(key), std::move(value));
    }
  }
}

absl::Status CachedTx::Scan(
    absl::string_view cf, absl::string_view prefix,
    const std::function<void(absl::string_view key, absl::string_view value)>& fn) {
  if (!cache_.Cached(cf)) return inner_.Scan(cf, prefix, fn);
  const bool list = !prefix.empty() && prefix.back() == '\0';
  const std::string k = StateCache::Key(cf, prefix);
  if (list) {
    if (const StateCache::ScanResult* r = cache_.FindScan(k)) {
      ++cache_.stats_.scan_hits;
      for (const auto& [key, value] : *r) fn(key, value);
      return absl::OkStatus();
    }
    ++cache_.stats_.scan_misses;
  }
  StateCache::ScanResult r;
  absl::Status s = inner_.Scan(cf, prefix, [&](absl::string_view key, absl::string_view value) {
    r.emplace_back(std::string(key), std::string(value));
  });
  if (!s.ok()) return s;
  MergeUnflushed(cf, prefix, &r);
  for (const auto& [key, value] : r) fn(key, value);
  if (list) cache_.InsertScan(k, std::move(r));
  return absl::OkStatus();
}

}  // namespace channelops::projections
