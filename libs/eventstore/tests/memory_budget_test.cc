// The store's memory budget (Options::memtable_budget_bytes, block_cache_bytes):
// memtables fill with data, not with RocksDB's allocation granularity. With
// RocksDB's default arena blocks (1 MiB here: min(1 MiB, write_buffer_size / 8)),
// a few touched column families looked like a full 4 MiB budget and nearly every
// write flushed a tiny table file (the soak found 1,240 of them after five
// minutes, docs/RELIABILITY.md).
#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "channelops/eventstore/event_store.h"
#include "google/protobuf/wrappers.pb.h"
#include "gtest/gtest.h"

namespace channelops::eventstore {
namespace {

namespace fs = std::filesystem;

class MemoryBudgetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           absl::StrCat("channelops_memory_budget_", ::getpid(), "_",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  size_t TableFiles() const {
    size_t n = 0;
    for (const auto& e : fs::directory_iterator(dir_)) n += e.path().extension() == ".sst";
    return n;
  }

  fs::path dir_;
};

TEST_F(MemoryBudgetTest, WritesToManyFamiliesStayInTheMemtables) {
  Options o;
  o.path = dir_.string();
  o.read_model_cfs = {"rm_a", "rm_b", "rm_c", "rm_d", "rm_e", "rm_f"};
  o.memtable_budget_bytes = 4 << 20;  // as the soak runs it
  auto store = EventStore::Open(o);
  ASSERT_TRUE(store.ok()) << store.status();
  google::protobuf::StringValue payload;
  payload.set_value(std::string(200, 'p'));
  // 300 commands x 7 writes of ~250 bytes: about 0.5 MiB, an eighth of the budget.
  for (int i = 0; i < 300; ++i) {
    auto r = (*store)->ExecuteSync(CommandMeta{}, [&](Tx& tx) -> absl::StatusOr<std::string> {
      for (const std::string& cf : o.read_model_cfs) {
        tx.Put(cf, absl::StrCat("key-", i), std::string(200, 'v'));
      }
      auto appended = tx.Append(absl::StrCat("stream-", i % 10), kAnyVersion,
                                {NewEvent::Of(payload)});
      if (!appended.ok()) return appended.status();
      return std::string();
    });
    ASSERT_TRUE(r.ok()) << r.status();
  }
  // Nothing needed flushing (with RocksDB's default 1 MiB arena blocks these 300
  // commands left 33 table files).
  EXPECT_LE(TableFiles(), 2u) << TableFiles();
  (*store)->Close();
}

TEST_F(MemoryBudgetTest, BudgetsBelowOneMiBAreRefused) {
  Options o;
  o.path = dir_.string();
  o.memtable_budget_bytes = 512 << 10;
  auto small_memtables = EventStore::Open(o);
  ASSERT_FALSE(small_memtables.ok());
  EXPECT_EQ(small_memtables.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(small_memtables.status().message().find("memtable_budget_bytes"), std::string::npos);
  o.memtable_budget_bytes = 32 << 20;
  o.block_cache_bytes = 0;
  auto no_cache = EventStore::Open(o);
  ASSERT_FALSE(no_cache.ok());
  EXPECT_NE(no_cache.status().message().find("block_cache_bytes"), std::string::npos);
}

}  // namespace
}  // namespace channelops::eventstore
