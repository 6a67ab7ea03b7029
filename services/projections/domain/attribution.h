#pragma once

// Attribution of a sale: to a deal registration (explicit reference on the POS
// line, else the registration of the same reseller, end customer and product
// line that was approved and active on the sale date), and to a direct-sales
// opportunity (channel conflict). Pure and thread-safe.

#include <optional>
#include <string>
#include <vector>

#include "absl/time/civil_time.h"
#include "channelops/analytics/v1/read_models.pb.h"

namespace channelops::projections {
namespace v1 = ::channelops::analytics::v1;
}  // namespace channelops::projections

namespace channelops::projections::domain {

// Days a WON registration keeps attributing unreferenced sales after the win
// when its programme's expiry window is unknown.
inline constexpr int kDefaultWonGraceDays = 30;

inline constexpr char kExplicitReference[] = "explicit reference";
inline constexpr char kMatched[] = "matched partner+customer+product line";

// Whether a registration attributes sales on `day`: approved on or before it,
// not expired / lost / rejected on or before it, and (if won) within the
// programme's expiry window after the win.
bool AttributesOn(const v1::DealRecord& deal, absl::CivilDay day);

// Whether the deal's products include the sale's product line (normalised) or
// "sku:<sku>".
bool CoversProduct(const v1::DealRecord& deal, const std::string& product_line,
                   const std::string& sku);

struct RegistrationMatch {
  std::string deal_id;
  std::string how;  // kExplicitReference or kMatched
};

// The registration a sale is attributed to, or nullopt.
//  - `explicit_deal`: the deal named on the line (nullptr if none, or unknown
//    yet). It wins when it belongs to the seller and attributes on the day.
//  - `candidates`: registrations found under the sale's customer / domain
//    keys. Among those of the seller that cover the product and attribute on
//    the day, the earliest approved wins (then the smallest deal id).
std::optional<RegistrationMatch> AttributeToRegistration(
    const v1::SaleRecord& sale, const v1::DealRecord* explicit_deal,
    const std::vector<v1::DealRecord>& candidates);

// The direct opportunity that collides with a sale: recorded on or before the
// sale day for a product of the sale; the earliest recorded wins. nullptr if none.
const v1::DirectOpportunityRecord* FindDirectOpportunity(
    const v1::SaleRecord& sale, const std::vector<v1::DirectOpportunityRecord>& opportunities);

}  // namespace channelops::projections::domain
