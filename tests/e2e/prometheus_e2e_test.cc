// A real Prometheus (Debian's `prometheus`) scrapes the real services; the test
// asks Prometheus' HTTP API for each service's request and outbox metrics.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "channelops/dealreg/v1/dealreg.grpc.pb.h"
#include "channelops/testing/child_process.h"
#include "channelops/testing/http.h"
#include "channelops/testing/temp_dir.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"

namespace channelops {
namespace {

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  int port = ntohs(a.sin_port);
  close(fd);
  return port;
}

TEST(PrometheusE2E, RealPrometheusScrapesServiceMetrics) {
  if (access("/usr/bin/prometheus", X_OK) != 0)
    GTEST_FAIL() << "prometheus not installed (tools/channelops setup)";
  testing::TempDir dir;
  const std::string topic = "channelops.deal_registration.events.v1";
  auto kafka =
      testing::ChildProcess::Start(testing::BinDir() + "/dev_kafka",
                                   {"--addr=127.0.0.1:0", "--partitions=4", "--topics=" + topic});
  ASSERT_TRUE(kafka.ok());
  auto kline = (*kafka)->WaitForLine("bootstrap=([0-9.]+:[0-9]+)", absl::Seconds(30));
  ASSERT_TRUE(kline.ok());
  int metrics_port = FreePort();
  auto svc = testing::ChildProcess::Start(
      testing::BinDir() + "/deal_registration",
      {"--grpc_addr=127.0.0.1:0", absl::StrCat("--metrics_addr=127.0.0.1:", metrics_port),
       "--kafka_bootstrap=" + (*kline)[1], "--data_dir=" + dir.Path("d")});
  ASSERT_TRUE(svc.ok());
  auto line = (*svc)->WaitForLine(R"re("grpc_addr":"([0-9.]+:[0-9]+)")re", absl::Seconds(30));
  ASSERT_TRUE(line.ok()) << (*svc)->OutputTail();
  {
    auto stub = dealreg::v1::DealRegistrationService::NewStub(
        grpc::CreateChannel((*line)[1], grpc::InsecureChannelCredentials()));
    grpc::ClientContext ctx;
    dealreg::v1::SetProgramRulesRequest req;
    req.set_request_id("r");
    req.mutable_rules()->set_program_id("p");
    req.mutable_rules()->set_currency_code("USD");
    dealreg::v1::SetProgramRulesResponse resp;
    ASSERT_TRUE(stub->SetProgramRules(&ctx, req, &resp).ok());
  }
  int prom_port = FreePort();
  std::string cfg = dir.Path("prometheus.yml");
  std::ofstream(cfg) << "global:\n  scrape_interval: 1s\n"
                     << "scrape_configs:\n  - job_name: deal_registration\n    static_configs:\n"
                     << "      - targets: ['127.0.0.1:" << metrics_port << "']\n";
  auto prom = testing::ChildProcess::Start(
      "/usr/bin/prometheus", {"--config.file=" + cfg, "--storage.tsdb.path=" + dir.Path("tsdb"),
                              absl::StrCat("--web.listen-address=127.0.0.1:", prom_port)});
  ASSERT_TRUE(prom.ok());
  auto query = [&](const std::string& q) {
    return testing::HttpGet(absl::StrCat("127.0.0.1:", prom_port), "/api/v1/query?query=" + q);
  };
  std::string handled, outbox;
  absl::Time end = absl::Now() + absl::Seconds(60);
  while (absl::Now() < end) {
    handled = query("channelops_grpc_server_handled_total");
    outbox = query("channelops_outbox_published_total");
    if (handled.find("SetProgramRules") != std::string::npos &&
        outbox.find("\"job\":\"deal_registration\"") != std::string::npos) {
      break;
    }
    absl::SleepFor(absl::Milliseconds(500));
  }
  EXPECT_NE(
      handled.find("\"method\":\"/channelops.dealreg.v1.DealRegistrationService/SetProgramRules\""),
      std::string::npos)
      << handled << (*prom)->OutputTail();
  EXPECT_NE(outbox.find("\"topic\":\"channelops.deal_registration.events.v1\""), std::string::npos)
      << outbox;
  std::string up = query("up");
  EXPECT_NE(up.find("\"value\":["), std::string::npos) << up;
}

}  // namespace
}  // namespace channelops
