// One suite, run against every EventStore implementation (RocksDB and the
// in-memory twin), in the manner of Eventuous' StoreAppendTests.
#include <atomic>
#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "channelops/core/clock.h"
#include "channelops/core/status_macros.h"
#include "channelops/eventstore/event_store.h"
#include "channelops/testing/metrics.h"
#include "google/protobuf/wrappers.pb.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"

namespace channelops::eventstore {
namespace {

namespace fs = std::filesystem;

google::protobuf::StringValue Str(const std::string& s) {
  google::protobuf::StringValue v;
  v.set_value(s);
  return v;
}

class EventStoreContract : public ::testing::TestWithParam<bool /*rocksdb*/> {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("es_contract_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++));
    fs::remove_all(dir_);
    Open();
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(dir_);
  }
  void Open() {
    Options o;
    o.path = dir_.string();
    o.source = "channelops/test";
    o.read_model_cfs = {"rm_test", "rm_mem"};
    o.point_lookup_cfs = {"rm_test"};  // every contract holds with its memtable bloom filter
    o.memory_read_cfs = {"rm_mem"};
    o.clock = clock_;
    o.metrics = metrics_;
    auto s = GetParam() ? EventStore::Open(o) : EventStore::OpenInMemory(o);
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = std::move(*s);
  }
  // Closes the store and opens it again on `clock` (the in-memory twin starts empty).
  void OpenOnClock(core::FakeClock& clock) {
    store_->Close();
    store_.reset();
    clock_ = &clock;
    Open();
  }
  void Reopen() {
    ASSERT_TRUE(GetParam()) << "only the durable store can be reopened";
    store_->Close();
    store_.reset();
    Open();
  }
  absl::StatusOr<CommandResult> AppendOne(const std::string& stream, int64_t expected,
                                          const std::string& value, const std::string& key = "") {
    CommandMeta meta;
    meta.idempotency_key = key;
    meta.request_id = key.empty() ? "r" : key;
    meta.actor = "tester";
    return store_->ExecuteSync(meta, [=](Tx& tx) -> absl::StatusOr<std::string> {
      std::vector<NewEvent> evs;
      evs.push_back(NewEvent::Of(Str(value)));
      auto pos = tx.Append(stream, expected, std::move(evs));
      if (!pos.ok()) return pos.status();
      return "ok:" + value;
    });
  }

  // A metric of rm_test's key filter (answer=`answer` of the lookups counter).
  double Metric(const std::string& name, const std::string& answer = "") const {
    std::map<std::string, std::string> labels = {{"cf", "rm_test"}};
    if (!answer.empty()) labels["answer"] = answer;
    return testing::MetricValue(*metrics_, name, labels);
  }
  absl::Status Exec(std::function<absl::Status(Tx&)> fn) {
    CommandMeta meta;
    meta.request_id = "r";
    meta.actor = "tester";
    return store_
        ->ExecuteSync(meta,
                      [fn = std::move(fn)](Tx& tx) -> absl::StatusOr<std::string> {
                        CHANNELOPS_RETURN_IF_ERROR(fn(tx));
                        return std::string("ok");
                      })
        .status();
  }

