// Domain tests of compensation: given state -> when command -> then events or
// status; effective dating; matching; the crediting rules. No I/O.

#include <string>
#include <vector>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "channelops/core/grpc_status.h"
#include "channelops/core/money.h"
#include "compensation/domain/convert.h"
#include "compensation/domain/crediting.h"
#include "compensation/domain/decider.h"
#include "compensation/domain/resolve.h"
#include "compensation/domain/validation.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace channelops::comp::domain {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::SizeIs;

const absl::Time kNow =
    absl::FromCivil(absl::CivilSecond(2026, 3, 10, 12, 0, 0), absl::UTCTimeZone());
const Context kCtx{kNow, "ops@vendor"};

core::Money Usd(int64_t micros) { return *core::Money::Create("USD", micros); }

common::v1::Money UsdProto(int64_t micros) { return Usd(micros).ToProto(); }

v1::Plan BasePlan(const std::string& id = "channel-2026", const std::string& from = "2026-01-01") {
  v1::Plan p;
  p.set_plan_id(id);
  p.set_name("Channel plan");
  p.set_currency_code("USD");
  p.set_effective_from(from);
  auto rate = [&](v1::Role role, int32_t bps) {
    auto* r = p.add_rates();
    r->set_role(role);
    r->set_rate_bps(bps);
  };
  rate(v1::ROLE_PARTNER, 1000);                 // 10%
  rate(v1::ROLE_CHANNEL_ACCOUNT_MANAGER, 200);  // 2%
  rate(v1::ROLE_INSIDE_SALES, 300);             // 3%
  rate(v1::ROLE_DIRECT_REP, 500);               // 5%
  p.mutable_registered_deal_bonus()->set_extra_margin_bps(250);
  *p.mutable_registered_deal_bonus()->mutable_incentive() = UsdProto(500'000'000);
  p.set_hold_days(30);
  p.set_clawback_on_return(true);
  p.set_clawback_window_days(90);
  return p;
}

std::vector<std::string> Fields(const absl::Status& s) {
  std::vector<std::string> out;
  for (const auto& [field, reason] : core::GetFieldViolations(s)) out.push_back(field);
  return out;
}

// ---------------------------------------------------------------------------
// Plans
// ---------------------------------------------------------------------------

TEST(PlanTest, PublishingRecordsTheNextVersionNormalised) {
  v1::Plan p = BasePlan();
  auto* split = p.add_splits();
  split->set_first_role(v1::ROLE_DIRECT_REP);
  split->set_second_role(v1::ROLE_PARTNER);
  split->set_mode(v1::SPLIT_MODE_SPLIT);
  split->set_first_share_bps(4000);
  split->set_second_share_bps(6000);
  p.mutable_scope()->add_product_lines(" Storage ");
  p.mutable_scope()->add_product_lines("storage");

  v1::Plan latest;
  latest.set_plan_id(p.plan_id());
  latest.set_version(2);
  auto events = Decide(latest, PublishPlan{p}, kCtx);
  ASSERT_TRUE(events.ok()) << events.status();
  ASSERT_THAT(*events, SizeIs(1));
  const v1::Plan& recorded = std::get<v1::PlanPublished>(events->front()).plan();
  EXPECT_EQ(recorded.version(), 3u);
  EXPECT_EQ(recorded.published_by(), "ops@vendor");
  EXPECT_EQ(FromProtoTime(recorded.published_at()), kNow);
  EXPECT_EQ(recorded.crediting_basis(), v1::CREDITING_BASIS_SELL_THROUGH);
  // Pairs are stored in role order, shares following their role.
  EXPECT_EQ(recorded.splits(0).first_role(), v1::ROLE_PARTNER);
  EXPECT_EQ(recorded.splits(0).first_share_bps(), 6000);
  EXPECT_EQ(recorded.splits(0).second_role(), v1::ROLE_DIRECT_REP);
  EXPECT_EQ(recorded.splits(0).second_share_bps(), 4000);
  EXPECT_THAT(recorded.scope().product_lines(), ElementsAre("storage"));
  EXPECT_EQ(Evolve(latest, events->front()).version(), 3u);
}

