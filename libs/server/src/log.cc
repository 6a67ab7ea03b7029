#include "channelops/server/log.h"

#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace channelops::server {

std::string JsonQuote(absl::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += absl::StrFormat("\\u%04x", c);
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
  return out;
}

namespace {
void Log(absl::string_view level, absl::string_view msg, std::initializer_list<LogField> fields) {
  std::string line = absl::StrCat(
      "{\"ts\":", JsonQuote(absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", absl::Now(), absl::UTCTimeZone())),
      ",\"level\":", JsonQuote(level), ",\"msg\":", JsonQuote(msg));
  for (const auto& [k, v] : fields) absl::StrAppend(&line, ",", JsonQuote(k), ":", JsonQuote(v));
  line += "}\n";
  ssize_t unused = ::write(2, line.data(), line.size());
  (void)unused;
}
}  // namespace

void LogInfo(absl::string_view msg, std::initializer_list<LogField> fields) { Log("info", msg, fields); }
void LogWarn(absl::string_view msg, std::initializer_list<LogField> fields) { Log("warn", msg, fields); }
void LogError(absl::string_view msg, std::initializer_list<LogField> fields) { Log("error", msg, fields); }

}  // namespace channelops::server
