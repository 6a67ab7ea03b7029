// libFuzzer target: compensation's request validation and decision path
// (services/compensation/compensation_service.cc), and the crediting rules of
// its domain (crediting.h, resolve.h) as services/projections applies them to a
// sale, structured by the channelops.comp.v1 request protos and the
// channelops.pos.v1.PosLine a sale comes from (input format: request_fuzz.h).
//
// Each step is one request: PublishPlan, AssignRole, ClosePeriod (with the
// plan-version snapshot read from rm_plan_versions, as the handler does); a
// Credit of a sale line: the plan in force on its day (VersionInForce,
// SelectPlan), its payees from the assignments in force (channel account
// manager and distributor rep by partner, inside sales by the most specific
// territory, direct rep by named account), then ComputeCredits; or a Tick that
// moves the store clock. Valid requests go through the handler's load ->
// Decide -> Evolve -> read-model update, in memory.
//
// Invariants after every step: validation fails only with INVALID_ARGUMENT,
// Decide only with FAILED_PRECONDITION (ClosePeriod); every append's expected
// version matches its stream; an assignment's entries are ordered and its
// version is its stream's; a repeated assignment has an entry in force;
// periods close in order, each after it ended; credits are never negative,
// never more than the revenue credited to the role, the split revenue is the
// role's share of the sale (to the micro), component keys are unique, and the
// returned share of a credit grows with the units returned up to the whole.
//
//   comp_fuzz -max_len=8192 CORPUS_DIR tests/fuzz/seeds/comp

#include <map>
#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "channelops/core/check.h"
#include "channelops/core/money.h"
#include "channelops/core/normalize.h"
#include "channelops/pos/v1/pos.pb.h"
#include "compensation/domain/convert.h"
#include "compensation/domain/crediting.h"
#include "compensation/domain/decider.h"
#include "compensation/domain/resolve.h"
#include "compensation/domain/validation.h"
#include "request_fuzz.h"

namespace channelops::comp {
namespace {

using absl::StatusCode;
using fuzz::CheckCode;
using fuzz::Parse;
using fuzz::Step;

enum Kind : uint8_t { kPublish, kAssign, kClosePeriod, kCredit, kTick, kKinds };

constexpr char kActor[] = "fuzz";
const absl::Time kStart = absl::FromUnixSeconds(1767225600);  // 2026-01-01T00:00:00Z

class Harness : public fuzz::HarnessBase<Harness> {
 public:
  explicit Harness(bool strict) : HarnessBase(strict, kStart) {}

 private:
  friend class fuzz::HarnessBase<Harness>;
  void RunStep(const Step& step) {
    switch (step.kind % kKinds) {
      case kPublish:
        return Publish(step);
      case kAssign:
        return Assign(step);
      case kClosePeriod:
        return ClosePeriod(step);
      case kCredit:
        return Credit(step);
      case kTick:
        now_ += fuzz::HoursOf(step.payload);
        return;
    }
  }

  void Append(const std::string& stream, int64_t expected, size_t n) {
    uint64_t& version = streams_[stream];
    CHANNELOPS_CHECK(expected == -1 || static_cast<uint64_t>(expected) == version)
        << "append to " << stream << " expects version " << expected << ", stream is at "
        << version;
    version += n;
  }

  // ---- commands ----

  void Publish(const Step& step) {
    v1::PublishPlanRequest r;
    if (!Load(step, &r, domain::ValidatePublishPlan)) return;
    const std::string& id = r.plan().plan_id();
    const v1::Plan state = plans_.count(id) ? plans_[id] : v1::Plan();
    auto events = domain::Decide(state, domain::PublishPlan{r.plan()}, Ctx());
    CheckCode(events.status(), {}, "Decide(PublishPlan)");
    CHANNELOPS_CHECK(events->size() == 1);
    v1::Plan after = state;
    for (const auto& e : *events) after = domain::Evolve(std::move(after), e);
    Append(domain::PlanStream(id), static_cast<int64_t>(state.version()), events->size());
    CHANNELOPS_CHECK(after.version() == state.version() + 1 && after.plan_id() == id);
    plans_[id] = after;
    plan_versions_[{id, after.version()}] = after;
  }

