#pragma once

// An in-process membership filter over the keys of one column family: a
// blocked Bloom filter (every key's bits in one 64-byte block, so a lookup
// touches one cache line) that grows by adding layers.
//
// Why: a point-lookup read model (Options::point_lookup_cfs, e.g. POS's
// duplicate-line index) is read for keys that almost never exist. RocksDB
// answers such a miss from its own filters, but only after the whole Get path:
// the memtables, then each level-0 file's filter and one filter per deeper
// level. bench_pos spent ~30% of the store's writer thread there. One probe of
// this filter answers the same miss; a "maybe" (a real hit, or ~1% false
// positives) still reads the store.
//
// Never a false negative: every key written is added (by the store's writer,
// before the write reaches the engine), and the keys already stored at open
// are added by a loader. Deleted keys stay in (a false positive: one wasted
// read). Thread-safe: Add/AddLoaded/MayContain may run concurrently (bits are
// set with atomic OR while the loader runs); only one thread calls Add (it
// alone adds layers), and only one AddLoaded, then LoadDone.

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>

#include "absl/hash/hash.h"
#include "absl/strings/string_view.h"

namespace channelops::eventstore {

class KeyFilter {
 public:
  static constexpr uint64_t kBitsPerKey = 10;  // ~1% false positives at capacity
  static constexpr int kProbes = 6;
  static constexpr int kMaxLayers = 40;

  // `capacity`: keys the first layer holds at ~1% false positives. Each
  // further layer holds twice the previous one.
  explicit KeyFilter(uint64_t capacity) { AddLayer(capacity < 1024 ? 1024 : capacity); }

  // Adds a newly written key (one thread only: the store's writer). Opens a
  // larger layer when the newest one is at capacity.
  void Add(absl::string_view key) {
    int n = layers_used_.load(std::memory_order_relaxed);
    Layer* l = layers_[n - 1].get();
    if (l->added.load(std::memory_order_relaxed) >= l->capacity && n < kMaxLayers) {
      AddLayer(l->capacity * 2);
      l = layers_[n].get();
      ++n;
    }
    // Alone in the layer (plain read-modify-writes) unless the loader may
    // still be adding to it.
    const bool shared = n == 1 && !loaded_.load(std::memory_order_acquire);
    l->Set(Hash(key), shared);
  }

  // Adds a key found in the store at open (the loader), into the first layer,
  // which was sized for them. Then LoadDone().
  void AddLoaded(absl::string_view key) { layers_[0]->Set(Hash(key), /*shared=*/true); }
  void LoadDone() { loaded_.store(true, std::memory_order_release); }

  // false: the key was never added (so it is not in the store).
  bool MayContain(absl::string_view key) const {
    const uint64_t h = Hash(key);
    const int n = layers_used_.load(std::memory_order_acquire);
    for (int i = 0; i < n; ++i) {
      if (layers_[i]->Test(h)) return true;
    }
    return false;
  }

  uint64_t bytes() const { return bytes_.load(std::memory_order_relaxed); }
  int layers() const { return layers_used_.load(std::memory_order_acquire); }

 private:
  static uint64_t Hash(absl::string_view key) { return absl::HashOf(key); }

  struct Layer {
    explicit Layer(uint64_t cap)
        : capacity(cap),
          blocks((cap * kBitsPerKey + 511) / 512),
          words(new std::atomic<uint64_t>[blocks * 8]) {
      for (uint64_t i = 0; i < blocks * 8; ++i) words[i].store(0, std::memory_order_relaxed);
    }
    // The block from the high half of the hash (multiply-shift, no modulo);
    // the bits from the whole hash remixed (splitmix64's finalizer): 6 x 9 bits.
    std::atomic<uint64_t>* Block(uint64_t h) const {
      return &words[((h >> 32) * blocks >> 32) * 8];
    }
    static uint64_t Bits(uint64_t h) {
      h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9ull;
      h = (h ^ (h >> 27)) * 0x94D049BB133111EBull;
      return h ^ (h >> 31);
    }

    // `shared`: another thread may set bits of this layer at the same time
    // (atomic ORs); else plain loads and stores of the words.
    void Set(uint64_t h, bool shared) {
      std::atomic<uint64_t>* b = Block(h);
      uint64_t mask[8] = {};
      uint64_t bits = Bits(h);
      for (int i = 0; i < kProbes; ++i, bits >>= 9) {
        const unsigned bit = bits & 511;
        mask[bit >> 6] |= uint64_t{1} << (bit & 63);
      }
      for (int w = 0; w < 8; ++w) {
        if (mask[w] == 0) continue;
        if (shared) {
          b[w].fetch_or(mask[w], std::memory_order_relaxed);
        } else {
          b[w].store(b[w].load(std::memory_order_relaxed) | mask[w], std::memory_order_relaxed);
        }
      }
      if (shared) {
        added.fetch_add(1, std::memory_order_relaxed);
      } else {
        added.store(added.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      }
    }
    bool Test(uint64_t h) const {
      const std::atomic<uint64_t>* b = Block(h);
      uint64_t bits = Bits(h);
      for (int i = 0; i < kProbes; ++i, bits >>= 9) {
        const unsigned bit = bits & 511;
        if ((b[bit >> 6].load(std::memory_order_relaxed) & (uint64_t{1} << (bit & 63))) == 0)
          return false;
      }
      return true;
    }

    const uint64_t capacity;
    const uint64_t blocks;
    std::unique_ptr<std::atomic<uint64_t>[]> words;
    std::atomic<uint64_t> added{0};
  };

  void AddLayer(uint64_t capacity) {
    const int n = layers_used_.load(std::memory_order_relaxed);
    layers_[n] = std::make_unique<Layer>(capacity);
    bytes_.fetch_add(layers_[n]->blocks * 64, std::memory_order_relaxed);
    layers_used_.store(n + 1, std::memory_order_release);
  }

  std::array<std::unique_ptr<Layer>, kMaxLayers> layers_;
  std::atomic<int> layers_used_{0};
  std::atomic<bool> loaded_{false};  // the loader is done with layer 0
  std::atomic<uint64_t> bytes_{0};
};

}  // namespace channelops::eventstore