TEST(PlanTest, VersionInForceIsTheLatestEffectiveOnOrBeforeTheDay) {
  v1::Plan v1p = BasePlan("p", "2026-01-01");
  v1p.set_version(1);
  v1::Plan v2p = BasePlan("p", "2026-03-01");
  v2p.set_version(2);
  v1::Plan v3p = BasePlan("p", "2026-03-01");  // a correction of v2, same day
  v3p.set_version(3);
  v1::Plan v4p = BasePlan("p", "2026-02-01");  // published later, effective earlier
  v4p.set_version(4);
  std::vector<v1::Plan> versions = {v3p, v1p, v4p, v2p};
  EXPECT_EQ(VersionInForce(versions, absl::CivilDay(2025, 12, 31)), nullptr);
  EXPECT_EQ(VersionInForce(versions, absl::CivilDay(2026, 1, 31))->version(), 1u);
  EXPECT_EQ(VersionInForce(versions, absl::CivilDay(2026, 2, 15))->version(), 4u);
  EXPECT_EQ(VersionInForce(versions, absl::CivilDay(2026, 3, 1))->version(), 3u);

  auto refs =
      VersionsInForceDuring(versions, absl::CivilDay(2026, 2, 1), absl::CivilDay(2026, 3, 1));
  ASSERT_THAT(refs, SizeIs(1));
  EXPECT_EQ(refs[0].version(), 4u);
  refs = VersionsInForceDuring(versions, absl::CivilDay(2026, 1, 1), absl::CivilDay(2026, 4, 1));
  ASSERT_THAT(refs, SizeIs(3));
  EXPECT_EQ(refs[0].version(), 1u);
  EXPECT_EQ(refs[1].version(), 3u);
  EXPECT_EQ(refs[2].version(), 4u);
}

TEST(PlanTest, SelectPlanCreditsASaleWithExactlyOneMostSpecificPlan) {
  v1::Plan global = BasePlan("a-global");
  v1::Plan storage = BasePlan("b-storage");
  storage.mutable_scope()->add_product_lines("storage");
  v1::Plan partner = BasePlan("c-partner");
  partner.mutable_scope()->add_partner_ids("partner-ny");
  v1::Plan sell_in = BasePlan("0-sell-in");
  sell_in.set_crediting_basis(v1::CREDITING_BASIS_SELL_IN);
  std::vector<const v1::Plan*> in_force = {&global, &storage, &partner, &sell_in};
  auto pick = [&](const std::string& p, const std::string& line, v1::CreditingBasis b) {
    const v1::Plan* plan = SelectPlan(in_force, p, line, b);
    return plan ? plan->plan_id() : std::string("none");
  };
  EXPECT_EQ(pick("partner-ny", "storage", v1::CREDITING_BASIS_SELL_THROUGH), "c-partner");
  EXPECT_EQ(pick("partner-ct", "storage", v1::CREDITING_BASIS_SELL_THROUGH), "b-storage");
  EXPECT_EQ(pick("partner-ct", "compute", v1::CREDITING_BASIS_SELL_THROUGH), "a-global");
  EXPECT_EQ(pick("partner-ct", "compute", v1::CREDITING_BASIS_SELL_IN), "0-sell-in");
  v1::Plan global2 = BasePlan("0-global");
  in_force.push_back(&global2);
  EXPECT_EQ(pick("partner-ct", "compute", v1::CREDITING_BASIS_SELL_THROUGH), "0-global");
}

// ---------------------------------------------------------------------------
// Assignments
// ---------------------------------------------------------------------------

v1::AssignRoleRequest Assign(v1::Role role, v1::AssignmentTarget target, const std::string& payee,
                             const std::string& from) {
  v1::AssignRoleRequest r;
  r.set_request_id("r1");
  r.set_role(role);
  *r.mutable_target() = std::move(target);
  r.set_payee_id(payee);
  r.set_effective_from(from);
  return r;
}

v1::AssignmentTarget PartnerTarget(const std::string& id) {
  v1::AssignmentTarget t;
  t.set_partner_id(id);
  return t;
}