  void Assign(const Step& step) {
    v1::AssignRoleRequest r;
    if (!Load(step, &r, domain::ValidateAssignRole)) return;
    const std::string id =
        domain::AssignmentId(r.role(), domain::TargetKey(r.target()), r.target().target_case());
    const v1::Assignment state = assignments_.count(id) ? assignments_[id] : v1::Assignment();
    auto events = domain::Decide(state, domain::AssignRole{r}, Ctx());
    CheckCode(events.status(), {}, "Decide(AssignRole)");
    if (events->empty()) {
      const v1::AssignmentEntry* e =
          domain::EntryInForce(state, *domain::ParseDate(r.effective_from()));
      CHANNELOPS_CHECK(e != nullptr) << "a repeat has an entry in force";
      CHANNELOPS_CHECK(e->payee_id() == r.payee_id());
      return;
    }
    CHANNELOPS_CHECK(events->size() == 1);
    v1::Assignment after = state;
    for (const auto& e : *events) after = domain::Evolve(std::move(after), e);
    Append(domain::AssignmentStream(id), state.entries_size(), events->size());
    CHANNELOPS_CHECK(after.assignment_id() == id) << after.assignment_id() << " != " << id;
    assignments_[id] = after;
    // The entry just recorded is the one in force on its day.
    const v1::AssignmentEntry* now_in_force =
        domain::EntryInForce(after, *domain::ParseDate(r.effective_from()));
    CHANNELOPS_CHECK(now_in_force != nullptr && now_in_force->payee_id() == r.payee_id())
        << "assignment " << id << " does not hold what was just assigned";
  }

  void ClosePeriod(const Step& step) {
    v1::ClosePeriodRequest r;
    if (!Load(step, &r, domain::ValidateClosePeriod)) return;
    std::vector<v1::Plan> versions;  // AllPlanVersions: by plan id, then version
    for (const auto& [key, plan] : plan_versions_) versions.push_back(plan);
    auto events = domain::Decide(calendar_, domain::ClosePeriod{r.period_id(), versions}, Ctx());
    CheckCode(events.status(), {StatusCode::kFailedPrecondition}, "Decide(ClosePeriod)");
    if (!events.ok()) return Refused(step, events.status());
    CHANNELOPS_CHECK(events->size() == 1);
    const v1::PeriodCalendar before = calendar_;
    for (const auto& e : *events) calendar_ = domain::Evolve(std::move(calendar_), e);
    Append(domain::PeriodStream(r.period_id()), 0, events->size());
    const v1::Period& period = std::get<v1::PeriodClosed>(events->front()).period();
    CHANNELOPS_CHECK(period.status() == v1::PERIOD_STATUS_CLOSED);
    CHANNELOPS_CHECK(domain::DayOf(now_) >= *domain::ParseDate(period.end_date()))
        << "period " << r.period_id() << " closed before it ended";
    CHANNELOPS_CHECK(before.last_closed().empty() ||
                     domain::NextPeriodId(before.last_closed()) == r.period_id())
        << "period " << r.period_id() << " closed after " << before.last_closed();
    for (const auto& ref : period.plan_versions()) {
      CHANNELOPS_CHECK(plan_versions_.count({ref.plan_id(), ref.version()}))
          << "snapshot names an unknown plan version";
    }
    periods_[r.period_id()] = period;
    // GetPeriod of the period just closed and of the one after.
    CHANNELOPS_CHECK(domain::PeriodView(r.period_id(), calendar_, &period).status() ==
                     v1::PERIOD_STATUS_CLOSED);
    CHANNELOPS_CHECK(
        domain::PeriodView(period.adjustments_period_id(), calendar_, nullptr).status() ==
        v1::PERIOD_STATUS_OPEN);
  }

