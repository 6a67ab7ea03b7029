// RegisterDeal over gRPC against the real deal_registration binary.
//
// 1. Starts build/bin/deal_registration on a temp dir (no Kafka: the outbox is
//    disabled so the benchmark measures the service, not the mock broker).
// 2. Preloads --preload registrations (default 1,000,000) across --partners
//    (default 10,000) through the same gRPC API, 64 in flight.
// 3. Measures, with the same client and 64 calls in flight:
//    - a no-op unary RPC (grpc.health.v1.Health/Check on the same server): the baseline;
//    - RegisterDeal of new customers (durable: each answer after its fsync);
//    - CheckConflicts (read path: normalisation + customer index lookup).
//    and prints throughput, p50/p99 and the ratios.
// 4. The conflict check alone: scrapes the server's
//    channelops_dealreg_conflict_check_seconds histogram (the check timed inside
//    the server, without gRPC) before and after each phase and prints, per RPC,
//    the calls, the mean and the bucket bound that holds 99% of them.
// Usage: bench_dealreg [--preload=N] [--partners=N] [--seconds=S] [--inflight=64]
#include <csignal>
#include <cstring>
#include <cstdlib>
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "channelops/dealreg/v1/dealreg.grpc.pb.h"
#include "channelops/testing/child_process.h"
#include "channelops/testing/http.h"
#include "channelops/testing/temp_dir.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "rpc_driver.h"

namespace dr = channelops::dealreg::v1;
using channelops::testing::ChildProcess;

