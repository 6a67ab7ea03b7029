#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <shared_mutex>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "backend.h"
#include "channelops/core/status_macros.h"
#include "rocksdb/cache.h"
#include "rocksdb/convenience.h"
#include "rocksdb/db.h"
#include "rocksdb/env.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/listener.h"
#include "rocksdb/options.h"
#include "rocksdb/slice_transform.h"
#include "rocksdb/table.h"
#include "rocksdb/write_batch.h"

namespace channelops::eventstore {
namespace {

// After a failed write the store retries RocksDB's Resume() on the next write,
// then at most this often while it keeps failing (each attempt flushes the
// memtables, which is wasted work while the volume is still full).
constexpr absl::Duration kResumeInterval = absl::Seconds(1);

bool IsVolumeFull(const rocksdb::Status& s) {
  // ENOSPC is NoSpace; EDQUOT (a quota, e.g. on a shared volume) arrives as a
  // plain IOError carrying strerror's text.
  return s.IsNoSpace() || s.subcode() == rocksdb::Status::kNoSpace ||
         s.subcode() == rocksdb::Status::kSpaceLimit ||
         absl::StrContains(s.ToString(), "Disk quota exceeded");
}

// The one place rocksdb::Status becomes absl::Status.
absl::Status FromRocks(const rocksdb::Status& s, absl::string_view what) {
  if (s.ok()) return absl::OkStatus();
  std::string msg = absl::StrCat(what, ": ", s.ToString());
  if (IsVolumeFull(s)) return absl::ResourceExhaustedError(absl::StrCat("data volume full: ", msg));
  if (s.IsInvalidArgument()) return absl::InvalidArgumentError(msg);
  return absl::UnavailableError(msg);
}

std::string JsonQuote(absl::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += absl::StrFormat("\\u%04x", c);
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
  return out;
}

// One JSON object per line on stderr, in the services' log format
// (libs/server/log.h, which this library cannot depend on).
void LogLine(absl::string_view level, absl::string_view msg, absl::string_view key,
             absl::string_view value) {
  std::string line = absl::StrCat(
      "{\"ts\":",
      JsonQuote(absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", absl::Now(), absl::UTCTimeZone())),
      ",\"level\":", JsonQuote(level), ",\"msg\":", JsonQuote(msg), ",", JsonQuote(key), ":",
      JsonQuote(value), "}\n");
  ssize_t unused = ::write(2, line.data(), line.size());
  (void)unused;
}

// RocksDB's own log, as JSON lines on stderr, warnings and errors only.
//
// Not RocksDB's default LOG file in the data directory: that file lives on the
// volume that fills up, and Debian's librocksdb is built with assertions on, so
// the info logger's next line after a failed append aborts the process
// (WritableFileWriter::AssertFalseAndGetStatusForPrevError, reproduced with
// RocksDB 7.8.3 on a full tmpfs). Logging elsewhere keeps a full disk a write
// error instead of a crash.
class StderrLogger final : public rocksdb::Logger {
 public:
  StderrLogger() : rocksdb::Logger(rocksdb::InfoLogLevel::WARN_LEVEL) {}
  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override {
    Logv(rocksdb::InfoLogLevel::INFO_LEVEL, format, ap);
  }
  void Logv(const rocksdb::InfoLogLevel level, const char* format, va_list ap) override {
    // HEADER (the options dump at open) sorts above FATAL: drop it explicitly.
    if (level < GetInfoLogLevel() || level == rocksdb::InfoLogLevel::HEADER_LEVEL) return;
    char buf[2048];
    int n = vsnprintf(buf, sizeof(buf), format, ap);
    if (n < 0) return;
    absl::string_view text(buf, std::min<size_t>(static_cast<size_t>(n), sizeof(buf) - 1));
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
    // Opening a new store probes its directory first and reports the expected
    // NotFound as an error: not worth an operator's attention.
    if (absl::StartsWith(text, "Error when reading") && absl::StrContains(text, "dir NotFound"))
      return;
    LogLine(level >= rocksdb::InfoLogLevel::ERROR_LEVEL ? "error" : "warn", "rocksdb", "rocksdb",
            text);
  }
};

// Turns RocksDB's automatic recovery off: the backend resumes by itself (see
// RocksDbBackend::MaybeResume). RocksDB's recovery from a full disk waits, in
// the SstFileManager, until write_buffer_size (64 MiB) is free, polling every
// 5 s, and while it waits every manual Resume() answers Busy: on a volume where
// less than that was freed the store would never accept writes again without a
// restart (seen with RocksDB 7.8.3 on a tmpfs grown from 8 to 64 MiB).
class ManualRecovery final : public rocksdb::EventListener {
 public:
  void OnErrorRecoveryBegin(rocksdb::BackgroundErrorReason, rocksdb::Status,
                            bool* auto_recovery) override {
    *auto_recovery = false;
  }
};

// Memtable insert hints. A skiplist insert normally searches from the top;
// with a hint it starts where the last key of the same prefix went, which for
// keys arriving in order is O(1). The log's keys (big-endian positions) all
// arrive in order: one prefix. A stream's index keys (stream id, NUL,
// big-endian version) arrive in order per stream: the prefix is the stream id.
// A head is rewritten in place: the key is its own prefix.
// (Measured: memtable inserts were the committer's largest cost.)
class WholeFamilyPrefix final : public rocksdb::SliceTransform {
 public:
  const char* Name() const override { return "channelops.WholeFamilyPrefix"; }
  rocksdb::Slice Transform(const rocksdb::Slice& key) const override {
    return rocksdb::Slice(key.data(), 0);
  }
  bool InDomain(const rocksdb::Slice&) const override { return true; }
};

class StreamIdPrefix final : public rocksdb::SliceTransform {
 public:
  const char* Name() const override { return "channelops.StreamIdPrefix"; }
  rocksdb::Slice Transform(const rocksdb::Slice& key) const override {
    const void* nul = memchr(key.data(), '\0', key.size());
    return rocksdb::Slice(key.data(), static_cast<const char*>(nul) - key.data() + 1);
  }
  bool InDomain(const rocksdb::Slice& key) const override {
    return memchr(key.data(), '\0', key.size()) != nullptr;
  }
};

// Batches of at least this many ops are written in key order (Write).
constexpr size_t kSortedBatchOps = 64;

class RocksDbBackend final : public Backend {
 public:
  RocksDbBackend(rocksdb::DB* db, std::vector<rocksdb::ColumnFamilyHandle*> handles,
                 std::string path)
      : db_(db), handles_(std::move(handles)), path_(std::move(path)) {}
  ~RocksDbBackend() override { Close(); }

  EngineUsage Usage() const override {
    EngineUsage u;
    if (db_ == nullptr) return u;
    // All memtables: active, immutable and flushed ones still pinned by a reader.
    db_->GetAggregatedIntProperty("rocksdb.size-all-mem-tables", &u.memtable_bytes);
    db_->GetAggregatedIntProperty("rocksdb.estimate-table-readers-mem", &u.table_reader_bytes);
    db_->GetAggregatedIntProperty("rocksdb.live-sst-files-size", &u.sst_bytes);
    // One cache shared by every family: asked once, not summed over them.
    db_->GetIntProperty(db_->DefaultColumnFamily(), "rocksdb.block-cache-usage",
                        &u.block_cache_bytes);
    return u;
  }
  uint64_t EstimateKeys(int cf) const override {
    uint64_t n = 0;
    if (db_ != nullptr) db_->GetIntProperty(handles_[cf], "rocksdb.estimate-num-keys", &n);
    return n;
  }

  static rocksdb::ReadOptions ReadAt(const void* view) {
    rocksdb::ReadOptions ro;
    ro.snapshot = static_cast<const rocksdb::Snapshot*>(view);
    return ro;
  }

  absl::StatusOr<std::optional<std::string>> Get(int cf, absl::string_view key,
                                                 const void* view) const override {
    std::string v;
    rocksdb::Status s =
        db_->Get(ReadAt(view), handles_[cf], rocksdb::Slice(key.data(), key.size()), &v);
    if (s.IsNotFound()) return std::nullopt;
    if (!s.ok()) return FromRocks(s, "get");
    return v;
  }

  // Called by the committer thread and, for unsynced meta writes, by others.
  absl::Status Write(const std::vector<WriteOp>& ops, bool sync) override {
    bool resumed = false;
    if (failed_.load(std::memory_order_acquire)) {
      absl::Status rs = MaybeResume(&resumed);
      if (!rs.ok()) return rs;
    }
    // Reserved at its final size: a batch of a POS report's lines is ~1 MB,
    // and growing the batch's buffer by doubling copied it about twice over.
    size_t bytes = 12;  // WriteBatch header
    for (const WriteOp& op : ops) bytes += 16 + op.key.size() + (op.value ? op.value->size() : 0);
    rocksdb::WriteBatch batch(bytes);
    auto add = [&](const WriteOp& op) {
      if (op.value) {
        batch.Put(handles_[op.cf], op.key, *op.value);
      } else {
        batch.Delete(handles_[op.cf], op.key);
      }
    };
    if (ops.size() < kSortedBatchOps) {
      for (const WriteOp& op : ops) add(op);
    } else {
      // In key order per family (stable: a key written twice keeps its last
      // write): each memtable insert then starts from the one before it (the
      // insert hints of point_lookup_cfs), instead of a search from the top.
      std::vector<uint32_t> order(ops.size());
      for (uint32_t i = 0; i < ops.size(); ++i) order[i] = i;
      std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
        if (ops[a].cf != ops[b].cf) return ops[a].cf < ops[b].cf;
        return ops[a].key < ops[b].key;
      });
      for (uint32_t i : order) add(ops[i]);
    }
    rocksdb::WriteOptions wo;
    wo.sync = sync;
    rocksdb::Status s = db_->Write(wo, &batch);
    if (!s.ok()) {
      absl::Status st = FromRocks(s, "write batch");
      absl::MutexLock l(&resume_mu_);
      if (!failed_.load(std::memory_order_relaxed)) {
        LogLine("error", "event store write failed; writes are refused until it resumes", "status",
                st.ToString());
        next_resume_ = absl::Now();  // the next write tries at once
      }
      failed_.store(true, std::memory_order_release);
      last_error_ = st;
      return st;
    }
    if (resumed) {
      absl::MutexLock l(&resume_mu_);
      if (!failed_.load(std::memory_order_relaxed)) {
        LogLine("info", "event store writes resumed", "path", path_);
      }
    }
    return absl::OkStatus();
  }