  // The payee of an assignment on `day`, as a credit party ("" payee: none).
  void AddParty(v1::Role role, const std::string& assignment_id, absl::CivilDay day,
                std::vector<domain::CreditParty>& parties) const {
    auto it = assignments_.find(assignment_id);
    if (it == assignments_.end()) return;
    const std::string payee = domain::PayeeOn(it->second, day);
    if (payee.empty()) return;
    parties.push_back(domain::CreditParty{role, payee, assignment_id});
  }

  void Credit(const Step& step) {
    pos::v1::PosLine line;
    if (!Parse(step, &line)) return Refused(step, absl::InvalidArgumentError("unparseable"));
    // What a sale line the projections credit carries (pos_ingestion validated it).
    auto day = domain::ParseDate(line.date());
    auto revenue = core::Money::FromProto(line.extended_amount(), "extended_amount");
    if (!day || !revenue.ok() || revenue->is_negative() || line.quantity() <= 0 ||
        line.partner_id().empty()) {
      return Refused(step, absl::InvalidArgumentError("not a sale line"));
    }
    // The plan in force: one version per plan, then the most specific that applies.
    std::map<std::string, std::vector<v1::Plan>> by_plan;
    for (const auto& [key, plan] : plan_versions_) by_plan[key.first].push_back(plan);
    std::vector<const v1::Plan*> in_force;
    for (const auto& [id, versions] : by_plan) {
      if (const v1::Plan* p = domain::VersionInForce(versions, *day)) in_force.push_back(p);
    }
    const std::string product = domain::NormalizeProductLine(line.product_line());
    const v1::Plan* plan =
        domain::SelectPlan(in_force, line.partner_id(), product, v1::CREDITING_BASIS_SELL_THROUGH);
    if (plan == nullptr) return Refused(step, absl::NotFoundError("no plan in force"));
    CHANNELOPS_CHECK(
        domain::PlanApplies(*plan, line.partner_id(), product, v1::CREDITING_BASIS_SELL_THROUGH));
    CHANNELOPS_CHECK(domain::ParseDate(plan->effective_from()) <= *day)
        << "plan " << plan->plan_id() << " selected before it took effect";
    if (revenue->currency() != plan->currency_code()) {
      return Refused(step, absl::InvalidArgumentError("revenue in another currency"));
    }

    std::vector<domain::CreditParty> parties;
    const auto target = v1::AssignmentTarget::kPartnerId;
    AddParty(v1::ROLE_CHANNEL_ACCOUNT_MANAGER,
             domain::AssignmentId(v1::ROLE_CHANNEL_ACCOUNT_MANAGER, line.partner_id(), target),
             *day, parties);
    AddParty(v1::ROLE_DISTRIBUTOR_REP,
             domain::AssignmentId(v1::ROLE_DISTRIBUTOR_REP, line.partner_id(), target), *day,
             parties);
    const auto& a = line.end_customer().address();
    std::optional<domain::CreditParty> isr;
    std::string isr_key;
    for (const auto& [id, assignment] : assignments_) {
      if (assignment.role() != v1::ROLE_INSIDE_SALES) continue;
      const std::string& territory = assignment.target_key();
      if (!domain::TerritoryContains(territory, a.country_code(), a.region(), a.postal_code())) {
        continue;
      }
      if (isr && !domain::MoreSpecificTerritory(territory, isr_key)) continue;
      const std::string payee = domain::PayeeOn(assignment, *day);
      if (payee.empty()) continue;
      isr = domain::CreditParty{v1::ROLE_INSIDE_SALES, payee, id};
      isr_key = territory;
    }
    if (isr) parties.push_back(*isr);
    const size_t before_direct = parties.size();
    for (const std::string& key : {core::CustomerKey(a.country_code(), line.end_customer().name()),
                                   core::DomainKey(line.end_customer().email_domain())}) {
      if (key.empty() || parties.size() != before_direct) continue;
      AddParty(v1::ROLE_DIRECT_REP,
               domain::AssignmentId(v1::ROLE_DIRECT_REP, key, v1::AssignmentTarget::kAccount), *day,
               parties);
    }

    domain::SaleForCredit sale(*revenue, line.partner_id());
    sale.registered = !line.deal_registration_id().empty();
    sale.deal_id = line.deal_registration_id();
    sale.carries_incentive = sale.registered && line.line_number() % 2 == 1;
    sale.parties = parties;
    auto credits = domain::ComputeCredits(*plan, sale);
    // The projector tolerates INVALID_ARGUMENT (the sale stays uncredited);
    // anything else would stop its batch.
    CheckCode(credits.status(), {StatusCode::kInvalidArgument}, "ComputeCredits");
    if (!credits.ok()) return Refused(step, credits.status());

    std::set<std::string> keys;
    for (const domain::CreditComponent& c : *credits) {
      CHANNELOPS_CHECK(keys.insert(c.key).second) << "component " << c.key << " twice";
      CHANNELOPS_CHECK(c.key == domain::ComponentKey(c.role, c.payee_id, c.kind));
      CHANNELOPS_CHECK(c.amount.currency() == plan->currency_code());
      CHANNELOPS_CHECK(!c.amount.is_negative() && !c.amount.is_zero()) << c.key;
      CHANNELOPS_CHECK(!c.credited_revenue.is_negative() &&
                       c.credited_revenue.micros() <= revenue->micros())
          << c.key << " credited " << c.credited_revenue << " of " << *revenue;
      if (c.kind != v1::CREDIT_KIND_INCENTIVE) {
        CHANNELOPS_CHECK(c.amount.micros() <= c.credited_revenue.micros())
            << c.key << " earns " << c.amount << " on " << c.credited_revenue;
      }
      if (c.split_mode == v1::SPLIT_MODE_SPLIT) {
        CHANNELOPS_CHECK(c.share_bps > 0 && c.share_bps < 10000);
        const __int128 exact = static_cast<__int128>(revenue->micros()) * c.share_bps;
        const __int128 got = static_cast<__int128>(c.credited_revenue.micros()) * 10000;
        CHANNELOPS_CHECK(got - exact < 10000 && exact - got < 10000)
            << c.key << ": " << c.credited_revenue << " is not " << c.share_bps << " bps of "
            << *revenue;
      } else {
        CHANNELOPS_CHECK(c.credited_revenue == *revenue) << c.key;
      }
      // Clawback of returns: the share grows with the units and ends at the whole.
      const int64_t q = line.quantity();
      core::Money previous = *core::Money::Create(c.amount.currency(), 0);
      for (int64_t returned : {int64_t{0}, q / 3, (2 * q) / 3, q}) {
        auto share = domain::ReturnedShare(c.amount, returned, q);
        CHANNELOPS_CHECK(share.ok()) << share.status();
        CHANNELOPS_CHECK(share->micros() >= previous.micros() &&
                         share->micros() <= c.amount.micros())
            << c.key << ": returned share of " << returned << "/" << q << " is " << *share;
        previous = *share;
      }
      CHANNELOPS_CHECK(previous == c.amount);
    }
  }