v1::AssignmentTarget TerritoryTarget(const std::string& country, const std::string& region,
                                     const std::string& postal = "") {
  v1::AssignmentTarget t;
  t.mutable_territory()->set_country_code(country);
  t.mutable_territory()->set_region(region);
  t.mutable_territory()->set_postal_prefix(postal);
  return t;
}

TEST(AssignmentTest, EffectiveDatedEntriesAndThePreviousPayee) {
  v1::Assignment state;
  auto first = Decide(state,
                      AssignRole{Assign(v1::ROLE_CHANNEL_ACCOUNT_MANAGER,
                                        PartnerTarget("partner-ny"), "cam-alice", "2026-01-01")},
                      kCtx);
  ASSERT_TRUE(first.ok()) << first.status();
  const auto& e1 = std::get<v1::RoleAssigned>(first->front());
  EXPECT_EQ(e1.assignment_id(), "cam|p|partner-ny");
  EXPECT_EQ(e1.entry().version(), 1u);
  EXPECT_EQ(e1.previous_payee_id(), "");
  state = Evolve(state, first->front());

  auto second = Decide(state,
                       AssignRole{Assign(v1::ROLE_CHANNEL_ACCOUNT_MANAGER,
                                         PartnerTarget("partner-ny"), "cam-bob", "2026-04-01")},
                       kCtx);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(std::get<v1::RoleAssigned>(second->front()).previous_payee_id(), "cam-alice");
  state = Evolve(state, second->front());
  // A vacancy from June.
  auto vacate = Decide(state,
                       AssignRole{Assign(v1::ROLE_CHANNEL_ACCOUNT_MANAGER,
                                         PartnerTarget("partner-ny"), "", "2026-06-01")},
                       kCtx);
  ASSERT_TRUE(vacate.ok());
  state = Evolve(state, vacate->front());

  EXPECT_EQ(PayeeOn(state, absl::CivilDay(2025, 12, 31)), "");
  EXPECT_EQ(PayeeOn(state, absl::CivilDay(2026, 3, 31)), "cam-alice");
  EXPECT_EQ(PayeeOn(state, absl::CivilDay(2026, 4, 1)), "cam-bob");
  EXPECT_EQ(PayeeOn(state, absl::CivilDay(2026, 6, 1)), "");

  // The same fact again records nothing.
  auto repeat = Decide(state,
                       AssignRole{Assign(v1::ROLE_CHANNEL_ACCOUNT_MANAGER,
                                         PartnerTarget("partner-ny"), "cam-bob", "2026-04-01")},
                       kCtx);
  ASSERT_TRUE(repeat.ok());
  EXPECT_THAT(*repeat, IsEmpty());
  // A retroactive correction of the same day wins over the earlier entry.
  auto fix = Decide(state,
                    AssignRole{Assign(v1::ROLE_CHANNEL_ACCOUNT_MANAGER, PartnerTarget("partner-ny"),
                                      "cam-carol", "2026-04-01")},
                    kCtx);
  ASSERT_TRUE(fix.ok());
  EXPECT_EQ(std::get<v1::RoleAssigned>(fix->front()).previous_payee_id(), "cam-bob");
  state = Evolve(state, fix->front());
  EXPECT_EQ(PayeeOn(state, absl::CivilDay(2026, 4, 1)), "cam-carol");
}

TEST(AssignmentTest, TerritoryKeysAndMostSpecificMatch) {
  EXPECT_EQ(TargetKey(TerritoryTarget(" us", "us-ct", "06 1")), "US|CT|061");
  EXPECT_EQ(TargetKey(TerritoryTarget("US", "")), "US||");
  EXPECT_TRUE(TerritoryContains("US||", "us", "CT", "06103"));
  EXPECT_TRUE(TerritoryContains("US|CT|", "US", "ct", "06103"));
  EXPECT_TRUE(TerritoryContains("US|CT|061", "US", "US-CT", "06103"));
  EXPECT_FALSE(TerritoryContains("US|CT|062", "US", "CT", "06103"));
  EXPECT_FALSE(TerritoryContains("US|NY|", "US", "CT", "06103"));
  EXPECT_FALSE(TerritoryContains("CA||", "US", "CT", "06103"));
  EXPECT_TRUE(MoreSpecificTerritory("US|CT|061", "US|CT|"));
  EXPECT_TRUE(MoreSpecificTerritory("US|CT|", "US||"));
  EXPECT_TRUE(MoreSpecificTerritory("US||06", "US|CT|"));  // postal prefix beats region
  EXPECT_FALSE(MoreSpecificTerritory("US||", "US|CT|"));

  v1::AssignmentTarget account;
  account.mutable_account()->set_name("ACME Corp.");
  account.mutable_account()->set_country_code("us");
  EXPECT_EQ(TargetKey(account), "US|acme");
  EXPECT_EQ(AssignmentId(v1::ROLE_DIRECT_REP, TargetKey(account), account.target_case()),
            "direct|a|US|acme");
}

