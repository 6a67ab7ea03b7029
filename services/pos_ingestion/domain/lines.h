#pragma once

// Validation of one report line against the catalogue and the report header:
// the same function for typed lines, CSV and X12 (they all arrive as
// parse::Line). Pure and thread-safe.
//
// Checks, in this order; the first that fails is the line's reject:
//   activity      known code (UNKNOWN_ACTIVITY), allowed in the report kind
//                 (ACTIVITY_NOT_ALLOWED); ignored codes (852 QP, 867 PA, ...) are
//                 counted as ignored, nothing else is checked
//   sku           given (MISSING_FIELD), in the catalogue (UNKNOWN_SKU)
//   unit          supported code (UNKNOWN_UNIT_OF_MEASURE) and the product's
//                 (WRONG_UNIT_OF_MEASURE); empty means the product's
//   quantity      given (MISSING_FIELD); sales, reported sold/received: > 0;
//                 returns: non-zero, the magnitude is used; adjustments: non-zero,
//                 signed; on hand: >= 0; |quantity| <= 1e9 (INVALID_QUANTITY)
//   currency      line currency, else the header's, else the product's; must be
//                 the product's (CURRENCY_MISMATCH); the price is an exact decimal
//                 (MALFORMED), not negative (INVALID_PRICE)
//   date          given (MISSING_FIELD), YYYY-MM-DD (MALFORMED), not after today
//                 (DATE_IN_FUTURE), inside the period (DATE_OUTSIDE_PERIOD)
//   invoice       sales and returns need one (MISSING_INVOICE); ids are printable
//                 ASCII <= 128 characters (MALFORMED)
//   end customer  sales need a name with a letter or digit and an ISO country
//                 (MISSING_END_CUSTOMER), so that the customer key is the one deal
//                 registration computes
//   original inv. customer returns need the original invoice (MISSING_ORIGINAL_INVOICE)

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "channelops/pos/v1/pos.pb.h"
#include "pos_ingestion/parsers/line.h"

namespace channelops::pos::domain {

inline constexpr int64_t kMaxLineQuantity = 1'000'000'000;

struct LineContext {
  const v1::ReportHeader* header = nullptr;  // shape-validated
  absl::CivilDay today;                      // UTC day of the command
  absl::CivilDay period_start;               // header.period, parsed
  absl::CivilDay period_end;                 // exclusive
};

// The context of a shape-validated report header's lines on the UTC day of `now`.
LineContext LineContextOf(const v1::ReportHeader& header, absl::Time now);

// The catalogue entry of a SKU, or nullptr.
using ProductLookup = std::function<const v1::Product*(const std::string& sku)>;

struct LineVerdict {
  enum class Kind { kAccepted, kRejected, kIgnored };
  Kind kind = Kind::kRejected;
  v1::PosLine line;         // kAccepted: the line as recorded (keys, delta, amounts filled)
  v1::RejectedLine reject;  // kRejected
  // The sub-messages of the line ValidateLineInto validated before, put back
  // and refilled (every field set) when the next line has them. PosLine::Clear() deletes a
  // proto3 message's sub-messages (off an arena): five allocations and frees
  // per line, ~12% of parse + validate (bench_pos).
  struct Spares {
    Spares() = default;
    // A copied verdict starts without spares (they are memory, not content).
    Spares(const Spares&) {}
    Spares& operator=(const Spares&) { return *this; }
    Spares(Spares&&) = default;
    Spares& operator=(Spares&&) = default;

    std::unique_ptr<common::v1::Money> unit_price;
    std::unique_ptr<common::v1::Money> extended_amount;
    std::unique_ptr<google::protobuf::Timestamp> movement_at;
    std::unique_ptr<common::v1::Party> end_customer;
  };
  Spares spares;
};

LineVerdict ValidateLine(const parse::Line& line, const LineContext& ctx,
                         const ProductLookup& products);
// The same verdict, into `v`, reusing the memory of its earlier line and
// reject: an accepted line is refilled over the earlier one (its strings keep
// their buffers), its sub-messages come from the spares.
void ValidateLineInto(const parse::Line& line, const LineContext& ctx,
                      const ProductLookup& products, LineVerdict& v);

// A parser issue as a reject (MALFORMED / MISSING_FIELD).
v1::RejectedLine RejectOf(const parse::Issue& issue);

// A typed line (REPORT_FORMAT_LINES) in the parsers' form, numbered `line_number`.
parse::Line FromTyped(const v1::ReportLine& line, int64_t line_number);

// The identity key of a line for duplicate detection: reporter, invoice and
// invoice line ("" for lines without an invoice: they are never duplicates).
// Stored as the rm_line_index key; big-endian line so keys sort by line.
std::string LineIdentity(const v1::PosLine& line);
std::string LineIdentityOf(absl::string_view partner_id, absl::string_view invoice_number,
                           int32_t invoice_line);

// The effect of an accepted line on the partner's on-hand quantity.
int64_t InventoryDelta(v1::LineActivity activity, int64_t quantity);

}  // namespace channelops::pos::domain
