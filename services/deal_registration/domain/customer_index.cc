#include "deal_registration/domain/customer_index.h"

#include <algorithm>
#include <tuple>

#include "channelops/core/normalize.h"
#include "deal_registration/domain/convert.h"

namespace channelops::dealreg::domain {
namespace {

bool Older(const v1::CustomerClaim& a, const v1::CustomerClaim& b) {
  auto ta = FromProtoTime(a.claimed_at());
  auto tb = FromProtoTime(b.claimed_at());
  return std::tie(ta, a.id()) < std::tie(tb, b.id());
}

void InsertOrdered(v1::CustomerClaims& claims, v1::CustomerClaim claim) {
  auto* list = claims.mutable_claims();
  int pos = list->size();
  while (pos > 0 && Older(claim, list->Get(pos - 1))) --pos;
  list->Add(std::move(claim));
  for (int i = list->size() - 1; i > pos; --i) list->SwapElements(i, i - 1);
}

bool RemoveClaim(v1::CustomerClaims& claims, v1::CustomerClaim::Kind kind, const std::string& id) {
  auto* list = claims.mutable_claims();
  for (int i = 0; i < list->size(); ++i) {
    if (list->Get(i).kind() == kind && list->Get(i).id() == id) {
      list->DeleteSubrange(i, 1);
      return true;
    }
  }
  return false;
}

}  // namespace

std::vector<std::string> CustomerKeys::All() const {
  std::vector<std::string> out;
  if (!customer_key.empty()) out.push_back(customer_key);
  if (!domain_key.empty()) out.push_back(domain_key);
  return out;
}

CustomerKeys KeysOf(const common::v1::Party& party) {
  return CustomerKeys{core::CustomerKey(party.address().country_code(), party.name()),
                      core::DomainKey(party.email_domain())};
}

CustomerKeys KeysOf(const v1::Deal& deal) {
  return CustomerKeys{deal.customer_key(), deal.domain_key()};
}

bool IsActive(v1::DealStatus status) {
  return status == v1::DEAL_STATUS_PENDING_APPROVAL || status == v1::DEAL_STATUS_APPROVED ||
         status == v1::DEAL_STATUS_RETURNED;
}

std::optional<v1::CustomerClaim> ClaimOf(const v1::Deal& deal) {
  if (deal.deal_id().empty() || !IsActive(deal.status())) return std::nullopt;
  v1::CustomerClaim c;
  c.set_kind(v1::CustomerClaim::KIND_DEAL);
  c.set_id(deal.deal_id());
  c.set_partner_id(deal.partner_id());
  *c.mutable_product_lines() = deal.product_keys();
  c.set_deal_status(deal.status());
  *c.mutable_claimed_at() = deal.registered_at();
  return c;
}

v1::CustomerClaim ClaimOf(const v1::DirectOpportunity& opportunity) {
  v1::CustomerClaim c;
  c.set_kind(v1::CustomerClaim::KIND_DIRECT);
  c.set_id(opportunity.opportunity_id());
  std::vector<std::string> keys;
  for (const auto& p : opportunity.product_lines()) keys.push_back(NormalizeProductKey(p));
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  for (auto& k : keys) c.add_product_lines(std::move(k));
  *c.mutable_claimed_at() = opportunity.recorded_at();
  return c;
}

bool ApplyDealTransition(v1::CustomerClaims& claims, const v1::Deal& before,
                         const v1::Deal& after) {
  std::optional<v1::CustomerClaim> old_claim = ClaimOf(before);
  std::optional<v1::CustomerClaim> new_claim = ClaimOf(after);
  if (old_claim && new_claim && old_claim->SerializeAsString() == new_claim->SerializeAsString()) {
    return false;
  }
  bool changed = false;
  if (old_claim) changed |= RemoveClaim(claims, v1::CustomerClaim::KIND_DEAL, old_claim->id());
  if (new_claim) {
    InsertOrdered(claims, std::move(*new_claim));
    changed = true;
  }
  return changed;
}

bool AddDirectClaim(v1::CustomerClaims& claims, const v1::DirectOpportunity& opportunity) {
  for (const auto& c : claims.claims()) {
    if (c.kind() == v1::CustomerClaim::KIND_DIRECT && c.id() == opportunity.opportunity_id()) {
      return false;
    }
  }
  InsertOrdered(claims, ClaimOf(opportunity));
  return true;
}

std::vector<v1::CustomerClaim> MergeClaims(const std::vector<v1::CustomerClaims>& per_key) {
  std::vector<v1::CustomerClaim> out;
  for (const auto& claims : per_key) {
    for (const auto& c : claims.claims()) {
      bool dup = std::any_of(out.begin(), out.end(), [&](const v1::CustomerClaim& o) {
        return o.kind() == c.kind() && o.id() == c.id();
      });
      if (!dup) out.push_back(c);
    }
  }
  std::stable_sort(out.begin(), out.end(), Older);
  return out;
}

std::optional<std::string> FindOwnRegistration(const std::vector<v1::CustomerClaim>& claims,
                                               const std::string& partner_id,
                                               const std::vector<std::string>& product_keys) {
  for (const auto& c : claims) {
    if (c.kind() != v1::CustomerClaim::KIND_DEAL || c.partner_id() != partner_id) continue;
    std::vector<std::string> theirs(c.product_lines().begin(), c.product_lines().end());
    if (!Intersect(theirs, product_keys).empty()) return c.id();
  }
  return std::nullopt;
}

}  // namespace channelops::dealreg::domain