TEST(AssignmentTest, ValidationMatchesTargetsToRoles) {
  auto s = ValidateAssignRole(
      Assign(v1::ROLE_INSIDE_SALES, PartnerTarget("partner-ny"), "isr-1", "2026-01-01"));
  EXPECT_THAT(Fields(s), ElementsAre("target"));
  s = ValidateAssignRole(
      Assign(v1::ROLE_PARTNER, PartnerTarget("partner-ny"), "isr-1", "2026-13-01"));
  EXPECT_THAT(Fields(s), ElementsAre("effective_from", "role"));
  s = ValidateAssignRole(Assign(v1::ROLE_INSIDE_SALES, TerritoryTarget("XX", "CT"), "isr 1", ""));
  EXPECT_THAT(Fields(s),
              ElementsAre("payee_id", "effective_from", "target.territory.country_code"));
  EXPECT_TRUE(ValidateAssignRole(Assign(v1::ROLE_INSIDE_SALES, TerritoryTarget("US", "CT"),
                                        "isr-ct", "2026-01-01"))
                  .ok());
}

// ---------------------------------------------------------------------------
// Plan validation
// ---------------------------------------------------------------------------

TEST(PlanValidationTest, RatesSharesAndBonusAreChecked) {
  v1::PublishPlanRequest r;
  r.set_request_id("req-1");
  *r.mutable_plan() = BasePlan();
  EXPECT_TRUE(ValidatePublishPlan(r).ok()) << ValidatePublishPlan(r);

  v1::Plan& p = *r.mutable_plan();
  p.mutable_rates(1)->set_rate_bps(10001);
  auto* dup = p.add_rates();
  dup->set_role(v1::ROLE_PARTNER);
  dup->set_rate_bps(1);
  auto* s1 = p.add_splits();
  s1->set_first_role(v1::ROLE_PARTNER);
  s1->set_second_role(v1::ROLE_DIRECT_REP);
  s1->set_mode(v1::SPLIT_MODE_SPLIT);
  s1->set_first_share_bps(6000);
  s1->set_second_share_bps(3999);  // 99.99%: not exactly 100%
  auto* s2 = p.add_splits();
  s2->set_first_role(v1::ROLE_INSIDE_SALES);
  s2->set_second_role(v1::ROLE_DIRECT_REP);
  s2->set_mode(v1::SPLIT_MODE_SPLIT);
  s2->set_first_share_bps(5000);
  s2->set_second_share_bps(5000);  // DIRECT_REP in a second SPLIT rule
  auto* s3 = p.add_splits();
  s3->set_first_role(v1::ROLE_CHANNEL_ACCOUNT_MANAGER);
  s3->set_second_role(v1::ROLE_INSIDE_SALES);
  s3->set_mode(v1::SPLIT_MODE_OVERLAY);
  s3->set_first_share_bps(5000);  // shares only for SPLIT
  *p.mutable_registered_deal_bonus()->mutable_incentive() =
      core::Money::Create("EUR", 1)->ToProto();
  p.set_hold_days(-1);
  EXPECT_THAT(Fields(ValidatePublishPlan(r)),
              ElementsAre("plan.rates[1].rate_bps", "plan.rates[4].role", "plan.splits[0]",
                          "plan.splits[1]", "plan.splits[2]",
                          "plan.registered_deal_bonus.incentive.currency_code", "plan.hold_days"));
}

