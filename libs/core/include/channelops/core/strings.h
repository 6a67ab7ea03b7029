#pragma once

#include <cstddef>
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

// The longest prefix of `s` of at most `max_bytes` that does not end inside a
// UTF-8 sequence (for shortening text that is quoted back to a caller).
std::string_view Utf8Prefix(std::string_view s, size_t max_bytes);

// `s` made fit to quote back to a caller in a protobuf string: each byte that is
// not part of well-formed UTF-8 written as "\\xNN", and cut after at most
// `max_bytes` of `s` (at a character boundary) with "..." after it.
std::string QuotableUtf8(std::string_view s, size_t max_bytes);

}  // namespace channelops::core
