// Domain tests of deal registration, in given-events / when-command /
// then-events form. Pure functions only: no RocksDB, no gRPC, no clock but the
// FakeClock that the test moves. The World below folds given events into the
// aggregates and the customer index exactly as the service does with its read
// models, and builds commands the way the service loads them.

#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "channelops/core/clock.h"
#include "channelops/core/grpc_status.h"
#include "deal_registration/domain/convert.h"
#include "deal_registration/domain/customer_index.h"
#include "deal_registration/domain/decider.h"
#include "deal_registration/domain/validation.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace channelops::dealreg::domain {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::SizeIs;

common::v1::Money Usd(double units) {
  common::v1::Money m;
  m.set_currency_code("USD");
  m.set_amount_micros(static_cast<int64_t>(units * 1'000'000));
  return m;
}
common::v1::Money Eur(double units) {
  common::v1::Money m = Usd(units);
  m.set_currency_code("EUR");
  return m;
}

v1::DealLine Line(const std::string& product_line, int64_t qty, double price) {
  v1::DealLine l;
  l.set_product_line(product_line);
  l.set_quantity(qty);
  *l.mutable_unit_price() = Usd(price);
  return l;
}

common::v1::Party Customer(const std::string& name, const std::string& country,
                           const std::string& email_domain = "", const std::string& type = "") {
  common::v1::Party p;
  p.set_name(name);
  p.mutable_address()->set_country_code(country);
  p.set_email_domain(email_domain);
  p.set_account_type(type);
  return p;
}

// Programme "p1": USD, min USD 1,000 or 5 units, government/national excluded,
// Globex named, storage/compute eligible, 30 days, auto-approve up to USD 100k,
// SPA auto <= 500 bps, tiers 1500 -> channel_manager, 3000 -> director.
v1::ProgramRules BaseRules() {
  v1::ProgramRules r;
  r.set_program_id("p1");
  r.set_currency_code("USD");
  *r.mutable_min_deal_amount() = Usd(1000);
  r.set_min_deal_units(5);
  r.add_excluded_account_types("GOVERNMENT");
  r.add_excluded_account_types("national");
  auto* n = r.add_named_accounts();
  n->set_name("Globex Inc");
  n->set_country_code("US");
  r.add_named_accounts()->set_email_domain("initech.com");
  r.add_eligible_product_lines("Storage");
  r.add_eligible_product_lines("compute");
  r.add_eligible_skus("NET-100");
  r.set_approval_mode(v1::APPROVAL_MODE_AUTO);
  *r.mutable_auto_approve_max_amount() = Usd(100000);
  r.mutable_benefits()->set_extra_margin_bps(300);
  *r.mutable_benefits()->mutable_incentive() = Usd(500);
  r.mutable_benefits()->set_exclusivity(true);
  r.set_spa_auto_approve_max_bps(500);
  auto* t1 = r.add_spa_tiers();
  t1->set_max_discount_bps(1500);
  t1->set_approver_role("channel_manager");
  auto* t2 = r.add_spa_tiers();
  t2->set_max_discount_bps(3000);
  t2->set_approver_role("director");
  return r;
}

v1::RegisterDealRequest Reg(const std::string& partner, common::v1::Party customer,
                            std::vector<v1::DealLine> lines = {Line("storage", 10, 500)}) {
  v1::RegisterDealRequest r;
  r.set_request_id(absl::StrCat("req-", partner));
  r.set_program_id("p1");
  r.set_partner_id(partner);
  r.mutable_partner_contact()->set_name("Pat Partner");
  *r.mutable_end_customer() = std::move(customer);
  for (auto& l : lines) *r.add_lines() = std::move(l);
  r.set_expected_close_date("2026-03-31");
  r.set_lead_id("lead-7");
  return r;
}

template <class T>
const T& Only(const std::vector<Event>& events) {
  EXPECT_THAT(events, SizeIs(1));
  const T* e = events.empty() ? nullptr : std::get_if<T>(&events.front());
  if (e == nullptr) {
    ADD_FAILURE() << "expected one " << T::descriptor()->full_name();
    static const T empty;
    return empty;
  }
  return *e;
}

std::vector<v1::ReasonCode> Codes(const google::protobuf::RepeatedPtrField<v1::Reason>& reasons) {
  std::vector<v1::ReasonCode> out;
  for (const auto& r : reasons) out.push_back(r.code());
  return out;
}

// The aggregates and read models after a sequence of events, built with the
// same pure functions the service uses to maintain rm_*.
class World {
 public:
  void Given(const std::vector<Event>& events) {
    for (const Event& e : events) Apply(e);
  }

  void Apply(const Event& e) {
    if (const auto* r = std::get_if<v1::ProgramRulesSet>(&e)) {
      rules[r->rules().program_id()] = Evolve(rules[r->rules().program_id()], e);
      return;
    }
    if (const auto* d = std::get_if<v1::DirectOpportunityRecorded>(&e)) {
      directs[d->opportunity().opportunity_id()] = d->opportunity();
      for (const auto& key : KeysOf(d->opportunity().end_customer()).All()) {
        AddDirectClaim(index[key], d->opportunity());
      }
      for (const auto& id : d->opportunity().partner_deal_ids()) deals[id] = Evolve(deals[id], e);
      return;
    }
    std::string id = DealIdOf(e);
    v1::Deal before = deals[id];
    v1::Deal after = Evolve(before, e);
    for (const auto& key : KeysOf(after).All()) ApplyDealTransition(index[key], before, after);
    deals[id] = after;
  }

  std::vector<v1::CustomerClaim> ClaimsOn(const common::v1::Party& customer) {
    std::vector<v1::CustomerClaims> per_key;
    for (const auto& key : KeysOf(customer).All()) per_key.push_back(index[key]);
    return MergeClaims(per_key);
  }

  std::optional<v1::ProgramRules> RulesOf(const std::string& program) {
    auto it = rules.find(program);
    if (it == rules.end()) return std::nullopt;
    return it->second;
  }

  absl::StatusOr<std::vector<Event>> Register(const std::string& id,
                                              const v1::RegisterDealRequest& req,
                                              const Context& ctx) {
    RegisterDeal c{req, id, RulesOf(req.program_id()), ClaimsOn(req.end_customer())};
    return Decide(v1::Deal(), c, ctx);
  }

  absl::StatusOr<std::vector<Event>> On(const std::string& id, DealCommand c, const Context& ctx) {
    const v1::Deal& deal = deals[id];
    if (auto* u = std::get_if<UpdateDeal>(&c)) {
      u->rules = RulesOf(deal.program_id());
      u->claims = ClaimsOn(deal.end_customer());
    }
    if (auto* s = std::get_if<RequestSpecialPricing>(&c)) s->rules = RulesOf(deal.program_id());
    if (auto* s = std::get_if<DecideSpecialPricing>(&c)) s->rules = RulesOf(deal.program_id());
    return Decide(deal, c, ctx);
  }

  absl::StatusOr<std::vector<Event>> Direct(const v1::RecordDirectOpportunityRequest& req,
                                            const Context& ctx) {
    RecordDirectOpportunity c;
    c.request = req;
    if (directs.count(req.opportunity_id())) c.existing = directs[req.opportunity_id()];
    c.claims = ClaimsOn(req.end_customer());
    return Decide(c, ctx);
  }

  static std::string DealIdOf(const Event& e) {
    return std::visit(
        [](const auto& m) -> std::string {
          using T = std::decay_t<decltype(m)>;
          if constexpr (requires { m.keys(); }) {
            return m.keys().deal_id();
          } else {
            (void)sizeof(T);
            return "";
          }
        },
        e);
  }

  std::map<std::string, v1::ProgramRules> rules;
  std::map<std::string, v1::Deal> deals;
  std::map<std::string, v1::CustomerClaims> index;
  std::map<std::string, v1::DirectOpportunity> directs;
};

class DealRegistrationDomainTest : public ::testing::Test {
 protected:
  // Time only moves when the test says so.
  core::FakeClock clock_{absl::FromUnixSeconds(1767225600)};  // 2026-01-01T00:00:00Z

  Context Now(const std::string& actor = "partner-portal") { return Context{clock_.Now(), actor}; }

  // Given: the rules recorded (through Decide, as SetProgramRules would).
  void GivenRules(const v1::ProgramRules& r) {
    auto events = Decide(world_.RulesOf(r.program_id()).value_or(v1::ProgramRules()),
                         SetProgramRules{r}, Now("ops"));
    ASSERT_TRUE(events.ok()) << events.status();
    world_.Given(*events);
  }

