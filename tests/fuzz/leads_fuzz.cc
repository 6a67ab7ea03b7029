// libFuzzer target: lead_routing's request validation and decision path
// (services/lead_routing/lead_routing_service.cc), structured by the
// channelops.leads.v1 request protos (input format: request_fuzz.h).
//
// Each step is one request: UpsertTerritory, UpsertPartnerProfile, SubmitLead,
// Accept/Decline/Convert/Close/ReassignLead; a Tick that moves the store clock
// and runs the SLA sweeper (TimeOutLead per due offer); or a Restart that, like
// the service after a restart or a voided batch (WriterState::EnsureFresh),
// rebuilds the routing index from the persisted read models and checks that
// it equals the cache it replaces. Valid requests go through the handler's
// RunLeadCommand / CommitRoutingConfig: Decide against the routing index, the
// lead evolved, the index moved forward by RoutingIndex::Apply and the changed
// territories, profiles, counters and rotation passes persisted (in memory).
//
// Invariants after every step: validation fails only with INVALID_ARGUMENT,
// Decide only with its documented codes; a lead's version is its stream's; the
// single-holder invariant (decider.h): every partner's open_leads equals the
// leads it holds (ASSIGNED or ACCEPTED), never negative; a lead is held only by
// a known partner, with a deadline while ASSIGNED; an automatic routing never
// offers a lead to a partner that declined or timed out on it, that is paused,
// inactive or (at the offer) at capacity.
//
//   leads_fuzz -max_len=8192 CORPUS_DIR tests/fuzz/seeds/leads

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "channelops/core/check.h"
#include "lead_routing/domain/decider.h"
#include "lead_routing/domain/events.h"
#include "lead_routing/domain/routing_index.h"
#include "lead_routing/domain/validation.h"
#include "request_fuzz.h"

namespace channelops::leads {
namespace {

using absl::StatusCode;
using fuzz::CheckCode;
using fuzz::Parse;
using fuzz::Step;

enum Kind : uint8_t {
  kTerritory,
  kProfile,
  kSubmit,
  kAccept,
  kDecline,
  kConvert,
  kClose,
  kReassign,
  kTick,
  kRestart,
  kKinds
};

constexpr char kActor[] = "fuzz";
const absl::Time kStart = absl::FromUnixSeconds(1767225600);  // 2026-01-01T00:00:00Z

const std::initializer_list<StatusCode> kDecideCodes = {
    StatusCode::kInvalidArgument, StatusCode::kNotFound, StatusCode::kFailedPrecondition};

bool Holds(const v1::Lead& l) {
  return l.status() == v1::LEAD_STATUS_ASSIGNED || l.status() == v1::LEAD_STATUS_ACCEPTED;
}

class Harness : public fuzz::HarnessBase<Harness> {
 public:
  explicit Harness(bool strict)
      : HarnessBase(strict, kStart), index_(std::make_unique<domain::RoutingIndex>()) {}

 private:
  friend class fuzz::HarnessBase<Harness>;
  bool Valid(const Step& step, const absl::Status& st) {
    CheckCode(st, {StatusCode::kInvalidArgument}, "validation");
    if (!st.ok()) Refused(step, st);
    return st.ok();
  }

