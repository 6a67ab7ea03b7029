#pragma once

// The routing pipeline: an ordered list of rules, each narrowing the
// candidate partners, then a strategy that picks one.
//
//   TERRITORY       the most specific territory covering the lead
//                   (RoutingIndex::MatchTerritory); its owner or pool are the
//                   candidates. No territory: NEAREST_PARTNER below.
//   ELIGIBILITY     active, certified for the lead's product line, holding the
//                   territory's required certifications, not paused
//   CAPACITY        holding fewer than max_open_leads (0: no cap)
//   PRIOR_RESPONSE  has not declined this lead nor let it time out
//   strategy        EXCLUSIVE_OWNER for an exclusive territory; otherwise
//                   WEIGHTED_ROTATION: the lowest effective rotation pass (see
//                   RoutingIndex), ties to the higher effective weight, then
//                   the smaller partner id. Deterministic and, over time,
//                   proportional to the weights.
//   NEAREST_PARTNER no territory matched and the lead has a location: the
//                   nearest partner (great-circle) passing the same three
//                   rules; ties to the smaller partner id.
//
// When no candidate survives, the decision names the rule that left none and
// the lead goes to the manual queue. A pure function of its arguments.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "channelops/leads/v1/leads.pb.h"
#include "lead_routing/domain/routing_index.h"

namespace channelops::leads::domain {

struct RouteResult {
  v1::RoutingDecision decision;      // partner_id empty: manual queue
  int32_t acceptance_sla_hours = 0;  // routed: the SLA of the offer
};

// `excluded`: partners that declined the lead or let it time out.
RouteResult Route(const RoutingIndex& index, const LeadFacts& lead,
                  const std::vector<std::string>& excluded, absl::Time now);

// Why a partner is not a candidate for a lead (the first failing rule).
enum class Screen {
  kOk,
  kInactive,              // ELIGIBILITY
  kNotCertifiedProduct,   // ELIGIBILITY
  kMissingCertification,  // ELIGIBILITY
  kPaused,                // ELIGIBILITY
  kAtCapacity,            // CAPACITY
  kPriorResponse,         // PRIOR_RESPONSE
};

}  // namespace channelops::leads::domain
