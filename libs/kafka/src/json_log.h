#pragma once

// One JSON object per line on stderr (the project's log format). Private to
// libs/kafka until libs/core grows a shared logger.

#include <cstdio>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace channelops::kafka::internal {

inline void AppendJsonString(std::string* out, std::string_view s) {
  out->push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        if (c < 0x20) {
          absl::StrAppendFormat(out, "\\u%04x", c);
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
  }
  out->push_back('"');
}

// LogJson("warn", "consumer_runner", "poison record skipped", {{"topic", t}, ...})
inline void LogJson(std::string_view level, std::string_view logger, std::string_view msg,
                    std::initializer_list<std::pair<std::string_view, std::string>> fields = {}) {
  std::string line = "{\"ts\":";
  AppendJsonString(&line,
                   absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", absl::Now(), absl::UTCTimeZone()));
  line.append(",\"level\":");
  AppendJsonString(&line, level);
  line.append(",\"logger\":");
  AppendJsonString(&line, logger);
  line.append(",\"msg\":");
  AppendJsonString(&line, msg);
  for (const auto& [k, v] : fields) {
    line.push_back(',');
    AppendJsonString(&line, k);
    line.push_back(':');
    AppendJsonString(&line, v);
  }
  line.append("}\n");
  std::fwrite(line.data(), 1, line.size(), stderr);  // one write per line: lines stay whole
}

}  // namespace channelops::kafka::internal
