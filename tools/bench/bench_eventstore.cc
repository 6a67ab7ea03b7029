// Event store benchmark. In one run on this machine it measures:
//  - durable appends/s through EventStore with 1, 8 and 64 single-event appends
//    in flight (each answered only after its group commit is fsynced);
//  - raw RocksDB: one thread writing WriteBatches of 64 events with sync=true
//    (the engine's limit for this workload), and the ratio to it;
//  - PostgreSQL 15 on loopback: the same durable append as a transactional
//    outbox INSERT with synchronous_commit=on (pgbench, 64 clients), and the ratio.
// Usage: bench_eventstore [--seconds=N] [--no-postgres] [--no-raw] [--in_flight=N]
//        bench_eventstore --memory_read_model_rows=N (only the open of a memory read model)
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "channelops/eventstore/event_store.h"
#include "google/protobuf/wrappers.pb.h"
#include "rocksdb/db.h"
#include "rocksdb/write_batch.h"

using namespace channelops;
namespace fs = std::filesystem;

namespace {

std::string TempPath(const std::string& name) {
  auto p = fs::temp_directory_path() / absl::StrCat("channelops_bench_", ::getpid(), "_", name);
  fs::remove_all(p);
  return p.string();
}

double StoreAppends(int in_flight, double seconds) {
  std::string path = TempPath(absl::StrCat("store", in_flight));
  eventstore::Options o;
  o.path = path;
  o.source = "channelops/bench";
  o.stream_insert_hints = true;  // every append goes to one of 1,000 streams
  auto store = eventstore::EventStore::Open(o);
  if (!store.ok()) {
    fprintf(stderr, "%s\n", store.status().ToString().c_str());
    exit(1);
  }
  google::protobuf::StringValue payload;
  payload.set_value(std::string(300, 'x'));
  std::atomic<int64_t> done{0};
  std::atomic<bool> stop{false};
  std::atomic<int> outstanding{0};
  std::mutex mu;
  std::condition_variable cv;
  // Keep exactly `in_flight` appends outstanding: each completion submits the next.
  std::function<void(int)> submit = [&](int i) {
    outstanding++;
    (*store)->Execute(
        eventstore::CommandMeta{},
        [&, i](eventstore::Tx& tx) -> absl::StatusOr<std::string> {
          std::vector<eventstore::NewEvent> evs;
          evs.push_back(eventstore::NewEvent::Of(payload));
          auto p = tx.Append(absl::StrCat("stream-", i % 1000), eventstore::kAnyVersion, std::move(evs));
          if (!p.ok()) return p.status();
          return std::string();
        },
        [&, i](absl::StatusOr<eventstore::CommandResult> r) {
          if (!r.ok()) {
            fprintf(stderr, "append failed: %s\n", r.status().ToString().c_str());
            exit(1);
          }
          done++;
          if (!stop.load()) {
            submit(i + in_flight);
          }
          if (--outstanding == 0) {
            std::lock_guard<std::mutex> l(mu);
            cv.notify_all();
          }
        });
  };
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < in_flight; ++i) submit(i);
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  int64_t n = done.load();
  auto t1 = std::chrono::steady_clock::now();
  {
    std::unique_lock<std::mutex> l(mu);
    cv.wait(l, [&] { return outstanding.load() == 0; });
  }
  double secs = std::chrono::duration<double>(t1 - t0).count();
  (*store)->Close();
  store->reset();
  fs::remove_all(path);
  return n / secs;
}