  absl::Status SyncWal() override { return FromRocks(db_->SyncWAL(), "sync WAL"); }

  absl::Status FlushMemtables() override {
    rocksdb::FlushOptions fo;
    fo.wait = true;
    return FromRocks(db_->Flush(fo, handles_), "flush memtables");
  }

  absl::Status SyncWalFilesDirectly() override {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(path_, ec)) {
      if (entry.path().extension() != ".log") continue;
      int fd = ::open(entry.path().c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) {
        if (errno == ENOENT) continue;  // an obsolete WAL deleted meanwhile
        return absl::UnavailableError(
            absl::StrCat("open ", entry.path().string(), ": ", strerror(errno)));
      }
      int rc = ::fdatasync(fd);
      int err = errno;
      ::close(fd);
      if (rc != 0) {
        return absl::UnavailableError(
            absl::StrCat("fdatasync ", entry.path().string(), ": ", strerror(err)));
      }
    }
    if (ec) return absl::UnavailableError(absl::StrCat("list ", path_, ": ", ec.message()));
    int dir = ::open(path_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) return absl::UnavailableError(absl::StrCat("open ", path_, ": ", strerror(errno)));
    int rc = ::fsync(dir);
    int err = errno;
    ::close(dir);
    if (rc != 0) return absl::UnavailableError(absl::StrCat("fsync ", path_, ": ", strerror(err)));
    return absl::OkStatus();
  }