// Found by comp_fuzz (ASan stack-use-after-scope): the pair of roles was kept
// as references to temporaries, so the repeat check read dead stack slots.
TEST(PlanValidationTest, ARepeatedPairOfRolesIsRefusedInEitherOrder) {
  v1::PublishPlanRequest r;
  r.set_request_id("req-1");
  *r.mutable_plan() = BasePlan();
  auto split = [&](v1::Role a, v1::Role b) {
    auto* s = r.mutable_plan()->add_splits();
    s->set_first_role(a);
    s->set_second_role(b);
    s->set_mode(v1::SPLIT_MODE_OVERLAY);
  };
  split(v1::ROLE_DIRECT_REP, v1::ROLE_CHANNEL_ACCOUNT_MANAGER);
  split(v1::ROLE_INSIDE_SALES, v1::ROLE_PARTNER);
  EXPECT_TRUE(ValidatePublishPlan(r).ok()) << ValidatePublishPlan(r);
  split(v1::ROLE_CHANNEL_ACCOUNT_MANAGER, v1::ROLE_DIRECT_REP);
  split(v1::ROLE_PARTNER, v1::ROLE_DIRECT_REP);
  EXPECT_THAT(Fields(ValidatePublishPlan(r)), ElementsAre("plan.splits[2]"));
}

// ---------------------------------------------------------------------------
// Periods
// ---------------------------------------------------------------------------