  // ---- invariants ----

  void CheckInvariants() const {
    for (const auto& [id, a] : assignments_) {
      auto stream = streams_.find(domain::AssignmentStream(id));
      CHANNELOPS_CHECK(stream != streams_.end() &&
                       stream->second == static_cast<uint64_t>(a.entries_size()))
          << "assignment " << id << " has " << a.entries_size() << " entries, its stream "
          << (stream == streams_.end() ? 0 : stream->second) << " events";
      for (int i = 1; i < a.entries_size(); ++i) {
        CHANNELOPS_CHECK(
            std::make_pair(a.entries(i - 1).effective_from(), a.entries(i - 1).version()) <
            std::make_pair(a.entries(i).effective_from(), a.entries(i).version()))
            << "assignment " << id << " entries out of order";
      }
    }
    for (const auto& [id, plan] : plans_) {
      CHANNELOPS_CHECK(streams_.at(domain::PlanStream(id)) == plan.version());
      CHANNELOPS_CHECK(plan_versions_.count({id, plan.version()}));
    }
    CHANNELOPS_CHECK(calendar_.last_closed().empty() == periods_.empty());
    if (!periods_.empty()) {
      CHANNELOPS_CHECK(calendar_.first_closed() == periods_.begin()->first &&
                       calendar_.last_closed() == periods_.rbegin()->first);
    }
  }

