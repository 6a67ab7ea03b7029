// RFC 4180 CSV push parser. A character state machine: quoted fields may hold
// commas, doubled quotes and line breaks; records end at LF, CRLF or CR; a
// UTF-8 byte-order mark before the header is skipped; blank lines are skipped.
// The first record is the header row naming the columns (any order, case and
// '-' / ' ' / '_' insensitive; unknown columns are ignored).

#include <array>
#include <optional>
#include <string>
#include <utility>

#include "pos_ingestion/parsers/line.h"
#include "pos_ingestion/parsers/text.h"

namespace channelops::pos::parse {
namespace {

enum class Col {
  kActivity,
  kSku,
  kQuantity,
  kUnitOfMeasure,
  kUnitPrice,
  kCurrency,
  kDate,
  kInvoiceNumber,
  kInvoiceLine,
  kOriginalInvoice,
  kCustomerName,
  kCustomerId,
  kCustomerEmailDomain,
  kCustomerAddress,
  kCustomerCity,
  kCustomerRegion,
  kCustomerPostalCode,
  kCustomerCountry,
  kDealRegistrationId,
  kSpaId,
  kCount,
};

struct ColName {
  const char* name;
  Col col;
};

// Canonical names first; aliases after.
constexpr ColName kColNames[] = {
    {"activity", Col::kActivity},
    {"sku", Col::kSku},
    {"quantity", Col::kQuantity},
    {"unit_of_measure", Col::kUnitOfMeasure},
    {"unit_price", Col::kUnitPrice},
    {"currency", Col::kCurrency},
    {"date", Col::kDate},
    {"invoice_number", Col::kInvoiceNumber},
    {"invoice_line", Col::kInvoiceLine},
    {"original_invoice_number", Col::kOriginalInvoice},
    {"customer_name", Col::kCustomerName},
    {"customer_id", Col::kCustomerId},
    {"customer_email_domain", Col::kCustomerEmailDomain},
    {"customer_address", Col::kCustomerAddress},
    {"customer_city", Col::kCustomerCity},
    {"customer_region", Col::kCustomerRegion},
    {"customer_postal_code", Col::kCustomerPostalCode},
    {"customer_country", Col::kCustomerCountry},
    {"deal_registration_id", Col::kDealRegistrationId},
    {"spa_id", Col::kSpaId},
    // aliases
    {"transfer_type", Col::kActivity},
    {"qty", Col::kQuantity},
    {"uom", Col::kUnitOfMeasure},
    {"currency_code", Col::kCurrency},
    {"invoice", Col::kInvoiceNumber},
    {"original_invoice", Col::kOriginalInvoice},
    {"customer_email", Col::kCustomerEmailDomain},
    {"customer_state", Col::kCustomerRegion},
    {"customer_zip", Col::kCustomerPostalCode},
    {"customer_country_code", Col::kCustomerCountry},
};

constexpr Col kRequired[] = {Col::kActivity, Col::kSku, Col::kQuantity, Col::kDate};

std::string CanonicalHeader(std::string_view raw) {
  std::string out;
  for (char c : Trim(raw)) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c == ' ' || c == '-') c = '_';
    out.push_back(c);
  }
  return out;
}

const char* CanonicalName(Col col) {
  for (const ColName& n : kColNames) {
    if (n.col == col) return n.name;
  }
  return "?";
}

class CsvParser final : public Parser {
 public:
  void Push(std::string_view bytes, std::vector<Item>& out) override {
    for (char c : bytes) {
      if (failed_) return;
      Feed(c, out);
    }
  }

  void Finish(std::vector<Item>& out) override {
    if (failed_) return;
    if (state_ == State::kQuoted) {
      Fail(out, record_line_, "", "unterminated quoted field at end of input");
      return;
    }
    if (record_has_content_ || !fields_.empty()) EndRecord(out);
  }

  bool failed() const override { return failed_; }