  absl::Status Recover() override {
    if (!failed_.load(std::memory_order_acquire)) return absl::OkStatus();
    bool resumed = false;
    CHANNELOPS_RETURN_IF_ERROR(MaybeResume(&resumed));
    if (!resumed) return absl::UnavailableError("event store: recovery still running");
    LogLine("info", "event store writes resumed", "path", path_);
    return absl::OkStatus();
  }

  View PinView() override {
    rocksdb::DB* db = db_;
    const rocksdb::Snapshot* snap = db->GetSnapshot();
    // Released by its last reader; every view is dropped before Close.
    return View(snap, [db](const void* p) {
      db->ReleaseSnapshot(static_cast<const rocksdb::Snapshot*>(p));
    });
  }

  absl::Status Scan(int cf, absl::string_view prefix, absl::string_view start, size_t limit,
                    const std::function<bool(absl::string_view, absl::string_view)>& fn,
                    const void* view) const override {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ReadAt(view), handles_[cf]));
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
  // After a failed write RocksDB refuses every write until DB::Resume() (which
  // flushes the memtables and starts a new WAL) succeeds. Tried on the next
  // write, then at most every kResumeInterval; in between, writes fail fast with
  // the last error. Busy (a recovery of RocksDB's own is running): the write is
  // attempted and answers for itself. *resumed: this call cleared the failure.
  absl::Status MaybeResume(bool* resumed) {
    absl::MutexLock l(&resume_mu_);
    if (!failed_.load(std::memory_order_relaxed)) return absl::OkStatus();
    absl::Time now = absl::Now();
    if (now < next_resume_) return last_error_;
    next_resume_ = now + kResumeInterval;
    rocksdb::Status rs = db_->Resume();
    if (rs.IsBusy()) return absl::OkStatus();
    if (!rs.ok()) {
      last_error_ = FromRocks(rs, "resume after write failure");
      return last_error_;
    }
    failed_.store(false, std::memory_order_release);
    *resumed = true;
    return absl::OkStatus();
  }

  rocksdb::DB* db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  std::string path_;
  std::atomic<bool> failed_{false};  // a write failed and RocksDB was not resumed since
  absl::Mutex resume_mu_;
  absl::Time next_resume_ ABSL_GUARDED_BY(resume_mu_);
  absl::Status last_error_ ABSL_GUARDED_BY(resume_mu_);
};

