#include "lead_routing/domain/router.h"

#include <algorithm>
#include <array>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "channelops/core/check.h"
#include "lead_routing/domain/geo.h"

namespace channelops::leads::domain {
namespace {

constexpr int kScreens = 7;

using ProductLines = absl::flat_hash_set<std::string>;

// The lead's product line hashed once for all the partners it is screened
// against (hashing it per partner was a third of the screen).
size_t ProductLineHash(const LeadFacts& lead) { return ProductLines::hasher{}(lead.product_line); }

// The first rule that rules partner `p` out for `lead` (kOk: none).
// `product_hash`: ProductLineHash(lead). `territory` may be null (nearest
// partner: no certification requirement).
Screen ScreenPartner(const PartnerEntry& p, const LeadFacts& lead, size_t product_hash,
                     const TerritoryEntry* territory, const std::vector<std::string>& excluded,
                     absl::Time now) {
  if (!p.profile.active()) return Screen::kInactive;
  if (!lead.product_line.empty() &&
      p.product_lines.find(lead.product_line, product_hash) == p.product_lines.end()) {
    return Screen::kNotCertifiedProduct;
  }
  if (territory != nullptr) {
    for (const std::string& c : territory->territory.required_certifications()) {
      if (!p.certifications.contains(c)) return Screen::kMissingCertification;
    }
  }
  if (p.PausedAt(now)) return Screen::kPaused;
  int32_t cap = p.profile.max_open_leads();
  if (cap > 0 && p.counters.open_leads() >= cap) return Screen::kAtCapacity;
  if (std::find(excluded.begin(), excluded.end(), p.id()) != excluded.end()) {
    return Screen::kPriorResponse;
  }
  return Screen::kOk;
}

v1::RuleStep* AddStep(v1::RoutingDecision& d, v1::RoutingRule rule, size_t before, size_t after,
                      std::string detail) {
  v1::RuleStep* s = d.add_steps();
  s->set_rule(rule);
  s->set_candidates_before(static_cast<int32_t>(before));
  s->set_candidates_after(static_cast<int32_t>(after));
  s->set_detail(std::move(detail));
  return s;
}

const char* LevelName(MatchLevel level) {
  switch (level) {
    case MatchLevel::kPostal:
      return "postal prefix";
    case MatchLevel::kRegion:
      return "region";
    case MatchLevel::kCountry:
      break;
  }
  return "country";
}

std::string Describe(const LeadFacts& lead) {
  std::vector<std::string> parts;
  parts.push_back(lead.country.empty() ? "no country" : lead.country);
  if (!lead.region.empty()) parts.push_back(lead.region);
  if (!lead.postal_code.empty()) parts.push_back(lead.postal_code);
  if (!lead.industry.empty()) parts.push_back(lead.industry);
  return absl::StrJoin(parts, "/");
}

// Appends ELIGIBILITY, CAPACITY and PRIOR_RESPONSE steps from the tallies of
// `total` candidates. Returns the rule that left no candidate, or UNSPECIFIED.
v1::RoutingRule NarrowingSteps(v1::RoutingDecision& d, size_t total,
                               const std::array<size_t, kScreens>& n, const LeadFacts& lead) {
  auto at = [&](Screen s) { return n[static_cast<int>(s)]; };
  size_t ineligible = at(Screen::kInactive) + at(Screen::kNotCertifiedProduct) +
                      at(Screen::kMissingCertification) + at(Screen::kPaused);
  std::vector<std::string> why;
  if (at(Screen::kInactive)) why.push_back(absl::StrCat(at(Screen::kInactive), " inactive"));
  if (at(Screen::kNotCertifiedProduct)) {
    why.push_back(absl::StrCat(at(Screen::kNotCertifiedProduct), " not certified for '",
                               lead.product_line, "'"));
  }
  if (at(Screen::kMissingCertification)) {
    why.push_back(
        absl::StrCat(at(Screen::kMissingCertification), " missing a required certification"));
  }
  if (at(Screen::kPaused))
    why.push_back(absl::StrCat(at(Screen::kPaused), " paused for SLA misses"));
  size_t after_eligibility = total - ineligible;
  AddStep(d, v1::ROUTING_RULE_ELIGIBILITY, total, after_eligibility,
          why.empty() ? "all eligible" : absl::StrJoin(why, ", "));
  size_t after_capacity = after_eligibility - at(Screen::kAtCapacity);
  AddStep(d, v1::ROUTING_RULE_CAPACITY, after_eligibility, after_capacity,
          at(Screen::kAtCapacity) ? absl::StrCat(at(Screen::kAtCapacity), " at capacity")
                                  : "all below capacity");
  size_t after_prior = after_capacity - at(Screen::kPriorResponse);
  AddStep(d, v1::ROUTING_RULE_PRIOR_RESPONSE, after_capacity, after_prior,
          at(Screen::kPriorResponse)
              ? absl::StrCat(at(Screen::kPriorResponse), " declined or timed out on this lead")
              : "none declined or timed out");
  if (after_eligibility == 0) return v1::ROUTING_RULE_ELIGIBILITY;
  if (after_capacity == 0) return v1::ROUTING_RULE_CAPACITY;
  if (after_prior == 0) return v1::ROUTING_RULE_PRIOR_RESPONSE;
  return v1::ROUTING_RULE_UNSPECIFIED;
}

const char* RuleWord(v1::RoutingRule rule) {
  switch (rule) {
    case v1::ROUTING_RULE_ELIGIBILITY:
      return "eligibility";
    case v1::ROUTING_RULE_CAPACITY:
      return "capacity";
    case v1::ROUTING_RULE_PRIOR_RESPONSE:
      return "prior response";
    default:
      return "routing";
  }
}

void RouteInTerritory(const RoutingIndex& index, const TerritoryMatch& match, const LeadFacts& lead,
                      const std::vector<std::string>& excluded, absl::Time now, RouteResult& out) {
  const TerritoryEntry& t = *match.territory;
  v1::RoutingDecision& d = out.decision;
  d.set_territory_id(t.id());
  AddStep(d, v1::ROUTING_RULE_TERRITORY, index.partner_count(), t.partners.size(),
          absl::StrCat("territory ", t.id(), " matched on ", LevelName(match.level), " '",
                       match.matched_on, "' (", t.exclusive() ? "exclusive" : "shared", ", ",
                       t.partners.size(), t.partners.size() == 1 ? " partner)" : " partners)"));

  std::array<size_t, kScreens> tally{};
  const PartnerEntry* best = nullptr;
  int64_t best_pass = 0, best_weight = 0;
  size_t survivors = 0;
  const size_t product_hash = ProductLineHash(lead);
  for (const PartnerEntry* p : t.partners) {
    Screen s = ScreenPartner(*p, lead, product_hash, &t, excluded, now);
    ++tally[static_cast<int>(s)];
    if (s != Screen::kOk) continue;
    ++survivors;
    int64_t pass = RoutingIndex::EffectivePass(t, *p);
    int64_t weight = RoutingIndex::EffectiveWeight(t, *p);
    if (best == nullptr || pass < best_pass ||
        (pass == best_pass &&
         (weight > best_weight || (weight == best_weight && p->id() < best->id())))) {
      best = p;
      best_pass = pass;
      best_weight = weight;
    }
  }
  v1::RoutingRule emptied = NarrowingSteps(d, t.partners.size(), tally, lead);
  out.acceptance_sla_hours = AcceptanceSlaHours(&t);
  if (best == nullptr) {
    CHANNELOPS_CHECK(emptied != v1::ROUTING_RULE_UNSPECIFIED) << "no candidate, no rule";
    d.set_decided_by(emptied);
    std::string why;
    for (const v1::RuleStep& s : d.steps()) {
      if (s.rule() == emptied) why = s.detail();
    }
    d.set_reason(absl::StrCat(RuleWord(emptied), ": no candidate left in territory ", t.id(), " (",
                              why, "); queued for manual routing"));
    return;
  }
  d.set_partner_id(best->id());
  if (t.exclusive()) {
    d.set_decided_by(v1::ROUTING_RULE_EXCLUSIVE_OWNER);
    AddStep(d, v1::ROUTING_RULE_EXCLUSIVE_OWNER, 1, 1,
            absl::StrCat("exclusive owner ", best->id()));
    d.set_reason(absl::StrCat("exclusive owner of territory ", t.id()));
    return;
  }
  d.set_decided_by(v1::ROUTING_RULE_WEIGHTED_ROTATION);
  std::string detail = absl::StrCat(best->id(), " has the lowest rotation pass among ", survivors,
                                    " (weight ", best->profile.routing_weight());
  if (t.territory.performance_bias()) {
    absl::StrAppend(&detail, ", performance-adjusted x",
                    best_weight / best->profile.routing_weight(), "/1000");
  }
  detail.push_back(')');
  AddStep(d, v1::ROUTING_RULE_WEIGHTED_ROTATION, survivors, 1, detail);
  d.set_reason(absl::StrCat("weighted rotation in shared territory ", t.id()));
}

void RouteToNearest(const RoutingIndex& index, const LeadFacts& lead,
                    const std::vector<std::string>& excluded, absl::Time now, RouteResult& out) {
  v1::RoutingDecision& d = out.decision;
  out.acceptance_sla_hours = AcceptanceSlaHours(nullptr);
  if (!lead.location.has_value()) {
    d.set_decided_by(v1::ROUTING_RULE_TERRITORY);
    d.set_reason(absl::StrCat("no territory matches ", Describe(lead),
                              " and the lead has no location; queued for manual routing"));
    return;
  }
  const auto& located = index.located();
  UnitVector here = ToUnitVector(lead.location->latitude(), lead.location->longitude());
  // Screening is the expensive part, so only a partner nearer than the best
  // so far is screened: on a random order that is O(log n) screens.
  const PartnerEntry* best = nullptr;
  double best_d = std::numeric_limits<double>::infinity();
  const size_t product_hash = ProductLineHash(lead);
  for (const LocatedPartner& lp : located) {
    double dist = ChordSquared(here, lp.point);
    if (dist > best_d || (dist == best_d && lp.partner->id() >= best->id())) continue;
    if (ScreenPartner(*lp.partner, lead, product_hash, nullptr, excluded, now) != Screen::kOk)
      continue;
    best = lp.partner;
    best_d = dist;
  }
  if (best == nullptr) {
    d.set_decided_by(v1::ROUTING_RULE_NEAREST_PARTNER);
    AddStep(d, v1::ROUTING_RULE_NEAREST_PARTNER, located.size(), 0,
            absl::StrCat("none of ", located.size(),
                         " located partners is eligible, below capacity and not excluded"));
    d.set_reason(absl::StrCat("no territory matches ", Describe(lead),
                              " and no located partner qualifies; queued for manual routing"));
    return;
  }
  size_t nearer = 0;
  for (const LocatedPartner& lp : located) {
    if (ChordSquared(here, lp.point) < best_d) ++nearer;
  }
  const v1::GeoPoint& at = best->profile.location();
  double km = HaversineKm(lead.location->latitude(), lead.location->longitude(), at.latitude(),
                          at.longitude());
  d.set_partner_id(best->id());
  d.set_decided_by(v1::ROUTING_RULE_NEAREST_PARTNER);
  d.set_distance_km(km);
  AddStep(d, v1::ROUTING_RULE_NEAREST_PARTNER, located.size(), 1,
          absl::StrCat(best->id(), " at ", static_cast<int64_t>(km + 0.5), " km; ", nearer,
                       " nearer partners did not qualify"));
  d.set_reason(
      absl::StrCat("no territory matches ", Describe(lead), "; nearest qualifying partner"));
}

}  // namespace

RouteResult Route(const RoutingIndex& index, const LeadFacts& lead,
                  const std::vector<std::string>& excluded, absl::Time now) {
  RouteResult out;
  if (auto match = index.MatchTerritory(lead)) {
    RouteInTerritory(index, *match, lead, excluded, now, out);
  } else {
    AddStep(out.decision, v1::ROUTING_RULE_TERRITORY, index.partner_count(), 0,
            absl::StrCat("no territory matches ", Describe(lead)));
    RouteToNearest(index, lead, excluded, now, out);
  }
  return out;
}

}  // namespace channelops::leads::domain
