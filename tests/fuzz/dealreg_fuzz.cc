// libFuzzer target: deal_registration's request validation and decision path
// (services/deal_registration/deal_registration_service.cc), structured by the
// channelops.dealreg.v1 request protos (input format: request_fuzz.h).
//
// Each step is one request: SetProgramRules, RegisterDeal, CheckConflicts,
// RecordDirectOpportunity, Approve/Reject/Return/Update/CloseDeal,
// Request/DecideSpecialPricing, ForecastSpecialPricing, or a Tick that moves
// the store clock forward and runs the expiry sweeper. Valid requests go
// through the same load -> Decide -> Evolve -> read-model update as the
// handler's store command, against in-memory read models (rm_rules, rm_deals,
// rm_customer_index, rm_direct) and stream versions. Invariants checked after
// every step: validation fails only with INVALID_ARGUMENT; Decide only with the
// codes its contract lists; the expected version of every append matches the
// stream; a deal's version is its stream's; amounts are non-negative; the
// customer index equals the one rebuilt from the deals and opportunities; a
// registration that holds the customer, sent again, records nothing and names
// the same deal.
//
//   dealreg_fuzz -max_len=8192 CORPUS_DIR tests/fuzz/seeds/dealreg
//   dealreg_fuzz -write_seeds=tests/fuzz/seeds/dealreg

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <variant>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "channelops/core/check.h"
#include "deal_registration/domain/convert.h"
#include "deal_registration/domain/customer_index.h"
#include "deal_registration/domain/decider.h"
#include "deal_registration/domain/validation.h"
#include "request_fuzz.h"

namespace channelops::dealreg {
namespace {

using absl::StatusCode;
using fuzz::CheckCode;
using fuzz::Parse;
using fuzz::Step;

enum Kind : uint8_t {
  kSetRules,
  kRegister,
  kCheckConflicts,
  kDirect,
  kApprove,
  kReject,
  kReturn,
  kUpdate,
  kClose,
  kRequestSpa,
  kDecideSpa,
  kForecast,
  kTick,
  kKinds
};

constexpr char kActor[] = "fuzz";
const absl::Time kStart = absl::FromUnixSeconds(1767225600);  // 2026-01-01T00:00:00Z

// Decide's documented errors (decider.h).
const std::initializer_list<StatusCode> kDecideCodes = {
    StatusCode::kInvalidArgument, StatusCode::kNotFound, StatusCode::kAborted,
    StatusCode::kFailedPrecondition, StatusCode::kPermissionDenied};

class Harness : public fuzz::HarnessBase<Harness> {
 public:
  explicit Harness(bool strict) : HarnessBase(strict, kStart) {}

 private:
  friend class fuzz::HarnessBase<Harness>;
  // Decide's outcome: the events, or nullopt (after checking the code).
  std::optional<std::vector<domain::Event>> Decided(const Step& step,
                                                    absl::StatusOr<std::vector<domain::Event>> r) {
    CheckCode(r.status(), kDecideCodes, "Decide");
    if (!r.ok()) {
      Refused(step, r.status());
      return std::nullopt;
    }
    return std::move(*r);
  }

