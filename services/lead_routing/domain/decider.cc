#include "lead_routing/domain/decider.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "channelops/core/check.h"
#include "channelops/core/grpc_status.h"
#include "channelops/core/vectors.h"
#include "lead_routing/domain/router.h"

namespace channelops::leads::domain {
namespace {

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

using Events = std::vector<Event>;

std::string Subject(const v1::Lead& lead) { return absl::StrCat("lead/", lead.lead_id()); }

absl::Status Precondition(const v1::Lead& lead, const std::string& reason) {
  return core::FailedPrecondition(Subject(lead), reason);
}

const char* StatusWord(v1::LeadStatus s) {
  switch (s) {
    case v1::LEAD_STATUS_UNROUTED:
      return "in the manual queue";
    case v1::LEAD_STATUS_ASSIGNED:
      return "assigned";
    case v1::LEAD_STATUS_ACCEPTED:
      return "accepted";
    case v1::LEAD_STATUS_CONVERTED:
      return "converted";
    case v1::LEAD_STATUS_CLOSED:
      return "closed";
    default:
      return "unknown";
  }
}

absl::Status NotOpen(const v1::Lead& lead) {
  return Precondition(
      lead, absl::StrCat("lead is ", StatusWord(lead.status()), "; no further action is possible"));
}

absl::Status UnknownPartner(const std::string& field, const std::string& partner_id) {
  return core::InvalidArgument(field, absl::StrCat("unknown partner '", partner_id, "'"));
}

v1::LeadKeys KeysOf(const v1::Lead& lead) {
  v1::LeadKeys k;
  k.set_lead_id(lead.lead_id());
  k.set_campaign_id(lead.campaign_id());
  k.set_source(lead.source());
  return k;
}

// Collects events and keeps the lead evolved through them, so later decisions
// in the same command see the earlier ones (a decline excludes the decliner).
class Builder {
 public:
  explicit Builder(const v1::Lead& state) : lead_(state) {}
  void Add(Event e) {
    lead_ = Evolve(std::move(lead_), e);
    events_.push_back(std::move(e));
  }
  const v1::Lead& lead() const { return lead_; }
  Events Take() { return std::move(events_); }

