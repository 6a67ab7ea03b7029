#pragma once

#include <cstddef>
#include <string_view>

namespace channelops::core {

// True iff `id` is non-empty, at most `max_len` bytes, and every byte is
// printable ASCII other than space ('!' .. '~'). The shape check services apply
// to client-supplied ids (partner ids, deal ids, SKUs) before using them as
// keys. Pure and thread-safe.
bool IsValidIdentifier(std::string_view id, size_t max_len);

}  // namespace channelops::core