  static inline int counter_ = 0;
  core::Clock* clock_ = nullptr;  // the system clock
  prometheus::Registry* metrics_ = nullptr;
  fs::path dir_;
  std::unique_ptr<EventStore> store_;
};

TEST_P(EventStoreContract, AppendsAndReadsStream) {
  ASSERT_TRUE(AppendOne("s-1", kNoStream, "a").ok());
  ASSERT_TRUE(AppendOne("s-1", 1, "b").ok());
  auto evs = store_->ReadStream("s-1", 1, 100);
  ASSERT_TRUE(evs.ok());
  ASSERT_EQ(evs->size(), 2u);
  EXPECT_EQ((*evs)[0].stream_version(), 1u);
  EXPECT_EQ((*evs)[1].stream_version(), 2u);
  EXPECT_EQ((*evs)[1].global_position(), 2u);
  EXPECT_EQ((*evs)[0].event_type(), "google.protobuf.StringValue");
  EXPECT_EQ((*evs)[0].source(), "channelops/test");
  EXPECT_EQ((*evs)[0].actor(), "tester");
  EXPECT_EQ((*evs)[0].event_id().size(), 36u);
  google::protobuf::StringValue v;
  ASSERT_TRUE((*evs)[1].payload().UnpackTo(&v));
  EXPECT_EQ(v.value(), "b");
  EXPECT_EQ(store_->LastPosition(), 2u);
}

// point_lookup_cfs and memory_read_cfs name read models: anything else is
// refused at open, naming the option and the family.
TEST_P(EventStoreContract, PointLookupAndMemoryFamiliesMustBeReadModels) {
  for (const std::string option : {"point_lookup_cfs", "memory_read_cfs"}) {
    Options o;
    o.path = (dir_ / "other").string();
    o.read_model_cfs = {"rm_a"};
    (option == "point_lookup_cfs" ? o.point_lookup_cfs : o.memory_read_cfs) = {"rm_b"};
    auto s = GetParam() ? EventStore::Open(o) : EventStore::OpenInMemory(o);
    ASSERT_FALSE(s.ok()) << option;
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(std::string(s.status().message()).find(option + ": 'rm_b'"), std::string::npos)
        << s.status();
  }
}

// A memory read model answers EventStore::Get from process memory: it must be
// exactly the durable state. Commands in bursts (several per batch and
// group) add, overwrite and delete keys; every third fails after staging
// writes. Each answered command's writes are visible at once (read-your-
// writes); at the end every key reads as the engine holds it (the writer's
// Tx::Get reads the engine), and, after a reopen, as it was loaded from disk.
TEST_P(EventStoreContract, MemoryReadModelIsExactlyTheDurableState) {
  constexpr int kCommands = 300, kKeys = 40;
  std::map<std::string, std::optional<std::string>> expected;  // by the last command that succeeded
  std::atomic<int> answered{0};
  for (int i = 0; i < kCommands; ++i) {
    const std::string key = absl::StrCat("k", i % kKeys), value = absl::StrCat("v", i);
    const bool fails = i % 3 == 2, deletes = i % 7 == 3;
    store_->Execute(
        CommandMeta{},
        [=](Tx& tx) -> absl::StatusOr<std::string> {
          if (deletes) {
            tx.Delete("rm_mem", key);
          } else {
            tx.Put("rm_mem", key, value);
          }
          tx.Put("rm_mem", absl::StrCat("last-", i % 2), value);
          tx.Put("rm_mem", absl::StrCat("own-", i), value);  // no other command writes it
          if (fails) return absl::InvalidArgumentError("field: bad");
          return std::string();
        },
        [&, i, value, fails](absl::StatusOr<CommandResult> r) {
          EXPECT_EQ(r.ok(), !fails) << r.status();
          // Answered: durable, and what readers see now.
          auto got = store_->Get("rm_mem", absl::StrCat("own-", i));
          EXPECT_TRUE(got.ok());
          EXPECT_EQ(got->value_or("<none>"), fails ? "<none>" : value) << i;
          answered.fetch_add(1);
        });
    // Commands are decided in the order submitted.
    if (!fails) {
      expected[key] = deletes ? std::nullopt : std::optional<std::string>(value);
      expected[absl::StrCat("last-", i % 2)] = value;
      expected[absl::StrCat("own-", i)] = value;
    } else {
      expected[absl::StrCat("own-", i)] = std::nullopt;
    }
  }
  while (answered.load() < kCommands) absl::SleepFor(absl::Milliseconds(1));
  auto check = [&](const char* when) {
    for (const auto& [key, want] : expected) {
      auto got = store_->Get("rm_mem", key);
      ASSERT_TRUE(got.ok()) << got.status();
      EXPECT_EQ(got->value_or("<none>"), want.value_or("<none>")) << when << ": " << key;
    }
    // The engine holds the same (Tx::Get reads it, not the memory copy).
    ASSERT_TRUE(Exec([&](Tx& tx) {
                  for (const auto& [key, want] : expected) {
                    auto got = tx.Get("rm_mem", key);
                    if (!got.ok()) return got.status();
                    EXPECT_EQ(got->value_or("<none>"), want.value_or("<none>"))
                        << when << ", engine: " << key;
                  }
                  return absl::OkStatus();
                }).ok());
    EXPECT_FALSE(store_->Get("rm_mem", "never")->has_value());
  };
  check("after the commands");
  if (GetParam()) {
    Reopen();
    check("after a reopen");
  }
}

TEST_P(EventStoreContract, FailsOnWrongExpectedVersion) {
  ASSERT_TRUE(AppendOne("s-1", kNoStream, "a").ok());
  auto r = AppendOne("s-1", kNoStream, "again");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kAborted);
  r = AppendOne("s-1", 5, "again");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kAborted);
  // Nothing was written: the global position did not move.
  EXPECT_EQ(store_->LastPosition(), 1u);
  EXPECT_TRUE(AppendOne("s-1", kAnyVersion, "any").ok());
  EXPECT_EQ(store_->LastPosition(), 2u);
}

