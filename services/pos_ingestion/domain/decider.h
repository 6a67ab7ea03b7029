#pragma once

// The POS ingestion decider: pure Decide / Evolve functions over the
// aggregates of the context (products and their prices, price-protection
// programmes, shipments, reports). No I/O, no clock reads, no randomness: time
// and actor come in the Context; new ids and everything read from storage
// (catalogue entries, line owners, partner holdings) come in the command.
// Every function is pure and thread-safe.
//
// Errors returned by Decide (nothing is recorded on error):
//   INVALID_ARGUMENT     well formed but contradicting the catalogue (unknown SKU
//                        or currency in a unary request), with field violations
//   NOT_FOUND            unknown product / corrected report
//   FAILED_PRECONDITION  not allowed now (price change out of effective order,
//                        immutable product field changed, correction of a report
//                        that is not complete, shipment id reused)
//   ALREADY_EXISTS       a report id re-used with a different header
//   OUT_OF_RANGE         money overflow

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "channelops/core/wire.h"
#include "channelops/pos/v1/events.pb.h"
#include "channelops/pos/v1/pos.pb.h"
#include "channelops/pos/v1/read_models.pb.h"
#include "google/protobuf/message.h"
#include "pos_ingestion/domain/lines.h"
#include "pos_ingestion/parsers/line.h"

