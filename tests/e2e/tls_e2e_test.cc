// Mutual TLS through the real deal_registration binary: the caller identity is
// the client certificate's SPIFFE URI SAN and is recorded as the events' actor;
// clients without a certificate from the CA are refused at the handshake.
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/time/clock.h"
#include "channelops/dealreg/v1/dealreg.grpc.pb.h"
#include "channelops/testing/child_process.h"
#include "channelops/testing/temp_dir.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"

namespace channelops {
namespace {

namespace dr = dealreg::v1;

std::string Slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::shared_ptr<grpc::Channel> TlsChannel(const std::string& addr, const std::string& dir,
                                          const std::string& client /* "" = none */) {
  grpc::SslCredentialsOptions o;
  o.pem_root_certs = Slurp(dir + "/ca.pem");
  if (!client.empty()) {
    o.pem_private_key = Slurp(dir + "/" + client + ".key");
    o.pem_cert_chain = Slurp(dir + "/" + client + ".pem");
  }
  return grpc::CreateChannel(addr, grpc::SslCredentials(o));
}

TEST(MutualTlsE2E, IdentityFromClientCertificateIsTheActor) {
  testing::TempDir dir;
  std::string certs = dir.Path("certs");
  std::string cmd = std::string(getenv("CHANNELOPS_SOURCE_DIR")) + "/tools/channelops certs " + certs +
                    " >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  auto svc = testing::ChildProcess::Start(
      testing::BinDir() + "/deal_registration",
      {"--grpc_addr=127.0.0.1:0", "--metrics_addr=", "--kafka_bootstrap=", "--data_dir=" + dir.Path("d"),
       "--tls_cert_file=" + certs + "/server.pem", "--tls_key_file=" + certs + "/server.key",
       "--tls_ca_file=" + certs + "/ca.pem",
       "--authz_policy=" + std::string(getenv("CHANNELOPS_SOURCE_DIR")) + "/deploy/authz/policy.json"});
  ASSERT_TRUE(svc.ok());
  auto line = (*svc)->WaitForLine(R"re("grpc_addr":"([0-9.]+:[0-9]+)")re", absl::Seconds(30));
  ASSERT_TRUE(line.ok()) << (*svc)->OutputTail();
  std::string addr = (*line)[1];

