#pragma once

// Status propagation macros. Abseil 20220623 ships none, so these are ours.
//
//   CHANNELOPS_RETURN_IF_ERROR(DoThing());
//   CHANNELOPS_ASSIGN_OR_RETURN(auto value, ComputeValue());

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define CHANNELOPS_STATUS_CONCAT_INNER_(a, b) a##b
#define CHANNELOPS_STATUS_CONCAT_(a, b) CHANNELOPS_STATUS_CONCAT_INNER_(a, b)

#define CHANNELOPS_RETURN_IF_ERROR(expr)                                         \
  do {                                                                           \
    ::absl::Status channelops_status_ = (expr);                                  \
    if (!channelops_status_.ok()) return channelops_status_;                     \
  } while (0)

#define CHANNELOPS_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                      \
  if (!tmp.ok()) return std::move(tmp).status();          \
  lhs = std::move(tmp).value()

#define CHANNELOPS_ASSIGN_OR_RETURN(lhs, expr) \
  CHANNELOPS_ASSIGN_OR_RETURN_IMPL_(CHANNELOPS_STATUS_CONCAT_(channelops_statusor_, __LINE__), lhs, expr)
