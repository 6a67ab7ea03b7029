#pragma once

// The customer index: who holds an active claim (a partner registration that is
// pending, returned or approved, or a direct-sales opportunity) on an end
// customer, under its normalised keys. Pure functions over the read-model
// values; the service stores one CustomerClaims per key in rm_customer_index,
// the domain tests keep them in memory. Thread-safe (stateless).

#include <optional>
#include <string>
#include <vector>

#include "channelops/common/v1/types.pb.h"
#include "channelops/dealreg/v1/dealreg.pb.h"
#include "channelops/dealreg/v1/read_models.pb.h"

namespace channelops::dealreg::domain {

// The normalised keys of an end customer. "Same end customer" means the same
// customer_key (normalised name + country) or the same domain_key (registrable
// email domain).
struct CustomerKeys {
  std::string customer_key;  // core::CustomerKey(country, name); "" if the name has no letter
  std::string domain_key;    // core::DomainKey(email_domain); "" if none
  // The non-empty keys, customer_key first.
  std::vector<std::string> All() const;
};

CustomerKeys KeysOf(const common::v1::Party& party);
CustomerKeys KeysOf(const v1::Deal& deal);

// Pending, returned and approved registrations hold the customer.
bool IsActive(v1::DealStatus status);

// The claim an active deal holds; nullopt if the deal is not active.
std::optional<v1::CustomerClaim> ClaimOf(const v1::Deal& deal);
v1::CustomerClaim ClaimOf(const v1::DirectOpportunity& opportunity);

// Applies a deal's transition (before -> after, before may be empty) to the
// claims stored under one of its keys: removes its old claim, adds the new one
// if it is active, keeping claims oldest first. Returns whether anything changed.
bool ApplyDealTransition(v1::CustomerClaims& claims, const v1::Deal& before, const v1::Deal& after);
// Adds a direct opportunity's claim (oldest first). Returns whether it was new.
bool AddDirectClaim(v1::CustomerClaims& claims, const v1::DirectOpportunity& opportunity);

// The claims of several keys merged: de-duplicated by (kind, id), oldest first
// (claimed_at, then id), i.e. in the store's global order.
std::vector<v1::CustomerClaim> MergeClaims(const std::vector<v1::CustomerClaims>& per_key);

// The partner's own active registration among `claims` with a product in
// common with `product_keys`: registering it again returns it.
std::optional<std::string> FindOwnRegistration(const std::vector<v1::CustomerClaim>& claims,
                                               const std::string& partner_id,
                                               const std::vector<std::string>& product_keys);

}  // namespace channelops::dealreg::domain