  void RunStep(const Step& step) {
    switch (step.kind % kKinds) {
      case kSetRules:
        return SetRules(step);
      case kRegister:
        return Register(step);
      case kCheckConflicts:
        return CheckConflicts(step);
      case kDirect:
        return Direct(step);
      case kApprove: {
        v1::ApproveDealRequest r;
        if (!Load(step, &r, domain::ValidateApproveDeal)) return;
        return OnDeal(step, r.deal_id(), domain::ApproveDeal{r.reason()});
      }
      case kReject: {
        v1::RejectDealRequest r;
        if (!Load(step, &r, domain::ValidateRejectDeal)) return;
        return OnDeal(step, r.deal_id(), domain::RejectDeal{r.reason()});
      }
      case kReturn: {
        v1::ReturnDealRequest r;
        if (!Load(step, &r, domain::ValidateReturnDeal)) return;
        return OnDeal(step, r.deal_id(), domain::ReturnDeal{r.reason()});
      }
      case kUpdate: {
        v1::UpdateDealRequest r;
        if (!Load(step, &r, domain::ValidateUpdateDeal)) return;
        domain::UpdateDeal cmd;
        cmd.request = r;
        return OnDeal(step, r.deal_id(), std::move(cmd));
      }
      case kClose: {
        v1::CloseDealRequest r;
        if (!Load(step, &r, domain::ValidateCloseDeal)) return;
        return OnDeal(step, r.deal_id(), domain::CloseDeal{r});
      }
      case kRequestSpa: {
        v1::RequestSpecialPricingRequest r;
        if (!Load(step, &r, domain::ValidateRequestSpecialPricing)) return;
        domain::RequestSpecialPricing cmd;
        cmd.request = r;
        return OnDeal(step, r.deal_id(), std::move(cmd));
      }
      case kDecideSpa: {
        v1::DecideSpecialPricingRequest r;
        if (!Load(step, &r, domain::ValidateDecideSpecialPricing)) return;
        domain::DecideSpecialPricing cmd;
        cmd.request = r;
        return OnDeal(step, r.deal_id(), std::move(cmd));
      }
      case kForecast:
        return Forecast(step);
      case kTick:
        now_ += fuzz::HoursOf(step.payload);
        return Sweep();
    }
  }

  // ---- the event log: expected-version checks, as Tx::Append does ----

  void Append(const std::string& stream, int64_t expected, size_t n) {
    uint64_t& version = streams_[stream];
    CHANNELOPS_CHECK(expected == -1 || static_cast<uint64_t>(expected) == version)
        << "append to " << stream << " expects version " << expected << ", stream is at " << version
        << " (read models and streams disagree)";
    version += n;
  }

  // ---- reads, as the service's Tx reads ----

  std::optional<v1::ProgramRules> Rules(const std::string& program_id) const {
    auto it = rules_.find(program_id);
    if (it == rules_.end()) return std::nullopt;
    return it->second;
  }

  v1::Deal DealOrEmpty(const std::string& id) const {
    auto it = deals_.find(id);
    return it == deals_.end() ? v1::Deal() : it->second;
  }

  std::vector<v1::CustomerClaim> Claims(const domain::CustomerKeys& keys) const {
    std::vector<v1::CustomerClaims> per_key;
    for (const std::string& key : keys.All()) {
      auto it = index_.find(key);
      if (it != index_.end()) per_key.push_back(it->second);
    }
    return domain::MergeClaims(per_key);
  }

  // ---- writes: CommitDeal / WriteDealReadModels ----

  v1::Deal CommitDeal(const v1::Deal& before, const std::vector<domain::Event>& events) {
    if (events.empty()) return before;
    v1::Deal after = before;
    for (const auto& e : events) after = domain::Evolve(std::move(after), e);
    CHANNELOPS_CHECK(!after.deal_id().empty()) << "deal events name the deal";
    Append(domain::DealStream(after.deal_id()),
           before.deal_id().empty() ? 0 : static_cast<int64_t>(before.version()), events.size());
    deals_[after.deal_id()] = after;
    for (const std::string& key : domain::KeysOf(after).All()) {
      v1::CustomerClaims& claims = index_[key];
      domain::ApplyDealTransition(claims, before, after);
      if (claims.claims().empty()) index_.erase(key);
    }
    return after;
  }

  // ---- commands ----

  void SetRules(const Step& step) {
    v1::SetProgramRulesRequest r;
    if (!Load(step, &r, domain::ValidateSetProgramRules)) return;
    const v1::ProgramRules state = Rules(r.rules().program_id()).value_or(v1::ProgramRules());
    auto events = Decided(step, domain::Decide(state, domain::SetProgramRules{r.rules()}, Ctx()));
    if (!events) return;
    CHANNELOPS_CHECK(events->size() == 1) << "SetProgramRules records one event";
    v1::ProgramRules after = state;
    for (const auto& e : *events) after = domain::Evolve(std::move(after), e);
    Append(domain::RulesStream(r.rules().program_id()), static_cast<int64_t>(state.version()),
           events->size());
    CHANNELOPS_CHECK(after.version() == state.version() + 1);
    rules_[r.rules().program_id()] = after;
  }

