#pragma once

#include <string>

#include "absl/time/time.h"

namespace channelops::core {

// A UUIDv7 (RFC 9562): 48-bit Unix milliseconds, version 7, 74 random bits.
// Text form, lower-case hex with dashes. Ids made by one process are strictly
// increasing (a monotonic counter fills rand_a within one millisecond), so they
// sort by creation time. Thread-safe.
std::string NewUuidV7(absl::Time now);
std::string NewUuidV7();

// True iff `s` is a canonical 36-character UUID text of any version.
bool IsUuid(const std::string& s);

}  // namespace channelops::core