TEST_P(EventStoreContract, IdempotentRetryReturnsFirstAnswerAndWritesNothing) {
  auto first = AppendOne("s-1", kAnyVersion, "a", "req-1");
  ASSERT_TRUE(first.ok());
  EXPECT_FALSE(first->replayed);
  auto retry = AppendOne("s-1", kAnyVersion, "different", "req-1");
  ASSERT_TRUE(retry.ok());
  EXPECT_TRUE(retry->replayed);
  EXPECT_EQ(retry->response, "ok:a");
  EXPECT_EQ(store_->LastPosition(), 1u);
}

TEST_P(EventStoreContract, FailedCommandWritesNothingAndIsNotRemembered) {
  CommandMeta meta;
  meta.idempotency_key = "req-x";
  auto r = store_->ExecuteSync(meta, [](Tx& tx) -> absl::StatusOr<std::string> {
    tx.Put("rm_test", "k", "v");
    std::vector<NewEvent> evs;
    evs.push_back(NewEvent::Of(Str("x")));
    (void)tx.Append("s-9", kNoStream, std::move(evs));
    return absl::InvalidArgumentError("field: bad");
  });
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->LastPosition(), 0u);
  EXPECT_FALSE(store_->Get("rm_test", "k")->has_value());
  // A failed command is not an answer: the same key may be retried.
  EXPECT_TRUE(AppendOne("s-1", kAnyVersion, "a", "req-x").ok());
  EXPECT_EQ(store_->LastPosition(), 1u);
}