  domain::RegisterDeal RegisterCommand(const v1::RegisterDealRequest& r, std::string deal_id) {
    domain::RegisterDeal cmd;
    cmd.request = r;
    cmd.rules = Rules(r.program_id());
    cmd.claims = Claims(domain::KeysOf(r.end_customer()));
    cmd.deal_id = std::move(deal_id);
    return cmd;
  }

  void Register(const Step& step) {
    v1::RegisterDealRequest r;
    if (!Load(step, &r, domain::ValidateRegisterDeal)) return;
    // The service uses core::NewUuidV7(tx.now()); short sequential ids keep
    // inputs deterministic and let later steps name the deal.
    const std::string id = absl::StrCat("D", ++next_deal_);
    domain::RegisterDeal cmd = RegisterCommand(r, id);
    auto events = Decided(step, domain::Decide(v1::Deal(), cmd, Ctx()));
    if (!events) return;
    if (events->empty()) {
      auto own =
          domain::FindOwnRegistration(cmd.claims, r.partner_id(), domain::ProductKeys(r.lines()));
      CHANNELOPS_CHECK(own.has_value()) << "Decide recorded nothing for a new registration";
      CHANNELOPS_CHECK(!DealOrEmpty(*own).deal_id().empty()) << "index names a missing deal";
      return;
    }
    CHANNELOPS_CHECK(events->size() == 1 &&
                     std::holds_alternative<v1::DealRegistered>(events->front()));
    v1::Deal after = CommitDeal(v1::Deal(), *events);
    CHANNELOPS_CHECK(after.deal_id() == id && after.version() == 1);
    CHANNELOPS_CHECK(after.partner_id() == r.partner_id());
    // Idempotent by content: while the registration holds the customer, the
    // same request records nothing and the service answers with this deal.
    if (domain::IsActive(after.status())) {
      domain::RegisterDeal again = RegisterCommand(r, absl::StrCat("D", next_deal_, "-again"));
      auto repeat = domain::Decide(v1::Deal(), again, Ctx());
      CHANNELOPS_CHECK(repeat.ok() && repeat->empty())
          << "a repeated registration was not recognised: " << repeat.status();
      auto own =
          domain::FindOwnRegistration(again.claims, r.partner_id(), domain::ProductKeys(r.lines()));
      CHANNELOPS_CHECK(own == id) << "a repeat names " << own.value_or("nothing") << ", not " << id;
    }
  }

  void CheckConflicts(const Step& step) {
    v1::CheckConflictsRequest r;
    if (!Load(step, &r, domain::ValidateCheckConflicts)) return;
    auto rules = Rules(r.program_id());
    if (!rules) return Refused(step, absl::InvalidArgumentError("unknown programme"));
    auto claims = Claims(domain::KeysOf(r.end_customer()));
    std::vector<std::string> keys;
    for (const auto& p : r.product_lines()) keys.push_back(domain::NormalizeProductKey(p));
    std::sort(keys.begin(), keys.end());
    keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
    for (const auto& reason : domain::AccountAndProductReasons(r.end_customer(), keys, *rules)) {
      CHANNELOPS_CHECK(reason.code() != v1::REASON_CODE_UNSPECIFIED);
    }
    for (const auto& reason : domain::ConflictReasons(claims, r.partner_id(), keys)) {
      CHANNELOPS_CHECK(reason.conflicting_deal_id().empty() ||
                       DealOrEmpty(reason.conflicting_deal_id()).partner_id() != r.partner_id() ||
                       r.partner_id().empty())
          << "a partner conflicts with its own registration";
    }
    if (!r.partner_id().empty()) {
      if (auto own = domain::FindOwnRegistration(claims, r.partner_id(), keys)) {
        CHANNELOPS_CHECK(DealOrEmpty(*own).partner_id() == r.partner_id());
      }
    }
  }

