#pragma once

// Shape validation of every DealRegistrationService request: what can be
// decided from the request alone (required fields, lengths, enums, money
// shape, one currency per deal, at most 1,000 lines). Each function returns OK
// or INVALID_ARGUMENT carrying every violation found (core::FieldViolations,
// so the gRPC status has google.rpc.BadRequest details naming the fields).
// Checks that need state (unknown programme, programme currency, close date in
// the past) are made by Decide. Pure and thread-safe.

#include <cstdint>

#include "absl/status/status.h"
#include "channelops/dealreg/v1/dealreg.pb.h"

namespace channelops::dealreg::domain {

inline constexpr int kMaxLines = 1000;
inline constexpr size_t kMaxIdLength = 128;     // ids: request, partner, deal, programme, SKU
inline constexpr size_t kMaxNameLength = 200;   // names, address lines, product lines
inline constexpr size_t kMaxTextLength = 2000;  // reasons, justification
inline constexpr int64_t kMaxQuantity = 1'000'000'000;
inline constexpr int32_t kMaxPageSize = 500;
inline constexpr int32_t kDefaultPageSize = 50;
inline constexpr int32_t kMaxExpiryDays = 3650;

absl::Status ValidateSetProgramRules(const v1::SetProgramRulesRequest& r);
absl::Status ValidateGetProgramRules(const v1::GetProgramRulesRequest& r);
absl::Status ValidateRegisterDeal(const v1::RegisterDealRequest& r);
absl::Status ValidateCheckConflicts(const v1::CheckConflictsRequest& r);
absl::Status ValidateRecordDirectOpportunity(const v1::RecordDirectOpportunityRequest& r);
absl::Status ValidateApproveDeal(const v1::ApproveDealRequest& r);
absl::Status ValidateRejectDeal(const v1::RejectDealRequest& r);
absl::Status ValidateReturnDeal(const v1::ReturnDealRequest& r);
absl::Status ValidateUpdateDeal(const v1::UpdateDealRequest& r);
absl::Status ValidateCloseDeal(const v1::CloseDealRequest& r);
absl::Status ValidateRequestSpecialPricing(const v1::RequestSpecialPricingRequest& r);
absl::Status ValidateDecideSpecialPricing(const v1::DecideSpecialPricingRequest& r);
absl::Status ValidateForecastSpecialPricing(const v1::ForecastSpecialPricingRequest& r);
absl::Status ValidateGetDeal(const v1::GetDealRequest& r);
absl::Status ValidateListDeals(const v1::ListDealsRequest& r);
absl::Status ValidateGetDealHistory(const v1::GetDealHistoryRequest& r);

}  // namespace channelops::dealreg::domain
