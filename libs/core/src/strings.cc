#include "channelops/core/strings.h"

#include <algorithm>

namespace channelops::core {

bool IsValidIdentifier(std::string_view id, size_t max_len) {
  if (id.empty() || id.size() > max_len) return false;
  return std::all_of(id.begin(), id.end(), [](char c) { return c > ' ' && c <= '~'; });
}

}  // namespace channelops::core