 private:
  enum class State { kFieldStart, kUnquoted, kQuoted, kQuoteInQuoted };

  void Feed(char c, std::vector<Item>& out) {
    if (skip_lf_) {
      skip_lf_ = false;
      if (c == '\n') return;  // the LF of a CRLF
    }
    if (!record_has_content_ && fields_.empty() && field_.empty() && state_ == State::kFieldStart) {
      record_line_ = physical_line_;
    }
    if (++record_bytes_ > kMaxRecordBytes) {
      Fail(out, record_line_, "", "record longer than 65536 bytes (unbalanced quote?)");
      return;
    }
    switch (state_) {
      case State::kFieldStart:
        if (c == '"') {
          state_ = State::kQuoted;
          record_has_content_ = true;
          return;
        }
        state_ = State::kUnquoted;
        [[fallthrough]];
      case State::kUnquoted:
        if (c == ',') {
          EndField();
        } else if (c == '\n' || c == '\r') {
          EndLine(c, out);
        } else {
          field_.push_back(c);
          record_has_content_ = true;
        }
        return;
      case State::kQuoted:
        if (c == '"') {
          state_ = State::kQuoteInQuoted;
        } else {
          // A line break inside quotes is data; CRLF counts as one line.
          if (c == '\r' || (c == '\n' && !prev_cr_)) ++physical_line_;
          field_.push_back(c);
        }
        prev_cr_ = c == '\r';
        return;
      case State::kQuoteInQuoted:
        if (c == '"') {
          field_.push_back('"');
          state_ = State::kQuoted;
        } else if (c == ',') {
          EndField();
        } else if (c == '\n' || c == '\r') {
          EndLine(c, out);
        } else {
          // Text after a closing quote: keep it, but the record is malformed.
          malformed_ = "text after a closing quote";
          field_.push_back(c);
          state_ = State::kUnquoted;
        }
        return;
    }
  }

  void EndField() {
    fields_.push_back(std::move(field_));
    field_.clear();
    state_ = State::kFieldStart;
  }

  void EndLine(char c, std::vector<Item>& out) {
    if (c == '\r') skip_lf_ = true;
    ++physical_line_;
    if (!record_has_content_ && fields_.empty()) {  // blank line
      ResetRecord();
      return;
    }
    EndRecord(out);
  }

  void ResetRecord() {
    fields_.clear();
    field_.clear();
    state_ = State::kFieldStart;
    record_has_content_ = false;
    record_bytes_ = 0;
    prev_cr_ = false;
    malformed_.clear();
  }

  void EndRecord(std::vector<Item>& out) {
    fields_.push_back(std::move(field_));
    field_.clear();
    if (!have_header_) {
      Header(out);
    } else {
      Record(out);
    }
    ResetRecord();
  }

  void Header(std::vector<Item>& out) {
    have_header_ = true;
    if (!fields_.empty() && fields_[0].rfind("\xEF\xBB\xBF", 0) == 0) fields_[0].erase(0, 3);
    columns_ = fields_.size();
    index_.fill(-1);
    for (size_t i = 0; i < fields_.size(); ++i) {
      std::string name = CanonicalHeader(fields_[i]);
      for (const ColName& n : kColNames) {
        if (name != n.name) continue;
        int& slot = index_[static_cast<size_t>(n.col)];
        if (slot >= 0) {
          Fail(out, record_line_, name, "column '" + name + "' appears twice in the header row");
          return;
        }
        slot = static_cast<int>(i);
      }
    }
    for (Col c : kRequired) {
      if (index_[static_cast<size_t>(c)] < 0) {
        Issue issue;
        issue.line_number = record_line_;
        issue.field = CanonicalName(c);
        issue.code = IssueCode::kMissingField;
        issue.message = std::string("the header row has no '") + CanonicalName(c) +
                        "' column (required: activity, sku, quantity, date)";
        out.push_back(std::move(issue));
        failed_ = true;
        return;
      }
    }
  }

