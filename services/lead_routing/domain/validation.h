#pragma once

// Shape validation of every LeadRoutingService request: what can be decided
// from the request alone (required fields, lengths, ranges, ISO country codes,
// postal-code formats, enums). Each function returns OK (or the normalised
// value) or INVALID_ARGUMENT carrying every violation found
// (core::FieldViolations: google.rpc.BadRequest details naming the fields).
// Checks that need state (unknown partners, the lead's status) are made by
// Decide. Pure and thread-safe.

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "channelops/leads/v1/leads.pb.h"

namespace channelops::leads::domain {

inline constexpr size_t kMaxIdLength =
    128;  // request, partner, territory, lead, deal, campaign ids
inline constexpr size_t kMaxNameLength = 200;  // names, companies
inline constexpr size_t kMaxKeywordLength =
    100;  // industries, certifications, product lines, sources
inline constexpr size_t kMaxTextLength = 2000;  // reasons
inline constexpr int kMaxCountries = 249;
inline constexpr int kMaxRegions = 5000;
inline constexpr int kMaxPostalPrefixes = 10000;
inline constexpr int kMaxKeywords = 200;
inline constexpr int kMaxPoolSize = 10000;
inline constexpr int32_t kMinRoutingWeight = 1;
inline constexpr int32_t kMaxRoutingWeight = 100;
inline constexpr int32_t kMaxAcceptanceSlaHours = 720;
inline constexpr int32_t kMaxOpenLeadsCap = 1'000'000;
inline constexpr int32_t kMaxScore = 100;
inline constexpr int32_t kMaxPageSize = 500;
inline constexpr int32_t kDefaultPageSize = 50;

// The territory as it will be stored: countries upper case, regions "US-CA",
// postal prefixes normalised, keywords lower case, duplicates removed.
absl::StatusOr<v1::Territory> ValidateUpsertTerritory(const v1::UpsertTerritoryRequest& r);
// The profile as it will be stored: tier upper case, keywords lower case.
absl::StatusOr<v1::PartnerProfile> ValidateUpsertPartnerProfile(
    const v1::UpsertPartnerProfileRequest& r);
// The request with country, region, postal code, industry and product
// interest normalised and text trimmed.
absl::StatusOr<v1::SubmitLeadRequest> ValidateSubmitLead(const v1::SubmitLeadRequest& r);

absl::Status ValidateAcceptLead(const v1::AcceptLeadRequest& r);
absl::Status ValidateDeclineLead(const v1::DeclineLeadRequest& r);
absl::Status ValidateConvertLead(const v1::ConvertLeadRequest& r);
absl::Status ValidateCloseLead(const v1::CloseLeadRequest& r);
absl::Status ValidateReassignLead(const v1::ReassignLeadRequest& r);
absl::Status ValidateGetTerritory(const v1::GetTerritoryRequest& r);
absl::Status ValidateGetPartnerProfile(const v1::GetPartnerProfileRequest& r);
absl::Status ValidateGetLead(const v1::GetLeadRequest& r);
absl::Status ValidateListLeads(const v1::ListLeadsRequest& r);
absl::Status ValidateListUnroutedLeads(const v1::ListUnroutedLeadsRequest& r);
absl::Status ValidateGetRoutingHistory(const v1::GetRoutingHistoryRequest& r);
absl::Status ValidateGetPartnerLeadStats(const v1::GetPartnerLeadStatsRequest& r);

}  // namespace channelops::leads::domain
