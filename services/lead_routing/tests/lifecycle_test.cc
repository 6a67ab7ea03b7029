// Domain tests of the lead lifecycle: accept, decline, the acceptance SLA
// (timeouts with the fake clock, misses, pauses), conversion, closing,
// reassignment, the partner view, and the single-holder invariant.

#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "channelops/core/grpc_status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "world.h"

namespace channelops::leads {
namespace {

using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;
using testing::World;

absl::Time Deadline(const v1::Lead& lead) { return domain::FromProtoTime(lead.accept_deadline()); }

domain::TimeOutLead TimeoutOf(const v1::Lead& lead) {
  return domain::TimeOutLead{lead.partner_id(), Deadline(lead)};
}

class LifecycleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    w.Partner({.id = "p-1"});
    w.Partner({.id = "p-2"});
    w.Partner({.id = "p-3"});
    w.Territory({.id = "t", .pool = {"p-1", "p-2", "p-3"}});
  }
  World w;
};

TEST_F(LifecycleTest, HolderAcceptsWithinTheSla) {
  std::string id = w.Submit({});
  ASSERT_EQ(w.Lead(id).partner_id(), "p-1");
  w.clock.Advance(absl::Hours(3));
  auto events = w.Do(id, domain::AcceptLead{"p-1"});
  ASSERT_TRUE(events.ok()) << events.status();
  const auto& accepted = std::get<v1::LeadAccepted>(events->at(0));
  EXPECT_EQ(domain::FromProtoDuration(accepted.time_to_accept()), absl::Hours(3));
  EXPECT_EQ(w.Lead(id).status(), v1::LEAD_STATUS_ACCEPTED);
  EXPECT_EQ(w.Counters("p-1").accepted(), 1);
  EXPECT_EQ(w.Counters("p-1").open_leads(), 1);
  // Accepting again is a no-op, not an error.
  auto again = w.Do(id, domain::AcceptLead{"p-1"});
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->empty());
}

TEST_F(LifecycleTest, AcceptingALeadHeldByAnotherPartnerIsAFailedPrecondition) {
  std::string id = w.Submit({});
  auto r = w.Do(id, domain::AcceptLead{"p-2"});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(), HasSubstr(absl::StrCat("lead/", id)));
  EXPECT_THAT(r.status().message(), HasSubstr("held by another partner"));
  EXPECT_EQ(w.Lead(id).partner_id(), "p-1") << "nothing changed";
}

TEST_F(LifecycleTest, UnknownPartnerIsAnInvalidArgumentNamingTheField) {
  std::string id = w.Submit({});
  auto r = w.Do(id, domain::AcceptLead{"p-nope"});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(core::GetFieldViolations(r.status()),
              ::testing::ElementsAre(Pair("partner_id", "unknown partner 'p-nope'")));
  auto re = w.Do(id, domain::ReassignLead{"p-nope", "x"});
  EXPECT_EQ(re.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(LifecycleTest, UnknownLeadIsNotFound) {
  auto r = w.Do("lead-404", domain::AcceptLead{"p-1"});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
}

TEST_F(LifecycleTest, AcceptingAfterTheDeadlineIsRefused) {
  std::string id = w.Submit({});
  w.clock.Advance(absl::Hours(48));
  auto r = w.Do(id, domain::AcceptLead{"p-1"});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(), HasSubstr("deadline passed"));
}

TEST_F(LifecycleTest, DeclineReroutesToTheNextCandidateAndIsCounted) {
  std::string id = w.Submit({});
  auto events = w.Do(id, domain::DeclineLead{"p-1", "no capacity this quarter"});
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 2u);
  EXPECT_TRUE(std::holds_alternative<v1::LeadDeclined>(events->at(0)));
  const auto& routed = std::get<v1::LeadRouted>(events->at(1));
  EXPECT_EQ(routed.partner_id(), "p-2");
  EXPECT_EQ(routed.attempt(), 2);
  EXPECT_EQ(w.Counters("p-1").declined(), 1);
  EXPECT_EQ(w.Counters("p-1").open_leads(), 0);
  EXPECT_EQ(w.Counters("p-2").open_leads(), 1);
  EXPECT_THAT(w.Lead(id).excluded_partner_ids(), UnorderedElementsAre("p-1"));
}

TEST_F(LifecycleTest, AnAcceptedLeadCannotBeDeclined) {
  std::string id = w.Submit({});
  ASSERT_TRUE(w.Do(id, domain::AcceptLead{"p-1"}).ok());
  auto r = w.Do(id, domain::DeclineLead{"p-1", "changed my mind"});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(), HasSubstr("already accepted"));
}

