// The projector's read-model cache (state_cache.h) over a real store: reads
// see the command's own unstaged writes (point reads and list scans), Flush
// stages them in the command, and the cache is dropped when the store threw
// decided state away (a failed command) or is another store.

#include "projections/state_cache.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "channelops/testing/temp_dir.h"
#include "google/protobuf/wrappers.pb.h"
#include "gtest/gtest.h"

namespace channelops::projections {
namespace {

using google::protobuf::StringValue;

std::unique_ptr<eventstore::EventStore> OpenStore(const std::string& path) {
  eventstore::Options o;
  o.path = path;
  o.source = "channelops/state_cache_test";
  o.read_model_cfs = {"rm_a", "rm_b"};
  auto s = path.empty() ? eventstore::EventStore::OpenInMemory(o) : eventstore::EventStore::Open(o);
  EXPECT_TRUE(s.ok()) << s.status();
  return std::move(*s);
}

std::vector<std::string> ScanKeys(eventstore::Tx& tx, const std::string& cf,
                                  const std::string& prefix) {
  std::vector<std::string> keys;
  EXPECT_TRUE(tx.Scan(cf, prefix, [&](absl::string_view k, absl::string_view) {
                  keys.emplace_back(k);
                }).ok());
  return keys;
}

std::optional<std::string> Committed(eventstore::EventStore& store, const std::string& cf,
                                     const std::string& key) {
  auto v = store.Get(cf, key);
  EXPECT_TRUE(v.ok()) << v.status();
  return v.ok() ? *v : std::nullopt;
}

TEST(StateCacheTest, WritesAreReadBackAndStagedOnceAtFlush) {
  auto store = OpenStore("");
  StateCache cache;
  auto r = store->ExecuteSync({}, [&](eventstore::Tx& raw) -> absl::StatusOr<std::string> {
    CachedTx tx(raw, cache);
    tx.Put("rm_a", std::string("list\0b", 6), "");
    EXPECT_EQ(ScanKeys(tx, "rm_a", std::string("list\0", 5)),
              std::vector<std::string>({std::string("list\0b", 6)}));
    // Written after the list was scanned (and cached): the scan sees it.
    tx.Put("rm_a", std::string("list\0a", 6), "");
    EXPECT_EQ(ScanKeys(tx, "rm_a", std::string("list\0", 5)),
              std::vector<std::string>({std::string("list\0a", 6), std::string("list\0b", 6)}));
    StringValue v;
    v.set_value("one");
    tx.PutMessage("rm_a", "msg", std::make_shared<StringValue>(v));
    v.set_value("two");
    tx.PutMessage("rm_a", "msg", std::make_shared<StringValue>(v));
    auto parsed = tx.GetParsed<StringValue>("rm_a", "msg");
    EXPECT_TRUE(parsed.ok() && *parsed && (*parsed)->value() == "two");
    auto raw_msg = tx.Get("rm_a", "msg");
    EXPECT_TRUE(raw_msg.ok() && raw_msg->has_value());
    // Nothing staged yet: the command's Tx does not see the writes.
    EXPECT_FALSE(raw.Get("rm_a", "msg")->has_value());
    tx.Delete("rm_a", std::string("list\0b", 6));
    tx.Flush();
    EXPECT_TRUE(raw.Get("rm_a", "msg")->has_value());
    return std::string();
  });
  ASSERT_TRUE(r.ok()) << r.status();
  StringValue committed;
  ASSERT_TRUE(committed.ParseFromString(*Committed(*store, "rm_a", "msg")));
  EXPECT_EQ(committed.value(), "two");
  EXPECT_TRUE(Committed(*store, "rm_a", std::string("list\0a", 6)).has_value());
  EXPECT_FALSE(Committed(*store, "rm_a", std::string("list\0b", 6)).has_value());
  // The next command reads the cached state (a hit, no read through).
  const uint64_t misses = cache.stats().misses;
  r = store->ExecuteSync({}, [&](eventstore::Tx& raw) -> absl::StatusOr<std::string> {
    CachedTx tx(raw, cache);
    auto v = tx.GetParsed<StringValue>("rm_a", "msg");
    EXPECT_TRUE(v.ok() && *v && (*v)->value() == "two");
    return std::string();
  });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(cache.stats().misses, misses);
}

TEST(StateCacheTest, AFailedCommandDropsTheCacheWithItsWrites) {
  auto store = OpenStore("");
  StateCache cache;
  auto put = [&](const std::string& value, bool fail) {
    return store->ExecuteSync({}, [&](eventstore::Tx& raw) -> absl::StatusOr<std::string> {
      CachedTx tx(raw, cache);
      tx.Put("rm_a", "k", value);
      if (fail) return absl::UnavailableError("disk");
      tx.Flush();
      return std::string();
    });
  };
  ASSERT_TRUE(put("1", false).ok());
  ASSERT_FALSE(put("2", true).ok());  // cached "2", then thrown away by the store
  auto r = store->ExecuteSync({}, [&](eventstore::Tx& raw) -> absl::StatusOr<std::string> {
    CachedTx tx(raw, cache);
    auto v = tx.Get("rm_a", "k");
    EXPECT_TRUE(v.ok() && *v == std::optional<std::string>("1"));
    tx.Flush();
    return std::string();
  });
  ASSERT_TRUE(r.ok());
  EXPECT_GE(cache.stats().drops, 1u);
}

TEST(StateCacheTest, AnotherStoreOrTheSameOneReopenedStartsCold) {
  testing::TempDir dir;
  StateCache cache;
  auto write = [&](eventstore::EventStore& store, const std::string& value) {
    ASSERT_TRUE(store
                    .ExecuteSync({},
                                 [&](eventstore::Tx& raw) -> absl::StatusOr<std::string> {
                                   CachedTx tx(raw, cache);
                                   tx.Put("rm_b", "k", value);
                                   tx.Flush();
                                   return std::string();
                                 })
                    .ok());
  };
  auto read = [&](eventstore::EventStore& store) {
    std::optional<std::string> out;
    EXPECT_TRUE(store
                    .ExecuteSync({},
                                 [&](eventstore::Tx& raw) -> absl::StatusOr<std::string> {
                                   CachedTx tx(raw, cache);
                                   auto v = tx.Get("rm_b", "k");
                                   if (v.ok()) out = *v;
                                   return std::string();
                                 })
                    .ok());
    return out;
  };
  auto a = OpenStore(dir.Path("a"));
  write(*a, "in a");
  a->Close();
  auto b = OpenStore(dir.Path("b"));
  EXPECT_EQ(read(*b), std::nullopt);  // not a's cached value
  b->Close();
  auto a2 = OpenStore(dir.Path("a"));
  EXPECT_EQ(read(*a2), std::optional<std::string>("in a"));
  a2->Close();
}

TEST(StateCacheTest, GenerationsTurnOverAtTheByteBoundAndEvictedRecordsReadThrough) {
  auto store = OpenStore("");
  StateCache cache({}, /*max_entries=*/1000000, /*max_bytes=*/8 << 10);
  const std::string value(100, 'v');
  for (int i = 0; i < 500; ++i) {
    auto r = store->ExecuteSync({}, [&](eventstore::Tx& raw) -> absl::StatusOr<std::string> {
      CachedTx tx(raw, cache);
      tx.Put("rm_a", absl::StrCat("k", i), value + std::to_string(i));
      tx.Flush();
      return std::string();
    });
    ASSERT_TRUE(r.ok()) << r.status();
    // Two generations of about 8 KiB, plus one command's writes.
    EXPECT_LE(cache.stats().bytes, 2 * (8 << 10) + 1024) << i;
  }
  EXPECT_GT(cache.stats().drops, 10u);
  auto r = store->ExecuteSync({}, [&](eventstore::Tx& raw) -> absl::StatusOr<std::string> {
    CachedTx tx(raw, cache);
    for (int i = 0; i < 500; ++i) {
      auto v = tx.Get("rm_a", absl::StrCat("k", i));
      EXPECT_TRUE(v.ok() && *v == std::optional<std::string>(value + std::to_string(i))) << i;
    }
    return std::string();
  });
  ASSERT_TRUE(r.ok());
}

// A record changed in every command (a statement many sales add to) is counted
// once, at its current size: replacing, mutating, parsing and re-serializing it
// does not add up, so it does not turn the generations over by itself.
TEST(StateCacheTest, ARecordRewrittenInEveryCommandIsCountedOnceAtItsCurrentSize) {
  auto store = OpenStore("");
  StateCache cache({}, /*max_entries=*/1000000, /*max_bytes=*/64 << 10);
  for (int i = 0; i < 300; ++i) {
    auto r = store->ExecuteSync({}, [&](eventstore::Tx& raw) -> absl::StatusOr<std::string> {
      CachedTx tx(raw, cache);
      auto m = tx.Mutable<StringValue>("rm_a", "statement");
      if (!m.ok()) return m.status();
      (*m)->set_value(std::string(1000, 'x'));  // grows to 1000 bytes, then stays
      tx.Put("rm_a", "total", absl::StrCat(i));
      auto again = tx.GetParsed<StringValue>("rm_a", "statement");  // read back, parsed
      if (!again.ok()) return again.status();
      tx.Flush();
      return std::string();
    });
    ASSERT_TRUE(r.ok()) << r.status();
  }
  const StateCacheStats st = cache.stats();
  EXPECT_EQ(st.drops, 0u) << "two records never fill 64 KiB";
  // "statement": key + 1002 bytes + 3x parsed + slot; "total": a few bytes + slot.
  EXPECT_GT(st.bytes, 4000u);
  EXPECT_LT(st.bytes, 4500u);
}

TEST(StateCacheTest, UncachedFamiliesGoStraightThrough) {
  auto store = OpenStore("");
  StateCache cache({"rm_b"});
  auto r = store->ExecuteSync({}, [&](eventstore::Tx& raw) -> absl::StatusOr<std::string> {
    CachedTx tx(raw, cache);
    tx.Put("rm_b", "k", "v");
    EXPECT_TRUE(raw.Get("rm_b", "k")->has_value());  // staged at once
    return std::string();
  });
  ASSERT_TRUE(r.ok());
  // Changed behind the cache's back: still read right.
  ASSERT_TRUE(store
                  ->ExecuteSync({},
                                [](eventstore::Tx& tx) -> absl::StatusOr<std::string> {
                                  tx.Put("rm_b", "k", "w");
                                  return std::string();
                                })
                  .ok());
  r = store->ExecuteSync({}, [&](eventstore::Tx& raw) -> absl::StatusOr<std::string> {
    CachedTx tx(raw, cache);
    EXPECT_EQ(*tx.Get("rm_b", "k"), std::optional<std::string>("w"));
    return std::string();
  });
  ASSERT_TRUE(r.ok());
}

}  // namespace
}  // namespace channelops::projections
