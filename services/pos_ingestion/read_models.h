#pragma once

// The read models of the POS ingestion service (rm_* column families of its
// event store): names, key encodings, typed reads through the writer's Tx and
// of committed data, and the writes derived from each kind of event. Private
// to services/pos_ingestion (the service and the report reactor share it).
//
// Keys are built from ids that are printable ASCII (validated) joined by '\0',
// and big-endian numbers, so that prefix scans and numeric order work:
//
//   rm_products        sku                                  -> Product
//   rm_price_changes   sku \0 BE instant                    -> PriceChange (history)
//   rm_pending_prices  BE instant sku \0 change_id           -> "" (scheduled changes)
//   rm_terms           program_id                           -> PriceProtectionTerms
//   rm_enrolment       partner_id | "\x01default"           -> program_id
//   rm_shipments       shipment_id                          -> Shipment
//   rm_reports         report_id                            -> Report
//   rm_report_chunks   report_id \0 BE first line           -> ChunkRecord (where a
//                                                              PosLinesAccepted event is)
//   rm_report_lines    (empty: per-line records, before rm_report_chunks replaced them)
//   rm_rejects         report_id \0 BE line                 -> RejectedLine
//   rm_line_index      partner \0 invoice \0 BE invoice line -> LineOwner
//   rm_ledger          partner \0 sku \0 BE instant BE seq  -> LedgerEntry (on-hand movements)
//   rm_transit         partner \0 sku \0 BE instant BE seq  -> LedgerEntry (in-transit movements)
//   rm_sku_holders     sku \0 partner                       -> "" (partners with movements)
//   rm_sku_seq         sku                                  -> BE u64 (movements written so far)
//   rm_sellthrough     partner \0 sku \0 BE day             -> SellThroughDay
//   rm_credits         partner \0 change_id                 -> PriceProtectionCredit
//   rm_staging         attempt \0 'L' BE line               -> PosLine (all_or_nothing, pending)
//                      attempt \0 'D' BE line               -> DuplicateLine
//                      attempt \0 'I' identity              -> LineOwner
//
// "BE instant" is the unix microseconds with the sign bit flipped, so that
// instants before 1970 sort first too; "seq" is LedgerSeq(position, n): the
// global position of the event that caused the movement and the entry's index
// among that event's entries (a PosLinesAccepted chunk's lines are summed per
// SKU, instant and kind into a few entries), so entries never collide.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "channelops/eventstore/event_store.h"
#include "channelops/pos/v1/events.pb.h"
#include "channelops/pos/v1/pos.pb.h"
#include "channelops/pos/v1/read_models.pb.h"
#include "pos_ingestion/domain/decider.h"

namespace channelops::pos {

inline constexpr char kProductsCf[] = "rm_products";
inline constexpr char kPriceChangesCf[] = "rm_price_changes";
inline constexpr char kPendingPricesCf[] = "rm_pending_prices";
inline constexpr char kTermsCf[] = "rm_terms";
inline constexpr char kEnrolmentCf[] = "rm_enrolment";
inline constexpr char kShipmentsCf[] = "rm_shipments";
inline constexpr char kReportsCf[] = "rm_reports";
inline constexpr char kReportLinesCf[] = "rm_report_lines";
inline constexpr char kReportChunksCf[] = "rm_report_chunks";
inline constexpr char kRejectsCf[] = "rm_rejects";
inline constexpr char kLineIndexCf[] = "rm_line_index";
inline constexpr char kLedgerCf[] = "rm_ledger";
inline constexpr char kTransitCf[] = "rm_transit";
inline constexpr char kHoldersCf[] = "rm_sku_holders";
inline constexpr char kSkuSeqCf[] = "rm_sku_seq";
inline constexpr char kSellThroughCf[] = "rm_sellthrough";
inline constexpr char kCreditsCf[] = "rm_credits";
inline constexpr char kStagingCf[] = "rm_staging";

inline constexpr char kDefaultProgramKey[] =
    "\x01"
    "default";

std::vector<std::string> AllReadModelCfs();

// ---- keys ----
std::string Join0(const std::string& a, const std::string& b);
std::string TimeKey(absl::Time t);            // 8 bytes, order-preserving
absl::Time TimeFromKey(absl::string_view b);  // inverse of TimeKey (8 bytes)
std::string LineKey(const std::string& report_id, int64_t line_number);
std::string LedgerPrefix(const std::string& partner_id, const std::string& sku);  // ends in \0
// A ledger entry's sequence: the causing event's global position and the
// entry's index among that event's entries (< kMaxLedgerEntriesPerEvent).
inline constexpr uint64_t kMaxLedgerEntriesPerEvent = 1 << 12;
inline uint64_t LedgerSeq(uint64_t position, uint64_t n) { return position << 12 | n; }
std::string LedgerKey(const std::string& partner_id, const std::string& sku, absl::Time at,
                      uint64_t seq);
// The SKU and instant of a rm_ledger / rm_transit key under LedgerPrefix(partner, "")-style
// partner prefix of `prefix_size` bytes. false if malformed.
bool ParseLedgerKey(absl::string_view key, size_t prefix_size, std::string* sku, absl::Time* at);
std::string DayKey(const std::string& partner_id, const std::string& sku, absl::CivilDay day);
// DayKey into `key` (cleared first): the per-line lookups reuse one buffer.
void AppendDayKey(std::string& key, const std::string& partner_id, const std::string& sku,
                  absl::CivilDay day);
std::string StagingKey(const std::string& attempt, char kind, const std::string& suffix);
std::string BigEndianLine(int64_t line_number);  // 8 bytes

// ---- typed reads ----
absl::Status Corrupt(const char* cf, absl::string_view key);

template <class M>
absl::StatusOr<std::optional<M>> TxGet(eventstore::Tx& tx, const char* cf, const std::string& key) {
  auto raw = tx.Get(cf, key);
  if (!raw.ok()) return raw.status();
  if (!*raw) return std::optional<M>();
  M m;
  if (!m.ParseFromString(**raw)) return Corrupt(cf, key);
  return std::optional<M>(std::move(m));
}

template <class M>
absl::StatusOr<std::optional<M>> StoreGet(const eventstore::EventStore& store, const char* cf,
                                          const std::string& key) {
  auto raw = store.Get(cf, key);
  if (!raw.ok()) return raw.status();
  if (!*raw) return std::optional<M>();
  M m;
  if (!m.ParseFromString(**raw)) return Corrupt(cf, key);
  return std::optional<M>(std::move(m));
}

// The value or a default-constructed message.
template <class M>
absl::StatusOr<M> TxGetOrEmpty(eventstore::Tx& tx, const char* cf, const std::string& key) {
  auto v = TxGet<M>(tx, cf, key);
  if (!v.ok()) return v.status();
  return *v ? std::move(**v) : M();
}

// The programme terms covering a partner (enrolment, else the default
// programme), seen through the Tx. nullopt: not covered.
absl::StatusOr<std::optional<v1::PriceProtectionTerms>> TermsFor(eventstore::Tx& tx,
                                                                 const std::string& partner_id);

// ---- writes ----

// Appends domain events to a stream (no expected-version check: every stream
// of this service has one writer at a time by construction - a report's
// session, a SKU's commands on the single writer thread). Returns the global
// position of each event, in order.

absl::StatusOr<std::vector<uint64_t>> AppendEvents(eventstore::Tx& tx, const std::string& stream,
                                                   const std::vector<domain::Event>& events,
                                                   const std::vector<absl::Time>& occurred_at = {});

// The per-command writer of movements and sell-through: caches the aggregates
// a command touches many times (sell-through days, SKU sequence numbers, SKU
// holders) and writes each once in Flush(). Used only during one command.
class MovementWriter {
 public:
  explicit MovementWriter(eventstore::Tx& tx) : tx_(tx) {}