class MemoryBackend final : public Backend {
 public:
  explicit MemoryBackend(size_t n) : data_(n) {}
  uint64_t EstimateKeys(int cf) const override {
    std::shared_lock l(mu_);
    return data_[cf].size();
  }
  absl::StatusOr<std::optional<std::string>> Get(int cf, absl::string_view key,
                                                 const void*) const override {
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
  absl::Status SyncWal() override { return absl::OkStatus(); }
  absl::Status FlushMemtables() override { return absl::OkStatus(); }
  absl::Status Recover() override { return absl::OkStatus(); }
  absl::Status SyncWalFilesDirectly() override { return absl::OkStatus(); }
  View PinView() override { return nullptr; }
  absl::Status Scan(int cf, absl::string_view prefix, absl::string_view start, size_t limit,
                    const std::function<bool(absl::string_view, absl::string_view)>& fn,
                    const void*) const override {
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

absl::StatusOr<std::unique_ptr<Backend>> OpenRocksDbBackend(const Options& store_options,
                                                            const std::vector<std::string>& cfs) {
  const std::string& path = store_options.path;
  if (store_options.max_open_files < 16) {
    return absl::InvalidArgumentError("max_open_files: must be at least 16");
  }
  if (store_options.memtable_budget_bytes < (1u << 20)) {
    return absl::InvalidArgumentError("memtable_budget_bytes: must be at least 1 MiB");
  }
  if (store_options.block_cache_bytes < (1u << 20)) {
    return absl::InvalidArgumentError("block_cache_bytes: must be at least 1 MiB");
  }
  rocksdb::Options options;
  options.create_if_missing = true;
  options.create_missing_column_families = true;
  options.IncreaseParallelism(2);
  options.max_background_jobs = 2;
  // One writer thread commits everything; RocksDB's own write grouping is not needed.
  options.enable_pipelined_write = false;
  options.max_total_wal_size = 256 << 20;
  // Flush and compaction output goes to disk 1 MiB at a time as it is written
  // (sync_file_range), not all at once when the table file is finished. On ext4
  // (data=ordered) every WAL fdatasync commits the journal, and a journal commit
  // first writes back the dirty data of other files it covers, so a finished
  // compaction's whole output, dirty in the page cache, could sit in front of the
  // next command's fsync. RocksDB's tuning guide recommends 1 MiB. (Its effect on
  // the soak was not measured separately: docs/RELIABILITY.md.)
  options.bytes_per_sync = 1 << 20;
  // A bounded memory footprint (a pod has a memory limit): memtables of all
  // column families together flush at memtable_budget_bytes (default 32 MiB)
  // instead of 64 MiB each, and one block_cache_bytes (default 32 MiB) block
  // cache is shared by every family. Measured by the soak test
  // (docs/RELIABILITY.md): without the cap RSS grew with the memtables for the
  // whole 30 minutes.
  options.db_write_buffer_size = store_options.memtable_budget_bytes;
  // Open SST files are file descriptors: the soak saw them grow with the data
  // (all tables stay open by default). Capped, softly: tables in use by a read or
  // a running compaction stay open on top of the cap (docs/RELIABILITY.md).
  options.max_open_files = store_options.max_open_files;
  options.info_log = std::make_shared<StderrLogger>();
  options.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  options.listeners.push_back(std::make_shared<ManualRecovery>());
  rocksdb::BlockBasedTableOptions table;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10, false));
  table.block_cache = rocksdb::NewLRUCache(store_options.block_cache_bytes);
  // Index and filter blocks stay outside the block cache, held by the open
  // table readers (bounded by max_open_files, exported as the table_readers
  // gauge). In the cache, ingestion's point reads of a 1M-line report evicted
  // and re-read them: 18,831 lines/s against 70,831 (bench_pos, same run).
  rocksdb::ColumnFamilyOptions cf_opts(options);
  // Memtable sizes follow the budget. RocksDB's write buffer manager counts the
  // memory a memtable's arena has allocated, in blocks of min(1 MiB,
  // write_buffer_size / 8) by default, so a few families touched at once
  // "filled" a small budget (four under the soak's 4 MiB; about thirty, as many
  // as the projections store has, under the default 32 MiB) and nearly every
  // write flushed a tiny table file (the soak found 1,240 table files of ~3 KB
  // after five minutes). Blocks of budget / 64 and memtables of at most half
  // the budget keep the accounting close to the data (memory_budget_test).
  const size_t budget = store_options.memtable_budget_bytes;
  cf_opts.write_buffer_size = std::max<size_t>(budget / 2, 1 << 20);
  cf_opts.arena_block_size = std::clamp<size_t>(budget / 64, 64 << 10, 1 << 20);
  cf_opts.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  // No compression in levels 0 and 1: they are small (L1 is at most
  // max_bytes_for_level_base, 256 MiB) and short-lived, and every byte written
  // passes through them; compressing them cost the POS ingestion benchmark ~5%
  // of its CPU (snappy at flush, and again at every L0->L1 compaction's read).
  // Deeper levels hold most of the data: LZ4 where the library has it.
  {
    const auto supported = rocksdb::GetSupportedCompressions();
    const bool lz4 =
        std::find(supported.begin(), supported.end(), rocksdb::kLZ4Compression) != supported.end();
    cf_opts.compression_per_level.assign(
        7, lz4 ? rocksdb::kLZ4Compression : rocksdb::kSnappyCompression);
    cf_opts.compression_per_level[0] = rocksdb::kNoCompression;
    cf_opts.compression_per_level[1] = rocksdb::kNoCompression;
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> descs;
  descs.emplace_back(rocksdb::kDefaultColumnFamilyName, cf_opts);
  for (const auto& c : cfs) {
    rocksdb::ColumnFamilyOptions o = cf_opts;
    // Every family: one hint, where its last insert went. Keys that arrive in
    // order (the log's positions; ids that are UUIDv7s, so ordered by time:
    // a new lead's or deal's stream, index and read-model keys; deadlines)
    // then insert in O(1), and a large batch, written in key order (Write),
    // inserts each key from the one before it. A key out of order searches
    // about as it would without the hint. Callgrind, 6,000 SubmitLeads: the
    // committer 127.6k -> 119.1k instructions per lead; deal registration and
    // POS unchanged (docs/BENCHMARKS.md, fourteenth session).
    o.memtable_insert_with_hint_prefix_extractor = std::make_shared<WholeFamilyPrefix>();
    if (c == kStreamsCf && store_options.stream_insert_hints)
      o.memtable_insert_with_hint_prefix_extractor = std::make_shared<StreamIdPrefix>();
    // A stream head is overwritten by every append: the newest version sorts
    // right before the previous one, so the key itself is the hint.
    if (c == kHeadsCf && store_options.stream_insert_hints) {
      o.memtable_insert_with_hint_prefix_extractor.reset(rocksdb::NewNoopTransform());
    }
    // Point lookups that mostly miss: a whole-key bloom filter in the memtable
    // (5% of its size) answers a miss without the skip-list search.
    //
    // Their keys are random (a POS line's identity), so every L0 -> L1
    // compaction rewrites the whole of L1: twice the L0 files per compaction
    // (8, RocksDB's default is 4) halves those rewrites per byte written.
    // A point read probes up to 8 more L0 tables, each behind its bloom filter,
    // and the writer's misses do not reach the engine at all (key filters).
    // bench_pos: compaction CPU per 1M-line report 0.70-0.89 s -> 0.33-0.35 s,
    // ~7% of the service's CPU (docs/BENCHMARKS.md, tenth session).
    if (std::find(store_options.point_lookup_cfs.begin(), store_options.point_lookup_cfs.end(),
                  c) != store_options.point_lookup_cfs.end()) {
      o.memtable_prefix_bloom_size_ratio = 0.05;
      o.memtable_whole_key_filtering = true;
      // (Their whole-family hint, above: callgrind, 50,000 POS lines, the
      // committer's memtable inserts 354.9M -> 299.7M instructions; 317.8M
      // sorted, no hint.)
      o.level0_file_num_compaction_trigger = 8;
    }
    descs.emplace_back(c, o);
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(rocksdb::DBOptions(options), path, descs, &handles, &db);
  if (!s.ok()) return FromRocks(s, absl::StrCat("open ", path));
  // Drop the default CF handle: our indices start at the first named family.
  db->DestroyColumnFamilyHandle(handles[0]);
  handles.erase(handles.begin());
  return std::unique_ptr<Backend>(new RocksDbBackend(db, std::move(handles), path));
}

std::unique_ptr<Backend> OpenMemoryBackend(const std::vector<std::string>& cfs) {
  return std::make_unique<MemoryBackend>(cfs.size());
}

}  // namespace channelops::eventstore
