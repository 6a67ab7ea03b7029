#include "channelops/core/validation.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "channelops/core/strings.h"

namespace channelops::core {

void ValidateId(FieldViolations& v, const std::string& field, const std::string& value,
                bool required, size_t max_len) {
  if (value.empty()) {
    if (required) v.Add(field, "is required");
    return;
  }
  if (value.size() > max_len) {
    v.Add(field, absl::StrCat("must be at most ", max_len, " characters"));
  } else if (!IsValidIdentifier(value, max_len)) {
    v.Add(field, "must be printable ASCII without spaces");
  }
}

void ValidateText(FieldViolations& v, const std::string& field, const std::string& value,
                  size_t max_len, bool required) {
  if (required && absl::StripAsciiWhitespace(value).empty()) {
    v.Add(field, "is required");
  } else if (value.size() > max_len) {
    v.Add(field, absl::StrCat("must be at most ", max_len, " characters"));
  }
}

}  // namespace channelops::core