namespace channelops::pos::domain {

struct Context {
  absl::Time now;     // the instant the command is decided at
  std::string actor;  // authenticated principal
};

using Event = std::variant<v1::ProductUpserted, v1::PriceChangeScheduled, v1::PriceChanged,
                           v1::PriceProtectionTermsSet, v1::ShipmentRecorded, v1::ShipmentReceived,
                           v1::ReportReceived, v1::PosLinesAccepted, v1::ReportLinesProcessed,
                           v1::ReportLineReversed, v1::ReportSuperseded, v1::ReportCompleted,
                           v1::PriceProtectionCredited>;

// The event as a protobuf message (to pack into an envelope).
const google::protobuf::Message& AsMessage(const Event& e);

// Stream ids.
std::string SkuStream(const std::string& sku);
std::string ProgramStream(const std::string& program_id);
std::string PartnerStream(const std::string& partner_id);
std::string ReportStream(const std::string& report_id);

// ---------------------------------------------------------------------------
// Products and prices (stream sku-<sku>). State: v1::Product; sku empty: none.
// ---------------------------------------------------------------------------
struct UpsertProduct {
  v1::Product product;  // shape-validated
};
// A new SKU: ProductUpserted(created). An existing one: product line and
// description may change; unit of measure, currency and list price may not
// (FAILED_PRECONDITION; prices change through ChangePrice). No change at all:
// no events.
absl::StatusOr<std::vector<Event>> Decide(const v1::Product& state, const UpsertProduct& c,
                                          const Context& ctx);

struct ChangePrice {
  std::string change_id;        // UUIDv7 for the change
  common::v1::Money new_price;  // shape-validated
  absl::Time effective_at;
};
// What to do with a price change:
//   effective_at > now: `events` = PriceChangeScheduled, apply_now = false;
//   else: apply_now = true and no events: the caller gathers the partners'
//   holdings at effective_at and decides ApplyPriceChange.
// NOT_FOUND for an unknown product; INVALID_ARGUMENT (new_price.currency_code)
// for another currency; FAILED_PRECONDITION unless effective_at is after every
// earlier change of the SKU (changes apply in effective order).
struct PricePlan {
  v1::PriceChange change;
  bool apply_now = false;
  std::vector<Event> events;
};
absl::StatusOr<PricePlan> PlanPriceChange(const v1::Product& state, const ChangePrice& c,
                                          const Context& ctx);

// One partner's position in a SKU at the change's effective instant.
struct Holding {
  std::string partner_id;
  int64_t on_hand = 0;             // ledger at effective_at
  int64_t received_in_window = 0;  // received in (effective_at - eligibility_days, effective_at]
  int64_t in_transit = 0;          // shipped, not received, at effective_at
  std::optional<v1::PriceProtectionTerms> terms;  // the partner's programme, if any
};
struct ApplyPriceChange {
  v1::PriceChange change;  // from PlanPriceChange, or SCHEDULED (sweeper)
  bool was_scheduled = false;
  std::vector<Holding> holdings;  // partners that ever held the SKU, by partner id
};
// PriceChanged (old price = the product's list price) and, for a drop, one
// PriceProtectionCredited per partner whose credit is non-zero (see
// ComputeCredit). FAILED_PRECONDITION if the product moved on (another change
// applied in between). OUT_OF_RANGE on money overflow.
absl::StatusOr<std::vector<Event>> Decide(const v1::Product& state, const ApplyPriceChange& c,
                                          const Context& ctx);

// A partner's credit for a drop from old_price to new_price at effective_at:
//   eligible  = stock + transit, where stock = on_hand (>= 0), limited to
//               received_in_window when terms.eligibility_days > 0 (FIFO: what is
//               left is what was received last), and transit = in_transit (>= 0)
//               when terms.include_in_transit;
//   amount    = (old - new) x eligible x supported_bps / 10000, exact to the micro
//               (core::Money::ApplyBasisPoints: half away from zero).
// nullopt when there is nothing to credit: not a drop, no terms, nothing
// eligible, a zero amount, or `applied_at` past the claim window.
absl::StatusOr<std::optional<v1::PriceProtectionCredit>> ComputeCredit(
    const v1::PriceChange& change, const Holding& holding, absl::Time applied_at);

v1::Product Evolve(v1::Product state, const Event& e);

// ---------------------------------------------------------------------------
// Price-protection programmes (stream program-<id>). State: the terms in force.
// ---------------------------------------------------------------------------
struct SetTerms {
  v1::PriceProtectionTerms terms;  // shape-validated
};
absl::StatusOr<std::vector<Event>> Decide(const v1::PriceProtectionTerms& state, const SetTerms& c,
                                          const Context& ctx);
v1::PriceProtectionTerms Evolve(v1::PriceProtectionTerms state, const Event& e);

// ---------------------------------------------------------------------------
// Shipments (stream partner-<partner_id>).
// ---------------------------------------------------------------------------
struct RecordShipments {
  std::vector<v1::Shipment> shipments;                      // shape-validated
  absl::flat_hash_map<std::string, v1::Product> products;   // catalogue entries found, by SKU
  absl::flat_hash_map<std::string, v1::Shipment> existing;  // already recorded, by shipment id
};
struct ShipmentsDecision {
  std::vector<Event> events;  // ShipmentRecorded / ShipmentReceived, in request order
  int32_t recorded = 0;
  int32_t already_recorded = 0;
  int32_t received_updates = 0;
};
// INVALID_ARGUMENT naming shipments[i].sku (unknown) or
// shipments[i].unit_price.currency_code (not the product's);
// FAILED_PRECONDITION for a shipment id already recorded with other content.
// All or nothing.
absl::StatusOr<ShipmentsDecision> Decide(const RecordShipments& c, const Context& ctx);
v1::Shipment Evolve(v1::Shipment state, const Event& e);

// ---------------------------------------------------------------------------
// Reports (stream report-<id>). State: v1::Report; report_id empty: none.
// ---------------------------------------------------------------------------
enum class OpenKind {
  kNew,     // a new report (normal mode: ReportReceived; all_or_nothing: nothing yet)
  kResume,  // a report whose earlier stream broke: lines up to last_line_number are skipped
  kReplay,  // a finished report: answer with it, write nothing
};
struct OpenReport {
  v1::ReportHeader header;              // shape-validated
  v1::Report existing;                  // the report under this id (may be empty)
  std::optional<v1::Report> corrected;  // header.corrects_report_id's report, if asked and found
  // all_or_nothing, at the end of the stream: the report is about to be
  // recorded (ReportReceived), its staged lines with it.
  bool publishing = false;
};
struct OpenDecision {
  OpenKind kind = OpenKind::kNew;
  std::vector<Event> events;
};
absl::StatusOr<OpenDecision> Decide(const OpenReport& c, const Context& ctx);

// A parsed item, validated ahead of the store's writer where it can be.
// IngestReport validates each line on the stream's thread (Prepare), against
// the catalogue as the store's readers saw it then and the day then. The
// writer keeps that verdict when the line's catalogue entry it reads is the
// one the verdict read (same presence and version) and its day is the same;
// otherwise it validates the line again (every write of a catalogue entry goes
// through Evolve, which moves its version). Either way a line's verdict is
// ValidateLine's against the writer's catalogue and day, and the writer does
// not spend its time on what another thread already did.
struct PreparedItem {
  PreparedItem() = default;
  // Not prepared: the writer validates it (and computes its identity).
  PreparedItem(parse::Item i) : item(std::move(i)) {}  // NOLINT(runtime/explicit)

