// The LeadRoutingService through an in-process gRPC server (127.0.0.1:0) and
// the generated stub, over an EventStore on a temporary directory with a fake
// clock: validation (nothing written), routing, accept / decline / timeout,
// the partner inbox, the manual queue, idempotent retries, restarts.

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "channelops/core/check.h"
#include "channelops/core/clock.h"
#include "channelops/core/grpc_status.h"
#include "channelops/eventstore/event_store.h"
#include "channelops/leads/v1/events.pb.h"
#include "channelops/leads/v1/leads.grpc.pb.h"
#include "channelops/testing/temp_dir.h"
#include "gmock/gmock.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "lead_routing/domain/events.h"
#include "lead_routing/lead_routing_service.h"

ABSL_DECLARE_FLAG(std::string, identity_header);

namespace channelops::leads {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pair;
using Stub = v1::LeadRoutingService::Stub;

constexpr char kIdentityHeader[] = "x-channelops-principal";

// One service instance: store + service + gRPC server + stub.
class Harness {
 public:
  Harness(const std::string& dir, core::FakeClock& clock) : clock_(clock) {
    eventstore::Options o;
    o.path = dir;
    o.source = "channelops/lead_routing";
    o.read_model_cfs = LeadRoutingService::ReadModelCfs();
    o.clock = &clock;
    auto store = eventstore::EventStore::Open(o);
    CHANNELOPS_CHECK(store.ok()) << store.status();
    store_ = std::move(*store);
    service_ = std::make_unique<LeadRoutingService>(*store_, clock);
    grpc::ServerBuilder b;
    int port = 0;
    b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    b.RegisterService(service_.get());
    server_ = b.BuildAndStart();
    CHANNELOPS_CHECK(server_ != nullptr && port > 0);
    stub_ = v1::LeadRoutingService::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  }
  ~Harness() {
    server_->Shutdown();
    server_.reset();
    store_->Close();  // answers every queued command before the service goes
    service_.reset();
  }

  template <class Req, class Resp>
  grpc::Status Call(grpc::Status (Stub::*method)(grpc::ClientContext*, const Req&, Resp*),
                    const Req& req, Resp* resp, const std::string& actor = "manager@vendor") {
    grpc::ClientContext ctx;
    ctx.AddMetadata(kIdentityHeader, actor);
    return (stub_.get()->*method)(&ctx, req, resp);
  }

  eventstore::EventStore& store() { return *store_; }
  LeadRoutingService& service() { return *service_; }

 private:
  core::FakeClock& clock_;
  std::unique_ptr<eventstore::EventStore> store_;
  std::unique_ptr<LeadRoutingService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<Stub> stub_;
};

std::vector<std::pair<std::string, std::string>> Violations(const grpc::Status& s) {
  return core::GetFieldViolations(core::FromGrpcStatus(s));
}

std::vector<std::string> Fields(const grpc::Status& s) {
  std::vector<std::string> out;
  for (const auto& [f, r] : Violations(s)) out.push_back(f);
  return out;
}

class LeadRoutingServiceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { absl::SetFlag(&FLAGS_identity_header, kIdentityHeader); }

  void SetUp() override { h_ = std::make_unique<Harness>(dir_.Path("store"), clock_); }
  void Restart() {
    h_.reset();
    h_ = std::make_unique<Harness>(dir_.Path("store"), clock_);
  }

