// Service-level tests: the real CompensationService behind a real gRPC server
// on 127.0.0.1:0, over a RocksDB event store in a temporary directory, driven
// through the generated stub. Time is a FakeClock shared by the store and the
// service, so period closing is driven by the test.

#include <memory>
#include <string>
#include <vector>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "channelops/authz/v1/policy.pb.h"
#include "channelops/comp/v1/comp.grpc.pb.h"
#include "channelops/comp/v1/events.pb.h"
#include "channelops/core/clock.h"
#include "channelops/core/grpc_status.h"
#include "channelops/eventstore/event_store.h"
#include "channelops/server/authz.h"
#include "channelops/testing/temp_dir.h"
#include "compensation/compensation_service.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "channelops/testing/local_server.h"
#include "gtest/gtest.h"

ABSL_DECLARE_FLAG(std::string, identity_header);

namespace channelops::comp {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::SizeIs;

constexpr char kPrincipalHeader[] = "x-channelops-principal";

v1::Plan Plan(const std::string& from, int32_t partner_bps) {
  v1::Plan p;
  p.set_plan_id("channel-2026");
  p.set_name("Channel 2026");
  p.set_currency_code("USD");
  p.set_effective_from(from);
  auto* r = p.add_rates();
  r->set_role(v1::ROLE_PARTNER);
  r->set_rate_bps(partner_bps);
  r = p.add_rates();
  r->set_role(v1::ROLE_CHANNEL_ACCOUNT_MANAGER);
  r->set_rate_bps(200);
  p.set_hold_days(30);
  p.set_clawback_on_return(true);
  return p;
}

std::vector<std::string> Fields(const grpc::Status& s) {
  std::vector<std::string> out;
  for (const auto& [field, reason] : core::GetFieldViolations(core::FromGrpcStatus(s))) {
    out.push_back(field);
  }
  return out;
}

class CompensationServiceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { absl::SetFlag(&FLAGS_identity_header, kPrincipalHeader); }

  void SetUp() override {
    clock_.Set(absl::FromCivil(absl::CivilSecond(2026, 1, 15, 9, 0, 0), absl::UTCTimeZone()));
    eventstore::Options o;
    o.path = dir_.Path("store");
    o.source = "channelops/compensation";
    o.read_model_cfs = CompensationService::ReadModelCfs();
    o.clock = &clock_;
    auto store = eventstore::EventStore::Open(o);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    service_ = std::make_unique<CompensationService>(*store_, clock_);
    auto local = ::channelops::testing::StartLocalServer(service_.get());
    ASSERT_TRUE(local.ok()) << local.status();
    server_ = std::move(local->server);
    stub_ = v1::CompensationService::NewStub(local->channel);
  }

  void TearDown() override {
    if (server_) server_->Shutdown();
    if (store_) store_->Close();
  }

  std::unique_ptr<grpc::ClientContext> Ctx(const std::string& who = "comp-admin@vendor") {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->AddMetadata(kPrincipalHeader, who);
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return ctx;
  }

  grpc::Status Publish(const std::string& request_id, const v1::Plan& plan, v1::PlanResponse* out) {
    v1::PublishPlanRequest req;
    req.set_request_id(request_id);
    *req.mutable_plan() = plan;
    return stub_->PublishPlan(Ctx().get(), req, out);
  }

  grpc::Status Assign(const std::string& request_id, v1::Role role, v1::AssignmentTarget target,
                      const std::string& payee, const std::string& from,
                      v1::AssignRoleResponse* out) {
    v1::AssignRoleRequest req;
    req.set_request_id(request_id);
    req.set_role(role);
    *req.mutable_target() = std::move(target);
    req.set_payee_id(payee);
    req.set_effective_from(from);
    return stub_->AssignRole(Ctx().get(), req, out);
  }

  static v1::AssignmentTarget Partner(const std::string& id) {
    v1::AssignmentTarget t;
    t.set_partner_id(id);
    return t;
  }
  static v1::AssignmentTarget Territory(const std::string& country, const std::string& region) {
    v1::AssignmentTarget t;
    t.mutable_territory()->set_country_code(country);
    t.mutable_territory()->set_region(region);
    return t;
  }