  // One rm_ledger (transit = false) or rm_transit entry; `seq` = LedgerSeq(...).
  absl::Status Ledger(const std::string& partner_id, const std::string& sku, absl::Time at,
                      uint64_t seq, const v1::LedgerEntry& entry, bool transit);
  // Adds (sign 1) or removes (sign -1) a line to its day of sell-through.
  absl::Status SellThrough(const v1::PosLine& line, int sign);
  // The lines of a PosLinesAccepted event at `position` (lines of one report): its chunk
  // record, each line's identity and sell-through, and its movements summed
  // per (SKU, instant, kind) into one ledger entry each. `identities`: the
  // lines' LineIdentity, in order ("" for a line without one).
  absl::Status AcceptChunk(const std::vector<const v1::PosLine*>& lines, uint64_t position,
                           const std::string* identities);
  // Reverses an accepted line of a corrected report (ReportLineReversed at
  // `position`); the caller marks the line's chunk reversed.
  absl::Status ReverseLine(const v1::PosLine& line, uint64_t position);
  absl::Status Flush();

 private:
  absl::Status Touch(const std::string& partner_id, const std::string& sku);
  eventstore::Tx& tx_;
  // Per-line lookups build their keys here (no allocation per line), and a
  // line's date is parsed again only when it differs from the line before's.
  std::string key_buffer_;
  std::string last_date_;
  absl::CivilDay last_day_;
  absl::flat_hash_map<std::string, v1::SellThroughDay> days_;
  absl::flat_hash_map<std::string, uint64_t> seqs_;  // sku -> sequence after this command
  absl::flat_hash_set<std::string> holders_;         // sku \0 partner known to exist
};

// Reads the current SKU movement sequence through the Tx (staged writes
// included) and as committed. Equal: nothing about the SKU's movements is
// waiting in a batch, so scans of committed data see exactly what the writer
// sees.
absl::StatusOr<bool> SkuSettled(eventstore::Tx& tx, const eventstore::EventStore& store,
                                const std::string& sku);

// UNAVAILABLE carrying a marker payload: retry the command (it found writes of
// the SKU not yet durable, see SkuSettled).
absl::Status RetryLater(const std::string& sku);
bool IsRetryLater(const absl::Status& s);

// Every partner's holding of `sku` at `at` (committed data; call after
// SkuSettled returned true, on the writer thread), with the partner's terms.
absl::StatusOr<std::vector<domain::Holding>> LoadHoldings(eventstore::Tx& tx,
                                                          const eventstore::EventStore& store,
                                                          const std::string& sku, absl::Time at);

// The lines of a report chunk (committed data): its PosLinesAccepted event,
// read from the log. DATA_LOSS if the record does not point at the chunk of
// `report_id` it describes (type, report, line range and count checked).
absl::StatusOr<v1::PosLinesAccepted> LoadChunk(const eventstore::EventStore& store,
                                               const std::string& report_id,
                                               const v1::ChunkRecord& record);

// Folds the ledger of (partner, sku) up to `as_of` (committed data).
absl::Status FoldLedger(const eventstore::EventStore& store, const std::string& partner_id,
                        const std::string& sku, absl::Time as_of, v1::InventoryPosition* out);

// Writes the read models of an applied price change (product, history,
// pending index, credits) and appends its events. Returns the change.
absl::StatusOr<v1::PriceChange> CommitPriceChange(eventstore::Tx& tx, const v1::Product& before,
                                                  const std::vector<domain::Event>& events,
                                                  bool was_scheduled);

}  // namespace channelops::pos