  parse::Item item;
  bool prepared = false;  // a parse::Line whose fields below are set
  LineVerdict verdict;
  bool read_product = false;     // the verdict looked the line's SKU up ...
  bool product_found = false;    // ... and found it ...
  uint64_t product_version = 0;  // ... at this version
  absl::CivilDay today;          // the day it was validated on
  std::string identity;          // the identity the line has once accepted ("" if none)
  std::string bytes;             // an accepted verdict's line, serialized
};

// Validates `p.item` if it is a parse::Line of the report `ctx.header` (other
// items stay unprepared). Every other field of `p` is set: an item may be
// reused for another line, keeping its memory. Pure and thread-safe.
void Prepare(PreparedItem& p, const LineContext& ctx, const ProductLookup& products);

// A batch's items. An item (a parsed line and its verdict, several hundred
// bytes) is prepared in place in its batch's vector; batches move whole.
using PreparedItems = std::vector<PreparedItem>;

// The identity a line will have once accepted (LineIdentity of the accepted
// line): "" without a usable invoice number.
std::string RawLineIdentity(const std::string& partner_id, const parse::Line& l);

// One batch of parsed items of a report.
struct IngestBatch {
  const v1::ReportHeader* header = nullptr;
  PreparedItems items;                                     // in line order
  absl::flat_hash_map<std::string, v1::Product> products;  // catalogue entries found, by SKU
  absl::flat_hash_map<std::string, v1::LineOwner>
      owners;  // identities already held, by LineIdentity
};
// A PosLinesAccepted event holds at most this many lines and about this many
// bytes of them. One event is one Kafka record, and a record must stay under
// the default 1 MB limit also as JSON (--kafka_format=json): JSON escapes a
// character in at most 6 bytes (\u003c) and adds each field's name, so 128 KiB
// of lines render as at most ~6 x 128 KiB + 256 lines' field names
// (ChunksRenderUnderTheKafkaRecordLimitAsJson checks a worst case).
inline constexpr int kMaxLinesPerChunk = 256;
inline constexpr size_t kMaxLineBytesPerChunk = 128 << 10;

struct BatchDecision {
  // The accepted lines, in line order, in chunks: each chunk is one
  // PosLinesAccepted event of at most kMaxLinesPerChunk lines and about
  // kMaxLineBytesPerChunk bytes, kept serialized. A line is serialized once,
  // where it was validated (PreparedItem::bytes), and its bytes are appended
  // to its chunk's; the chunk points at its lines (held by the batch's items,
  // or by the decision for lines given to Accept), for the read models.
  struct EncodedChunk {
    std::string payload;  // a serialized v1::PosLinesAccepted
    std::vector<const v1::PosLine*> lines;
  };
  size_t accepted = 0;
  std::vector<EncodedChunk> encoded;
  std::vector<v1::RejectedLine> rejects;
  std::vector<v1::DuplicateLine> duplicates;
  int64_t ignored = 0;
  // The batch's ReportLinesProcessed, recorded after the chunks.
  v1::ReportLinesProcessed processed;

  // The identity of each accepted line, in order ("" if it has none).
  std::vector<std::string> identities;

  size_t chunks() const { return encoded.size(); }
  // Chunk i, decoded from what is recorded (tests).
  v1::PosLinesAccepted Chunk(size_t i) const {
    v1::PosLinesAccepted c;
    if (!c.ParseFromString(encoded[i].payload)) c.Clear();
    return c;
  }
  // Appends an accepted line; `identity` is LineIdentity(line), computed here
  // when not given. The decision keeps the line.
  void Accept(v1::PosLine line, std::string identity = {}) {
    if (identity.empty()) identity = LineIdentity(line);
    const v1::PosLine& kept = owned_.emplace_back(std::move(line));
    AcceptSerialized(&kept, kept.SerializeAsString(), std::move(identity));
  }
  // Appends an accepted line that outlives the decision, and its bytes
  // (line->SerializeAsString()).
  void AcceptSerialized(const v1::PosLine* line, absl::string_view bytes, std::string identity) {
    if (encoded.empty() || encoded.back().lines.size() >= kMaxLinesPerChunk ||
        encoded.back().payload.size() + bytes.size() > kMaxLineBytesPerChunk) {
      encoded.emplace_back();
      encoded.back().lines.reserve(kMaxLinesPerChunk);
    }
    EncodedChunk& c = encoded.back();
    core::AppendLengthDelimited(&c.payload, 1, bytes);  // PosLinesAccepted.lines
    c.lines.push_back(line);
    identities.push_back(std::move(identity));
    ++accepted;
  }

 private:
  std::deque<v1::PosLine> owned_;  // lines given to Accept (stable addresses)
};
// Validates every item (lines.h; a prepared verdict is kept when still valid,
// see PreparedItem), then drops duplicates: a line whose identity is held by
// another report line (or by an earlier line of this batch) is a duplicate,
// counted once, except that identities held by the report being corrected are
// taken over by the correction. Never fails: bad lines are rejects. The
// verdicts are left in c.items (a stale one replaced), and the decision's
// chunks point at their lines: c must outlive the decision.
BatchDecision Decide(IngestBatch& c, const Context& ctx);

// The end of a report: ReportCompleted for it and, for a correction, ReportSuperseded
// for the report it corrects (lines_reversed of its lines were reversed).
struct CompleteReport {
  v1::Report report;                    // RECEIVING
  std::optional<v1::Report> corrected;  // the corrected report, if any
  int64_t lines_reversed = 0;
};
struct CompleteDecision {
  v1::ReportCompleted completed;
  std::optional<v1::ReportSuperseded> superseded;
};
CompleteDecision Decide(const CompleteReport& c, const Context& ctx);

// Applies an event to a report. Besides its own events, a report also sees
// the ReportReceived of a correction of it (correction_pending_by) - see
// Report.superseded_by.
v1::Report Evolve(v1::Report state, const Event& e);

}  // namespace channelops::pos::domain
