#include "lead_routing/domain/routing_index.h"

#include <algorithm>

#include "absl/strings/string_view.h"
#include "channelops/core/check.h"
#include "lead_routing/domain/normalize.h"

namespace channelops::leads::domain {
namespace {

absl::string_view Absl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

bool Covers(const TerritoryEntry& t, const LeadFacts& lead) {
  if (!t.industries.empty() && !t.industries.contains(lead.industry)) return false;
  if (!t.regions.empty() && !t.regions.contains(lead.region)) return false;
  return true;
}

// At equal geography: industry-specific first, then the smallest id.
bool Better(const TerritoryEntry& a, const TerritoryEntry& b) {
  bool ai = !a.industries.empty(), bi = !b.industries.empty();
  if (ai != bi) return ai;
  return a.id() < b.id();
}

const TerritoryEntry* Pick(const std::vector<TerritoryEntry*>& bucket, const LeadFacts& lead) {
  const TerritoryEntry* best = nullptr;
  for (const TerritoryEntry* t : bucket) {
    if (Covers(*t, lead) && (best == nullptr || Better(*t, *best))) best = t;
  }
  return best;
}

void Erase(std::vector<TerritoryEntry*>& v, TerritoryEntry* t) {
  v.erase(std::remove(v.begin(), v.end(), t), v.end());
}

void AddUnique(std::vector<std::string>& v, const std::string& s) {
  if (std::find(v.begin(), v.end(), s) == v.end()) v.push_back(s);
}

}  // namespace

bool PartnerEntry::PausedAt(absl::Time now) const {
  return counters.has_paused_until() && FromProtoTime(counters.paused_until()) > now;
}

SlaPolicy PolicyOf(const v1::PartnerProfile& profile) {
  const auto& p = profile.sla_miss_policy();
  return SlaPolicy{p.max_misses() > 0 ? p.max_misses() : kDefaultMaxMisses,
                   absl::Hours(p.window_hours() > 0 ? p.window_hours() : kDefaultMissWindowHours),
                   absl::Hours(p.pause_hours() > 0 ? p.pause_hours() : kDefaultPauseHours)};
}

int32_t AcceptanceSlaHours(const TerritoryEntry* territory) {
  if (territory == nullptr || territory->territory.acceptance_sla_hours() <= 0) {
    return kDefaultAcceptanceSlaHours;
  }
  return territory->territory.acceptance_sla_hours();
}

void IndexChanges::Merge(IndexChanges other) {
  for (auto& s : other.territories) AddUnique(territories, s);
  for (auto& s : other.profiles) AddUnique(profiles, s);
  for (auto& s : other.counters) AddUnique(counters, s);
  for (auto& r : other.rotation) {
    if (std::find(rotation.begin(), rotation.end(), r) == rotation.end()) rotation.push_back(r);
  }
}

const PartnerEntry* RoutingIndex::FindPartner(const std::string& partner_id) const {
  auto it = partners_.find(partner_id);
  return it == partners_.end() ? nullptr : &it->second;
}

const TerritoryEntry* RoutingIndex::FindTerritory(const std::string& territory_id) const {
  auto it = territories_.find(territory_id);
  return it == territories_.end() ? nullptr : &it->second;
}

PartnerEntry& RoutingIndex::MutablePartner(const std::string& partner_id) {
  auto it = partners_.find(partner_id);
  CHANNELOPS_CHECK(it != partners_.end()) << "unknown partner " << partner_id;
  return it->second;
}

TerritoryEntry& RoutingIndex::MutableTerritory(const std::string& territory_id) {
  auto it = territories_.find(territory_id);
  CHANNELOPS_CHECK(it != territories_.end()) << "unknown territory " << territory_id;
  return it->second;
}

std::optional<TerritoryMatch> RoutingIndex::MatchTerritory(const LeadFacts& lead) const {
  if (lead.country.empty()) return std::nullopt;
  auto c = countries_.find(Absl(lead.country));
  if (c == countries_.end()) return std::nullopt;
  const CountryIndex& node = c->second;
  const std::string& postal = lead.postal_code;
  for (size_t len = std::min(postal.size(), node.max_prefix); len >= 1; --len) {
    auto b = node.postal.find(absl::string_view(postal.data(), len));
    if (b == node.postal.end()) continue;
    if (const TerritoryEntry* t = Pick(b->second, lead)) {
      return TerritoryMatch{t, MatchLevel::kPostal, postal.substr(0, len)};
    }
  }
  if (!lead.region.empty()) {
    auto b = node.regions.find(Absl(lead.region));
    if (b != node.regions.end()) {
      if (const TerritoryEntry* t = Pick(b->second, lead)) {
        return TerritoryMatch{t, MatchLevel::kRegion, lead.region};
      }
    }
  }
  if (const TerritoryEntry* t = Pick(node.whole, lead)) {
    return TerritoryMatch{t, MatchLevel::kCountry, lead.country};
  }
  return std::nullopt;
}

int64_t RoutingIndex::EffectiveWeight(const TerritoryEntry& t, const PartnerEntry& p) {
  int64_t weight = std::max<int32_t>(p.profile.routing_weight(), 1);
  if (!t.territory.performance_bias()) return weight * 1000;
  // Laplace-smoothed rates in permille, so a partner without history starts
  // at the middle (factor 1000) rather than at either extreme.
  const auto& c = p.counters;
  int64_t acceptance = 1000 * (c.accepted() + 1) / (c.received() + 2);
  int64_t conversion = 1000 * (c.converted() + 1) / (c.accepted() + 2);
  return weight * (500 + acceptance / 2 + conversion / 2);
}

int64_t RoutingIndex::EffectivePass(const TerritoryEntry& t, const PartnerEntry& p) {
  auto it = t.pass.find(&p);
  return it == t.pass.end() ? t.virtual_time : std::max(it->second, t.virtual_time);
}

void RoutingIndex::Index(TerritoryEntry* t) {
  const v1::Territory& def = t->territory;
  for (const std::string& country : def.countries()) {
    CountryIndex& node = countries_[country];
    if (!def.postal_prefixes().empty()) {
      for (const std::string& prefix : def.postal_prefixes()) {
        node.postal[prefix].push_back(t);
        node.max_prefix = std::max(node.max_prefix, prefix.size());
      }
    } else if (!def.regions().empty()) {
      for (const std::string& region : def.regions()) {
        if (RegionCountry(region) == country) node.regions[region].push_back(t);
      }
    } else {
      node.whole.push_back(t);
    }
  }
}

void RoutingIndex::Unindex(TerritoryEntry* t) {
  const v1::Territory& def = t->territory;
  for (const std::string& country : def.countries()) {
    auto c = countries_.find(country);
    if (c == countries_.end()) continue;
    CountryIndex& node = c->second;
    for (const std::string& prefix : def.postal_prefixes()) {
      auto b = node.postal.find(prefix);
      if (b == node.postal.end()) continue;
      Erase(b->second, t);
      if (b->second.empty()) node.postal.erase(b);
    }
    for (const std::string& region : def.regions()) {
      auto b = node.regions.find(region);
      if (b == node.regions.end()) continue;
      Erase(b->second, t);
      if (b->second.empty()) node.regions.erase(b);
    }
    Erase(node.whole, t);
  }
}

void RoutingIndex::PutPartner(v1::PartnerProfile profile) {
  std::string id = profile.partner_id();
  PartnerEntry& p = partners_[id];
  p.profile = std::move(profile);
  p.product_lines = {p.profile.product_lines().begin(), p.profile.product_lines().end()};
  p.certifications = {p.profile.certifications().begin(), p.profile.certifications().end()};
  if (p.profile.has_location()) {
    LocatedPartner lp{
        ToUnitVector(p.profile.location().latitude(), p.profile.location().longitude()), &p};
    if (p.located_slot == SIZE_MAX) {
      p.located_slot = located_.size();
      located_.push_back(lp);
    } else {
      located_[p.located_slot] = lp;
    }
  } else if (p.located_slot != SIZE_MAX) {
    size_t slot = p.located_slot;
    located_[slot] = located_.back();
    MutablePartner(located_[slot].partner->id()).located_slot = slot;
    located_.pop_back();
    p.located_slot = SIZE_MAX;
  }
}

void RoutingIndex::PutTerritory(v1::Territory territory) {
  std::string id = territory.territory_id();
  auto [it, inserted] = territories_.try_emplace(id);
  TerritoryEntry& t = it->second;
  if (!inserted) Unindex(&t);
  t.territory = std::move(territory);
  t.industries = {t.territory.industries().begin(), t.territory.industries().end()};
  t.regions = {t.territory.regions().begin(), t.territory.regions().end()};
  t.partners.clear();
  if (t.exclusive()) {
    t.partners.push_back(&MutablePartner(t.territory.owner_partner_id()));
  } else {
    for (const std::string& pid : t.territory.partner_ids()) {
      t.partners.push_back(&MutablePartner(pid));
    }
  }
  Index(&t);
}

void RoutingIndex::Release(const std::string& partner_id, IndexChanges& changes) {
  PartnerEntry& p = MutablePartner(partner_id);
  CHANNELOPS_CHECK(p.counters.open_leads() > 0) << "partner " << partner_id << " holds no lead";
  p.counters.set_open_leads(p.counters.open_leads() - 1);
  AddUnique(changes.counters, partner_id);
}

IndexChanges RoutingIndex::Apply(const Event& e) {
  IndexChanges ch;
  std::visit(Overloaded{
                 [&](const v1::TerritoryUpserted& ev) {
                   PutTerritory(ev.territory());
                   ch.territories.push_back(ev.territory().territory_id());
                 },
                 [&](const v1::PartnerProfileUpserted& ev) {
                   PutPartner(ev.profile());
                   ch.profiles.push_back(ev.profile().partner_id());
                   if (ev.pause_cleared()) {
                     PartnerEntry& p = MutablePartner(ev.profile().partner_id());
                     p.counters.clear_paused_until();
                     p.counters.clear_recent_misses();
                     ch.counters.push_back(p.id());
                   }
                 },
                 [&](const v1::PartnerPaused& ev) {
                   PartnerEntry& p = MutablePartner(ev.partner_id());
                   *p.counters.mutable_paused_until() = ev.paused_until();
                   p.counters.clear_recent_misses();
                   ch.counters.push_back(p.id());
                 },
                 [&](const v1::LeadSubmitted&) {},
                 [&](const v1::LeadUnrouted&) {},
                 [&](const v1::LeadRouted& ev) {
                   PartnerEntry& p = MutablePartner(ev.partner_id());
                   if (ev.rule() == v1::ROUTING_RULE_WEIGHTED_ROTATION) {
                     TerritoryEntry& t = MutableTerritory(ev.territory_id());
                     int64_t pass = EffectivePass(t, p);
                     t.virtual_time = pass;
                     t.pass[&p] = pass + kStrideScale / EffectiveWeight(t, p);
                     ch.rotation.emplace_back(t.id(), p.id());
                   }
                   if (!ev.previous_partner_id().empty()) {
                     Release(ev.previous_partner_id(), ch);
                     PartnerEntry& prev = MutablePartner(ev.previous_partner_id());
                     prev.counters.set_reassigned_away(prev.counters.reassigned_away() + 1);
                   }
                   p.counters.set_received(p.counters.received() + 1);
                   p.counters.set_open_leads(p.counters.open_leads() + 1);
                   AddUnique(ch.counters, p.id());
                 },
                 [&](const v1::LeadAccepted& ev) {
                   PartnerEntry& p = MutablePartner(ev.partner_id());
                   p.counters.set_accepted(p.counters.accepted() + 1);
                   AddUnique(ch.counters, p.id());
                 },
                 [&](const v1::LeadDeclined& ev) {
                   PartnerEntry& p = MutablePartner(ev.partner_id());
                   p.counters.set_declined(p.counters.declined() + 1);
                   Release(p.id(), ch);
                 },
                 [&](const v1::LeadAcceptanceTimedOut& ev) {
                   PartnerEntry& p = MutablePartner(ev.partner_id());
                   p.counters.set_timed_out(p.counters.timed_out() + 1);
                   Release(p.id(), ch);
                   // Keep only the misses still inside the policy window, this one last.
                   absl::Time now = FromProtoTime(ev.occurred_at());
                   absl::Time since = now - PolicyOf(p.profile).window;
                   auto* misses = p.counters.mutable_recent_misses();
                   misses->erase(std::remove_if(misses->begin(), misses->end(),
                                                [&](const google::protobuf::Timestamp& t) {
                                                  return FromProtoTime(t) <= since;
                                                }),
                                 misses->end());
                   *misses->Add() = ev.occurred_at();
                 },
                 [&](const v1::LeadConverted& ev) {
                   PartnerEntry& p = MutablePartner(ev.partner_id());
                   p.counters.set_converted(p.counters.converted() + 1);
                   Release(p.id(), ch);
                 },
                 [&](const v1::LeadClosed& ev) {
                   if (ev.partner_id().empty()) return;
                   PartnerEntry& p = MutablePartner(ev.partner_id());
                   if (ev.previous_status() == v1::LEAD_STATUS_ACCEPTED) {
                     p.counters.set_closed_lost(p.counters.closed_lost() + 1);
                   }
                   Release(p.id(), ch);
                 },
             },
             e);
  return ch;
}

void RoutingIndex::LoadPartner(v1::PartnerProfile profile) { PutPartner(std::move(profile)); }

void RoutingIndex::LoadCounters(const std::string& partner_id, v1::PartnerCounters counters) {
  MutablePartner(partner_id).counters = std::move(counters);
}

void RoutingIndex::LoadTerritory(v1::Territory territory) { PutTerritory(std::move(territory)); }

void RoutingIndex::LoadRotation(const std::string& territory_id, const std::string& partner_id,
                                int64_t value) {
  TerritoryEntry& t = MutableTerritory(territory_id);
  if (partner_id.empty()) {
    t.virtual_time = value;
  } else {
    t.pass[&MutablePartner(partner_id)] = value;
  }
}

void RoutingIndex::Clear() {
  territories_.clear();
  partners_.clear();
  countries_.clear();
  located_.clear();
}

}  // namespace channelops::leads::domain
