// Two costs under the services' thread pipelines, each against its baseline in
// the same run (docs/BENCHMARKS.md, "What the gRPC write path is bound by"):
//   1. Handing work to a sleeping thread: a condition-variable ping-pong
//      between two threads on different cores, against the same two threads
//      pinned to one core (the wake-up of an idle core is what a VM pays for).
//   2. absl::Mutex with Abseil's deadlock detector on (Debian's default: the
//      library is built without NDEBUG) against off (libs/server turns it off):
//      a new mutex locked inside another, as gRPC does per call.

#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"

namespace {

bool Pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return pthread_setaffinity_np(pthread_self(), sizeof(set), &set) == 0;
}

double SystemSeconds() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  return u.ru_stime.tv_sec + u.ru_stime.tv_usec / 1e6;
}

struct Handoff {
  double us_per_handoff = 0;
  double sys_us_per_handoff = 0;
};

// `rounds` round trips between the main thread (on cpu_a) and a second thread
// (on cpu_b): each round trip is two handoffs, each waking a sleeping thread.
Handoff PingPong(int cpu_a, int cpu_b, int rounds) {
  std::mutex mu;
  std::condition_variable cv;
  int turn = 0;
  Pin(cpu_a);
  const double sys0 = SystemSeconds();
  const auto t0 = std::chrono::steady_clock::now();
  std::thread t([&] {
    Pin(cpu_b);
    for (int i = 0; i < rounds; ++i) {
      std::unique_lock<std::mutex> l(mu);
      cv.wait(l, [&] { return turn == 1; });
      turn = 0;
      cv.notify_one();
    }
  });
  for (int i = 0; i < rounds; ++i) {
    std::unique_lock<std::mutex> l(mu);
    turn = 1;
    cv.notify_one();
    cv.wait(l, [&] { return turn == 0; });
  }
  t.join();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return {secs * 1e6 / (2.0 * rounds), (SystemSeconds() - sys0) * 1e6 / (2.0 * rounds)};
}

double NestedLockNs(int iterations) {
  absl::Mutex outer;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < iterations; ++i) {
    auto* m = new absl::Mutex;
    outer.Lock();
    m->Lock();
    m->Unlock();
    outer.Unlock();
    delete m;
  }
  return std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count() /
         iterations;
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 100'000;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--rounds=", 0) == 0) rounds = std::atoi(a.c_str() + 9);
    if (a == "--help") {
      printf("bench_handoff [--rounds=100000]\n"
             "Thread handoff across cores vs on one core, and absl::Mutex with the deadlock\n"
             "detector on vs off. Needs 2 CPUs for the cross-core case.\n");
      return 0;
    }
  }
  if (rounds < 1) {
    fprintf(stderr, "--rounds: must be at least 1\n");
    return 2;
  }
  printf("# handoff benchmark: %d round trips per case, %u CPUs\n", rounds,
         std::thread::hardware_concurrency());
  const Handoff same = PingPong(0, 0, rounds);
  printf("handoff, both threads on CPU 0 (baseline)  : %8.2f us per handoff (%.2f us system)\n",
         same.us_per_handoff, same.sys_us_per_handoff);
  if (std::thread::hardware_concurrency() >= 2) {
    const Handoff cross = PingPong(0, 1, rounds);
    printf("handoff, threads on CPUs 0 and 1           : %8.2f us per handoff (%.2f us system)"
           "  (%.1fx one core)\n",
           cross.us_per_handoff, cross.sys_us_per_handoff,
           cross.us_per_handoff / same.us_per_handoff);
  }
  const int iterations = 1'000'000;
  const double on = NestedLockNs(iterations);  // Abseil's default in this build
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  const double off = NestedLockNs(iterations);
  printf("absl::Mutex new + nested lock, detector on : %8.1f ns\n", on);
  printf("absl::Mutex new + nested lock, detector off: %8.1f ns  (%.2fx on)\n", off, off / on);
  return 0;
}