  std::string_view Get(Col c) const {
    int i = index_[static_cast<size_t>(c)];
    if (i < 0 || static_cast<size_t>(i) >= fields_.size()) return {};
    return Trim(fields_[static_cast<size_t>(i)]);
  }

  void Record(std::vector<Item>& out) {
    auto issue = [&](std::string field, std::string message) {
      Issue i;
      i.line_number = record_line_;
      i.field = std::move(field);
      i.code = IssueCode::kMalformed;
      i.message = std::move(message);
      out.push_back(std::move(i));
    };
    if (!malformed_.empty()) return issue("", malformed_);
    if (fields_.size() != columns_) {
      return issue("", "expected " + std::to_string(columns_) + " fields, got " +
                           std::to_string(fields_.size()));
    }
    Line l;
    l.line_number = record_line_;
    l.activity_code = Upper(Get(Col::kActivity));
    l.sku = std::string(Get(Col::kSku));
    if (std::string_view q = Get(Col::kQuantity); !q.empty()) {
      auto v = ParseInt(q);
      if (!v) return issue("quantity", "'" + std::string(q) + "' is not a whole number");
      l.has_quantity = true;
      l.quantity = *v;
    }
    l.unit_of_measure = Upper(Get(Col::kUnitOfMeasure));
    l.unit_price = std::string(Get(Col::kUnitPrice));
    l.currency = std::string(Get(Col::kCurrency));
    if (std::string_view d = Get(Col::kDate); !d.empty()) {
      auto v = ParseIsoDate(d);
      if (!v) return issue("date", "'" + std::string(d) + "' is not a YYYY-MM-DD date");
      l.date = *v;
    }
    l.invoice_number = std::string(Get(Col::kInvoiceNumber));
    if (std::string_view n = Get(Col::kInvoiceLine); !n.empty()) {
      auto v = ParseInt(n);
      if (!v || *v < 1 || *v > 1'000'000'000) {
        return issue("invoice_line", "'" + std::string(n) + "' is not a line number (1..1e9)");
      }
      l.invoice_line = *v;
    }
    l.original_invoice_number = std::string(Get(Col::kOriginalInvoice));
    l.deal_registration_id = std::string(Get(Col::kDealRegistrationId));
    l.spa_id = std::string(Get(Col::kSpaId));
    l.customer.name = std::string(Get(Col::kCustomerName));
    l.customer.customer_id = std::string(Get(Col::kCustomerId));
    l.customer.email_domain = std::string(Get(Col::kCustomerEmailDomain));
    l.customer.address_line = std::string(Get(Col::kCustomerAddress));
    l.customer.city = std::string(Get(Col::kCustomerCity));
    l.customer.region = std::string(Get(Col::kCustomerRegion));
    l.customer.postal_code = std::string(Get(Col::kCustomerPostalCode));
    l.customer.country = std::string(Get(Col::kCustomerCountry));
    out.push_back(std::move(l));
  }

  void Fail(std::vector<Item>& out, int64_t line, std::string field, std::string message) {
    Issue i;
    i.line_number = line;
    i.field = std::move(field);
    i.code = IssueCode::kMalformed;
    i.message = std::move(message);
    out.push_back(std::move(i));
    failed_ = true;
  }

  State state_ = State::kFieldStart;
  std::vector<std::string> fields_;
  std::string field_;
  bool record_has_content_ = false;
  bool skip_lf_ = false;
  bool prev_cr_ = false;
  size_t record_bytes_ = 0;
  std::string malformed_;
  int64_t physical_line_ = 1;  // line the next character is on
  int64_t record_line_ = 1;    // line the current record started on
  bool have_header_ = false;
  size_t columns_ = 0;
  std::array<int, static_cast<size_t>(Col::kCount)> index_{};
  bool failed_ = false;
};

}  // namespace

std::unique_ptr<Parser> NewCsvParser() { return std::make_unique<CsvParser>(); }

}  // namespace channelops::pos::parse
