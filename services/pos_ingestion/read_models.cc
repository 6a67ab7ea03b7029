#include "pos_ingestion/read_models.h"

#include <algorithm>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/escaping.h"
#include "channelops/core/check.h"
#include "channelops/core/status_macros.h"
#include "pos_ingestion/domain/convert.h"
#include "pos_ingestion/domain/inventory.h"
#include "pos_ingestion/domain/lines.h"
#include "pos_ingestion/domain/wire.h"

namespace channelops::pos {
namespace {

using eventstore::EncodeU64;
using eventstore::Tx;

constexpr uint64_t kSignBit = uint64_t{1} << 63;
constexpr char kRetryPayloadUrl[] = "channelops.pos/retry-after-commit";

}  // namespace

std::vector<std::string> AllReadModelCfs() {
  return {kProductsCf,  kPriceChangesCf, kPendingPricesCf, kTermsCf,     kEnrolmentCf,
          kShipmentsCf, kReportsCf,      kReportLinesCf,   kReportChunksCf, kRejectsCf,
          kLineIndexCf, kLedgerCf,       kTransitCf,       kHoldersCf,   kSkuSeqCf,
          kSellThroughCf, kCreditsCf,    kStagingCf};
}

std::string Join0(const std::string& a, const std::string& b) {
  std::string k = a;
  k.push_back('\0');
  k.append(b);
  return k;
}

std::string TimeKey(absl::Time t) {
  return EncodeU64(static_cast<uint64_t>(absl::ToUnixMicros(t)) ^ kSignBit);
}

absl::Time TimeFromKey(absl::string_view b) {
  return absl::FromUnixMicros(static_cast<int64_t>(eventstore::DecodeU64(b) ^ kSignBit));
}

std::string BigEndianLine(int64_t line_number) {
  return EncodeU64(static_cast<uint64_t>(line_number));
}

std::string LineKey(const std::string& report_id, int64_t line_number) {
  return Join0(report_id, BigEndianLine(line_number));
}

std::string LedgerPrefix(const std::string& partner_id, const std::string& sku) {
  std::string k = Join0(partner_id, sku);
  k.push_back('\0');
  return k;
}

std::string LedgerKey(const std::string& partner_id, const std::string& sku, absl::Time at,
                      uint64_t seq) {
  return absl::StrCat(LedgerPrefix(partner_id, sku), TimeKey(at), EncodeU64(seq));
}

bool ParseLedgerKey(absl::string_view key, size_t prefix_size, std::string* sku, absl::Time* at) {
  // <partner>\0<sku>\0<8 instant><8 position>
  if (key.size() < prefix_size + 1 + 16) return false;
  absl::string_view rest = key.substr(prefix_size);
  size_t end = rest.size() - 16;
  if (rest[end - 1] != '\0') return false;
  *sku = std::string(rest.substr(0, end - 1));
  *at = TimeFromKey(rest.substr(end, 8));
  return true;
}

std::string DayKey(const std::string& partner_id, const std::string& sku, absl::CivilDay day) {
  std::string key;
  AppendDayKey(key, partner_id, sku, day);
  return key;
}

void AppendDayKey(std::string& key, const std::string& partner_id, const std::string& sku,
                  absl::CivilDay day) {
  // LedgerPrefix(partner_id, sku) + EncodeU64(days since 1970-01-01 ^ kSignBit).
  key.clear();
  key.append(partner_id);
  key.push_back('\0');
  key.append(sku);
  key.push_back('\0');
  key.append(EncodeU64(static_cast<uint64_t>(day - absl::CivilDay(1970, 1, 1)) ^ kSignBit));
}

std::string StagingKey(const std::string& attempt, char kind, const std::string& suffix) {
  std::string k = attempt;
  k.push_back('\0');
  k.push_back(kind);
  k.append(suffix);
  return k;
}

absl::Status Corrupt(const char* cf, absl::string_view key) {
  return absl::DataLossError(
      absl::StrCat("corrupt ", cf, " read model at '", absl::CHexEscape(key), "'"));
}

absl::StatusOr<std::optional<v1::PriceProtectionTerms>> TermsFor(Tx& tx,
                                                                 const std::string& partner_id) {
  CHANNELOPS_ASSIGN_OR_RETURN(auto program, tx.Get(kEnrolmentCf, partner_id));
  if (!program) {
    CHANNELOPS_ASSIGN_OR_RETURN(program, tx.Get(kEnrolmentCf, kDefaultProgramKey));
  }
  if (!program) return std::optional<v1::PriceProtectionTerms>();
  return TxGet<v1::PriceProtectionTerms>(tx, kTermsCf, *program);
}

absl::StatusOr<std::vector<uint64_t>> AppendEvents(Tx& tx, const std::string& stream,
                                                   const std::vector<domain::Event>& events,
                                                   const std::vector<absl::Time>& occurred_at) {
  std::vector<uint64_t> positions;
  if (events.empty()) return positions;
  std::vector<eventstore::NewEvent> batch;
  batch.reserve(events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    absl::Time at = i < occurred_at.size() ? occurred_at[i] : absl::InfinitePast();
    batch.push_back(eventstore::NewEvent::Of(domain::AsMessage(events[i]), at));
  }
  CHANNELOPS_ASSIGN_OR_RETURN(uint64_t last,
                              tx.Append(stream, eventstore::kAnyVersion, std::move(batch)));
  positions.reserve(events.size());
  for (size_t i = 0; i < events.size(); ++i) positions.push_back(last - events.size() + 1 + i);
  return positions;
}

// ---------------------------------------------------------------------------
// MovementWriter
// ---------------------------------------------------------------------------

absl::Status MovementWriter::Touch(const std::string& partner_id, const std::string& sku) {
  auto seq = seqs_.find(sku);
  if (seq == seqs_.end()) {
    CHANNELOPS_ASSIGN_OR_RETURN(auto raw, tx_.Get(kSkuSeqCf, sku));
    uint64_t v = raw && raw->size() == 8 ? eventstore::DecodeU64(*raw) : 0;
    seq = seqs_.emplace(sku, v).first;
  }
  ++seq->second;
  std::string holder = Join0(sku, partner_id);
  if (!holders_.contains(holder)) {
    CHANNELOPS_ASSIGN_OR_RETURN(auto exists, tx_.Get(kHoldersCf, holder));
    if (!exists) tx_.Put(kHoldersCf, holder, "");
    holders_.insert(std::move(holder));
  }
  return absl::OkStatus();
}

absl::Status MovementWriter::Ledger(const std::string& partner_id, const std::string& sku,
                                    absl::Time at, uint64_t seq, const v1::LedgerEntry& entry,
                                    bool transit) {
  CHANNELOPS_RETURN_IF_ERROR(Touch(partner_id, sku));
  tx_.Put(transit ? kTransitCf : kLedgerCf, LedgerKey(partner_id, sku, at, seq),
          entry.SerializeAsString());
  return absl::OkStatus();
}

absl::Status MovementWriter::SellThrough(const v1::PosLine& line, int sign) {
  if (!domain::IsSale(line.activity()) && line.activity() != v1::LINE_ACTIVITY_CUSTOMER_RETURN) {
    return absl::OkStatus();
  }
  if (line.date() != last_date_ || last_date_.empty()) {
    auto day = domain::ParseDate(line.date());
    CHANNELOPS_CHECK(day.has_value()) << "accepted line with a bad date " << line.date();
    last_date_ = line.date();
    last_day_ = *day;
  }
  AppendDayKey(key_buffer_, line.partner_id(), line.sku(), last_day_);
  auto it = days_.find(absl::string_view(key_buffer_));
  if (it == days_.end()) {
    CHANNELOPS_ASSIGN_OR_RETURN(
        auto stored, TxGetOrEmpty<v1::SellThroughDay>(tx_, kSellThroughCf, key_buffer_));
    it = days_.emplace(key_buffer_, std::move(stored)).first;
  }
  return domain::AddToSellThrough(it->second, line, sign);
}

absl::Status MovementWriter::AcceptChunk(const std::vector<const v1::PosLine*>& lines,
                                         uint64_t position, const std::string* identities) {
  if (lines.empty()) return absl::OkStatus();
  const v1::PosLine& first = *lines[0];
  v1::ChunkRecord record;
  record.set_position(position);
  record.set_first_line_number(first.line_number());
  record.set_last_line_number(lines.back()->line_number());
  record.set_lines(lines.size());
  tx_.Put(kReportChunksCf, LineKey(first.report_id(), first.line_number()),
          record.SerializeAsString());
  // The chunk's movements, summed per (SKU, instant, kind): every line of a
  // report has the report's partner, and accepted lines are never reversals.
  struct Movement {
    const v1::PosLine* line;  // the first line summed into it
    v1::LedgerEntry entry;
  };
  std::vector<Movement> movements;
  absl::flat_hash_map<std::string, size_t> index;
  // Every line's owner record: the report id (shared, encoded once) and the
  // line number.
  const std::string owner_prefix = domain::LineOwnerPrefix(first.report_id());
  for (size_t k = 0; k < lines.size(); ++k) {
    const v1::PosLine& line = *lines[k];
    CHANNELOPS_CHECK(line.report_id() == first.report_id() &&
                     line.partner_id() == first.partner_id())
        << "a chunk holds the lines of one report";
    if (const std::string& identity = identities[k]; !identity.empty()) {
      tx_.Put(kLineIndexCf, identity, domain::EncodeLineOwner(owner_prefix, line.line_number()));
    }
    if (auto entry = domain::LedgerEntryOf(line, /*reversal=*/false)) {
      // (SKU, instant, kind): the instant's seconds and nanos as they are.
      key_buffer_.assign(line.sku());
      key_buffer_.push_back('\0');
      const int64_t seconds = line.movement_at().seconds();
      const int32_t nanos = line.movement_at().nanos();
      const int32_t kind = entry->kind();
      key_buffer_.append(reinterpret_cast<const char*>(&seconds), sizeof seconds);
      key_buffer_.append(reinterpret_cast<const char*>(&nanos), sizeof nanos);
      key_buffer_.append(reinterpret_cast<const char*>(&kind), sizeof kind);
      if (auto it = index.find(absl::string_view(key_buffer_)); it != index.end()) {
        v1::LedgerEntry& sum = movements[it->second].entry;
        sum.set_delta(sum.delta() + entry->delta());
        sum.set_lines(sum.lines() + 1);
      } else {
        index.emplace(key_buffer_, movements.size());
        entry->set_lines(1);
        movements.push_back(Movement{&line, std::move(*entry)});
      }
    }
    CHANNELOPS_RETURN_IF_ERROR(SellThrough(line, 1));
  }
  CHANNELOPS_CHECK(movements.size() < kMaxLedgerEntriesPerEvent) << "chunk too large";
  for (size_t n = 0; n < movements.size(); ++n) {
    const v1::PosLine& line = *movements[n].line;
    CHANNELOPS_RETURN_IF_ERROR(Ledger(line.partner_id(), line.sku(),
                                      domain::FromProtoTime(line.movement_at()),
                                      LedgerSeq(position, n), movements[n].entry, false));
  }
  return absl::OkStatus();
}

absl::Status MovementWriter::ReverseLine(const v1::PosLine& line, uint64_t position) {
  if (std::string identity = domain::LineIdentity(line); !identity.empty()) {
    CHANNELOPS_ASSIGN_OR_RETURN(auto owner, TxGet<v1::LineOwner>(tx_, kLineIndexCf, identity));
    // Taken over by the correction: leave it.
    if (owner && owner->report_id() == line.report_id()) tx_.Delete(kLineIndexCf, identity);
  }
  if (auto entry = domain::LedgerEntryOf(line, /*reversal=*/true)) {
    CHANNELOPS_RETURN_IF_ERROR(Ledger(line.partner_id(), line.sku(),
                                      domain::FromProtoTime(line.movement_at()),
                                      LedgerSeq(position, 0), *entry, false));
  }
  return SellThrough(line, -1);
}

absl::StatusOr<v1::PosLinesAccepted> LoadChunk(const eventstore::EventStore& store,
                                               const std::string& report_id,
                                               const v1::ChunkRecord& record) {
  CHANNELOPS_ASSIGN_OR_RETURN(auto events, store.ReadAll(record.position(), 1));
  v1::PosLinesAccepted chunk;
  if (events.empty() || events[0].global_position() != record.position() ||
      !events[0].payload().UnpackTo(&chunk) || chunk.lines_size() != record.lines() ||
      chunk.lines_size() == 0 || chunk.lines(0).report_id() != report_id ||
      chunk.lines(0).line_number() != record.first_line_number() ||
      chunk.lines(chunk.lines_size() - 1).line_number() != record.last_line_number()) {
    return absl::DataLossError(absl::StrCat("rm_report_chunks points at position ",
                                            record.position(),
                                            ", which holds no PosLinesAccepted of report ",
                                            report_id, " lines ", record.first_line_number(),
                                            "..", record.last_line_number(), " (",
                                            record.lines(), " lines)"));
  }
  return chunk;
}

absl::Status MovementWriter::Flush() {
  for (auto& [key, day] : days_) tx_.Put(kSellThroughCf, key, day.SerializeAsString());
  for (auto& [sku, seq] : seqs_) tx_.Put(kSkuSeqCf, sku, EncodeU64(seq));
  days_.clear();
  seqs_.clear();
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// Holdings for price protection
// ---------------------------------------------------------------------------

absl::StatusOr<bool> SkuSettled(Tx& tx, const eventstore::EventStore& store,
                                const std::string& sku) {
  CHANNELOPS_ASSIGN_OR_RETURN(auto staged, tx.Get(kSkuSeqCf, sku));
  CHANNELOPS_ASSIGN_OR_RETURN(auto committed, store.Get(kSkuSeqCf, sku));
  return staged == committed;
}

absl::Status RetryLater(const std::string& sku) {
  absl::Status s = absl::UnavailableError(absl::StrCat(
      "movements of SKU ", sku, " are being committed; the price change will be retried"));
  s.SetPayload(kRetryPayloadUrl, absl::Cord("1"));
  return s;
}

bool IsRetryLater(const absl::Status& s) {
  return s.code() == absl::StatusCode::kUnavailable && s.GetPayload(kRetryPayloadUrl).has_value();
}

absl::Status FoldLedger(const eventstore::EventStore& store, const std::string& partner_id,
                        const std::string& sku, absl::Time as_of, v1::InventoryPosition* out) {
  out->set_sku(sku);
  const std::string prefix = LedgerPrefix(partner_id, sku);
  absl::Status parse = absl::OkStatus();
  for (const char* cf : {kLedgerCf, kTransitCf}) {
    CHANNELOPS_RETURN_IF_ERROR(
        store.Scan(cf, prefix, prefix, SIZE_MAX, [&](absl::string_view key, absl::string_view v) {
          if (key.size() != prefix.size() + 16) {
            parse = Corrupt(cf, key);
            return false;
          }
          if (TimeFromKey(key.substr(prefix.size(), 8)) > as_of) return false;  // time order
          v1::LedgerEntry e;
          if (!e.ParseFromArray(v.data(), static_cast<int>(v.size()))) {
            parse = Corrupt(cf, key);
            return false;
          }
          domain::Accumulate(*out, e);
          return true;
        }));
  }
  return parse;
}

absl::StatusOr<std::vector<domain::Holding>> LoadHoldings(Tx& tx,
                                                          const eventstore::EventStore& store,
                                                          const std::string& sku, absl::Time at) {
  std::vector<std::string> partners;
  const std::string prefix = Join0(sku, "");
  CHANNELOPS_RETURN_IF_ERROR(store.Scan(kHoldersCf, prefix, prefix, SIZE_MAX,
                                        [&](absl::string_view key, absl::string_view) {
                                          partners.emplace_back(key.substr(prefix.size()));
                                          return true;
                                        }));
  std::vector<domain::Holding> out;
  out.reserve(partners.size());
  for (const std::string& partner : partners) {
    domain::Holding h;
    h.partner_id = partner;
    CHANNELOPS_ASSIGN_OR_RETURN(h.terms, TermsFor(tx, partner));
    v1::InventoryPosition p;
    CHANNELOPS_RETURN_IF_ERROR(FoldLedger(store, partner, sku, at, &p));
    h.on_hand = p.on_hand();
    h.in_transit = p.in_transit();
    if (h.terms && h.terms->eligibility_days() > 0) {
      // Received in (at - days, at]: a second pass over the receipts only.
      const absl::Time from = at - absl::Hours(24) * h.terms->eligibility_days();
      const std::string lp = LedgerPrefix(partner, sku);
      absl::Status parse = absl::OkStatus();
      CHANNELOPS_RETURN_IF_ERROR(
          store.Scan(kLedgerCf, lp, absl::StrCat(lp, TimeKey(from + absl::Microseconds(1))),
                     SIZE_MAX, [&](absl::string_view key, absl::string_view v) {
                       if (key.size() != lp.size() + 16) {
                         parse = Corrupt(kLedgerCf, key);
                         return false;
                       }
                       if (TimeFromKey(key.substr(lp.size(), 8)) > at) return false;
                       v1::LedgerEntry e;
                       if (!e.ParseFromArray(v.data(), static_cast<int>(v.size()))) {
                         parse = Corrupt(kLedgerCf, key);
                         return false;
                       }
                       if (e.kind() == v1::LEDGER_KIND_RECEIVED) h.received_in_window += e.delta();
                       return true;
                     }));
      CHANNELOPS_RETURN_IF_ERROR(parse);
    }
    out.push_back(std::move(h));
  }
  return out;
}

absl::StatusOr<v1::PriceChange> CommitPriceChange(Tx& tx, const v1::Product& before,
                                                  const std::vector<domain::Event>& events,
                                                  bool was_scheduled) {
  CHANNELOPS_CHECK(!events.empty() && std::holds_alternative<v1::PriceChanged>(events.front()))
      << "a price change starts with PriceChanged";
  const v1::PriceChange& change = std::get<v1::PriceChanged>(events.front()).change();
  CHANNELOPS_RETURN_IF_ERROR(
      AppendEvents(tx, domain::SkuStream(before.sku()), {events.front()}).status());
  for (size_t i = 1; i < events.size(); ++i) {
    const auto& credited = std::get<v1::PriceProtectionCredited>(events[i]);
    const v1::PriceProtectionCredit& c = credited.credit();
    CHANNELOPS_RETURN_IF_ERROR(
        AppendEvents(tx, domain::PartnerStream(c.partner_id()), {events[i]}).status());
    tx.Put(kCreditsCf, Join0(c.partner_id(), c.change_id()), c.SerializeAsString());
  }
  v1::Product after = domain::Evolve(before, events.front());
  tx.Put(kProductsCf, after.sku(), after.SerializeAsString());
  const absl::Time effective = domain::FromProtoTime(change.effective_at());
  tx.Put(kPriceChangesCf, Join0(after.sku(), TimeKey(effective)), change.SerializeAsString());
  if (was_scheduled) {
    tx.Delete(kPendingPricesCf,
              absl::StrCat(TimeKey(effective), Join0(after.sku(), change.change_id())));
  }
  return change;
}

}  // namespace channelops::pos