// A failed command's writes are taken back from what later commands read
// before anything is durable: a key it overwrote (twice) has the earlier
// command's value again, a key it added or deleted is as before, its stream
// append is gone. Submitted together, so that most rounds decide the three
// commands in one batch (the writer's overlay), the rest across batches.
TEST_P(EventStoreContract, AFailedCommandsWritesAreTakenBackBeforeTheNextCommandReads) {
  constexpr int kRounds = 50;
  std::atomic<int> answered{0};
  std::vector<std::string> seen(kRounds);
  for (int i = 0; i < kRounds; ++i) {
    const std::string k = absl::StrCat("k", i), a = absl::StrCat("a", i), n = absl::StrCat("n", i),
                      stream = absl::StrCat("s", i);
    store_->Execute(
        CommandMeta{},
        [=](Tx& tx) -> absl::StatusOr<std::string> {
          tx.Put("rm_test", k, "v1");
          tx.Put("rm_test", a, "1");
          return std::string();
        },
        [&](absl::StatusOr<CommandResult> r) { EXPECT_TRUE(r.ok()) << r.status(); });
    store_->Execute(
        CommandMeta{},
        [=](Tx& tx) -> absl::StatusOr<std::string> {
          tx.Put("rm_test", k, "v2");
          tx.Put("rm_test", k, "v3");
          tx.Put("rm_test", n, "x");
          tx.Delete("rm_test", a);
          std::vector<NewEvent> evs;
          evs.push_back(NewEvent::Of(Str("x")));
          CHANNELOPS_RETURN_IF_ERROR(tx.Append(stream, kNoStream, std::move(evs)).status());
          return absl::FailedPreconditionError("state: refused after staging");
        },
        [&](absl::StatusOr<CommandResult> r) {
          EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
        });
    store_->Execute(
        CommandMeta{},
        [=](Tx& tx) -> absl::StatusOr<std::string> {
          CHANNELOPS_ASSIGN_OR_RETURN(auto kv, tx.Get("rm_test", k));
          CHANNELOPS_ASSIGN_OR_RETURN(auto av, tx.Get("rm_test", a));
          CHANNELOPS_ASSIGN_OR_RETURN(auto nv, tx.Get("rm_test", n));
          CHANNELOPS_ASSIGN_OR_RETURN(uint64_t version, tx.StreamVersion(stream));
          std::string listed;
          CHANNELOPS_RETURN_IF_ERROR(
              tx.Scan("rm_test", k, [&](absl::string_view key, absl::string_view value) {
                absl::StrAppend(&listed, key, "=", value, ";");
              }));
          return absl::StrCat(kv.value_or("-"), ",", av.value_or("-"), ",", nv.value_or("-"), ",",
                              version, ",", listed);
        },
        [&, i](absl::StatusOr<CommandResult> r) {
          EXPECT_TRUE(r.ok()) << r.status();
          if (r.ok()) seen[i] = r->response;
          answered++;
        });
  }
  while (answered.load() < kRounds) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  for (int i = 0; i < kRounds; ++i) {
    // The scan of prefix k<i> also lists k<i>0..k<i>9 of later rounds when committed; only
    // the exact key matters.
    EXPECT_TRUE(absl::StartsWith(seen[i], absl::StrCat("v1,1,-,0,k", i, "=v1;"))) << seen[i];
  }
  EXPECT_EQ(store_->LastPosition(), 0u);
  for (int i = 0; i < kRounds; ++i) {
    EXPECT_EQ(store_->Get("rm_test", absl::StrCat("k", i))->value_or(""), "v1");
    EXPECT_FALSE(store_->Get("rm_test", absl::StrCat("n", i))->has_value());
    EXPECT_EQ(store_->Get("rm_test", absl::StrCat("a", i))->value_or(""), "1");
  }
}

TEST_P(EventStoreContract, ReadModelWrittenAtomicallyWithEvents) {
  CommandMeta meta;
  auto r = store_->ExecuteSync(meta, [](Tx& tx) -> absl::StatusOr<std::string> {
    tx.Put("rm_test", "k1", "v1");
    std::vector<NewEvent> evs;
    evs.push_back(NewEvent::Of(Str("x")));
    auto p = tx.Append("s-1", kNoStream, std::move(evs));
    if (!p.ok()) return p.status();
    auto own = tx.Get("rm_test", "k1");  // read-your-writes inside the command
    if (!own.ok() || !own->has_value() || **own != "v1") return absl::InternalError("ryw");
    return "";
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->last_position, 1u);
  EXPECT_EQ(store_->Get("rm_test", "k1")->value_or(""), "v1");
}

TEST_P(EventStoreContract, LaterCommandsSeeEarlierUncommittedWrites) {
  // Many commands race on one counter; each reads the previous value. Since the
  // writer is single and reads see staged writes, no increment is lost.
  constexpr int kN = 500;
  std::atomic<int> done{0};
  for (int i = 0; i < kN; ++i) {
    store_->Execute(
        CommandMeta{},
        [](Tx& tx) -> absl::StatusOr<std::string> {
          auto cur = tx.Get("rm_test", "counter");
          if (!cur.ok()) return cur.status();
          int v = cur->has_value() ? std::stoi(**cur) : 0;
          tx.Put("rm_test", "counter", std::to_string(v + 1));
          auto ver = tx.StreamVersion("counter");
          std::vector<NewEvent> evs;
          evs.push_back(NewEvent::Of(Str(std::to_string(v + 1))));
          auto p = tx.Append("counter", static_cast<int64_t>(*ver), std::move(evs));
          if (!p.ok()) return p.status();
          return "";
        },
        [&](absl::StatusOr<CommandResult> r) {
          EXPECT_TRUE(r.ok()) << r.status();
          done++;
        });
  }
  while (done.load() < kN) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_EQ(store_->Get("rm_test", "counter")->value_or(""), std::to_string(kN));
  auto evs = store_->ReadStream("counter", 1, kN + 10);
  ASSERT_EQ(evs->size(), static_cast<size_t>(kN));
  for (int i = 0; i < kN; ++i) EXPECT_EQ((*evs)[i].stream_version(), static_cast<uint64_t>(i + 1));
}

TEST_P(EventStoreContract, GlobalOrderIsGapFreeUnderConcurrency) {
  constexpr int kThreads = 8, kPer = 200;
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < kPer; ++i) {
        ASSERT_TRUE(AppendOne("s-" + std::to_string(t), kAnyVersion, std::to_string(i)).ok());
      }
    });
  }
  for (auto& t : ts) t.join();
  auto all = store_->ReadAll(1, 100000);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), static_cast<size_t>(kThreads * kPer));
  std::map<std::string, uint64_t> last_version;
  for (size_t i = 0; i < all->size(); ++i) {
    EXPECT_EQ((*all)[i].global_position(), i + 1);
    auto& lv = last_version[(*all)[i].stream_id()];
    EXPECT_EQ((*all)[i].stream_version(), lv + 1);
    lv = (*all)[i].stream_version();
  }
  auto tail = store_->ReadAll(kThreads * kPer - 1, 10);
  ASSERT_EQ(tail->size(), 2u);
}

