// A full data volume, end to end: the real deal_registration binary runs with its
// store on a small tmpfs (the test mounts it; it needs root). Registrations are
// driven until the volume is full; then:
//   - every failure is RESOURCE_EXHAUSTED "data volume full: ..." (a clear answer,
//     never a hang, a crash or a vague INTERNAL);
//   - every acknowledged registration is readable, and nothing unacknowledged is
//     (ListDeals returns exactly the acknowledged set);
//   - health stays SERVING (reads keep working) and /metrics counted every failed
//     command as a storage error;
//   - once space is freed (tmpfs remounted larger) the same process writes again,
//     without a restart;
//   - a SIGKILL while the volume is full loses nothing acknowledged: a restart on
//     the still-full volume exits with a clear "data volume full" error, and once
//     space is freed the store recovers everything (and a second crash after
//     more writes loses nothing either);
//   - a SIGTERM on a full volume drains and exits 0, losing nothing.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "channelops/dealreg/v1/dealreg.grpc.pb.h"
#include "channelops/testing/child_process.h"
#include "channelops/testing/http.h"
#include "channelops/testing/temp_dir.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"

namespace channelops {
namespace {

namespace dr = dealreg::v1;
using testing::ChildProcess;

constexpr char kPartner[] = "P1";

// A tmpfs mounted on `dir` for the life of the object (unmounted before the
// enclosing TempDir is removed: declare it after the TempDir).
class TmpfsMount {
 public:
  explicit TmpfsMount(std::string dir) : dir_(std::move(dir)) {}
  ~TmpfsMount() {
    if (mounted_ && umount2(dir_.c_str(), 0) != 0) umount2(dir_.c_str(), MNT_DETACH);
  }
  // errno of mount(2), 0 on success.
  int Mount(const std::string& size) {
    mkdir(dir_.c_str(), 0700);
    std::string opts = "size=" + size + ",mode=0700";
    if (mount("tmpfs", dir_.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, opts.c_str()) != 0)
      return errno;
    mounted_ = true;
    return 0;
  }
  int Resize(const std::string& size) {
    std::string opts = "size=" + size;
    return mount("tmpfs", dir_.c_str(), "tmpfs", MS_REMOUNT | MS_NOSUID | MS_NODEV, opts.c_str()) ==
                   0
               ? 0
               : errno;
  }