  // ---- request helpers; each asserts success ----
  void Partner(const std::string& id, int32_t weight, int32_t max_open = 0,
               std::vector<std::string> products = {"security"}) {
    v1::UpsertPartnerProfileRequest r;
    r.set_request_id(absl::StrCat("partner-", id, "-", ++seq_));
    v1::PartnerProfile* p = r.mutable_profile();
    p->set_partner_id(id);
    p->set_name(absl::StrCat("Partner ", id));
    p->set_active(true);
    p->set_tier("gold");
    p->set_routing_weight(weight);
    p->set_max_open_leads(max_open);
    for (auto& l : products) p->add_product_lines(l);
    v1::PartnerProfileResponse resp;
    grpc::Status s = h_->Call(&Stub::UpsertPartnerProfile, r, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(resp.profile().tier(), "GOLD");
  }

  void Territory(const std::string& id, std::vector<std::string> pool, std::string region = "",
                 std::string postal_prefix = "", int32_t sla_hours = 0) {
    v1::UpsertTerritoryRequest r;
    r.set_request_id(absl::StrCat("territory-", id, "-", ++seq_));
    v1::Territory* t = r.mutable_territory();
    t->set_territory_id(id);
    t->add_countries("US");
    if (!region.empty()) t->add_regions(region);
    if (!postal_prefix.empty()) t->add_postal_prefixes(postal_prefix);
    if (pool.size() == 1) {
      t->set_mode(v1::TERRITORY_MODE_EXCLUSIVE);
      t->set_owner_partner_id(pool[0]);
    } else {
      t->set_mode(v1::TERRITORY_MODE_SHARED);
      for (auto& p : pool) t->add_partner_ids(p);
    }
    t->set_acceptance_sla_hours(sla_hours);
    v1::TerritoryResponse resp;
    grpc::Status s = h_->Call(&Stub::UpsertTerritory, r, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  v1::SubmitLeadRequest LeadRequest(const std::string& region = "CA",
                                    const std::string& postal = "94105") {
    v1::SubmitLeadRequest r;
    r.set_request_id(absl::StrCat("lead-", ++seq_));
    r.set_source("web");
    r.set_campaign_id("cmp-spring");
    r.set_company("Acme Corp");
    r.mutable_contact()->set_name("Jane Doe");
    r.mutable_contact()->set_email("jane@acme.com");
    r.mutable_contact()->set_phone("+1 415 555 0100");
    r.set_country_code("us");
    r.set_region(region);
    r.set_postal_code(postal);
    r.set_industry("Retail");
    r.set_product_interest("Security");
    r.set_score(70);
    return r;
  }

  v1::Lead Submit(const v1::SubmitLeadRequest& r) {
    v1::LeadResponse resp;
    grpc::Status s = h_->Call(&Stub::SubmitLead, r, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.lead();
  }

  grpc::Status Accept(const std::string& lead_id, const std::string& partner_id,
                      v1::LeadResponse* resp) {
    v1::AcceptLeadRequest r;
    r.set_request_id(absl::StrCat("accept-", ++seq_));
    r.set_lead_id(lead_id);
    r.set_partner_id(partner_id);
    return h_->Call(&Stub::AcceptLead, r, resp, partner_id);
  }

  grpc::Status Decline(const std::string& lead_id, const std::string& partner_id,
                       v1::LeadResponse* resp) {
    v1::DeclineLeadRequest r;
    r.set_request_id(absl::StrCat("decline-", ++seq_));
    r.set_lead_id(lead_id);
    r.set_partner_id(partner_id);
    r.set_reason("outside our focus");
    return h_->Call(&Stub::DeclineLead, r, resp, partner_id);
  }

  v1::Lead Get(const std::string& lead_id, const std::string& partner_id = "") {
    v1::GetLeadRequest r;
    r.set_lead_id(lead_id);
    r.set_partner_id(partner_id);
    v1::LeadResponse resp;
    grpc::Status s = h_->Call(&Stub::GetLead, r, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.lead();
  }

  std::vector<v1::Lead> Inbox(const std::string& partner_id) {
    v1::ListLeadsRequest r;
    r.set_partner_id(partner_id);
    v1::ListLeadsResponse resp;
    grpc::Status s = h_->Call(&Stub::ListLeads, r, &resp, partner_id);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return {resp.leads().begin(), resp.leads().end()};
  }

  v1::PartnerLeadStats Stats(const std::string& partner_id) {
    v1::GetPartnerLeadStatsRequest r;
    r.set_partner_id(partner_id);
    v1::PartnerLeadStats resp;
    grpc::Status s = h_->Call(&Stub::GetPartnerLeadStats, r, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }

  v1::GetRoutingHistoryResponse History(const std::string& lead_id) {
    v1::GetRoutingHistoryRequest r;
    r.set_lead_id(lead_id);
    v1::GetRoutingHistoryResponse resp;
    grpc::Status s = h_->Call(&Stub::GetRoutingHistory, r, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }

  // The standard world: p-west-1 (weight 1) and p-west-3 (weight 3) share
  // California; p-ny owns postal prefix 100 exclusively.
  void StandardWorld() {
    Partner("p-west-1", 1);
    Partner("p-west-3", 3);
    Partner("p-ny", 10);
    Territory("t-west", {"p-west-1", "p-west-3"}, "CA");
    Territory("t-nyc", {"p-ny"}, "", "100", 24);
  }

  channelops::testing::TempDir dir_{"lead_routing_service_test"};
  core::FakeClock clock_;
  std::unique_ptr<Harness> h_;
  int seq_ = 0;
};

// ---------------------------------------------------------------------------
// Bad input: INVALID_ARGUMENT with BadRequest details; nothing written.
// ---------------------------------------------------------------------------

TEST_F(LeadRoutingServiceTest, BadInputIsRejectedNamingTheFieldAndWritesNothing) {
  StandardWorld();
  const uint64_t before = h_->store().LastPosition();
  ASSERT_GT(before, 0u);

  {  // unknown country, empty company, malformed postal code
    v1::SubmitLeadRequest r = LeadRequest();
    r.set_company(" ");
    r.set_country_code("ZZ");
    v1::LeadResponse resp;
    grpc::Status s = h_->Call(&Stub::SubmitLead, r, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(Fields(s), ElementsAre("company", "country_code"));
    r = LeadRequest("CA", "9410");
    s = h_->Call(&Stub::SubmitLead, r, &resp);
    EXPECT_THAT(Violations(s),
                ElementsAre(Pair("postal_code", "is not a valid postal code for US")));
  }
  {  // negative capacity, weight out of range
    v1::UpsertPartnerProfileRequest r;
    r.set_request_id("bad-profile");
    r.mutable_profile()->set_partner_id("p-bad");
    r.mutable_profile()->set_routing_weight(0);
    r.mutable_profile()->set_max_open_leads(-1);
    v1::PartnerProfileResponse resp;
    grpc::Status s = h_->Call(&Stub::UpsertPartnerProfile, r, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(Fields(s), ElementsAre("profile.routing_weight", "profile.max_open_leads"));
    // The details are a google.rpc.BadRequest any gRPC client can decode.
    google::rpc::Status details;
    ASSERT_TRUE(details.ParseFromString(s.error_details()));
    ASSERT_EQ(details.details_size(), 1);
    google::rpc::BadRequest bad;
    ASSERT_TRUE(details.details(0).UnpackTo(&bad));
    EXPECT_EQ(bad.field_violations(1).field(), "profile.max_open_leads");
  }
  {  // unknown partner in a territory (decided on the writer: still nothing written)
    v1::UpsertTerritoryRequest r;
    r.set_request_id("bad-territory");
    r.mutable_territory()->set_territory_id("t-x");
    r.mutable_territory()->add_countries("US");
    r.mutable_territory()->set_mode(v1::TERRITORY_MODE_SHARED);
    r.mutable_territory()->add_partner_ids("p-ny");
    r.mutable_territory()->add_partner_ids("p-ghost");
    v1::TerritoryResponse resp;
    grpc::Status s = h_->Call(&Stub::UpsertTerritory, r, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(Violations(s),
                ElementsAre(Pair("territory.partner_ids[1]", "unknown partner 'p-ghost'")));
  }
  EXPECT_EQ(h_->store().LastPosition(), before);

  // Unknown partner accepting; unknown lead.
  v1::Lead lead = Submit(LeadRequest());
  const uint64_t after_submit = h_->store().LastPosition();
  v1::LeadResponse resp;
  grpc::Status s = Accept(lead.lead_id(), "p-ghost", &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(Violations(s), ElementsAre(Pair("partner_id", "unknown partner 'p-ghost'")));
  s = Accept("0190aaaa-0000-7000-8000-000000000000", "p-ny", &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(h_->store().LastPosition(), after_submit);
}

TEST_F(LeadRoutingServiceTest, ValidationFailuresLeaveTheStoreUntouched) {
  StandardWorld();
  const uint64_t before = h_->store().LastPosition();
  v1::LeadResponse lr;
  v1::SubmitLeadRequest bad_lead = LeadRequest();
  bad_lead.set_country_code("XX");
  EXPECT_FALSE(h_->Call(&Stub::SubmitLead, bad_lead, &lr).ok());
  v1::UpsertPartnerProfileRequest bad_profile;
  bad_profile.set_request_id("x");
  bad_profile.mutable_profile()->set_partner_id("p");
  bad_profile.mutable_profile()->set_routing_weight(101);
  v1::PartnerProfileResponse pr;
  EXPECT_FALSE(h_->Call(&Stub::UpsertPartnerProfile, bad_profile, &pr).ok());
  v1::UpsertTerritoryRequest unknown_owner;
  unknown_owner.set_request_id("y");
  unknown_owner.mutable_territory()->set_territory_id("t");
  unknown_owner.mutable_territory()->add_countries("US");
  unknown_owner.mutable_territory()->set_mode(v1::TERRITORY_MODE_EXCLUSIVE);
  unknown_owner.mutable_territory()->set_owner_partner_id("p-nobody");
  v1::TerritoryResponse tr;
  EXPECT_EQ(h_->Call(&Stub::UpsertTerritory, unknown_owner, &tr).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(h_->store().LastPosition(), before);
}

// ---------------------------------------------------------------------------
// Routing and its explanation.
// ---------------------------------------------------------------------------

TEST_F(LeadRoutingServiceTest, RoutesToTheExclusiveOwnerAndExplainsWhy) {
  StandardWorld();
  v1::Lead lead = Submit(LeadRequest("NY", "10001"));
  EXPECT_EQ(lead.status(), v1::LEAD_STATUS_ASSIGNED);
  EXPECT_EQ(lead.partner_id(), "p-ny");
  EXPECT_EQ(lead.territory_id(), "t-nyc");
  EXPECT_EQ(lead.region(), "US-NY");
  EXPECT_EQ(lead.acceptance_sla_hours(), 24);
  EXPECT_EQ(lead.contact().email(), "jane@acme.com") << "the submitter's view is complete";

  v1::GetRoutingHistoryResponse h = History(lead.lead_id());
  ASSERT_EQ(h.entries_size(), 2);
  EXPECT_EQ(h.entries(0).event_type(), "channelops.leads.v1.LeadSubmitted");
  EXPECT_EQ(h.entries(0).actor(), "manager@vendor");
  const v1::RoutingHistoryEntry& routed = h.entries(1);
  EXPECT_EQ(routed.event_type(), "channelops.leads.v1.LeadRouted");
  EXPECT_EQ(routed.rule(), v1::ROUTING_RULE_EXCLUSIVE_OWNER);
  EXPECT_EQ(routed.partner_id(), "p-ny");
  EXPECT_EQ(routed.status_after(), v1::LEAD_STATUS_ASSIGNED);
  ASSERT_EQ(routed.steps_size(), 5);
  EXPECT_THAT(routed.steps(0).detail(),
              HasSubstr("territory t-nyc matched on postal prefix '100'"));

  // The event on the log carries the attribution downstream needs.
  auto events = h_->store().ReadStream(absl::StrCat("lead-", lead.lead_id()), 1, 10);
  ASSERT_TRUE(events.ok());
  v1::LeadRouted e;
  ASSERT_TRUE(events->at(1).payload().UnpackTo(&e));
  EXPECT_EQ(e.keys().campaign_id(), "cmp-spring");
  EXPECT_EQ(e.territory_id(), "t-nyc");
}

TEST_F(LeadRoutingServiceTest, SharedTerritoryRotatesByWeight) {
  StandardWorld();
  std::map<std::string, int> got;
  for (int i = 0; i < 40; ++i) ++got[Submit(LeadRequest()).partner_id()];
  EXPECT_EQ(got["p-west-1"], 10);
  EXPECT_EQ(got["p-west-3"], 30);
  EXPECT_EQ(Stats("p-west-3").received(), 30);
  EXPECT_EQ(Stats("p-west-3").open_leads(), 30);
}

// ---------------------------------------------------------------------------
// Lifecycle and the partner inbox.
// ---------------------------------------------------------------------------

TEST_F(LeadRoutingServiceTest, InboxWithholdsContactDetailsUntilThePartnerAccepts) {
  StandardWorld();
  v1::Lead lead = Submit(LeadRequest("NY", "10001"));
  std::vector<v1::Lead> inbox = Inbox("p-ny");
  ASSERT_EQ(inbox.size(), 1u);
  EXPECT_EQ(inbox[0].lead_id(), lead.lead_id());
  EXPECT_EQ(inbox[0].company(), "Acme Corp");
  EXPECT_FALSE(inbox[0].has_contact());
  EXPECT_TRUE(inbox[0].contact_withheld());
  EXPECT_FALSE(Get(lead.lead_id(), "p-ny").has_contact());
  EXPECT_THAT(Inbox("p-west-1"), IsEmpty());
  {  // another partner cannot see it at all
    v1::GetLeadRequest r;
    r.set_lead_id(lead.lead_id());
    r.set_partner_id("p-west-1");
    v1::LeadResponse resp;
    EXPECT_EQ(h_->Call(&Stub::GetLead, r, &resp).error_code(), grpc::StatusCode::NOT_FOUND);
  }

  // Accepting a lead held by another partner: FAILED_PRECONDITION, nothing written.
  const uint64_t before = h_->store().LastPosition();
  v1::LeadResponse resp;
  grpc::Status s = Accept(lead.lead_id(), "p-west-1", &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("held by another partner"));
  google::rpc::Status details;
  ASSERT_TRUE(details.ParseFromString(s.error_details()));
  google::rpc::PreconditionFailure pf;
  ASSERT_TRUE(details.details(0).UnpackTo(&pf));
  EXPECT_EQ(pf.violations(0).subject(), absl::StrCat("lead/", lead.lead_id()));
  EXPECT_EQ(h_->store().LastPosition(), before);

  clock_.Advance(absl::Minutes(90));
  s = Accept(lead.lead_id(), "p-ny", &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.lead().status(), v1::LEAD_STATUS_ACCEPTED);
  EXPECT_EQ(resp.lead().contact().email(), "jane@acme.com");
  EXPECT_FALSE(resp.lead().contact_withheld());
  EXPECT_EQ(Inbox("p-ny")[0].contact().phone(), "+1 415 555 0100");

  v1::PartnerLeadStats st = Stats("p-ny");
  EXPECT_EQ(st.received(), 1);
  EXPECT_EQ(st.accepted(), 1);
  EXPECT_EQ(st.acceptance_rate_bps(), 10000);
  EXPECT_EQ(st.median_time_to_accept().seconds(), 90 * 60);
}

TEST_F(LeadRoutingServiceTest, DeclineReroutesToTheNextCandidate) {
  StandardWorld();
  v1::Lead lead = Submit(LeadRequest());
  const std::string first = lead.partner_id();
  const std::string second = first == "p-west-3" ? "p-west-1" : "p-west-3";
  v1::LeadResponse resp;
  ASSERT_TRUE(Decline(lead.lead_id(), first, &resp).ok());
  EXPECT_EQ(resp.lead().partner_id(), "") << "the decliner does not learn the new holder";
  EXPECT_FALSE(resp.lead().has_contact());
  EXPECT_EQ(Get(lead.lead_id()).partner_id(), second);
  EXPECT_THAT(Inbox(first), IsEmpty());
  ASSERT_EQ(Inbox(second).size(), 1u);
  EXPECT_EQ(Stats(first).declined(), 1);
  EXPECT_EQ(Stats(first).open_leads(), 0);
  // The second also declines: nobody is left, the lead waits in the manual queue.
  ASSERT_TRUE(Decline(lead.lead_id(), second, &resp).ok());
  v1::Lead queued = Get(lead.lead_id());
  EXPECT_EQ(queued.status(), v1::LEAD_STATUS_UNROUTED);
  EXPECT_EQ(queued.last_decision().decided_by(), v1::ROUTING_RULE_PRIOR_RESPONSE);
  EXPECT_THAT(queued.excluded_partner_ids(), ElementsAre(first, second));
}

TEST_F(LeadRoutingServiceTest, UnacceptedOffersTimeOutAndAreRecycledByTheSweeper) {
  StandardWorld();
  v1::Lead lead = Submit(LeadRequest());
  const std::string first = lead.partner_id();
  clock_.Advance(absl::Hours(47));
  auto swept = h_->service().SweepAcceptanceTimeouts();
  ASSERT_TRUE(swept.ok()) << swept.status();
  EXPECT_EQ(*swept, 0u);
  EXPECT_EQ(Get(lead.lead_id()).partner_id(), first);

  clock_.Advance(absl::Hours(1));
  swept = h_->service().SweepAcceptanceTimeouts();
  ASSERT_TRUE(swept.ok()) << swept.status();
  EXPECT_EQ(*swept, 1u);
  v1::Lead after = Get(lead.lead_id());
  EXPECT_EQ(after.status(), v1::LEAD_STATUS_ASSIGNED);
  EXPECT_NE(after.partner_id(), first);
  EXPECT_EQ(domain::FromProtoTime(after.accept_deadline()), clock_.Now() + absl::Hours(48));
  EXPECT_EQ(Stats(first).timed_out(), 1);
  EXPECT_EQ(Stats(first).recent_sla_misses(), 1);
  EXPECT_THAT(Inbox(first), IsEmpty());

  v1::GetRoutingHistoryResponse h = History(lead.lead_id());
  ASSERT_EQ(h.entries_size(), 4);
  EXPECT_EQ(h.entries(2).event_type(), "channelops.leads.v1.LeadAcceptanceTimedOut");
  EXPECT_EQ(h.entries(2).actor(), "system:sla_sweeper");
  EXPECT_EQ(h.entries(3).rule(), v1::ROUTING_RULE_WEIGHTED_ROTATION);
  // Nothing more is due: a second sweep is a no-op.
  EXPECT_EQ(*h_->service().SweepAcceptanceTimeouts(), 0u);

  // The late partner can no longer accept.
  v1::LeadResponse resp;
  EXPECT_EQ(Accept(lead.lead_id(), first, &resp).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(LeadRoutingServiceTest, ManualQueueIsListedAndDrainedByReassignment) {
  StandardWorld();
  v1::SubmitLeadRequest r = LeadRequest("TX", "73301");
  v1::Lead lead = Submit(r);  // no Texas territory, no location
  EXPECT_EQ(lead.status(), v1::LEAD_STATUS_UNROUTED);
  EXPECT_THAT(lead.unrouted_reason(), HasSubstr("no territory matches US/US-TX/73301"));

  v1::ListUnroutedLeadsRequest lr;
  v1::ListLeadsResponse queue;
  ASSERT_TRUE(h_->Call(&Stub::ListUnroutedLeads, lr, &queue).ok());
  ASSERT_EQ(queue.leads_size(), 1);
  EXPECT_EQ(queue.leads(0).lead_id(), lead.lead_id());

  v1::ReassignLeadRequest rr;
  rr.set_request_id("reassign-1");
  rr.set_lead_id(lead.lead_id());
  rr.set_partner_id("p-ny");
  rr.set_reason("covers Texas this quarter");
  v1::LeadResponse resp;
  grpc::Status s = h_->Call(&Stub::ReassignLead, rr, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.lead().status(), v1::LEAD_STATUS_ASSIGNED);
  EXPECT_EQ(resp.lead().last_decision().decided_by(), v1::ROUTING_RULE_MANUAL_REASSIGNMENT);
  queue.Clear();
  ASSERT_TRUE(h_->Call(&Stub::ListUnroutedLeads, lr, &queue).ok());
  EXPECT_EQ(queue.leads_size(), 0);
  v1::GetRoutingHistoryResponse h = History(lead.lead_id());
  EXPECT_EQ(h.entries(2).actor(), "manager@vendor");
  EXPECT_EQ(h.entries(2).reason(), "covers Texas this quarter");
}

TEST_F(LeadRoutingServiceTest, ConvertedLeadsAreFinal) {
  StandardWorld();
  v1::Lead lead = Submit(LeadRequest("NY", "10001"));
  v1::LeadResponse resp;
  ASSERT_TRUE(Accept(lead.lead_id(), "p-ny", &resp).ok());
  v1::ConvertLeadRequest cr;
  cr.set_request_id("convert-1");
  cr.set_lead_id(lead.lead_id());
  cr.set_partner_id("p-ny");
  cr.set_deal_id("deal-77");
  ASSERT_TRUE(h_->Call(&Stub::ConvertLead, cr, &resp, "p-ny").ok());
  EXPECT_EQ(resp.lead().status(), v1::LEAD_STATUS_CONVERTED);
  EXPECT_EQ(resp.lead().deal_id(), "deal-77");

  const uint64_t before = h_->store().LastPosition();
  v1::CloseLeadRequest close;
  close.set_request_id("close-1");
  close.set_lead_id(lead.lead_id());
  close.set_reason("duplicate");
  grpc::Status s = h_->Call(&Stub::CloseLead, close, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("lead is converted"));
  EXPECT_EQ(h_->store().LastPosition(), before);
  EXPECT_EQ(Stats("p-ny").converted(), 1);
  EXPECT_EQ(Stats("p-ny").open_leads(), 0);
}

TEST_F(LeadRoutingServiceTest, RetriedSubmitIsAnsweredOnceAndWritesOnce) {
  StandardWorld();
  v1::SubmitLeadRequest r = LeadRequest();
  v1::Lead first = Submit(r);
  const uint64_t after_first = h_->store().LastPosition();
  v1::Lead again = Submit(r);
  EXPECT_EQ(again.lead_id(), first.lead_id());
  EXPECT_EQ(again.partner_id(), first.partner_id());
  EXPECT_EQ(h_->store().LastPosition(), after_first);
}

// The routing index is a cache of the read models: after a restart the
// rotation, capacity and counters continue exactly where they were.
TEST_F(LeadRoutingServiceTest, RestartContinuesRotationAndCountersExactly) {
  auto run = [this](bool restart_midway) {
    std::vector<std::string> holders;
    Partner("p-a", 2, /*max_open=*/5);
    Partner("p-b", 3);
    Partner("p-c", 5);
    Territory("t", {"p-a", "p-b", "p-c"}, "CA");
    for (int i = 0; i < 30; ++i) {
      if (restart_midway && i == 13) Restart();
      v1::Lead l = Submit(LeadRequest());
      holders.push_back(l.partner_id());
      if (i % 4 == 0) {
        v1::LeadResponse resp;
        EXPECT_TRUE(Decline(l.lead_id(), l.partner_id(), &resp).ok());
      }
    }
    holders.push_back(absl::StrCat(Stats("p-a").open_leads(), "/", Stats("p-b").received(), "/",
                                   Stats("p-c").declined()));
    return holders;
  };
  std::vector<std::string> straight = run(false);
  // A fresh store for the second run.
  h_.reset();
  dir_ = channelops::testing::TempDir("lead_routing_service_test");
  h_ = std::make_unique<Harness>(dir_.Path("store"), clock_);
  std::vector<std::string> restarted = run(true);
  EXPECT_EQ(straight, restarted);
  EXPECT_THAT(straight, Contains("p-a"));
}

// The in-memory routing index must never decide on state the store does not
// hold. Simulate a store that moved under the cache (what a failed, voided
// batch looks like from the writer): a partner is deactivated in the read
// model and the epoch bumped, behind the service's back. The next command must
// notice the epoch and rebuild, so the inactive partner gets nothing.
TEST_F(LeadRoutingServiceTest, TheRoutingCacheRebuildsWhenTheStoredEpochMoves) {
  StandardWorld();
  ASSERT_EQ(Submit(LeadRequest("NY", "10001")).partner_id(), "p-ny");
  auto r = h_->store().ExecuteSync({}, [](eventstore::Tx& tx) -> absl::StatusOr<std::string> {
    auto raw = tx.Get(kPartnersCf, "p-ny");
    CHANNELOPS_CHECK(raw.ok() && raw->has_value());
    v1::PartnerProfile p;
    CHANNELOPS_CHECK(p.ParseFromString(**raw));
    p.set_active(false);
    tx.Put(kPartnersCf, "p-ny", p.SerializeAsString());
    auto epoch = tx.Get(kRoutingMetaCf, "epoch");
    CHANNELOPS_CHECK(epoch.ok() && epoch->has_value());
    tx.Put(kRoutingMetaCf, "epoch", eventstore::EncodeU64(eventstore::DecodeU64(**epoch) + 1));
    return std::string();
  });
  ASSERT_TRUE(r.ok()) << r.status();
  v1::Lead lead = Submit(LeadRequest("NY", "10001"));
  EXPECT_EQ(lead.status(), v1::LEAD_STATUS_UNROUTED);
  EXPECT_EQ(lead.last_decision().decided_by(), v1::ROUTING_RULE_ELIGIBILITY);
}

TEST_F(LeadRoutingServiceTest, InboxPagesAndFiltersByStatus) {
  Partner("p-1", 10);
  Territory("t", {"p-1"}, "CA");
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(Submit(LeadRequest()).lead_id());
  v1::LeadResponse resp;
  ASSERT_TRUE(Accept(ids[1], "p-1", &resp).ok());
  ASSERT_TRUE(Accept(ids[3], "p-1", &resp).ok());

  v1::ListLeadsRequest r;
  r.set_partner_id("p-1");
  r.set_page_size(2);
  std::vector<std::string> seen;
  while (true) {
    v1::ListLeadsResponse page;
    ASSERT_TRUE(h_->Call(&Stub::ListLeads, r, &page, "p-1").ok());
    for (const auto& l : page.leads()) seen.push_back(l.lead_id());
    if (page.next_page_token().empty()) break;
    r.set_page_token(page.next_page_token());
  }
  EXPECT_EQ(seen, ids) << "in submission order";

  r.clear_page_token();
  r.set_page_size(0);
  r.set_status(v1::LEAD_STATUS_ACCEPTED);
  v1::ListLeadsResponse accepted;
  ASSERT_TRUE(h_->Call(&Stub::ListLeads, r, &accepted, "p-1").ok());
  ASSERT_EQ(accepted.leads_size(), 2);
  EXPECT_EQ(accepted.leads(0).lead_id(), ids[1]);
  EXPECT_TRUE(accepted.leads(0).has_contact());
}

}  // namespace
}  // namespace channelops::leads
