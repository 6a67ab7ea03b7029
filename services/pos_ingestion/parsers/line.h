#pragma once

// What the report parsers produce: one Item per report line (or per record /
// segment that could not be read), in input order, with the line number the
// reporter sees in the file. The parsers only read; every business check
// (catalogue, quantities, dates, customers) is made by the domain
// (domain/lines.h), so all three input forms (typed lines, CSV, X12) are
// validated by one function.
//
// Parsers depend on the C++ standard library only (no protobuf, no Abseil):
// they are small enough to fuzz in isolation.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace channelops::pos::parse {

// The end customer as the line reports it. Empty strings: not given.
struct Party {
  std::string name;
  std::string customer_id;  // the reporter's customer number
  std::string email_domain;
  std::string address_line;
  std::string city;
  std::string region;
  std::string postal_code;
  std::string country;  // as written; the domain normalises and validates it

  bool empty() const {
    return name.empty() && customer_id.empty() && email_domain.empty() && address_line.empty() &&
           city.empty() && region.empty() && postal_code.empty() && country.empty();
  }
  // Every field empty, keeping the strings' memory.
  void Clear() {
    name.clear();
    customer_id.clear();
    email_domain.clear();
    address_line.clear();
    city.clear();
    region.clear();
    postal_code.clear();
    country.clear();
  }
};

// One report line. Strings are trimmed; empty means "not given".
struct Line {
  // User-provided, so that a value-initialised Line (std::vector::emplace_back,
  // std::variant) is not first zero-filled: every member has its initialiser.
  Line() {}

  int64_t line_number = 0;    // CSV: physical line of the record's start (header = 1);
                              // X12: ordinal of the segment that starts the line (ISA = 1);
                              // typed lines: ordinal in the stream
  std::string activity_code;  // "SS", "DS", "SD", "RU", "RV", "IA", "QA", "QS", ...
  std::string sku;
  bool has_quantity = false;
  int64_t quantity = 0;
  std::string unit_of_measure;
  std::string unit_price;  // exact decimal text as written ("125.50"); checked by the domain
  std::string currency;    // ISO 4217 as written
  std::string date;        // "YYYY-MM-DD" (X12 CCYYMMDD is converted); "" if none
  std::string invoice_number;
  int64_t invoice_line = 0;  // 0: not given
  std::string original_invoice_number;
  std::string deal_registration_id;
  std::string spa_id;
  Party customer;

  // Every field as a new Line has it, keeping the strings' memory (a reused
  // line). A field added above must be cleared here (line_clear_test).
  void Clear() {
    line_number = 0;
    activity_code.clear();
    sku.clear();
    has_quantity = false;
    quantity = 0;
    unit_of_measure.clear();
    unit_price.clear();
    currency.clear();
    date.clear();
    invoice_number.clear();
    invoice_line = 0;
    original_invoice_number.clear();
    deal_registration_id.clear();
    spa_id.clear();
    customer.Clear();
  }
};

enum class IssueCode {
  kMalformed,     // unreadable record, segment or field
  kMissingField,  // a required field / column is absent
};

// A record or segment that yields no line. `field` names the column or the
// X12 element ("QTY02", "SE01", "quantity").
struct Issue {
  int64_t line_number = 0;
  std::string field;
  IssueCode code = IssueCode::kMalformed;
  std::string message;
};

using Item = std::variant<Line, Issue>;

inline int64_t LineNumberOf(const Item& item) {
  return std::holds_alternative<Line>(item) ? std::get<Line>(item).line_number
                                            : std::get<Issue>(item).line_number;
}

// Where a parser puts its items, in order.
class ItemSink {
 public:
  virtual ~ItemSink() = default;
  // The next item, a Line with every field as a new Line has it (it may reuse
  // the memory of an earlier line), for the parser to fill.
  virtual Line& AddLine() = 0;
  // The next item, made by the parser.
  virtual void Add(Item item) = 0;
};

// Appends to a vector.
class VectorSink final : public ItemSink {
 public:
  explicit VectorSink(std::vector<Item>& items) : items_(items) {}
  Line& AddLine() override { return std::get<Line>(items_.emplace_back(std::in_place_type<Line>)); }
  void Add(Item item) override { items_.push_back(std::move(item)); }

 private:
  std::vector<Item>& items_;
};

// A push parser: bytes go in as they arrive, split anywhere; complete items
// come out, in strictly increasing line-number order. Memory is bounded by the
// longest record (kMaxRecordBytes), never by the input. Not thread-safe (one
// per report stream).
class Parser {
 public:
  // A record (CSV) or segment (X12) longer than this is a fatal error.
  static constexpr size_t kMaxRecordBytes = 64 * 1024;

  virtual ~Parser() = default;

  // Consumes the next bytes of the input; appends the items they complete.
  virtual void Push(std::string_view bytes, std::vector<Item>& out) = 0;
  // End of input: flushes the last record and reports truncation. Push must
  // not be called afterwards.
  virtual void Finish(std::vector<Item>& out) = 0;
  // The same into a sink (the service's batches, whose lines are reused). By
  // default through a vector; the CSV parser builds its lines in the sink's.
  virtual void PushTo(std::string_view bytes, ItemSink& out) {
    std::vector<Item> items;
    Push(bytes, items);
    for (Item& i : items) out.Add(std::move(i));
  }
  virtual void FinishTo(ItemSink& out) {
    std::vector<Item> items;
    Finish(items);
    for (Item& i : items) out.Add(std::move(i));
  }
  // True after an error that makes the rest of the input unreadable (no CSV
  // header, no X12 interchange header, a record over kMaxRecordBytes). The
  // error was reported as an Issue; later input is ignored.
  virtual bool failed() const = 0;
};

// RFC 4180 CSV with a header row naming the columns (docs/pos_ingestion.md).
std::unique_ptr<Parser> NewCsvParser();
// X12 867 Product Transfer and Resale Report (ISA/GS/ST...SE/GE/IEA).
std::unique_ptr<Parser> NewX12_867Parser();
// X12 852 Product Activity Data.
std::unique_ptr<Parser> NewX12_852Parser();

}  // namespace channelops::pos::parse
