#pragma once

#include <string>

namespace channelops::testing {

// A plain HTTP/1.0 GET of `path` from `hostport` (IPv4 "a.b.c.d:port"): the raw
// response, headers included, or "" when nothing listens there. For scraping a
// service's /metrics in tests.
std::string HttpGet(const std::string& hostport, const std::string& path);

}  // namespace channelops::testing