  auto call_rules = [&](std::shared_ptr<grpc::Channel> ch, dr::SetProgramRulesResponse* resp) {
    auto stub = dr::DealRegistrationService::NewStub(ch);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    dr::SetProgramRulesRequest req;
    req.set_request_id("r-" + std::to_string(rand()));
    req.mutable_rules()->set_program_id("prog");
    req.mutable_rules()->set_currency_code("USD");
    return stub->SetProgramRules(&ctx, req, resp);
  };
  dr::SetProgramRulesResponse resp;
  grpc::Status s = call_rules(TlsChannel(addr, certs, "channel-manager"), &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();

  // A partner registers over mTLS; the actor recorded on the event is the SPIFFE
  // id of its client certificate (the audit trail shows who did it).
  std::string deal_id;
  {
    auto stub = dr::DealRegistrationService::NewStub(TlsChannel(addr, certs, "partner-P001"));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    dr::RegisterDealRequest req;
    req.set_request_id("reg-1");
    req.set_program_id("prog");
    req.set_partner_id("P001");
    req.mutable_partner_contact()->set_name("Pat");
    req.mutable_end_customer()->set_name("Acme");
    req.mutable_end_customer()->mutable_address()->set_country_code("US");
    auto* l = req.add_lines();
    l->set_product_line("NET");
    l->set_quantity(1);
    l->mutable_unit_price()->set_currency_code("USD");
    l->mutable_unit_price()->set_amount_micros(1000000);
    req.set_expected_close_date(absl::FormatTime("%Y-%m-%d", absl::Now() + absl::Hours(24 * 30), absl::UTCTimeZone()));
    dr::RegisterDealResponse r;
    grpc::Status rs = stub->RegisterDeal(&ctx, req, &r);
    ASSERT_TRUE(rs.ok()) << rs.error_message();
    deal_id = r.deal().deal_id();
  }
  {
    auto stub = dr::DealRegistrationService::NewStub(TlsChannel(addr, certs, "analyst"));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    dr::GetDealHistoryRequest req;
    req.set_deal_id(deal_id);
    dr::GetDealHistoryResponse r;
    grpc::Status hs = stub->GetDealHistory(&ctx, req, &r);
    ASSERT_TRUE(hs.ok()) << hs.error_message();
    ASSERT_GE(r.events_size(), 1);
    EXPECT_EQ(r.events(0).actor(), "spiffe://channelops/partner/P001");
  }
  // Authorization: a partner may not act for another partner, nor read its deal,
  // nor decide (channel-manager role).
  {
    auto stub = dr::DealRegistrationService::NewStub(TlsChannel(addr, certs, "partner-P002"));
    grpc::ClientContext ctx;
    dr::GetDealRequest req;
    req.set_deal_id(deal_id);
    dr::DealResponse r;
    EXPECT_EQ(stub->GetDeal(&ctx, req, &r).error_code(), grpc::StatusCode::PERMISSION_DENIED);
    grpc::ClientContext ctx2;
    dr::ApproveDealRequest ap;
    ap.set_request_id("ap");
    ap.set_deal_id(deal_id);
    EXPECT_EQ(stub->ApproveDeal(&ctx2, ap, &r).error_code(), grpc::StatusCode::PERMISSION_DENIED);
    grpc::ClientContext ctx3;
    dr::ListDealsRequest ls;
    ls.set_partner_id("P001");
    dr::ListDealsResponse lr;
    EXPECT_EQ(stub->ListDeals(&ctx3, ls, &lr).error_code(), grpc::StatusCode::PERMISSION_DENIED);
    grpc::ClientContext ctx4;
    dr::ListDealsRequest any;  // no partner filter: a partner may not list everyone's
    EXPECT_EQ(stub->ListDeals(&ctx4, any, &lr).error_code(), grpc::StatusCode::PERMISSION_DENIED);
    grpc::ClientContext ctx5;
    dr::ListDealsRequest mine;
    mine.set_partner_id("P002");
    ASSERT_TRUE(stub->ListDeals(&ctx5, mine, &lr).ok());
    EXPECT_EQ(lr.deals_size(), 0);
  }
  // Without a client certificate: refused.
  s = call_rules(TlsChannel(addr, certs, ""), &resp);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  // Plaintext: refused.
  s = call_rules(grpc::CreateChannel(addr, grpc::InsecureChannelCredentials()), &resp);
  EXPECT_FALSE(s.ok());
  // A certificate from another CA: refused.
  std::string other = dir.Path("other");
  ASSERT_EQ(std::system((std::string(getenv("CHANNELOPS_SOURCE_DIR")) + "/tools/channelops certs " + other +
                         " >/dev/null 2>&1").c_str()), 0);
  {
    grpc::SslCredentialsOptions o;
    o.pem_root_certs = Slurp(certs + "/ca.pem");
    o.pem_private_key = Slurp(other + "/partner-P001.key");
    o.pem_cert_chain = Slurp(other + "/partner-P001.pem");
    s = call_rules(grpc::CreateChannel(addr, grpc::SslCredentials(o)), &resp);
    EXPECT_FALSE(s.ok());
  }
  ASSERT_TRUE((*svc)->Kill(SIGTERM).ok());
  ASSERT_EQ(*(*svc)->Wait(absl::Seconds(30)), 0);
}

TEST(TrustedHeaderE2E, NoIdentityIsUnauthenticated) {
  testing::TempDir dir;
  auto svc = testing::ChildProcess::Start(
      testing::BinDir() + "/deal_registration",
      {"--grpc_addr=127.0.0.1:0", "--metrics_addr=", "--kafka_bootstrap=", "--data_dir=" + dir.Path("d"),
       "--identity_header=x-channelops-principal",
       "--authz_policy=" + std::string(getenv("CHANNELOPS_SOURCE_DIR")) + "/deploy/authz/policy.json"});
  ASSERT_TRUE(svc.ok());
  auto line = (*svc)->WaitForLine(R"re("grpc_addr":"([0-9.]+:[0-9]+)")re", absl::Seconds(30));
  ASSERT_TRUE(line.ok()) << (*svc)->OutputTail();
  auto stub = dr::DealRegistrationService::NewStub(
      grpc::CreateChannel((*line)[1], grpc::InsecureChannelCredentials()));
  dr::GetProgramRulesRequest req;
  req.set_program_id("prog");
  dr::GetProgramRulesResponse r;
  grpc::ClientContext anon;
  EXPECT_EQ(stub->GetProgramRules(&anon, req, &r).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  grpc::ClientContext with;
  with.AddMetadata("x-channelops-principal", "spiffe://channelops/staff/analyst");
  EXPECT_EQ(stub->GetProgramRules(&with, req, &r).error_code(), grpc::StatusCode::NOT_FOUND);
  (*svc)->Kill(SIGTERM);
  (*svc)->Wait(absl::Seconds(30));
  EXPECT_NE((*svc)->ReadStderr().find("\"msg\":\"call denied\""), std::string::npos);
}

}  // namespace
}  // namespace channelops
