#include "pos_ingestion/domain/inventory.h"

#include "channelops/core/money.h"
#include "channelops/core/status_macros.h"
#include "pos_ingestion/domain/convert.h"

namespace channelops::pos::domain {
namespace {

// a += sign * b, where a may be unset (no currency yet).
absl::Status AddMoney(common::v1::Money& a, const common::v1::Money& b, int sign) {
  if (!HasMoney(b)) return absl::OkStatus();
  // The common case in place (a sell-through day adds every line of a
  // report): the same currency, no overflow. Otherwise, and for the error,
  // through core::Money.
  if (HasMoney(a) && a.currency_code() == b.currency_code()) {
    int64_t add = b.amount_micros();
    int64_t sum;
    if ((sign >= 0 || !__builtin_sub_overflow(int64_t{0}, add, &add)) &&
        !__builtin_add_overflow(a.amount_micros(), add, &sum)) {
      a.set_amount_micros(sum);
      return absl::OkStatus();
    }
  }
  core::Money add = MoneyOf(b);
  if (sign < 0) {
    CHANNELOPS_ASSIGN_OR_RETURN(add, add.Negate());
  }
  if (!HasMoney(a)) {
    a = add.ToProto();
    return absl::OkStatus();
  }
  CHANNELOPS_ASSIGN_OR_RETURN(core::Money sum, MoneyOf(a).Add(add));
  a = sum.ToProto();
  return absl::OkStatus();
}

}  // namespace

std::optional<v1::LedgerEntry> LedgerEntryOf(const v1::PosLine& line, bool reversal) {
  v1::LedgerKind kind;
  switch (line.activity()) {
    case v1::LINE_ACTIVITY_STOCK_SALE:
    case v1::LINE_ACTIVITY_SHIP_AND_DEBIT_SALE:
      kind = v1::LEDGER_KIND_SOLD;
      break;
    case v1::LINE_ACTIVITY_CUSTOMER_RETURN:
      kind = v1::LEDGER_KIND_CUSTOMER_RETURN;
      break;
    case v1::LINE_ACTIVITY_RETURN_TO_VENDOR:
      kind = v1::LEDGER_KIND_RETURN_TO_VENDOR;
      break;
    case v1::LINE_ACTIVITY_ADJUSTMENT:
      kind = v1::LEDGER_KIND_ADJUSTMENT;
      break;
    default:
      return std::nullopt;
  }
  if (line.inventory_delta() == 0) return std::nullopt;
  v1::LedgerEntry e;
  e.set_kind(kind);
  e.set_delta(reversal ? -line.inventory_delta() : line.inventory_delta());
  e.set_source_id(line.report_id());
  e.set_line_number(line.line_number());
  e.set_reversal(reversal);
  return e;
}

v1::LedgerEntry ReceivedEntryOf(const std::string& shipment_id, int64_t quantity) {
  v1::LedgerEntry e;
  e.set_kind(v1::LEDGER_KIND_RECEIVED);
  e.set_delta(quantity);
  e.set_source_id(shipment_id);
  return e;
}

v1::LedgerEntry TransitEntryOf(const std::string& shipment_id, int64_t delta) {
  v1::LedgerEntry e;
  e.set_kind(v1::LEDGER_KIND_TRANSIT);
  e.set_delta(delta);
  e.set_source_id(shipment_id);
  return e;
}

void Accumulate(v1::InventoryPosition& p, const v1::LedgerEntry& e) {
  const int64_t d = e.delta();
  switch (e.kind()) {
    case v1::LEDGER_KIND_TRANSIT:
      p.set_in_transit(p.in_transit() + d);
      return;
    case v1::LEDGER_KIND_RECEIVED:
      p.set_received(p.received() + d);
      break;
    case v1::LEDGER_KIND_SOLD:
      p.set_sold(p.sold() - d);
      break;
    case v1::LEDGER_KIND_CUSTOMER_RETURN:
      p.set_customer_returned(p.customer_returned() + d);
      break;
    case v1::LEDGER_KIND_RETURN_TO_VENDOR:
      p.set_returned_to_vendor(p.returned_to_vendor() - d);
      break;
    case v1::LEDGER_KIND_ADJUSTMENT:
      p.set_adjusted(p.adjusted() + d);
      break;
    default:
      return;
  }
  p.set_on_hand(p.on_hand() + d);
}

absl::Status AddToSellThrough(v1::SellThroughDay& day, const v1::PosLine& line, int sign) {
  const int64_t q = sign * line.quantity();
  switch (line.activity()) {
    case v1::LINE_ACTIVITY_STOCK_SALE:
      day.set_stock_sale_units(day.stock_sale_units() + q);
      break;
    case v1::LINE_ACTIVITY_DROP_SHIP_SALE:
      day.set_drop_ship_units(day.drop_ship_units() + q);
      break;
    case v1::LINE_ACTIVITY_SHIP_AND_DEBIT_SALE:
      day.set_ship_and_debit_units(day.ship_and_debit_units() + q);
      break;
    case v1::LINE_ACTIVITY_CUSTOMER_RETURN:
      day.set_customer_return_units(day.customer_return_units() + q);
      day.set_lines(day.lines() + sign);
      return AddMoney(*day.mutable_returns_amount(), line.extended_amount(), sign);
    default:
      return absl::OkStatus();
  }
  day.set_lines(day.lines() + sign);
  return AddMoney(*day.mutable_sales_amount(), line.extended_amount(), sign);
}

absl::Status AddDay(v1::SellThrough& t, const v1::SellThroughDay& d) {
  t.set_stock_sale_units(t.stock_sale_units() + d.stock_sale_units());
  t.set_drop_ship_units(t.drop_ship_units() + d.drop_ship_units());
  t.set_ship_and_debit_units(t.ship_and_debit_units() + d.ship_and_debit_units());
  t.set_units_sold(t.stock_sale_units() + t.drop_ship_units() + t.ship_and_debit_units());
  t.set_units_returned(t.units_returned() + d.customer_return_units());
  t.set_net_units(t.units_sold() - t.units_returned());
  t.set_lines(t.lines() + d.lines());
  CHANNELOPS_RETURN_IF_ERROR(AddMoney(*t.mutable_sales_amount(), d.sales_amount(), 1));
  return AddMoney(*t.mutable_returns_amount(), d.returns_amount(), 1);
}

}  // namespace channelops::pos::domain