  void RunStep(const Step& step) {
    switch (step.kind % kKinds) {
      case kTerritory: {
        v1::UpsertTerritoryRequest r;
        if (!ParseOk(step, &r)) return;
        auto t = domain::ValidateUpsertTerritory(r);
        if (!Valid(step, t.status())) return;
        return RoutingConfig(
            step, [&] { return domain::Decide(*index_, domain::UpsertTerritory{*t}, Ctx()); });
      }
      case kProfile: {
        v1::UpsertPartnerProfileRequest r;
        if (!ParseOk(step, &r)) return;
        auto p = domain::ValidateUpsertPartnerProfile(r);
        if (!Valid(step, p.status())) return;
        RoutingConfig(step, [&] {
          return domain::Decide(*index_, domain::UpsertPartnerProfile{*p, r.clear_pause()}, Ctx());
        });
        return;
      }
      case kSubmit: {
        v1::SubmitLeadRequest r;
        if (!ParseOk(step, &r)) return;
        auto request = domain::ValidateSubmitLead(r);
        if (!Valid(step, request.status())) return;
        // The service takes core::NewUuidV7(now); sequential ids let later
        // steps name the lead.
        const std::string id = absl::StrCat("L", ++next_lead_);
        return LeadCommand(step, id, domain::SubmitLead{id, std::move(*request)});
      }
      case kAccept: {
        v1::AcceptLeadRequest r;
        if (!ParseOk(step, &r) || !Valid(step, domain::ValidateAcceptLead(r))) return;
        return LeadCommand(step, r.lead_id(), domain::AcceptLead{r.partner_id()});
      }
      case kDecline: {
        v1::DeclineLeadRequest r;
        if (!ParseOk(step, &r) || !Valid(step, domain::ValidateDeclineLead(r))) return;
        return LeadCommand(step, r.lead_id(), domain::DeclineLead{r.partner_id(), r.reason()});
      }
      case kConvert: {
        v1::ConvertLeadRequest r;
        if (!ParseOk(step, &r) || !Valid(step, domain::ValidateConvertLead(r))) return;
        return LeadCommand(step, r.lead_id(), domain::ConvertLead{r.partner_id(), r.deal_id()});
      }
      case kClose: {
        v1::CloseLeadRequest r;
        if (!ParseOk(step, &r) || !Valid(step, domain::ValidateCloseLead(r))) return;
        return LeadCommand(step, r.lead_id(), domain::CloseLead{r.partner_id(), r.reason()});
      }
      case kReassign: {
        v1::ReassignLeadRequest r;
        if (!ParseOk(step, &r) || !Valid(step, domain::ValidateReassignLead(r))) return;
        return LeadCommand(step, r.lead_id(), domain::ReassignLead{r.partner_id(), r.reason()});
      }
      case kTick:
        now_ += fuzz::HoursOf(step.payload);
        return Sweep();
      case kRestart:
        return Restart();
    }
  }

  // ---- the event log ----

  void Append(const std::string& stream, int64_t expected, size_t n) {
    uint64_t& version = streams_[stream];
    CHANNELOPS_CHECK(expected == -1 || static_cast<uint64_t>(expected) == version)
        << "append to " << stream << " expects version " << expected << ", stream is at "
        << version;
    version += n;
  }

  // AppendAll: consecutive events of one stream in one append; the lead
  // stream's first append checks its version.
  void AppendAll(const std::vector<domain::Event>& events, const std::string& lead_stream,
                 int64_t lead_version) {
    bool lead_checked = false;
    size_t i = 0;
    while (i < events.size()) {
      const std::string stream = domain::StreamOf(events[i]);
      size_t n = 0;
      for (; i < events.size() && domain::StreamOf(events[i]) == stream; ++i) ++n;
      int64_t expected = -1;
      if (stream == lead_stream && !lead_checked) {
        expected = lead_version;
        lead_checked = true;
      }
      Append(stream, expected, n);
    }
  }

  // ---- WriterState::ApplyAndPersist ----

  void ApplyAndPersist(const std::vector<domain::Event>& events) {
    domain::IndexChanges changes;
    for (const auto& e : events) changes.Merge(index_->Apply(e));
    for (const std::string& id : changes.territories) {
      const domain::TerritoryEntry* t = index_->FindTerritory(id);
      CHANNELOPS_CHECK(t != nullptr) << id;
      rm_territories_[id] = t->territory;
    }
    for (const std::string& id : changes.profiles) {
      const domain::PartnerEntry* p = index_->FindPartner(id);
      CHANNELOPS_CHECK(p != nullptr) << id;
      rm_partners_[id] = p->profile;
    }
    for (const std::string& id : changes.counters) {
      const domain::PartnerEntry* p = index_->FindPartner(id);
      CHANNELOPS_CHECK(p != nullptr) << id;
      rm_stats_[id] = p->counters;
    }
    for (const auto& change : changes.rotation) {
      const domain::TerritoryEntry* t = index_->FindTerritory(change.first);
      const domain::PartnerEntry* p = index_->FindPartner(change.second);
      CHANNELOPS_CHECK(t != nullptr && p != nullptr) << change.first << "/" << change.second;
      auto it = t->pass.find(p);
      CHANNELOPS_CHECK(it != t->pass.end() && it->second >= 0 && t->virtual_time >= 0);
      rm_rotation_[{change.first, change.second}] = it->second;
      rm_rotation_[{change.first, ""}] = t->virtual_time;
    }
  }

