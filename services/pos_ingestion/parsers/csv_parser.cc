// RFC 4180 CSV push parser. A character state machine: quoted fields may hold
// commas, doubled quotes and line breaks; records end at LF, CRLF or CR; a
// UTF-8 byte-order mark before the header is skipped; blank lines are skipped.
// The first record is the header row naming the columns (any order, case and
// '-' / ' ' / '_' insensitive; unknown columns are ignored).

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <utility>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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

// Bytes that end a run of field data: in an unquoted field ',' and line breaks
// ('"' is data there), in a quoted field '"' and line breaks (counted).
struct ByteClass {
  std::array<bool, 256> unquoted{};
  std::array<bool, 256> quoted{};
  constexpr ByteClass() {
    unquoted[static_cast<unsigned char>(',')] = true;
    unquoted[static_cast<unsigned char>('\n')] = true;
    unquoted[static_cast<unsigned char>('\r')] = true;
    quoted[static_cast<unsigned char>('"')] = true;
    quoted[static_cast<unsigned char>('\n')] = true;
    quoted[static_cast<unsigned char>('\r')] = true;
  }
};
constexpr ByteClass kByteClass;

// Trim, inline, with a fast answer for the usual field without surrounding space.
[[gnu::always_inline]] inline std::string_view TrimSpace(std::string_view s) {
  // Every space character is <= ' '.
  auto big = [](char c) { return static_cast<unsigned char>(c) > ' '; };
  if (s.empty() || (big(s.front()) && big(s.back()))) return s;
  return Trim(s);
}

// Finds the first byte in [p, end) that ends a run of field data (see
// ByteClass), or end, and copies the run to `dst`, which has room for `room`
// bytes: what does not fit is not copied (the record is then longer than
// kMaxRecordBytes, see CsvParser::Count). May write up to 15 bytes after the
// run, within the room.
template <bool kQuoted>
[[gnu::always_inline]] inline const char* ScanCopy(const char* p, const char* end, char* dst,
                                                   size_t room) {
  const char* const from = p;
#if defined(__SSE2__)
  const __m128i a = _mm_set1_epi8(kQuoted ? '"' : ',');
  const __m128i lf = _mm_set1_epi8('\n');
  const __m128i cr = _mm_set1_epi8('\r');
  while (end - p >= 16 && static_cast<size_t>(p - from) + 16 <= room) {
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + (p - from)), b);
    const __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(b, a), _mm_cmpeq_epi8(b, lf)),
                                     _mm_cmpeq_epi8(b, cr));
    const int mask = _mm_movemask_epi8(hit);
    if (mask != 0) return p + __builtin_ctz(static_cast<unsigned>(mask));
    p += 16;
  }
#endif
  const auto& stop = kQuoted ? kByteClass.quoted : kByteClass.unquoted;
  for (; p < end && !stop[static_cast<unsigned char>(*p)]; ++p) {
    if (static_cast<size_t>(p - from) < room) dst[p - from] = *p;
  }
  return p;
}

// The first `c` in [p, limit), or limit; `end` (>= limit) bounds the memory
// that may be read. Fields are short: 16 bytes at a time inline, without
// memchr's call and set-up (the bytes past `limit` read are ignored).
[[gnu::always_inline]] inline const char* FindByte(const char* p, const char* limit,
                                                   const char* end, char c) {
#if defined(__SSE2__)
  const __m128i needle = _mm_set1_epi8(c);
  while (p < limit && end - p >= 16) {
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const int mask = _mm_movemask_epi8(_mm_cmpeq_epi8(b, needle));
    if (mask != 0) {
      const char* hit = p + __builtin_ctz(static_cast<unsigned>(mask));
      return hit < limit ? hit : limit;
    }
    p += 16;
  }
#endif
  if (p >= limit) return limit;
  const void* hit = memchr(p, c, static_cast<size_t>(limit - p));
  return hit != nullptr ? static_cast<const char*>(hit) : limit;
}