  grpc::Status GetPlan(const std::string& id, uint64_t version, const std::string& as_of,
                       v1::PlanResponse* out) {
    v1::GetPlanRequest req;
    req.set_plan_id(id);
    req.set_version(version);
    req.set_as_of(as_of);
    return stub_->GetPlan(Ctx().get(), req, out);
  }

  std::vector<std::string> EventTypes() {
    auto events = store_->ReadAll(1, 1000);
    EXPECT_TRUE(events.ok());
    std::vector<std::string> out;
    for (const auto& e : *events) out.push_back(e.event_type());
    return out;
  }

  core::FakeClock clock_;
  testing::TempDir dir_;
  std::unique_ptr<eventstore::EventStore> store_;
  std::unique_ptr<CompensationService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::CompensationService::Stub> stub_;
};

TEST_F(CompensationServiceTest, PlanVersionsAreEffectiveDated) {
  v1::PlanResponse r1, r2, retry;
  ASSERT_TRUE(Publish("p-1", Plan("2026-01-01", 1000), &r1).ok());
  EXPECT_EQ(r1.plan().version(), 1u);
  EXPECT_EQ(r1.plan().published_by(), "comp-admin@vendor");
  ASSERT_TRUE(Publish("p-2", Plan("2026-04-01", 1200), &r2).ok());
  EXPECT_EQ(r2.plan().version(), 2u);
  // A retry answers the first answer and writes nothing.
  ASSERT_TRUE(Publish("p-1", Plan("2026-01-01", 1000), &retry).ok());
  EXPECT_EQ(retry.plan().version(), 1u);
  EXPECT_THAT(EventTypes(),
              ElementsAre("channelops.comp.v1.PlanPublished", "channelops.comp.v1.PlanPublished"));

  v1::PlanResponse got;
  ASSERT_TRUE(GetPlan("channel-2026", 0, "", &got).ok());
  EXPECT_EQ(got.plan().version(), 2u);
  ASSERT_TRUE(GetPlan("channel-2026", 1, "", &got).ok());
  EXPECT_EQ(got.plan().rates(0).rate_bps(), 1000);
  ASSERT_TRUE(GetPlan("channel-2026", 0, "2026-03-31", &got).ok());
  EXPECT_EQ(got.plan().version(), 1u);
  ASSERT_TRUE(GetPlan("channel-2026", 0, "2026-04-01", &got).ok());
  EXPECT_EQ(got.plan().version(), 2u);
  EXPECT_EQ(GetPlan("channel-2026", 0, "2025-12-31", &got).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(GetPlan("channel-2026", 3, "", &got).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(GetPlan("nope", 0, "", &got).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(CompensationServiceTest, MalformedPlansWriteNothing) {
  v1::Plan bad = Plan("2026-02-30", 1000);
  auto* split = bad.add_splits();
  split->set_first_role(v1::ROLE_PARTNER);
  split->set_second_role(v1::ROLE_CHANNEL_ACCOUNT_MANAGER);
  split->set_mode(v1::SPLIT_MODE_SPLIT);
  split->set_first_share_bps(7000);
  split->set_second_share_bps(2000);
  bad.set_currency_code("usd");
  v1::PlanResponse r;
  grpc::Status s = Publish("bad-1", bad, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(Fields(s),
              ElementsAre("plan.currency_code", "plan.effective_from", "plan.splits[0]"));
  EXPECT_EQ(store_->LastPosition(), 0u);
}

TEST_F(CompensationServiceTest, AssignmentsAreListedByPartnerPayeeRoleAndDate) {
  v1::AssignRoleResponse r;
  ASSERT_TRUE(Assign("a-1", v1::ROLE_CHANNEL_ACCOUNT_MANAGER, Partner("partner-ny"), "cam-alice",
                     "2026-01-01", &r)
                  .ok());
  EXPECT_EQ(r.assignment().assignment_id(), "cam|p|partner-ny");
  ASSERT_TRUE(Assign("a-2", v1::ROLE_CHANNEL_ACCOUNT_MANAGER, Partner("partner-ny"), "cam-bob",
                     "2026-04-01", &r)
                  .ok());
  EXPECT_EQ(r.previous_payee_id(), "cam-alice");
  EXPECT_THAT(r.assignment().entries(), SizeIs(2));
  ASSERT_TRUE(
      Assign("a-3", v1::ROLE_INSIDE_SALES, Territory("US", "CT"), "isr-ct", "2026-01-01", &r).ok());
  EXPECT_EQ(r.assignment().assignment_id(), "isr|t|US|CT|");
  ASSERT_TRUE(Assign("a-4", v1::ROLE_CHANNEL_ACCOUNT_MANAGER, Partner("partner-ct"), "cam-bob",
                     "2026-01-01", &r)
                  .ok());
  // A wrong target for the role is malformed.
  grpc::Status bad =
      Assign("a-5", v1::ROLE_INSIDE_SALES, Partner("partner-ct"), "isr-x", "2026-01-01", &r);
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(Fields(bad), ElementsAre("target"));

  auto list = [&](v1::ListAssignmentsRequest req) {
    v1::ListAssignmentsResponse resp;
    grpc::Status s = stub_->ListAssignments(Ctx().get(), req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    std::vector<std::string> out;
    for (const auto& a : resp.assignments()) {
      for (const auto& e : a.entries()) out.push_back(a.assignment_id() + "=" + e.payee_id());
    }
    return out;
  };
  v1::ListAssignmentsRequest by_partner;
  by_partner.set_partner_id("partner-ny");
  EXPECT_THAT(list(by_partner),
              ElementsAre("cam|p|partner-ny=cam-alice", "cam|p|partner-ny=cam-bob"));
  by_partner.set_as_of("2026-03-15");
  EXPECT_THAT(list(by_partner), ElementsAre("cam|p|partner-ny=cam-alice"));

  v1::ListAssignmentsRequest by_payee;
  by_payee.set_payee_id("cam-bob");
  EXPECT_THAT(list(by_payee), ElementsAre("cam|p|partner-ct=cam-bob", "cam|p|partner-ny=cam-alice",
                                          "cam|p|partner-ny=cam-bob"));
  by_payee.set_as_of("2026-02-01");  // Bob holds only partner-ct then
  EXPECT_THAT(list(by_payee), ElementsAre("cam|p|partner-ct=cam-bob"));

  v1::ListAssignmentsRequest by_role;
  by_role.set_role(v1::ROLE_INSIDE_SALES);
  EXPECT_THAT(list(by_role), ElementsAre("isr|t|US|CT|=isr-ct"));

  // Paging: one at a time.
  v1::ListAssignmentsRequest page;
  page.set_page_size(1);
  std::vector<std::string> ids;
  while (true) {
    v1::ListAssignmentsResponse resp;
    ASSERT_TRUE(stub_->ListAssignments(Ctx().get(), page, &resp).ok());
    ASSERT_THAT(resp.assignments(), SizeIs(1));
    ids.push_back(resp.assignments(0).assignment_id());
    if (resp.next_page_token().empty()) break;
    page.set_page_token(resp.next_page_token());
  }
  EXPECT_THAT(ids, ElementsAre("cam|p|partner-ct", "cam|p|partner-ny", "isr|t|US|CT|"));
}

TEST_F(CompensationServiceTest, PeriodsCloseInOrderWithAFrozenPlanSnapshot) {
  v1::PlanResponse plan;
  ASSERT_TRUE(Publish("p-1", Plan("2026-01-01", 1000), &plan).ok());
  v1::ClosePeriodRequest close;
  close.set_request_id("close-jan");
  close.set_period_id("2026-01");
  v1::PeriodResponse resp;
  grpc::Status early = stub_->ClosePeriod(Ctx().get(), close, &resp);
  EXPECT_EQ(early.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(early.error_message(), HasSubstr("has not ended"));

  clock_.Set(absl::FromCivil(absl::CivilSecond(2026, 2, 3, 8, 0, 0), absl::UTCTimeZone()));
  close.set_request_id("close-jan-2");
  ASSERT_TRUE(stub_->ClosePeriod(Ctx().get(), close, &resp).ok());
  EXPECT_EQ(resp.period().status(), v1::PERIOD_STATUS_CLOSED);
  EXPECT_EQ(resp.period().closed_by(), "comp-admin@vendor");
  EXPECT_EQ(resp.period().adjustments_period_id(), "2026-02");
  ASSERT_THAT(resp.period().plan_versions(), SizeIs(1));
  EXPECT_EQ(resp.period().plan_versions(0).plan_id(), "channel-2026");

  close.set_request_id("close-jan-3");
  EXPECT_EQ(stub_->ClosePeriod(Ctx().get(), close, &resp).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);

  v1::GetPeriodRequest get;
  get.set_period_id("2026-01");
  ASSERT_TRUE(stub_->GetPeriod(Ctx().get(), get, &resp).ok());
  EXPECT_EQ(resp.period().status(), v1::PERIOD_STATUS_CLOSED);
  get.set_period_id("2026-02");
  ASSERT_TRUE(stub_->GetPeriod(Ctx().get(), get, &resp).ok());
  EXPECT_EQ(resp.period().status(), v1::PERIOD_STATUS_OPEN);
  EXPECT_EQ(resp.period().end_date(), "2026-03-01");
  get.set_period_id("2026-2");
  EXPECT_EQ(stub_->GetPeriod(Ctx().get(), get, &resp).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  auto events = store_->ReadAll(1, 10);
  ASSERT_TRUE(events.ok());
  ASSERT_THAT(*events, SizeIs(2));
  EXPECT_EQ((*events)[1].stream_id(), "period-2026-01");
  v1::PeriodClosed closed;
  ASSERT_TRUE((*events)[1].payload().UnpackTo(&closed));
  EXPECT_EQ(closed.period().period_id(), "2026-01");
  EXPECT_EQ((*events)[1].actor(), "comp-admin@vendor");
}

TEST_F(CompensationServiceTest, CallersAreAuthorizedBeforeAnythingElse) {
  authz::v1::Policy policy;
  auto* finance = policy.add_identities();
  finance->set_match("spiffe://channelops/staff/finance");
  finance->set_role("FINANCE");
  auto* analyst = policy.add_identities();
  analyst->set_match("spiffe://channelops/staff/analyst");
  analyst->set_role("ANALYST");
  auto* grant = policy.add_roles();
  grant->set_role("FINANCE");
  grant->add_methods("channelops.comp.v1.CompensationService/*");
  auto* read = policy.add_roles();
  read->set_role("ANALYST");
  read->add_methods("channelops.comp.v1.CompensationService/Get*");
  auto authz = server::Authorizer::FromPolicy(policy, nullptr);
  ASSERT_TRUE(authz.ok()) << authz.status();
  service_->set_authorizer(**authz);

  v1::PublishPlanRequest req;
  req.set_request_id("p-1");
  *req.mutable_plan() = Plan("2026-01-01", 1000);
  v1::PlanResponse resp;
  EXPECT_EQ(
      stub_->PublishPlan(Ctx("spiffe://channelops/staff/analyst").get(), req, &resp).error_code(),
      grpc::StatusCode::PERMISSION_DENIED);
  // Denied before validation: a malformed request by a stranger is still denied.
  req.mutable_plan()->set_currency_code("usd");
  EXPECT_EQ(
      stub_->PublishPlan(Ctx("spiffe://channelops/partner/p1").get(), req, &resp).error_code(),
      grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(store_->LastPosition(), 0u);
  req.mutable_plan()->set_currency_code("USD");
  ASSERT_TRUE(stub_->PublishPlan(Ctx("spiffe://channelops/staff/finance").get(), req, &resp).ok());
  EXPECT_EQ(resp.plan().published_by(), "spiffe://channelops/staff/finance");
  v1::GetPlanRequest get;
  get.set_plan_id("channel-2026");
  EXPECT_TRUE(stub_->GetPlan(Ctx("spiffe://channelops/staff/analyst").get(), get, &resp).ok());
}

}  // namespace
}  // namespace channelops::comp