  template <class DecideFn>
  void RoutingConfig(const Step& step, DecideFn decide) {
    absl::StatusOr<std::vector<domain::Event>> events = decide();
    CheckCode(events.status(), kDecideCodes, "Decide");
    if (!events.ok()) return Refused(step, events.status());
    CHANNELOPS_CHECK(events->size() == 1) << "a configuration command records one event";
    AppendAll(*events, "", 0);
    ApplyAndPersist(*events);
  }

  // ---- RunLeadCommand ----

  void LeadCommand(const Step& step, const std::string& lead_id, const domain::LeadCommand& c) {
    auto stored = leads_.find(lead_id);
    const v1::Lead before = stored == leads_.end() ? v1::Lead() : stored->second;
    const bool submit = std::holds_alternative<domain::SubmitLead>(c);
    if (!submit && before.lead_id().empty()) {
      return Refused(step, absl::NotFoundError(lead_id));
    }
    absl::StatusOr<std::vector<domain::Event>> events =
        domain::Decide(before, c, *index_, Ctx(kActor));
    CheckCode(events.status(), kDecideCodes, "Decide");
    if (!events.ok()) return Refused(step, events.status());
    Commit(before, lead_id, *events);
  }

  void Commit(const v1::Lead& before, const std::string& lead_id,
              const std::vector<domain::Event>& events) {
    if (events.empty()) return;
    v1::Lead after = before;
    for (const auto& e : events) after = domain::Evolve(std::move(after), e);
    CHANNELOPS_CHECK(after.lead_id() == lead_id) << "lead events name the lead";
    AppendAll(events, domain::LeadStream(lead_id), static_cast<int64_t>(before.version()));
    // The offer a routing step made, checked against the index it was decided on.
    v1::Lead lead = before;
    for (const auto& e : events) {
      if (const auto* routed = std::get_if<v1::LeadRouted>(&e)) {
        const domain::PartnerEntry* p = index_->FindPartner(routed->partner_id());
        CHANNELOPS_CHECK(p != nullptr) << "lead routed to unknown partner " << routed->partner_id();
        if (routed->rule() != v1::ROUTING_RULE_MANUAL_REASSIGNMENT) {
          const auto& ex = lead.excluded_partner_ids();
          CHANNELOPS_CHECK(std::find(ex.begin(), ex.end(), routed->partner_id()) == ex.end())
              << "lead " << lead_id << " routed again to " << routed->partner_id()
              << ", which declined or timed out on it";
          CHANNELOPS_CHECK(p->profile.active()) << "routed to inactive " << p->id();
          CHANNELOPS_CHECK(!p->PausedAt(now_) || routed->partner_id() == PausedInCommand(events))
              << "routed to paused partner " << p->id();
          const int32_t cap = p->profile.max_open_leads();
          CHANNELOPS_CHECK(cap <= 0 || p->counters.open_leads() < cap)
              << "routed to " << p->id() << " at capacity " << p->counters.open_leads() << "/"
              << cap;
        }
      }
      lead = domain::Evolve(std::move(lead), e);
    }
    ApplyAndPersist(events);
    leads_[lead_id] = after;
  }

  // A partner paused by this very command (TimeOutLead) cannot be routed the
  // lead anyway (it is excluded); "" if none.
  static std::string PausedInCommand(const std::vector<domain::Event>& events) {
    for (const auto& e : events) {
      if (const auto* p = std::get_if<v1::PartnerPaused>(&e)) return p->partner_id();
    }
    return "";
  }

