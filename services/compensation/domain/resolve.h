#pragma once

// Effective dating and matching rules shared by the compensation service
// (GetPlan as_of, ListAssignments as_of, the period snapshot) and by the
// projections that credit sales. Pure and thread-safe.
//
// Effective dating: the plan version (or assignment entry) in force on a day
// is the one with the greatest effective_from on or before that day; among
// equal effective_from the higher version wins (a correction published later
// replaces the earlier one).

#include <optional>
#include <string>
#include <vector>

#include "absl/time/civil_time.h"
#include "channelops/comp/v1/comp.pb.h"

namespace channelops::comp::domain {

// The version of one plan in force on `day` among `versions` (any order), or
// nullptr. Versions whose effective_from does not parse are ignored.
const v1::Plan* VersionInForce(const std::vector<v1::Plan>& versions, absl::CivilDay day);

// Every version of `versions` (several plans allowed) in force on at least one
// day of [start, end), by plan_id then version.
std::vector<v1::PlanVersionRef> VersionsInForceDuring(const std::vector<v1::Plan>& versions,
                                                      absl::CivilDay start, absl::CivilDay end);

// The entry of an assignment in force on `day`, or nullptr (none yet). A
// vacancy is an entry with an empty payee_id.
const v1::AssignmentEntry* EntryInForce(const v1::Assignment& a, absl::CivilDay day);
// The payee in force on `day` ("" when none or vacant).
std::string PayeeOn(const v1::Assignment& a, absl::CivilDay day);

// The plans' crediting basis (UNSPECIFIED counts as SELL_THROUGH).
v1::CreditingBasis BasisOf(const v1::Plan& plan);

// Whether a plan version applies to a sale of `product_line` (normalised) by
// `partner_id` on `basis`.
bool PlanApplies(const v1::Plan& plan, const std::string& partner_id,
                 const std::string& product_line, v1::CreditingBasis basis);
// 2 for a partner list, +1 for a product-line list.
int Specificity(const v1::Plan& plan);

// Among the versions in force on a sale's day (one per plan, as given), the
// one plan that credits the sale: those that apply, most specific first, then
// the smallest plan_id. nullptr if none applies.
const v1::Plan* SelectPlan(const std::vector<const v1::Plan*>& in_force,
                           const std::string& partner_id, const std::string& product_line,
                           v1::CreditingBasis basis);

// Whether the territory key "C|R|P" (see TargetKey) contains an address
// (country and region normalised as in TargetKey, postal code normalised with
// core::NormalizePostalCode).
bool TerritoryContains(const std::string& territory_key, const std::string& country,
                       const std::string& region, const std::string& postal_code);
// Orders matching territories: longer postal prefix first, then with a region,
// then by key. True when `a` is more specific than `b`.
bool MoreSpecificTerritory(const std::string& a, const std::string& b);

}  // namespace channelops::comp::domain
