#include "projections/domain/attribution.h"

#include <algorithm>
#include <tuple>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "compensation/domain/convert.h"

namespace channelops::projections::domain {
namespace {

std::optional<absl::CivilDay> Day(const std::string& s) {
  if (s.empty()) return std::nullopt;
  return comp::domain::ParseDate(s);
}

bool Covers(const google::protobuf::RepeatedPtrField<std::string>& keys,
            const std::string& product_line, const std::string& sku) {
  const std::string line = comp::domain::NormalizeProductLine(product_line);
  const std::string sku_key = absl::StrCat("sku:", comp::domain::NormalizeProductLine(sku));
  for (const std::string& k : keys) {
    if ((!line.empty() && k == line) || (!sku.empty() && k == sku_key)) return true;
  }
  return false;
}

}  // namespace

bool AttributesOn(const v1::DealRecord& deal, absl::CivilDay day) {
  auto approved = Day(deal.approved_date());
  if (!approved || day < *approved) return false;
  if (auto ended = Day(deal.ended_date()); ended && day >= *ended) return false;
  if (auto won = Day(deal.won_date())) {
    int grace = deal.expiry_days() > 0 ? deal.expiry_days() : kDefaultWonGraceDays;
    if (day >= *won + grace) return false;
  }
  return true;
}

bool CoversProduct(const v1::DealRecord& deal, const std::string& product_line,
                   const std::string& sku) {
  return Covers(deal.product_lines(), product_line, sku);
}

std::optional<RegistrationMatch> AttributeToRegistration(
    const v1::SaleRecord& sale, const v1::DealRecord* explicit_deal,
    const std::vector<v1::DealRecord>& candidates) {
  auto day = comp::domain::ParseDate(sale.date());
  if (!day) return std::nullopt;
  if (explicit_deal != nullptr && explicit_deal->partner_id() == sale.partner_id() &&
      AttributesOn(*explicit_deal, *day)) {
    return RegistrationMatch{explicit_deal->deal_id(), kExplicitReference};
  }
  const v1::DealRecord* best = nullptr;
  for (const v1::DealRecord& d : candidates) {
    if (d.partner_id() != sale.partner_id()) continue;
    if (!CoversProduct(d, sale.product_line(), sale.sku())) continue;
    if (!AttributesOn(d, *day)) continue;
    if (best == nullptr || std::tie(d.approved_date(), d.deal_id()) <
                               std::tie(best->approved_date(), best->deal_id())) {
      best = &d;
    }
  }
  if (best == nullptr) return std::nullopt;
  return RegistrationMatch{best->deal_id(), kMatched};
}

const v1::DirectOpportunityRecord* FindDirectOpportunity(
    const v1::SaleRecord& sale, const std::vector<v1::DirectOpportunityRecord>& opportunities) {
  auto day = comp::domain::ParseDate(sale.date());
  if (!day) return nullptr;
  const v1::DirectOpportunityRecord* best = nullptr;
  for (const auto& o : opportunities) {
    auto recorded = Day(o.recorded_date());
    if (!recorded || *recorded > *day) continue;
    if (!Covers(o.product_lines(), sale.product_line(), sale.sku())) continue;
    if (best == nullptr || std::tie(o.recorded_date(), o.opportunity_id()) <
                               std::tie(best->recorded_date(), best->opportunity_id())) {
      best = &o;
    }
  }
  return best;
}

}  // namespace channelops::projections::domain