  // SweepAcceptanceTimeouts: one TimeOutLead per due offer.
  void Sweep() {
    std::vector<std::pair<std::string, std::string>> due;
    for (const auto& [id, lead] : leads_) {
      if (lead.status() == v1::LEAD_STATUS_ASSIGNED &&
          domain::FromProtoTime(lead.accept_deadline()) <= now_) {
        due.emplace_back(id, lead.partner_id());
      }
    }
    for (const auto& [id, partner] : due) {
      const v1::Lead before = leads_[id];
      // The rm_deadlines key holds microseconds.
      const absl::Time deadline = absl::FromUnixMicros(std::max<int64_t>(
          absl::ToUnixMicros(domain::FromProtoTime(before.accept_deadline())), 0));
      auto events = domain::Decide(before, domain::TimeOutLead{partner, deadline}, *index_,
                                   Ctx("system:sla_sweeper"));
      CHANNELOPS_CHECK(events.ok()) << "a due offer did not time out: " << events.status();
      Commit(before, id, *events);
    }
  }

  // WriterState::Load: the index rebuilt from the persisted read models (in
  // key order, as a RocksDB scan gives them) must equal the cache.
  void Restart() {
    auto fresh = std::make_unique<domain::RoutingIndex>();
    for (const auto& [id, p] : rm_partners_) fresh->LoadPartner(p);
    for (const auto& [id, c] : rm_stats_) fresh->LoadCounters(id, c);
    for (const auto& [id, t] : rm_territories_) fresh->LoadTerritory(t);
    for (const auto& [key, value] : rm_rotation_) fresh->LoadRotation(key.first, key.second, value);
    CHANNELOPS_CHECK(fresh->partner_count() == index_->partner_count() &&
                     fresh->territory_count() == index_->territory_count());
    CHANNELOPS_CHECK(fresh->located().size() == index_->located().size());
    for (const auto& [id, unused] : rm_partners_) {
      const domain::PartnerEntry* a = index_->FindPartner(id);
      const domain::PartnerEntry* b = fresh->FindPartner(id);
      CHANNELOPS_CHECK(a != nullptr && b != nullptr);
      CHANNELOPS_CHECK(a->profile.SerializeAsString() == b->profile.SerializeAsString())
          << "partner " << id << " profile differs after a reload";
      CHANNELOPS_CHECK(a->counters.SerializeAsString() == b->counters.SerializeAsString())
          << "partner " << id << " counters differ after a reload";
    }
    for (const auto& [id, unused] : rm_territories_) {
      const domain::TerritoryEntry* a = index_->FindTerritory(id);
      const domain::TerritoryEntry* b = fresh->FindTerritory(id);
      CHANNELOPS_CHECK(a != nullptr && b != nullptr);
      CHANNELOPS_CHECK(a->territory.SerializeAsString() == b->territory.SerializeAsString());
      CHANNELOPS_CHECK(a->virtual_time == b->virtual_time)
          << "territory " << id << " virtual time differs after a reload";
      CHANNELOPS_CHECK(a->partners.size() == b->partners.size());
      for (size_t i = 0; i < a->partners.size(); ++i) {
        CHANNELOPS_CHECK(a->partners[i]->id() == b->partners[i]->id());
        CHANNELOPS_CHECK(domain::RoutingIndex::EffectivePass(*a, *a->partners[i]) ==
                         domain::RoutingIndex::EffectivePass(*b, *b->partners[i]))
            << "territory " << id << ": rotation pass of " << a->partners[i]->id()
            << " differs after a reload";
      }
    }
    index_ = std::move(fresh);
  }

  // ---- invariants ----