  void Direct(const Step& step) {
    v1::RecordDirectOpportunityRequest r;
    if (!Load(step, &r, domain::ValidateRecordDirectOpportunity)) return;
    domain::RecordDirectOpportunity cmd;
    cmd.request = r;
    if (auto it = directs_.find(r.opportunity_id()); it != directs_.end())
      cmd.existing = it->second;
    const domain::CustomerKeys keys = domain::KeysOf(r.end_customer());
    cmd.claims = Claims(keys);
    auto events = Decided(step, domain::Decide(cmd, Ctx()));
    if (!events) return;
    if (events->empty()) {
      CHANNELOPS_CHECK(cmd.existing.has_value()) << "nothing recorded for a new opportunity";
      for (const std::string& id : cmd.existing->partner_deal_ids()) DealOrEmpty(id);
      return;
    }
    CHANNELOPS_CHECK(!cmd.existing.has_value() && events->size() == 1);
    const auto& recorded = std::get<v1::DirectOpportunityRecorded>(events->front());
    CHANNELOPS_CHECK(!keys.All().empty()) << "an opportunity without a customer key";
    Append(domain::AccountStream(keys.customer_key.empty() ? keys.domain_key : keys.customer_key),
           -1, events->size());
    directs_[r.opportunity_id()] = recorded.opportunity();
    for (const std::string& key : keys.All()) {
      domain::AddDirectClaim(index_[key], recorded.opportunity());
    }
    for (const std::string& id : recorded.opportunity().partner_deal_ids()) {
      v1::Deal before = DealOrEmpty(id);
      CHANNELOPS_CHECK(domain::IsActive(before.status()))
          << "opportunity " << r.opportunity_id() << " names inactive deal " << id;
      v1::Deal after = domain::Evolve(before, events->front());
      CHANNELOPS_CHECK(after.version() == before.version()) << "account events leave the version";
      deals_[id] = after;
    }
  }

  void OnDeal(const Step& step, const std::string& deal_id, domain::DealCommand command) {
    const v1::Deal before = DealOrEmpty(deal_id);
    if (before.deal_id().empty()) return Refused(step, absl::NotFoundError(deal_id));
    // The CommandBuilders: the rules and claims each command reads.
    if (auto* u = std::get_if<domain::UpdateDeal>(&command)) {
      if (u->request.replace_lines()) {
        u->rules = Rules(before.program_id());
        u->claims = Claims(domain::KeysOf(before));
      }
    } else if (auto* s = std::get_if<domain::RequestSpecialPricing>(&command)) {
      s->rules = Rules(before.program_id());
    } else if (auto* d = std::get_if<domain::DecideSpecialPricing>(&command)) {
      d->rules = Rules(before.program_id());
    }
    auto events = Decided(step, domain::Decide(before, command, Ctx()));
    if (!events) return;
    CHANNELOPS_CHECK(events->size() == 1) << "a deal command records one event";
    const v1::Deal after = CommitDeal(before, *events);
    CHANNELOPS_CHECK(after.version() == before.version() + 1);
    if (std::holds_alternative<domain::RequestSpecialPricing>(command)) {
      CHANNELOPS_CHECK(!after.special_pricing().empty()) << "a request was recorded";
    }
  }

  void Forecast(const Step& step) {
    v1::ForecastSpecialPricingRequest r;
    if (!Load(step, &r, domain::ValidateForecastSpecialPricing)) return;
    const absl::CivilDay start = *domain::ParseDate(r.period().start_date());
    const absl::CivilDay end = *domain::ParseDate(r.period().end_date());
    std::vector<v1::ForecastItem> items;
    for (const auto& [id, deal] : deals_) {
      if (domain::CommittedSpecialPricing(deal) == nullptr) continue;  // rm_spa
      if (!r.program_id().empty() && deal.program_id() != r.program_id()) continue;
      if (auto item = domain::ForecastItemOf(deal, start, end)) {
        CHANNELOPS_CHECK(item->weighted().amount_micros() >= 0 &&
                         item->weighted().amount_micros() <= item->committed().amount_micros());
        items.push_back(std::move(*item));
      }
    }
    for (const auto& t : domain::ForecastTotals(items)) {
      CHANNELOPS_CHECK(t.committed().amount_micros() >= 0 && t.weighted().amount_micros() >= 0);
    }
  }

