#pragma once

// X12 segment tokenizer with a push API, shared by the 867 and 852 parsers.
// The separators come from the ISA header: element separator = ISA byte 4,
// component separator = byte 105, segment terminator = byte 106. Input that
// starts with ST or GS instead (an envelope-less transaction set) uses the
// common defaults '*', '>', '~'. Whitespace between segments (CR/LF after each
// terminator) is skipped. Not thread-safe.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "pos_ingestion/parsers/line.h"

namespace channelops::pos::parse {

struct Segment {
  int64_t ordinal = 0;                // 1-based position in the input (ISA = 1)
  std::vector<std::string> elements;  // elements[0] is the segment id ("QTY"), trimmed

  // Element i (X12 numbering: Element(1) is "QTY01"), trimmed; "" if absent.
  std::string_view Element(size_t i) const {
    return i < elements.size() ? std::string_view(elements[i]) : std::string_view();
  }
  const std::string& id() const { return elements.front(); }
};

class X12Tokenizer {
 public:
  // Appends the segments completed by `bytes`. A fatal problem (no interchange
  // header, a malformed ISA, a segment over Parser::kMaxRecordBytes) is
  // appended to `issues` and sets failed().
  void Push(std::string_view bytes, std::vector<Segment>& segments, std::vector<Item>& issues);
  // End of input: a last segment without terminator is still returned.
  void Finish(std::vector<Segment>& segments, std::vector<Item>& issues);
  bool failed() const { return failed_; }
  char component_separator() const { return component_; }

 private:
  bool DetectSeparators(std::vector<Item>& issues);
  void Emit(std::string_view raw, std::vector<Segment>& segments);
  void Fail(std::vector<Item>& issues, std::string field, std::string message);

  std::string pending_;
  bool known_ = false;
  bool failed_ = false;
  char element_ = '*';
  char component_ = '>';
  char terminator_ = '~';
  int64_t next_ordinal_ = 1;
};

// Splits a composite element on the component separator.
std::vector<std::string_view> Components(std::string_view element, char separator);

}  // namespace channelops::pos::parse