  void CheckInvariants() const {
    std::map<std::string, int64_t> held;
    for (const auto& [id, lead] : leads_) {
      auto stream = streams_.find(domain::LeadStream(id));
      CHANNELOPS_CHECK(stream != streams_.end() && stream->second == lead.version())
          << "lead " << id << " version " << lead.version() << " is not its stream's";
      CHANNELOPS_CHECK(lead.status() != v1::LEAD_STATUS_UNSPECIFIED) << "lead " << id;
      if (Holds(lead)) {
        CHANNELOPS_CHECK(index_->FindPartner(lead.partner_id()) != nullptr)
            << "lead " << id << " held by unknown partner '" << lead.partner_id() << "'";
        ++held[lead.partner_id()];
      }
      if (lead.status() == v1::LEAD_STATUS_ASSIGNED) {
        CHANNELOPS_CHECK(lead.has_accept_deadline()) << "offer of " << id << " without deadline";
      }
      if (lead.status() == v1::LEAD_STATUS_UNROUTED) {
        CHANNELOPS_CHECK(lead.partner_id().empty()) << "unrouted lead " << id << " has a holder";
      }
    }
    for (const auto& [id, unused] : rm_partners_) {
      const domain::PartnerEntry* p = index_->FindPartner(id);
      CHANNELOPS_CHECK(p != nullptr);
      const auto& c = p->counters;
      CHANNELOPS_CHECK(c.open_leads() >= 0 && c.received() >= 0 && c.accepted() >= 0);
      auto it = held.find(id);
      const int64_t n = it == held.end() ? 0 : it->second;
      CHANNELOPS_CHECK(c.open_leads() == n)
          << "partner " << id << " open_leads " << c.open_leads() << " but holds " << n;
      auto stats = rm_stats_.find(id);
      if (stats != rm_stats_.end()) {
        CHANNELOPS_CHECK(stats->second.SerializeAsString() == c.SerializeAsString())
            << "rm_partner_stats of " << id << " is stale";
      }
    }
  }

  domain::Context Ctx(const char* actor = kActor) const { return domain::Context{now_, actor}; }

