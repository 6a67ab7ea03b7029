#include "pos_ingestion/domain/lines.h"

#include <cstdlib>
#include <limits>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "channelops/core/money.h"
#include "channelops/core/normalize.h"
#include "channelops/core/strings.h"
#include "pos_ingestion/domain/convert.h"

namespace channelops::pos::domain {
namespace {

constexpr size_t kMaxIdLength = 128;
constexpr size_t kMaxText = 200;

// Makes `v` the reject of line `l`.
void Reject(LineVerdict& v, const parse::Line& l, std::string field, v1::RejectCode code,
            std::string message) {
  v.kind = LineVerdict::Kind::kRejected;
  v.reject.set_line_number(l.line_number);
  v.reject.set_field(std::move(field));
  v.reject.set_code(code);
  v.reject.set_message(std::move(message));
}

std::string Quoted(const std::string& s) {
  // Bounded: a reject message must stay small whatever the input held; and
  // UTF-8, as every protobuf string must be (the input may be anything).
  return absl::StrCat("'", core::QuotableUtf8(s, 64), "'");
}

bool BadId(const std::string& id) {
  return !id.empty() && !core::IsValidIdentifier(id, kMaxIdLength);
}

// A string field of the accepted line being refilled (ValidateLineInto does
// not clear a spent line's strings): left as it is when it already holds `v`
// (the inline getter; the report, partner, product line and unit repeat line
// after line), else `v` copied into the buffer it kept, as a plain copy
// (libstdc++'s append; set_x() and assign go through _M_replace's aliasing
// checks). "" empties it, which in proto3 is unset; a field that is empty and
// stays so is never allocated.
template <class Mutable>
inline void SetString(const std::string& now, Mutable mut, std::string_view v) {
  if (std::string_view(now) == v) return;
  std::string* to = mut();
  to->clear();
  to->append(v.data(), v.size());
}
#define CHANNELOPS_SET_STRING(msg, field, value) \
  SetString((msg).field(), [&] { return (msg).mutable_##field(); }, (value))

// A sub-message field to fill: an earlier line's (`spare`), installed by
// `install` as it is, keeping its strings' memory; else `fresh()`. The fillers
// below (SetParty, SetMoney, SetStartOf) set every field, so a spare needs no
// clearing.
template <class M, class Fresh, class Install>
M* Reuse(std::unique_ptr<M>& spare, Fresh fresh, Install install) {
  if (spare == nullptr) return fresh();
  M* m = spare.release();
  install(m);
  return m;
}

// The end customer as recorded; `country` is NormalizeCountryCode(p.country).
// Every field is set ("" where not reported: unset in proto3, never allocated
// on a new message), so that a spare party needs no clearing.
void SetParty(const parse::Party& p, const std::string& country, common::v1::Party* out) {
  CHANNELOPS_SET_STRING(*out, name, p.name);
  CHANNELOPS_SET_STRING(*out, email_domain, p.email_domain);
  CHANNELOPS_SET_STRING(*out, account_type, "");
  auto* a = out->mutable_address();
  CHANNELOPS_SET_STRING(*a, line1, p.address_line);
  CHANNELOPS_SET_STRING(*a, line2, "");
  CHANNELOPS_SET_STRING(*a, city, p.city);
  CHANNELOPS_SET_STRING(*a, region, p.region);
  CHANNELOPS_SET_STRING(*a, postal_code, p.postal_code);
  CHANNELOPS_SET_STRING(*a, country_code, country);
}

// Money::ToProto() of a Money of `currency` and `micros`.
void SetMoney(const std::string& currency, int64_t micros, common::v1::Money* out) {
  CHANNELOPS_SET_STRING(*out, currency_code, currency);
  out->set_amount_micros(micros);
}

// ToProtoTime(StartOf(d)) for a day of ParseDate (years 1000..9999): whole
// seconds since the epoch, in UTC.
void SetStartOf(absl::CivilDay d, google::protobuf::Timestamp* out) {
  // Days since 1970-01-01 of the proleptic Gregorian day (H. Hinnant's
  // days_from_civil), = d - absl::CivilDay(1970, 1, 1).
  const int64_t m = d.month(), dd = d.day();
  const int64_t y = d.year() - (m <= 2 ? 1 : 0);
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + dd - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  out->set_seconds((era * 146097 + doe - 719468) * 86400);
  out->set_nanos(0);
}

// The first end-customer field that is not UTF-8 text: its name in rejects and
// its value. The party's text is kept on the accepted line, whose protobuf
// strings must be UTF-8: a consumer of the topic fails to parse a message with
// anything else. A report in another encoding (Latin-1 from an older ERP) is
// rejected line by line, naming the field.
std::optional<std::pair<const char*, const std::string*>> NotUtf8(const parse::Party& p) {
  // ASCII (nearly every line): one check for all eight fields.
  if (((core::OrBytes(p.name) | core::OrBytes(p.customer_id) | core::OrBytes(p.email_domain) |
        core::OrBytes(p.address_line) | core::OrBytes(p.city) | core::OrBytes(p.region) |
        core::OrBytes(p.postal_code) | core::OrBytes(p.country)) &
       core::kHighBits) == 0) {
    return std::nullopt;
  }
  for (const auto& field : {
           std::pair<const char*, const std::string*>{"end_customer.name", &p.name},
           {"end_customer.customer_id", &p.customer_id},
           {"end_customer.email_domain", &p.email_domain},
           {"end_customer.address_line", &p.address_line},
           {"end_customer.city", &p.city},
           {"end_customer.region", &p.region},
           {"end_customer.postal_code", &p.postal_code},
           {"end_customer.country_code", &p.country},
       }) {
    if (core::FirstInvalidUtf8(*field.second) != std::string_view::npos) return field;
  }
  return std::nullopt;
}

bool TooLong(const parse::Party& p) {
  return p.name.size() > kMaxText || p.customer_id.size() > kMaxText ||
         p.email_domain.size() > kMaxText || p.address_line.size() > kMaxText ||
         p.city.size() > kMaxText || p.region.size() > kMaxText ||
         p.postal_code.size() > kMaxText || p.country.size() > kMaxText;
}

}  // namespace

int64_t InventoryDelta(v1::LineActivity activity, int64_t quantity) {
  switch (activity) {
    case v1::LINE_ACTIVITY_STOCK_SALE:
    case v1::LINE_ACTIVITY_SHIP_AND_DEBIT_SALE:
    case v1::LINE_ACTIVITY_RETURN_TO_VENDOR:
      return -quantity;
    case v1::LINE_ACTIVITY_CUSTOMER_RETURN:
    case v1::LINE_ACTIVITY_ADJUSTMENT:
      return quantity;
    default:  // drop-ship sales are not from the partner's stock; counts are not movements
      return 0;
  }
}

namespace {

// ValidateLine into `v` (default-constructed), so that ValidateLine returns one
// named object: no LineVerdict is moved.
void Validate(const parse::Line& l, const LineContext& ctx, const ProductLookup& products,
              LineVerdict& v) {
  const v1::ReportHeader& header = *ctx.header;
  // Activity.
  if (l.activity_code.empty()) {
    return Reject(v, l, "activity", v1::REJECT_CODE_MISSING_FIELD, "activity code is required");
  }
  ActivityCode code = ActivityFromCode(l.activity_code);
  if (code.kind == ActivityCode::Kind::kIgnored) {
    v.kind = LineVerdict::Kind::kIgnored;
    return;
  }
  if (code.kind == ActivityCode::Kind::kUnknown) {
    return Reject(v, l, "activity", v1::REJECT_CODE_UNKNOWN_ACTIVITY,
                  absl::StrCat("unknown activity code ", Quoted(l.activity_code)));
  }
  const v1::LineActivity activity = code.activity;
  if (!AllowedIn(header.kind(), activity)) {
    return Reject(v, l, "activity", v1::REJECT_CODE_ACTIVITY_NOT_ALLOWED,
                  absl::StrCat(CodeOf(activity), " lines are not allowed in a ",
                               v1::ReportKind_Name(header.kind()), " report"));
  }
  // Product and unit.
  if (l.sku.empty()) return Reject(v, l, "sku", v1::REJECT_CODE_MISSING_FIELD, "sku is required");
  const v1::Product* product = l.sku.size() <= kMaxIdLength ? products(l.sku) : nullptr;
  if (product == nullptr) {
    return Reject(v, l, "sku", v1::REJECT_CODE_UNKNOWN_SKU,
                  absl::StrCat("SKU ", Quoted(l.sku), " is not in the catalogue"));
  }
  if (!l.unit_of_measure.empty()) {
    if (!IsSupportedUnit(l.unit_of_measure)) {
      return Reject(v, l, "unit_of_measure", v1::REJECT_CODE_UNKNOWN_UNIT_OF_MEASURE,
                    absl::StrCat("unit of measure ", Quoted(l.unit_of_measure),
                                 " is not supported (EA, CA, BX, PK, DZ, PL, KT, ST, RL, UN)"));
    }
    if (l.unit_of_measure != product->unit_of_measure()) {
      return Reject(v, l, "unit_of_measure", v1::REJECT_CODE_WRONG_UNIT_OF_MEASURE,
                    absl::StrCat("SKU ", l.sku, " is counted in ", product->unit_of_measure(),
                                 ", not ", l.unit_of_measure));
    }
  }
  // Quantity.
  if (!l.has_quantity) {
    return Reject(v, l, "quantity", v1::REJECT_CODE_MISSING_FIELD, "quantity is required");
  }
  int64_t qty = l.quantity;
  if (qty > kMaxLineQuantity || qty < -kMaxLineQuantity) {
    return Reject(v, l, "quantity", v1::REJECT_CODE_INVALID_QUANTITY,
                  absl::StrCat("quantity ", qty, " is beyond ", kMaxLineQuantity));
  }
  if (IsReturn(activity)) {
    if (qty == 0) {
      return Reject(v, l, "quantity", v1::REJECT_CODE_INVALID_QUANTITY,
                    "a return must have a non-zero quantity");
    }
    qty = std::llabs(qty);
  } else if (activity == v1::LINE_ACTIVITY_ADJUSTMENT) {
    if (qty == 0) {
      return Reject(v, l, "quantity", v1::REJECT_CODE_INVALID_QUANTITY,
                    "an adjustment must have a non-zero quantity");
    }
  } else if (activity == v1::LINE_ACTIVITY_ON_HAND) {
    if (qty < 0) {
      return Reject(v, l, "quantity", v1::REJECT_CODE_INVALID_QUANTITY,
                    absl::StrCat("on-hand quantity ", qty, " is negative"));
    }
  } else if (qty <= 0) {
    return Reject(
        v, l, "quantity", v1::REJECT_CODE_INVALID_QUANTITY,
        absl::StrCat("quantity must be positive for ", CodeOf(activity), " lines, got ", qty));
  }
  // Currency and price.
  const std::string& product_currency = product->list_price().currency_code();
  const std::string& currency = !l.currency.empty()               ? l.currency
                                : !header.currency_code().empty() ? header.currency_code()
                                                                  : product_currency;
  if (currency != product_currency) {
    return Reject(v, l, l.currency.empty() ? "header.currency_code" : "currency",
                  v1::REJECT_CODE_CURRENCY_MISMATCH,
                  absl::StrCat("SKU ", l.sku, " is priced in ", product_currency, ", not ",
                               Quoted(currency)));
  }
  // core::Money::Parse(l.unit_price, currency), and the price times |qty|.
  const bool has_price = !l.unit_price.empty();
  int64_t price_micros = 0, extended_micros = 0;
  if (has_price) {
    std::optional<int64_t> micros;
    if (core::IsIsoCurrencyCode(currency)) micros = core::Money::ParseMicros(l.unit_price);
    if (!micros) {
      return Reject(v, l, "unit_price", v1::REJECT_CODE_MALFORMED,
                    absl::StrCat(Quoted(l.unit_price), " is not an exact decimal amount"));
    }
    if (*micros < 0) {
      return Reject(
          v, l, "unit_price", v1::REJECT_CODE_INVALID_PRICE,
          absl::StrCat("unit price ", core::Money::Create(currency, *micros)->ToDecimalString(),
                       " is negative"));
    }
    price_micros = *micros;
    if (__builtin_mul_overflow(price_micros, std::llabs(qty), &extended_micros)) {
      return Reject(v, l, "unit_price", v1::REJECT_CODE_INVALID_PRICE,
                    "quantity x unit price overflows");
    }
  }
  // Date.
  if (l.date.empty())
    return Reject(v, l, "date", v1::REJECT_CODE_MISSING_FIELD, "date is required");
  std::optional<absl::CivilDay> day = ParseDate(l.date);
  if (!day) {
    return Reject(v, l, "date", v1::REJECT_CODE_MALFORMED,
                  absl::StrCat(Quoted(l.date), " is not a YYYY-MM-DD date"));
  }
  if (*day > ctx.today) {
    return Reject(v, l, "date", v1::REJECT_CODE_DATE_IN_FUTURE,
                  absl::StrCat(l.date, " is after today (", FormatDate(ctx.today), ")"));
  }
  if (*day < ctx.period_start || *day >= ctx.period_end) {
    return Reject(
        v, l, "date", v1::REJECT_CODE_DATE_OUTSIDE_PERIOD,
        absl::StrCat(l.date, " is outside the report period ", header.period().start_date(), " .. ",
                     header.period().end_date(), " (end exclusive)"));
  }
  // Invoice and references.
  const bool transaction = IsSale(activity) || activity == v1::LINE_ACTIVITY_CUSTOMER_RETURN ||
                           activity == v1::LINE_ACTIVITY_RETURN_TO_VENDOR;
  if (transaction && l.invoice_number.empty()) {
    return Reject(v, l, "invoice_number", v1::REJECT_CODE_MISSING_INVOICE,
                  absl::StrCat(CodeOf(activity), " lines need the invoice number"));
  }
  for (const auto& [field, value] :
       {std::pair<const char*, const std::string*>{"invoice_number", &l.invoice_number},
        {"original_invoice_number", &l.original_invoice_number},
        {"deal_registration_id", &l.deal_registration_id},
        {"spa_id", &l.spa_id}}) {
    if (BadId(*value)) {
      return Reject(
          v, l, field, v1::REJECT_CODE_MALFORMED,
          absl::StrCat(Quoted(*value), " must be printable ASCII without spaces, at most ",
                       kMaxIdLength, " characters"));
    }
  }
  if (l.invoice_line < 0 || l.invoice_line > 1'000'000'000) {
    return Reject(v, l, "invoice_line", v1::REJECT_CODE_MALFORMED, "invoice line out of range");
  }
  if (auto bad = NotUtf8(l.customer)) {
    const auto& [field, value] = *bad;
    return Reject(
        v, l, field, v1::REJECT_CODE_MALFORMED,
        absl::StrCat(Quoted(*value), " is not UTF-8 text (byte ",
                     core::FirstInvalidUtf8(*value) + 1, "); reports must be encoded in UTF-8"));
  }
  if (TooLong(l.customer)) {
    return Reject(v, l, "end_customer", v1::REJECT_CODE_MALFORMED,
                  absl::StrCat("end customer fields must be at most ", kMaxText, " characters"));
  }
  // End customer.
  const std::string country = core::NormalizeCountryCode(l.customer.country);
  // NormalizeCompanyName(name), computed once: the sale check and the customer
  // key (core::CustomerKey) use the same value.
  std::string company;
  if (IsSale(activity) || !l.customer.name.empty()) {
    company = core::NormalizeCompanyName(l.customer.name);
  }
  if (IsSale(activity)) {
    if (company.empty()) {
      return Reject(v, l, "end_customer.name", v1::REJECT_CODE_MISSING_END_CUSTOMER,
                    "a sale needs the end customer's name");
    }
    if (country.empty()) {
      return Reject(v, l, "end_customer.country_code", v1::REJECT_CODE_MISSING_END_CUSTOMER,
                    "a sale needs the end customer's country (it is part of the customer key)");
    }
  }
  if (!country.empty() && !core::IsIsoCountryCode(country)) {
    return Reject(v, l, "end_customer.country_code", v1::REJECT_CODE_MALFORMED,
                  absl::StrCat(Quoted(l.customer.country), " is not an ISO 3166-1 alpha-2 code"));
  }
  if (activity == v1::LINE_ACTIVITY_CUSTOMER_RETURN && l.original_invoice_number.empty()) {
    return Reject(v, l, "original_invoice_number", v1::REJECT_CODE_MISSING_ORIGINAL_INVOICE,
                  "a customer return needs the original sale's invoice number");
  }

  v.kind = LineVerdict::Kind::kAccepted;
  v1::PosLine& out = v.line;
  // Every field is set, "" and 0 included: `out` may be a spent line's
  // (ValidateLineInto), whose scalars and strings are not cleared first. Its
  // sub-messages are (taken out as spares), so those not set stay unset.
  CHANNELOPS_SET_STRING(out, report_id, header.report_id());
  CHANNELOPS_SET_STRING(out, partner_id, header.partner_id());
  out.set_report_kind(header.kind());
  out.set_line_number(l.line_number);
  out.set_activity(activity);
  CHANNELOPS_SET_STRING(out, sku, l.sku);
  CHANNELOPS_SET_STRING(out, product_line, product->product_line());
  out.set_quantity(qty);
  CHANNELOPS_SET_STRING(out, unit_of_measure, product->unit_of_measure());
  LineVerdict::Spares& spares = v.spares;
  if (has_price) {
    SetMoney(currency, price_micros,
             Reuse(spares.unit_price, [&] { return out.mutable_unit_price(); },
                   [&](common::v1::Money* m) { out.set_allocated_unit_price(m); }));
    SetMoney(currency, extended_micros,
             Reuse(spares.extended_amount, [&] { return out.mutable_extended_amount(); },
                   [&](common::v1::Money* m) { out.set_allocated_extended_amount(m); }));
  }
  CHANNELOPS_SET_STRING(out, date, l.date);
  SetStartOf(*day, Reuse(spares.movement_at, [&] { return out.mutable_movement_at(); },
                         [&](google::protobuf::Timestamp* t) { out.set_allocated_movement_at(t); }));
  CHANNELOPS_SET_STRING(out, invoice_number, l.invoice_number);
  out.set_invoice_line(
      static_cast<int32_t>(l.invoice_line > 0 || l.invoice_number.empty() ? l.invoice_line : 1));
  CHANNELOPS_SET_STRING(out, original_invoice_number, l.original_invoice_number);
  if (!l.customer.empty()) {
    SetParty(l.customer, country,
             Reuse(spares.end_customer, [&] { return out.mutable_end_customer(); },
                   [&](common::v1::Party* p) { out.set_allocated_end_customer(p); }));
  }
  CHANNELOPS_SET_STRING(out, end_customer_id, l.customer.customer_id);
  // core::CustomerKey(country, name): "<country>|<company>", compared in place.
  const bool has_key = !l.customer.name.empty() && !company.empty();
  const std::string& key_now = out.customer_key();
  if (!has_key) {
    CHANNELOPS_SET_STRING(out, customer_key, "");
  } else if (key_now.size() != country.size() + 1 + company.size() ||
             key_now.compare(0, country.size(), country) != 0 || key_now[country.size()] != '|' ||
             key_now.compare(country.size() + 1, company.size(), company) != 0) {
    std::string* key = out.mutable_customer_key();
    key->clear();
    key->reserve(country.size() + 1 + company.size());
    key->append(country).append("|").append(company);
  }
  CHANNELOPS_SET_STRING(out, domain_key, l.customer.email_domain.empty() ? std::string() : core::DomainKey(l.customer.email_domain));
  CHANNELOPS_SET_STRING(out, deal_registration_id, l.deal_registration_id);
  CHANNELOPS_SET_STRING(out, spa_id, l.spa_id);
  out.set_inventory_delta(InventoryDelta(activity, qty));
}

#undef CHANNELOPS_SET_STRING

}  // namespace

LineContext LineContextOf(const v1::ReportHeader& header, absl::Time now) {
  LineContext lc;
  lc.header = &header;
  lc.today = DayOf(now);
  // Shape validation guarantees both dates parse.
  lc.period_start = *ParseDate(header.period().start_date());
  lc.period_end = *ParseDate(header.period().end_date());
  return lc;
}

LineVerdict ValidateLine(const parse::Line& l, const LineContext& ctx,
                         const ProductLookup& products) {
  LineVerdict v;
  Validate(l, ctx, products, v);
  return v;
}

void ValidateLineInto(const parse::Line& l, const LineContext& ctx, const ProductLookup& products,
                      LineVerdict& v) {
  // An accepted line sets every scalar and string field of the line, and the
  // sub-messages it has (Validate), so from a spent verdict it gives exactly
  // ValidateLine's. The sub-messages are taken out first: they are then unset,
  // and kept as spares (lines.h), which Clear() would have freed. Any other
  // verdict has an empty line.
  v.kind = LineVerdict::Kind::kRejected;
  v1::PosLine& line = v.line;
  LineVerdict::Spares& spares = v.spares;
  if (line.has_unit_price()) spares.unit_price.reset(line.release_unit_price());
  if (line.has_extended_amount()) spares.extended_amount.reset(line.release_extended_amount());
  if (line.has_movement_at()) spares.movement_at.reset(line.release_movement_at());
  if (line.has_end_customer()) spares.end_customer.reset(line.release_end_customer());
  v.reject.Clear();
  Validate(l, ctx, products, v);
  if (v.kind != LineVerdict::Kind::kAccepted) line.Clear();
}

v1::RejectedLine RejectOf(const parse::Issue& issue) {
  v1::RejectedLine r;
  r.set_line_number(issue.line_number);
  r.set_field(core::QuotableUtf8(issue.field, 64));  // a CSV header's column, say
  r.set_code(issue.code == parse::IssueCode::kMissingField ? v1::REJECT_CODE_MISSING_FIELD
                                                           : v1::REJECT_CODE_MALFORMED);
  // The parsers quote input (bounded): it may be anything, and a protobuf
  // string must be UTF-8.
  r.set_message(core::QuotableUtf8(issue.message, 512));
  return r;
}

parse::Line FromTyped(const v1::ReportLine& t, int64_t line_number) {
  parse::Line l;
  l.line_number = line_number;
  l.activity_code = CodeOf(t.activity());
  l.sku = t.sku();
  l.has_quantity = true;
  l.quantity = t.quantity();
  l.unit_of_measure = t.unit_of_measure();
  if (HasMoney(t.unit_price())) {
    auto m = core::Money::Create(t.unit_price().currency_code(), t.unit_price().amount_micros());
    if (m.ok()) {
      l.unit_price = m->ToDecimalString();
      l.currency = m->currency();
    } else {
      l.unit_price = "?";  // rejected as malformed by ValidateLine
      l.currency = t.unit_price().currency_code();
    }
  }
  l.date = t.date();
  l.invoice_number = t.invoice_number();
  l.invoice_line = t.invoice_line();
  l.original_invoice_number = t.original_invoice_number();
  l.deal_registration_id = t.deal_registration_id();
  l.spa_id = t.spa_id();
  const common::v1::Party& p = t.end_customer();
  l.customer.name = p.name();
  l.customer.customer_id = t.end_customer_id();
  l.customer.email_domain = p.email_domain();
  l.customer.address_line = p.address().line1();
  l.customer.city = p.address().city();
  l.customer.region = p.address().region();
  l.customer.postal_code = p.address().postal_code();
  l.customer.country = p.address().country_code();
  return l;
}

std::string LineIdentityOf(absl::string_view partner_id, absl::string_view invoice_number,
                           int32_t invoice_line) {
  if (invoice_number.empty()) return "";
  std::string key;
  key.reserve(partner_id.size() + invoice_number.size() + 6);
  key.append(partner_id.data(), partner_id.size());
  key.push_back('\0');
  key.append(invoice_number.data(), invoice_number.size());
  key.push_back('\0');
  uint32_t n = static_cast<uint32_t>(invoice_line);
  for (int shift = 24; shift >= 0; shift -= 8)
    key.push_back(static_cast<char>((n >> shift) & 0xff));
  return key;
}

std::string LineIdentity(const v1::PosLine& line) {
  return LineIdentityOf(line.partner_id(), line.invoice_number(), line.invoice_line());
}

}  // namespace channelops::pos::domain
