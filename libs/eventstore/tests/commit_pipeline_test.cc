// The two-stage commit pipeline (write, then one fsync for every batch written
// since the last): what readers see before the fsync, what a failed fsync does.
// The RocksDB backend is wrapped so a test can hold or fail its WAL syncs.
#include <atomic>
#include <filesystem>
#include <thread>

#include "../src/backend.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "channelops/eventstore/event_store.h"
#include "google/protobuf/wrappers.pb.h"
#include "gtest/gtest.h"

namespace channelops::eventstore {
namespace {

namespace fs = std::filesystem;

// Forwards to RocksDB; SyncWal can be held until released, or fail.
class ControlledBackend final : public Backend {
 public:
  struct Control {
    absl::Mutex mu;
    bool hold ABSL_GUARDED_BY(mu) = false;
    int syncs_waiting ABSL_GUARDED_BY(mu) = 0;
    std::atomic<bool> fail_sync{false};
    std::atomic<bool> fail_flush{false};
    std::atomic<int> flushes{0};
  };
  ControlledBackend(std::unique_ptr<Backend> inner, Control* c) : inner_(std::move(inner)), c_(c) {}

  absl::StatusOr<std::optional<std::string>> Get(int cf, absl::string_view key,
                                                 const void* view) const override {
    return inner_->Get(cf, key, view);
  }
  absl::Status Write(const std::vector<WriteOp>& ops, bool sync) override {
    return inner_->Write(ops, sync);
  }
  absl::Status SyncWal() override {
    {
      absl::MutexLock l(&c_->mu);
      ++c_->syncs_waiting;
      c_->mu.Await(absl::Condition(
          +[](Control* c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(c->mu) { return !c->hold; }, c_));
      --c_->syncs_waiting;
    }
    if (c_->fail_sync) return absl::UnavailableError("injected: fsync failed (EIO)");
    return inner_->SyncWal();
  }
  absl::Status FlushMemtables() override {
    ++c_->flushes;
    if (c_->fail_flush) return absl::UnavailableError("injected: flush failed (EIO)");
    return inner_->FlushMemtables();
  }
  absl::Status Recover() override { return inner_->Recover(); }
  absl::Status SyncWalFilesDirectly() override { return inner_->SyncWalFilesDirectly(); }
  View PinView() override { return inner_->PinView(); }
  absl::Status Scan(int cf, absl::string_view prefix, absl::string_view start, size_t limit,
                    const std::function<bool(absl::string_view, absl::string_view)>& fn,
                    const void* view) const override {
    return inner_->Scan(cf, prefix, start, limit, fn, view);
  }
  absl::StatusOr<std::optional<std::string>> LastKey(int cf) const override {
    return inner_->LastKey(cf);
  }
  void Close() override { inner_->Close(); }

 private:
  std::unique_ptr<Backend> inner_;
  Control* c_;
};

google::protobuf::StringValue Str(const std::string& s) {
  google::protobuf::StringValue v;
  v.set_value(s);
  return v;
}

class CommitPipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static int counter = 0;
    dir_ = fs::temp_directory_path() /
           ("es_pipeline_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(dir_);
    options_.path = dir_.string();
    options_.source = "channelops/test";
    options_.read_model_cfs = {"rm_test"};
  }
  void TearDown() override {
    if (store_) store_->Close();
    store_.reset();
    fs::remove_all(dir_);
  }
  void OpenControlled() {
    auto cfs = ColumnFamilies(options_);
    ASSERT_TRUE(cfs.ok()) << cfs.status();
    auto inner = OpenRocksDbBackend(options_, *cfs);
    ASSERT_TRUE(inner.ok()) << inner.status();
    auto s =
        OpenOnBackend(options_, std::make_unique<ControlledBackend>(std::move(*inner), &control_));
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = std::move(*s);
  }
  void OpenPlain() {
    auto s = EventStore::Open(options_);
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = std::move(*s);
  }
  void Hold(bool on) {
    absl::MutexLock l(&control_.mu);
    control_.hold = on;
  }
  void AwaitSyncWaiting() {
    absl::MutexLock l(&control_.mu);
    control_.mu.Await(absl::Condition(
        +[](ControlledBackend::Control* c)
             ABSL_EXCLUSIVE_LOCKS_REQUIRED(c->mu) { return c->syncs_waiting > 0; },
        &control_));
  }
  // Appends `value` to stream `stream` and puts it under rm_test/`stream`;
  // answers what the command read under rm_test/`read_key` (decision state).
  void Submit(const std::string& stream, const std::string& value, const std::string& read_key,
              absl::StatusOr<CommandResult>* out, absl::Notification* done) {
    CommandMeta meta;
    meta.request_id = "req-" + stream;
    meta.idempotency_key = "idem-" + stream;
    meta.actor = "tester";
    store_->Execute(
        meta,
        [=](Tx& tx) -> absl::StatusOr<std::string> {
          auto seen = tx.Get("rm_test", read_key);
          if (!seen.ok()) return seen.status();
          std::vector<NewEvent> evs;
          evs.push_back(NewEvent::Of(Str(value)));
          auto pos = tx.Append(stream, kNoStream, std::move(evs));
          if (!pos.ok()) return pos.status();
          tx.Put("rm_test", stream, value);
          return seen->value_or("<none>");
        },
        [out, done](absl::StatusOr<CommandResult> r) {
          *out = std::move(r);
          done->Notify();
        });
  }

