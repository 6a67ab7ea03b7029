#pragma once

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace channelops::core {

// Source of the current instant. Domain code never reads a clock: the service
// reads one here and passes the instant in the command context, so tests can
// move time (expiry, SLAs, period close). Implementations are thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
};

// The real wall clock (UTC).
class SystemClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
  // A process-wide instance; stateless, so sharing it is harmless.
  static SystemClock& Instance();
};

// A clock that only moves when told. Thread-safe.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1767225600))  // 2026-01-01Z
      : now_(start) {}
  absl::Time Now() const override {
    absl::MutexLock l(&mu_);
    return now_;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock l(&mu_);
    now_ += d;
  }
  void Set(absl::Time t) {
    absl::MutexLock l(&mu_);
    now_ = t;
  }

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace channelops::core

namespace channelops::core {

// The system clock shifted by an adjustable offset. For demos and whole-stack
// tests that need "a month later" (expiries, SLA timeouts) against real
// binaries: the runtime moves it from --dev_clock_offset_file. Only ever moves
// forward (a smaller offset is ignored) so that recorded instants stay ordered.
// Thread-safe.
class OffsetClock final : public Clock {
 public:
  explicit OffsetClock(const Clock& base) : base_(base) {}
  absl::Time Now() const override {
    absl::MutexLock l(&mu_);
    return base_.Now() + offset_;
  }
  // Returns true if the offset changed.
  bool AdvanceTo(absl::Duration offset) {
    absl::MutexLock l(&mu_);
    if (offset <= offset_) return false;
    offset_ = offset;
    return true;
  }

 private:
  const Clock& base_;
  mutable absl::Mutex mu_;
  absl::Duration offset_ ABSL_GUARDED_BY(mu_) = absl::ZeroDuration();
};

}  // namespace channelops::core