TEST_P(EventStoreContract, WaitForPositionWakesOnCommit) {
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ASSERT_TRUE(AppendOne("s", kAnyVersion, "x").ok());
  });
  EXPECT_TRUE(store_->WaitForPosition(1, absl::Seconds(5)));
  EXPECT_FALSE(store_->WaitForPosition(2, absl::Milliseconds(10)));
  t.join();
}

TEST_P(EventStoreContract, ScanInOrderWithPrefix) {
  ASSERT_TRUE(store_
                  ->ExecuteSync(CommandMeta{},
                                [](Tx& tx) -> absl::StatusOr<std::string> {
                                  tx.Put("rm_test", "p/b", "2");
                                  tx.Put("rm_test", "p/a", "1");
                                  tx.Put("rm_test", "q/a", "3");
                                  return "";
                                })
                  .ok());
  std::vector<std::string> keys;
  ASSERT_TRUE(store_
                  ->Scan("rm_test", "p/", "", 10,
                         [&](absl::string_view k, absl::string_view) {
                           keys.emplace_back(k);
                           return true;
                         })
                  .ok());
  EXPECT_EQ(keys, (std::vector<std::string>{"p/a", "p/b"}));
}

TEST_P(EventStoreContract, TxScanSeesCommittedStagedAndOwnWrites) {
  ASSERT_TRUE(store_
                  ->ExecuteSync(CommandMeta{},
                                [](Tx& tx) -> absl::StatusOr<std::string> {
                                  tx.Put("rm_test", "l/a", "1");
                                  tx.Put("rm_test", "l/c", "3");
                                  tx.Put("rm_test", "m/x", "9");
                                  return "";
                                })
                  .ok());
  // Commands queued back to back (decided in one batch, on top of each other's
  // staged writes); `done` counts the answers.
  std::atomic<int> done{0};
  auto submit = [&](Command command) {
    store_->Execute(CommandMeta{}, std::move(command),
                    [&](absl::StatusOr<CommandResult>) { done++; });
  };
  auto scan_into = [](Tx& tx, std::vector<std::string>& out) -> absl::StatusOr<std::string> {
    CHANNELOPS_RETURN_IF_ERROR(
        tx.Scan("rm_test", "l/", [&](absl::string_view k, absl::string_view v) {
          out.push_back(std::string(k) + "=" + std::string(v));
        }));
    return "";
  };
  // Staged by an earlier command of the same batch (not yet durable) and the
  // command's own writes, including a delete of a committed key.
  std::vector<std::string> seen;
  submit([](Tx& tx) -> absl::StatusOr<std::string> {
    tx.Put("rm_test", "l/b", "2");
    return "";
  });
  submit([&](Tx& tx) -> absl::StatusOr<std::string> {
    tx.Put("rm_test", "l/d", "4");
    tx.Delete("rm_test", "l/a");
    return scan_into(tx, seen);
  });
  // After the family's first scan: a failed command's staged key is taken
  // back, and a later command's is listed.
  submit([](Tx& tx) -> absl::StatusOr<std::string> {
    tx.Put("rm_test", "l/e", "5");
    return absl::FailedPreconditionError("refused after staging");
  });
  submit([](Tx& tx) -> absl::StatusOr<std::string> {
    tx.Put("rm_test", "l/f", "6");
    return "";
  });
  std::vector<std::string> later;
  submit([&](Tx& tx) { return scan_into(tx, later); });
  while (done.load() < 5) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_EQ(seen, (std::vector<std::string>{"l/b=2", "l/c=3", "l/d=4"}));
  EXPECT_EQ(later, (std::vector<std::string>{"l/b=2", "l/c=3", "l/d=4", "l/f=6"}));
}

