// Certificate rotation without a restart, through the real deal_registration
// binary: its --tls_cert_file/--tls_key_file are replaced on disk the way
// Kubernetes updates a mounted Secret (an atomic swap of the `..data` symlink),
// and after --tls_reload_interval new connections get the new certificate while
// the process, its established connections and an open streaming RPC carry on.
#include <unistd.h>

#include <atomic>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "channelops/dealreg/v1/dealreg.grpc.pb.h"
#include "channelops/testing/child_process.h"
#include "channelops/testing/temp_dir.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "test_pki.h"

namespace channelops {
namespace {

namespace dr = dealreg::v1;
using grpc::health::v1::Health;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;
using testing::MakePki;
using testing::Publish;
using testing::Sh;
using testing::Slurp;

// A channel that never shares a connection with another (gRPC otherwise reuses
// subchannels across channels with equal arguments).
std::shared_ptr<grpc::Channel> FreshChannel(const std::string& addr, const std::string& pki) {
  static std::atomic<int> n{0};
  grpc::SslCredentialsOptions o;
  o.pem_root_certs = Slurp(pki + "/ca.pem");
  o.pem_private_key = Slurp(pki + "/client.key");
  o.pem_cert_chain = Slurp(pki + "/client.pem");
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt("channelops.test.channel", n++);
  return grpc::CreateCustomChannel(addr, grpc::SslCredentials(o), args);
}

// One health check on `ch`; returns the server certificate's CN and PEM as the
// client saw (and verified) them, or the RPC error.
struct Seen {
  grpc::Status status;
  std::string cn, pem;
};
Seen Probe(const std::shared_ptr<grpc::Channel>& ch) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  HealthCheckRequest req;
  HealthCheckResponse resp;
  Seen out;
  out.status = Health::NewStub(ch)->Check(&ctx, req, &resp);
  if (!out.status.ok()) return out;
  if (resp.status() != HealthCheckResponse::SERVING) {
    out.status = grpc::Status(grpc::StatusCode::INTERNAL, "not SERVING");
  }
  auto auth = ctx.auth_context();
  for (const auto& v : auth->FindPropertyValues("x509_common_name"))
    out.cn.assign(v.data(), v.size());
  for (const auto& v : auth->FindPropertyValues("x509_pem_cert"))
    out.pem.assign(v.data(), v.size());
  return out;
}

TEST(CertReloadE2E, RotatedServerCertificateIsServedWithoutRestart) {
  testing::TempDir dir;
  const std::string pki = dir.Path("pki"), mount = dir.Path("secret");
  ASSERT_NO_FATAL_FAILURE(MakePki(pki));
  ASSERT_EQ(Sh("mkdir -p " + mount), 0);
  ASSERT_NO_FATAL_FAILURE(Publish(pki, mount, "server-a", 1));

  auto svc = testing::ChildProcess::Start(
      testing::BinDir() + "/deal_registration",
      {"--grpc_addr=127.0.0.1:0", "--metrics_addr=", "--kafka_bootstrap=",
       "--data_dir=" + dir.Path("d"), "--tls_cert_file=" + mount + "/tls.crt",
       "--tls_key_file=" + mount + "/tls.key", "--tls_ca_file=" + mount + "/ca.crt",
       "--tls_client_auth=require", "--tls_reload_interval=1s"});
  ASSERT_TRUE(svc.ok()) << svc.status();
  auto line = (*svc)->WaitForLine(R"re("grpc_addr":"([0-9.]+:[0-9]+)")re", absl::Seconds(30));
  ASSERT_TRUE(line.ok()) << (*svc)->OutputTail();
  const std::string addr = (*line)[1];
  const pid_t pid = (*svc)->pid();

  // Certificate A, verified against the CA by the client.
  auto held = FreshChannel(addr, pki);  // stays connected through the rotation
  Seen a = Probe(held);
  ASSERT_TRUE(a.status.ok()) << a.status.error_message() << (*svc)->OutputTail();
  EXPECT_EQ(a.cn, "server-a");
  EXPECT_EQ(a.pem, Slurp(pki + "/server-a.pem"));

  // In flight across the rotation: a server-streaming Health/Watch on the held
  // connection, and a client writing on it without pause.
  grpc::ClientContext watch_ctx;
  HealthCheckRequest watch_req;
  auto watch = Health::NewStub(held)->Watch(&watch_ctx, watch_req);
  HealthCheckResponse first;
  ASSERT_TRUE(watch->Read(&first));
  EXPECT_EQ(first.status(), HealthCheckResponse::SERVING);
  std::atomic<bool> watch_ended{false};
  std::thread watcher([&] {
    HealthCheckResponse r;
    while (watch->Read(&r)) {
    }
    watch_ended = true;
  });
  std::atomic<bool> stop{false};
  std::atomic<int> writes_ok{0}, writes_failed{0};
  std::string first_write_error;
  std::thread writer([&] {
    auto stub = dr::DealRegistrationService::NewStub(held);
    for (int i = 0; !stop; ++i) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
      dr::SetProgramRulesRequest req;
      req.set_request_id(absl::StrCat("rules-", i));
      req.mutable_rules()->set_program_id("prog");
      req.mutable_rules()->set_currency_code("USD");
      dr::SetProgramRulesResponse resp;
      grpc::Status s = stub->SetProgramRules(&ctx, req, &resp);
      if (s.ok()) {
        ++writes_ok;
      } else if (writes_failed++ == 0) {
        first_write_error = s.error_message();
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
  });

  // Rotate to certificate B (same CA). New connections see B within a few
  // reload intervals; every one of them verifies against the CA.
  absl::SleepFor(absl::Milliseconds(300));
  ASSERT_NO_FATAL_FAILURE(Publish(pki, mount, "server-b", 2));
  absl::Time rotated = absl::Now();
  Seen b;
  int probes = 0, probe_errors = 0;
  do {
    b = Probe(FreshChannel(addr, pki));
    ++probes;
    if (!b.status.ok()) ++probe_errors;
    if (b.cn == "server-b") break;
    absl::SleepFor(absl::Milliseconds(200));
  } while (absl::Now() < rotated + absl::Seconds(30));
  EXPECT_EQ(b.cn, "server-b") << "still served " << b.cn << " 30 s after the rotation; "
                              << b.status.error_message() << (*svc)->OutputTail();
  EXPECT_EQ(b.pem, Slurp(pki + "/server-b.pem"));
  EXPECT_EQ(probe_errors, 0) << "handshakes failed during the rotation";
  std::cout << "new connections got certificate B " << absl::Now() - rotated << " after the swap ("
            << probes << " probes)" << std::endl;
  // Every new connection from now on gets B.
  for (int i = 0; i < 5; ++i) {
    Seen again = Probe(FreshChannel(addr, pki));
    ASSERT_TRUE(again.status.ok()) << again.status.error_message();
    EXPECT_EQ(again.cn, "server-b");
  }
  absl::SleepFor(absl::Milliseconds(300));
  stop = true;
  writer.join();

  // The held connection was not dropped: it still answers, authenticated by A.
  Seen still = Probe(held);
  ASSERT_TRUE(still.status.ok()) << still.status.error_message();
  EXPECT_EQ(still.cn, "server-a");
  EXPECT_FALSE(watch_ended) << "the streaming RPC ended during the rotation";
  watch_ctx.TryCancel();
  watcher.join();
  EXPECT_EQ(watch->Finish().error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_EQ(writes_failed, 0) << first_write_error;
  EXPECT_GT(writes_ok, 10);

  // Same process all along.
  EXPECT_TRUE((*svc)->Running());
  EXPECT_EQ((*svc)->pid(), pid);
  std::string err = (*svc)->ReadStderr();
  size_t first_listen = err.find("\"msg\":\"listening\"");
  ASSERT_NE(first_listen, std::string::npos);
  EXPECT_EQ(err.find("\"msg\":\"listening\"", first_listen + 1), std::string::npos)
      << "started twice?";
  // Close the test's connections first: the drain waits (up to
  // --shutdown_timeout) for clients to go, and this test is not about draining.
  watch.reset();
  held.reset();
  ASSERT_TRUE((*svc)->Kill(SIGTERM).ok());
  auto code = (*svc)->Wait(absl::Seconds(30));
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 0) << (*svc)->OutputTail();
}

}  // namespace
}  // namespace channelops
