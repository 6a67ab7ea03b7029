// End to end through the real binaries: dev_kafka and deal_registration are
// started as processes; the test talks to them only through gRPC, the Kafka
// topic and the /metrics endpoint, then SIGTERMs the service and expects a clean
// drain.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <cstdlib>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "channelops/common/v1/envelope.pb.h"
#include "channelops/dealreg/v1/dealreg.grpc.pb.h"
#include "channelops/dealreg/v1/events.pb.h"
#include "channelops/testing/child_process.h"
#include "channelops/testing/http.h"
#include "channelops/testing/kafka_cluster.h"
#include "channelops/testing/temp_dir.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"

namespace channelops {
namespace {

namespace dr = dealreg::v1;
using testing::ChildProcess;

using testing::HttpGet;

std::string Header(const testing::Record& r, const std::string& name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return v;
  }
  return "";
}

common::v1::Money Usd(int64_t units) {
  common::v1::Money m;
  m.set_currency_code("USD");
  m.set_amount_micros(units * 1'000'000);
  return m;
}

TEST(DealRegistrationE2E, RealBinaryGrpcKafkaMetricsAndCleanDrain) {
  testing::TempDir dir;
  const std::string topic = "channelops.deal_registration.events.v1";
  auto kafka = ChildProcess::Start(testing::BinDir() + "/dev_kafka",
                                   {"--addr=127.0.0.1:0", "--partitions=8", "--topics=" + topic});
  ASSERT_TRUE(kafka.ok()) << kafka.status();
  auto kline = (*kafka)->WaitForLine("bootstrap=([0-9.]+:[0-9]+)", absl::Seconds(30));
  ASSERT_TRUE(kline.ok()) << kline.status();
  const std::string bootstrap = (*kline)[1];

  auto svc = ChildProcess::Start(
      testing::BinDir() + "/deal_registration",
      {"--grpc_addr=127.0.0.1:0", "--metrics_addr=127.0.0.1:0", "--data_dir=" + dir.Path("dealreg")},
      {{"CHANNELOPS_KAFKA_BOOTSTRAP", bootstrap}});  // env override of a flag
  ASSERT_TRUE(svc.ok()) << svc.status();
  auto line = (*svc)->WaitForLine(R"re("grpc_addr":"([0-9.]+:[0-9]+)".*"metrics_addr":"([0-9.]+:[0-9]+)")re",
                                  absl::Seconds(30));
  ASSERT_TRUE(line.ok()) << line.status() << (*svc)->OutputTail();
  const std::string grpc_addr = (*line)[1], metrics_addr = (*line)[2];

  auto stub = dr::DealRegistrationService::NewStub(
      grpc::CreateChannel(grpc_addr, grpc::InsecureChannelCredentials()));
  auto ctx = [] {
    auto c = std::make_unique<grpc::ClientContext>();
    c->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return c;
  };
  {
    dr::SetProgramRulesRequest req;
    req.set_request_id("rules-1");
    req.mutable_rules()->set_program_id("prog");
    req.mutable_rules()->set_currency_code("USD");
    req.mutable_rules()->set_approval_mode(dr::APPROVAL_MODE_AUTO);
    dr::SetProgramRulesResponse resp;
    auto s = stub->SetProgramRules(ctx().get(), req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  auto reg = [&](const std::string& rid, const std::string& partner, const std::string& name) {
    dr::RegisterDealRequest req;
    req.set_request_id(rid);
    req.set_program_id("prog");
    req.set_partner_id(partner);
    req.mutable_partner_contact()->set_name("Pat");
    req.mutable_end_customer()->set_name(name);
    req.mutable_end_customer()->mutable_address()->set_country_code("US");
    auto* l = req.add_lines();
    l->set_product_line("NET");
    l->set_quantity(10);
    *l->mutable_unit_price() = Usd(1000);
    req.set_expected_close_date(absl::FormatTime("%Y-%m-%d", absl::Now() + absl::Hours(24 * 30), absl::UTCTimeZone()));
    dr::RegisterDealResponse resp;
    grpc::Status s = stub->RegisterDeal(ctx().get(), req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  };
  auto first = reg("r1", "P1", "ACME Corp.");
  EXPECT_EQ(first.deal().status(), dr::DEAL_STATUS_APPROVED);
  auto second = reg("r2", "P2", "acme, inc");
  EXPECT_EQ(second.deal().status(), dr::DEAL_STATUS_REJECTED);
  ASSERT_GE(second.deal().reasons_size(), 1);
  EXPECT_EQ(second.deal().reasons(0).code(), dr::REASON_CODE_CONFLICT_PARTNER_REGISTRATION);
  EXPECT_EQ(second.deal().reasons(0).conflicting_deal_id(), first.deal().deal_id());
  std::string serialized;
  second.SerializeToString(&serialized);
  EXPECT_EQ(serialized.find("P1"), std::string::npos) << "the other partner must not be revealed";

  // Bad input: INVALID_ARGUMENT naming the field, nothing written.
  {
    dr::RegisterDealRequest req;
    req.set_request_id("bad");
    req.set_program_id("prog");
    dr::RegisterDealResponse resp;
    grpc::Status s = stub->RegisterDeal(ctx().get(), req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(s.error_message().find("partner_id"), std::string::npos) << s.error_message();
  }

  // The events arrive on Kafka with CloudEvents headers.
  auto recs = testing::ReadTopic(bootstrap, topic, 3, absl::Seconds(30));
  ASSERT_EQ(recs.size(), 3u);
  std::set<std::string> types;
  for (const auto& r : recs) {
    common::v1::EventEnvelope env;
    ASSERT_TRUE(env.ParseFromString(r.value));
    EXPECT_EQ(Header(r, "ce_specversion"), "1.0");
    EXPECT_EQ(Header(r, "ce_source"), "channelops/deal_registration");
    EXPECT_EQ(Header(r, "ce_type"), env.event_type());
    EXPECT_EQ(Header(r, "ce_id"), env.event_id());
    EXPECT_EQ(Header(r, "ce_subject"), r.key);
    EXPECT_EQ(env.stream_id(), r.key);
    types.insert(env.event_type());
  }
  EXPECT_TRUE(types.count("channelops.dealreg.v1.ProgramRulesSet")) << *types.begin();
  EXPECT_TRUE(types.count("channelops.dealreg.v1.DealRegistered"));

  // A real Prometheus scrape of /metrics.
  std::string metrics = HttpGet(metrics_addr, "/metrics");
  EXPECT_NE(metrics.find("channelops_grpc_server_handled_total{code=\"OK\",method=\"/channelops.dealreg.v1.DealRegistrationService/RegisterDeal\"} 2"),
            std::string::npos) << metrics.substr(0, 3000);
  EXPECT_NE(metrics.find("code=\"INVALID_ARGUMENT\""), std::string::npos);
  EXPECT_NE(metrics.find("channelops_outbox_published_total"), std::string::npos);
  EXPECT_NE(metrics.find("channelops_eventstore_append_latency_seconds_bucket"), std::string::npos);
  // The conflict check is timed inside the server, once per decided RegisterDeal.
  EXPECT_NE(metrics.find("channelops_dealreg_conflict_check_seconds_count{rpc=\"RegisterDeal\"} 2"),
            std::string::npos);
  // Every appended command passes the four stages of the commit path.
  for (const char* stage : {"queued", "decided", "durable", "answered"}) {
    const std::string series =
        absl::StrCat("channelops_eventstore_stage_seconds_count{stage=\"", stage, "\"} ");
    const size_t at = metrics.find(series);
    ASSERT_NE(at, std::string::npos) << series;
    EXPECT_GE(std::strtod(metrics.c_str() + at + series.size(), nullptr), 3.0) << series;
  }
  // The engine's memory: the memtables hold what was written (the stats thread
  // refreshes the gauges once a second).
  {
    const std::string series = "channelops_eventstore_memory_bytes{component=\"memtables\"} ";
    double memtables = 0;
    for (absl::Time until = absl::Now() + absl::Seconds(10); absl::Now() < until;
         absl::SleepFor(absl::Milliseconds(200))) {
      metrics = HttpGet(metrics_addr, "/metrics");
      const size_t at = metrics.find(series);
      ASSERT_NE(at, std::string::npos);
      memtables = std::strtod(metrics.c_str() + at + series.size(), nullptr);
      if (memtables > 0) break;
    }
    EXPECT_GT(memtables, 0.0);
    EXPECT_NE(metrics.find("channelops_eventstore_memory_bytes{component=\"table_readers\"}"),
              std::string::npos);
    EXPECT_NE(metrics.find("channelops_eventstore_table_files_bytes"), std::string::npos);
  }

  // SIGTERM: drains and exits 0; a restart keeps everything.
  ASSERT_TRUE((*svc)->Kill(SIGTERM).ok());
  auto code = (*svc)->Wait(absl::Seconds(30));
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 0) << (*svc)->OutputTail();
  EXPECT_NE((*svc)->ReadStderr().find("\"msg\":\"stopped\""), std::string::npos);
}

}  // namespace
}  // namespace channelops

namespace channelops {
namespace {

TEST(DealRegistrationE2E, HelpDocumentsEveryCommonFlag) {
  auto p = testing::ChildProcess::Start(testing::BinDir() + "/deal_registration", {"--help"});
  ASSERT_TRUE(p.ok());
  auto code = (*p)->Wait(absl::Seconds(10));
  ASSERT_TRUE(code.ok());
  std::string out = (*p)->ReadStdout() + (*p)->ReadStderr();
  for (const char* flag :
       {"--grpc_addr", "--metrics_addr", "--data_dir", "--kafka_bootstrap", "--kafka_format",
        "--shutdown_timeout", "--outbox_republish_from", "--identity_header", "--tls_cert_file",
        "--tls_key_file", "--tls_ca_file", "--tls_client_auth", "--tls_reload_interval",
        "--metrics_tls", "CHANNELOPS_"}) {
    EXPECT_NE(out.find(flag), std::string::npos) << flag << " missing from --help:\n" << out;
  }
}

TEST(DealRegistrationE2E, BadFlagIsAClearError) {
  testing::TempDir dir;
  auto p = testing::ChildProcess::Start(testing::BinDir() + "/deal_registration",
                                        {"--data_dir=" + dir.Path("d"), "--kafka_format=xml"});
  ASSERT_TRUE(p.ok());
  auto code = (*p)->Wait(absl::Seconds(10));
  ASSERT_TRUE(code.ok());
  EXPECT_NE(*code, 0);
  EXPECT_NE((*p)->ReadStderr().find("kafka_format"), std::string::npos) << (*p)->ReadStderr();
}

}  // namespace
}  // namespace channelops
