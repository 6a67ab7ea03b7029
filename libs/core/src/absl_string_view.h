#pragma once

// Debian's Abseil 20220623 is built with ABSL_OPTION_USE_STD_STRING_VIEW 0, so
// absl::string_view is a distinct type that does not convert to or from
// std::string_view. Our public APIs take std::string_view; these bridge the two
// inside .cc files (absl::StrCat, absl::Status payloads, ...).

#include <string_view>

#include "absl/strings/string_view.h"

namespace channelops::core::internal {

inline absl::string_view ToAbsl(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}
inline std::string_view ToStd(absl::string_view s) { return std::string_view(s.data(), s.size()); }

}  // namespace channelops::core::internal
