#pragma once

// The contract every report push parser keeps, checked on one input. Shared by
// the seeded mutation test (tests/parser_mutation_test.cc) and the libFuzzer
// targets (tests/fuzz/pos_*_fuzz.cc, clang only):
//   - the items do not depend on how the input is split into chunks;
//   - line numbers are >= 1 and strictly increasing;
//   - after a fatal error (failed()) the last item is that error, nothing follows;
//   - a line's date is "" or a real YYYY-MM-DD day; quantities fit 18 digits.
// Returns "" when the contract holds, else what was violated. Std-only.

#include <cstdint>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "pos_ingestion/parsers/line.h"
#include "pos_ingestion/parsers/text.h"

namespace channelops::pos::parse::testing {

enum class Format { kCsv, k867, k852 };

inline std::unique_ptr<Parser> NewParser(Format f) {
  switch (f) {
    case Format::kCsv:
      return NewCsvParser();
    case Format::k867:
      return NewX12_867Parser();
    case Format::k852:
      return NewX12_852Parser();
  }
  return nullptr;
}

struct ParseResult {
  std::vector<Item> items;
  bool failed = false;
};

inline ParseResult ParseInChunks(Format f, std::string_view input, size_t chunk) {
  auto p = NewParser(f);
  ParseResult out;
  if (chunk == 0) chunk = input.size() + 1;
  for (size_t i = 0; i < input.size(); i += chunk) p->Push(input.substr(i, chunk), out.items);
  p->Finish(out.items);
  out.failed = p->failed();
  return out;
}

inline std::string DescribeItem(const Item& item) {
  std::ostringstream os;
  if (const auto* l = std::get_if<Line>(&item)) {
    os << "L" << l->line_number << "|" << l->activity_code << "|" << l->sku << "|"
       << l->has_quantity << l->quantity << "|" << l->unit_of_measure << "|" << l->unit_price << "|"
       << l->currency << "|" << l->date << "|" << l->invoice_number << "#" << l->invoice_line << "|"
       << l->original_invoice_number << "|" << l->deal_registration_id << "|" << l->spa_id << "|"
       << l->customer.name << "|" << l->customer.customer_id << "|" << l->customer.email_domain
       << "|" << l->customer.address_line << "|" << l->customer.city << "|" << l->customer.region
       << "|" << l->customer.postal_code << "|" << l->customer.country;
  } else {
    const auto& i = std::get<Issue>(item);
    os << "I" << i.line_number << "|" << i.field << "|" << static_cast<int>(i.code) << "|"
       << i.message;
  }
  return os.str();
}

inline std::string CheckParserContract(Format f, std::string_view input, size_t chunk) {
  const ParseResult whole = ParseInChunks(f, input, 0);
  const ParseResult split = ParseInChunks(f, input, chunk);
  if (whole.failed != split.failed) return "failed() depends on the chunking";
  if (whole.items.size() != split.items.size()) {
    return "item count depends on the chunking: " + std::to_string(whole.items.size()) + " vs " +
           std::to_string(split.items.size());
  }
  int64_t previous = 0;
  for (size_t i = 0; i < whole.items.size(); ++i) {
    const std::string a = DescribeItem(whole.items[i]);
    if (a != DescribeItem(split.items[i])) {
      return "item " + std::to_string(i) + " depends on the chunking: " + a + " vs " +
             DescribeItem(split.items[i]);
    }
    const int64_t n = LineNumberOf(whole.items[i]);
    if (n < 1 || n <= previous) return "line numbers not strictly increasing at " + a;
    previous = n;
    if (const auto* l = std::get_if<Line>(&whole.items[i])) {
      if (!l->date.empty() && ParseIsoDate(l->date) != l->date) return "bad date in " + a;
      if (l->quantity > 999'999'999'999'999'999 || l->quantity < -999'999'999'999'999'999) {
        return "quantity out of range in " + a;
      }
    }
  }
  if (whole.failed && (whole.items.empty() || !std::holds_alternative<Issue>(whole.items.back()))) {
    return "failed() without a final issue";
  }
  return "";
}

}  // namespace channelops::pos::parse::testing
