#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace channelops::core {

// True iff `id` is non-empty, at most `max_len` bytes, and every byte is
// printable ASCII other than space ('!' .. '~'). The shape check services apply
// to client-supplied ids (partner ids, deal ids, SKUs) before using them as
// keys. Pure and thread-safe.
bool IsValidIdentifier(std::string_view id, size_t max_len);

// The offset of the first byte of `s` that is not part of well-formed UTF-8
// (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF), or
// std::string_view::npos if all of it is. Protobuf `string` fields must hold
// UTF-8: a peer fails to parse a message with anything else. Runs of ASCII are
// checked eight bytes at a time. Pure and thread-safe.
size_t FirstInvalidUtf8(std::string_view s);

// The bytes of `s` ORed together (eight at a time, no branch per byte):
// `(OrBytes(a) | OrBytes(b)) & 0x80 == 0` says that a and b are ASCII, and so
// UTF-8, without a call per field. Inline: POS checks eight fields per line.
inline uint64_t OrBytes(std::string_view s) {
  const char* p = s.data();
  const size_t n = s.size();
  uint64_t any = 0;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    any |= w;
  }
  for (; i < n; ++i) any |= static_cast<unsigned char>(p[i]);
  return any;
}
inline constexpr uint64_t kHighBits = 0x8080808080808080ull;

// The longest prefix of `s` of at most `max_bytes` that does not end inside a
// UTF-8 sequence (for shortening text that is quoted back to a caller).
std::string_view Utf8Prefix(std::string_view s, size_t max_bytes);

// `s` made fit to quote back to a caller in a protobuf string: each byte that is
// not part of well-formed UTF-8 written as "\\xNN", and cut after at most
// `max_bytes` of `s` (at a character boundary) with "..." after it.
std::string QuotableUtf8(std::string_view s, size_t max_bytes);

}  // namespace channelops::core
