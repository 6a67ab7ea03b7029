#pragma once

// Shape checks shared by every service's request validation. Each adds a field
// violation ("<field>: <reason>") to `v` instead of failing fast, so a client
// learns every problem of a request at once. Pure and thread-safe.

#include <cstddef>
#include <string>

#include "channelops/core/grpc_status.h"

namespace channelops::core {

inline constexpr size_t kMaxIdLength = 128;

// Non-empty when required; at most max_len; printable ASCII without spaces.
void ValidateId(FieldViolations& v, const std::string& field, const std::string& value,
                bool required, size_t max_len = kMaxIdLength);
// Non-blank when required; at most max_len bytes.
void ValidateText(FieldViolations& v, const std::string& field, const std::string& value,
                  size_t max_len, bool required);
// `request_id` of a mutating RPC: a required id.
inline void ValidateRequestId(FieldViolations& v, const std::string& request_id) {
  ValidateId(v, "request_id", request_id, true);
}

}  // namespace channelops::core