  // Given: a registration that was recorded (the events Decide produced then).
  v1::Deal GivenRegistered(const std::string& id, const v1::RegisterDealRequest& req) {
    auto events = world_.Register(id, req, Now());
    EXPECT_TRUE(events.ok()) << events.status();
    if (!events.ok()) return v1::Deal();
    world_.Given(*events);
    return world_.deals[id];
  }

  // Given: a command on an existing deal that succeeded.
  void GivenOn(const std::string& id, DealCommand c, const std::string& actor = "cm-1") {
    auto events = world_.On(id, std::move(c), Now(actor));
    ASSERT_TRUE(events.ok()) << events.status();
    world_.Given(*events);
  }

  World world_;
};

// ---------------------------------------------------------------------------
// Programme rules
// ---------------------------------------------------------------------------

TEST(DealRegistrationDates, ParseDateTakesOnlyRealCalendarDays) {
  EXPECT_EQ(ParseDate("2026-03-31"), absl::CivilDay(2026, 3, 31));
  EXPECT_EQ(ParseDate("2028-02-29"), absl::CivilDay(2028, 2, 29));  // leap year
  EXPECT_EQ(ParseDate("2000-02-29"), absl::CivilDay(2000, 2, 29));  // 400: leap
  EXPECT_EQ(ParseDate("1000-01-01"), absl::CivilDay(1000, 1, 1));
  EXPECT_EQ(ParseDate("9999-12-31"), absl::CivilDay(9999, 12, 31));
  for (const char* bad :
       {"2026-02-29", "1900-02-29", "2026-02-30", "2026-04-31", "2026-13-01", "2026-00-10",
        "2026-01-00", "2026-1-01", "2026/01/01", "2026-01-0a", "20260101", "", "2026-01-011",
        " 2026-01-01", "0000-02-29", "0001-01-01", "0999-12-31"}) {
    EXPECT_EQ(ParseDate(bad), std::nullopt) << bad;
  }
  for (int y : {1999, 2024, 2026, 2100}) {
    for (absl::CivilDay d(y, 1, 1); d.year() == y; ++d) {
      ASSERT_EQ(ParseDate(FormatDate(d)), d) << FormatDate(d);
    }
  }
}

TEST_F(DealRegistrationDomainTest, SetProgramRulesRecordsVersionOneWithNormalisedLists) {
  auto events = Decide(v1::ProgramRules(), SetProgramRules{BaseRules()}, Now("ops"));
  ASSERT_TRUE(events.ok());
  const auto& set = Only<v1::ProgramRulesSet>(*events);
  EXPECT_EQ(set.rules().version(), 1u);
  EXPECT_EQ(FromProtoTime(set.rules().effective_at()), clock_.Now());
  EXPECT_THAT(set.rules().excluded_account_types(), ElementsAre("GOVERNMENT", "NATIONAL"));
  EXPECT_THAT(set.rules().eligible_product_lines(), ElementsAre("storage", "compute"));
  EXPECT_THAT(set.rules().eligible_skus(), ElementsAre("net-100"));
}

TEST_F(DealRegistrationDomainTest, SetProgramRulesAgainRecordsNextVersion) {
  GivenRules(BaseRules());
  v1::ProgramRules changed = BaseRules();
  changed.set_expiry_days(60);
  auto events = Decide(world_.rules["p1"], SetProgramRules{changed}, Now("ops"));
  ASSERT_TRUE(events.ok());
  EXPECT_EQ(Only<v1::ProgramRulesSet>(*events).rules().version(), 2u);
  EXPECT_EQ(Only<v1::ProgramRulesSet>(*events).rules().expiry_days(), 60);
}

TEST_F(DealRegistrationDomainTest, RulesShapeErrorsNameTheFields) {
  v1::SetProgramRulesRequest req;
  req.set_request_id("r1");
  *req.mutable_rules() = BaseRules();
  req.mutable_rules()->mutable_spa_tiers(1)->set_max_discount_bps(1000);  // not ascending
  *req.mutable_rules()->mutable_min_deal_amount() = Eur(10);              // not programme currency
  req.mutable_rules()->set_approval_mode(static_cast<v1::ApprovalMode>(42));
  req.mutable_rules()->set_expiry_days(-1);
  absl::Status st = ValidateSetProgramRules(req);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  std::vector<std::string> fields;
  for (const auto& [f, reason] : core::GetFieldViolations(st)) fields.push_back(f);
  EXPECT_THAT(fields, ::testing::UnorderedElementsAre("rules.min_deal_amount.currency_code",
                                                      "rules.expiry_days", "rules.approval_mode",
                                                      "rules.spa_tiers[1].max_discount_bps"));
  req.mutable_rules()->Clear();
  req.mutable_rules()->set_program_id("p1");
  req.mutable_rules()->set_currency_code("USD");
  EXPECT_TRUE(ValidateSetProgramRules(req).ok());
}

// ---------------------------------------------------------------------------
// Registration: rules of engagement
// ---------------------------------------------------------------------------

