// Service-level tests: the real MdfService behind a real gRPC server on
// 127.0.0.1:0, over a RocksDB event store in a temporary directory, driven
// through the generated stub. Time is a FakeClock shared by the store and the
// service, so expiry and claim windows are driven by the test.

#include <latch>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "channelops/core/clock.h"
#include "channelops/core/grpc_status.h"
#include "channelops/eventstore/event_store.h"
#include "channelops/mdf/v1/events.pb.h"
#include "channelops/mdf/v1/mdf.grpc.pb.h"
#include "channelops/server/authz.h"
#include "channelops/testing/temp_dir.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/grpcpp.h"
#include "channelops/testing/local_server.h"
#include "gtest/gtest.h"
#include "mdf/domain/convert.h"
#include "mdf/mdf_service.h"

ABSL_DECLARE_FLAG(std::string, identity_header);

namespace channelops::mdf {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::SizeIs;

constexpr char kPrincipalHeader[] = "x-channelops-principal";
constexpr int64_t kUnit = 1'000'000;

common::v1::Money Usd(int64_t units) {
  common::v1::Money m;
  m.set_currency_code("USD");
  m.set_amount_micros(units * kUnit);
  return m;
}

std::vector<std::string> Fields(const grpc::Status& s) {
  std::vector<std::string> out;
  for (const auto& [field, reason] : core::GetFieldViolations(core::FromGrpcStatus(s))) {
    out.push_back(field);
  }
  return out;
}

v1::FundRequestDetails Details(int64_t requested, int64_t planned,
                               const std::string& start = "2026-01-05",
                               const std::string& end = "2026-01-10") {
  v1::FundRequestDetails d;
  d.set_campaign_id("cmp-roadshow");
  d.set_activity_type(v1::ACTIVITY_TYPE_TRADE_SHOW);
  d.set_name("Booth at NetCon");
  d.set_start_date(start);
  d.set_end_date(end);
  *d.mutable_planned_cost() = Usd(planned);
  *d.mutable_requested_amount() = Usd(requested);
  d.set_expected_leads(50);
  *d.mutable_expected_revenue() = Usd(100000);
  return d;
}

v1::ProofOfPerformance Proof(v1::ProofKind kind, char hash_digit) {
  v1::ProofOfPerformance p;
  p.set_kind(kind);
  p.set_content_hash(absl::StrCat("sha256:", std::string(64, hash_digit)));
  p.set_uri(absl::StrCat("s3://mdf-proofs/", std::string(1, hash_digit), ".pdf"));
  return p;
}

class MdfServiceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // CallerIdentity reads the flag once, at its first call.
    absl::SetFlag(&FLAGS_identity_header, kPrincipalHeader);
  }

  void SetUp() override {
    eventstore::Options o;
    o.path = dir_.Path("store");
    o.source = "channelops/mdf";
    o.read_model_cfs = MdfService::ReadModelCfs();
    o.clock = &clock_;
    auto store = eventstore::EventStore::Open(o);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    service_ = std::make_unique<MdfService>(*store_, clock_, MdfOptions{30});
    auto local = ::channelops::testing::StartLocalServer(service_.get());
    ASSERT_TRUE(local.ok()) << local.status();
    server_ = std::move(local->server);
    stub_ = v1::MdfService::NewStub(local->channel);
  }

  void TearDown() override {
    if (server_) server_->Shutdown();
    if (store_) store_->Close();
  }

  static std::unique_ptr<grpc::ClientContext> As(const std::string& principal) {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->AddMetadata(kPrincipalHeader, principal);
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return ctx;
  }

  v1::AllocateFundsRequest AllocateReq(const std::string& fund_id, const std::string& partner,
                                       int64_t units, absl::Duration expires_in,
                                       v1::FundKind kind = v1::FUND_KIND_MDF) {
    v1::AllocateFundsRequest r;
    r.set_request_id(absl::StrCat("alloc-", fund_id));
    r.set_fund_id(fund_id);
    r.set_partner_id(partner);
    r.set_kind(kind);
    r.mutable_period()->set_start_date("2026-01-01");
    r.mutable_period()->set_end_date("2026-04-01");
    *r.mutable_amount() = Usd(units);
    *r.mutable_expires_at() = domain::ToProtoTime(clock_.Now() + expires_in);
    r.set_name("Q1 MDF");
    return r;
  }

  v1::Fund Allocate(const std::string& fund_id, const std::string& partner, int64_t units,
                    absl::Duration expires_in = absl::Hours(24 * 120)) {
    v1::FundResponse resp;
    grpc::Status s = stub_->AllocateFunds(As("cm-1").get(),
                                          AllocateReq(fund_id, partner, units, expires_in), &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.fund();
  }

  v1::FundRequest Submit(const std::string& fund_id, const std::string& partner,
                         const v1::FundRequestDetails& details,
                         const std::string& principal = "portal") {
    v1::SubmitFundRequestRequest r;
    r.set_request_id(absl::StrCat("submit-", ++seq_));
    r.set_fund_id(fund_id);
    r.set_partner_id(partner);
    *r.mutable_details() = details;
    v1::FundRequestResponse resp;
    grpc::Status s = stub_->SubmitFundRequest(As(principal).get(), r, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.fund_request();
  }

  grpc::Status Approve(const std::string& id, v1::FundRequestResponse* resp,
                       std::optional<int64_t> units = std::nullopt) {
    v1::DecideFundRequestRequest r;
    r.set_request_id(absl::StrCat("approve-", id));
    r.set_fund_request_id(id);
    r.set_decision(v1::FUND_REQUEST_DECISION_APPROVE);
    if (units) *r.mutable_approved_amount() = Usd(*units);
    return stub_->DecideFundRequest(As("cm-1").get(), r, resp);
  }

  v1::SubmitClaimRequest ClaimReq(const v1::FundRequest& request, int64_t claimed, int64_t actual) {
    v1::SubmitClaimRequest r;
    r.set_request_id(absl::StrCat("claim-", ++seq_));
    r.set_fund_request_id(request.fund_request_id());
    r.set_partner_id(request.partner_id());
    *r.mutable_actual_cost() = Usd(actual);
    *r.mutable_claimed_amount() = Usd(claimed);
    *r.add_proofs() = Proof(v1::PROOF_KIND_INVOICE, 'a');
    *r.add_proofs() = Proof(v1::PROOF_KIND_ATTENDEE_LIST, 'b');
    r.mutable_results()->set_leads(42);
    r.mutable_results()->set_attendees(300);
    r.mutable_results()->set_opportunities(7);
    return r;
  }

  v1::Fund GetFund(const std::string& id) {
    v1::GetFundRequest r;
    r.set_fund_id(id);
    v1::FundResponse resp;
    grpc::Status s = stub_->GetFund(As("cm-1").get(), r, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.fund();
  }

  v1::FundRequest GetRequest(const std::string& id) {
    v1::GetFundRequestRequest r;
    r.set_fund_request_id(id);
    v1::FundRequestResponse resp;
    grpc::Status s = stub_->GetFundRequest(As("cm-1").get(), r, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.fund_request();
  }

  // The payloads of the events recorded after `from` (exclusive), by type.
  template <class E>
  std::vector<E> EventsAfter(uint64_t from) {
    auto events = store_->ReadAll(from + 1, 100000);
    EXPECT_TRUE(events.ok()) << events.status();
    std::vector<E> out;
    for (const auto& env : *events) {
      E e;
      if (env.payload().UnpackTo(&e)) out.push_back(std::move(e));
    }
    return out;
  }

  core::FakeClock clock_{absl::FromUnixSeconds(1767225600)};  // 2026-01-01T00:00:00Z
  testing::TempDir dir_{"mdf_service_test"};
  std::unique_ptr<eventstore::EventStore> store_;
  std::unique_ptr<MdfService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::MdfService::Stub> stub_;
  int seq_ = 0;
};

int64_t Micros(const common::v1::Money& m) { return m.amount_micros(); }

// ---------------------------------------------------------------------------
// The single writer decides races for the last money in order
// ---------------------------------------------------------------------------

// 32 approvals race; returns each one's status.
std::vector<grpc::Status> RaceApprovals(v1::MdfService::Stub& stub,
                                        const std::vector<v1::FundRequest>& requests) {
  std::vector<grpc::Status> statuses(requests.size());
  std::latch start(static_cast<ptrdiff_t>(requests.size()));
  std::vector<std::thread> threads;
  for (size_t i = 0; i < requests.size(); ++i) {
    threads.emplace_back([&, i] {
      v1::DecideFundRequestRequest r;
      r.set_request_id(absl::StrCat("race-", requests[i].fund_request_id()));
      r.set_fund_request_id(requests[i].fund_request_id());
      r.set_decision(v1::FUND_REQUEST_DECISION_APPROVE);
      v1::FundRequestResponse resp;
      grpc::ClientContext ctx;
      ctx.AddMetadata(kPrincipalHeader, absl::StrCat("cm-", i));
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
      start.arrive_and_wait();
      statuses[i] = stub.DecideFundRequest(&ctx, r, &resp);
    });
  }
  for (auto& t : threads) t.join();
  return statuses;
}

TEST_F(MdfServiceTest, ConcurrentApprovalsForTheLastMoneyApproveExactlyTheAffordableOnes) {
  constexpr int kRacers = 32;
  // Round 1: equal asks. USD 1,000 with 700 already reserved leaves 300:
  // exactly 7 approvals of USD 40 fit (280), 25 do not.
  Allocate("f1", "p1", 1000);
  v1::FundRequestResponse first;
  ASSERT_TRUE(Approve(Submit("f1", "p1", Details(700, 700)).fund_request_id(), &first).ok());
  ASSERT_EQ(Micros(first.fund().balance().available()), 300 * kUnit);
  std::vector<v1::FundRequest> equal;
  for (int i = 0; i < kRacers; ++i) equal.push_back(Submit("f1", "p1", Details(40, 50)));
  const uint64_t before = store_->LastPosition();

  std::vector<grpc::Status> statuses = RaceApprovals(*stub_, equal);
  int approved = 0;
  for (int i = 0; i < kRacers; ++i) {
    if (statuses[i].ok()) {
      ++approved;
      EXPECT_EQ(GetRequest(equal[i].fund_request_id()).status(), v1::FUND_REQUEST_STATUS_APPROVED);
    } else {
      EXPECT_EQ(statuses[i].error_code(), grpc::StatusCode::FAILED_PRECONDITION);
      EXPECT_THAT(statuses[i].error_message(), HasSubstr("insufficient available balance"));
      EXPECT_THAT(statuses[i].error_message(), HasSubstr("fund/f1"));
      EXPECT_EQ(GetRequest(equal[i].fund_request_id()).status(), v1::FUND_REQUEST_STATUS_SUBMITTED);
    }
  }
  EXPECT_EQ(approved, 7);
  v1::Fund f1 = GetFund("f1");
  EXPECT_EQ(Micros(f1.balance().available()), 20 * kUnit);
  EXPECT_EQ(Micros(f1.balance().reserved()), 980 * kUnit);
  // Only the approvals were recorded; the refusals wrote nothing.
  auto recorded = EventsAfter<v1::FundRequestApproved>(before);
  EXPECT_THAT(recorded, SizeIs(7));
  EXPECT_EQ(store_->LastPosition(), before + 7);
  for (const auto& e : recorded) EXPECT_EQ(Micros(e.approved_amount()), 40 * kUnit);

  // Round 2: unequal asks (USD 10..41) against USD 300. Whatever order the
  // writer saw them in, it approved greedily in that order: the approved sum
  // plus what is left is the 300, and no refused ask would fit in what is left
  // (the balance only went down, so it did not fit when it was decided).
  Allocate("f2", "p1", 300);
  std::vector<v1::FundRequest> unequal;
  for (int i = 0; i < kRacers; ++i) unequal.push_back(Submit("f2", "p1", Details(10 + i, 100)));
  const uint64_t before2 = store_->LastPosition();
  statuses = RaceApprovals(*stub_, unequal);
  const int64_t left = Micros(GetFund("f2").balance().available());
  int64_t approved_sum = 0;
  int approved2 = 0;
  for (int i = 0; i < kRacers; ++i) {
    const int64_t ask = (10 + i) * kUnit;
    if (statuses[i].ok()) {
      approved_sum += ask;
      ++approved2;
    } else {
      EXPECT_EQ(statuses[i].error_code(), grpc::StatusCode::FAILED_PRECONDITION);
      EXPECT_GT(ask, left) << "request " << i << " was refused but fits in what is left";
    }
  }
  EXPECT_EQ(approved_sum + left, 300 * kUnit);
  EXPECT_GE(left, 0);
  EXPECT_GT(approved2, 0);
  EXPECT_LT(approved2, kRacers);
  EXPECT_THAT(EventsAfter<v1::FundRequestApproved>(before2), SizeIs(approved2));
  // The events' running balances replay the writer's order exactly.
  int64_t available = 300 * kUnit;
  for (const auto& e : EventsAfter<v1::FundRequestApproved>(before2)) {
    available -= Micros(e.approved_amount());
    EXPECT_EQ(Micros(e.fund_balance().available()), available);
  }
  EXPECT_EQ(available, left);
}

// ---------------------------------------------------------------------------
// Bad input and wrong states: clear statuses, nothing written
// ---------------------------------------------------------------------------

TEST_F(MdfServiceTest, MalformedOrInconsistentRequestsNameTheFieldAndWriteNothing) {
  Allocate("f1", "p1", 1000);
  v1::FundRequest request = Submit("f1", "p1", Details(300, 400));
  v1::FundRequestResponse approved;
  ASSERT_TRUE(Approve(request.fund_request_id(), &approved, 250).ok());
  request = approved.fund_request();
  const uint64_t before = store_->LastPosition();

  v1::FundResponse fund_resp;
  v1::FundRequestResponse req_resp;
  v1::ClaimResponse claim_resp;
  struct Case {
    std::string name;
    std::function<grpc::Status()> call;
    std::vector<std::string> fields;
  };
  std::vector<Case> cases = {
      {"zero allocation",
       [&] {
         auto r = AllocateReq("f2", "p1", 0, absl::Hours(24));
         return stub_->AllocateFunds(As("cm-1").get(), r, &fund_resp);
       },
       {"amount.amount_micros"}},
      {"negative allocation",
       [&] {
         auto r = AllocateReq("f2", "p1", -5, absl::Hours(24));
         return stub_->AllocateFunds(As("cm-1").get(), r, &fund_resp);
       },
       {"amount.amount_micros"}},
      {"zero adjustment",
       [&] {
         v1::AdjustFundsRequest r;
         r.set_request_id("adj-0");
         r.set_fund_id("f1");
         *r.mutable_amount() = Usd(0);
         r.set_reason("nothing");
         return stub_->AdjustFunds(As("cm-1").get(), r, &fund_resp);
       },
       {"amount.amount_micros"}},
      {"adjustment in another currency",
       [&] {
         v1::AdjustFundsRequest r;
         r.set_request_id("adj-eur");
         r.set_fund_id("f1");
         *r.mutable_amount() = Usd(5);
         r.mutable_amount()->set_currency_code("EUR");
         r.set_reason("fx");
         return stub_->AdjustFunds(As("cm-1").get(), r, &fund_resp);
       },
       {"amount.currency_code"}},
      {"dates reversed",
       [&] {
         v1::SubmitFundRequestRequest r;
         r.set_request_id("rev");
         r.set_fund_id("f1");
         r.set_partner_id("p1");
         *r.mutable_details() = Details(10, 10, "2026-02-10", "2026-02-01");
         return stub_->SubmitFundRequest(As("portal").get(), r, &req_resp);
       },
       {"details.end_date"}},
      {"request in another currency than the fund",
       [&] {
         v1::SubmitFundRequestRequest r;
         r.set_request_id("eur");
         r.set_fund_id("f1");
         r.set_partner_id("p1");
         *r.mutable_details() = Details(10, 10);
         r.mutable_details()->mutable_planned_cost()->set_currency_code("EUR");
         r.mutable_details()->mutable_requested_amount()->set_currency_code("EUR");
         r.mutable_details()->clear_expected_revenue();
         return stub_->SubmitFundRequest(As("portal").get(), r, &req_resp);
       },
       {"details.planned_cost.currency_code", "details.requested_amount.currency_code"}},
      {"claim above the approved amount",
       [&] {
         auto r = ClaimReq(request, 251, 400);
         return stub_->SubmitClaim(As("portal").get(), r, &claim_resp);
       },
       {"claimed_amount"}},
      {"claim in another currency",
       [&] {
         auto r = ClaimReq(request, 10, 10);
         r.mutable_actual_cost()->set_currency_code("EUR");
         r.mutable_claimed_amount()->set_currency_code("EUR");
         return stub_->SubmitClaim(As("portal").get(), r, &claim_resp);
       },
       {"actual_cost.currency_code", "claimed_amount.currency_code"}},
      {"proof without a hash",
       [&] {
         auto r = ClaimReq(request, 100, 100);
         r.mutable_proofs(1)->clear_content_hash();
         return stub_->SubmitClaim(As("portal").get(), r, &claim_resp);
       },
       {"proofs[1].content_hash"}},
      {"negative claim",
       [&] {
         auto r = ClaimReq(request, -1, 100);
         return stub_->SubmitClaim(As("portal").get(), r, &claim_resp);
       },
       {"claimed_amount.amount_micros"}},
  };
  for (const Case& c : cases) {
    grpc::Status s = c.call();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.name;
    EXPECT_EQ(Fields(s), c.fields) << c.name << ": " << s.error_message();
    EXPECT_EQ(store_->LastPosition(), before) << c.name;
  }
}

TEST_F(MdfServiceTest, ActionsOnTheWrongStateAreFailedPreconditionAndWriteNothing) {
  Allocate("f1", "p1", 1000, absl::Hours(24 * 40));
  // Activity 2026-01-05..10; 30-day window: claims through 2026-02-09 UTC.
  v1::FundRequest request = Submit("f1", "p1", Details(300, 400));
  v1::FundRequestResponse resp;
  ASSERT_TRUE(Approve(request.fund_request_id(), &resp).ok());
  EXPECT_EQ(domain::FromProtoTime(resp.fund_request().claim_deadline()),
            absl::FromCivil(absl::CivilDay(2026, 2, 10), absl::UTCTimeZone()));
  v1::ClaimResponse claim;
  ASSERT_TRUE(stub_->SubmitClaim(As("portal").get(), ClaimReq(request, 100, 120), &claim).ok());
  const uint64_t before = store_->LastPosition();

  grpc::Status again = Approve(request.fund_request_id(), &resp);  // same request_id: a retry
  EXPECT_TRUE(again.ok()) << again.error_message();
  v1::DecideFundRequestRequest reject;
  reject.set_request_id("reject-late");
  reject.set_fund_request_id(request.fund_request_id());
  reject.set_decision(v1::FUND_REQUEST_DECISION_REJECT);
  reject.set_reason("changed my mind");
  grpc::Status s = stub_->DecideFundRequest(As("cm-1").get(), reject, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("it is APPROVED"));

  v1::RecordPaymentRequest pay;
  pay.set_request_id("pay-early");
  pay.set_claim_id(claim.claim().claim_id());
  pay.set_payment_reference("ERP-1");
  s = stub_->RecordPayment(As("finance").get(), pay, &claim);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("only an APPROVED claim can be paid; it is SUBMITTED"));

  clock_.Set(absl::FromCivil(absl::CivilDay(2026, 2, 10), absl::UTCTimeZone()));
  s = stub_->SubmitClaim(As("portal").get(), ClaimReq(request, 10, 10), &claim);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("the claim window closed at 2026-02-10T00:00:00Z"));

  clock_.Set(absl::FromCivil(absl::CivilDay(2026, 2, 11), absl::UTCTimeZone()));  // f1 expired
  v1::AdjustFundsRequest adjust;
  adjust.set_request_id("adj-late");
  adjust.set_fund_id("f1");
  *adjust.mutable_amount() = Usd(10);
  adjust.set_reason("late top-up");
  v1::FundResponse fund;
  s = stub_->AdjustFunds(As("cm-1").get(), adjust, &fund);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("fund/f1"));
  EXPECT_EQ(store_->LastPosition(), before);

  v1::GetFundRequest unknown;
  unknown.set_fund_id("nope");
  EXPECT_EQ(stub_->GetFund(As("cm-1").get(), unknown, &fund).error_code(),
            grpc::StatusCode::NOT_FOUND);
  adjust.set_fund_id("nope");
  EXPECT_EQ(stub_->AdjustFunds(As("cm-1").get(), adjust, &fund).error_code(),
            grpc::StatusCode::NOT_FOUND);
  v1::DecideClaimRequest decide;
  decide.set_request_id("d-nope");
  decide.set_claim_id("nope");
  decide.set_decision(v1::CLAIM_DECISION_APPROVE);
  EXPECT_EQ(stub_->DecideClaim(As("cm-1").get(), decide, &claim).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(
      stub_->AllocateFunds(As("cm-1").get(), AllocateReq("f1", "p1", 5, absl::Hours(1)), &fund)
          .error_code(),
      grpc::StatusCode::OK);  // a retry of the first allocation: its answer, no write
  auto dup = AllocateReq("f1", "p1", 5, absl::Hours(1));
  dup.set_request_id("alloc-again");
  EXPECT_EQ(stub_->AllocateFunds(As("cm-1").get(), dup, &fund).error_code(),
            grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(store_->LastPosition(), before);
}

// ---------------------------------------------------------------------------
// The whole flow, queries and the statement
// ---------------------------------------------------------------------------

TEST_F(MdfServiceTest, FundToPaymentFlowWithBalanceBreakdownListsAndStatement) {
  Allocate("f1", "p1", 1000);
  v1::AdjustFundsRequest adjust;
  adjust.set_request_id("adj-1");
  adjust.set_fund_id("f1");
  *adjust.mutable_amount() = Usd(100);
  adjust.set_reason("Q4 over-performance bonus");
  v1::FundResponse fund;
  ASSERT_TRUE(stub_->AdjustFunds(As("cm-1").get(), adjust, &fund).ok());

  clock_.Advance(absl::Hours(24));
  v1::FundRequest request = Submit("f1", "p1", Details(450, 600));
  v1::FundRequestResponse decided;
  ASSERT_TRUE(Approve(request.fund_request_id(), &decided, 400).ok());
  EXPECT_EQ(Micros(decided.fund().balance().available()), 700 * kUnit);

  clock_.Advance(absl::Hours(24 * 10));
  v1::ClaimResponse claim;
  ASSERT_TRUE(stub_->SubmitClaim(As("portal").get(), ClaimReq(request, 350, 610), &claim).ok());
  EXPECT_EQ(claim.claim().status(), v1::CLAIM_STATUS_SUBMITTED);
  EXPECT_EQ(claim.claim().campaign_id(), "cmp-roadshow");
  v1::DecideClaimRequest decide;
  decide.set_request_id("decide-1");
  decide.set_claim_id(claim.claim().claim_id());
  decide.set_decision(v1::CLAIM_DECISION_APPROVE);
  *decide.mutable_approved_amount() = Usd(300);
  decide.set_reason("hotel not eligible");
  ASSERT_TRUE(stub_->DecideClaim(As("cm-2").get(), decide, &claim).ok());
  v1::RecordPaymentRequest pay;
  pay.set_request_id("pay-1");
  pay.set_claim_id(claim.claim().claim_id());
  pay.set_payment_reference("ERP-2026-0042");
  ASSERT_TRUE(stub_->RecordPayment(As("finance").get(), pay, &claim).ok());
  EXPECT_EQ(claim.claim().status(), v1::CLAIM_STATUS_PAID);
  EXPECT_EQ(claim.claim().payment_reference(), "ERP-2026-0042");

  v1::CloseFundRequestRequest close;
  close.set_request_id("close-1");
  close.set_fund_request_id(request.fund_request_id());
  v1::FundRequestResponse closed;
  ASSERT_TRUE(stub_->CloseFundRequest(As("portal").get(), close, &closed).ok());
  EXPECT_EQ(closed.fund_request().status(), v1::FUND_REQUEST_STATUS_CLOSED);
  EXPECT_EQ(closed.fund_request().close_reason(), v1::CLOSE_REASON_COMPLETED);
  EXPECT_EQ(Micros(closed.fund_request().released()), 100 * kUnit);

  // GetFund: the balance broken down.
  const v1::FundBalance b = GetFund("f1").balance();
  EXPECT_EQ(Micros(b.allocated()), 1000 * kUnit);
  EXPECT_EQ(Micros(b.accrued()), 0);
  EXPECT_EQ(Micros(b.adjustments()), 100 * kUnit);
  EXPECT_EQ(Micros(b.reserved()), 0);
  EXPECT_EQ(Micros(b.paid()), 300 * kUnit);
  EXPECT_EQ(Micros(b.expired()), 0);
  EXPECT_EQ(Micros(b.available()), 800 * kUnit);

  // Lists.
  Submit("f1", "p1", Details(10, 10));
  v1::ListFundRequestsRequest list;
  list.set_fund_id("f1");
  list.set_page_size(1);
  std::vector<std::string> ids;
  for (int page = 0; page < 5; ++page) {
    v1::ListFundRequestsResponse listed;
    ASSERT_TRUE(stub_->ListFundRequests(As("cm-1").get(), list, &listed).ok());
    for (const auto& r : listed.fund_requests()) ids.push_back(r.fund_request_id());
    if (listed.next_page_token().empty()) break;
    list.set_page_token(listed.next_page_token());
  }
  ASSERT_THAT(ids, SizeIs(2));
  EXPECT_EQ(ids[0], request.fund_request_id());
  v1::ListClaimsRequest claims_req;
  claims_req.set_partner_id("p1");
  claims_req.set_status(v1::CLAIM_STATUS_PAID);
  v1::ListClaimsResponse claims;
  ASSERT_TRUE(stub_->ListClaims(As("cm-1").get(), claims_req, &claims).ok());
  ASSERT_THAT(claims.claims(), SizeIs(1));
  EXPECT_EQ(Micros(claims.claims(0).paid_amount()), 300 * kUnit);

  // The statement for January: from zero to the balance above, every movement.
  v1::GetPartnerStatementRequest st;
  st.set_partner_id("p1");
  st.mutable_period()->set_start_date("2026-01-01");
  st.mutable_period()->set_end_date("2026-02-01");
  v1::GetPartnerStatementResponse statement;
  ASSERT_TRUE(stub_->GetPartnerStatement(As("cm-1").get(), st, &statement).ok());
  ASSERT_THAT(statement.funds(), SizeIs(1));
  const v1::FundStatement& fs = statement.funds(0);
  EXPECT_EQ(Micros(fs.opening().available()), 0);
  EXPECT_EQ(fs.closing().SerializeAsString(), b.SerializeAsString());
  EXPECT_EQ(Micros(fs.activity().reserved()), 400 * kUnit);
  EXPECT_EQ(Micros(fs.activity().released()), 100 * kUnit);
  std::vector<v1::LedgerEntryType> types;
  for (const auto& e : statement.entries()) types.push_back(e.type());
  EXPECT_THAT(types, ElementsAre(v1::LEDGER_ENTRY_TYPE_ALLOCATED, v1::LEDGER_ENTRY_TYPE_ADJUSTED,
                                 v1::LEDGER_ENTRY_TYPE_RESERVED, v1::LEDGER_ENTRY_TYPE_PAID,
                                 v1::LEDGER_ENTRY_TYPE_RELEASED));
  EXPECT_EQ(statement.entries(3).claim_id(), claim.claim().claim_id());
  EXPECT_EQ(statement.entries(3).campaign_id(), "cmp-roadshow");
  // February starts where January ended and has no movements.
  st.mutable_period()->set_start_date("2026-02-01");
  st.mutable_period()->set_end_date("2026-03-01");
  ASSERT_TRUE(stub_->GetPartnerStatement(As("cm-1").get(), st, &statement).ok());
  EXPECT_EQ(statement.funds(0).opening().SerializeAsString(), b.SerializeAsString());
  EXPECT_EQ(statement.entries_size(), 0);

  // The topic carries what partner ROI needs: spend, results, campaign.
  auto paid = EventsAfter<v1::ClaimPaid>(0);
  ASSERT_THAT(paid, SizeIs(1));
  EXPECT_EQ(paid[0].keys().partner_id(), "p1");
  EXPECT_EQ(paid[0].keys().fund_kind(), v1::FUND_KIND_MDF);
  EXPECT_EQ(paid[0].keys().campaign_id(), "cmp-roadshow");
  EXPECT_EQ(paid[0].results().leads(), 42);
  EXPECT_EQ(Micros(paid[0].actual_cost()), 610 * kUnit);
  EXPECT_EQ(paid[0].recorded_by(), "finance");
  auto envelopes = store_->ReadStream(absl::StrCat("claim-", claim.claim().claim_id()), 1, 10);
  ASSERT_TRUE(envelopes.ok());
  ASSERT_THAT(*envelopes, SizeIs(3));
  EXPECT_EQ((*envelopes)[2].event_type(), "channelops.mdf.v1.ClaimPaid");
  EXPECT_EQ((*envelopes)[2].causation_id(), "pay-1");
}

// ---------------------------------------------------------------------------
// Sweepers on the injected clock
// ---------------------------------------------------------------------------

TEST_F(MdfServiceTest, SweepersExpireFundsAndCloseClaimWindows) {
  Allocate("f1", "p1", 1000, absl::Hours(24 * 30));  // expires 2026-01-31T00:00Z
  Allocate("f2", "p1", 50, absl::Hours(24 * 90));
  v1::FundRequest request = Submit("f1", "p1", Details(300, 300));  // ends 01-10
  v1::FundRequestResponse approved;
  ASSERT_TRUE(Approve(request.fund_request_id(), &approved).ok());
  v1::ClaimResponse claim;
  ASSERT_TRUE(stub_->SubmitClaim(As("portal").get(), ClaimReq(request, 120, 120), &claim).ok());

  clock_.Set(absl::FromCivil(absl::CivilDay(2026, 1, 30), absl::UTCTimeZone()));
  auto none = service_->SweepExpiredFunds();
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(*none, 0u);

  clock_.Set(absl::FromCivil(absl::CivilDay(2026, 1, 31), absl::UTCTimeZone()));
  auto expired = service_->SweepExpiredFunds();
  ASSERT_TRUE(expired.ok()) << expired.status();
  EXPECT_EQ(*expired, 1u);
  v1::Fund f1 = GetFund("f1");
  EXPECT_EQ(f1.status(), v1::FUND_STATUS_EXPIRED);
  EXPECT_EQ(Micros(f1.balance().expired()), 700 * kUnit);
  EXPECT_EQ(Micros(f1.balance().available()), 0);
  EXPECT_EQ(Micros(f1.balance().reserved()), 300 * kUnit);
  EXPECT_EQ(GetFund("f2").status(), v1::FUND_STATUS_OPEN);
  EXPECT_EQ(*service_->SweepExpiredFunds(), 0u);
  EXPECT_EQ(*service_->SweepClaimWindows(), 0u);  // the window is open until 02-10

  clock_.Set(absl::FromCivil(absl::CivilDay(2026, 2, 10), absl::UTCTimeZone()));
  auto closed = service_->SweepClaimWindows();
  ASSERT_TRUE(closed.ok()) << closed.status();
  EXPECT_EQ(*closed, 1u);
  v1::FundRequest r = GetRequest(request.fund_request_id());
  EXPECT_EQ(r.status(), v1::FUND_REQUEST_STATUS_CLOSED);
  EXPECT_EQ(r.close_reason(), v1::CLOSE_REASON_CLAIM_WINDOW_PASSED);
  EXPECT_EQ(Micros(r.released()), 180 * kUnit);
  // Released after expiry: expired at once; the claim made in time stays reserved.
  f1 = GetFund("f1");
  EXPECT_EQ(Micros(f1.balance().expired()), 880 * kUnit);
  EXPECT_EQ(Micros(f1.balance().reserved()), 120 * kUnit);
  EXPECT_EQ(Micros(f1.balance().available()), 0);
  EXPECT_EQ(*service_->SweepClaimWindows(), 0u);

  auto history = store_->ReadStream(absl::StrCat("request-", request.fund_request_id()), 1, 10);
  ASSERT_TRUE(history.ok());
  ASSERT_THAT(*history, SizeIs(3));
  EXPECT_EQ((*history)[2].event_type(), "channelops.mdf.v1.FundRequestClosed");
  EXPECT_EQ((*history)[2].actor(), "system:claim_window_sweeper");
  auto fund_history = store_->ReadStream("fund-f1", 1, 10);
  ASSERT_TRUE(fund_history.ok());
  EXPECT_EQ(fund_history->back().event_type(), "channelops.mdf.v1.FundExpired");
  EXPECT_EQ(fund_history->back().actor(), "system:fund_expiry_sweeper");
}

// ---------------------------------------------------------------------------
// Authorization: partners only see and act on their own money
// ---------------------------------------------------------------------------

TEST_F(MdfServiceTest, PartnersSeeAndActOnlyOnTheirOwnFundsRequestsAndClaims) {
  constexpr char kPolicy[] = R"({
    "identities": [
      {"match": "partner/*", "role": "PARTNER", "partner_id_from_wildcard": true},
      {"match": "cm-1", "role": "CHANNEL_MANAGER"}
    ],
    "roles": [
      {"role": "PARTNER", "partner_scoped": true, "methods": [
        "channelops.mdf.v1.MdfService/Get*", "channelops.mdf.v1.MdfService/List*",
        "channelops.mdf.v1.MdfService/Submit*", "channelops.mdf.v1.MdfService/CloseFundRequest"]},
      {"role": "CHANNEL_MANAGER", "methods": ["channelops.mdf.v1.MdfService/*"]}
    ]})";
  authz::v1::Policy policy;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(kPolicy, &policy).ok());
  auto authz = server::Authorizer::FromPolicy(policy, nullptr);
  ASSERT_TRUE(authz.ok()) << authz.status();
  service_->set_authorizer(**authz);

  Allocate("fa", "pa", 100);
  Allocate("fb", "pb", 100);
  v1::FundRequest theirs = Submit("fb", "pb", Details(10, 10), "partner/pb");
  v1::SubmitFundRequestRequest mine;
  mine.set_request_id("mine");
  mine.set_fund_id("fa");
  mine.set_partner_id("pa");
  *mine.mutable_details() = Details(10, 10);
  v1::FundRequestResponse resp;
  ASSERT_TRUE(stub_->SubmitFundRequest(As("partner/pa").get(), mine, &resp).ok());

  v1::GetFundRequest get;
  get.set_fund_id("fb");
  v1::FundResponse fund;
  EXPECT_EQ(stub_->GetFund(As("partner/pa").get(), get, &fund).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  get.set_fund_id("fa");
  EXPECT_TRUE(stub_->GetFund(As("partner/pa").get(), get, &fund).ok());

  v1::SubmitFundRequestRequest spoof = mine;
  spoof.set_request_id("spoof");
  spoof.set_fund_id("fb");
  spoof.set_partner_id("pb");
  EXPECT_EQ(stub_->SubmitFundRequest(As("partner/pa").get(), spoof, &resp).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  v1::CloseFundRequestRequest close;
  close.set_request_id("close-theirs");
  close.set_fund_request_id(theirs.fund_request_id());
  EXPECT_EQ(stub_->CloseFundRequest(As("partner/pa").get(), close, &resp).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  v1::DecideFundRequestRequest decide;
  decide.set_request_id("self-approve");
  decide.set_fund_request_id(resp.fund_request().fund_request_id());
  decide.set_decision(v1::FUND_REQUEST_DECISION_APPROVE);
  EXPECT_EQ(stub_->DecideFundRequest(As("partner/pa").get(), decide, &resp).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);

  v1::ListFundRequestsRequest list;  // a partner must name itself
  v1::ListFundRequestsResponse listed;
  EXPECT_EQ(stub_->ListFundRequests(As("partner/pa").get(), list, &listed).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  list.set_partner_id("pa");
  ASSERT_TRUE(stub_->ListFundRequests(As("partner/pa").get(), list, &listed).ok());
  ASSERT_THAT(listed.fund_requests(), SizeIs(1));
  EXPECT_EQ(listed.fund_requests(0).partner_id(), "pa");
  list.set_fund_id("fb");  // another partner's fund: nothing of it
  ASSERT_TRUE(stub_->ListFundRequests(As("partner/pa").get(), list, &listed).ok());
  EXPECT_EQ(listed.fund_requests_size(), 0);
  list.clear_partner_id();
  ASSERT_TRUE(stub_->ListFundRequests(As("cm-1").get(), list, &listed).ok());
  EXPECT_EQ(listed.fund_requests_size(), 1);
}

}  // namespace
}  // namespace channelops::mdf
