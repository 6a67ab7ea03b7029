#include "channelops/core/strings.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace channelops::core {

bool IsValidIdentifier(std::string_view id, size_t max_len) {
  if (id.empty() || id.size() > max_len) return false;
  return std::all_of(id.begin(), id.end(), [](char c) { return c > ' ' && c <= '~'; });
}

size_t FirstInvalidUtf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    // ASCII, eight bytes at a time.
    while (i + 8 <= n) {
      uint64_t w;
      std::memcpy(&w, p + i, 8);
      if (w & 0x8080808080808080ull) break;
      i += 8;
    }
    if (i >= n) break;
    const unsigned char c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    // The allowed second byte's range depends on the first (RFC 3629, table 3-7
    // of the Unicode standard); later bytes are 0x80..0xBF.
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;  // overlong
      if (c == 0xED) hi = 0x9F;  // surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;  // overlong
      if (c == 0xF4) hi = 0x8F;  // above U+10FFFF
    } else {
      return i;  // a continuation byte, an overlong lead (C0, C1) or F5..FF
    }
    if (i + len > n) return i;
    if (p[i + 1] < lo || p[i + 1] > hi) return i;
    for (size_t k = 2; k < len; ++k) {
      if (p[i + k] < 0x80 || p[i + k] > 0xBF) return i;
    }
    i += len;
  }
  return std::string_view::npos;
}

std::string_view Utf8Prefix(std::string_view s, size_t max_bytes) {
  if (s.size() <= max_bytes) return s;
  // Cut before a sequence that the cut would split: a lead byte among the last
  // three, followed by continuation bytes to a length that runs past the cut.
  // Anything else (ASCII, a complete sequence, bytes that are not UTF-8 at
  // all) is cut at max_bytes.
  for (size_t back = 1; back <= 3 && back <= max_bytes; ++back) {
    const size_t lead = max_bytes - back;
    const auto c = static_cast<unsigned char>(s[lead]);
    if ((c & 0xC0) == 0x80) continue;  // a continuation byte: look for its lead
    const size_t len = c >= 0xF0 && c <= 0xF7 ? 4 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xC0 ? 2 : 1;
    if (len <= back || lead + len > s.size()) break;
    for (size_t k = lead + 1; k < lead + len; ++k) {
      if ((static_cast<unsigned char>(s[k]) & 0xC0) != 0x80) return s.substr(0, max_bytes);
    }
    return s.substr(0, lead);
  }
  return s.substr(0, max_bytes);
}

std::string QuotableUtf8(std::string_view s, size_t max_bytes) {
  std::string_view t = Utf8Prefix(s, max_bytes);
  std::string out;
  out.reserve(t.size() + 3);
  while (!t.empty()) {
    const size_t bad = FirstInvalidUtf8(t);
    if (bad == std::string_view::npos) {
      out.append(t.data(), t.size());
      break;
    }
    static constexpr char kHex[] = "0123456789ABCDEF";
    const auto b = static_cast<unsigned char>(t[bad]);
    out.append(t.data(), bad);
    out.append({'\\', 'x', kHex[b >> 4], kHex[b & 15]});
    t.remove_prefix(bad + 1);
  }
  if (s.size() > Utf8Prefix(s, max_bytes).size()) out.append("...");
  return out;
}

}  // namespace channelops::core