// Where a column's text goes in a Line: a Line member or a Party member of
// Line::customer; neither for the numbers (quantity, invoice line).
struct TextMember {
  std::string Line::*line = nullptr;
  std::string Party::*party = nullptr;
};

TextMember MemberOf(Col c) {
  switch (c) {
    case Col::kActivity:
      return {&Line::activity_code, nullptr};
    case Col::kSku:
      return {&Line::sku, nullptr};
    case Col::kUnitOfMeasure:
      return {&Line::unit_of_measure, nullptr};
    case Col::kUnitPrice:
      return {&Line::unit_price, nullptr};
    case Col::kCurrency:
      return {&Line::currency, nullptr};
    case Col::kDate:
      return {&Line::date, nullptr};
    case Col::kInvoiceNumber:
      return {&Line::invoice_number, nullptr};
    case Col::kOriginalInvoice:
      return {&Line::original_invoice_number, nullptr};
    case Col::kDealRegistrationId:
      return {&Line::deal_registration_id, nullptr};
    case Col::kSpaId:
      return {&Line::spa_id, nullptr};
    case Col::kCustomerName:
      return {nullptr, &Party::name};
    case Col::kCustomerId:
      return {nullptr, &Party::customer_id};
    case Col::kCustomerEmailDomain:
      return {nullptr, &Party::email_domain};
    case Col::kCustomerAddress:
      return {nullptr, &Party::address_line};
    case Col::kCustomerCity:
      return {nullptr, &Party::city};
    case Col::kCustomerRegion:
      return {nullptr, &Party::region};
    case Col::kCustomerPostalCode:
      return {nullptr, &Party::postal_code};
    case Col::kCustomerCountry:
      return {nullptr, &Party::country};
    case Col::kQuantity:
    case Col::kInvoiceLine:
    case Col::kCount:
      break;
  }
  return {};
}

// The record being read is kept as its fields' decoded bytes, back to back in
// one buffer of kMaxRecordBytes (a record's decoded bytes are never more than
// its bytes), and the end offset of each completed field: no allocation per
// field or record. Runs of plain field data are copied in one go; only
// separators, quotes and line breaks go through the state machine one byte at
// a time.
class CsvParser final : public Parser {
 public:
  CsvParser() : buf_(new char[kBufBytes]) {}

  void Push(std::string_view bytes, std::vector<Item>& out) override {
    VectorSink sink(out);
    PushTo(bytes, sink);
  }
  void Finish(std::vector<Item>& out) override {
    VectorSink sink(out);
    FinishTo(sink);
  }

  void PushTo(std::string_view bytes, ItemSink& out) override {
    const char* p = bytes.data();
    const char* const end = p + bytes.size();
    while (p < end && !failed_) {
      if (AtRecordStart()) {
        if (const char* next = WholeRecord(p, end, out)) {
          p = next;
          continue;
        }
      }
      p = Feed(p, end, out);
    }
  }

  void FinishTo(ItemSink& out) override {
    if (failed_) return;
    if (state_ == State::kQuoted) {
      Fail(out, record_line_, "", "unterminated quoted field at end of input");
      return;
    }
    if (record_has_content_ || !ends_.empty()) EndRecord(out);
  }

  bool failed() const override { return failed_; }

 private:
  enum class State { kFieldStart, kUnquoted, kQuoted, kQuoteInQuoted };

  // Counts `n` more bytes of the current record; false (after failing) when the
  // record grows past kMaxRecordBytes.
  bool Count(size_t n, ItemSink& out) {
    record_bytes_ += n;
    if (record_bytes_ > kMaxRecordBytes) [[unlikely]] {
      return TooLong(out);
    }
    return true;
  }
  [[gnu::noinline]] bool TooLong(ItemSink& out) {
    Fail(out, record_line_, "", "record longer than 65536 bytes (unbalanced quote?)");
    return false;
  }

  // A record's decoded bytes are never more than its bytes, so the buffer holds
  // any record that Count accepts; ScanCopy may write 15 bytes past a run.
  static constexpr size_t kBufBytes = kMaxRecordBytes + 16;