TEST_F(DealRegistrationDomainTest, AllRulesPassAndSmallAmountIsAutoApproved) {
  GivenRules(BaseRules());
  auto events = world_.Register(
      "d1", Reg("partner-a", Customer("ACME Corp.", "us", "jane@Sales.ACME.com")), Now());
  ASSERT_TRUE(events.ok()) << events.status();
  const auto& e = Only<v1::DealRegistered>(*events);
  EXPECT_EQ(e.status(), v1::DEAL_STATUS_APPROVED);
  EXPECT_THAT(e.reasons(), IsEmpty());
  EXPECT_EQ(e.keys().deal_id(), "d1");
  EXPECT_EQ(e.keys().partner_id(), "partner-a");
  EXPECT_EQ(e.keys().program_id(), "p1");
  EXPECT_EQ(e.keys().customer_key(), "US|acme");
  EXPECT_EQ(e.keys().domain_key(), "d|acme.com");
  EXPECT_THAT(e.keys().product_lines(), ElementsAre("storage"));
  EXPECT_EQ(e.keys().lead_id(), "lead-7");
  EXPECT_EQ(e.amount().amount_micros(), 5000'000000);
  EXPECT_EQ(e.total_units(), 10);
  EXPECT_EQ(e.rules_version(), 1u);
  EXPECT_EQ(e.benefits().extra_margin_bps(), 300);
  EXPECT_TRUE(e.benefits().exclusivity());
  EXPECT_EQ(e.decided_by(), kAutoDecider);
  EXPECT_EQ(FromProtoTime(e.expires_at()), clock_.Now() + absl::Hours(24 * 30));
}

TEST_F(DealRegistrationDomainTest, AmountAboveAutoApprovalLimitWaitsForAChannelManager) {
  GivenRules(BaseRules());
  auto events = world_.Register(
      "d1", Reg("partner-a", Customer("Acme", "US"), {Line("storage", 300, 500)}), Now());
  ASSERT_TRUE(events.ok());
  const auto& e = Only<v1::DealRegistered>(*events);
  EXPECT_EQ(e.status(), v1::DEAL_STATUS_PENDING_APPROVAL);
  EXPECT_THAT(Codes(e.reasons()), ElementsAre(v1::REASON_CODE_ABOVE_AUTO_APPROVAL_LIMIT));
  EXPECT_EQ(e.decided_by(), "");
}

TEST_F(DealRegistrationDomainTest, ManualProgrammeLeavesEveryPassingRegistrationPending) {
  v1::ProgramRules r = BaseRules();
  r.set_approval_mode(v1::APPROVAL_MODE_MANUAL);
  GivenRules(r);
  auto events = world_.Register("d1", Reg("partner-a", Customer("Acme", "US")), Now());
  ASSERT_TRUE(events.ok());
  EXPECT_EQ(Only<v1::DealRegistered>(*events).status(), v1::DEAL_STATUS_PENDING_APPROVAL);
  EXPECT_THAT(Codes(Only<v1::DealRegistered>(*events).reasons()),
              ElementsAre(v1::REASON_CODE_MANUAL_APPROVAL_REQUIRED));
}

TEST_F(DealRegistrationDomainTest, DealBelowMinimumAmountIsRejectedAsAFact) {
  GivenRules(BaseRules());
  auto events = world_.Register(
      "d1", Reg("partner-a", Customer("Acme", "US"), {Line("storage", 5, 100)}), Now());
  ASSERT_TRUE(events.ok());
  const auto& e = Only<v1::DealRegistered>(*events);
  EXPECT_EQ(e.status(), v1::DEAL_STATUS_REJECTED);
  EXPECT_THAT(Codes(e.reasons()), ElementsAre(v1::REASON_CODE_BELOW_MINIMUM_SIZE));
  EXPECT_THAT(e.reasons(0).message(), HasSubstr("below the minimum USD 1000"));
  EXPECT_FALSE(e.has_expires_at());
}

TEST_F(DealRegistrationDomainTest, DealBelowMinimumUnitsIsRejected) {
  GivenRules(BaseRules());
  auto events = world_.Register(
      "d1", Reg("partner-a", Customer("Acme", "US"), {Line("storage", 4, 1000)}), Now());
  ASSERT_TRUE(events.ok());
  EXPECT_THAT(Codes(Only<v1::DealRegistered>(*events).reasons()),
              ElementsAre(v1::REASON_CODE_BELOW_MINIMUM_SIZE));
}

TEST_F(DealRegistrationDomainTest, ExcludedAccountTypeIsRejectedWhateverItsCase) {
  GivenRules(BaseRules());
  auto events = world_.Register(
      "d1", Reg("partner-a", Customer("State of CT", "US", "", " government")), Now());
  ASSERT_TRUE(events.ok());
  EXPECT_EQ(Only<v1::DealRegistered>(*events).status(), v1::DEAL_STATUS_REJECTED);
  EXPECT_THAT(Codes(Only<v1::DealRegistered>(*events).reasons()),
              ElementsAre(v1::REASON_CODE_EXCLUDED_ACCOUNT_TYPE));
}

TEST_F(DealRegistrationDomainTest, NamedAccountMatchesByNormalisedNameInItsCountry) {
  GivenRules(BaseRules());
  auto us =
      world_.Register("d1", Reg("partner-a", Customer("The GLOBEX Corporation", "US")), Now());
  ASSERT_TRUE(us.ok());
  EXPECT_THAT(Codes(Only<v1::DealRegistered>(*us).reasons()),
              ElementsAre(v1::REASON_CODE_NAMED_ACCOUNT));
  // The named account is Globex in the US: Globex in Germany is open to partners.
  auto de = world_.Register("d2", Reg("partner-a", Customer("Globex GmbH", "DE")), Now());
  ASSERT_TRUE(de.ok());
  EXPECT_EQ(Only<v1::DealRegistered>(*de).status(), v1::DEAL_STATUS_APPROVED);
}

TEST_F(DealRegistrationDomainTest, NamedAccountMatchesByRegistrableEmailDomain) {
  GivenRules(BaseRules());
  auto events = world_.Register(
      "d1", Reg("partner-a", Customer("Initrode Holdings", "GB", "it@eu.initech.com")), Now());
  ASSERT_TRUE(events.ok());
  EXPECT_THAT(Codes(Only<v1::DealRegistered>(*events).reasons()),
              ElementsAre(v1::REASON_CODE_NAMED_ACCOUNT));
}

TEST_F(DealRegistrationDomainTest, IneligibleProductIsRejectedNamingProductAndLine) {
  GivenRules(BaseRules());
  auto events = world_.Register("d1",
                                Reg("partner-a", Customer("Acme", "US"),
                                    {Line("storage", 10, 500), Line("Printers", 3, 100)}),
                                Now());
  ASSERT_TRUE(events.ok());
  const auto& e = Only<v1::DealRegistered>(*events);
  ASSERT_THAT(Codes(e.reasons()), ElementsAre(v1::REASON_CODE_PRODUCT_NOT_ELIGIBLE));
  EXPECT_THAT(e.reasons(0).product_lines(), ElementsAre("printers"));
  EXPECT_EQ(e.reasons(0).line_index(), 1);
}

TEST_F(DealRegistrationDomainTest, LineGivenBySkuIsEligibleThroughTheSkuList) {
  GivenRules(BaseRules());
  v1::DealLine sku_line;
  sku_line.set_sku("net-100");
  sku_line.set_quantity(10);
  *sku_line.mutable_unit_price() = Usd(200);
  auto events = world_.Register("d1", Reg("partner-a", Customer("Acme", "US"), {sku_line}), Now());
  ASSERT_TRUE(events.ok());
  EXPECT_EQ(Only<v1::DealRegistered>(*events).status(), v1::DEAL_STATUS_APPROVED);
  EXPECT_THAT(Only<v1::DealRegistered>(*events).keys().product_lines(), ElementsAre("sku:net-100"));
}

TEST_F(DealRegistrationDomainTest, EveryBrokenRuleIsReported) {
  GivenRules(BaseRules());
  auto events = world_.Register(
      "d1", Reg("partner-a", Customer("Globex", "US", "", "NATIONAL"), {Line("printers", 1, 10)}),
      Now());
  ASSERT_TRUE(events.ok());
  EXPECT_THAT(Codes(Only<v1::DealRegistered>(*events).reasons()),
              ElementsAre(v1::REASON_CODE_BELOW_MINIMUM_SIZE, v1::REASON_CODE_BELOW_MINIMUM_SIZE,
                          v1::REASON_CODE_EXCLUDED_ACCOUNT_TYPE, v1::REASON_CODE_NAMED_ACCOUNT,
                          v1::REASON_CODE_PRODUCT_NOT_ELIGIBLE));
}

TEST_F(DealRegistrationDomainTest, UnknownProgrammeIsInvalidArgumentNamingProgramId) {
  auto events = world_.Register("d1", Reg("partner-a", Customer("Acme", "US")), Now());
  EXPECT_EQ(events.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(core::GetFieldViolations(events.status()),
              ElementsAre(Pair("program_id", HasSubstr("unknown programme"))));
}

TEST_F(DealRegistrationDomainTest, CurrencyOtherThanTheProgrammesIsInvalidArgument) {
  GivenRules(BaseRules());
  v1::DealLine eur = Line("storage", 10, 500);
  *eur.mutable_unit_price() = Eur(500);
  auto events = world_.Register("d1", Reg("partner-a", Customer("Acme", "US"), {eur}), Now());
  EXPECT_EQ(events.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(core::GetFieldViolations(events.status()),
              ElementsAre(Pair("lines[0].unit_price.currency_code", HasSubstr("USD"))));
}

TEST_F(DealRegistrationDomainTest, CloseDateInThePastIsInvalidArgumentTodayIsFine) {
  GivenRules(BaseRules());
  clock_.Set(absl::FromUnixSeconds(1767225600) + absl::Hours(23));  // 2026-01-01T23:00Z
  v1::RegisterDealRequest req = Reg("partner-a", Customer("Acme", "US"));
  req.set_expected_close_date("2025-12-31");
  auto past = world_.Register("d1", req, Now());
  EXPECT_EQ(past.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(core::GetFieldViolations(past.status()),
              ElementsAre(Pair("expected_close_date", HasSubstr("past"))));
  req.set_expected_close_date("2026-01-01");
  EXPECT_TRUE(world_.Register("d1", req, Now()).ok());
}

// ---------------------------------------------------------------------------
// Conflicts: first come, first served
// ---------------------------------------------------------------------------

TEST_F(DealRegistrationDomainTest, SameCustomerSpelledDifferentlyConflictsWithEarlierPartner) {
  GivenRules(BaseRules());
  GivenRegistered("d1", Reg("partner-a", Customer("ACME Corp.", "US")));
  for (const char* spelling : {"Acme Corporation", "acme, inc", "Acme Inc."}) {
    auto events = world_.Register("d2", Reg("partner-b", Customer(spelling, " us ")), Now());
    ASSERT_TRUE(events.ok());
    const auto& e = Only<v1::DealRegistered>(*events);
    EXPECT_EQ(e.status(), v1::DEAL_STATUS_REJECTED) << spelling;
    ASSERT_THAT(Codes(e.reasons()), ElementsAre(v1::REASON_CODE_CONFLICT_PARTNER_REGISTRATION));
    EXPECT_EQ(e.reasons(0).conflicting_deal_id(), "d1");
    EXPECT_THAT(e.reasons(0).product_lines(), ElementsAre("storage"));
    // The winner's partner is never revealed to the loser.
    EXPECT_THAT(e.reasons(0).SerializeAsString(), ::testing::Not(HasSubstr("partner-a")));
  }
}

TEST_F(DealRegistrationDomainTest, SameRegistrableEmailDomainConflictsAcrossNames) {
  GivenRules(BaseRules());
  GivenRegistered("d1", Reg("partner-a", Customer("Acme Holdings", "US", "acme.com")));
  auto events = world_.Register(
      "d2", Reg("partner-b", Customer("Acme Robotics", "CA", "bob@sales.acme.com")), Now());
  ASSERT_TRUE(events.ok());
  const auto& e = Only<v1::DealRegistered>(*events);
  ASSERT_THAT(Codes(e.reasons()), ElementsAre(v1::REASON_CODE_CONFLICT_PARTNER_REGISTRATION));
  EXPECT_EQ(e.reasons(0).conflicting_deal_id(), "d1");
}

TEST_F(DealRegistrationDomainTest, SameNameInAnotherCountryIsAnotherCustomer) {
  GivenRules(BaseRules());
  GivenRegistered("d1", Reg("partner-a", Customer("Acme", "US")));
  auto events = world_.Register("d2", Reg("partner-b", Customer("Acme", "GB")), Now());
  ASSERT_TRUE(events.ok());
  EXPECT_EQ(Only<v1::DealRegistered>(*events).status(), v1::DEAL_STATUS_APPROVED);
}

TEST_F(DealRegistrationDomainTest, NoProductInCommonIsNoConflict) {
  GivenRules(BaseRules());
  GivenRegistered("d1", Reg("partner-a", Customer("Acme", "US"), {Line("storage", 10, 500)}));
  auto events = world_.Register(
      "d2", Reg("partner-b", Customer("Acme", "US"), {Line("compute", 10, 500)}), Now());
  ASSERT_TRUE(events.ok());
  EXPECT_EQ(Only<v1::DealRegistered>(*events).status(), v1::DEAL_STATUS_APPROVED);
}

TEST_F(DealRegistrationDomainTest, PendingRegistrationAlsoHoldsTheCustomer) {
  GivenRules(BaseRules());
  v1::Deal first =
      GivenRegistered("d1", Reg("partner-a", Customer("Acme", "US"), {Line("storage", 300, 500)}));
  ASSERT_EQ(first.status(), v1::DEAL_STATUS_PENDING_APPROVAL);
  auto events = world_.Register("d2", Reg("partner-b", Customer("Acme", "US")), Now());
  ASSERT_TRUE(events.ok());
  EXPECT_EQ(Only<v1::DealRegistered>(*events).reasons(0).conflicting_deal_id(), "d1");
}

TEST_F(DealRegistrationDomainTest, EveryEarlierActiveRegistrationIsNamedOldestFirst) {
  GivenRules(BaseRules());
  GivenRegistered("d1", Reg("partner-a", Customer("Acme", "US"), {Line("storage", 10, 500)}));
  clock_.Advance(absl::Minutes(1));
  GivenRegistered("d2",
                  Reg("partner-b", Customer("Acme", "US", "acme.com"), {Line("compute", 10, 500)}));
  clock_.Advance(absl::Minutes(1));
  auto events = world_.Register("d3",
                                Reg("partner-c", Customer("ACME Inc", "US", "acme.com"),
                                    {Line("compute", 10, 500), Line("storage", 10, 500)}),
                                Now());
  ASSERT_TRUE(events.ok());
  const auto& e = Only<v1::DealRegistered>(*events);
  ASSERT_THAT(e.reasons(), SizeIs(2));
  EXPECT_EQ(e.reasons(0).conflicting_deal_id(), "d1");
  EXPECT_EQ(e.reasons(1).conflicting_deal_id(), "d2");
}

TEST_F(DealRegistrationDomainTest, RejectedRegistrationsDoNotHoldTheCustomer) {
  GivenRules(BaseRules());
  v1::Deal small =
      GivenRegistered("d1", Reg("partner-a", Customer("Acme", "US"), {Line("storage", 5, 10)}));
  ASSERT_EQ(small.status(), v1::DEAL_STATUS_REJECTED);
  auto events = world_.Register("d2", Reg("partner-b", Customer("Acme", "US")), Now());
  ASSERT_TRUE(events.ok());
  EXPECT_EQ(Only<v1::DealRegistered>(*events).status(), v1::DEAL_STATUS_APPROVED);
}

TEST_F(DealRegistrationDomainTest, SamePartnerRegisteringTheSameDealAgainRecordsNothing) {
  GivenRules(BaseRules());
  GivenRegistered("d1", Reg("partner-a", Customer("ACME Corp.", "US")));
  v1::RegisterDealRequest again = Reg("partner-a", Customer("Acme Corporation", "US"));
  again.set_request_id("another-request");
  auto events = world_.Register("d2", again, Now());
  ASSERT_TRUE(events.ok());
  EXPECT_THAT(*events, IsEmpty());
  EXPECT_EQ(FindOwnRegistration(world_.ClaimsOn(again.end_customer()), "partner-a",
                                ProductKeys(again.lines())),
            std::optional<std::string>("d1"));
}

TEST_F(DealRegistrationDomainTest, ConflictAndAccountReasonsForCheckConflicts) {
  GivenRules(BaseRules());
  GivenRegistered("d1", Reg("partner-a", Customer("Acme", "US")));
  auto claims = world_.ClaimsOn(Customer("acme inc", "US"));
  EXPECT_THAT(ConflictReasons(claims, "partner-b", {"storage"}), SizeIs(1));
  EXPECT_THAT(ConflictReasons(claims, "partner-a", {"storage"}), IsEmpty());
  EXPECT_THAT(ConflictReasons(claims, "partner-b", {"compute"}), IsEmpty());
  std::vector<v1::Reason> account =
      AccountAndProductReasons(Customer("Globex", "US"), {"printers"}, world_.rules["p1"]);
  EXPECT_THAT(Codes({account.begin(), account.end()}),
              ElementsAre(v1::REASON_CODE_NAMED_ACCOUNT, v1::REASON_CODE_PRODUCT_NOT_ELIGIBLE));
}

// ---------------------------------------------------------------------------
// Direct sales
// ---------------------------------------------------------------------------

v1::RecordDirectOpportunityRequest DirectOpp(const std::string& id, common::v1::Party customer,
                                             std::vector<std::string> products = {"storage"}) {
  v1::RecordDirectOpportunityRequest r;
  r.set_request_id("crm-" + id);
  r.set_opportunity_id(id);
  r.set_owner_rep_id("rep-9");
  *r.mutable_end_customer() = std::move(customer);
  for (auto& p : products) r.add_product_lines(p);
  return r;
}

TEST_F(DealRegistrationDomainTest, DirectOpportunityFirstMakesLaterPartnerRegistrationConflict) {
  GivenRules(BaseRules());
  auto recorded = world_.Direct(DirectOpp("opp-1", Customer("Acme Corp", "US")), Now("crm"));
  ASSERT_TRUE(recorded.ok());
  EXPECT_THAT(Only<v1::DirectOpportunityRecorded>(*recorded).partner_got_there_first(), IsEmpty());
  world_.Given(*recorded);
  auto events = world_.Register("d1", Reg("partner-a", Customer("Acme", "US")), Now());
  ASSERT_TRUE(events.ok());
  const auto& e = Only<v1::DealRegistered>(*events);
  EXPECT_EQ(e.status(), v1::DEAL_STATUS_REJECTED);
  ASSERT_THAT(Codes(e.reasons()), ElementsAre(v1::REASON_CODE_CONFLICT_DIRECT_OPPORTUNITY));
  EXPECT_EQ(e.reasons(0).direct_opportunity_id(), "opp-1");
}

TEST_F(DealRegistrationDomainTest, DirectOpportunityAfterApprovedRegistrationIsAnsweredWithIt) {
  GivenRules(BaseRules());
  GivenRegistered("d1", Reg("partner-a", Customer("Acme", "US")));
  auto recorded = world_.Direct(
      DirectOpp("opp-1", Customer("ACME, Inc.", "US"), {"storage", "compute"}), Now("crm"));
  ASSERT_TRUE(recorded.ok());
  const auto& e = Only<v1::DirectOpportunityRecorded>(*recorded);
  ASSERT_THAT(e.partner_got_there_first(), SizeIs(1));
  EXPECT_EQ(e.partner_got_there_first(0).deal_id(), "d1");
  EXPECT_EQ(e.partner_got_there_first(0).partner_id(), "partner-a");
  EXPECT_EQ(e.partner_got_there_first(0).status(), v1::DEAL_STATUS_APPROVED);
  EXPECT_THAT(e.partner_got_there_first(0).product_lines(), ElementsAre("storage"));
  EXPECT_THAT(e.opportunity().partner_deal_ids(), ElementsAre("d1"));
  world_.Given(*recorded);
  // Both facts are kept: the registration notes the opportunity and closing it
  // hands both to compensation.
  EXPECT_THAT(world_.deals["d1"].direct_opportunity_ids(), ElementsAre("opp-1"));
  v1::CloseDealRequest won;
  won.set_outcome(v1::CLOSE_OUTCOME_WON);
  *won.mutable_final_amount() = Usd(4800);
  auto closed = world_.On("d1", CloseDeal{won}, Now());
  ASSERT_TRUE(closed.ok());
  EXPECT_THAT(Only<v1::DealClosed>(*closed).direct_opportunity_ids(), ElementsAre("opp-1"));
}

TEST_F(DealRegistrationDomainTest, DirectOpportunityRecordedTwiceRecordsNothing) {
  auto first = world_.Direct(DirectOpp("opp-1", Customer("Acme", "US")), Now("crm"));
  ASSERT_TRUE(first.ok());
  world_.Given(*first);
  auto again = world_.Direct(DirectOpp("opp-1", Customer("Acme", "US")), Now("crm"));
  ASSERT_TRUE(again.ok());
  EXPECT_THAT(*again, IsEmpty());
}

// ---------------------------------------------------------------------------
// Approval workflow
// ---------------------------------------------------------------------------

class PendingDealTest : public DealRegistrationDomainTest {
 protected:
  void SetUp() override {
    v1::ProgramRules r = BaseRules();
    r.set_approval_mode(v1::APPROVAL_MODE_MANUAL);
    GivenRules(r);
    v1::Deal d = GivenRegistered("d1", Reg("partner-a", Customer("Acme", "US")));
    ASSERT_EQ(d.status(), v1::DEAL_STATUS_PENDING_APPROVAL);
  }
};

TEST_F(PendingDealTest, ChannelManagerApprovesPendingRegistration) {
  clock_.Advance(absl::Hours(4));
  auto events = world_.On("d1", ApproveDeal{"looks good"}, Now("cm-1"));
  ASSERT_TRUE(events.ok());
  const auto& e = Only<v1::DealApproved>(*events);
  EXPECT_EQ(e.decided_by(), "cm-1");
  EXPECT_EQ(e.reason(), "looks good");
  EXPECT_EQ(e.keys().partner_id(), "partner-a");
  EXPECT_EQ(e.benefits().extra_margin_bps(), 300);
  EXPECT_EQ(FromProtoTime(e.expires_at()), clock_.Now() + absl::Hours(24 * 30));
  world_.Given(*events);
  EXPECT_EQ(world_.deals["d1"].status(), v1::DEAL_STATUS_APPROVED);
  EXPECT_EQ(world_.deals["d1"].version(), 2u);
  EXPECT_THAT(world_.deals["d1"].reasons(), IsEmpty());
}

TEST_F(PendingDealTest, OnlyPendingRegistrationsCanBeDecided) {
  GivenOn("d1", ApproveDeal{""});
  for (DealCommand c : {DealCommand(ApproveDeal{""}), DealCommand(RejectDeal{"no"}),
                        DealCommand(ReturnDeal{"more"})}) {
    auto events = world_.On("d1", c, Now("cm-1"));
    EXPECT_EQ(events.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(events.status().message(), HasSubstr("APPROVED"));
  }
}

TEST_F(PendingDealTest, RejectionFreesTheCustomerForTheNextPartner) {
  GivenOn("d1", RejectDeal{"customer already served"});
  EXPECT_EQ(world_.deals["d1"].status(), v1::DEAL_STATUS_REJECTED);
  EXPECT_EQ(world_.deals["d1"].decision_reason(), "customer already served");
  auto events = world_.Register("d2", Reg("partner-b", Customer("Acme", "US")), Now());
  ASSERT_TRUE(events.ok());
  EXPECT_EQ(Only<v1::DealRegistered>(*events).status(), v1::DEAL_STATUS_PENDING_APPROVAL);
  EXPECT_THAT(Codes(Only<v1::DealRegistered>(*events).reasons()),
              ElementsAre(v1::REASON_CODE_MANUAL_APPROVAL_REQUIRED));
}

TEST_F(PendingDealTest, ReturnedRegistrationKeepsTheCustomerAndIsResubmittedByAnUpdate) {
  GivenOn("d1", ReturnDeal{"add the decision maker"});
  EXPECT_EQ(world_.deals["d1"].status(), v1::DEAL_STATUS_RETURNED);
  auto other = world_.Register("d2", Reg("partner-b", Customer("Acme", "US")), Now());
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(Only<v1::DealRegistered>(*other).reasons(0).conflicting_deal_id(), "d1");
  EXPECT_EQ(world_.On("d1", ApproveDeal{""}, Now()).status().code(),
            absl::StatusCode::kFailedPrecondition);

  v1::UpdateDealRequest u;
  u.set_expected_version(world_.deals["d1"].version());
  u.set_stage(v1::DEAL_STAGE_QUALIFIED);
  auto events = world_.On("d1", UpdateDeal{u, {}, {}}, Now("partner-portal"));
  ASSERT_TRUE(events.ok()) << events.status();
  const auto& e = Only<v1::DealUpdated>(*events);
  EXPECT_EQ(e.previous_status(), v1::DEAL_STATUS_RETURNED);
  EXPECT_EQ(e.status(), v1::DEAL_STATUS_PENDING_APPROVAL);
  world_.Given(*events);
  EXPECT_TRUE(world_.On("d1", ApproveDeal{""}, Now()).ok());
}

// ---------------------------------------------------------------------------
// Updates and optimistic concurrency
// ---------------------------------------------------------------------------

TEST_F(PendingDealTest, UpdateWithStaleVersionIsAborted) {
  v1::UpdateDealRequest u;
  u.set_expected_version(7);
  auto events = world_.On("d1", UpdateDeal{u, {}, {}}, Now());
  EXPECT_EQ(events.status().code(), absl::StatusCode::kAborted);
}

TEST_F(PendingDealTest, UpdateChangesStageAmountAndDateAndKeepsTheDealAlive) {
  clock_.Advance(absl::Hours(24 * 20));
  v1::UpdateDealRequest u;
  u.set_expected_version(1);
  u.set_stage(v1::DEAL_STAGE_NEGOTIATION);
  *u.mutable_amount() = Usd(7000);
  u.set_expected_close_date("2026-04-30");
  auto events = world_.On("d1", UpdateDeal{u, {}, {}}, Now());
  ASSERT_TRUE(events.ok()) << events.status();
  world_.Given(*events);
  const v1::Deal& d = world_.deals["d1"];
  EXPECT_EQ(d.version(), 2u);
  EXPECT_EQ(d.stage(), v1::DEAL_STAGE_NEGOTIATION);
  EXPECT_EQ(d.amount().amount_micros(), 7000'000000);
  EXPECT_EQ(d.expected_close_date(), "2026-04-30");
  EXPECT_EQ(FromProtoTime(d.expires_at()), clock_.Now() + absl::Hours(24 * 30));
}

TEST_F(PendingDealTest, UpdateReplacingLinesRecomputesAmountAndProductKeys) {
  v1::UpdateDealRequest u;
  u.set_expected_version(1);
  u.set_replace_lines(true);
  *u.add_lines() = Line("storage", 20, 500);
  *u.add_lines() = Line("Compute", 2, 1000);
  auto events = world_.On("d1", UpdateDeal{u, {}, {}}, Now());
  ASSERT_TRUE(events.ok()) << events.status();
  world_.Given(*events);
  EXPECT_EQ(world_.deals["d1"].amount().amount_micros(), 12000'000000);
  EXPECT_EQ(world_.deals["d1"].total_units(), 22);
  EXPECT_THAT(world_.deals["d1"].product_keys(), ElementsAre("compute", "storage"));
  // The index follows: another partner now conflicts on compute too.
  auto other = world_.Register(
      "d2", Reg("partner-b", Customer("Acme", "US"), {Line("compute", 10, 500)}), Now());
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(Only<v1::DealRegistered>(*other).reasons(0).conflicting_deal_id(), "d1");
}

TEST_F(PendingDealTest, UpdateMayNotAddIneligibleOrAlreadyClaimedProducts) {
  auto recorded =
      world_.Direct(DirectOpp("opp-1", Customer("Acme", "US"), {"compute"}), Now("crm"));
  ASSERT_TRUE(recorded.ok());
  world_.Given(*recorded);
  v1::UpdateDealRequest u;
  u.set_expected_version(1);
  u.set_replace_lines(true);
  *u.add_lines() = Line("printers", 20, 500);
  auto ineligible = world_.On("d1", UpdateDeal{u, {}, {}}, Now());
  EXPECT_EQ(ineligible.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(ineligible.status().message(), HasSubstr("not eligible"));
  *u.mutable_lines(0) = Line("compute", 20, 500);
  auto claimed = world_.On("d1", UpdateDeal{u, {}, {}}, Now());
  EXPECT_EQ(claimed.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(claimed.status().message(), HasSubstr("opp-1"));
}

TEST_F(PendingDealTest, UpdateInAnotherCurrencyIsInvalidArgument) {
  v1::UpdateDealRequest u;
  u.set_expected_version(1);
  *u.mutable_amount() = Eur(100);
  auto events = world_.On("d1", UpdateDeal{u, {}, {}}, Now());
  EXPECT_EQ(events.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(core::GetFieldViolations(events.status()),
              ElementsAre(Pair("amount.currency_code", HasSubstr("USD"))));
}

TEST_F(DealRegistrationDomainTest, UnknownDealIsNotFound) {
  auto events = world_.On("nope", ApproveDeal{""}, Now());
  EXPECT_EQ(events.status().code(), absl::StatusCode::kNotFound);
}

// ---------------------------------------------------------------------------
// Expiry, driven by the fake clock
// ---------------------------------------------------------------------------

TEST_F(DealRegistrationDomainTest, RegistrationExpiresAfterTheProgrammesDaysWithoutUpdate) {
  GivenRules(BaseRules());
  GivenRegistered("d1", Reg("partner-a", Customer("Acme", "US")));
  clock_.Advance(absl::Hours(24 * 30) - absl::Seconds(1));
  auto early = world_.On("d1", ExpireDeal{}, Now("sweeper"));
  EXPECT_EQ(early.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(early.status().message(), HasSubstr("not due"));

  clock_.Advance(absl::Seconds(1));
  auto events = world_.On("d1", ExpireDeal{}, Now("sweeper"));
  ASSERT_TRUE(events.ok()) << events.status();
  const auto& e = Only<v1::DealExpired>(*events);
  EXPECT_EQ(e.previous_status(), v1::DEAL_STATUS_APPROVED);
  EXPECT_EQ(e.keys().customer_key(), "US|acme");
  world_.Given(*events);
  EXPECT_EQ(world_.deals["d1"].status(), v1::DEAL_STATUS_EXPIRED);

  // Expiry frees the customer for another partner.
  auto other = world_.Register("d2", Reg("partner-b", Customer("Acme Corp", "US")), Now());
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(Only<v1::DealRegistered>(*other).status(), v1::DEAL_STATUS_APPROVED);
}

TEST_F(DealRegistrationDomainTest, UpdatePostponesExpiry) {
  GivenRules(BaseRules());
  GivenRegistered("d1", Reg("partner-a", Customer("Acme", "US")));
  clock_.Advance(absl::Hours(24 * 20));
  v1::UpdateDealRequest u;
  u.set_expected_version(1);
  GivenOn("d1", UpdateDeal{u, {}, {}}, "partner-portal");
  clock_.Advance(absl::Hours(24 * 15));  // day 35: 15 days after the update
  EXPECT_EQ(world_.On("d1", ExpireDeal{}, Now()).status().code(),
            absl::StatusCode::kFailedPrecondition);
  clock_.Advance(absl::Hours(24 * 15));  // day 50
  EXPECT_TRUE(world_.On("d1", ExpireDeal{}, Now()).ok());
}

TEST_F(DealRegistrationDomainTest, ExpiryDaysComeFromTheRulesAtRegistration) {
  v1::ProgramRules r = BaseRules();
  r.set_expiry_days(90);
  GivenRules(r);
  v1::Deal d = GivenRegistered("d1", Reg("partner-a", Customer("Acme", "US")));
  EXPECT_EQ(d.expiry_days(), 90);
  GivenRules(BaseRules());  // back to the 30-day default; d1 keeps its 90 days
  clock_.Advance(absl::Hours(24 * 60));
  EXPECT_EQ(world_.On("d1", ExpireDeal{}, Now()).status().code(),
            absl::StatusCode::kFailedPrecondition);
  clock_.Advance(absl::Hours(24 * 30));
  EXPECT_TRUE(world_.On("d1", ExpireDeal{}, Now()).ok());
}

TEST_F(DealRegistrationDomainTest, ClosedOrExpiredRegistrationsDoNotExpireOrUpdate) {
  GivenRules(BaseRules());
  GivenRegistered("d1", Reg("partner-a", Customer("Acme", "US")));
  clock_.Advance(absl::Hours(24 * 31));
  GivenOn("d1", ExpireDeal{});
  EXPECT_EQ(world_.On("d1", ExpireDeal{}, Now()).status().code(),
            absl::StatusCode::kFailedPrecondition);
  v1::UpdateDealRequest u;
  u.set_expected_version(2);
  EXPECT_EQ(world_.On("d1", UpdateDeal{u, {}, {}}, Now()).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

// ---------------------------------------------------------------------------
// Closing
// ---------------------------------------------------------------------------

TEST_F(DealRegistrationDomainTest, WonDealCarriesWhatCompensationNeeds) {
  GivenRules(BaseRules());
  GivenRegistered("d1", Reg("partner-a", Customer("Acme", "US")));
  v1::CloseDealRequest won;
  won.set_outcome(v1::CLOSE_OUTCOME_WON);
  *won.mutable_final_amount() = Usd(5200);
  auto events = world_.On("d1", CloseDeal{won}, Now("partner-portal"));
  ASSERT_TRUE(events.ok()) << events.status();
  const auto& e = Only<v1::DealClosed>(*events);
  EXPECT_EQ(e.status(), v1::DEAL_STATUS_WON);
  EXPECT_EQ(e.final_amount().amount_micros(), 5200'000000);
  EXPECT_TRUE(e.registration_approved());
  EXPECT_EQ(e.benefits().extra_margin_bps(), 300);
  EXPECT_EQ(e.keys().lead_id(), "lead-7");
  EXPECT_EQ(e.keys().partner_id(), "partner-a");
  world_.Given(*events);
  EXPECT_EQ(world_.deals["d1"].status(), v1::DEAL_STATUS_WON);
  // A closed deal no longer holds the customer.
  EXPECT_THAT(world_.ClaimsOn(Customer("Acme", "US")), IsEmpty());
}

TEST_F(DealRegistrationDomainTest, LostDealAndCloseRules) {
  GivenRules(BaseRules());
  GivenRegistered("d1", Reg("partner-a", Customer("Acme", "US")));
  v1::CloseDealRequest won;
  won.set_outcome(v1::CLOSE_OUTCOME_WON);
  *won.mutable_final_amount() = Eur(5200);
  EXPECT_EQ(world_.On("d1", CloseDeal{won}, Now()).status().code(),
            absl::StatusCode::kInvalidArgument);
  v1::CloseDealRequest lost;
  lost.set_outcome(v1::CLOSE_OUTCOME_LOST);
  lost.set_lost_reason("went with a competitor");
  auto events = world_.On("d1", CloseDeal{lost}, Now());
  ASSERT_TRUE(events.ok());
  EXPECT_EQ(Only<v1::DealClosed>(*events).status(), v1::DEAL_STATUS_LOST);
  EXPECT_EQ(Only<v1::DealClosed>(*events).lost_reason(), "went with a competitor");
  world_.Given(*events);
  EXPECT_EQ(world_.On("d1", CloseDeal{lost}, Now()).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

// ---------------------------------------------------------------------------
// Special pricing
// ---------------------------------------------------------------------------

class SpecialPricingTest : public DealRegistrationDomainTest {
 protected:
  void SetUp() override {
    GivenRules(BaseRules());
    // Two lines: 10 x USD 500 storage + 4 x USD 250 compute = USD 6,000 list.
    GivenRegistered("d1", Reg("partner-a", Customer("Acme", "US"),
                              {Line("storage", 10, 500), Line("compute", 4, 250)}));
  }
  static v1::RequestSpecialPricingRequest Bps(int32_t bps) {
    v1::RequestSpecialPricingRequest r;
    r.set_discount_bps(bps);
    r.set_competitor("Initech");
    r.set_justification("competitive bid");
    return r;
  }
  static v1::DecideSpecialPricingRequest Decision(const std::string& role, bool approve) {
    v1::DecideSpecialPricingRequest r;
    r.set_spa_id("spa-1");
    r.set_approve(approve);
    r.set_approver_role(role);
    r.set_reason("ok");
    return r;
  }
};

TEST_F(SpecialPricingTest, DiscountAtOrBelowTheLowestTierIsAutoApproved) {
  auto events = world_.On("d1", RequestSpecialPricing{Bps(500), {}}, Now());
  ASSERT_TRUE(events.ok()) << events.status();
  const auto& spa = Only<v1::SpecialPricingRequested>(*events).request();
  EXPECT_EQ(spa.status(), v1::SPECIAL_PRICING_STATUS_APPROVED);
  EXPECT_EQ(spa.decided_by(), kAutoDecider);
  EXPECT_EQ(spa.spa_id(), "spa-1");
  EXPECT_EQ(spa.discount_amount().amount_micros(), 300'000000);  // 5% of USD 6,000
}

TEST_F(SpecialPricingTest, DiscountIsRoutedToTheTiersRole) {
  auto t1 = world_.On("d1", RequestSpecialPricing{Bps(501), {}}, Now());
  ASSERT_TRUE(t1.ok());
  EXPECT_EQ(Only<v1::SpecialPricingRequested>(*t1).request().status(),
            v1::SPECIAL_PRICING_STATUS_PENDING);
  EXPECT_EQ(Only<v1::SpecialPricingRequested>(*t1).request().approver_role(), "channel_manager");
  auto t2 = world_.On("d1", RequestSpecialPricing{Bps(2000), {}}, Now());
  ASSERT_TRUE(t2.ok());
  EXPECT_EQ(Only<v1::SpecialPricingRequested>(*t2).request().approver_role(), "director");
  EXPECT_EQ(Only<v1::SpecialPricingRequested>(*t2).request().tier_max_discount_bps(), 3000);
}

TEST_F(SpecialPricingTest, DiscountAboveTheTopTierIsRejected) {
  auto events = world_.On("d1", RequestSpecialPricing{Bps(3001), {}}, Now());
  ASSERT_TRUE(events.ok());
  const auto& spa = Only<v1::SpecialPricingRequested>(*events).request();
  EXPECT_EQ(spa.status(), v1::SPECIAL_PRICING_STATUS_REJECTED);
  EXPECT_THAT(spa.decision_reason(), HasSubstr("above the top tier"));
}

TEST_F(SpecialPricingTest, UnitPricesPerLineUseTheDeepestLineDiscountForTheTier) {
  v1::RequestSpecialPricingRequest r = Bps(0);
  r.clear_discount_bps();
  auto* p = r.mutable_line_prices()->add_prices();
  p->set_line_index(1);
  *p->mutable_unit_price() = Usd(200);  // 20% off compute: 4 x 50 = USD 200
  auto events = world_.On("d1", RequestSpecialPricing{r, {}}, Now());
  ASSERT_TRUE(events.ok()) << events.status();
  const auto& spa = Only<v1::SpecialPricingRequested>(*events).request();
  EXPECT_EQ(spa.effective_discount_bps(), 2000);
  EXPECT_EQ(spa.discount_amount().amount_micros(), 200'000000);
  EXPECT_EQ(spa.approver_role(), "director");
}

TEST_F(SpecialPricingTest, UnitPriceAboveListOrUnknownLineIsInvalidArgument) {
  v1::RequestSpecialPricingRequest r = Bps(0);
  r.clear_discount_bps();
  auto* p = r.mutable_line_prices()->add_prices();
  p->set_line_index(0);
  *p->mutable_unit_price() = Usd(501);
  auto* q = r.mutable_line_prices()->add_prices();
  q->set_line_index(5);
  *q->mutable_unit_price() = Usd(1);
  auto events = world_.On("d1", RequestSpecialPricing{r, {}}, Now());
  EXPECT_EQ(events.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(core::GetFieldViolations(events.status()),
              ElementsAre(Pair("line_prices.prices[0].unit_price", HasSubstr("list price")),
                          Pair("line_prices.prices[1].line_index", HasSubstr("2 lines"))));
}

TEST_F(SpecialPricingTest, ApproverRoleIsCheckedAgainstTheTier) {
  GivenOn("d1", RequestSpecialPricing{Bps(2000), {}});
  auto low =
      world_.On("d1", DecideSpecialPricing{Decision("channel_manager", true), {}}, Now("cm-1"));
  EXPECT_EQ(low.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(low.status().message(), HasSubstr("director"));
  auto ok = world_.On("d1", DecideSpecialPricing{Decision("director", true), {}}, Now("dir-1"));
  ASSERT_TRUE(ok.ok()) << ok.status();
  const auto& e = Only<v1::SpecialPricingDecided>(*ok);
  EXPECT_TRUE(e.approved());
  EXPECT_EQ(e.decided_by(), "dir-1");
  EXPECT_EQ(e.discount_amount().amount_micros(), 1200'000000);
  world_.Given(*ok);
  EXPECT_EQ(CommittedSpecialPricing(world_.deals["d1"])->spa_id(), "spa-1");
}

TEST_F(SpecialPricingTest, AHigherTiersRoleMayDecideALowerTier) {
  GivenOn("d1", RequestSpecialPricing{Bps(1000), {}});
  EXPECT_TRUE(world_.On("d1", DecideSpecialPricing{Decision("director", false), {}}, Now()).ok());
}

TEST_F(SpecialPricingTest, OnlyPendingRequestsAreDecidedAndOneAtATime) {
  GivenOn("d1", RequestSpecialPricing{Bps(1000), {}});
  EXPECT_EQ(world_.On("d1", RequestSpecialPricing{Bps(800), {}}, Now()).status().code(),
            absl::StatusCode::kFailedPrecondition);
  GivenOn("d1", DecideSpecialPricing{Decision("channel_manager", true), {}});
  EXPECT_EQ(world_.On("d1", DecideSpecialPricing{Decision("channel_manager", true), {}}, Now())
                .status()
                .code(),
            absl::StatusCode::kFailedPrecondition);
  v1::DecideSpecialPricingRequest unknown = Decision("director", true);
  unknown.set_spa_id("spa-9");
  EXPECT_EQ(world_.On("d1", DecideSpecialPricing{unknown, {}}, Now()).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(SpecialPricingTest, ForecastCountsCommittedMoneyWeightedByStage) {
  GivenOn("d1", RequestSpecialPricing{Bps(500), {}});  // auto-approved USD 300
  const absl::CivilDay q1_start(2026, 1, 1), q1_end(2026, 4, 1);
  auto open = ForecastItemOf(world_.deals["d1"], q1_start, q1_end);
  ASSERT_TRUE(open.has_value());
  EXPECT_EQ(open->committed().amount_micros(), 300'000000);
  EXPECT_EQ(open->weight_bps(), 1000);
  EXPECT_EQ(open->weighted().amount_micros(), 30'000000);
  // Outside the period (close date 2026-03-31): not counted.
  EXPECT_FALSE(
      ForecastItemOf(world_.deals["d1"], absl::CivilDay(2026, 4, 1), absl::CivilDay(2026, 7, 1))
          .has_value());
  v1::UpdateDealRequest u;
  u.set_expected_version(world_.deals["d1"].version());
  u.set_stage(v1::DEAL_STAGE_COMMIT);
  GivenOn("d1", UpdateDeal{u, {}, {}}, "partner-portal");
  EXPECT_EQ(ForecastItemOf(world_.deals["d1"], q1_start, q1_end)->weighted().amount_micros(),
            270'000000);

  v1::CloseDealRequest won;
  won.set_outcome(v1::CLOSE_OUTCOME_WON);
  *won.mutable_final_amount() = Usd(5700);
  GivenOn("d1", CloseDeal{won}, "partner-portal");
  auto closed = ForecastItemOf(world_.deals["d1"], q1_start, q1_end);
  ASSERT_TRUE(closed.has_value());
  EXPECT_EQ(closed->weight_bps(), 10000);
  EXPECT_EQ(closed->weighted().amount_micros(), 300'000000);

  auto totals = ForecastTotals({*closed, *open});
  ASSERT_THAT(totals, SizeIs(1));
  EXPECT_EQ(totals[0].committed().amount_micros(), 600'000000);
  EXPECT_EQ(totals[0].weighted().amount_micros(), 330'000000);
  EXPECT_EQ(totals[0].won_deals(), 1);
  EXPECT_EQ(totals[0].open_deals(), 1);
}

TEST_F(SpecialPricingTest, DealWithoutApprovedSpaIsNotInTheForecast) {
  GivenOn("d1", RequestSpecialPricing{Bps(1000), {}});  // pending
  EXPECT_FALSE(
      ForecastItemOf(world_.deals["d1"], absl::CivilDay(2026, 1, 1), absl::CivilDay(2026, 4, 1))
          .has_value());
}

// ---------------------------------------------------------------------------
// Request shape validation
// ---------------------------------------------------------------------------

std::vector<std::string> Fields(const absl::Status& st) {
  std::vector<std::string> out;
  for (const auto& [f, reason] : core::GetFieldViolations(st)) out.push_back(f);
  return out;
}

TEST(DealRegistrationValidationTest, WellFormedRegistrationPasses) {
  EXPECT_TRUE(ValidateRegisterDeal(Reg("partner-a", Customer("Acme", "US"))).ok());
}

TEST(DealRegistrationValidationTest, EachMalformedFieldIsNamed) {
  struct Case {
    const char* name;
    std::function<void(v1::RegisterDealRequest&)> mutate;
    std::string field;
  };
  std::vector<Case> cases = {
      {"missing partner", [](auto& r) { r.clear_partner_id(); }, "partner_id"},
      {"missing request id", [](auto& r) { r.clear_request_id(); }, "request_id"},
      {"missing programme", [](auto& r) { r.clear_program_id(); }, "program_id"},
      {"zero quantity", [](auto& r) { r.mutable_lines(0)->set_quantity(0); }, "lines[0].quantity"},
      {"negative quantity", [](auto& r) { r.mutable_lines(0)->set_quantity(-3); },
       "lines[0].quantity"},
      {"price without currency",
       [](auto& r) { r.mutable_lines(0)->mutable_unit_price()->clear_currency_code(); },
       "lines[0].unit_price.currency_code"},
      {"missing price", [](auto& r) { r.mutable_lines(0)->clear_unit_price(); },
       "lines[0].unit_price"},
      {"negative price",
       [](auto& r) { r.mutable_lines(0)->mutable_unit_price()->set_amount_micros(-1); },
       "lines[0].unit_price.amount_micros"},
      {"mixed currencies",
       [](auto& r) {
         *r.add_lines() = Line("compute", 1, 10);
         *r.mutable_lines(1)->mutable_unit_price() = Eur(10);
       },
       "lines[1].unit_price.currency_code"},
      {"no product", [](auto& r) { r.mutable_lines(0)->clear_product_line(); },
       "lines[0].product_line"},
      {"no lines", [](auto& r) { r.clear_lines(); }, "lines"},
      {"unknown stage", [](auto& r) { r.set_stage(static_cast<v1::DealStage>(99)); }, "stage"},
      {"over-long customer name",
       [](auto& r) { r.mutable_end_customer()->set_name(std::string(201, 'a')); },
       "end_customer.name"},
      {"over-long partner id", [](auto& r) { r.set_partner_id(std::string(129, 'p')); },
       "partner_id"},
      {"missing country",
       [](auto& r) { r.mutable_end_customer()->mutable_address()->clear_country_code(); },
       "end_customer.address.country_code"},
      {"unknown country",
       [](auto& r) { r.mutable_end_customer()->mutable_address()->set_country_code("XX"); },
       "end_customer.address.country_code"},
      {"bad email domain", [](auto& r) { r.mutable_end_customer()->set_email_domain("nodot"); },
       "end_customer.email_domain"},
      {"bad close date", [](auto& r) { r.set_expected_close_date("2026-02-30"); },
       "expected_close_date"},
      {"missing close date", [](auto& r) { r.clear_expected_close_date(); }, "expected_close_date"},
      {"missing contact", [](auto& r) { r.clear_partner_contact(); }, "partner_contact"},
      {"bad account type",
       [](auto& r) { r.mutable_end_customer()->set_account_type("gov ernment"); },
       "end_customer.account_type"},
      // Field names joined only on a violation (validation.cc, FieldName).
      {"over-long address line",
       [](auto& r) {
         r.mutable_end_customer()->mutable_address()->set_line1(std::string(201, 'a'));
       },
       "end_customer.address.line1"},
      {"over-long city",
       [](auto& r) {
         r.mutable_end_customer()->mutable_address()->set_city(std::string(201, 'c'));
       },
       "end_customer.address.city"},
      {"over-long region",
       [](auto& r) {
         r.mutable_end_customer()->mutable_address()->set_region(std::string(65, 'r'));
       },
       "end_customer.address.region"},
      {"over-long postal code",
       [](auto& r) {
         r.mutable_end_customer()->mutable_address()->set_postal_code(std::string(33, '1'));
       },
       "end_customer.address.postal_code"},
      {"blank contact name", [](auto& r) { r.mutable_partner_contact()->set_name("  "); },
       "partner_contact.name"},
      {"over-long contact phone",
       [](auto& r) { r.mutable_partner_contact()->set_phone(std::string(65, '5')); },
       "partner_contact.phone"},
      {"sku with a space", [](auto& r) { r.mutable_lines(0)->set_sku("net 100"); }, "lines[0].sku"},
      {"over-long product line",
       [](auto& r) { r.mutable_lines(0)->set_product_line(std::string(201, 'p')); },
       "lines[0].product_line"},
      {"request id with a space", [](auto& r) { r.set_request_id("req 1"); }, "request_id"},
  };
  for (const Case& c : cases) {
    v1::RegisterDealRequest r = Reg("partner-a", Customer("Acme", "US"));
    c.mutate(r);
    absl::Status st = ValidateRegisterDeal(r);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << c.name;
    EXPECT_THAT(Fields(st), ElementsAre(c.field)) << c.name << ": " << st;
  }
}

TEST(DealRegistrationValidationTest, MoreThanAThousandLinesIsRejectedAtOnce) {
  v1::RegisterDealRequest r = Reg("partner-a", Customer("Acme", "US"));
  for (int i = 0; i < 1000; ++i) *r.add_lines() = Line("storage", 1, 1);
  absl::Status st = ValidateRegisterDeal(r);
  EXPECT_THAT(Fields(st), ElementsAre("lines"));
  EXPECT_THAT(st.message(), HasSubstr("at most 1000"));
}

TEST(DealRegistrationValidationTest, AllViolationsAreReportedTogether) {
  v1::RegisterDealRequest r = Reg("partner-a", Customer("Acme", "US"));
  r.clear_partner_id();
  r.mutable_lines(0)->set_quantity(0);
  EXPECT_THAT(Fields(ValidateRegisterDeal(r)), ElementsAre("partner_id", "lines[0].quantity"));
}

TEST(DealRegistrationValidationTest, OtherRequestsNameTheirFields) {
  v1::UpdateDealRequest u;
  u.set_request_id("r");
  u.set_deal_id("d1");
  EXPECT_THAT(Fields(ValidateUpdateDeal(u)), ElementsAre("expected_version"));
  u.set_expected_version(1);
  *u.add_lines() = Line("storage", 1, 1);
  EXPECT_THAT(Fields(ValidateUpdateDeal(u)), ElementsAre("lines"));

  v1::CloseDealRequest c;
  c.set_request_id("r");
  c.set_deal_id("d1");
  c.set_outcome(v1::CLOSE_OUTCOME_WON);
  EXPECT_THAT(Fields(ValidateCloseDeal(c)), ElementsAre("final_amount"));
  c.set_outcome(static_cast<v1::CloseOutcome>(7));
  EXPECT_THAT(Fields(ValidateCloseDeal(c)), ElementsAre("outcome"));

  v1::RejectDealRequest rej;
  rej.set_request_id("r");
  rej.set_deal_id("d1");
  EXPECT_THAT(Fields(ValidateRejectDeal(rej)), ElementsAre("reason"));
  rej.set_reason(std::string(2001, 'x'));
  EXPECT_THAT(Fields(ValidateRejectDeal(rej)), ElementsAre("reason"));

  v1::RequestSpecialPricingRequest spa;
  spa.set_request_id("r");
  spa.set_deal_id("d1");
  spa.set_justification("j");
  EXPECT_THAT(Fields(ValidateRequestSpecialPricing(spa)), ElementsAre("discount_bps"));
  spa.set_discount_bps(10001);
  EXPECT_THAT(Fields(ValidateRequestSpecialPricing(spa)), ElementsAre("discount_bps"));

  v1::ListDealsRequest list;
  list.set_page_size(501);
  list.set_page_token("%%%");
  list.set_status(static_cast<v1::DealStatus>(40));
  EXPECT_THAT(Fields(ValidateListDeals(list)), ElementsAre("status", "page_size", "page_token"));

  v1::RecordDirectOpportunityRequest d;
  d.set_request_id("r");
  d.set_opportunity_id("o");
  d.set_owner_rep_id("rep");
  *d.mutable_end_customer() = Customer("Acme", "US");
  EXPECT_THAT(Fields(ValidateRecordDirectOpportunity(d)), ElementsAre("product_lines"));

  v1::ForecastSpecialPricingRequest f;
  f.mutable_period()->set_start_date("2026-04-01");
  f.mutable_period()->set_end_date("2026-01-01");
  EXPECT_THAT(Fields(ValidateForecastSpecialPricing(f)), ElementsAre("period.end_date"));
}

}  // namespace
}  // namespace channelops::dealreg::domain
