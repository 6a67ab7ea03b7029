#pragma once

// Channel inventory arithmetic over the movement ledger, and sell-through
// aggregation. Pure and thread-safe; the service keeps the ledger in RocksDB
// (rm_ledger / rm_transit, keyed by partner, SKU and big-endian instant) and
// folds the entries it scans with these functions.
//
//   on_hand    = received - sold + customer_returned - returned_to_vendor + adjusted
//   in_transit = shipped to the partner and not yet received
//
// A reversal (a corrected report's line) is an entry of the same kind with the
// opposite delta at the same instant, so every breakdown stays exact.

#include <cstdint>
#include <optional>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "channelops/pos/v1/events.pb.h"
#include "channelops/pos/v1/pos.pb.h"
#include "channelops/pos/v1/read_models.pb.h"

namespace channelops::pos::domain {

// The ledger entry of an accepted line (nullopt: no inventory effect, e.g. a
// drop-ship sale or an on-hand count). `reversal` negates it.
std::optional<v1::LedgerEntry> LedgerEntryOf(const v1::PosLine& line, bool reversal);

// The entries of a shipment: received (at received_at, if received) and the
// transit pair (+ at shipped_at, - at received_at).
v1::LedgerEntry ReceivedEntryOf(const std::string& shipment_id, int64_t quantity);
v1::LedgerEntry TransitEntryOf(const std::string& shipment_id, int64_t delta);

// Adds one entry to a position (on_hand and the breakdown; TRANSIT entries
// move in_transit only).
void Accumulate(v1::InventoryPosition& position, const v1::LedgerEntry& entry);

// Adds (sign +1) or removes (sign -1, a reversal) a line to a day of
// sell-through: sales by activity, customer returns, amounts. Other activities
// do not count. INVALID_ARGUMENT / OUT_OF_RANGE only on money the line's own
// validation would have refused (currency change, overflow).
absl::Status AddToSellThrough(v1::SellThroughDay& day, const v1::PosLine& line, int sign);

// Adds a day to a period total.
absl::Status AddDay(v1::SellThrough& total, const v1::SellThroughDay& day);

}  // namespace channelops::pos::domain
