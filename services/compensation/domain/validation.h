#pragma once

// Shape validation of every CompensationService request: what can be decided
// from the request alone (required fields, lengths, enums, rates and shares,
// dates, which target fits which role). Each function returns OK or
// INVALID_ARGUMENT carrying every violation found (core::FieldViolations, so
// the gRPC status has google.rpc.BadRequest details naming the fields). Pure
// and thread-safe.

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "channelops/comp/v1/comp.pb.h"

namespace channelops::comp::domain {

inline constexpr size_t kMaxIdLength = 128;    // ids: request, plan, partner, payee
inline constexpr size_t kMaxNameLength = 200;  // names, regions, product lines
inline constexpr int kMaxScopeEntries = 1000;
inline constexpr int32_t kMaxDays = 3650;
inline constexpr int32_t kMaxPageSize = 500;
inline constexpr int32_t kDefaultPageSize = 50;

absl::Status ValidatePublishPlan(const v1::PublishPlanRequest& r);
absl::Status ValidateGetPlan(const v1::GetPlanRequest& r);
absl::Status ValidateAssignRole(const v1::AssignRoleRequest& r);
absl::Status ValidateListAssignments(const v1::ListAssignmentsRequest& r);
absl::Status ValidateClosePeriod(const v1::ClosePeriodRequest& r);
absl::Status ValidateGetPeriod(const v1::GetPeriodRequest& r);

}  // namespace channelops::comp::domain