TEST_P(EventStoreContract, ReopenKeepsEverything) {
  if (!GetParam()) GTEST_SKIP() << "in-memory store is not durable";
  ASSERT_TRUE(AppendOne("s-1", kNoStream, "a", "k1").ok());
  ASSERT_TRUE(AppendOne("s-1", 1, "b", "k2").ok());
  Reopen();
  EXPECT_EQ(store_->LastPosition(), 2u);
  auto retry = AppendOne("s-1", kAnyVersion, "zzz", "k2");
  ASSERT_TRUE(retry.ok());
  EXPECT_TRUE(retry->replayed);
  ASSERT_TRUE(AppendOne("s-1", 2, "c").ok());
  EXPECT_EQ(store_->LastPosition(), 3u);
}

// A point-lookup family's key filter answers the writer's misses without
// reading the store, and never hides a stored key: the keys stored before a
// reopen are loaded into it, a key deleted before the reopen stays absent, and
// one deleted after it reads as absent (the filter still says "maybe").
TEST_P(EventStoreContract, KeyFilterKnowsTheKeysStoredBeforeTheOpen) {
  if (!GetParam()) GTEST_SKIP() << "in-memory store is not durable";
  constexpr int kKeys = 3000;
  ASSERT_TRUE(Exec([&](Tx& tx) {
                for (int i = 0; i < kKeys; ++i) tx.Put("rm_test", absl::StrCat("k", i), "v");
                return absl::OkStatus();
              }).ok());
  ASSERT_TRUE(Exec([&](Tx& tx) {
                tx.Delete("rm_test", "k0");
                return absl::OkStatus();
              }).ok());
  prometheus::Registry registry;
  metrics_ = &registry;
  Reopen();
  for (int i = 0; i < 1000 && Metric("channelops_eventstore_key_filter_loaded") != 1; ++i)
    absl::SleepFor(absl::Milliseconds(10));
  ASSERT_EQ(Metric("channelops_eventstore_key_filter_loaded"), 1);
  int found = 0, absent = 0;
  ASSERT_TRUE(Exec([&](Tx& tx) -> absl::Status {
                for (int i = 0; i < kKeys; ++i) {
                  CHANNELOPS_ASSIGN_OR_RETURN(auto v, tx.Get("rm_test", absl::StrCat("k", i)));
                  found += v.has_value();
                  CHANNELOPS_ASSIGN_OR_RETURN(auto w, tx.Get("rm_test", absl::StrCat("x", i)));
                  absent += !w.has_value();
                }
                return absl::OkStatus();
              }).ok());
  EXPECT_EQ(found, kKeys - 1);  // all but k0
  EXPECT_EQ(absent, kKeys);
  // The filter answered (nearly) every miss; every stored key was read.
  EXPECT_GE(Metric("channelops_eventstore_key_filter_lookups_total", "absent"), 0.95 * kKeys);
  EXPECT_GE(Metric("channelops_eventstore_key_filter_lookups_total", "maybe"), kKeys - 1);
  EXPECT_EQ(Metric("channelops_eventstore_key_filter_lookups_total", "loading"), 0);
  ASSERT_TRUE(Exec([&](Tx& tx) {
                tx.Delete("rm_test", "k1");
                return absl::OkStatus();
              }).ok());
  ASSERT_TRUE(Exec([&](Tx& tx) -> absl::Status {
                CHANNELOPS_ASSIGN_OR_RETURN(auto v, tx.Get("rm_test", "k1"));
                EXPECT_FALSE(v.has_value());
                CHANNELOPS_ASSIGN_OR_RETURN(auto w, tx.Get("rm_test", "k2"));
                EXPECT_TRUE(w.has_value());
                return absl::OkStatus();
              }).ok());
  store_.reset();  // before the registry it counts into
  metrics_ = nullptr;
}

