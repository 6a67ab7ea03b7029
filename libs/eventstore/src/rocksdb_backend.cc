#include <map>
#include <shared_mutex>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "backend.h"
#include "rocksdb/db.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/options.h"
#include "rocksdb/table.h"
#include "rocksdb/write_batch.h"

namespace channelops::eventstore {
namespace {

// The one place rocksdb::Status becomes absl::Status.
absl::Status FromRocks(const rocksdb::Status& s, absl::string_view what) {
  if (s.ok()) return absl::OkStatus();
  std::string msg = absl::StrCat(what, ": ", s.ToString());
  if (s.IsNoSpace() || s.subcode() == rocksdb::Status::kNoSpace) {
    return absl::ResourceExhaustedError(msg);
  }
  if (s.IsInvalidArgument()) return absl::InvalidArgumentError(msg);
  return absl::UnavailableError(msg);
}

class RocksDbBackend final : public Backend {
 public:
  RocksDbBackend(rocksdb::DB* db, std::vector<rocksdb::ColumnFamilyHandle*> handles)
      : db_(db), handles_(std::move(handles)) {}
  ~RocksDbBackend() override { Close(); }

  absl::StatusOr<std::optional<std::string>> Get(int cf, absl::string_view key) const override {
    std::string v;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), handles_[cf], rocksdb::Slice(key.data(), key.size()), &v);
    if (s.IsNotFound()) return std::nullopt;
    if (!s.ok()) return FromRocks(s, "get");
    return v;
  }

  absl::Status Write(const std::vector<WriteOp>& ops, bool sync) override {
    if (needs_resume_) {
      // After a failed write (e.g. disk full) RocksDB stays read-only until resumed.
      rocksdb::Status rs = db_->Resume();
      if (!rs.ok()) return FromRocks(rs, "resume after write failure");
      needs_resume_ = false;
    }
    rocksdb::WriteBatch batch;
    for (const WriteOp& op : ops) {
      if (op.value) {
        batch.Put(handles_[op.cf], op.key, *op.value);
      } else {
        batch.Delete(handles_[op.cf], op.key);
      }
    }
    rocksdb::WriteOptions wo;
    wo.sync = sync;
    rocksdb::Status s = db_->Write(wo, &batch);
    if (!s.ok()) {
      needs_resume_ = true;
      return FromRocks(s, "write batch");
    }
    return absl::OkStatus();
  }

  absl::Status Scan(int cf, absl::string_view prefix, absl::string_view start, size_t limit,
                    const std::function<bool(absl::string_view, absl::string_view)>& fn)
      const override {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), handles_[cf]));
    std::string from(start < prefix ? prefix : start);
    size_t n = 0;
    for (it->Seek(from); it->Valid() && n < limit; it->Next(), ++n) {
      absl::string_view k(it->key().data(), it->key().size());
      if (k.substr(0, prefix.size()) != prefix) break;
      if (!fn(k, absl::string_view(it->value().data(), it->value().size()))) break;
    }
    return FromRocks(it->status(), "scan");
  }

  absl::StatusOr<std::optional<std::string>> LastKey(int cf) const override {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), handles_[cf]));
    it->SeekToLast();
    if (!it->status().ok()) return FromRocks(it->status(), "seek last");
    if (!it->Valid()) return std::nullopt;
    return it->key().ToString();
  }

  void Close() override {
    if (db_ == nullptr) return;
    for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h);
    handles_.clear();
    db_->Close();
    delete db_;
    db_ = nullptr;
  }

 private:
  rocksdb::DB* db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  bool needs_resume_ = false;  // only touched by the committing thread
};

class MemoryBackend final : public Backend {
 public:
  explicit MemoryBackend(size_t n) : data_(n) {}
  absl::StatusOr<std::optional<std::string>> Get(int cf, absl::string_view key) const override {
    std::shared_lock l(mu_);
    auto it = data_[cf].find(std::string(key));
    if (it == data_[cf].end()) return std::nullopt;
    return it->second;
  }
  absl::Status Write(const std::vector<WriteOp>& ops, bool) override {
    std::unique_lock l(mu_);
    for (const WriteOp& op : ops) {
      if (op.value) {
        data_[op.cf][op.key] = *op.value;
      } else {
        data_[op.cf].erase(op.key);
      }
    }
    return absl::OkStatus();
  }
  absl::Status Scan(int cf, absl::string_view prefix, absl::string_view start, size_t limit,
                    const std::function<bool(absl::string_view, absl::string_view)>& fn)
      const override {
    // Copy out the range first so fn may call back into the store.
    std::vector<std::pair<std::string, std::string>> rows;
    {
      std::shared_lock l(mu_);
      std::string from(start < prefix ? prefix : start);
      for (auto it = data_[cf].lower_bound(from); it != data_[cf].end() && rows.size() < limit;
           ++it) {
        if (absl::string_view(it->first).substr(0, prefix.size()) != prefix) break;
        rows.emplace_back(it->first, it->second);
      }
    }
    for (auto& [k, v] : rows) {
      if (!fn(k, v)) break;
    }
    return absl::OkStatus();
  }
  absl::StatusOr<std::optional<std::string>> LastKey(int cf) const override {
    std::shared_lock l(mu_);
    if (data_[cf].empty()) return std::nullopt;
    return data_[cf].rbegin()->first;
  }
  void Close() override {}

 private:
  mutable std::shared_mutex mu_;
  std::vector<std::map<std::string, std::string>> data_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Backend>> OpenRocksDbBackend(const std::string& path,
                                                            const std::vector<std::string>& cfs) {
  rocksdb::Options options;
  options.create_if_missing = true;
  options.create_missing_column_families = true;
  options.IncreaseParallelism(2);
  options.max_background_jobs = 2;
  // One writer thread commits everything; RocksDB's own write grouping is not needed.
  options.enable_pipelined_write = false;
  options.max_total_wal_size = 256 << 20;
  rocksdb::BlockBasedTableOptions table;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10, false));
  rocksdb::ColumnFamilyOptions cf_opts(options);
  cf_opts.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  std::vector<rocksdb::ColumnFamilyDescriptor> descs;
  descs.emplace_back(rocksdb::kDefaultColumnFamilyName, cf_opts);
  for (const auto& c : cfs) descs.emplace_back(c, cf_opts);
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(rocksdb::DBOptions(options), path, descs, &handles, &db);
  if (!s.ok()) return FromRocks(s, absl::StrCat("open ", path));
  // Drop the default CF handle: our indices start at the first named family.
  db->DestroyColumnFamilyHandle(handles[0]);
  handles.erase(handles.begin());
  return std::unique_ptr<Backend>(new RocksDbBackend(db, std::move(handles)));
}

std::unique_ptr<Backend> OpenMemoryBackend(const std::vector<std::string>& cfs) {
  return std::make_unique<MemoryBackend>(cfs.size());
}

}  // namespace channelops::eventstore
