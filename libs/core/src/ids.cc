#include "channelops/core/ids.h"

#include <cstdint>
#include <random>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace channelops::core {
namespace {

struct Generator {
  absl::Mutex mu;
  std::mt19937_64 rng ABSL_GUARDED_BY(mu){std::random_device{}()};
  uint64_t last_ms ABSL_GUARDED_BY(mu) = 0;
  uint16_t seq ABSL_GUARDED_BY(mu) = 0;  // 12-bit rand_a used as a monotonic counter
};

Generator& Gen() {
  static Generator* g = new Generator();
  return *g;
}

}  // namespace

std::string NewUuidV7(absl::Time now) {
  Generator& g = Gen();
  uint64_t ms = static_cast<uint64_t>(absl::ToUnixMillis(now));
  uint64_t rand_b;
  uint16_t seq;
  {
    absl::MutexLock l(&g.mu);
    if (ms <= g.last_ms) {
      ms = g.last_ms;
      if (++g.seq > 0x0fff) {  // counter exhausted: borrow the next millisecond
        ++ms;
        g.seq = 0;
      }
    } else {
      g.seq = static_cast<uint16_t>(g.rng() & 0x07ff);  // leave headroom for the counter
    }
    g.last_ms = ms;
    seq = g.seq;
    rand_b = g.rng();
  }
  uint8_t b[16];
  for (int i = 0; i < 6; ++i) b[i] = static_cast<uint8_t>(ms >> (40 - 8 * i));
  b[6] = static_cast<uint8_t>(0x70 | ((seq >> 8) & 0x0f));
  b[7] = static_cast<uint8_t>(seq & 0xff);
  for (int i = 0; i < 8; ++i) b[8 + i] = static_cast<uint8_t>(rand_b >> (56 - 8 * i));
  b[8] = static_cast<uint8_t>((b[8] & 0x3f) | 0x80);  // RFC 9562 variant
  static const char* kHex = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(kHex[b[i] >> 4]);
    out.push_back(kHex[b[i] & 0x0f]);
  }
  return out;
}

std::string NewUuidV7() { return NewUuidV7(absl::Now()); }

bool IsUuid(const std::string& s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
      return false;
    }
  }
  return true;
}

}  // namespace channelops::core