  int next_lead_ = 0;
  std::unique_ptr<domain::RoutingIndex> index_;  // the writer's cache
  std::map<std::string, v1::Lead> leads_;        // rm_leads
  std::map<std::string, v1::Territory> rm_territories_;
  std::map<std::string, v1::PartnerProfile> rm_partners_;
  std::map<std::string, v1::PartnerCounters> rm_stats_;
  std::map<std::pair<std::string, std::string>, int64_t> rm_rotation_;
  std::map<std::string, uint64_t> streams_;
};

// ---- seeds ----

v1::UpsertPartnerProfileRequest Partner(const std::string& id, int weight, int cap,
                                        std::optional<std::pair<double, double>> at = {}) {
  v1::UpsertPartnerProfileRequest r;
  r.set_request_id(absl::StrCat("profile-", id));
  v1::PartnerProfile* p = r.mutable_profile();
  p->set_partner_id(id);
  p->set_name(absl::StrCat("Partner ", id));
  p->set_active(true);
  p->set_tier("gold");
  p->set_routing_weight(weight);
  p->add_certifications("Security");
  p->add_product_lines("security");
  p->add_product_lines("storage");
  p->set_max_open_leads(cap);
  if (at) {
    p->mutable_location()->set_latitude(at->first);
    p->mutable_location()->set_longitude(at->second);
  }
  p->mutable_sla_miss_policy()->set_max_misses(2);
  p->mutable_sla_miss_policy()->set_window_hours(240);
  p->mutable_sla_miss_policy()->set_pause_hours(24);
  return r;
}

v1::SubmitLeadRequest Lead(const std::string& request_id, const std::string& country,
                           const std::string& region, const std::string& postal) {
  v1::SubmitLeadRequest r;
  r.set_request_id(request_id);
  r.set_source("web");
  r.set_campaign_id("spring");
  r.set_company("Acme Corp");
  r.mutable_contact()->set_name("Ann Buyer");
  r.mutable_contact()->set_email("ann@acme.example.com");
  r.set_country_code(country);
  r.set_region(region);
  r.set_postal_code(postal);
  r.set_industry("Healthcare");
  r.set_product_interest("security");
  r.set_score(70);
  return r;
}

std::vector<std::string> Seeds() {
  std::vector<std::string> seeds;
  {  // A shared territory with rotation, accept/convert, decline, reassign, restart.
    std::string s;
    fuzz::AppendStep(s, kProfile, Partner("pa", 3, 5));
    fuzz::AppendStep(s, kProfile, Partner("pb", 1, 1));
    fuzz::AppendStep(s, kProfile, Partner("pc", 2, 0, std::make_pair(40.7, -74.0)));
    v1::UpsertTerritoryRequest t;
    t.set_request_id("t1");
    v1::Territory* x = t.mutable_territory();
    x->set_territory_id("ca-shared");
    x->set_name("California");
    x->add_countries("us");
    x->add_regions("CA");
    x->set_mode(v1::TERRITORY_MODE_SHARED);
    x->add_partner_ids("pa");
    x->add_partner_ids("pb");
    x->set_acceptance_sla_hours(24);
    x->set_performance_bias(true);
    fuzz::AppendStep(s, kTerritory, t);
    v1::UpsertTerritoryRequest e;
    e.set_request_id("t2");
    v1::Territory* y = e.mutable_territory();
    y->set_territory_id("ny-94");
    y->add_countries("US");
    y->add_postal_prefixes("100");
    y->set_mode(v1::TERRITORY_MODE_EXCLUSIVE);
    y->set_owner_partner_id("pc");
    y->add_required_certifications("security");
    fuzz::AppendStep(s, kTerritory, e);
    fuzz::AppendStep(s, kSubmit, Lead("l1", "US", "CA", "94105"));  // L1
    fuzz::AppendStep(s, kSubmit, Lead("l2", "US", "CA", "90210"));  // L2
    fuzz::AppendStep(s, kSubmit, Lead("l3", "US", "NY", "10001"));  // L3 -> pc
    v1::AcceptLeadRequest a;
    a.set_request_id("a1");
    a.set_lead_id("L1");
    a.set_partner_id("pa");
    fuzz::AppendStep(s, kAccept, a);
    v1::ConvertLeadRequest c;
    c.set_request_id("c1");
    c.set_lead_id("L1");
    c.set_partner_id("pa");
    c.set_deal_id("deal-1");
    fuzz::AppendStep(s, kConvert, c);
    v1::DeclineLeadRequest d;
    d.set_request_id("d1");
    d.set_lead_id("L2");
    d.set_partner_id("pb");
    d.set_reason("no capacity this quarter");
    fuzz::AppendStep(s, kDecline, d);
    fuzz::AppendRaw(s, kRestart, "");
    v1::ReassignLeadRequest re;
    re.set_request_id("r1");
    re.set_lead_id("L3");
    re.set_partner_id("pb");
    re.set_reason("customer asked for pb");
    fuzz::AppendStep(s, kReassign, re);
    v1::CloseLeadRequest cl;
    cl.set_request_id("cl1");
    cl.set_lead_id("L2");
    cl.set_reason("duplicate");
    fuzz::AppendStep(s, kClose, cl);
    fuzz::AppendStep(s, kSubmit, Lead("l4", "US", "CA", "94000"));  // L4
    fuzz::AppendRaw(s, kRestart, "");
    seeds.push_back(std::move(s));
  }
  {  // Nearest partner, SLA timeouts up to a pause, clearing the pause.
    std::string s;
    fuzz::AppendStep(s, kProfile, Partner("px", 1, 0, std::make_pair(48.85, 2.35)));
    fuzz::AppendStep(s, kProfile, Partner("py", 1, 0, std::make_pair(51.5, -0.12)));
    v1::SubmitLeadRequest l = Lead("l1", "FR", "", "75001");
    l.mutable_location()->set_latitude(48.9);
    l.mutable_location()->set_longitude(2.3);
    fuzz::AppendStep(s, kSubmit, l);  // L1 -> px
    fuzz::AppendRaw(s, kTick, fuzz::Hours(49));
    l.set_request_id("l2");
    fuzz::AppendStep(s, kSubmit, l);  // L2 -> px (py has L1 now)
    fuzz::AppendRaw(s, kTick, fuzz::Hours(49));
    v1::UpsertPartnerProfileRequest clear = Partner("px", 1, 0, std::make_pair(48.85, 2.35));
    clear.set_clear_pause(true);
    fuzz::AppendStep(s, kProfile, clear);
    fuzz::AppendRaw(s, kRestart, "");
    seeds.push_back(std::move(s));
  }
  return seeds;
}

}  // namespace
}  // namespace channelops::leads

CHANNELOPS_REQUEST_FUZZER(channelops::leads)
