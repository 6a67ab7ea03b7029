#pragma once

// The lead routing decider: pure Decide / Evolve functions over territories,
// partner profiles and leads. No I/O, no clock reads, no randomness: time and
// actor come in the Context, new ids in the command, and the routing state
// (territories, partners, counters, rotation) in a read-only RoutingIndex.
// The index itself moves forward by RoutingIndex::Apply(event). Thread-safe as
// long as the index is not mutated concurrently.
//
// Errors returned by Decide (nothing is recorded on error):
//   INVALID_ARGUMENT     a reference to an unknown partner (google.rpc.BadRequest
//                        naming the field)
//   NOT_FOUND            the lead does not exist
//   FAILED_PRECONDITION  the lead's state does not allow the command
//                        (google.rpc.PreconditionFailure, subject "lead/<id>" or
//                        "partner/<id>")
//
// The single-holder invariant: a lead is held by at most one partner, and only
// while ASSIGNED or ACCEPTED (Lead.partner_id); every offer (LeadRouted)
// increments the holder's open_leads and every release decrements it, so a
// partner's open_leads always equals the number of leads it holds.

#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "channelops/leads/v1/events.pb.h"
#include "channelops/leads/v1/leads.pb.h"
#include "lead_routing/domain/events.h"
#include "lead_routing/domain/routing_index.h"

namespace channelops::leads::domain {

struct Context {
  absl::Time now;     // the instant the command is decided at
  std::string actor;  // authenticated principal
};

// ---------------------------------------------------------------------------
// Territories and partner profiles (shape-validated and normalised input).
// ---------------------------------------------------------------------------
struct UpsertTerritory {
  v1::Territory territory;
};
// TerritoryUpserted with the next version. INVALID_ARGUMENT naming
// territory.owner_partner_id / territory.partner_ids[i] for unknown partners.
absl::StatusOr<std::vector<Event>> Decide(const RoutingIndex& index, const UpsertTerritory& c,
                                          const Context& ctx);

struct UpsertPartnerProfile {
  v1::PartnerProfile profile;
  bool clear_pause = false;
};
absl::StatusOr<std::vector<Event>> Decide(const RoutingIndex& index, const UpsertPartnerProfile& c,
                                          const Context& ctx);

// ---------------------------------------------------------------------------
// Leads (stream lead-<id>). State: v1::Lead; lead_id empty: does not exist.
// ---------------------------------------------------------------------------
struct SubmitLead {
  std::string lead_id;            // new id (UUIDv7)
  v1::SubmitLeadRequest request;  // shape-validated and normalised
};
struct AcceptLead {
  std::string partner_id;
};
struct DeclineLead {
  std::string partner_id;
  std::string reason;
};
// The SLA sweeper's command: FAILED_PRECONDITION unless the lead is still
// offered to `partner_id` with this `deadline` and the deadline is <= now.
struct TimeOutLead {
  std::string partner_id;
  absl::Time deadline;
};
struct ConvertLead {
  std::string partner_id;
  std::string deal_id;
};
// partner_id empty: a channel manager closes it (any open status).
struct CloseLead {
  std::string partner_id;
  std::string reason;
};
struct ReassignLead {
  std::string partner_id;
  std::string reason;
};

using LeadCommand = std::variant<SubmitLead, AcceptLead, DeclineLead, TimeOutLead, ConvertLead,
                                 CloseLead, ReassignLead>;

// SubmitLead: LeadSubmitted + (LeadRouted | LeadUnrouted).
// AcceptLead: LeadAccepted; no events if the partner already accepted it.
// DeclineLead: LeadDeclined + the next routing decision.
// TimeOutLead: LeadAcceptanceTimedOut [+ PartnerPaused] + the next routing decision.
// ConvertLead: LeadConverted. CloseLead: LeadClosed.
// ReassignLead: LeadRouted (MANUAL_REASSIGNMENT, previous holder released).
absl::StatusOr<std::vector<Event>> Decide(const v1::Lead& state, const LeadCommand& c,
                                          const RoutingIndex& index, const Context& ctx);

// Applies one lead event (bumps version); other events leave the lead unchanged.
v1::Lead Evolve(v1::Lead state, const Event& e);

// The routing facts of a lead.
LeadFacts FactsOf(const v1::Lead& lead);

// UNROUTED, ASSIGNED and ACCEPTED leads are open.
bool IsOpen(v1::LeadStatus status);

// The lead as `partner_id` may see it: contact details only once it accepted
// the lead (contact_withheld otherwise); never which other partners declined
// it or the routing trace. Where the partner is not the holder, the holder and
// the decision are removed too.
v1::Lead PartnerView(const v1::Lead& lead, const std::string& partner_id);

}  // namespace channelops::leads::domain
