#include "compensation/domain/resolve.h"

#include <algorithm>
#include <map>
#include <tuple>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "channelops/core/normalize.h"
#include "compensation/domain/convert.h"

namespace channelops::comp::domain {
namespace {

// Sort key of a version / entry: later effective_from wins, then higher version.
template <class T>
bool Later(const T& a, absl::CivilDay a_day, const T& b, absl::CivilDay b_day) {
  return std::make_pair(a_day, a.version()) > std::make_pair(b_day, b.version());
}

struct TerritoryParts {
  std::string country, region, postal;
};

TerritoryParts Split(const std::string& key) {
  std::vector<std::string> parts = absl::StrSplit(key, '|');
  TerritoryParts t;
  if (parts.size() > 0) t.country = parts[0];
  if (parts.size() > 1) t.region = parts[1];
  if (parts.size() > 2) t.postal = parts[2];
  return t;
}

}  // namespace

const v1::Plan* VersionInForce(const std::vector<v1::Plan>& versions, absl::CivilDay day) {
  const v1::Plan* best = nullptr;
  absl::CivilDay best_day;
  for (const v1::Plan& v : versions) {
    auto from = ParseDate(v.effective_from());
    if (!from || *from > day) continue;
    if (best == nullptr || Later(v, *from, *best, best_day)) {
      best = &v;
      best_day = *from;
    }
  }
  return best;
}

std::vector<v1::PlanVersionRef> VersionsInForceDuring(const std::vector<v1::Plan>& versions,
                                                      absl::CivilDay start, absl::CivilDay end) {
  std::map<std::string, std::vector<v1::Plan>> by_plan;
  for (const v1::Plan& v : versions) by_plan[v.plan_id()].push_back(v);
  std::vector<v1::PlanVersionRef> out;
  for (const auto& [plan_id, list] : by_plan) {
    // The days where the winner can change: the period start and every
    // effective_from inside the period.
    std::vector<absl::CivilDay> days = {start};
    for (const v1::Plan& v : list) {
      auto from = ParseDate(v.effective_from());
      if (from && *from > start && *from < end) days.push_back(*from);
    }
    std::map<uint64_t, v1::PlanVersionRef> found;
    for (absl::CivilDay d : days) {
      const v1::Plan* p = VersionInForce(list, d);
      if (p == nullptr) continue;
      v1::PlanVersionRef ref;
      ref.set_plan_id(p->plan_id());
      ref.set_version(p->version());
      ref.set_effective_from(p->effective_from());
      found.emplace(p->version(), std::move(ref));
    }
    for (auto& [v, ref] : found) out.push_back(std::move(ref));
  }
  return out;
}

const v1::AssignmentEntry* EntryInForce(const v1::Assignment& a, absl::CivilDay day) {
  const v1::AssignmentEntry* best = nullptr;
  absl::CivilDay best_day;
  for (const v1::AssignmentEntry& e : a.entries()) {
    auto from = ParseDate(e.effective_from());
    if (!from || *from > day) continue;
    if (best == nullptr || Later(e, *from, *best, best_day)) {
      best = &e;
      best_day = *from;
    }
  }
  return best;
}

std::string PayeeOn(const v1::Assignment& a, absl::CivilDay day) {
  const v1::AssignmentEntry* e = EntryInForce(a, day);
  return e == nullptr ? std::string() : e->payee_id();
}

v1::CreditingBasis BasisOf(const v1::Plan& plan) {
  return plan.crediting_basis() == v1::CREDITING_BASIS_SELL_IN ? v1::CREDITING_BASIS_SELL_IN
                                                               : v1::CREDITING_BASIS_SELL_THROUGH;
}

bool PlanApplies(const v1::Plan& plan, const std::string& partner_id,
                 const std::string& product_line, v1::CreditingBasis basis) {
  if (BasisOf(plan) != basis) return false;
  const auto& partners = plan.scope().partner_ids();
  if (!partners.empty() &&
      std::find(partners.begin(), partners.end(), partner_id) == partners.end()) {
    return false;
  }
  const auto& lines = plan.scope().product_lines();
  if (!lines.empty() && std::find(lines.begin(), lines.end(), product_line) == lines.end()) {
    return false;
  }
  return true;
}

int Specificity(const v1::Plan& plan) {
  return (plan.scope().partner_ids().empty() ? 0 : 2) +
         (plan.scope().product_lines().empty() ? 0 : 1);
}

const v1::Plan* SelectPlan(const std::vector<const v1::Plan*>& in_force,
                           const std::string& partner_id, const std::string& product_line,
                           v1::CreditingBasis basis) {
  const v1::Plan* best = nullptr;
  for (const v1::Plan* p : in_force) {
    if (p == nullptr || !PlanApplies(*p, partner_id, product_line, basis)) continue;
    if (best == nullptr || Specificity(*p) > Specificity(*best) ||
        (Specificity(*p) == Specificity(*best) && p->plan_id() < best->plan_id())) {
      best = p;
    }
  }
  return best;
}

bool TerritoryContains(const std::string& territory_key, const std::string& country,
                       const std::string& region, const std::string& postal_code) {
  TerritoryParts t = Split(territory_key);
  if (t.country.empty() || t.country != core::NormalizeCountryCode(country)) return false;
  if (!t.region.empty() && t.region != NormalizeRegion(country, region)) return false;
  if (!t.postal.empty() && !absl::StartsWith(core::NormalizePostalCode(postal_code), t.postal)) {
    return false;
  }
  return true;
}

bool MoreSpecificTerritory(const std::string& a, const std::string& b) {
  TerritoryParts x = Split(a), y = Split(b);
  return std::make_tuple(x.postal.size(), !x.region.empty(), b) >
         std::make_tuple(y.postal.size(), !y.region.empty(), a);
}

}  // namespace channelops::comp::domain