  domain::Context Ctx() const { return domain::Context{now_, kActor}; }

  std::map<std::string, v1::Plan> plans_;                               // rm_plans
  std::map<std::pair<std::string, uint64_t>, v1::Plan> plan_versions_;  // rm_plan_versions
  std::map<std::string, v1::Assignment> assignments_;                   // rm_assignments
  v1::PeriodCalendar calendar_;                                         // rm_periods ~calendar
  std::map<std::string, v1::Period> periods_;                           // rm_periods
  std::map<std::string, uint64_t> streams_;
};

// ---- seeds ----

common::v1::Money Usd(int64_t units) {
  common::v1::Money m;
  m.set_currency_code("USD");
  m.set_amount_micros(units * 1'000'000);
  return m;
}

v1::PublishPlanRequest Plan(const std::string& id, const std::string& from, bool scoped) {
  v1::PublishPlanRequest r;
  r.set_request_id(absl::StrCat("plan-", id, "-", from));
  v1::Plan* p = r.mutable_plan();
  p->set_plan_id(id);
  p->set_name("FY26 channel plan");
  p->set_currency_code("USD");
  p->set_effective_from(from);
  p->set_crediting_basis(v1::CREDITING_BASIS_SELL_THROUGH);
  for (auto [role, bps] :
       {std::make_pair(v1::ROLE_PARTNER, 500),
        std::make_pair(v1::ROLE_CHANNEL_ACCOUNT_MANAGER, 200),
        std::make_pair(v1::ROLE_INSIDE_SALES, 100), std::make_pair(v1::ROLE_DIRECT_REP, 300)}) {
    auto* rate = p->add_rates();
    rate->set_role(role);
    rate->set_rate_bps(bps);
  }
  auto* split = p->add_splits();
  split->set_first_role(v1::ROLE_DIRECT_REP);
  split->set_second_role(v1::ROLE_CHANNEL_ACCOUNT_MANAGER);
  split->set_mode(v1::SPLIT_MODE_SPLIT);
  split->set_first_share_bps(6000);
  split->set_second_share_bps(4000);
  auto* overlay = p->add_splits();
  overlay->set_first_role(v1::ROLE_INSIDE_SALES);
  overlay->set_second_role(v1::ROLE_PARTNER);
  overlay->set_mode(v1::SPLIT_MODE_OVERLAY);
  p->mutable_registered_deal_bonus()->set_extra_margin_bps(250);
  *p->mutable_registered_deal_bonus()->mutable_incentive() = Usd(100);
  p->set_hold_days(30);
  p->set_clawback_on_return(true);
  p->set_clawback_window_days(90);
  if (scoped) {
    p->mutable_scope()->add_partner_ids("partner-ny");
    p->mutable_scope()->add_product_lines("Storage");
  }
  return r;
}

v1::AssignRoleRequest ToPartner(v1::Role role, const std::string& partner, const std::string& payee,
                                const std::string& from) {
  v1::AssignRoleRequest r;
  r.set_request_id(absl::StrCat("assign-", partner, "-", payee, "-", from));
  r.set_role(role);
  r.mutable_target()->set_partner_id(partner);
  r.set_payee_id(payee);
  r.set_effective_from(from);
  return r;
}

pos::v1::PosLine Sale(const std::string& partner, const std::string& product, int64_t qty,
                      int64_t amount, const std::string& date) {
  pos::v1::PosLine l;
  l.set_report_id("rep-1");
  l.set_partner_id(partner);
  l.set_line_number(1);
  l.set_activity(pos::v1::LINE_ACTIVITY_STOCK_SALE);
  l.set_sku("NET-100");
  l.set_product_line(product);
  l.set_quantity(qty);
  *l.mutable_extended_amount() = Usd(amount);
  l.set_date(date);
  l.mutable_end_customer()->set_name("Acme Corp");
  l.mutable_end_customer()->set_email_domain("acme.com");
  auto* a = l.mutable_end_customer()->mutable_address();
  a->set_country_code("US");
  a->set_region("CT");
  a->set_postal_code("06103");
  l.set_deal_registration_id("D1");
  return l;
}

std::vector<std::string> Seeds() {
  std::vector<std::string> seeds;
  {  // Plans, every role assigned, sales credited, a reassignment, a vacancy.
    std::string s;
    fuzz::AppendStep(s, kPublish, Plan("base", "2026-01-01", false));
    fuzz::AppendStep(s, kPublish, Plan("ny-storage", "2026-01-01", true));
    fuzz::AppendStep(
        s, kAssign,
        ToPartner(v1::ROLE_CHANNEL_ACCOUNT_MANAGER, "partner-ny", "cam-1", "2026-01-01"));
    fuzz::AppendStep(s, kAssign,
                     ToPartner(v1::ROLE_DISTRIBUTOR_REP, "partner-ny", "dist-1", "2026-01-01"));
    v1::AssignRoleRequest isr;
    isr.set_request_id("assign-isr");
    isr.set_role(v1::ROLE_INSIDE_SALES);
    isr.mutable_target()->mutable_territory()->set_country_code("US");
    isr.mutable_target()->mutable_territory()->set_region("US-CT");
    isr.mutable_target()->mutable_territory()->set_postal_prefix("06");
    isr.set_payee_id("isr-1");
    isr.set_effective_from("2026-01-01");
    fuzz::AppendStep(s, kAssign, isr);
    v1::AssignRoleRequest direct;
    direct.set_request_id("assign-direct");
    direct.set_role(v1::ROLE_DIRECT_REP);
    direct.mutable_target()->mutable_account()->set_name("ACME Inc.");
    direct.mutable_target()->mutable_account()->set_country_code("us");
    direct.set_payee_id("rep-1");
    direct.set_effective_from("2026-01-01");
    fuzz::AppendStep(s, kAssign, direct);
    fuzz::AppendStep(s, kCredit, Sale("partner-ny", "storage", 7, 10000, "2026-01-15"));
    fuzz::AppendStep(s, kCredit, Sale("partner-sf", "compute", 3, 999, "2026-01-20"));
    fuzz::AppendStep(
        s, kAssign,
        ToPartner(v1::ROLE_CHANNEL_ACCOUNT_MANAGER, "partner-ny", "cam-2", "2026-02-01"));
    fuzz::AppendStep(s, kAssign,
                     ToPartner(v1::ROLE_CHANNEL_ACCOUNT_MANAGER, "partner-ny", "", "2026-03-01"));
    fuzz::AppendStep(s, kPublish, Plan("base", "2026-02-01", false));
    fuzz::AppendStep(s, kCredit, Sale("partner-ny", "storage", 5, 3333, "2026-02-10"));
    seeds.push_back(std::move(s));
  }
  {  // Periods close in order once they end; a repeated assignment.
    std::string s;
    fuzz::AppendStep(s, kPublish, Plan("base", "2025-12-01", false));
    v1::ClosePeriodRequest close;
    close.set_request_id("close-2025-12");
    close.set_period_id("2025-12");
    fuzz::AppendStep(s, kClosePeriod, close);
    fuzz::AppendRaw(s, kTick, fuzz::Hours(24 * 32));
    close.set_request_id("close-2026-01");
    close.set_period_id("2026-01");
    fuzz::AppendStep(s, kClosePeriod, close);
    fuzz::AppendStep(s, kAssign,
                     ToPartner(v1::ROLE_DISTRIBUTOR_REP, "partner-ny", "dist-1", "2026-01-01"));
    fuzz::AppendStep(s, kAssign,
                     ToPartner(v1::ROLE_DISTRIBUTOR_REP, "partner-ny", "dist-1", "2026-01-01"));
    fuzz::AppendStep(s, kCredit, Sale("partner-ny", "storage", 1, 1, "2026-01-31"));
    seeds.push_back(std::move(s));
  }
  return seeds;
}

}  // namespace
}  // namespace channelops::comp

CHANNELOPS_REQUEST_FUZZER(channelops::comp)