  // SweepExpired: every active deal whose expiry is due gets ExpireDeal.
  void Sweep() {
    std::vector<std::string> due;
    for (const auto& [id, deal] : deals_) {
      if (domain::IsActive(deal.status()) && deal.has_expires_at() &&
          domain::FromProtoTime(deal.expires_at()) <= now_) {
        due.push_back(id);
      }
    }
    for (const std::string& id : due) {
      const v1::Deal before = DealOrEmpty(id);
      auto events = domain::Decide(before, domain::ExpireDeal{}, Ctx("system:expiry_sweeper"));
      CHANNELOPS_CHECK(events.ok()) << "a due deal did not expire: " << events.status();
      const v1::Deal after = CommitDeal(before, *events);
      CHANNELOPS_CHECK(after.status() == v1::DEAL_STATUS_EXPIRED);
    }
  }

  // ---- invariants ----

  void CheckInvariants() const {
    std::map<std::string, std::vector<v1::CustomerClaim>> expected;
    for (const auto& [id, deal] : deals_) {
      CHANNELOPS_CHECK(deal.deal_id() == id);
      auto stream = streams_.find(domain::DealStream(id));
      CHANNELOPS_CHECK(stream != streams_.end() && stream->second == deal.version())
          << "deal " << id << " version " << deal.version() << " is not its stream's";
      CHANNELOPS_CHECK(!deal.customer_key().empty()) << "deal " << id << " has no customer key";
      CHANNELOPS_CHECK(deal.amount().amount_micros() >= 0) << "negative amount on " << id;
      CHANNELOPS_CHECK(deal.total_units() > 0) << "deal " << id << " without units";
      CHANNELOPS_CHECK(!domain::IsActive(deal.status()) || deal.has_expires_at());
      int pending = 0;
      for (const auto& spa : deal.special_pricing()) {
        if (spa.status() == v1::SPECIAL_PRICING_STATUS_PENDING) ++pending;
        CHANNELOPS_CHECK(spa.discount_amount().amount_micros() >= 0);
        CHANNELOPS_CHECK(spa.effective_discount_bps() >= 0 &&
                         spa.effective_discount_bps() <= 10000);
      }
      CHANNELOPS_CHECK(pending <= 1) << "deal " << id << " has " << pending << " pending SPAs";
      if (auto claim = domain::ClaimOf(deal)) {
        for (const std::string& key : domain::KeysOf(deal).All()) expected[key].push_back(*claim);
      }
    }
    for (const auto& [id, o] : directs_) {
      for (const std::string& key : domain::KeysOf(o.end_customer()).All()) {
        expected[key].push_back(domain::ClaimOf(o));
      }
    }
    auto order = [](const v1::CustomerClaim& a, const v1::CustomerClaim& b) {
      auto ta = domain::FromProtoTime(a.claimed_at());
      auto tb = domain::FromProtoTime(b.claimed_at());
      return std::make_tuple(ta, a.id(), int(a.kind())) <
             std::make_tuple(tb, b.id(), int(b.kind()));
    };
    CHANNELOPS_CHECK(expected.size() == index_.size())
        << "customer index has " << index_.size() << " keys, the deals give " << expected.size();
    for (auto& [key, want] : expected) {
      auto it = index_.find(key);
      CHANNELOPS_CHECK(it != index_.end()) << "customer index lacks " << key;
      std::vector<v1::CustomerClaim> got(it->second.claims().begin(), it->second.claims().end());
      for (size_t i = 1; i < got.size(); ++i) {
        auto ta = domain::FromProtoTime(got[i - 1].claimed_at());
        auto tb = domain::FromProtoTime(got[i].claimed_at());
        CHANNELOPS_CHECK(std::tie(ta, got[i - 1].id()) <= std::tie(tb, got[i].id()))
            << "claims under " << key << " are not oldest first";
      }
      std::sort(want.begin(), want.end(), order);
      std::sort(got.begin(), got.end(), order);
      CHANNELOPS_CHECK(want.size() == got.size())
          << key << ": index holds " << got.size() << " claims, expected " << want.size();
      for (size_t i = 0; i < want.size(); ++i) {
        CHANNELOPS_CHECK(want[i].SerializeAsString() == got[i].SerializeAsString())
            << key << ": index claim " << got[i].ShortDebugString()
            << " != " << want[i].ShortDebugString();
      }
    }
  }

