// The event store's key filter (src/key_filter.h): no false negatives, ever,
// also while it grows and while a loader adds keys concurrently; about 1%
// false positives at capacity.
#include "key_filter.h"

#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace channelops::eventstore {
namespace {

double FalsePositiveRate(const KeyFilter& f, int probes) {
  int hits = 0;
  for (int i = 0; i < probes; ++i) hits += f.MayContain(absl::StrCat("absent/", i));
  return static_cast<double>(hits) / probes;
}

TEST(KeyFilterTest, AnEmptyFilterContainsNothing) {
  KeyFilter f(1 << 16);
  EXPECT_EQ(FalsePositiveRate(f, 10'000), 0);
  EXPECT_FALSE(f.MayContain(""));
}

TEST(KeyFilterTest, AboutOnePercentFalsePositivesAtCapacity) {
  constexpr int kKeys = 100'000;
  KeyFilter f(kKeys);
  f.LoadDone();  // nothing to load: the writer alone
  for (int i = 0; i < kKeys; ++i) f.Add(absl::StrCat("partner/INV-", i, "/1"));
  for (int i = 0; i < kKeys; ++i) ASSERT_TRUE(f.MayContain(absl::StrCat("partner/INV-", i, "/1")));
  EXPECT_EQ(f.layers(), 1);
  const double fp = FalsePositiveRate(f, 100'000);
  EXPECT_LT(fp, 0.02);
  EXPECT_GT(fp, 0.001);  // a filter of this size cannot do much better: the probe is real
  EXPECT_EQ(f.bytes(), (uint64_t{kKeys} * KeyFilter::kBitsPerKey + 511) / 512 * 64);
}

TEST(KeyFilterTest, GrowsByLayersWithoutLosingKeys) {
  KeyFilter f(1024);                // the smallest
  constexpr int kKeys = 31 * 1024;  // layers of 1, 2, 4, 8 and 16 Ki keys
  for (int i = 0; i < kKeys; ++i) f.Add(absl::StrCat("k", i));
  EXPECT_EQ(f.layers(), 5);
  for (int i = 0; i < kKeys; ++i) ASSERT_TRUE(f.MayContain(absl::StrCat("k", i))) << i;
  // Each full layer adds its ~1%.
  EXPECT_LT(FalsePositiveRate(f, 100'000), 0.07);
}

TEST(KeyFilterTest, KeysAddedWhileLoadingAreAllFound) {
  KeyFilter f(150'000);  // the writer's keys go to the loader's layer at first
  constexpr int kKeys = 100'000;
  std::thread loader([&] {
    for (int i = 0; i < kKeys; ++i) f.AddLoaded(absl::StrCat("stored/", i));
  });
  for (int i = 0; i < kKeys; ++i) f.Add(absl::StrCat("new/", i));  // grows meanwhile
  loader.join();
  f.LoadDone();
  for (int i = 0; i < kKeys; ++i) f.Add(absl::StrCat("later/", i));
  EXPECT_GT(f.layers(), 1);
  for (int i = 0; i < kKeys; ++i) {
    ASSERT_TRUE(f.MayContain(absl::StrCat("stored/", i))) << i;
    ASSERT_TRUE(f.MayContain(absl::StrCat("new/", i))) << i;
    ASSERT_TRUE(f.MayContain(absl::StrCat("later/", i))) << i;
  }
}

}  // namespace
}  // namespace channelops::eventstore
