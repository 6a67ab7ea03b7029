#include "pos_ingestion/domain/wire.h"

#include <cstdint>
#include <cstring>

namespace channelops::pos::domain {
namespace {

// Sizes first, then one write into a buffer of exactly that size (as protobuf
// does): no capacity checks per field, no scratch buffers for nested messages.

enum WireType : uint32_t { kVarint = 0, kLengthDelimited = 2 };

inline size_t VarintSize(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}
inline size_t TagSize(uint32_t field) { return field < 16 ? 1 : 2; }  // fields 1..2047

// int64 / int32 / enum: proto3 omits 0; negatives are 10-byte two's complement.
inline size_t IntSize(uint32_t field, int64_t v) {
  return v == 0 ? 0 : TagSize(field) + VarintSize(static_cast<uint64_t>(v));
}
inline size_t TextSize(uint32_t field, const std::string& v) {
  return v.empty() ? 0 : TagSize(field) + VarintSize(v.size()) + v.size();
}
inline size_t NestedSize(uint32_t field, size_t body) {
  return TagSize(field) + VarintSize(body) + body;
}

inline char* PutVarint(char* p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = static_cast<char>(v | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<char>(v);
  return p;
}
inline char* PutTag(char* p, uint32_t field, WireType type) {
  return PutVarint(p, (static_cast<uint64_t>(field) << 3) | type);
}
inline char* PutInt(char* p, uint32_t field, int64_t v) {
  if (v == 0) return p;
  return PutVarint(PutTag(p, field, kVarint), static_cast<uint64_t>(v));
}
inline char* PutText(char* p, uint32_t field, const std::string& v) {
  if (v.empty()) return p;
  p = PutVarint(PutTag(p, field, kLengthDelimited), v.size());
  std::memcpy(p, v.data(), v.size());
  return p + v.size();
}
inline char* PutNestedHeader(char* p, uint32_t field, size_t body) {
  return PutVarint(PutTag(p, field, kLengthDelimited), body);
}

size_t MoneyBody(const common::v1::Money& m) {
  return TextSize(1, m.currency_code()) + IntSize(2, m.amount_micros());
}
char* PutMoney(char* p, uint32_t field, const common::v1::Money& m) {
  p = PutNestedHeader(p, field, MoneyBody(m));
  p = PutText(p, 1, m.currency_code());
  return PutInt(p, 2, m.amount_micros());
}

size_t TimestampBody(const google::protobuf::Timestamp& t) {
  return IntSize(1, t.seconds()) + IntSize(2, t.nanos());
}

size_t AddressBody(const common::v1::PostalAddress& a) {
  return TextSize(1, a.line1()) + TextSize(2, a.line2()) + TextSize(3, a.city()) +
         TextSize(4, a.region()) + TextSize(5, a.postal_code()) + TextSize(6, a.country_code());
}

size_t PartyBody(const common::v1::Party& p) {
  return TextSize(1, p.name()) + TextSize(2, p.email_domain()) +
         (p.has_address() ? NestedSize(3, AddressBody(p.address())) : 0) +
         TextSize(4, p.account_type());
}

}  // namespace

void EncodePosLine(const v1::PosLine& l, std::string* out) {
  const size_t party = l.has_end_customer() ? PartyBody(l.end_customer()) : 0;
  const size_t address = l.has_end_customer() && l.end_customer().has_address()
                             ? AddressBody(l.end_customer().address())
                             : 0;
  const size_t size =
      TextSize(1, l.report_id()) + TextSize(2, l.partner_id()) + IntSize(3, l.line_number()) +
      IntSize(4, l.activity()) + TextSize(5, l.sku()) + TextSize(6, l.product_line()) +
      IntSize(7, l.quantity()) + TextSize(8, l.unit_of_measure()) +
      (l.has_unit_price() ? NestedSize(9, MoneyBody(l.unit_price())) : 0) +
      (l.has_extended_amount() ? NestedSize(10, MoneyBody(l.extended_amount())) : 0) +
      TextSize(11, l.date()) +
      (l.has_movement_at() ? NestedSize(12, TimestampBody(l.movement_at())) : 0) +
      TextSize(13, l.invoice_number()) + IntSize(14, l.invoice_line()) +
      TextSize(15, l.original_invoice_number()) +
      (l.has_end_customer() ? NestedSize(16, party) : 0) + TextSize(17, l.end_customer_id()) +
      TextSize(18, l.customer_key()) + TextSize(19, l.domain_key()) +
      TextSize(20, l.deal_registration_id()) + TextSize(21, l.spa_id()) +
      IntSize(22, l.inventory_delta()) + IntSize(23, l.report_kind());
  out->resize(size);
  char* p = out->data();
  p = PutText(p, 1, l.report_id());
  p = PutText(p, 2, l.partner_id());
  p = PutInt(p, 3, l.line_number());
  p = PutInt(p, 4, l.activity());
  p = PutText(p, 5, l.sku());
  p = PutText(p, 6, l.product_line());
  p = PutInt(p, 7, l.quantity());
  p = PutText(p, 8, l.unit_of_measure());
  if (l.has_unit_price()) p = PutMoney(p, 9, l.unit_price());
  if (l.has_extended_amount()) p = PutMoney(p, 10, l.extended_amount());
  p = PutText(p, 11, l.date());
  if (l.has_movement_at()) {
    const google::protobuf::Timestamp& t = l.movement_at();
    p = PutNestedHeader(p, 12, TimestampBody(t));
    p = PutInt(p, 1, t.seconds());
    p = PutInt(p, 2, t.nanos());
  }
  p = PutText(p, 13, l.invoice_number());
  p = PutInt(p, 14, l.invoice_line());
  p = PutText(p, 15, l.original_invoice_number());
  if (l.has_end_customer()) {
    const common::v1::Party& c = l.end_customer();
    p = PutNestedHeader(p, 16, party);
    p = PutText(p, 1, c.name());
    p = PutText(p, 2, c.email_domain());
    if (c.has_address()) {
      const common::v1::PostalAddress& a = c.address();
      p = PutNestedHeader(p, 3, address);
      p = PutText(p, 1, a.line1());
      p = PutText(p, 2, a.line2());
      p = PutText(p, 3, a.city());
      p = PutText(p, 4, a.region());
      p = PutText(p, 5, a.postal_code());
      p = PutText(p, 6, a.country_code());
    }
    p = PutText(p, 4, c.account_type());
  }
  p = PutText(p, 17, l.end_customer_id());
  p = PutText(p, 18, l.customer_key());
  p = PutText(p, 19, l.domain_key());
  p = PutText(p, 20, l.deal_registration_id());
  p = PutText(p, 21, l.spa_id());
  p = PutInt(p, 22, l.inventory_delta());
  p = PutInt(p, 23, l.report_kind());
}

std::string LineOwnerPrefix(const std::string& report_id) {
  std::string out(TextSize(1, report_id), '\0');
  PutText(out.data(), 1, report_id);
  return out;
}

std::string EncodeLineOwner(const std::string& prefix, int64_t line_number) {
  std::string out;
  out.resize(prefix.size() + IntSize(2, line_number));
  std::memcpy(out.data(), prefix.data(), prefix.size());
  PutInt(out.data() + prefix.size(), 2, line_number);
  return out;
}

}  // namespace channelops::pos::domain
