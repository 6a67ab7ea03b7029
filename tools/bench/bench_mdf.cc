// Fund requests decided per second over gRPC against the real mdf binary, 64
// calls in flight: on one hot fund (every decision serialised on one balance)
// and spread over 10,000 funds; ratio to the no-op unary RPC measured by the
// same client in the same run. Each measured call is DecideFundRequest
// (APPROVE: reserves money, durable); the requests are submitted beforehand.
// Usage: bench_mdf [--requests=20000] [--funds=10000] [--inflight=64]
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "channelops/mdf/v1/mdf.grpc.pb.h"
#include "channelops/testing/temp_dir.h"
#include "rpc_driver.h"

namespace mdf = channelops::mdf::v1;

namespace {
std::string Day(absl::Time t) { return absl::FormatTime("%Y-%m-%d", t, absl::UTCTimeZone()); }
channelops::common::v1::Money Usd(int64_t u) {
  channelops::common::v1::Money m;
  m.set_currency_code("USD");
  m.set_amount_micros(u * 1'000'000);
  return m;
}
}  // namespace

int main(int argc, char** argv) {
  BenchProcessInit();
  int64_t requests = 20000;
  int funds = 10000, inflight = 64;
  std::string server_bin_dir = CHANNELOPS_BIN_DIR;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--requests=", 0) == 0) requests = std::stoll(a.substr(11));
    if (a.rfind("--funds=", 0) == 0) funds = std::stoi(a.substr(8));
    if (a.rfind("--inflight=", 0) == 0) inflight = std::stoi(a.substr(11));
    if (a.rfind("--server_bin_dir=", 0) == 0) server_bin_dir = a.substr(17);
    if (a == "--help") {
      printf(
          "bench_mdf [--requests=20000] [--funds=10000] [--inflight=64]\n"
          "          [--server_bin_dir=DIR]  (the mdf binary to run)\n");
      return 0;
    }
  }
  channelops::testing::TempDir dir;
  std::unique_ptr<channelops::testing::ChildProcess> svc;
  std::string addr = StartService(server_bin_dir, "mdf", dir.Path("mdf"), &svc);
  if (addr.empty()) return 1;
  auto channel = grpc::CreateChannel(addr, grpc::InsecureChannelCredentials());
  auto stub = mdf::MdfService::NewStub(channel);
  absl::Time now = absl::Now();
  google::protobuf::Timestamp expires;
  expires.set_seconds(absl::ToUnixSeconds(now + absl::Hours(24 * 90)));
  // Funds: F0 is the hot one (room for every request), F1..Fn the spread ones.
  Drive(inflight, 1e6, [&](int64_t i, std::function<void(bool)> done) {
    struct Call {
      grpc::ClientContext ctx;
      mdf::AllocateFundsRequest req;
      mdf::FundResponse resp;
    };
    auto* c = new Call;
    c->req.set_request_id(absl::StrCat("alloc-", i));
    c->req.set_fund_id(absl::StrCat("F", i));
    c->req.set_partner_id(absl::StrCat("P", i));
    c->req.set_kind(mdf::FUND_KIND_MDF);
    c->req.mutable_period()->set_start_date(Day(now - absl::Hours(24)));
    c->req.mutable_period()->set_end_date(Day(now + absl::Hours(24 * 60)));
    *c->req.mutable_amount() = Usd(i == 0 ? 1'000'000'000 : 1'000'000);
    *c->req.mutable_expires_at() = expires;
    stub->async()->AllocateFunds(&c->ctx, &c->req, &c->resp, [c, done](grpc::Status s) {
      delete c;
      done(s.ok());
    });
  }, funds + 1);
  // Submitted requests: the first half on the hot fund, the second half spread.
  std::vector<std::string> ids(requests);
  Result submitted = Drive(inflight, 1e6, [&](int64_t i, std::function<void(bool)> done) {
    struct Call {
      grpc::ClientContext ctx;
      mdf::SubmitFundRequestRequest req;
      mdf::FundRequestResponse resp;
    };
    auto* c = new Call;
    int64_t fund = i < requests / 2 ? 0 : 1 + i % funds;
    c->req.set_request_id(absl::StrCat("submit-", i));
    c->req.set_fund_id(absl::StrCat("F", fund));
    c->req.set_partner_id(absl::StrCat("P", fund));
    auto* d = c->req.mutable_details();
    d->set_activity_type(mdf::ACTIVITY_TYPE_DIGITAL);
    d->set_name("campaign");
    d->set_start_date(Day(now));
    d->set_end_date(Day(now + absl::Hours(24 * 7)));
    *d->mutable_planned_cost() = Usd(100);
    *d->mutable_requested_amount() = Usd(50);
    stub->async()->SubmitFundRequest(&c->ctx, &c->req, &c->resp, [c, i, &ids, done](grpc::Status s) {
      if (s.ok()) ids[i] = c->resp.fund_request().fund_request_id();
      delete c;
      done(s.ok());
    });
  }, requests);
  if (submitted.errors > 0) {
    fprintf(stderr, "%lld submissions failed\n", static_cast<long long>(submitted.errors));
    return 1;
  }
  auto decide = [&](int64_t offset) {
    return [&, offset](int64_t i, std::function<void(bool)> done) {
      struct Call {
        grpc::ClientContext ctx;
        mdf::DecideFundRequestRequest req;
        mdf::FundRequestResponse resp;
      };
      auto* c = new Call;
      c->req.set_request_id(absl::StrCat("decide-", offset + i));
      c->req.set_fund_request_id(ids[offset + i]);
      c->req.set_decision(mdf::FUND_REQUEST_DECISION_APPROVE);
      stub->async()->DecideFundRequest(&c->ctx, &c->req, &c->resp, [c, done](grpc::Status s) {
        bool ok = s.ok() && c->resp.fund_request().status() == mdf::FUND_REQUEST_STATUS_APPROVED;
        delete c;
        done(ok);
      });
    };
  };
  printf("# MDF benchmark: %d calls in flight, %lld requests, %d funds, one client process\n", inflight,
         static_cast<long long>(requests), funds);
  Result noop = DriveNoop(channel, inflight, 5);
  Result hot = Drive(inflight, 1e6, decide(0), requests / 2);
  Result spread = Drive(inflight, 1e6, decide(requests / 2), requests - requests / 2);
  PrintRow("no-op unary RPC (grpc.health.v1 Check)", noop);
  PrintRow("DecideFundRequest, one hot fund", hot);
  PrintRow("DecideFundRequest, spread over funds", spread);
  printf("hot / no-op: %.2f; spread / no-op: %.2f\n", hot.per_sec / noop.per_sec, spread.per_sec / noop.per_sec);
  svc->Kill(SIGTERM).IgnoreError();
  svc->Wait(absl::Seconds(30)).IgnoreError();
  return 0;
}