 private:
  std::string dir_;
  bool mounted_ = false;
};

using testing::HttpGet;

// The value of one sample line `name{labels} value` in a /metrics body, or -1.
double Sample(const std::string& metrics, const std::string& series) {
  size_t at = metrics.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  size_t start = at + series.size() + 2;
  double v = -1;
  if (!absl::SimpleAtod(metrics.substr(start, metrics.find('\n', start) - start), &v)) return -1;
  return v;
}

// One running deal_registration on `data_dir`.
struct Service {
  std::unique_ptr<ChildProcess> proc;
  std::string grpc_addr, metrics_addr;
  std::unique_ptr<dr::DealRegistrationService::Stub> stub;
};

std::unique_ptr<grpc::ClientContext> Ctx(int seconds = 10) {
  auto c = std::make_unique<grpc::ClientContext>();
  c->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
  return c;
}

void StartService(const std::string& data_dir, Service* out) {
  auto p = ChildProcess::Start(testing::BinDir() + "/deal_registration",
                               {"--grpc_addr=127.0.0.1:0", "--metrics_addr=127.0.0.1:0",
                                "--kafka_bootstrap=", "--data_dir=" + data_dir});
  ASSERT_TRUE(p.ok()) << p.status();
  out->proc = std::move(*p);
  auto line = out->proc->WaitForLine(
      R"re("grpc_addr":"([0-9.]+:[0-9]+)".*"metrics_addr":"([0-9.]+:[0-9]+)")re",
      absl::Seconds(60));
  ASSERT_TRUE(line.ok()) << line.status() << out->proc->OutputTail();
  out->grpc_addr = (*line)[1];
  out->metrics_addr = (*line)[2];
  out->stub = dr::DealRegistrationService::NewStub(
      grpc::CreateChannel(out->grpc_addr, grpc::InsecureChannelCredentials()));
}

std::string HealthStatus(const std::string& addr) {
  auto stub = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel(addr, grpc::InsecureChannelCredentials()));
  grpc::health::v1::HealthCheckRequest req;
  grpc::health::v1::HealthCheckResponse resp;
  grpc::Status s = stub->Check(Ctx(5).get(), req, &resp);
  if (!s.ok()) return absl::StrCat("rpc error ", s.error_code(), ": ", s.error_message());
  return grpc::health::v1::HealthCheckResponse::ServingStatus_Name(resp.status());
}

dr::RegisterDealRequest Registration(const std::string& request_id) {
  dr::RegisterDealRequest req;
  req.set_request_id(request_id);
  req.set_program_id("prog");
  req.set_partner_id(kPartner);
  req.mutable_partner_contact()->set_name("Pat");
  // One customer per request: every acknowledged registration is a new deal.
  req.mutable_end_customer()->set_name("Customer " + request_id);
  req.mutable_end_customer()->mutable_address()->set_country_code("US");
  // Twenty lines: about 2 KiB per registration, so that a few MiB fill quickly.
  for (int i = 0; i < 20; ++i) {
    auto* l = req.add_lines();
    l->set_product_line(absl::StrCat("NET-", i));
    l->set_quantity(10 + i);
    l->mutable_unit_price()->set_currency_code("USD");
    l->mutable_unit_price()->set_amount_micros(1'000'000'000);
  }
  req.set_expected_close_date(
      absl::FormatTime("%Y-%m-%d", absl::Now() + absl::Hours(24 * 30), absl::UTCTimeZone()));
  return req;
}

// What the clients saw while filling the volume.
struct FillResult {
  std::map<std::string, std::string> acked;  // request id -> deal id
  std::vector<std::string> failed;           // request ids answered with an error
  std::map<std::string, int> failure_kinds;  // "CODE: message" -> count
  int unexpected = 0;                        // failures that are not a clear disk-full answer
};

bool IsDiskFull(const grpc::Status& s) {
  return (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED ||
          s.error_code() == grpc::StatusCode::UNAVAILABLE) &&
         absl::StrContains(s.error_message(), "data volume full");
}

// Registers from `threads` concurrent clients until `want_failures` requests
// failed (or `max_requests` were sent). Request ids are "<prefix>-<thread>-<n>".
FillResult Fill(Service& svc, const std::string& prefix, int threads, int want_failures,
                int max_requests) {
  FillResult out;
  std::mutex mu;
  std::atomic<int> sent{0}, failures{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      for (int n = 0; failures.load() < want_failures && sent.fetch_add(1) < max_requests; ++n) {
        std::string rid = absl::StrCat(prefix, "-", t, "-", n);
        dr::RegisterDealResponse resp;
        grpc::Status s = svc.stub->RegisterDeal(Ctx(30).get(), Registration(rid), &resp);
        std::lock_guard<std::mutex> l(mu);
        if (s.ok()) {
          out.acked[rid] = resp.deal().deal_id();
          if (resp.existing() || resp.deal().deal_id().empty()) ++out.unexpected;
        } else {
          failures.fetch_add(1);
          out.failed.push_back(rid);
          // Positions and file names vary: keep the first words of the message.
          out.failure_kinds[absl::StrCat(s.error_code(), ": ", s.error_message().substr(0, 60))]++;
          if (!IsDiskFull(s)) ++out.unexpected;
        }
      }
    });
  }
  for (auto& th : ts) th.join();
  return out;
}

std::string Describe(const FillResult& r) {
  std::string s = absl::StrCat(r.acked.size(), " acknowledged, ", r.failed.size(), " failed:");
  for (const auto& [k, n] : r.failure_kinds) absl::StrAppend(&s, "\n  ", n, " x ", k);
  return s;
}

