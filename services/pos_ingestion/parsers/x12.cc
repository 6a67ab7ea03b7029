#include "pos_ingestion/parsers/x12.h"

#include <utility>

#include "pos_ingestion/parsers/text.h"

namespace channelops::pos::parse {
namespace {

constexpr size_t kIsaLength = 106;  // "ISA" + 16 fixed-width elements + terminator

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
bool IsAlnum(char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

}  // namespace

std::vector<std::string_view> Components(std::string_view element, char separator) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t p = element.find(separator, start);
    out.push_back(Trim(element.substr(start, p == std::string_view::npos ? p : p - start)));
    if (p == std::string_view::npos) break;
    start = p + 1;
  }
  return out;
}

void X12Tokenizer::Fail(std::vector<Item>& issues, std::string field, std::string message) {
  Issue i;
  i.line_number = next_ordinal_;
  i.field = std::move(field);
  i.code = IssueCode::kMalformed;
  i.message = std::move(message);
  issues.push_back(std::move(i));
  failed_ = true;
  pending_.clear();
}

// Returns false if more bytes are needed.
bool X12Tokenizer::DetectSeparators(std::vector<Item>& issues) {
  size_t start = 0;
  if (pending_.rfind("\xEF\xBB\xBF", 0) == 0) start = 3;
  while (start < pending_.size() && IsSpace(pending_[start])) ++start;
  std::string_view rest = std::string_view(pending_).substr(start);
  if (rest.size() < 3) return false;
  if (rest.substr(0, 3) == "ISA") {
    if (rest.size() < kIsaLength) return false;
    element_ = rest[3];
    component_ = rest[104];
    terminator_ = rest[105];
    int separators = 0;
    for (size_t i = 0; i < 105; ++i) separators += rest[i] == element_;
    if (IsAlnum(element_) || IsSpace(element_) || IsAlnum(terminator_) || terminator_ == element_ ||
        component_ == element_ || component_ == terminator_ || separators != 16) {
      Fail(issues, "ISA",
           "malformed ISA interchange header (expected 16 fixed-width elements and "
           "separators at bytes 4, 105 and 106)");
      return false;
    }
  } else if ((rest.substr(0, 3) == "ST*" || rest.substr(0, 3) == "GS*")) {
    // No interchange envelope: the usual separators.
  } else {
    Fail(issues, "ISA", "not an X12 interchange: expected it to start with an ISA segment");
    return false;
  }
  pending_.erase(0, start);
  known_ = true;
  return true;
}

void X12Tokenizer::Emit(std::string_view raw, std::vector<Segment>& segments) {
  raw = Trim(raw);
  if (raw.empty()) return;
  Segment s;
  s.ordinal = next_ordinal_++;
  size_t start = 0;
  while (true) {
    size_t p = raw.find(element_, start);
    std::string_view e = raw.substr(start, p == std::string_view::npos ? p : p - start);
    s.elements.emplace_back(Trim(e));
    if (p == std::string_view::npos) break;
    start = p + 1;
  }
  s.elements[0] = Upper(s.elements[0]);
  segments.push_back(std::move(s));
}

void X12Tokenizer::Push(std::string_view bytes, std::vector<Segment>& segments,
                        std::vector<Item>& issues) {
  if (failed_) return;
  pending_.append(bytes.data(), bytes.size());
  if (!known_ && !DetectSeparators(issues)) {
    if (!failed_ && pending_.size() > Parser::kMaxRecordBytes) {
      Fail(issues, "ISA", "not an X12 interchange: no ISA segment found");
    }
    return;
  }
  size_t start = 0;
  while (true) {
    size_t p = pending_.find(terminator_, start);
    if (p == std::string::npos) break;
    Emit(std::string_view(pending_).substr(start, p - start), segments);
    start = p + 1;
  }
  pending_.erase(0, start);
  if (pending_.size() > Parser::kMaxRecordBytes) {
    Fail(issues, "", "segment longer than 65536 bytes (missing segment terminator?)");
  }
}

void X12Tokenizer::Finish(std::vector<Segment>& segments, std::vector<Item>& issues) {
  if (failed_) return;
  if (!known_) {
    if (Trim(pending_).empty()) return;  // empty input: nothing to report
    if (!DetectSeparators(issues)) {
      if (!failed_) Fail(issues, "ISA", "input too short for an X12 interchange header");
      return;
    }
  }
  Emit(pending_, segments);
  pending_.clear();
}

}  // namespace channelops::pos::parse
