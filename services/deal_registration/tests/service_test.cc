// Service-level tests: the real DealRegistrationService behind a real gRPC
// server on 127.0.0.1:0, over a RocksDB event store in a temporary directory,
// driven through the generated stub. Time is a FakeClock shared by the store
// and the service, so expiry is driven by the test.

#include <latch>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/time/time.h"
#include "channelops/core/clock.h"
#include "channelops/core/grpc_status.h"
#include "channelops/dealreg/v1/dealreg.grpc.pb.h"
#include "channelops/dealreg/v1/events.pb.h"
#include "channelops/eventstore/event_store.h"
#include "channelops/testing/local_server.h"
#include "channelops/testing/temp_dir.h"
#include "deal_registration/deal_registration_service.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"

ABSL_DECLARE_FLAG(std::string, identity_header);

namespace channelops::dealreg {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;

constexpr char kPrincipalHeader[] = "x-channelops-principal";

common::v1::Money Usd(int64_t units) {
  common::v1::Money m;
  m.set_currency_code("USD");
  m.set_amount_micros(units * 1'000'000);
  return m;
}

v1::DealLine Line(const std::string& product_line, int64_t qty, int64_t price) {
  v1::DealLine l;
  l.set_product_line(product_line);
  l.set_quantity(qty);
  *l.mutable_unit_price() = Usd(price);
  return l;
}

common::v1::Party Customer(const std::string& name, const std::string& country,
                           const std::string& email_domain = "") {
  common::v1::Party p;
  p.set_name(name);
  p.mutable_address()->set_country_code(country);
  p.set_email_domain(email_domain);
  return p;
}

v1::ProgramRules Rules(v1::ApprovalMode mode) {
  v1::ProgramRules r;
  r.set_program_id("p1");
  r.set_currency_code("USD");
  *r.mutable_min_deal_amount() = Usd(1000);
  r.add_excluded_account_types("GOVERNMENT");
  r.add_eligible_product_lines("storage");
  r.add_eligible_product_lines("compute");
  r.set_approval_mode(mode);
  r.set_expiry_days(30);
  r.mutable_benefits()->set_extra_margin_bps(200);
  r.set_spa_auto_approve_max_bps(500);
  auto* t1 = r.add_spa_tiers();
  t1->set_max_discount_bps(1500);
  t1->set_approver_role("channel_manager");
  auto* t2 = r.add_spa_tiers();
  t2->set_max_discount_bps(3000);
  t2->set_approver_role("director");
  return r;
}

v1::RegisterDealRequest Reg(const std::string& request_id, const std::string& partner,
                            common::v1::Party customer,
                            std::vector<v1::DealLine> lines = {Line("storage", 10, 500)}) {
  v1::RegisterDealRequest r;
  r.set_request_id(request_id);
  r.set_program_id("p1");
  r.set_partner_id(partner);
  r.mutable_partner_contact()->set_name("Pat Partner");
  r.mutable_partner_contact()->set_email("pat@partner.example");
  *r.mutable_end_customer() = std::move(customer);
  for (auto& l : lines) *r.add_lines() = std::move(l);
  r.set_expected_close_date("2026-03-31");
  return r;
}

std::vector<std::string> Fields(const grpc::Status& s) {
  std::vector<std::string> out;
  for (const auto& [field, reason] : core::GetFieldViolations(core::FromGrpcStatus(s))) {
    out.push_back(field);
  }
  return out;
}

class DealRegistrationServiceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // CallerIdentity reads the flag once, at its first call.
    absl::SetFlag(&FLAGS_identity_header, kPrincipalHeader);
  }

  void SetUp() override {
    eventstore::Options o;
    o.path = dir_.Path("store");
    o.source = "channelops/deal_registration";
    o.read_model_cfs = DealRegistrationService::ReadModelCfs();
    o.memory_read_cfs = DealRegistrationService::MemoryReadCfs();  // as main.cc
    o.clock = &clock_;
    auto store = eventstore::EventStore::Open(o);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    service_ = std::make_unique<DealRegistrationService>(*store_, clock_);
    auto local = ::channelops::testing::StartLocalServer(service_.get());
    ASSERT_TRUE(local.ok()) << local.status();
    server_ = std::move(local->server);
    stub_ = v1::DealRegistrationService::NewStub(local->channel);
  }

  void TearDown() override {
    if (server_) server_->Shutdown();
    if (store_) store_->Close();
  }

  // A client context as `principal`, with a deadline.
  static std::unique_ptr<grpc::ClientContext> As(const std::string& principal) {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->AddMetadata(kPrincipalHeader, principal);
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return ctx;
  }

  void SetRules(const v1::ProgramRules& rules) {
    v1::SetProgramRulesRequest req;
    req.set_request_id(absl::StrCat("rules-", ++rules_seq_));
    *req.mutable_rules() = rules;
    v1::SetProgramRulesResponse resp;
    grpc::Status s = stub_->SetProgramRules(As("ops").get(), req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  v1::RegisterDealResponse Register(const v1::RegisterDealRequest& req) {
    v1::RegisterDealResponse resp;
    grpc::Status s = stub_->RegisterDeal(As("partner-portal").get(), req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }

  v1::Deal Get(const std::string& deal_id) {
    v1::GetDealRequest req;
    req.set_deal_id(deal_id);
    v1::DealResponse resp;
    grpc::Status s = stub_->GetDeal(As("partner-portal").get(), req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.deal();
  }

  core::FakeClock clock_{absl::FromUnixSeconds(1767225600)};  // 2026-01-01T00:00:00Z
  testing::TempDir dir_{"dealreg_service_test"};
  std::unique_ptr<eventstore::EventStore> store_;
  std::unique_ptr<DealRegistrationService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::DealRegistrationService::Stub> stub_;
  int rules_seq_ = 0;
};

// ---------------------------------------------------------------------------
// Bad input: INVALID_ARGUMENT naming the field, nothing written
// ---------------------------------------------------------------------------

TEST_F(DealRegistrationServiceTest, MalformedRequestsNameTheFieldAndWriteNothing) {
  SetRules(Rules(v1::APPROVAL_MODE_AUTO));
  const uint64_t before = store_->LastPosition();
  ASSERT_GT(before, 0u);

  struct Case {
    const char* name;
    std::function<void(v1::RegisterDealRequest&)> mutate;
    std::string field;
  };
  std::vector<Case> cases = {
      {"missing partner", [](auto& r) { r.clear_partner_id(); }, "partner_id"},
      {"unknown programme", [](auto& r) { r.set_program_id("nope"); }, "program_id"},
      {"zero quantity", [](auto& r) { r.mutable_lines(0)->set_quantity(0); }, "lines[0].quantity"},
      {"negative quantity", [](auto& r) { r.mutable_lines(0)->set_quantity(-1); },
       "lines[0].quantity"},
      {"price without currency",
       [](auto& r) { r.mutable_lines(0)->mutable_unit_price()->clear_currency_code(); },
       "lines[0].unit_price.currency_code"},
      {"mixed currencies",
       [](auto& r) {
         *r.add_lines() = Line("compute", 1, 10);
         r.mutable_lines(1)->mutable_unit_price()->set_currency_code("EUR");
       },
       "lines[1].unit_price.currency_code"},
      {"programme currency",
       [](auto& r) { r.mutable_lines(0)->mutable_unit_price()->set_currency_code("EUR"); },
       "lines[0].unit_price.currency_code"},
      {"close date in the past", [](auto& r) { r.set_expected_close_date("2025-12-31"); },
       "expected_close_date"},
      {"unknown enum", [](auto& r) { r.set_stage(static_cast<v1::DealStage>(77)); }, "stage"},
      {"over-long string",
       [](auto& r) { r.mutable_end_customer()->set_name(std::string(300, 'x')); },
       "end_customer.name"},
      {"more than 1000 lines",
       [](auto& r) {
         for (int i = 0; i < 1000; ++i) *r.add_lines() = Line("storage", 1, 1);
       },
       "lines"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    v1::RegisterDealRequest req = Reg(absl::StrCat("bad-", i), "partner-a", Customer("Acme", "US"));
    c.mutate(req);
    v1::RegisterDealResponse resp;
    grpc::Status s = stub_->RegisterDeal(As("partner-portal").get(), req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.name;
    EXPECT_THAT(Fields(s), ElementsAre(c.field)) << c.name << ": " << s.error_message();
    EXPECT_EQ(store_->LastPosition(), before) << c.name;
  }

  // A rule breach is not an error: it is recorded.
  v1::RegisterDealResponse small =
      Register(Reg("small", "partner-a", Customer("Acme", "US"), {Line("storage", 1, 10)}));
  EXPECT_EQ(small.deal().status(), v1::DEAL_STATUS_REJECTED);
  EXPECT_EQ(small.deal().reasons(0).code(), v1::REASON_CODE_BELOW_MINIMUM_SIZE);
  EXPECT_EQ(store_->LastPosition(), before + 1);
}

TEST_F(DealRegistrationServiceTest, ErrorCodesForUnknownDealStaleVersionAndWrongStatus) {
  SetRules(Rules(v1::APPROVAL_MODE_MANUAL));
  v1::Deal deal = Register(Reg("r1", "partner-a", Customer("Acme", "US"))).deal();
  ASSERT_EQ(deal.status(), v1::DEAL_STATUS_PENDING_APPROVAL);
  const uint64_t before = store_->LastPosition();

  v1::ApproveDealRequest unknown;
  unknown.set_request_id("a0");
  unknown.set_deal_id("01890000-0000-7000-8000-000000000000");
  v1::DealResponse resp;
  EXPECT_EQ(stub_->ApproveDeal(As("cm-1").get(), unknown, &resp).error_code(),
            grpc::StatusCode::NOT_FOUND);

  v1::UpdateDealRequest stale;
  stale.set_request_id("u0");
  stale.set_deal_id(deal.deal_id());
  stale.set_expected_version(deal.version() + 1);
  stale.set_stage(v1::DEAL_STAGE_PROPOSAL);
  EXPECT_EQ(stub_->UpdateDeal(As("partner-portal").get(), stale, &resp).error_code(),
            grpc::StatusCode::ABORTED);
  EXPECT_EQ(store_->LastPosition(), before);

  v1::ApproveDealRequest approve;
  approve.set_request_id("a1");
  approve.set_deal_id(deal.deal_id());
  ASSERT_TRUE(stub_->ApproveDeal(As("cm-1").get(), approve, &resp).ok());
  EXPECT_EQ(resp.deal().status(), v1::DEAL_STATUS_APPROVED);
  EXPECT_EQ(resp.deal().decided_by(), "cm-1");

  v1::RejectDealRequest reject;
  reject.set_request_id("x1");
  reject.set_deal_id(deal.deal_id());
  reject.set_reason("too late");
  grpc::Status s = stub_->RejectDeal(As("cm-1").get(), reject, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("APPROVED"));

  v1::UpdateDealRequest update;
  update.set_request_id("u1");
  update.set_deal_id(deal.deal_id());
  update.set_expected_version(2);
  update.set_stage(v1::DEAL_STAGE_PROPOSAL);
  ASSERT_TRUE(stub_->UpdateDeal(As("partner-portal").get(), update, &resp).ok());
  EXPECT_EQ(resp.deal().version(), 3u);
  EXPECT_EQ(resp.deal().stage(), v1::DEAL_STAGE_PROPOSAL);

  v1::CloseDealRequest close;
  close.set_request_id("c1");
  close.set_deal_id(deal.deal_id());
  close.set_outcome(v1::CLOSE_OUTCOME_WON);
  *close.mutable_final_amount() = Usd(5100);
  ASSERT_TRUE(stub_->CloseDeal(As("partner-portal").get(), close, &resp).ok());
  EXPECT_EQ(resp.deal().status(), v1::DEAL_STATUS_WON);
}

// ---------------------------------------------------------------------------
// First come, first served under concurrency
// ---------------------------------------------------------------------------

TEST_F(DealRegistrationServiceTest, ConcurrentPartnersRegisteringOneCustomerHaveExactlyOneWinner) {
  SetRules(Rules(v1::APPROVAL_MODE_AUTO));
  // Name spellings and email domains (subdomain or not) of one customer.
  const std::vector<std::pair<std::string, std::string>> spellings = {
      {"ACME Corp.", ""},
      {"Acme Corporation", ""},
      {"acme, inc", ""},
      {"Acme Inc.", "sales.acme%d.com"},
      {"ACME", "acme%d.com"}};
  constexpr int kRounds = 3;
  constexpr int kPartners = 16;
  for (int round = 0; round < kRounds; ++round) {
    // Each round is another customer (country and email domain) registered by
    // other partners, so rounds are independent.
    const std::string country = std::vector<std::string>{"US", "CA", "GB"}[round];
    auto partner = [round](int i) { return absl::StrFormat("r%d-partner-%02d", round, i); };
    const uint64_t before = store_->LastPosition();
    std::vector<v1::RegisterDealResponse> responses(kPartners);
    std::vector<grpc::Status> statuses(kPartners);
    std::latch start(kPartners);
    std::vector<std::thread> threads;
    for (int i = 0; i < kPartners; ++i) {
      threads.emplace_back([&, i] {
        const auto& [name, domain] = spellings[i % spellings.size()];
        v1::RegisterDealRequest req =
            Reg(absl::StrCat("tie-", round, "-", i), partner(i), Customer(name, country));
        if (!domain.empty()) {
          req.mutable_end_customer()->set_email_domain(
              absl::StrReplaceAll(domain, {{"%d", absl::StrCat(round)}}));
        }
        start.arrive_and_wait();
        statuses[i] = stub_->RegisterDeal(As("partner-portal").get(), req, &responses[i]);
      });
    }
    for (auto& t : threads) t.join();

    std::vector<int> winners;
    for (int i = 0; i < kPartners; ++i) {
      ASSERT_TRUE(statuses[i].ok()) << statuses[i].error_message();
      EXPECT_FALSE(responses[i].existing()) << partner(i);
      if (responses[i].deal().status() != v1::DEAL_STATUS_REJECTED) winners.push_back(i);
    }
    ASSERT_THAT(winners, SizeIs(1)) << "round " << round;
    const v1::Deal& winner = responses[winners[0]].deal();
    EXPECT_EQ(winner.status(), v1::DEAL_STATUS_APPROVED);
    const std::string winner_partner = partner(winners[0]);
    for (int i = 0; i < kPartners; ++i) {
      if (i == winners[0]) continue;
      const v1::Deal& loser = responses[i].deal();
      ASSERT_THAT(loser.reasons(), SizeIs(1));
      EXPECT_EQ(loser.reasons(0).code(), v1::REASON_CODE_CONFLICT_PARTNER_REGISTRATION);
      EXPECT_EQ(loser.reasons(0).conflicting_deal_id(), winner.deal_id());
      // Nothing in the loser's answer names the winning partner.
      EXPECT_THAT(responses[i].SerializeAsString(), Not(HasSubstr(winner_partner)));
      EXPECT_NE(loser.deal_id(), winner.deal_id());
    }
    // Every registration is a recorded fact, and the winner is the earliest in
    // the store's global order.
    auto events = store_->ReadAll(before + 1, 1000);
    ASSERT_TRUE(events.ok());
    ASSERT_THAT(*events, SizeIs(kPartners));
    v1::DealRegistered first;
    ASSERT_TRUE(events->front().payload().UnpackTo(&first));
    EXPECT_EQ(first.keys().deal_id(), winner.deal_id());
    EXPECT_EQ(first.keys().partner_id(), winner_partner);
  }
}

// The writer keeps the rules between commands (WriterRulesCache): each change,
// and a programme first asked for before it had rules, must be seen by the
// next registration.
TEST_F(DealRegistrationServiceTest, RegistrationsAreDecidedUnderTheRulesSetLast) {
  v1::RegisterDealRequest early = Reg("early", "partner-a", Customer("Initech", "US"));
  early.set_program_id("p2");
  v1::RegisterDealResponse resp;
  grpc::Status s = stub_->RegisterDeal(As("partner-portal").get(), early, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(Fields(s), ElementsAre("program_id"));

  SetRules(Rules(v1::APPROVAL_MODE_AUTO));
  EXPECT_EQ(Register(Reg("r1", "partner-a", Customer("ACME Corp.", "US"))).deal().status(),
            v1::DEAL_STATUS_APPROVED);
  SetRules(Rules(v1::APPROVAL_MODE_MANUAL));
  EXPECT_EQ(Register(Reg("r2", "partner-a", Customer("Globex", "US"))).deal().status(),
            v1::DEAL_STATUS_PENDING_APPROVAL);
  v1::ProgramRules p2 = Rules(v1::APPROVAL_MODE_AUTO);
  p2.set_program_id("p2");
  SetRules(p2);
  early.set_request_id("early-again");
  v1::RegisterDealResponse later = Register(early);
  EXPECT_EQ(later.deal().status(), v1::DEAL_STATUS_APPROVED);
  EXPECT_EQ(later.deal().program_id(), "p2");
}

TEST_F(DealRegistrationServiceTest, RetriesAndReRegistrationsReturnTheSameDeal) {
  SetRules(Rules(v1::APPROVAL_MODE_AUTO));
  v1::RegisterDealRequest req = Reg("once", "partner-a", Customer("ACME Corp.", "US"));
  v1::RegisterDealResponse first = Register(req);
  const uint64_t after_first = store_->LastPosition();

  v1::RegisterDealResponse retry = Register(req);  // same request_id
  EXPECT_EQ(retry.deal().deal_id(), first.deal().deal_id());
  EXPECT_EQ(store_->LastPosition(), after_first);
  // The first answer is the message the command built; the retry's is parsed
  // from the bytes the store kept (built from the deal's bytes by hand).
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(retry, first))
      << retry.DebugString() << "\nvs\n"
      << first.DebugString();
  EXPECT_EQ(first.deal().SerializeAsString(), Get(first.deal().deal_id()).SerializeAsString());

  // The same partner registering the same deal under a new request id.
  v1::RegisterDealResponse again =
      Register(Reg("twice", "partner-a", Customer("Acme Corporation", "US")));
  EXPECT_TRUE(again.existing());
  EXPECT_EQ(again.deal().deal_id(), first.deal().deal_id());
  EXPECT_EQ(store_->LastPosition(), after_first);

  v1::ListDealsRequest list;
  list.set_partner_id("partner-a");
  v1::ListDealsResponse listed;
  ASSERT_TRUE(stub_->ListDeals(As("partner-portal").get(), list, &listed).ok());
  EXPECT_THAT(listed.deals(), SizeIs(1));
}

TEST_F(DealRegistrationServiceTest, CheckConflictsAnswersBeforeRegistering) {
  SetRules(Rules(v1::APPROVAL_MODE_AUTO));
  v1::Deal first = Register(Reg("r1", "partner-a", Customer("Acme", "US", "acme.com"))).deal();
  const uint64_t before = store_->LastPosition();
  v1::CheckConflictsRequest check;
  check.set_program_id("p1");
  check.set_partner_id("partner-b");
  *check.mutable_end_customer() = Customer("Acme Robotics", "DE", "it@eu.acme.com");
  check.add_product_lines("Storage");
  v1::CheckConflictsResponse resp;
  ASSERT_TRUE(stub_->CheckConflicts(As("partner-portal").get(), check, &resp).ok());
  ASSERT_THAT(resp.conflicts(), SizeIs(1));
  EXPECT_EQ(resp.conflicts(0).code(), v1::REASON_CODE_CONFLICT_PARTNER_REGISTRATION);
  EXPECT_EQ(resp.conflicts(0).conflicting_deal_id(), first.deal_id());
  EXPECT_THAT(resp.SerializeAsString(), Not(HasSubstr("partner-a")));
  EXPECT_EQ(store_->LastPosition(), before);

  check.set_partner_id("partner-a");
  resp.Clear();
  ASSERT_TRUE(stub_->CheckConflicts(As("partner-portal").get(), check, &resp).ok());
  EXPECT_THAT(resp.conflicts(), IsEmpty());
  EXPECT_EQ(resp.existing_deal_id(), first.deal_id());
}

// ---------------------------------------------------------------------------
// Expiry: FakeClock + SweepExpired
// ---------------------------------------------------------------------------

TEST_F(DealRegistrationServiceTest, SweeperExpiresStaleRegistrationsAndFreesTheCustomer) {
  SetRules(Rules(v1::APPROVAL_MODE_AUTO));
  v1::Deal stale = Register(Reg("r1", "partner-a", Customer("Acme", "US"))).deal();
  v1::Deal kept = Register(Reg("r2", "partner-a", Customer("Initech", "US"))).deal();
  ASSERT_EQ(stale.status(), v1::DEAL_STATUS_APPROVED);

  clock_.Advance(absl::Hours(24 * 20));
  v1::UpdateDealRequest touch;  // keeps "kept" alive for 30 more days
  touch.set_request_id("touch");
  touch.set_deal_id(kept.deal_id());
  touch.set_expected_version(kept.version());
  v1::DealResponse touched;
  ASSERT_TRUE(stub_->UpdateDeal(As("partner-portal").get(), touch, &touched).ok());

  clock_.Advance(absl::Hours(24 * 10) - absl::Seconds(1));
  auto none = service_->SweepExpired();
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(*none, 0u);
  EXPECT_EQ(Get(stale.deal_id()).status(), v1::DEAL_STATUS_APPROVED);

  clock_.Advance(absl::Seconds(1));  // day 30 since registration
  auto one = service_->SweepExpired();
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(*one, 1u);
  EXPECT_EQ(Get(stale.deal_id()).status(), v1::DEAL_STATUS_EXPIRED);
  EXPECT_EQ(Get(kept.deal_id()).status(), v1::DEAL_STATUS_APPROVED);
  auto again = service_->SweepExpired();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, 0u);

  // The customer is free for another partner.
  v1::RegisterDealResponse other = Register(Reg("r3", "partner-b", Customer("ACME Corp", "US")));
  EXPECT_EQ(other.deal().status(), v1::DEAL_STATUS_APPROVED);

  v1::GetDealHistoryRequest hist;
  hist.set_deal_id(stale.deal_id());
  v1::GetDealHistoryResponse history;
  ASSERT_TRUE(stub_->GetDealHistory(As("auditor").get(), hist, &history).ok());
  ASSERT_THAT(history.events(), SizeIs(2));
  EXPECT_EQ(history.events(0).event_type(), "channelops.dealreg.v1.DealRegistered");
  EXPECT_EQ(history.events(0).causation_id(), "r1");
  EXPECT_EQ(history.events(0).actor(), "partner-portal");
  EXPECT_EQ(history.events(0).stream_id(), absl::StrCat("deal-", stale.deal_id()));
  EXPECT_EQ(history.events(1).event_type(), "channelops.dealreg.v1.DealExpired");
  EXPECT_EQ(history.events(1).actor(), "system:expiry_sweeper");

  clock_.Advance(absl::Hours(24 * 30));  // now "kept" lapses too
  auto later = service_->SweepExpired();
  ASSERT_TRUE(later.ok());
  EXPECT_EQ(*later, 2u);  // kept and partner-b's registration
}

// ---------------------------------------------------------------------------
// Direct sales
// ---------------------------------------------------------------------------

TEST_F(DealRegistrationServiceTest, DirectOpportunityFlows) {
  SetRules(Rules(v1::APPROVAL_MODE_AUTO));
  // Direct sales first: a later partner registration conflicts.
  v1::RecordDirectOpportunityRequest direct;
  direct.set_request_id("crm-1");
  direct.set_opportunity_id("opp-1");
  direct.set_owner_rep_id("rep-9");
  *direct.mutable_end_customer() = Customer("Globex", "US");
  direct.add_product_lines("storage");
  v1::RecordDirectOpportunityResponse recorded;
  ASSERT_TRUE(stub_->RecordDirectOpportunity(As("crm").get(), direct, &recorded).ok());
  EXPECT_THAT(recorded.partner_got_there_first(), IsEmpty());
  v1::Deal refused = Register(Reg("r1", "partner-a", Customer("Globex Corp", "US"))).deal();
  EXPECT_EQ(refused.status(), v1::DEAL_STATUS_REJECTED);
  ASSERT_THAT(refused.reasons(), SizeIs(1));
  EXPECT_EQ(refused.reasons(0).code(), v1::REASON_CODE_CONFLICT_DIRECT_OPPORTUNITY);
  EXPECT_EQ(refused.reasons(0).direct_opportunity_id(), "opp-1");

  // Partner first: the CRM is told the partner got there first; both are kept.
  v1::Deal partner_deal = Register(Reg("r2", "partner-b", Customer("Hooli", "US"))).deal();
  ASSERT_EQ(partner_deal.status(), v1::DEAL_STATUS_APPROVED);
  direct.set_request_id("crm-2");
  direct.set_opportunity_id("opp-2");
  *direct.mutable_end_customer() = Customer("Hooli Inc", "US");
  recorded.Clear();
  ASSERT_TRUE(stub_->RecordDirectOpportunity(As("crm").get(), direct, &recorded).ok());
  ASSERT_THAT(recorded.partner_got_there_first(), SizeIs(1));
  EXPECT_EQ(recorded.partner_got_there_first(0).deal_id(), partner_deal.deal_id());
  EXPECT_EQ(recorded.partner_got_there_first(0).partner_id(), "partner-b");
  EXPECT_EQ(recorded.partner_got_there_first(0).status(), v1::DEAL_STATUS_APPROVED);
  EXPECT_THAT(Get(partner_deal.deal_id()).direct_opportunity_ids(), ElementsAre("opp-2"));

  // The CRM sending it again (another request id) records nothing new.
  const uint64_t before = store_->LastPosition();
  direct.set_request_id("crm-3");
  v1::RecordDirectOpportunityResponse again;
  ASSERT_TRUE(stub_->RecordDirectOpportunity(As("crm").get(), direct, &again).ok());
  EXPECT_TRUE(again.existing());
  EXPECT_THAT(again.partner_got_there_first(), SizeIs(1));
  EXPECT_EQ(store_->LastPosition(), before);
}

// ---------------------------------------------------------------------------
// Special pricing tiers and forecast
// ---------------------------------------------------------------------------

TEST_F(DealRegistrationServiceTest, SpecialPricingTiersAndForecast) {
  SetRules(Rules(v1::APPROVAL_MODE_AUTO));
  v1::Deal deal =
      Register(Reg("r1", "partner-a", Customer("Acme", "US"), {Line("storage", 10, 1000)}))
          .deal();  // USD 10,000 list
  v1::RequestSpecialPricingRequest spa;
  spa.set_request_id("spa-req-1");
  spa.set_deal_id(deal.deal_id());
  spa.set_discount_bps(2000);
  spa.set_competitor("Initech");
  spa.set_justification("competitive bid");
  v1::SpecialPricingResponse resp;
  ASSERT_TRUE(stub_->RequestSpecialPricing(As("partner-portal").get(), spa, &resp).ok());
  EXPECT_EQ(resp.special_pricing().status(), v1::SPECIAL_PRICING_STATUS_PENDING);
  EXPECT_EQ(resp.special_pricing().approver_role(), "director");
  EXPECT_EQ(resp.special_pricing().discount_amount().amount_micros(), 2000'000000);
  const std::string spa_id = resp.special_pricing().spa_id();

  const uint64_t before = store_->LastPosition();
  v1::DecideSpecialPricingRequest decide;
  decide.set_request_id("spa-dec-1");
  decide.set_deal_id(deal.deal_id());
  decide.set_spa_id(spa_id);
  decide.set_approve(true);
  decide.set_approver_role("channel_manager");
  grpc::Status denied = stub_->DecideSpecialPricing(As("cm-1").get(), decide, &resp);
  EXPECT_EQ(denied.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(store_->LastPosition(), before);

  decide.set_request_id("spa-dec-2");
  decide.set_approver_role("director");
  ASSERT_TRUE(stub_->DecideSpecialPricing(As("dir-1").get(), decide, &resp).ok());
  EXPECT_EQ(resp.special_pricing().status(), v1::SPECIAL_PRICING_STATUS_APPROVED);
  EXPECT_EQ(resp.special_pricing().decided_by(), "dir-1");

  v1::ForecastSpecialPricingRequest forecast;
  forecast.mutable_period()->set_start_date("2026-01-01");
  forecast.mutable_period()->set_end_date("2026-04-01");
  v1::ForecastSpecialPricingResponse f;
  ASSERT_TRUE(stub_->ForecastSpecialPricing(As("finance").get(), forecast, &f).ok());
  ASSERT_THAT(f.totals(), SizeIs(1));
  EXPECT_EQ(f.totals(0).currency_code(), "USD");
  EXPECT_EQ(f.totals(0).committed().amount_micros(), 2000'000000);
  EXPECT_EQ(f.totals(0).weighted().amount_micros(), 200'000000);  // prospecting: 10%
  ASSERT_THAT(f.items(), SizeIs(1));
  EXPECT_EQ(f.items(0).deal_id(), deal.deal_id());

  forecast.mutable_period()->set_start_date("2026-04-01");
  forecast.mutable_period()->set_end_date("2026-07-01");
  f.Clear();
  ASSERT_TRUE(stub_->ForecastSpecialPricing(As("finance").get(), forecast, &f).ok());
  EXPECT_THAT(f.totals(), IsEmpty());
}

// ---------------------------------------------------------------------------
// Queries
// ---------------------------------------------------------------------------

TEST_F(DealRegistrationServiceTest, ListDealsPagesByPartnerStatusAndCustomer) {
  SetRules(Rules(v1::APPROVAL_MODE_AUTO));
  std::vector<std::string> ids;
  for (int i = 0; i < 7; ++i) {
    clock_.Advance(absl::Milliseconds(5));
    ids.push_back(Register(Reg(absl::StrCat("r", i), "partner-a",
                               Customer(absl::StrCat("Customer ", i), "US")))
                      .deal()
                      .deal_id());
  }
  Register(Reg("other", "partner-b", Customer("Customer 0 Inc", "US"), {Line("compute", 10, 500)}));
  Register(Reg("small", "partner-a", Customer("Tiny", "US"), {Line("storage", 1, 1)}));  // rejected

  std::vector<std::string> seen;
  v1::ListDealsRequest req;
  req.set_partner_id("partner-a");
  req.set_status(v1::DEAL_STATUS_APPROVED);
  req.set_page_size(3);
  int pages = 0;
  do {
    v1::ListDealsResponse resp;
    ASSERT_TRUE(stub_->ListDeals(As("partner-portal").get(), req, &resp).ok());
    ++pages;
    for (const auto& d : resp.deals()) {
      EXPECT_EQ(d.partner_id(), "partner-a");
      seen.push_back(d.deal_id());
    }
    req.set_page_token(resp.next_page_token());
  } while (!req.page_token().empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(seen, ids);  // all, once, in registration order

  v1::ListDealsRequest by_customer;
  *by_customer.mutable_customer() = Customer("customer 0 corp.", "us");
  v1::ListDealsResponse resp;
  ASSERT_TRUE(stub_->ListDeals(As("partner-portal").get(), by_customer, &resp).ok());
  ASSERT_THAT(resp.deals(), SizeIs(2));
  EXPECT_EQ(resp.deals(0).deal_id(), ids[0]);
  EXPECT_EQ(resp.deals(1).partner_id(), "partner-b");

  v1::ListDealsRequest rejected;
  rejected.set_status(v1::DEAL_STATUS_REJECTED);
  resp.Clear();
  ASSERT_TRUE(stub_->ListDeals(As("partner-portal").get(), rejected, &resp).ok());
  ASSERT_THAT(resp.deals(), SizeIs(1));
  EXPECT_EQ(resp.deals(0).end_customer().name(), "Tiny");

  v1::ListDealsRequest bad;
  bad.set_page_token("not a token!");
  grpc::Status s = stub_->ListDeals(As("partner-portal").get(), bad, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(Fields(s), ElementsAre("page_token"));

  v1::GetDealRequest missing;
  missing.set_deal_id("nope");
  v1::DealResponse d;
  EXPECT_EQ(stub_->GetDeal(As("partner-portal").get(), missing, &d).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(DealRegistrationServiceTest, ProgramRulesAreVersioned) {
  SetRules(Rules(v1::APPROVAL_MODE_AUTO));
  v1::ProgramRules v2 = Rules(v1::APPROVAL_MODE_MANUAL);
  v2.set_expiry_days(60);
  SetRules(v2);
  v1::GetProgramRulesRequest req;
  req.set_program_id("p1");
  v1::GetProgramRulesResponse resp;
  ASSERT_TRUE(stub_->GetProgramRules(As("ops").get(), req, &resp).ok());
  EXPECT_EQ(resp.rules().version(), 2u);
  EXPECT_EQ(resp.rules().expiry_days(), 60);
  req.set_version(1);
  ASSERT_TRUE(stub_->GetProgramRules(As("ops").get(), req, &resp).ok());
  EXPECT_EQ(resp.rules().version(), 1u);
  EXPECT_EQ(resp.rules().approval_mode(), v1::APPROVAL_MODE_AUTO);
  req.set_version(3);
  EXPECT_EQ(stub_->GetProgramRules(As("ops").get(), req, &resp).error_code(),
            grpc::StatusCode::NOT_FOUND);
  // A registration under v2 waits for manual approval and expires after 60 days.
  v1::Deal d = Register(Reg("r1", "partner-a", Customer("Acme", "US"))).deal();
  EXPECT_EQ(d.status(), v1::DEAL_STATUS_PENDING_APPROVAL);
  EXPECT_EQ(d.rules_version(), 2u);
  EXPECT_EQ(d.expiry_days(), 60);
}

}  // namespace
}  // namespace channelops::dealreg
