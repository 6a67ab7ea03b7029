#pragma once

// Closed-loop driver for gRPC benchmarks: keeps N async calls in flight and
// reports throughput and latency percentiles. Shared by every bench_* binary.

#include <csignal>
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "channelops/testing/child_process.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace {

struct Result {
  double per_sec = 0;
  double p50_us = 0, p99_us = 0;
  int64_t errors = 0;
};

// The clients' side of a benchmark runs without Abseil's mutex deadlock
// detector, as the services do (libs/server's runtime): gRPC locks absl
// mutexes on every call. Called first thing by each bench_* main.
inline void BenchProcessInit() {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
}

// Keeps `inflight` async calls outstanding for `seconds`; `issue(i, done)` starts
// call i and must call done(ok) exactly once.
Result Drive(int inflight, double seconds,
             const std::function<void(int64_t, std::function<void(bool)>)>& issue,
             int64_t max_calls = INT64_MAX) {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<double> lat;
  lat.reserve(1 << 20);
  std::atomic<int64_t> next{0}, done{0}, errors{0};
  std::atomic<int> outstanding{0};
  std::atomic<bool> stop{false};
  std::mutex issue_mu;  // calls are issued from callbacks on several threads
  std::function<void()> launch = [&] {
    int64_t i;
    {
      std::lock_guard<std::mutex> l(issue_mu);
      i = next++;
      if (i >= max_calls) {
        stop = true;
        return;
      }
    }
    outstanding++;
    absl::Time t0 = absl::Now();
    issue(i, [&, t0](bool ok) {
      double us = absl::ToDoubleMicroseconds(absl::Now() - t0);
      {
        std::lock_guard<std::mutex> l(mu);
        lat.push_back(us);
      }
      if (!ok) errors++;
      done++;
      if (!stop.load()) launch();
      std::lock_guard<std::mutex> l(mu);  // decrement under the lock: Drive may return right after
      if (--outstanding == 0) cv.notify_all();
    });
  };
  absl::Time start = absl::Now();
  for (int i = 0; i < inflight; ++i) launch();
  {
    std::unique_lock<std::mutex> l(mu);
    cv.wait_for(l, std::chrono::duration<double>(seconds), [&] { return stop.load() && outstanding.load() == 0; });
  }
  stop = true;
  int64_t n = done.load();
  double secs = absl::ToDoubleSeconds(absl::Now() - start);
  {
    std::unique_lock<std::mutex> l(mu);
    cv.wait(l, [&] { return outstanding.load() == 0; });
  }
  std::sort(lat.begin(), lat.end());
  Result r;
  r.per_sec = n / secs;
  r.p50_us = lat.empty() ? 0 : lat[lat.size() / 2];
  r.p99_us = lat.empty() ? 0 : lat[lat.size() * 99 / 100];
  r.errors = errors.load();
  return r;
}


// The no-op baseline: grpc.health.v1.Health/Check on the same server and channel.
inline Result DriveNoop(const std::shared_ptr<grpc::Channel>& channel, int inflight, double seconds) {
  auto health = grpc::health::v1::Health::NewStub(channel);
  return Drive(inflight, seconds, [&](int64_t, std::function<void(bool)> done) {
    struct Call {
      grpc::ClientContext ctx;
      grpc::health::v1::HealthCheckRequest req;
      grpc::health::v1::HealthCheckResponse resp;
    };
    auto* c = new Call;
    health->async()->Check(&c->ctx, &c->req, &c->resp, [c, done](grpc::Status s) {
      delete c;
      done(s.ok());
    });
  });
}

inline void PrintRow(const char* name, const Result& r) {
  printf("%-44s %10.0f /s   p50 %8.0f us   p99 %8.0f us   errors %lld\n", name, r.per_sec, r.p50_us,
         r.p99_us, static_cast<long long>(r.errors));
}

// Starts build/bin/<binary> on a temp dir without Kafka; returns its gRPC address.
inline std::string StartService(const std::string& bin_dir, const std::string& binary,
                                const std::string& data_dir,
                                std::unique_ptr<channelops::testing::ChildProcess>* out,
                                std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"--grpc_addr=127.0.0.1:0", "--metrics_addr=", "--kafka_bootstrap=",
                                   "--data_dir=" + data_dir};
  for (auto& e : extra) args.push_back(e);
  auto svc = channelops::testing::ChildProcess::Start(bin_dir + "/" + binary, args);
  if (!svc.ok()) return "";
  auto line = (*svc)->WaitForLine(R"re("grpc_addr":"([0-9.]+:[0-9]+)")re", absl::Seconds(30));
  if (!line.ok()) return "";
  *out = std::move(*svc);
  return (*line)[1];
}

}  // namespace