  fs::path dir_;
  Options options_;
  ControlledBackend::Control control_;
  std::unique_ptr<EventStore> store_;
};

// Between the write and its fsync a batch is in the store: the next command's
// decision sees it, but no reader does, and nobody is answered.
TEST_F(CommitPipelineTest, ReadersAndAnswersWaitForTheSyncDecisionsDoNot) {
  OpenControlled();
  Hold(true);
  absl::StatusOr<CommandResult> first = absl::UnknownError("unset");
  absl::StatusOr<CommandResult> second = absl::UnknownError("unset");
  absl::Notification first_done, second_done;
  Submit("a", "alpha", "nothing", &first, &first_done);
  AwaitSyncWaiting();  // batch 1 written, its fsync held
  Submit("b", "beta", "a", &second, &second_done);
  // Batch 2 is written behind batch 1 (the committer does not wait for the
  // sync); its decision read batch 1's unsynced state.
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_FALSE(first_done.HasBeenNotified());
  EXPECT_FALSE(second_done.HasBeenNotified());
  EXPECT_EQ(store_->LastPosition(), 0u);
  auto got = store_->Get("rm_test", "a");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_FALSE(got->has_value()) << "a reader saw a write that is not durable yet";
  auto stream = store_->ReadStream("a", 1, 10);
  ASSERT_TRUE(stream.ok()) << stream.status();
  EXPECT_TRUE(stream->empty());
  auto all = store_->ReadAll(1, 10);
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_TRUE(all->empty());
  size_t scanned = 0;
  ASSERT_TRUE(store_
                  ->Scan("rm_test", "", "", 10,
                         [&](absl::string_view, absl::string_view) {
                           ++scanned;
                           return true;
                         })
                  .ok());
  EXPECT_EQ(scanned, 0u);

  Hold(false);
  ASSERT_TRUE(first_done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  ASSERT_TRUE(second_done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(first->response, "<none>");
  EXPECT_EQ(second->response, "alpha");  // decided on batch 1 before its fsync
  EXPECT_EQ(store_->LastPosition(), 2u);
  got = store_->Get("rm_test", "b");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->value_or(""), "beta");
  all = store_->ReadAll(1, 10);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].stream_id(), "a");
  EXPECT_EQ((*all)[1].stream_id(), "b");
}

// A replay of a command whose original is written but not synced is answered
// only after that sync: never an answer for a fact that could still be lost.
TEST_F(CommitPipelineTest, ReplayWaitsForTheOriginalsSync) {
  OpenControlled();
  Hold(true);
  absl::StatusOr<CommandResult> first = absl::UnknownError("unset");
  absl::StatusOr<CommandResult> retry = absl::UnknownError("unset");
  absl::Notification first_done, retry_done;
  Submit("a", "alpha", "nothing", &first, &first_done);
  AwaitSyncWaiting();
  Submit("a", "alpha", "nothing", &retry, &retry_done);  // same idempotency key
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_FALSE(retry_done.HasBeenNotified()) << "replay answered before the original was durable";
  Hold(false);
  ASSERT_TRUE(first_done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  ASSERT_TRUE(retry_done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  ASSERT_TRUE(first.ok() && retry.ok());
  EXPECT_FALSE(first->replayed);
  EXPECT_TRUE(retry->replayed);
  EXPECT_EQ(store_->LastPosition(), 1u);
}

// A failed WAL fsync is not retried (Linux may have dropped the pages): the
// memtables go to fsynced table files instead, and the answer is given only
// after that. The fact survives a reopen.
TEST_F(CommitPipelineTest, FailedSyncFallsBackToFlushingTheMemtables) {
  OpenControlled();
  control_.fail_sync = true;
  absl::StatusOr<CommandResult> r = absl::UnknownError("unset");
  absl::Notification done;
  Submit("a", "alpha", "nothing", &r, &done);
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_GE(control_.flushes.load(), 1);
  store_->Close();
  store_.reset();
  OpenPlain();
  auto got = store_->Get("rm_test", "a");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->value_or(""), "alpha");
  EXPECT_EQ(store_->LastPosition(), 1u);
}

// Both the fsync and the flush failed: the process stops before anyone hears
// back (crash recovery then replays what reached the WAL).
TEST_F(CommitPipelineTest, FailedSyncAndFailedFlushStopTheProcessUnanswered) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        OpenControlled();
        control_.fail_sync = true;
        control_.fail_flush = true;
        absl::StatusOr<CommandResult> r = absl::UnknownError("unset");
        absl::Notification done;
        Submit("a", "alpha", "nothing", &r, &done);
        if (done.WaitForNotificationWithTimeout(absl::Seconds(10))) {
          fprintf(stderr, "answered: %s\n", r.ok() ? "ok" : r.status().ToString().c_str());
          std::_Exit(0);  // answered: not the death expected
        }
      },
      "WAL sync failed .* flushing the memtables failed");
}

}  // namespace
}  // namespace channelops::eventstore