// ---------------------------------------------------------------------------
// The acceptance SLA, with the fake clock.
// ---------------------------------------------------------------------------

TEST_F(LifecycleTest, NotAcceptedWithinTheDefault48HoursTimesOutAndIsRecycled) {
  std::string id = w.Submit({});
  const v1::Lead offered = w.Lead(id);
  EXPECT_EQ(Deadline(offered), w.clock.Now() + absl::Hours(48));
  EXPECT_EQ(offered.acceptance_sla_hours(), 48);

  // Not yet due: the sweeper's command refuses.
  w.clock.Advance(absl::Hours(47));
  EXPECT_EQ(w.Do(id, TimeoutOf(offered)).status().code(), absl::StatusCode::kFailedPrecondition);

  w.clock.Advance(absl::Hours(1));
  auto events = w.Do(id, TimeoutOf(offered));
  ASSERT_TRUE(events.ok()) << events.status();
  ASSERT_EQ(events->size(), 2u);
  const auto& timed_out = std::get<v1::LeadAcceptanceTimedOut>(events->at(0));
  EXPECT_EQ(timed_out.partner_id(), "p-1");
  EXPECT_EQ(timed_out.misses_in_window(), 1);
  EXPECT_EQ(domain::FromProtoTime(timed_out.accept_deadline()), Deadline(offered));
  EXPECT_EQ(w.Lead(id).partner_id(), "p-2");
  EXPECT_EQ(Deadline(w.Lead(id)), w.clock.Now() + absl::Hours(48));
  EXPECT_EQ(w.Counters("p-1").timed_out(), 1);
  EXPECT_EQ(w.Counters("p-1").recent_misses_size(), 1);
  EXPECT_EQ(w.Counters("p-1").open_leads(), 0);

  // A stale timeout (the offer moved on) is refused: the sweeper may race.
  EXPECT_EQ(w.Do(id, TimeoutOf(offered)).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(SlaTest, TheTerritorySlaOverridesTheDefault) {
  World w;
  w.Partner({.id = "p-1"});
  w.Territory({.id = "t", .owner = "p-1", .sla_hours = 4});
  std::string id = w.Submit({});
  EXPECT_EQ(Deadline(w.Lead(id)), w.clock.Now() + absl::Hours(4));
}

TEST(SlaTest, ThreeMissesWithinTheWindowPauseThePartnerFromRouting) {
  World w;
  w.Partner({.id = "p-slow", .weight = 100});
  w.Partner({.id = "p-fast", .weight = 1});
  w.Territory({.id = "t", .pool = {"p-slow", "p-fast"}});
  // p-slow is offered three leads (one a day) and lets each time out.
  for (int miss = 1; miss <= 3; ++miss) {
    std::string id = w.Submit({});
    ASSERT_EQ(w.Lead(id).partner_id(), "p-slow") << "miss " << miss;
    w.clock.Advance(absl::Hours(48));
    auto events = w.Do(id, TimeoutOf(w.Lead(id)));
    ASSERT_TRUE(events.ok());
    EXPECT_EQ(std::get<v1::LeadAcceptanceTimedOut>(events->at(0)).misses_in_window(), miss);
    bool paused = false;
    for (const auto& e : *events) {
      if (auto* p = std::get_if<v1::PartnerPaused>(&e)) {
        paused = true;
        EXPECT_EQ(p->partner_id(), "p-slow");
        EXPECT_EQ(p->misses(), 3);
        EXPECT_EQ(domain::FromProtoTime(p->paused_until()), w.clock.Now() + absl::Hours(72));
      }
    }
    EXPECT_EQ(paused, miss == 3);
    // The recycled lead went to p-fast, who accepts it.
    ASSERT_EQ(w.Lead(id).partner_id(), "p-fast");
    ASSERT_TRUE(w.Do(id, domain::AcceptLead{"p-fast"}).ok());
  }
  EXPECT_TRUE(w.index.FindPartner("p-slow")->PausedAt(w.clock.Now()));
  // While paused, p-slow gets nothing despite its weight.
  for (int i = 0; i < 5; ++i) {
    const v1::Lead& lead = w.Lead(w.Submit({}));
    EXPECT_EQ(lead.partner_id(), "p-fast");
    EXPECT_THAT(lead.last_decision().steps(1).detail(), HasSubstr("1 paused for SLA misses"));
  }
  // The pause ends.
  w.clock.Advance(absl::Hours(72));
  EXPECT_EQ(w.Lead(w.Submit({})).partner_id(), "p-slow");
}

TEST(SlaTest, MissesOutsideTheWindowAreForgotten) {
  World w;
  w.Partner({.id = "p-1", .weight = 100});
  w.Partner({.id = "p-2", .weight = 1});
  w.Territory({.id = "t", .pool = {"p-1", "p-2"}});
  for (int i = 0; i < 4; ++i) {
    std::string id = w.Submit({});
    ASSERT_EQ(w.Lead(id).partner_id(), "p-1");
    w.clock.Advance(absl::Hours(48));
    auto events = w.Do(id, TimeoutOf(w.Lead(id)));
    ASSERT_TRUE(events.ok());
    // Misses 4 days apart: the 7-day window never holds three.
    EXPECT_LE(std::get<v1::LeadAcceptanceTimedOut>(events->at(0)).misses_in_window(), 2);
    ASSERT_TRUE(w.Do(id, domain::AcceptLead{"p-2"}).ok());
    w.clock.Advance(absl::Hours(48));
  }
  EXPECT_FALSE(w.index.FindPartner("p-1")->PausedAt(w.clock.Now()));
  EXPECT_EQ(w.Counters("p-1").timed_out(), 4);
}

TEST(SlaTest, ClearingThePauseRestoresRoutingAtOnce) {
  World w;
  w.Partner({.id = "p-1", .max_misses = 1});
  w.Partner({.id = "p-2"});
  w.Territory({.id = "t", .owner = "p-1"});
  std::string id = w.Submit({});
  w.clock.Advance(absl::Hours(48));
  ASSERT_TRUE(w.Do(id, TimeoutOf(w.Lead(id))).ok());
  EXPECT_EQ(w.Lead(id).status(), v1::LEAD_STATUS_UNROUTED);
  EXPECT_TRUE(w.index.FindPartner("p-1")->PausedAt(w.clock.Now()));
  v1::PartnerProfile p = w.index.FindPartner("p-1")->profile;
  auto events = domain::Decide(w.index, domain::UpsertPartnerProfile{p, true}, w.Ctx());
  ASSERT_TRUE(events.ok());
  EXPECT_TRUE(std::get<v1::PartnerProfileUpserted>(events->at(0)).pause_cleared());
  w.Apply(*events);
  EXPECT_FALSE(w.index.FindPartner("p-1")->PausedAt(w.clock.Now()));
  EXPECT_EQ(w.Lead(w.Submit({})).partner_id(), "p-1");
}

// ---------------------------------------------------------------------------
// Conversion, closing, reassignment, terminal states.
// ---------------------------------------------------------------------------

TEST_F(LifecycleTest, ConvertRequiresAcceptanceAndRecordsTheDeal) {
  std::string id = w.Submit({});
  auto early = w.Do(id, domain::ConvertLead{"p-1", "deal-9"});
  EXPECT_EQ(early.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(early.status().message(), HasSubstr("not accepted yet"));
  ASSERT_TRUE(w.Do(id, domain::AcceptLead{"p-1"}).ok());
  auto events = w.Do(id, domain::ConvertLead{"p-1", "deal-9"});
  ASSERT_TRUE(events.ok());
  const auto& converted = std::get<v1::LeadConverted>(events->at(0));
  EXPECT_EQ(converted.deal_id(), "deal-9");
  EXPECT_EQ(converted.keys().campaign_id(), "cmp-1");
  EXPECT_EQ(converted.territory_id(), "t");
  EXPECT_EQ(w.Lead(id).status(), v1::LEAD_STATUS_CONVERTED);
  EXPECT_EQ(w.Counters("p-1").converted(), 1);
  EXPECT_EQ(w.Counters("p-1").open_leads(), 0);
}

TEST_F(LifecycleTest, ActionsOnAClosedLeadNameTheState) {
  std::string id = w.Submit({});
  ASSERT_TRUE(w.Do(id, domain::AcceptLead{"p-1"}).ok());
  ASSERT_TRUE(w.Do(id, domain::CloseLead{"p-1", "budget cut"}).ok());
  EXPECT_EQ(w.Lead(id).status(), v1::LEAD_STATUS_CLOSED);
  EXPECT_EQ(w.Counters("p-1").closed_lost(), 1);
  for (const domain::LeadCommand& c :
       std::vector<domain::LeadCommand>{domain::AcceptLead{"p-1"}, domain::DeclineLead{"p-1", "x"},
                                        domain::ConvertLead{"p-1", "d"}, domain::CloseLead{"", "x"},
                                        domain::ReassignLead{"p-2", "x"}}) {
    auto r = w.Do(id, c);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition) << c.index();
    EXPECT_THAT(r.status().message(), HasSubstr("lead is closed")) << c.index();
  }
}

TEST(ManualQueue, ManagerClosesAQueuedLead) {
  World q;
  q.Partner({.id = "p-1", .active = false});
  q.Territory({.id = "t", .owner = "p-1"});
  std::string id = q.Submit({});
  ASSERT_EQ(q.Lead(id).status(), v1::LEAD_STATUS_UNROUTED);
  auto events = q.Do(id, domain::CloseLead{"", "spam"});
  ASSERT_TRUE(events.ok());
  const auto& closed = std::get<v1::LeadClosed>(events->at(0));
  EXPECT_EQ(closed.closed_by(), "manager@vendor");
  EXPECT_EQ(closed.previous_status(), v1::LEAD_STATUS_UNROUTED);
  EXPECT_EQ(closed.partner_id(), "");
}

TEST_F(LifecycleTest, ReassignmentReleasesThePreviousHolderAndKeepsHistory) {
  std::string id = w.Submit({});
  ASSERT_TRUE(w.Do(id, domain::AcceptLead{"p-1"}).ok());
  auto events = w.Do(id, domain::ReassignLead{"p-3", "p-1 is overloaded"});
  ASSERT_TRUE(events.ok()) << events.status();
  const auto& routed = std::get<v1::LeadRouted>(events->at(0));
  EXPECT_EQ(routed.rule(), v1::ROUTING_RULE_MANUAL_REASSIGNMENT);
  EXPECT_EQ(routed.previous_partner_id(), "p-1");
  EXPECT_EQ(routed.reassigned_by(), "manager@vendor");
  EXPECT_EQ(routed.reason(), "p-1 is overloaded");
  const v1::Lead& lead = w.Lead(id);
  EXPECT_EQ(lead.status(), v1::LEAD_STATUS_ASSIGNED) << "the new holder must accept";
  EXPECT_EQ(lead.partner_id(), "p-3");
  EXPECT_FALSE(lead.has_accepted_at());
  EXPECT_EQ(w.Counters("p-1").open_leads(), 0);
  EXPECT_EQ(w.Counters("p-1").reassigned_away(), 1);
  EXPECT_EQ(w.Counters("p-3").open_leads(), 1);
  EXPECT_EQ(lead.routing_attempts(), 2);

  auto same = w.Do(id, domain::ReassignLead{"p-3", "again"});
  EXPECT_EQ(same.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(LifecycleTest, ReassigningToAnInactivePartnerIsRefused) {
  w.Partner({.id = "p-off", .active = false});
  std::string id = w.Submit({});
  auto r = w.Do(id, domain::ReassignLead{"p-off", "try"});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(), HasSubstr("partner/p-off"));
}

TEST(ManualQueue, ReassignmentDrainsTheQueue) {
  World w;
  w.Partner({.id = "p-1"});
  std::string id = w.Submit({.country = "DE"});
  ASSERT_EQ(w.Lead(id).status(), v1::LEAD_STATUS_UNROUTED);
  ASSERT_TRUE(w.Do(id, domain::ReassignLead{"p-1", "German speaker"}).ok());
  EXPECT_EQ(w.Lead(id).status(), v1::LEAD_STATUS_ASSIGNED);
  EXPECT_EQ(w.Lead(id).unrouted_reason(), "");
  EXPECT_EQ(w.Counters("p-1").open_leads(), 1);
}

// ---------------------------------------------------------------------------
// The partner view.
// ---------------------------------------------------------------------------

TEST_F(LifecycleTest, ContactDetailsAreWithheldUntilThePartnerAccepts) {
  std::string id = w.Submit({});
  ASSERT_TRUE(w.Do(id, domain::DeclineLead{"p-1", "no"}).ok());
  v1::Lead offered = domain::PartnerView(w.Lead(id), "p-2");
  EXPECT_FALSE(offered.has_contact());
  EXPECT_TRUE(offered.contact_withheld());
  EXPECT_EQ(offered.company(), "Acme") << "enough to decide whether to accept";
  EXPECT_EQ(offered.excluded_partner_ids_size(), 0) << "never who declined";
  EXPECT_EQ(offered.last_decision().steps_size(), 0);

  v1::Lead other = domain::PartnerView(w.Lead(id), "p-1");
  EXPECT_FALSE(other.has_contact());
  EXPECT_EQ(other.partner_id(), "") << "a former holder does not learn the new one";

  ASSERT_TRUE(w.Do(id, domain::AcceptLead{"p-2"}).ok());
  v1::Lead accepted = domain::PartnerView(w.Lead(id), "p-2");
  EXPECT_TRUE(accepted.has_contact());
  EXPECT_EQ(accepted.contact().email(), "jane@acme.com");
  EXPECT_FALSE(accepted.contact_withheld());
}

// ---------------------------------------------------------------------------
// The single-holder invariant under a long random (seeded) workload.
// ---------------------------------------------------------------------------

TEST(SingleHolderInvariant, HoldsAfterEveryCommand) {
  World w;
  std::vector<std::string> partners;
  for (int i = 0; i < 8; ++i) {
    std::string id = absl::StrCat("p-", i);
    w.Partner({.id = id,
               .weight = 1 + i * 10,
               .active = i != 7,
               .max_open_leads = i % 3 == 0 ? 3 : 0,
               .location = std::make_pair(40.0 + i, -75.0 + i),
               .max_misses = 4});
    partners.push_back(id);
  }
  w.Territory({.id = "t-shared", .regions = {"NY"}, .pool = {"p-0", "p-1", "p-2", "p-3", "p-7"}});
  w.Territory({.id = "t-excl", .regions = {"NJ"}, .owner = "p-4"});
  std::mt19937 rng(20260101);
  std::vector<std::string> leads;
  auto pick = [&](const std::vector<std::string>& v) { return v[rng() % v.size()]; };
  int ok = 0, refused = 0;
  for (int step = 0; step < 20000; ++step) {
    w.clock.Advance(absl::Minutes(rng() % 120));
    int action = static_cast<int>(rng() % 10);
    if (action < 3 || leads.empty()) {
      static const char* kRegions[] = {"US-NY", "US-NJ", "US-TX"};
      leads.push_back(
          w.Submit({.region = kRegions[rng() % 3],
                    .location = std::make_pair(38.0 + rng() % 10, -80.0 + rng() % 10)}));
      ++ok;
      continue;
    }
    std::string id = pick(leads);
    const v1::Lead& lead = w.Lead(id);
    std::string holder = lead.partner_id().empty() ? pick(partners) : lead.partner_id();
    // Sometimes a partner other than the holder tries.
    std::string actor = rng() % 5 == 0 ? pick(partners) : holder;
    domain::LeadCommand c;
    switch (action) {
      case 3:
      case 4:
        c = domain::AcceptLead{actor};
        break;
      case 5:
        c = domain::DeclineLead{actor, "busy"};
        break;
      case 6:
        c = domain::TimeOutLead{holder, Deadline(lead)};
        break;
      case 7:
        c = domain::ConvertLead{actor, "deal"};
        break;
      case 8:
        c = domain::CloseLead{rng() % 2 ? actor : "", "lost"};
        break;
      default:
        c = domain::ReassignLead{pick(partners), "rebalance"};
    }
    auto r = w.Do(id, c);
    (r.ok() ? ok : refused)++;
    if (!r.ok()) {
      ASSERT_TRUE(r.status().code() == absl::StatusCode::kFailedPrecondition ||
                  r.status().code() == absl::StatusCode::kInvalidArgument)
          << r.status();
    }

    // The invariant, checked in full every 100 steps and on the touched lead always.
    const v1::Lead& after = w.Lead(id);
    bool holds =
        after.status() == v1::LEAD_STATUS_ASSIGNED || after.status() == v1::LEAD_STATUS_ACCEPTED;
    ASSERT_EQ(holds, !after.partner_id().empty() && domain::IsOpen(after.status()))
        << "lead " << id << " status " << after.status() << " holder '" << after.partner_id()
        << "'";
    if (step % 100 == 0) {
      std::map<std::string, int64_t> held;
      for (const auto& [lid, l] : w.leads) {
        if (l.status() == v1::LEAD_STATUS_ASSIGNED || l.status() == v1::LEAD_STATUS_ACCEPTED) {
          ASSERT_FALSE(l.partner_id().empty());
          ++held[l.partner_id()];
        }
      }
      for (const auto& p : partners) {
        ASSERT_EQ(w.Counters(p).open_leads(), held[p]) << p << " at step " << step;
      }
    }
  }
  EXPECT_GT(ok, 5000);
  EXPECT_GT(refused, 1000);
}

}  // namespace
}  // namespace channelops::leads