 private:
  v1::Lead lead_;
  Events events_;
};

// The next routing decision for the lead as it stands in `b`.
void RouteNext(Builder& b, const RoutingIndex& index, const Context& ctx) {
  const v1::Lead& lead = b.lead();
  std::vector<std::string> excluded(lead.excluded_partner_ids().begin(),
                                    lead.excluded_partner_ids().end());
  RouteResult r = Route(index, FactsOf(lead), excluded, ctx.now);
  int32_t attempt = lead.routing_attempts() + 1;
  v1::RoutingDecision& d = r.decision;
  if (d.partner_id().empty()) {
    v1::LeadUnrouted e;
    *e.mutable_keys() = KeysOf(lead);
    e.set_territory_id(d.territory_id());
    e.set_rule(d.decided_by());
    e.set_reason(d.reason());
    *e.mutable_steps() = std::move(*d.mutable_steps());
    e.set_attempt(attempt);
    *e.mutable_occurred_at() = ToProtoTime(ctx.now);
    b.Add(std::move(e));
    return;
  }
  v1::LeadRouted e;
  *e.mutable_keys() = KeysOf(lead);
  e.set_partner_id(d.partner_id());
  e.set_territory_id(d.territory_id());
  e.set_rule(d.decided_by());
  e.set_reason(d.reason());
  *e.mutable_steps() = std::move(*d.mutable_steps());
  e.set_attempt(attempt);
  e.set_acceptance_sla_hours(r.acceptance_sla_hours);
  *e.mutable_accept_deadline() = ToProtoTime(ctx.now + absl::Hours(r.acceptance_sla_hours));
  e.set_distance_km(d.distance_km());
  *e.mutable_occurred_at() = ToProtoTime(ctx.now);
  b.Add(std::move(e));
}

// The holder check shared by the partner commands.
absl::Status RequireHolder(const v1::Lead& lead, const std::string& partner_id) {
  if (!IsOpen(lead.status())) return NotOpen(lead);
  if (lead.status() == v1::LEAD_STATUS_UNROUTED) {
    return Precondition(lead, "lead is in the manual queue, not offered to any partner");
  }
  if (lead.partner_id() != partner_id) {
    return Precondition(lead, "lead is held by another partner");
  }
  return absl::OkStatus();
}

absl::StatusOr<Events> DecideSubmit(const v1::Lead& state, const SubmitLead& c,
                                    const RoutingIndex& index, const Context& ctx) {
  if (!state.lead_id().empty()) {
    return absl::AlreadyExistsError(absl::StrCat("lead ", c.lead_id, " already exists"));
  }
  const v1::SubmitLeadRequest& r = c.request;
  v1::LeadSubmitted e;
  e.mutable_keys()->set_lead_id(c.lead_id);
  e.mutable_keys()->set_campaign_id(r.campaign_id());
  e.mutable_keys()->set_source(r.source());
  e.set_company(r.company());
  if (r.has_contact()) *e.mutable_contact() = r.contact();
  e.set_country_code(r.country_code());
  e.set_region(r.region());
  e.set_postal_code(r.postal_code());
  e.set_industry(r.industry());
  e.set_product_interest(r.product_interest());
  e.set_score(r.score());
  if (r.has_location()) *e.mutable_location() = r.location();
  *e.mutable_occurred_at() = ToProtoTime(ctx.now);
  Builder b(state);
  b.Add(std::move(e));
  RouteNext(b, index, ctx);
  return b.Take();
}

absl::StatusOr<Events> DecideAccept(const v1::Lead& lead, const AcceptLead& c,
                                    const RoutingIndex& index, const Context& ctx) {
  if (index.FindPartner(c.partner_id) == nullptr) return UnknownPartner("partner_id", c.partner_id);
  if (absl::Status s = RequireHolder(lead, c.partner_id); !s.ok()) return s;
  if (lead.status() == v1::LEAD_STATUS_ACCEPTED) return Events{};  // already accepted by it
  absl::Time deadline = FromProtoTime(lead.accept_deadline());
  if (ctx.now >= deadline) {
    return Precondition(
        lead, absl::StrCat("the acceptance deadline passed at ",
                           absl::FormatTime(absl::RFC3339_sec, deadline, absl::UTCTimeZone())));
  }
  v1::LeadAccepted e;
  *e.mutable_keys() = KeysOf(lead);
  e.set_partner_id(c.partner_id);
  e.set_territory_id(lead.territory_id());
  *e.mutable_assigned_at() = lead.assigned_at();
  *e.mutable_time_to_accept() = ToProtoDuration(ctx.now - FromProtoTime(lead.assigned_at()));
  *e.mutable_occurred_at() = ToProtoTime(ctx.now);
  return core::VectorOf<Event>(std::move(e));
}

absl::StatusOr<Events> DecideDecline(const v1::Lead& lead, const DeclineLead& c,
                                     const RoutingIndex& index, const Context& ctx) {
  if (index.FindPartner(c.partner_id) == nullptr) return UnknownPartner("partner_id", c.partner_id);
  if (absl::Status s = RequireHolder(lead, c.partner_id); !s.ok()) return s;
  if (lead.status() == v1::LEAD_STATUS_ACCEPTED) {
    return Precondition(lead,
                        "lead is already accepted; close it, or ask a channel manager to "
                        "reassign it");
  }
  v1::LeadDeclined e;
  *e.mutable_keys() = KeysOf(lead);
  e.set_partner_id(c.partner_id);
  e.set_territory_id(lead.territory_id());
  e.set_reason(c.reason);
  *e.mutable_occurred_at() = ToProtoTime(ctx.now);
  Builder b(lead);
  b.Add(std::move(e));
  RouteNext(b, index, ctx);
  return b.Take();
}

absl::StatusOr<Events> DecideTimeOut(const v1::Lead& lead, const TimeOutLead& c,
                                     const RoutingIndex& index, const Context& ctx) {
  absl::Time deadline = FromProtoTime(lead.accept_deadline());
  if (lead.status() != v1::LEAD_STATUS_ASSIGNED || lead.partner_id() != c.partner_id ||
      deadline != c.deadline) {
    return Precondition(lead, "the offer has changed since its deadline was scheduled");
  }
  if (deadline > ctx.now) return Precondition(lead, "the acceptance deadline has not passed");
  const PartnerEntry* p = index.FindPartner(c.partner_id);
  CHANNELOPS_CHECK(p != nullptr) << "lead " << lead.lead_id() << " held by unknown partner";
  SlaPolicy policy = PolicyOf(p->profile);
  absl::Time since = ctx.now - policy.window;
  int32_t misses = 1;  // this one
  for (const auto& t : p->counters.recent_misses()) {
    if (FromProtoTime(t) > since) ++misses;
  }
  Builder b(lead);
  v1::LeadAcceptanceTimedOut e;
  *e.mutable_keys() = KeysOf(lead);
  e.set_partner_id(c.partner_id);
  e.set_territory_id(lead.territory_id());
  *e.mutable_accept_deadline() = lead.accept_deadline();
  e.set_misses_in_window(misses);
  *e.mutable_occurred_at() = ToProtoTime(ctx.now);
  b.Add(std::move(e));
  if (misses >= policy.max_misses) {
    v1::PartnerPaused paused;
    paused.set_partner_id(c.partner_id);
    paused.set_misses(misses);
    paused.set_window_hours(static_cast<int32_t>(absl::ToInt64Hours(policy.window)));
    *paused.mutable_paused_until() = ToProtoTime(ctx.now + policy.pause);
    paused.set_last_lead_id(lead.lead_id());
    *paused.mutable_occurred_at() = ToProtoTime(ctx.now);
    b.Add(std::move(paused));
  }
  RouteNext(b, index, ctx);
  return b.Take();
}

absl::StatusOr<Events> DecideConvert(const v1::Lead& lead, const ConvertLead& c,
                                     const RoutingIndex& index, const Context& ctx) {
  if (index.FindPartner(c.partner_id) == nullptr) return UnknownPartner("partner_id", c.partner_id);
  if (absl::Status s = RequireHolder(lead, c.partner_id); !s.ok()) return s;
  if (lead.status() != v1::LEAD_STATUS_ACCEPTED) {
    return Precondition(lead, "lead is not accepted yet; accept it before converting it");
  }
  v1::LeadConverted e;
  *e.mutable_keys() = KeysOf(lead);
  e.set_partner_id(c.partner_id);
  e.set_territory_id(lead.territory_id());
  e.set_deal_id(c.deal_id);
  *e.mutable_accepted_at() = lead.accepted_at();
  *e.mutable_occurred_at() = ToProtoTime(ctx.now);
  return core::VectorOf<Event>(std::move(e));
}

absl::StatusOr<Events> DecideClose(const v1::Lead& lead, const CloseLead& c,
                                   const RoutingIndex& index, const Context& ctx) {
  if (!c.partner_id.empty()) {
    if (index.FindPartner(c.partner_id) == nullptr)
      return UnknownPartner("partner_id", c.partner_id);
    if (absl::Status s = RequireHolder(lead, c.partner_id); !s.ok()) return s;
    if (lead.status() != v1::LEAD_STATUS_ACCEPTED) {
      return Precondition(lead, "lead is not accepted; decline it instead of closing it");
    }
  } else if (!IsOpen(lead.status())) {
    return NotOpen(lead);
  }
  v1::LeadClosed e;
  *e.mutable_keys() = KeysOf(lead);
  e.set_partner_id(lead.partner_id());  // the holder (empty when unrouted)
  e.set_territory_id(lead.territory_id());
  e.set_reason(c.reason);
  e.set_previous_status(lead.status());
  e.set_closed_by(c.partner_id.empty() ? ctx.actor : c.partner_id);
  *e.mutable_occurred_at() = ToProtoTime(ctx.now);
  return core::VectorOf<Event>(std::move(e));
}

absl::StatusOr<Events> DecideReassign(const v1::Lead& lead, const ReassignLead& c,
                                      const RoutingIndex& index, const Context& ctx) {
  const PartnerEntry* p = index.FindPartner(c.partner_id);
  if (p == nullptr) return UnknownPartner("partner_id", c.partner_id);
  if (!IsOpen(lead.status())) return NotOpen(lead);
  if (!p->profile.active()) {
    return core::FailedPrecondition(absl::StrCat("partner/", c.partner_id),
                                    "partner is inactive and cannot hold leads");
  }
  if (lead.partner_id() == c.partner_id) {
    return Precondition(lead, absl::StrCat("lead is already held by partner ", c.partner_id));
  }
  const TerritoryEntry* t =
      lead.territory_id().empty() ? nullptr : index.FindTerritory(lead.territory_id());
  int32_t sla = AcceptanceSlaHours(t);
  v1::LeadRouted e;
  *e.mutable_keys() = KeysOf(lead);
  e.set_partner_id(c.partner_id);
  e.set_territory_id(lead.territory_id());
  e.set_rule(v1::ROUTING_RULE_MANUAL_REASSIGNMENT);
  e.set_reason(c.reason);
  v1::RuleStep* step = e.add_steps();
  step->set_rule(v1::ROUTING_RULE_MANUAL_REASSIGNMENT);
  step->set_candidates_before(1);
  step->set_candidates_after(1);
  step->set_detail(
      absl::StrCat("reassigned by ", ctx.actor, " from ",
                   lead.partner_id().empty() ? "the manual queue" : lead.partner_id()));
  e.set_previous_partner_id(lead.partner_id());
  e.set_attempt(lead.routing_attempts() + 1);
  e.set_acceptance_sla_hours(sla);
  *e.mutable_accept_deadline() = ToProtoTime(ctx.now + absl::Hours(sla));
  e.set_reassigned_by(ctx.actor);
  *e.mutable_occurred_at() = ToProtoTime(ctx.now);
  return core::VectorOf<Event>(std::move(e));
}

}  // namespace

absl::StatusOr<std::vector<Event>> Decide(const RoutingIndex& index, const UpsertTerritory& c,
                                          const Context& ctx) {
  const v1::Territory& t = c.territory;
  core::FieldViolations v;
  if (t.mode() == v1::TERRITORY_MODE_EXCLUSIVE) {
    if (index.FindPartner(t.owner_partner_id()) == nullptr) {
      v.Add("territory.owner_partner_id",
            absl::StrCat("unknown partner '", t.owner_partner_id(), "'"));
    }
  } else {
    for (int i = 0; i < t.partner_ids_size(); ++i) {
      if (index.FindPartner(t.partner_ids(i)) == nullptr) {
        v.Add(absl::StrCat("territory.partner_ids[", i, "]"),
              absl::StrCat("unknown partner '", t.partner_ids(i), "'"));
      }
    }
  }
  if (absl::Status s = v.ToStatus(); !s.ok()) return s;
  const TerritoryEntry* existing = index.FindTerritory(t.territory_id());
  v1::TerritoryUpserted e;
  *e.mutable_territory() = t;
  e.mutable_territory()->set_version(existing ? existing->territory.version() + 1 : 1);
  *e.mutable_territory()->mutable_updated_at() = ToProtoTime(ctx.now);
  *e.mutable_occurred_at() = ToProtoTime(ctx.now);
  return core::VectorOf<Event>(std::move(e));
}

absl::StatusOr<std::vector<Event>> Decide(const RoutingIndex& index, const UpsertPartnerProfile& c,
                                          const Context& ctx) {
  const PartnerEntry* existing = index.FindPartner(c.profile.partner_id());
  v1::PartnerProfileUpserted e;
  *e.mutable_profile() = c.profile;
  e.mutable_profile()->set_version(existing ? existing->profile.version() + 1 : 1);
  *e.mutable_profile()->mutable_updated_at() = ToProtoTime(ctx.now);
  e.mutable_profile()->clear_paused_until();
  e.set_pause_cleared(c.clear_pause && existing != nullptr &&
                      (existing->PausedAt(ctx.now) || !existing->counters.recent_misses().empty()));
  *e.mutable_occurred_at() = ToProtoTime(ctx.now);
  return core::VectorOf<Event>(std::move(e));
}

absl::StatusOr<std::vector<Event>> Decide(const v1::Lead& state, const LeadCommand& c,
                                          const RoutingIndex& index, const Context& ctx) {
  if (!std::holds_alternative<SubmitLead>(c) && state.lead_id().empty()) {
    return absl::NotFoundError("lead_id: no such lead");
  }
  return std::visit(Overloaded{
                        [&](const SubmitLead& x) { return DecideSubmit(state, x, index, ctx); },
                        [&](const AcceptLead& x) { return DecideAccept(state, x, index, ctx); },
                        [&](const DeclineLead& x) { return DecideDecline(state, x, index, ctx); },
                        [&](const TimeOutLead& x) { return DecideTimeOut(state, x, index, ctx); },
                        [&](const ConvertLead& x) { return DecideConvert(state, x, index, ctx); },
                        [&](const CloseLead& x) { return DecideClose(state, x, index, ctx); },
                        [&](const ReassignLead& x) { return DecideReassign(state, x, index, ctx); },
                    },
                    c);
}

v1::Lead Evolve(v1::Lead lead, const Event& e) {
  auto touch = [&lead](const google::protobuf::Timestamp& at) {
    lead.set_version(lead.version() + 1);
    *lead.mutable_updated_at() = at;
  };
  auto release = [&lead](const std::string& partner_id) {
    if (std::find(lead.excluded_partner_ids().begin(), lead.excluded_partner_ids().end(),
                  partner_id) == lead.excluded_partner_ids().end()) {
      lead.add_excluded_partner_ids(partner_id);
    }
    lead.clear_partner_id();
    lead.clear_accept_deadline();
  };
  std::visit(Overloaded{
                 [&](const v1::LeadSubmitted& ev) {
                   lead.set_lead_id(ev.keys().lead_id());
                   lead.set_campaign_id(ev.keys().campaign_id());
                   lead.set_source(ev.keys().source());
                   lead.set_company(ev.company());
                   if (ev.has_contact()) *lead.mutable_contact() = ev.contact();
                   lead.set_country_code(ev.country_code());
                   lead.set_region(ev.region());
                   lead.set_postal_code(ev.postal_code());
                   lead.set_industry(ev.industry());
                   lead.set_product_interest(ev.product_interest());
                   lead.set_score(ev.score());
                   if (ev.has_location()) *lead.mutable_location() = ev.location();
                   *lead.mutable_submitted_at() = ev.occurred_at();
                   touch(ev.occurred_at());
                 },
                 [&](const v1::LeadRouted& ev) {
                   lead.set_status(v1::LEAD_STATUS_ASSIGNED);
                   lead.set_partner_id(ev.partner_id());
                   lead.set_territory_id(ev.territory_id());
                   v1::RoutingDecision* d = lead.mutable_last_decision();
                   d->Clear();
                   d->set_decided_by(ev.rule());
                   d->set_partner_id(ev.partner_id());
                   d->set_territory_id(ev.territory_id());
                   d->set_reason(ev.reason());
                   *d->mutable_steps() = ev.steps();
                   d->set_distance_km(ev.distance_km());
                   *lead.mutable_assigned_at() = ev.occurred_at();
                   *lead.mutable_accept_deadline() = ev.accept_deadline();
                   lead.set_acceptance_sla_hours(ev.acceptance_sla_hours());
                   lead.clear_accepted_at();
                   lead.clear_unrouted_reason();
                   lead.clear_queued_at();
                   lead.set_routing_attempts(ev.attempt());
                   touch(ev.occurred_at());
                 },
                 [&](const v1::LeadUnrouted& ev) {
                   lead.set_status(v1::LEAD_STATUS_UNROUTED);
                   lead.clear_partner_id();
                   lead.set_territory_id(ev.territory_id());
                   v1::RoutingDecision* d = lead.mutable_last_decision();
                   d->Clear();
                   d->set_decided_by(ev.rule());
                   d->set_territory_id(ev.territory_id());
                   d->set_reason(ev.reason());
                   *d->mutable_steps() = ev.steps();
                   lead.set_unrouted_reason(ev.reason());
                   *lead.mutable_queued_at() = ev.occurred_at();
                   lead.clear_assigned_at();
                   lead.clear_accept_deadline();
                   lead.clear_accepted_at();
                   lead.set_acceptance_sla_hours(0);
                   lead.set_routing_attempts(ev.attempt());
                   touch(ev.occurred_at());
                 },
                 [&](const v1::LeadAccepted& ev) {
                   lead.set_status(v1::LEAD_STATUS_ACCEPTED);
                   *lead.mutable_accepted_at() = ev.occurred_at();
                   lead.clear_accept_deadline();
                   touch(ev.occurred_at());
                 },
                 [&](const v1::LeadDeclined& ev) {
                   release(ev.partner_id());
                   touch(ev.occurred_at());
                 },
                 [&](const v1::LeadAcceptanceTimedOut& ev) {
                   release(ev.partner_id());
                   touch(ev.occurred_at());
                 },
                 [&](const v1::LeadConverted& ev) {
                   lead.set_status(v1::LEAD_STATUS_CONVERTED);
                   lead.set_deal_id(ev.deal_id());
                   *lead.mutable_closed_at() = ev.occurred_at();
                   touch(ev.occurred_at());
                 },
                 [&](const v1::LeadClosed& ev) {
                   lead.set_status(v1::LEAD_STATUS_CLOSED);
                   lead.set_close_reason(ev.reason());
                   *lead.mutable_closed_at() = ev.occurred_at();
                   lead.clear_accept_deadline();
                   lead.clear_queued_at();
                   touch(ev.occurred_at());
                 },
                 [&](const auto&) {},
             },
             e);
  return lead;
}

LeadFacts FactsOf(const v1::Lead& lead) {
  LeadFacts f;
  f.country = lead.country_code();
  f.region = lead.region();
  f.postal_code = lead.postal_code();
  f.industry = lead.industry();
  f.product_line = lead.product_interest();
  if (lead.has_location()) f.location = lead.location();
  return f;
}

bool IsOpen(v1::LeadStatus status) {
  return status == v1::LEAD_STATUS_UNROUTED || status == v1::LEAD_STATUS_ASSIGNED ||
         status == v1::LEAD_STATUS_ACCEPTED;
}

v1::Lead PartnerView(const v1::Lead& lead, const std::string& partner_id) {
  v1::Lead view = lead;
  view.clear_excluded_partner_ids();
  view.clear_unrouted_reason();
  bool holder = lead.partner_id() == partner_id;
  if (holder) {
    view.mutable_last_decision()->clear_steps();
  } else {
    view.clear_partner_id();
    view.clear_last_decision();
    view.clear_accept_deadline();
    view.clear_assigned_at();
    view.clear_accepted_at();
  }
  bool accepted = holder && lead.has_accepted_at();
  if (!accepted) {
    view.clear_contact();
    view.set_contact_withheld(true);
  }
  return view;
}

}  // namespace channelops::leads::domain
