#pragma once

// Protobuf's wire format, for the few places that write a message's bytes by
// hand (a hot path that already holds a sub-message's serialized bytes).

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace channelops::core {

// Appends `n` as a base-128 varint.
inline void AppendVarint(std::string* out, uint64_t n) {
  for (; n >= 0x80; n >>= 7) out->push_back(static_cast<char>((n & 0x7f) | 0x80));
  out->push_back(static_cast<char>(n));
}

// Appends field `field` as protobuf writes a length-delimited field (a
// sub-message, string or bytes): the tag, the length as a varint, the bytes.
inline void AppendLengthDelimited(std::string* out, uint32_t field, absl::string_view bytes) {
  AppendVarint(out, (static_cast<uint64_t>(field) << 3) | 2);
  AppendVarint(out, bytes.size());
  out->append(bytes.data(), bytes.size());
}

}  // namespace channelops::core