  domain::Context Ctx(const char* actor = kActor) const { return domain::Context{now_, actor}; }

  int next_deal_ = 0;
  std::map<std::string, v1::ProgramRules> rules_;         // rm_rules
  std::map<std::string, v1::Deal> deals_;                 // rm_deals
  std::map<std::string, v1::CustomerClaims> index_;       // rm_customer_index
  std::map<std::string, v1::DirectOpportunity> directs_;  // rm_direct
  std::map<std::string, uint64_t> streams_;               // stream -> version
};

// ---- seeds ----

common::v1::Money Usd(int64_t units) {
  common::v1::Money m;
  m.set_currency_code("USD");
  m.set_amount_micros(units * 1'000'000);
  return m;
}

v1::SetProgramRulesRequest Rules(const std::string& program, v1::ApprovalMode mode) {
  v1::SetProgramRulesRequest r;
  r.set_request_id(absl::StrCat("rules-", program));
  v1::ProgramRules* x = r.mutable_rules();
  x->set_program_id(program);
  x->set_currency_code("USD");
  *x->mutable_min_deal_amount() = Usd(1000);
  x->add_excluded_account_types("GOVERNMENT");
  x->add_named_accounts()->set_email_domain("initech.com");
  x->add_eligible_product_lines("storage");
  x->add_eligible_product_lines("compute");
  x->add_eligible_skus("NET-100");
  x->set_expiry_days(30);
  x->set_approval_mode(mode);
  *x->mutable_auto_approve_max_amount() = Usd(100000);
  x->mutable_benefits()->set_extra_margin_bps(300);
  x->set_spa_auto_approve_max_bps(500);
  auto* t1 = x->add_spa_tiers();
  t1->set_max_discount_bps(1500);
  t1->set_approver_role("channel_manager");
  auto* t2 = x->add_spa_tiers();
  t2->set_max_discount_bps(3000);
  t2->set_approver_role("director");
  return r;
}

v1::RegisterDealRequest Registration(const std::string& request_id, const std::string& program,
                                     const std::string& partner, const std::string& customer,
                                     const std::string& product, int64_t qty, int64_t price) {
  v1::RegisterDealRequest r;
  r.set_request_id(request_id);
  r.set_program_id(program);
  r.set_partner_id(partner);
  r.mutable_partner_contact()->set_name("Pat Partner");
  r.mutable_partner_contact()->set_email("pat@partner.example.com");
  r.mutable_end_customer()->set_name(customer);
  r.mutable_end_customer()->mutable_address()->set_country_code("US");
  r.mutable_end_customer()->set_email_domain(absl::StrCat(customer, ".com"));
  auto* l = r.add_lines();
  l->set_product_line(product);
  l->set_quantity(qty);
  *l->mutable_unit_price() = Usd(price);
  auto* sku = r.add_lines();
  sku->set_sku("NET-100");
  sku->set_quantity(2);
  *sku->mutable_unit_price() = Usd(250);
  r.set_expected_close_date("2026-06-30");
  r.set_stage(v1::DEAL_STAGE_QUALIFIED);
  return r;
}

std::vector<std::string> Seeds() {
  std::vector<std::string> seeds;
  {  // Auto approval, SPA by bps and by line prices, update, close won, forecast.
    std::string s;
    fuzz::AppendStep(s, kSetRules, Rules("p1", v1::APPROVAL_MODE_AUTO));
    fuzz::AppendStep(s, kRegister,
                     Registration("r1", "p1", "acme-partner", "acme", "storage", 10, 500));
    v1::RequestSpecialPricingRequest spa;
    spa.set_request_id("spa1");
    spa.set_deal_id("D1");
    spa.set_discount_bps(1200);
    spa.set_competitor("Globex");
    spa.set_justification("competitive pressure");
    fuzz::AppendStep(s, kRequestSpa, spa);
    v1::DecideSpecialPricingRequest decide;
    decide.set_request_id("dec1");
    decide.set_deal_id("D1");
    decide.set_spa_id("spa-1");
    decide.set_approve(true);
    decide.set_approver_role("channel_manager");
    fuzz::AppendStep(s, kDecideSpa, decide);
    v1::UpdateDealRequest up;
    up.set_request_id("up1");
    up.set_deal_id("D1");
    up.set_expected_version(3);
    up.set_stage(v1::DEAL_STAGE_NEGOTIATION);
    up.set_replace_lines(true);
    auto* l = up.add_lines();
    l->set_product_line("compute");
    l->set_quantity(20);
    *l->mutable_unit_price() = Usd(400);
    fuzz::AppendStep(s, kUpdate, up);
    v1::RequestSpecialPricingRequest spa2;
    spa2.set_request_id("spa2");
    spa2.set_deal_id("D1");
    auto* lp = spa2.mutable_line_prices()->add_prices();
    lp->set_line_index(0);
    *lp->mutable_unit_price() = Usd(380);
    spa2.set_justification("volume");
    fuzz::AppendStep(s, kRequestSpa, spa2);
    v1::ForecastSpecialPricingRequest f;
    f.mutable_period()->set_start_date("2026-01-01");
    f.mutable_period()->set_end_date("2026-12-31");
    fuzz::AppendStep(s, kForecast, f);
    v1::CloseDealRequest close;
    close.set_request_id("close1");
    close.set_deal_id("D1");
    close.set_outcome(v1::CLOSE_OUTCOME_WON);
    *close.mutable_final_amount() = Usd(7500);
    fuzz::AppendStep(s, kClose, close);
    fuzz::AppendStep(s, kForecast, f);
    seeds.push_back(std::move(s));
  }
  {  // Manual approval, conflicts between partners, direct sales, return, expiry.
    std::string s;
    fuzz::AppendStep(s, kSetRules, Rules("p2", v1::APPROVAL_MODE_MANUAL));
    fuzz::AppendStep(s, kRegister,
                     Registration("r1", "p2", "partner-a", "globex", "storage", 5, 900));
    fuzz::AppendStep(s, kRegister,
                     Registration("r2", "p2", "partner-b", "globex", "storage", 8, 800));
    fuzz::AppendStep(s, kRegister,
                     Registration("r3", "p2", "partner-b", "umbrella", "compute", 9, 700));
    v1::CheckConflictsRequest cc;
    cc.set_program_id("p2");
    cc.set_partner_id("partner-b");
    cc.mutable_end_customer()->set_name("Globex Inc");
    cc.mutable_end_customer()->mutable_address()->set_country_code("us");
    cc.add_product_lines("Storage");
    fuzz::AppendStep(s, kCheckConflicts, cc);
    v1::RecordDirectOpportunityRequest d;
    d.set_request_id("opp1");
    d.set_opportunity_id("opp-1");
    d.set_owner_rep_id("rep-1");
    d.mutable_end_customer()->set_name("Globex");
    d.mutable_end_customer()->mutable_address()->set_country_code("US");
    d.add_product_lines("storage");
    *d.mutable_amount() = Usd(5000);
    fuzz::AppendStep(s, kDirect, d);
    v1::ApproveDealRequest a;
    a.set_request_id("ap1");
    a.set_deal_id("D1");
    a.set_reason("ok");
    fuzz::AppendStep(s, kApprove, a);
    v1::ReturnDealRequest ret;
    ret.set_request_id("ret1");
    ret.set_deal_id("D3");
    ret.set_reason("add the end customer's contact");
    fuzz::AppendStep(s, kReturn, ret);
    v1::UpdateDealRequest up;
    up.set_request_id("up1");
    up.set_deal_id("D3");
    up.set_expected_version(2);
    *up.mutable_amount() = Usd(7000);
    fuzz::AppendStep(s, kUpdate, up);
    v1::RejectDealRequest rej;
    rej.set_request_id("rej1");
    rej.set_deal_id("D3");
    rej.set_reason("duplicate");
    fuzz::AppendStep(s, kReject, rej);
    fuzz::AppendRaw(s, kTick, fuzz::Hours(24 * 40));
    fuzz::AppendStep(s, kRegister,
                     Registration("r4", "p2", "partner-b", "globex", "storage", 8, 800));
    seeds.push_back(std::move(s));
  }
  return seeds;
}

}  // namespace
}  // namespace channelops::dealreg

CHANNELOPS_REQUEST_FUZZER(channelops::dealreg)
