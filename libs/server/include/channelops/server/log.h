#pragma once

// One JSON object per line on stderr: {"ts":..,"level":..,"msg":..,<fields>}.
// Thread-safe (one write(2) per line). Never log payloads of requests: they may
// hold partner data; log ids and identities.

#include <initializer_list>
#include <string>
#include <utility>

#include "absl/strings/string_view.h"

namespace channelops::server {

using LogField = std::pair<absl::string_view, std::string>;

void LogInfo(absl::string_view msg, std::initializer_list<LogField> fields = {});
void LogWarn(absl::string_view msg, std::initializer_list<LogField> fields = {});
void LogError(absl::string_view msg, std::initializer_list<LogField> fields = {});

// JSON string escaping (quotes included).
std::string JsonQuote(absl::string_view s);

}  // namespace channelops::server