// The store's own stream heads and idempotency records are filtered too. After
// a reopen (heads cache empty, filters loaded from the files), a retried
// command is still answered from its record, and a stream's head still guards
// its expected version: a wrong "absent" would run the command twice or fork
// the stream.
TEST_P(EventStoreContract, StreamHeadsAndIdempotencyRecordsAreFilteredExactly) {
  if (!GetParam()) GTEST_SKIP() << "in-memory store is not durable";
  constexpr int kStreams = 500;
  for (int i = 0; i < kStreams; ++i) {
    ASSERT_TRUE(AppendOne(absl::StrCat("s-", i), kNoStream, "a", absl::StrCat("req-", i)).ok());
  }
  prometheus::Registry registry;
  metrics_ = &registry;
  Reopen();
  auto metric = [&](const std::string& name, const std::string& cf, const std::string& answer) {
    std::map<std::string, std::string> labels = {{"cf", cf}};
    if (!answer.empty()) labels["answer"] = answer;
    return testing::MetricValue(registry, name, labels);
  };
  for (const char* cf : {"heads", "idempotency"}) {
    for (int i = 0; i < 1000 && metric("channelops_eventstore_key_filter_loaded", cf, "") != 1; ++i)
      absl::SleepFor(absl::Milliseconds(10));
    ASSERT_EQ(metric("channelops_eventstore_key_filter_loaded", cf, ""), 1) << cf;
  }
  for (int i = 0; i < kStreams; ++i) {
    const std::string stream = absl::StrCat("s-", i);
    auto retried = AppendOne(stream, kNoStream, "a", absl::StrCat("req-", i));
    ASSERT_TRUE(retried.ok()) << retried.status();
    EXPECT_TRUE(retried->replayed) << stream;
    EXPECT_EQ(AppendOne(stream, kNoStream, "b").status().code(), absl::StatusCode::kAborted)
        << stream;
    ASSERT_TRUE(AppendOne(stream, 1, "b", absl::StrCat("next-", i)).ok()) << stream;
  }
  // New keys were answered by the filters, stored ones read from the store.
  EXPECT_GE(metric("channelops_eventstore_key_filter_lookups_total", "idempotency", "absent"),
            0.95 * kStreams);
  EXPECT_GE(metric("channelops_eventstore_key_filter_lookups_total", "idempotency", "maybe"),
            kStreams);
  EXPECT_GE(metric("channelops_eventstore_key_filter_lookups_total", "heads", "maybe"), kStreams);
  for (int i = 0; i < kStreams; ++i) {
    auto evs = store_->ReadStream(absl::StrCat("s-", i), 1, 10);
    ASSERT_TRUE(evs.ok());
    EXPECT_EQ(evs->size(), 2u);
  }
  store_.reset();  // before the registry it counts into
  metrics_ = nullptr;
}

TEST_P(EventStoreContract, ClosedStoreCancels) {
  store_->Close();
  auto r = AppendOne("s", kAnyVersion, "x");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kCancelled);
}

TEST_P(EventStoreContract, PruneIdempotencyRemovesOldRecords) {
  ASSERT_TRUE(AppendOne("s", kAnyVersion, "x", "old").ok());
  auto n = store_->PruneIdempotency(absl::Now() + absl::Hours(24 * 8));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 1u);
  auto again = AppendOne("s", kAnyVersion, "x", "old");
  EXPECT_FALSE(again->replayed);
}