namespace {

dr::RegisterDealRequest MakeDeal(int64_t i, int partners, const std::string& prefix) {
  dr::RegisterDealRequest req;
  req.set_request_id(absl::StrCat(prefix, i));
  req.set_program_id("bench");
  req.set_partner_id(absl::StrFormat("P%05d", i % partners));
  req.mutable_partner_contact()->set_name("Bench Rep");
  req.mutable_end_customer()->set_name(absl::StrCat(prefix, "Customer ", i, " Inc."));
  // A registrable domain of its own per customer ("pre-c7.com"): subdomains of one
  // domain ("c7.example.com") are the same customer, so all but the first would conflict.
  req.mutable_end_customer()->set_email_domain(absl::StrCat(prefix, "c", i, ".com"));
  req.mutable_end_customer()->mutable_address()->set_country_code("US");
  req.mutable_end_customer()->set_account_type("COMMERCIAL");
  auto* l = req.add_lines();
  l->set_product_line(i % 2 ? "NET" : "SEC");
  l->set_quantity(5);
  l->mutable_unit_price()->set_currency_code("USD");
  l->mutable_unit_price()->set_amount_micros(2'000'000'000);
  req.set_expected_close_date(
      absl::FormatTime("%Y-%m-%d", absl::Now() + absl::Hours(24 * 90), absl::UTCTimeZone()));
  return req;
}

// One label's series of the server's conflict-check histogram.
struct Histogram {
  std::vector<std::pair<double, double>> buckets;  // (upper bound, cumulative count)
  double count = 0, sum = 0;
};

// One series (the lines carrying `label`) of histogram `name` on /metrics.
Histogram ScrapeHistogram(const std::string& metrics_addr, const std::string& name,
                          const std::string& label) {
  Histogram h;
  const std::string body = channelops::testing::HttpGet(metrics_addr, "/metrics");
  size_t pos = 0;
  while (pos < body.size()) {
    size_t eol = body.find('\n', pos);
    if (eol == std::string::npos) eol = body.size();
    const std::string line = body.substr(pos, eol - pos);
    pos = eol + 1;
    if (line.rfind(name, 0) != 0 || line.find(label) == std::string::npos) continue;
    const double value = std::strtod(line.substr(line.rfind(' ') + 1).c_str(), nullptr);
    if (line.rfind(name + "_bucket", 0) == 0) {
      const size_t le = line.find("le=\"");
      if (le == std::string::npos) continue;
      const std::string bound = line.substr(le + 4, line.find('"', le + 4) - le - 4);
      h.buckets.emplace_back(bound == "+Inf" ? 1e300 : std::strtod(bound.c_str(), nullptr), value);
    } else if (line.rfind(name + "_count", 0) == 0) {
      h.count = value;
    } else if (line.rfind(name + "_sum", 0) == 0) {
      h.sum = value;
    }
  }
  return h;
}

Histogram ScrapeConflictCheck(const std::string& metrics_addr, const std::string& rpc) {
  return ScrapeHistogram(metrics_addr, "channelops_dealreg_conflict_check_seconds",
                         absl::StrCat("rpc=\"", rpc, "\""));
}

// The store's stages (channelops_eventstore_stage_seconds) of the commands
// between two scrapes: where a RegisterDeal's latency goes.
constexpr const char* kStages[] = {"queued", "decided", "durable", "answered"};
std::vector<Histogram> ScrapeStages(const std::string& metrics_addr) {
  std::vector<Histogram> out;
  for (const char* stage : kStages) {
    out.push_back(ScrapeHistogram(metrics_addr, "channelops_eventstore_stage_seconds",
                                  absl::StrCat("stage=\"", stage, "\"")));
  }
  return out;
}
void PrintStages(const std::vector<Histogram>& before, const std::vector<Histogram>& after) {
  printf("store stages of the RegisterDeal phase (channelops_eventstore_stage_seconds), mean:");
  for (size_t i = 0; i < std::size(kStages); ++i) {
    const double n = after[i].count - before[i].count;
    if (n <= 0) continue;
    printf(" %s %.0f us", kStages[i], (after[i].sum - before[i].sum) / n * 1e6);
  }
  printf("\n");
}

// What was observed between two scrapes: calls, mean and the smallest bucket
// bound holding at least 99% of them.
// `floor`: the issue's "conflict check alone p99 <= 50 us" applies.
void PrintConflictCheck(const char* what, const Histogram& before, const Histogram& after,
                        bool floor) {
  const double n = after.count - before.count;
  if (n <= 0 || after.buckets.size() != before.buckets.size()) {
    printf("%-44s no observations (metrics not scraped)\n", what);
    return;
  }
  double p99 = 0;
  for (size_t i = 0; i < after.buckets.size(); ++i) {
    if (after.buckets[i].second - before.buckets[i].second >= 0.99 * n) {
      p99 = after.buckets[i].first;
      break;
    }
  }
  printf("%-44s %10.0f calls  mean %6.1f us   p99 <= %g us%s\n", what, n,
         (after.sum - before.sum) / n * 1e6, p99 * 1e6,
         !floor ? "" : p99 <= 50e-6 ? " (floor 50 us: PASS)" : " (floor 50 us: FAIL)");
}

}  // namespace

int main(int argc, char** argv) {
  BenchProcessInit();
  int64_t preload = 1'000'000;
  int partners = 10'000;
  double seconds = 10;
  int inflight = 64;
  std::vector<std::string> server_flags;
  std::string server_bin_dir = CHANNELOPS_BIN_DIR;
  bool register_only = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&](const char* p) { return a.substr(strlen(p)); };
    if (a.rfind("--preload=", 0) == 0) preload = std::stoll(val("--preload="));
    if (a.rfind("--partners=", 0) == 0) partners = std::stoi(val("--partners="));
    if (a.rfind("--seconds=", 0) == 0) seconds = std::stod(val("--seconds="));
    if (a.rfind("--inflight=", 0) == 0) inflight = std::stoi(val("--inflight="));
    if (a.rfind("--server_flag=", 0) == 0) server_flags.push_back(val("--server_flag="));
    if (a.rfind("--server_bin_dir=", 0) == 0) server_bin_dir = val("--server_bin_dir=");
    if (a == "--register_only") register_only = true;
    if (a == "--help") {
      printf(
          "bench_dealreg [--preload=1000000] [--partners=10000] [--seconds=10] [--inflight=64]\n"
          "              [--server_flag=--flag=value ...]  (passed to deal_registration)\n"
          "              [--server_bin_dir=DIR]  (the deal_registration binary to run)\n"
          "              [--register_only]  (only the preload's registrations, then exit:\n"
          "               tools/bench/callgrind_dealreg.sh counts instructions per "
          "registration)\n");
      return 0;
    }
  }
  channelops::testing::TempDir dir;
  std::string bin = absl::StrCat(server_bin_dir, "/deal_registration");
  std::vector<std::string> server_args = {"--grpc_addr=127.0.0.1:0", "--metrics_addr=127.0.0.1:0",
                                          "--kafka_bootstrap=", "--data_dir=" + dir.Path("dealreg")};
  for (const std::string& f : server_flags) server_args.push_back(f);
  auto svc = ChildProcess::Start(bin, server_args);
  if (!svc.ok()) {
    fprintf(stderr, "%s\n", svc.status().ToString().c_str());
    return 1;
  }
  auto line = (*svc)->WaitForLine(
      R"re("grpc_addr":"([0-9.]+:[0-9]+)".*"metrics_addr":"([0-9.]+:[0-9]+)")re",
      absl::Seconds(120));  // under callgrind on a busy machine the open takes over 30 s
  if (!line.ok()) {
    fprintf(stderr, "%s\n", line.status().ToString().c_str());
    return 1;
  }
  const std::string metrics_addr = (*line)[2];
  grpc::ChannelArguments args;
  auto channel = grpc::CreateCustomChannel((*line)[1], grpc::InsecureChannelCredentials(), args);
  auto stub = dr::DealRegistrationService::NewStub(channel);
  auto health = grpc::health::v1::Health::NewStub(channel);
  {
    grpc::ClientContext ctx;
    dr::SetProgramRulesRequest req;
    req.set_request_id("bench-rules");
    req.mutable_rules()->set_program_id("bench");
    req.mutable_rules()->set_currency_code("USD");
    req.mutable_rules()->set_approval_mode(dr::APPROVAL_MODE_AUTO);
    req.mutable_rules()->add_named_accounts()->set_name("Direct Only Corp");
    dr::SetProgramRulesResponse resp;
    grpc::Status s = stub->SetProgramRules(&ctx, req, &resp);
    if (!s.ok()) {
      fprintf(stderr, "SetProgramRules: %s\n", s.error_message().c_str());
      return 1;
    }
  }
  // Answers of the RegisterDeal phases by status (index: dr::DealStatus).
  std::atomic<int64_t> statuses[dr::DealStatus_ARRAYSIZE] = {};
  auto register_call = [&](const std::string& prefix) {
    return [&, prefix](int64_t i, std::function<void(bool)> done) {
      struct Call {
        grpc::ClientContext ctx;
        dr::RegisterDealRequest req;
        dr::RegisterDealResponse resp;
      };
      auto* c = new Call;
      c->req = MakeDeal(i, partners, prefix);
      stub->async()->RegisterDeal(&c->ctx, &c->req, &c->resp, [&statuses, c, done](grpc::Status s) {
        bool ok = s.ok() && c->resp.deal().status() != dr::DEAL_STATUS_UNSPECIFIED;
        if (s.ok()) statuses[c->resp.deal().status()]++;
        delete c;
        done(ok);
      });
    };
  };

  printf("# deal registration benchmark: %d calls in flight, one client process, same machine\n", inflight);
  absl::Time p0 = absl::Now();
  if (preload > 0) {
    // Preload through the API until `preload` registrations exist (64 in flight).
    Result pre = Drive(inflight, 1e6, [&](int64_t i, std::function<void(bool)> done) {
      register_call("pre-")(i, done);
    }, preload);
    printf("preloaded %lld registrations across %d partners in %.1f s (%.0f/s, %lld errors)\n",
           static_cast<long long>(preload), partners, absl::ToDoubleSeconds(absl::Now() - p0),
           preload / absl::ToDoubleSeconds(absl::Now() - p0), static_cast<long long>(pre.errors));
  }

  auto take_statuses = [&] {
    std::string out;
    for (int st = 0; st < dr::DealStatus_ARRAYSIZE; ++st) {
      const int64_t n = statuses[st].exchange(0);
      if (n > 0) absl::StrAppend(&out, out.empty() ? "" : ", ", dr::DealStatus_Name(st), " ", n);
    }
    return out.empty() ? std::string("none") : out;
  };
  if (register_only) {
    printf("answers: preload %s\n", take_statuses().c_str());
    (*svc)->Kill(SIGTERM).IgnoreError();
    (*svc)->Wait(absl::Seconds(60)).IgnoreError();
    return 0;
  }
  Result noop = Drive(inflight, seconds, [&](int64_t, std::function<void(bool)> done) {
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
  const Histogram reg_before = ScrapeConflictCheck(metrics_addr, "RegisterDeal");
  const std::vector<Histogram> stages_before = ScrapeStages(metrics_addr);
  const std::string preload_statuses = take_statuses();
  Result reg = Drive(inflight, seconds, register_call("run-"));
  const std::string run_statuses = take_statuses();
  const Histogram reg_after = ScrapeConflictCheck(metrics_addr, "RegisterDeal");
  const std::vector<Histogram> stages_after = ScrapeStages(metrics_addr);
  const Histogram chk_before = ScrapeConflictCheck(metrics_addr, "CheckConflicts");
  Result chk = Drive(inflight, seconds, [&](int64_t i, std::function<void(bool)> done) {
    struct Call {
      grpc::ClientContext ctx;
      dr::CheckConflictsRequest req;
      dr::CheckConflictsResponse resp;
    };
    auto* c = new Call;
    c->req.set_program_id("bench");
    c->req.set_partner_id("P99999");
    c->req.mutable_end_customer()->set_name(absl::StrCat("pre-Customer ", i % std::max<int64_t>(preload, 1), " corp"));
    c->req.mutable_end_customer()->mutable_address()->set_country_code("US");
    c->req.add_product_lines("NET");
    stub->async()->CheckConflicts(&c->ctx, &c->req, &c->resp, [c, done](grpc::Status s) {
      delete c;
      done(s.ok());
    });
  });
  const Histogram chk_after = ScrapeConflictCheck(metrics_addr, "CheckConflicts");
  auto row = [](const char* name, const Result& r) {
    printf("%-40s %10.0f /s   p50 %8.0f us   p99 %8.0f us   errors %lld\n", name, r.per_sec, r.p50_us,
           r.p99_us, static_cast<long long>(r.errors));
  };
  row("no-op unary RPC (grpc.health.v1 Check)", noop);
  row("RegisterDeal (durable, new customers)", reg);
  row("CheckConflicts (read path)", chk);
  printf("answers: preload %s; RegisterDeal phase %s\n", preload_statuses.c_str(), run_statuses.c_str());
  printf("RegisterDeal / no-op throughput: %.2f (floor 0.50: %s); RegisterDeal p99 %.1f ms (floor 20 ms: %s)\n",
         reg.per_sec / noop.per_sec, reg.per_sec >= 0.5 * noop.per_sec ? "PASS" : "FAIL", reg.p99_us / 1000,
         reg.p99_us <= 20000 ? "PASS" : "FAIL");
  PrintStages(stages_before, stages_after);
  printf("conflict check alone, timed in the server (channelops_dealreg_conflict_check_seconds):\n");
  PrintConflictCheck("  CheckConflicts (committed read models)", chk_before, chk_after, true);
  PrintConflictCheck("  RegisterDeal (whole decision, on the writer)", reg_before, reg_after,
                     false);
  (*svc)->Kill(SIGTERM).IgnoreError();
  (*svc)->Wait(absl::Seconds(30)).IgnoreError();
  return 0;
}
