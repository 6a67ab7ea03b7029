// SubmitLead over gRPC against the real lead_routing binary, 64 calls in flight,
// with 1,000 partners in 8 shared territories; ratio to the no-op unary RPC
// (grpc.health.v1 Check) measured by the same client in the same run. (The
// in-process routing decision with 10,000 partners and 50,000 territory rules is
// measured by services/lead_routing/tests/routing_perf_test.cc.)
// Usage: bench_leads [--seconds=S] [--inflight=64] [--partners=1000]
#include <atomic>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "channelops/leads/v1/leads.grpc.pb.h"
#include "channelops/testing/temp_dir.h"
#include "rpc_driver.h"

namespace lr = channelops::leads::v1;

int main(int argc, char** argv) {
  BenchProcessInit();
  double seconds = 10;
  int inflight = 64, partners = 1000;
  std::string server_bin_dir = CHANNELOPS_BIN_DIR;
  int64_t submit_only = 0;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--seconds=", 0) == 0) seconds = std::stod(a.substr(10));
    if (a.rfind("--inflight=", 0) == 0) inflight = std::stoi(a.substr(11));
    if (a.rfind("--partners=", 0) == 0) partners = std::stoi(a.substr(11));
    if (a.rfind("--server_bin_dir=", 0) == 0) server_bin_dir = a.substr(17);
    if (a.rfind("--submit_only=", 0) == 0) submit_only = std::stoll(a.substr(14));
    if (a == "--help") {
      printf(
          "bench_leads [--seconds=10] [--inflight=64] [--partners=1000]\n"
          "            [--server_bin_dir=DIR]  (the lead_routing binary to run)\n"
          "            [--submit_only=N]  (no timed phases: submit N leads, print how many were\n"
          "             routed, exit; tools/bench/callgrind_leads.sh counts instructions per "
          "lead)\n");
      return 0;
    }
  }
  channelops::testing::TempDir dir;
  std::unique_ptr<channelops::testing::ChildProcess> svc;
  std::string addr = StartService(server_bin_dir, "lead_routing", dir.Path("leads"), &svc);
  if (addr.empty()) return 1;
  auto channel = grpc::CreateChannel(addr, grpc::InsecureChannelCredentials());
  auto stub = lr::LeadRoutingService::NewStub(channel);
  const char* regions[] = {"NY", "CT", "CA", "TX", "MA", "WA", "IL", "FL"};
  for (int p = 0; p < partners; ++p) {
    lr::UpsertPartnerProfileRequest req;
    req.set_request_id(absl::StrCat("profile-", p));
    auto* pr = req.mutable_profile();
    pr->set_partner_id(absl::StrFormat("P%05d", p));
    pr->set_active(true);
    pr->set_routing_weight(10 + p % 40);
    pr->add_product_lines("net");
    grpc::ClientContext ctx;
    lr::PartnerProfileResponse resp;
    if (!stub->UpsertPartnerProfile(&ctx, req, &resp).ok()) return 1;
  }
  for (int t = 0; t < 8; ++t) {
    lr::UpsertTerritoryRequest req;
    req.set_request_id(absl::StrCat("territory-", t));
    auto* tr = req.mutable_territory();
    tr->set_territory_id(absl::StrCat("T", t));
    tr->add_countries("US");
    tr->add_regions(regions[t]);
    tr->set_mode(lr::TERRITORY_MODE_SHARED);
    for (int p = t; p < partners; p += 8) tr->add_partner_ids(absl::StrFormat("P%05d", p));
    grpc::ClientContext ctx;
    lr::TerritoryResponse resp;
    grpc::Status s = stub->UpsertTerritory(&ctx, req, &resp);
    if (!s.ok()) {
      fprintf(stderr, "UpsertTerritory: %s\n", s.error_message().c_str());
      return 1;
    }
  }
  printf("# lead routing benchmark: %d calls in flight, %d partners, one client process\n", inflight, partners);
  std::atomic<int64_t> routed{0};
  auto submit_lead = [&](int64_t i, std::function<void(bool)> done) {
    struct Call {
      grpc::ClientContext ctx;
      lr::SubmitLeadRequest req;
      lr::LeadResponse resp;
    };
    auto* c = new Call;
    c->req.set_request_id(absl::StrCat("lead-", i));
    c->req.set_company(absl::StrCat("Prospect ", i));
    c->req.set_country_code("US");
    c->req.set_region(regions[i % 8]);
    c->req.set_product_interest("net");
    c->req.set_campaign_id("camp-1");
    stub->async()->SubmitLead(&c->ctx, &c->req, &c->resp, [c, done, &routed](grpc::Status s) {
      bool ok = s.ok() && c->resp.lead().status() == lr::LEAD_STATUS_ASSIGNED;
      if (ok) routed.fetch_add(1, std::memory_order_relaxed);
      delete c;
      done(ok);
    });
  };
  if (submit_only > 0) {
    Drive(inflight, 1e9, submit_lead, submit_only);
    printf("submitted %lld leads, routed %lld\n", static_cast<long long>(submit_only),
           static_cast<long long>(routed.load()));
    svc->Kill(SIGTERM).IgnoreError();
    svc->Wait(absl::Seconds(60)).IgnoreError();
    return 0;
  }
  Result noop = DriveNoop(channel, inflight, seconds);
  Result submit = Drive(inflight, seconds, submit_lead);
  PrintRow("no-op unary RPC (grpc.health.v1 Check)", noop);
  PrintRow("SubmitLead (durable, routed)", submit);
  printf("SubmitLead / no-op throughput: %.2f (floor 0.50: %s)\n", submit.per_sec / noop.per_sec,
         submit.per_sec >= 0.5 * noop.per_sec ? "PASS" : "FAIL");
  svc->Kill(SIGTERM).IgnoreError();
  svc->Wait(absl::Seconds(30)).IgnoreError();
  return 0;
}