TEST(PeriodTest, ClosesInOrderOnlyAfterTheyEnd) {
  v1::PeriodCalendar calendar;
  auto not_ended = Decide(calendar, ClosePeriod{"2026-03", {}}, kCtx);
  EXPECT_EQ(not_ended.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(not_ended.status().message(), HasSubstr("has not ended"));

  v1::Plan v1p = BasePlan("p", "2026-01-01");
  v1p.set_version(1);
  v1::Plan v2p = BasePlan("p", "2026-01-20");
  v2p.set_version(2);
  v1::Plan other = BasePlan("q", "2026-02-01");
  other.set_version(1);
  auto jan = Decide(calendar, ClosePeriod{"2026-01", {v1p, v2p, other}}, kCtx);
  ASSERT_TRUE(jan.ok()) << jan.status();
  const auto& closed = std::get<v1::PeriodClosed>(jan->front());
  EXPECT_EQ(closed.period().status(), v1::PERIOD_STATUS_CLOSED);
  EXPECT_EQ(closed.period().start_date(), "2026-01-01");
  EXPECT_EQ(closed.period().end_date(), "2026-02-01");
  EXPECT_EQ(closed.period().adjustments_period_id(), "2026-02");
  EXPECT_EQ(closed.previous_period_id(), "");
  ASSERT_THAT(closed.period().plan_versions(), SizeIs(2));
  EXPECT_EQ(closed.period().plan_versions(0).version(), 1u);
  EXPECT_EQ(closed.period().plan_versions(1).version(), 2u);
  calendar = Evolve(calendar, jan->front());

  auto again = Decide(calendar, ClosePeriod{"2026-01", {}}, kCtx);
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(again.status().message(), HasSubstr("already closed"));
  auto skip =
      Decide(calendar, ClosePeriod{"2026-03", {}}, Context{kNow + absl::Hours(24 * 30), "ops"});
  EXPECT_EQ(skip.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(skip.status().message(), HasSubstr("close 2026-02 first"));
  auto feb = Decide(calendar, ClosePeriod{"2026-02", {}}, kCtx);
  ASSERT_TRUE(feb.ok()) << feb.status();
  EXPECT_EQ(std::get<v1::PeriodClosed>(feb->front()).previous_period_id(), "2026-01");
  calendar = Evolve(calendar, feb->front());
  EXPECT_EQ(calendar.first_closed(), "2026-01");
  EXPECT_EQ(calendar.last_closed(), "2026-02");

  EXPECT_EQ(PeriodView("2026-03", calendar, nullptr).status(), v1::PERIOD_STATUS_OPEN);
  v1::Period before = PeriodView("2025-12", calendar, nullptr);
  EXPECT_EQ(before.status(), v1::PERIOD_STATUS_CLOSED);
  EXPECT_EQ(before.adjustments_period_id(), "2026-03");
}

// ---------------------------------------------------------------------------
// Crediting
// ---------------------------------------------------------------------------

std::vector<std::pair<std::string, int64_t>> Amounts(const std::vector<CreditComponent>& cs) {
  std::vector<std::pair<std::string, int64_t>> out;
  for (const auto& c : cs) out.emplace_back(c.key, c.amount.micros());
  return out;
}

TEST(CreditingTest, PartnerInNewYorkCustomerInConnecticutCreditsTheCamAndTheInsideRep) {
  v1::Plan plan = BasePlan();
  plan.set_version(1);
  SaleForCredit sale{Usd(10'000'000'000), "partner-ny"};  // USD 10,000
  sale.parties = {{v1::ROLE_CHANNEL_ACCOUNT_MANAGER, "cam-alice", "cam|p|partner-ny"},
                  {v1::ROLE_INSIDE_SALES, "isr-ct", "isr|t|US|CT|"}};
  auto credits = ComputeCredits(plan, sale);
  ASSERT_TRUE(credits.ok()) << credits.status();
  EXPECT_THAT(Amounts(*credits),
              ElementsAre(Pair("PARTNER|partner-ny|COMMISSION", 1'000'000'000),
                          Pair("CHANNEL_ACCOUNT_MANAGER|cam-alice|COMMISSION", 200'000'000),
                          Pair("INSIDE_SALES|isr-ct|COMMISSION", 300'000'000)));
  for (const auto& c : *credits) {
    EXPECT_EQ(c.credited_revenue, Usd(10'000'000'000)) << c.key;  // overlay: full credit each
    EXPECT_EQ(c.share_bps, 10000);
  }
  EXPECT_THAT((*credits)[2].rule, HasSubstr("plan channel-2026 v1"));
  EXPECT_EQ((*credits)[2].source, "isr|t|US|CT|");
}

TEST(CreditingTest, SplitBetweenPartnerAndDirectRepSumsExactly) {
  v1::Plan plan = BasePlan();
  auto* s = plan.add_splits();
  s->set_first_role(v1::ROLE_PARTNER);
  s->set_second_role(v1::ROLE_DIRECT_REP);
  s->set_mode(v1::SPLIT_MODE_SPLIT);
  s->set_first_share_bps(3333);
  s->set_second_share_bps(6667);
  SaleForCredit sale{Usd(1'000'001), "partner-ny"};  // USD 1.000001: the split has a remainder
  sale.parties = {{v1::ROLE_DIRECT_REP, "rep-dan", "direct_opportunity:opp-1"}};
  auto credits = ComputeCredits(plan, sale);
  ASSERT_TRUE(credits.ok()) << credits.status();
  ASSERT_THAT(*credits, SizeIs(2));
  const auto& partner = (*credits)[0];
  const auto& direct = (*credits)[1];
  EXPECT_EQ(partner.credited_revenue.micros() + direct.credited_revenue.micros(), 1'000'001);
  // 333,300.33 and 666,700.67: the leftover micro goes to the larger remainder.
  EXPECT_EQ(partner.credited_revenue.micros(), 333'300);
  EXPECT_EQ(direct.credited_revenue.micros(), 666'701);
  EXPECT_EQ(partner.split_mode, v1::SPLIT_MODE_SPLIT);
  EXPECT_EQ(partner.split_with, v1::ROLE_DIRECT_REP);
  EXPECT_EQ(partner.share_bps, 3333);
  EXPECT_EQ(partner.amount.micros(), 33'330);  // 10% of 333,300
  EXPECT_EQ(direct.amount.micros(), 33'335);   // 5% of 666,701 = 33,335.05
}

TEST(CreditingTest, RegisteredDealBonusAndOneOffIncentive) {
  v1::Plan plan = BasePlan();
  SaleForCredit sale{Usd(2'000'000'000), "partner-ny"};
  sale.registered = true;
  sale.deal_id = "deal-1";
  sale.carries_incentive = true;
  auto credits = ComputeCredits(plan, sale);
  ASSERT_TRUE(credits.ok()) << credits.status();
  EXPECT_THAT(Amounts(*credits),
              ElementsAre(Pair("PARTNER|partner-ny|COMMISSION", 200'000'000),
                          Pair("PARTNER|partner-ny|REGISTERED_DEAL_BONUS", 50'000'000),
                          Pair("PARTNER|partner-ny|INCENTIVE", 500'000'000)));
  sale.carries_incentive = false;
  credits = ComputeCredits(plan, sale);
  ASSERT_TRUE(credits.ok());
  EXPECT_THAT(*credits, SizeIs(2));
  sale.registered = false;
  credits = ComputeCredits(plan, sale);
  ASSERT_TRUE(credits.ok());
  EXPECT_THAT(*credits, SizeIs(1));
}

TEST(CreditingTest, RolesWithoutARateAreNotCreditedAndCurrencyMustMatch) {
  v1::Plan plan = BasePlan();
  plan.clear_rates();
  auto* r = plan.add_rates();
  r->set_role(v1::ROLE_INSIDE_SALES);
  r->set_rate_bps(100);
  SaleForCredit sale{Usd(1'000'000), "partner-ny"};
  sale.parties = {{v1::ROLE_CHANNEL_ACCOUNT_MANAGER, "cam-alice", "a"},
                  {v1::ROLE_INSIDE_SALES, "isr-ct", "b"}};
  auto credits = ComputeCredits(plan, sale);
  ASSERT_TRUE(credits.ok());
  EXPECT_THAT(Amounts(*credits), ElementsAre(Pair("INSIDE_SALES|isr-ct|COMMISSION", 10'000)));

  SaleForCredit eur{*core::Money::Create("EUR", 1'000'000), "partner-ny"};
  EXPECT_EQ(ComputeCredits(plan, eur).status().code(), absl::StatusCode::kInvalidArgument);
  sale.parties.push_back({v1::ROLE_INSIDE_SALES, "isr-2", "c"});
  EXPECT_EQ(ComputeCredits(plan, sale).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(CreditingTest, SuccessiveReturnsClawBackExactlyTheWhole) {
  const core::Money amount = Usd(1'000'000);  // USD 1 earned on 3 units
  int64_t total = 0;
  int64_t before = 0;
  for (int64_t returned : {1, 2, 3}) {
    auto now = ReturnedShare(amount, returned, 3);
    auto prev = ReturnedShare(amount, before, 3);
    ASSERT_TRUE(now.ok() && prev.ok());
    total += now->micros() - prev->micros();
    before = returned;
  }
  EXPECT_EQ(total, 1'000'000);
  EXPECT_EQ(ReturnedShare(amount, 1, 3)->micros(), 333'333);
  EXPECT_EQ(ReturnedShare(amount, 2, 3)->micros(), 666'667);
  EXPECT_EQ(ReturnedShare(amount, 4, 3).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(CreditingTest, ClawbackWindowAndHoldDays) {
  v1::Plan plan = BasePlan();
  absl::CivilDay sale(2026, 1, 10);
  EXPECT_TRUE(ClawbackApplies(plan, sale, sale + 90));
  EXPECT_FALSE(ClawbackApplies(plan, sale, sale + 91));
  plan.set_clawback_window_days(0);
  EXPECT_TRUE(ClawbackApplies(plan, sale, sale + 1000));
  plan.set_clawback_on_return(false);
  EXPECT_FALSE(ClawbackApplies(plan, sale, sale + 1));
  EXPECT_EQ(PayableOn(plan, sale), absl::CivilDay(2026, 2, 9));
}

TEST(ConvertTest, Periods) {
  EXPECT_EQ(PeriodOf(absl::CivilDay(2026, 2, 28)), "2026-02");
  EXPECT_EQ(NextPeriodId("2026-12"), "2027-01");
  EXPECT_FALSE(ParsePeriodId("2026-13").has_value());
  EXPECT_FALSE(ParsePeriodId("2026-1").has_value());
  EXPECT_EQ(PeriodEnd(*ParsePeriodId("2026-02")), absl::CivilDay(2026, 3, 1));
}

}  // namespace
}  // namespace channelops::comp::domain