double RawRocksDb(int batch, double seconds) {
  std::string path = TempPath("raw");
  rocksdb::Options options;
  options.create_if_missing = true;
  options.IncreaseParallelism(2);
  rocksdb::DB* db;
  if (!rocksdb::DB::Open(options, path, &db).ok()) exit(1);
  std::string value(360, 'x');  // an envelope of a 300-byte payload
  uint64_t pos = 0;
  int64_t events = 0;
  auto t0 = std::chrono::steady_clock::now();
  auto end = t0 + std::chrono::duration<double>(seconds);
  rocksdb::WriteOptions wo;
  wo.sync = true;
  while (std::chrono::steady_clock::now() < end) {
    rocksdb::WriteBatch b;
    for (int i = 0; i < batch; ++i) {
      ++pos;
      std::string k = eventstore::EncodeU64(pos);
      b.Put(k, value);                                                  // log
      b.Put(absl::StrCat("s", pos % 1000, k), k);                       // stream index
      b.Put(absl::StrCat("h", pos % 1000), k);                          // head
    }
    if (!db->Write(wo, &b).ok()) exit(1);
    events += batch;
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  delete db;
  fs::remove_all(path);
  return events / secs;
}

double Postgres(double seconds) {
  std::string script = absl::StrCat(CHANNELOPS_SOURCE_DIR, "/tools/bench/pg_baseline.sh 64 ",
                                    static_cast<int>(seconds));
  FILE* f = popen(script.c_str(), "r");
  if (!f) return 0;
  char line[256];
  double tps = 0;
  while (fgets(line, sizeof(line), f)) {
    if (sscanf(line, "PG_TPS %lf", &tps) == 1) break;
  }
  pclose(f);
  return tps;
}

// Opening a store whose read model is held in memory (Options::memory_read_cfs):
// `keys` rows of ~25-byte keys and 90-byte values (the size of a deal
// registration's customer claims) are written through the store, 1,000 per
// command; the store is then opened without the copy and with it, twice each,
// alternating. The difference is the copy's load at open.
void MemoryReadModelOpen(int64_t keys) {
  const std::string path = TempPath("memory_read_model");
  eventstore::Options o;
  o.path = path;
  o.source = "channelops/bench";
  o.read_model_cfs = {"rm_index"};
  auto open = [&](bool memory) {
    eventstore::Options opts = o;
    if (memory) opts.memory_read_cfs = {"rm_index"};
    absl::Time t0 = absl::Now();
    auto store = eventstore::EventStore::Open(opts);
    const double s = absl::ToDoubleSeconds(absl::Now() - t0);
    if (!store.ok()) {
      fprintf(stderr, "%s\n", store.status().ToString().c_str());
      exit(1);
    }
    return std::make_pair(std::move(*store), s);
  };
  {
    auto [store, s] = open(false);
    const std::string value(90, 'v');
    for (int64_t from = 0; from < keys; from += 1000) {
      auto r = store->ExecuteSync(eventstore::CommandMeta{},
                                  [&](eventstore::Tx& tx) -> absl::StatusOr<std::string> {
                                    for (int64_t i = from; i < std::min(keys, from + 1000); ++i) {
                                      tx.Put("rm_index", absl::StrCat("c|US|customer ", i), value);
                                    }
                                    return std::string();
                                  });
      if (!r.ok()) {
        fprintf(stderr, "%s\n", r.status().ToString().c_str());
        exit(1);
      }
    }
    store->Close();
  }
  double plain = 1e9, memory = 1e9;
  for (int round = 0; round < 2; ++round) {
    for (bool m : {false, true}) {
      auto [store, s] = open(m);
      (m ? memory : plain) = std::min(m ? memory : plain, s);
      if (m && !store->Get("rm_index", absl::StrCat("c|US|customer ", keys - 1))->has_value()) {
        fprintf(stderr, "the last row is not in the memory read model\n");
        exit(1);
      }
      store->Close();
    }
  }
  printf("open with %lld rows in a memory read model: %.2f s, without: %.2f s (best of 2 each); "
         "the copy's load %.2f s, %.0f rows/s\n",
         static_cast<long long>(keys), memory, plain, memory - plain,
         keys / std::max(memory - plain, 1e-6));
  fs::remove_all(path);
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 5;
  bool pg = true;
  bool raw_case = true;
  int only = 0;  // 0: 1, 8 and 64 in flight
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--seconds=", 0) == 0) seconds = std::stod(a.substr(10));
    if (a == "--no-postgres") pg = false;
    if (a == "--no-raw") raw_case = false;
    if (a.rfind("--in_flight=", 0) == 0) only = std::stoi(a.substr(12));
    if (a.rfind("--memory_read_model_rows=", 0) == 0) {
      MemoryReadModelOpen(std::stoll(a.substr(25)));
      return 0;
    }
    if (a == "--help") {
      printf(
          "bench_eventstore [--seconds=N] [--no-postgres] [--no-raw] [--in_flight=N]\n"
          "bench_eventstore --memory_read_model_rows=N  (only: the time to open a store whose\n"
          "                 read model of N rows is held in memory)\n");
      return 0;
    }
  }
  printf("# event store benchmark (%.0f s per case, 300-byte payloads, fsync on every batch)\n", seconds);
  double raw = raw_case ? RawRocksDb(64, seconds) : 0;
  if (raw_case) printf("raw RocksDB WriteBatch(64 events) sync=true : %10.0f events/s\n", raw);
  double pg_tps = pg ? Postgres(seconds) : 0;
  if (pg) printf("PostgreSQL 15 outbox INSERT, 64 clients   : %10.0f events/s\n", pg_tps);
  double best = 0;
  std::vector<int> cases = {1, 8, 64};
  if (only > 0) cases = {only};
  for (int n : cases) {
    double r = StoreAppends(n, seconds);
    best = r;
    std::vector<std::string> ratios;
    if (raw > 0) ratios.push_back(absl::StrFormat("%.2fx raw RocksDB", r / raw));
    if (pg_tps > 0) ratios.push_back(absl::StrFormat("%.1fx PostgreSQL", r / pg_tps));
    printf("EventStore durable appends, %2d in flight  : %10.0f events/s%s\n", n, r,
           ratios.empty() ? "" : absl::StrCat("  (", absl::StrJoin(ratios, ", "), ")").c_str());
  }
  if (cases.back() != 64) return 0;  // the floors are defined at 64 in flight
  printf("floors: >= 100000 events/s at 64 in flight: %s; >= 10x PostgreSQL: %s; >= 0.5x raw RocksDB: %s\n",
         best >= 100000 ? "PASS" : "FAIL", pg_tps <= 0 ? "n/a" : (best >= 10 * pg_tps ? "PASS" : "FAIL"),
         raw <= 0 ? "n/a" : (best >= 0.5 * raw ? "PASS" : "FAIL"));
  return 0;
}