// Records are pruned by the time index: exactly those older than the
// retention (7 days) at the prune, in pages; a key reused after its record
// expired keeps the new record until that one expires.
TEST_P(EventStoreContract, PruneIdempotencyRemovesExactlyTheExpiredRecords) {
  core::FakeClock clock;
  OpenOnClock(clock);
  const absl::Time t0 = clock.Now();
  // A new store: the first prune finds nothing and marks it indexed, so every
  // record below is found through the index entry its command wrote.
  auto empty = store_->PruneIdempotency(t0);
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(*empty, 0u);
  for (int i = 0; i < 10'000; ++i) {
    ASSERT_TRUE(AppendOne("s", kAnyVersion, "x", absl::StrCat("a", i)).ok());
  }
  clock.Set(t0 + absl::Hours(24 * 3));
  ASSERT_TRUE(AppendOne("s", kAnyVersion, "x", "b").ok());

  auto none = store_->PruneIdempotency(t0 + absl::Hours(24 * 7) - absl::Seconds(1));
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(*none, 0u);
  auto first = store_->PruneIdempotency(t0 + absl::Hours(24 * 7) + absl::Hours(1));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(*first, 10'000u);
  auto again = store_->PruneIdempotency(t0 + absl::Hours(24 * 7) + absl::Hours(1));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, 0u);
  auto b = AppendOne("s", kAnyVersion, "y", "b");
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(b->replayed) << "b is 4 days old: kept";

  clock.Set(t0 + absl::Hours(24 * 7) + absl::Hours(2));
  auto reused = AppendOne("s", kAnyVersion, "y", "a7");
  ASSERT_TRUE(reused.ok());
  EXPECT_FALSE(reused->replayed) << "a7 expired and was pruned";
  auto later = store_->PruneIdempotency(t0 + absl::Hours(24 * 10) + absl::Hours(3));
  ASSERT_TRUE(later.ok());
  EXPECT_EQ(*later, 1u) << "b only";
  auto a7 = AppendOne("s", kAnyVersion, "z", "a7");
  ASSERT_TRUE(a7.ok());
  EXPECT_TRUE(a7->replayed) << "the reused a7 is 3 days old: kept";
  EXPECT_EQ(a7->response, "ok:y");
}

// The first prune of a store visits every record (the indexing pass for stores
// written before the time index), writing in pages of 4,096: more records
// than a page, some expired, some kept.
TEST_P(EventStoreContract, FirstPruneVisitsEveryRecordInPages) {
  core::FakeClock clock;
  OpenOnClock(clock);
  const absl::Time t0 = clock.Now();
  for (int i = 0; i < 6'000; ++i) {
    ASSERT_TRUE(AppendOne("s", kAnyVersion, "x", absl::StrCat("old", i)).ok());
  }
  clock.Set(t0 + absl::Hours(24 * 5));
  for (int i = 0; i < 5'000; ++i) {
    ASSERT_TRUE(AppendOne("s", kAnyVersion, "x", absl::StrCat("new", i)).ok());
  }
  auto first = store_->PruneIdempotency(t0 + absl::Hours(24 * 8));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(*first, 6'000u);
  auto again = store_->PruneIdempotency(t0 + absl::Hours(24 * 8));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, 0u);
  auto kept = AppendOne("s", kAnyVersion, "y", "new4999");
  ASSERT_TRUE(kept.ok());
  EXPECT_TRUE(kept->replayed);
  auto gone = AppendOne("s", kAnyVersion, "y", "old0");
  ASSERT_TRUE(gone.ok());
  EXPECT_FALSE(gone->replayed);
  auto later = store_->PruneIdempotency(t0 + absl::Hours(24 * 13));
  ASSERT_TRUE(later.ok()) << later.status();
  // The 5,000 new records and old0 written again at day 5, found through the
  // index the first prune marked.
  EXPECT_EQ(*later, 5'001u);
}

TEST_P(EventStoreContract, IdempotencyKeysMayNotBeginWithNul) {
  auto r = AppendOne("s", kAnyVersion, "x", std::string("\0t-key", 6));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->LastPosition(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Stores, EventStoreContract, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "RocksDb" : "InMemory"; });

}  // namespace
}  // namespace channelops::eventstore