  // Appends to the current field; within the buffer after a successful Count.
  void Append(char c) { buf_[len_++] = c; }

  bool FieldEmpty() const { return len_ == (ends_.empty() ? 0 : ends_.back()); }

  // Consumes bytes from `p` (at least one); returns where it stopped.
  const char* Feed(const char* p, const char* const end, ItemSink& out) {
    char c = *p;
    if (skip_lf_) {
      skip_lf_ = false;
      if (c == '\n') return p + 1;  // the LF of a CRLF
    }
    if (!record_has_content_ && ends_.empty() && state_ == State::kFieldStart && FieldEmpty()) {
      record_line_ = physical_line_;
    }
    switch (state_) {
      case State::kFieldStart:
        if (c == '"') {
          if (!Count(1, out)) return end;
          state_ = State::kQuoted;
          record_has_content_ = true;
          return p + 1;
        }
        state_ = State::kUnquoted;
        [[fallthrough]];
      case State::kUnquoted:
        // Unquoted fields one after another, until a quoted one, a line break
        // or the end of the bytes.
        for (;;) {
          const char* q = ScanCopy<false>(p, end, buf_.get() + len_, kBufBytes - len_);
          if (q != p) {
            if (!Count(static_cast<size_t>(q - p), out)) return end;
            len_ += static_cast<size_t>(q - p);  // copied by ScanCopy
            record_has_content_ = true;
          }
          if (q == end) return end;
          if (!Count(1, out)) return end;
          if (*q != ',') {
            EndLine(*q, out);
            return q + 1;
          }
          EndField();
          p = q + 1;
          // What Feed would do with the next byte in kFieldStart (the record has
          // a field now, so its line is set).
          if (p == end || *p == '"') return p;
          state_ = State::kUnquoted;
        }
      case State::kQuoted: {
        const char* q = ScanCopy<true>(p, end, buf_.get() + len_, kBufBytes - len_);
        if (q != p) {
          if (!Count(static_cast<size_t>(q - p), out)) return end;
          len_ += static_cast<size_t>(q - p);  // copied by ScanCopy
          prev_cr_ = false;
        }
        if (q == end) return end;
        if (!Count(1, out)) return end;
        c = *q;
        if (c == '"') {
          state_ = State::kQuoteInQuoted;
        } else {
          // A line break inside quotes is data; CRLF counts as one line.
          if (c == '\r' || !prev_cr_) ++physical_line_;
          Append(c);
        }
        prev_cr_ = c == '\r';
        return q + 1;
      }
      case State::kQuoteInQuoted:
        if (!Count(1, out)) return end;
        if (c == '"') {
          Append('"');
          state_ = State::kQuoted;
        } else if (c == ',') {
          EndField();
        } else if (c == '\n' || c == '\r') {
          EndLine(c, out);
        } else {
          // Text after a closing quote: keep it, but the record is malformed.
          malformed_ = "text after a closing quote";
          Append(c);
          state_ = State::kUnquoted;
        }
        return p + 1;
    }
    return p + 1;
  }

  void EndField() {
    ends_.push_back(static_cast<uint32_t>(len_));
    state_ = State::kFieldStart;
  }

  void EndLine(char c, ItemSink& out) {
    if (c == '\r') skip_lf_ = true;
    ++physical_line_;
    if (!record_has_content_ && ends_.empty()) {  // blank line
      ResetRecord();
      return;
    }
    EndRecord(out);
  }

  void ResetRecord() {
    ends_.clear();
    len_ = 0;
    state_ = State::kFieldStart;
    record_has_content_ = false;
    record_bytes_ = 0;
    prev_cr_ = false;
    malformed_ = nullptr;
  }

  void EndRecord(ItemSink& out) {
    ends_.push_back(static_cast<uint32_t>(len_));
    fields_.clear();
    size_t from = 0;
    for (uint32_t e : ends_) {
      fields_.emplace_back(buf_.get() + from, e - from);
      from = e;
    }
    Dispatch(out);
    ResetRecord();
  }