// Every acknowledged registration is readable by id, and the partner's list is
// exactly the acknowledged set (nothing unacknowledged is visible).
void ExpectExactlyAcknowledged(Service& svc, const std::map<std::string, std::string>& acked) {
  std::set<std::string> want;
  int unreadable = 0;
  for (const auto& [rid, deal_id] : acked) {
    want.insert(deal_id);
    dr::GetDealRequest req;
    req.set_deal_id(deal_id);
    dr::DealResponse resp;
    grpc::Status s = svc.stub->GetDeal(Ctx().get(), req, &resp);
    if (!s.ok() || resp.deal().deal_id() != deal_id) {
      if (++unreadable <= 5)
        ADD_FAILURE() << "acknowledged " << rid << " (" << deal_id
                      << ") unreadable: " << s.error_code() << " " << s.error_message();
    }
  }
  EXPECT_EQ(unreadable, 0);
  std::set<std::string> listed;
  std::string token;
  do {
    dr::ListDealsRequest req;
    req.set_partner_id(kPartner);
    req.set_page_size(500);
    req.set_page_token(token);
    dr::ListDealsResponse resp;
    grpc::Status s = svc.stub->ListDeals(Ctx().get(), req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    for (const auto& d : resp.deals()) listed.insert(d.deal_id());
    token = resp.next_page_token();
  } while (!token.empty());
  EXPECT_EQ(listed.size(), want.size());
  EXPECT_TRUE(listed == want) << "listed deals differ from the acknowledged ones";
}

TEST(DiskFullE2E, FullVolumeIsAClearErrorLosesNothingAndRecoversWithoutRestart) {
  testing::TempDir dir;
  const std::string vol = dir.Path("vol");
  TmpfsMount tmpfs(vol);
  if (int err = tmpfs.Mount("8m"); err != 0) {
    GTEST_SKIP() << "cannot mount a tmpfs on " << vol << " (" << std::strerror(err)
                 << "): this test needs root (CAP_SYS_ADMIN) to give the store a small volume";
  }
  const std::string data_dir = vol + "/store";

  Service svc;
  ASSERT_NO_FATAL_FAILURE(StartService(data_dir, &svc));
  const pid_t pid = svc.proc->pid();
  {
    dr::SetProgramRulesRequest req;
    req.set_request_id("rules-1");
    req.mutable_rules()->set_program_id("prog");
    req.mutable_rules()->set_currency_code("USD");
    req.mutable_rules()->set_approval_mode(dr::APPROVAL_MODE_AUTO);
    dr::SetProgramRulesResponse resp;
    grpc::Status s = svc.stub->SetProgramRules(Ctx().get(), req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  // 1. Fill the volume from four concurrent clients.
  FillResult fill = Fill(svc, "a", 4, 40, 20000);
  std::cout << "fill 1: " << Describe(fill) << std::endl;
  ASSERT_GE(fill.failed.size(), 40u) << "the 8 MiB volume never filled";
  ASSERT_GT(fill.acked.size(), 100u);
  ASSERT_EQ(fill.unexpected, 0) << "every failure must be RESOURCE_EXHAUSTED 'data volume full'\n"
                                << Describe(fill) << svc.proc->OutputTail();
  std::map<std::string, std::string> acked = fill.acked;

  // 2. Still full: reads work, health is sane, every failed command was counted.
  ExpectExactlyAcknowledged(svc, acked);
  EXPECT_EQ(HealthStatus(svc.grpc_addr), "SERVING");
  {
    dr::RegisterDealResponse resp;
    grpc::Status s = svc.stub->RegisterDeal(Ctx().get(), Registration("while-full"), &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
    EXPECT_TRUE(IsDiskFull(s)) << s.error_message();
  }
  {
    std::string m = HttpGet(svc.metrics_addr, "/metrics");
    EXPECT_EQ(Sample(m, R"(channelops_eventstore_commands_total{outcome="storage_error"})"),
              static_cast<double>(fill.failed.size() + 1))
        << m.substr(0, 3000);
    EXPECT_EQ(Sample(m, R"(channelops_eventstore_commands_total{outcome="committed"})"),
              static_cast<double>(acked.size() + 1));  // + the rules
  }
  EXPECT_NE(svc.proc->ReadStderr().find("No space left on device"), std::string::npos)
      << "RocksDB's error should be logged";

  // 3. Space is freed (the volume grows, as when a PVC is expanded): the same
  //    process accepts writes again, without a restart. A request that failed
  //    is retried with its request id and recorded now: it had not been.
  ASSERT_EQ(tmpfs.Resize("64m"), 0) << std::strerror(errno);
  {
    const std::string& rid = fill.failed.front();
    grpc::Status s;
    dr::RegisterDealResponse resp;
    absl::Time start = absl::Now();
    do {
      s = svc.stub->RegisterDeal(Ctx().get(), Registration(rid), &resp);
      if (s.ok()) break;
      EXPECT_TRUE(IsDiskFull(s)) << s.error_code() << ": " << s.error_message();
      absl::SleepFor(absl::Milliseconds(100));
    } while (absl::Now() < start + absl::Seconds(30));
    ASSERT_TRUE(s.ok()) << "no recovery within 30 s after space was freed: " << s.error_message()
                        << svc.proc->OutputTail();
    std::cout << "writes resumed " << absl::Now() - start << " after the volume grew" << std::endl;
    EXPECT_FALSE(resp.existing());
    acked[rid] = resp.deal().deal_id();
  }
  FillResult more = Fill(svc, "b", 4, 1, 400);
  EXPECT_EQ(more.failed.size(), 0u) << Describe(more);
  EXPECT_EQ(more.acked.size(), 400u);
  acked.insert(more.acked.begin(), more.acked.end());
  EXPECT_TRUE(svc.proc->Running());
  EXPECT_EQ(svc.proc->pid(), pid);
  EXPECT_EQ(HealthStatus(svc.grpc_addr), "SERVING");
  ExpectExactlyAcknowledged(svc, acked);
  EXPECT_NE(svc.proc->ReadStderr().find("\"msg\":\"event store writes resumed\""),
            std::string::npos);

  // 4. Full again (the volume shrunk to its use plus 1 MiB), then SIGKILL.
  struct statvfs st {};
  ASSERT_EQ(statvfs(vol.c_str(), &st), 0);
  uint64_t used = (st.f_blocks - st.f_bfree) * st.f_frsize;
  ASSERT_EQ(tmpfs.Resize(absl::StrCat((used >> 10) + 1024, "k")), 0) << std::strerror(errno);
  FillResult fill2 = Fill(svc, "c", 4, 20, 20000);
  std::cout << "fill 2: " << Describe(fill2) << std::endl;
  ASSERT_GE(fill2.failed.size(), 20u);
  ASSERT_EQ(fill2.unexpected, 0) << Describe(fill2) << svc.proc->OutputTail();
  acked.insert(fill2.acked.begin(), fill2.acked.end());
  ASSERT_TRUE(svc.proc->Kill(SIGKILL).ok());
  ASSERT_TRUE(svc.proc->Wait(absl::Seconds(10)).ok());

  // 5. RocksDB cannot open on a volume with no space at all (it flushes the
  //    replayed WAL and writes a new MANIFEST): the service exits with a clear
  //    error instead of serving. (Kubernetes: CrashLoopBackOff with this log
  //    line until the volume is expanded.)
  {
    auto p = ChildProcess::Start(testing::BinDir() + "/deal_registration",
                                 {"--grpc_addr=127.0.0.1:0", "--metrics_addr=127.0.0.1:0",
                                  "--kafka_bootstrap=", "--data_dir=" + data_dir});
    ASSERT_TRUE(p.ok());
    auto code = (*p)->Wait(absl::Seconds(60));
    ASSERT_TRUE(code.ok()) << "started on a full volume?" << (*p)->OutputTail();
    EXPECT_EQ(*code, 1);
    std::string err = (*p)->ReadStderr();
    EXPECT_NE(err.find("\"msg\":\"cannot start\""), std::string::npos) << err;
    EXPECT_NE(err.find("RESOURCE_EXHAUSTED: data volume full"), std::string::npos) << err;
  }

  // 6. Space freed, restart: every acknowledged registration of every phase is
  //    there, nothing else; writes work; a second crash loses nothing either.
  ASSERT_EQ(tmpfs.Resize("64m"), 0) << std::strerror(errno);
  Service again;
  ASSERT_NO_FATAL_FAILURE(StartService(data_dir, &again));
  ExpectExactlyAcknowledged(again, acked);
  FillResult after = Fill(again, "d", 2, 1, 50);
  EXPECT_EQ(after.acked.size(), 50u) << Describe(after);
  acked.insert(after.acked.begin(), after.acked.end());
  ASSERT_TRUE(again.proc->Kill(SIGKILL).ok());
  ASSERT_TRUE(again.proc->Wait(absl::Seconds(10)).ok());
  Service last;
  ASSERT_NO_FATAL_FAILURE(StartService(data_dir, &last));
  ExpectExactlyAcknowledged(last, acked);
  EXPECT_EQ(HealthStatus(last.grpc_addr), "SERVING");

  // 7. A graceful stop (SIGTERM) on a full volume drains and exits cleanly, and
  //    loses nothing either.
  ASSERT_EQ(statvfs(vol.c_str(), &st), 0);
  used = (st.f_blocks - st.f_bfree) * st.f_frsize;
  ASSERT_EQ(tmpfs.Resize(absl::StrCat((used >> 10) + 1024, "k")), 0) << std::strerror(errno);
  FillResult fill3 = Fill(last, "e", 4, 20, 20000);
  ASSERT_GE(fill3.failed.size(), 20u);
  ASSERT_EQ(fill3.unexpected, 0) << Describe(fill3) << last.proc->OutputTail();
  acked.insert(fill3.acked.begin(), fill3.acked.end());
  ASSERT_TRUE(last.proc->Kill(SIGTERM).ok());
  auto code = last.proc->Wait(absl::Seconds(30));
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 0) << last.proc->OutputTail();
  EXPECT_NE(last.proc->ReadStderr().find("\"msg\":\"stopped\""), std::string::npos);
  ASSERT_EQ(tmpfs.Resize("64m"), 0) << std::strerror(errno);
  Service final_check;
  ASSERT_NO_FATAL_FAILURE(StartService(data_dir, &final_check));
  ExpectExactlyAcknowledged(final_check, acked);
  ASSERT_TRUE(final_check.proc->Kill(SIGTERM).ok());
  code = final_check.proc->Wait(absl::Seconds(30));
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 0) << final_check.proc->OutputTail();
}

}  // namespace
}  // namespace channelops