  void Dispatch(ItemSink& out) {
    if (!have_header_) {
      Header(out);
    } else {
      Record(out);
    }
  }

  // Nothing of a record read yet: the next byte starts one.
  bool AtRecordStart() const {
    return state_ == State::kFieldStart && !skip_lf_ && !record_has_content_ && ends_.empty() &&
           len_ == 0;
  }

  // The fast path for a record that lies whole in [p, end) and is simple: it
  // ends at its first LF (or CRLF) and has no other CR; each field is either
  // unquoted (a '"' inside is data) or quoted without doubled quotes and
  // followed by ',' or the end. Its fields are views into the input (no copy,
  // no state machine); it is then read exactly as Feed would read it. Returns
  // where the next record starts, or nullptr (nothing consumed): Feed reads it.
  const char* WholeRecord(const char* p, const char* end, ItemSink& out) {
    const char* nl = static_cast<const char*>(memchr(p, '\n', static_cast<size_t>(end - p)));
    if (nl == nullptr) return nullptr;
    const char* rec_end = nl;
    if (rec_end > p && rec_end[-1] == '\r') --rec_end;  // CRLF
    // Blank lines, records over the limit (Feed fails them) and CRs go to Feed.
    if (rec_end == p || static_cast<size_t>(nl - p) + 1 > kMaxRecordBytes) return nullptr;
    if (memchr(p, '\r', static_cast<size_t>(rec_end - p)) != nullptr) return nullptr;
    fields_.clear();
    const char* q = p;
    for (;;) {
      const char* field_end;
      if (*q == '"') {
        const char* close = FindByte(q + 1, rec_end, end, '"');
        if (close == rec_end) return nullptr;  // a line break inside quotes, or unterminated
        if (close + 1 != rec_end && close[1] != ',') return nullptr;  // "" or text after it
        fields_.emplace_back(q + 1, static_cast<size_t>(close - (q + 1)));
        field_end = close + 1;
      } else {
        field_end = FindByte(q, rec_end, end, ',');
        fields_.emplace_back(q, static_cast<size_t>(field_end - q));
      }
      if (field_end == rec_end) break;
      q = field_end + 1;  // after the ','
      if (q == rec_end) {
        fields_.emplace_back(q, 0);  // a trailing empty field
        break;
      }
    }
    record_line_ = physical_line_;
    ++physical_line_;
    Dispatch(out);
    fields_.clear();
    return nl + 1;
  }

  std::string_view Field(size_t i) const { return fields_[i]; }

  void Header(ItemSink& out) {
    have_header_ = true;
    columns_ = fields_.size();
    index_.fill(-1);
    for (size_t i = 0; i < fields_.size(); ++i) {
      std::string_view raw = Field(i);
      if (i == 0 && raw.substr(0, 3) == "\xEF\xBB\xBF") raw.remove_prefix(3);
      std::string name = CanonicalHeader(raw);
      for (const ColName& n : kColNames) {
        if (name != n.name) continue;
        int& slot = index_[static_cast<size_t>(n.col)];
        if (slot >= 0) {
          Fail(out, record_line_, name,
               "column " + Quote(name) + " appears twice in the header row");
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
        out.Add(std::move(issue));
        failed_ = true;
        return;
      }
    }
    // The text columns present, in field order.
    texts_.clear();
    for (size_t c = 0; c < index_.size(); ++c) {
      const Col col = static_cast<Col>(c);
      const TextMember m = MemberOf(col);
      if (index_[c] < 0 || (m.line == nullptr && m.party == nullptr)) continue;
      texts_.push_back(
          {static_cast<size_t>(index_[c]), m, col == Col::kActivity || col == Col::kUnitOfMeasure});
    }
    std::sort(texts_.begin(), texts_.end(),
              [](const Text& a, const Text& b) { return a.field < b.field; });
  }

  std::string_view Get(Col c) const {
    int i = index_[static_cast<size_t>(c)];
    if (i < 0 || static_cast<size_t>(i) >= fields_.size()) return {};
    return TrimSpace(Field(static_cast<size_t>(i)));
  }

  void Record(ItemSink& out) {
    auto issue = [&](std::string field, std::string message) {
      Issue i;
      i.line_number = record_line_;
      i.field = std::move(field);
      i.code = IssueCode::kMalformed;
      i.message = std::move(message);
      out.Add(std::move(i));
    };
    if (malformed_ != nullptr) return issue("", malformed_);
    if (fields_.size() != columns_) {
      return issue("", "expected " + std::to_string(columns_) + " fields, got " +
                           std::to_string(fields_.size()));
    }
    // The fields that can make the record an issue, in the order they are checked.
    std::optional<int64_t> quantity;
    if (std::string_view q = Get(Col::kQuantity); !q.empty()) {
      quantity = ParseInt(q);
      if (!quantity) return issue("quantity", Quote(q) + " is not a whole number");
    }
    if (std::string_view d = Get(Col::kDate); !d.empty() && !IsIsoDate(d)) {
      return issue("date", Quote(d) + " is not a YYYY-MM-DD date");
    }
    int64_t invoice_line = 0;
    if (std::string_view n = Get(Col::kInvoiceLine); !n.empty()) {
      auto v = ParseInt(n);
      if (!v || *v < 1 || *v > 1'000'000'000) {
        return issue("invoice_line", Quote(n) + " is not a line number (1..1e9)");
      }
      invoice_line = *v;
    }
    // Built where it is stored (the service's batch slot, reused: its strings
    // keep their memory): no Line temporary to move. Text fields are trimmed; a
    // valid date is kept as written.
    Line& l = out.AddLine();
    l.line_number = record_line_;
    if (quantity) {
      l.has_quantity = true;
      l.quantity = *quantity;
    }
    l.invoice_line = invoice_line;
    for (const Text& t : texts_) {
      std::string_view v = TrimSpace(Field(t.field));
      if (v.empty()) continue;
      std::string& to = t.member.line != nullptr ? l.*t.member.line : l.customer.*t.member.party;
      if (v.size() <= to.capacity()) {
        // Within the string's own buffer. clear + append: libstdc++'s append
        // is a plain copy; assign goes through _M_replace's aliasing checks.
        to.clear();
        to.append(v.data(), v.size());
      } else {
        to = std::string(v.data(), v.size());  // allocated at its size, then moved
      }
      if (t.upper) {
        for (char& ch : to) {
          if (ch >= 'a' && ch <= 'z') ch = static_cast<char>(ch - 'a' + 'A');
        }
      }
    }
  }

  void Fail(ItemSink& out, int64_t line, std::string field, std::string message) {
    Issue i;
    i.line_number = line;
    i.field = std::move(field);
    i.code = IssueCode::kMalformed;
    i.message = std::move(message);
    out.Add(std::move(i));
    failed_ = true;
  }

  struct Text {
    size_t field;
    TextMember member;
    bool upper;  // activity and unit of measure are upper-cased
  };

  State state_ = State::kFieldStart;
  std::unique_ptr<char[]> buf_;  // the current record's field bytes, decoded, back to back
  size_t len_ = 0;               // bytes in buf_
  std::vector<uint32_t> ends_;   // end offset in buf_ of each completed field
  // The fields of the record being dispatched (Header, Record): views into
  // buf_ (EndRecord) or into the input (WholeRecord).
  std::vector<std::string_view> fields_;
  bool record_has_content_ = false;
  bool skip_lf_ = false;
  bool prev_cr_ = false;
  size_t record_bytes_ = 0;
  const char* malformed_ = nullptr;
  int64_t physical_line_ = 1;  // line the next character is on
  int64_t record_line_ = 1;    // line the current record started on
  bool have_header_ = false;
  size_t columns_ = 0;
  std::array<int, static_cast<size_t>(Col::kCount)> index_{};
  std::vector<Text> texts_;  // the text columns of the header, by field
  bool failed_ = false;
};

}  // namespace

std::unique_ptr<Parser> NewCsvParser() { return std::make_unique<CsvParser>(); }

}  // namespace channelops::pos::parse
