#include "pos_ingestion/domain/lines.h"

#include <cstdlib>
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

LineVerdict Reject(const parse::Line& l, std::string field, v1::RejectCode code,
                   std::string message) {
  LineVerdict v;
  v.kind = LineVerdict::Kind::kRejected;
  v.reject.set_line_number(l.line_number);
  v.reject.set_field(std::move(field));
  v.reject.set_code(code);
  v.reject.set_message(std::move(message));
  return v;
}

std::string Quoted(const std::string& s) {
  // Bounded: a reject message must stay small whatever the input held.
  return absl::StrCat("'", s.size() > 64 ? absl::StrCat(s.substr(0, 64), "...") : s, "'");
}

bool BadId(const std::string& id) {
  return !id.empty() && !core::IsValidIdentifier(id, kMaxIdLength);
}

common::v1::Party PartyOf(const parse::Party& p) {
  common::v1::Party out;
  out.set_name(p.name);
  out.set_email_domain(p.email_domain);
  auto* a = out.mutable_address();
  a->set_line1(p.address_line);
  a->set_city(p.city);
  a->set_region(p.region);
  a->set_postal_code(p.postal_code);
  a->set_country_code(core::NormalizeCountryCode(p.country));
  return out;
}

bool TooLong(const parse::Party& p) {
  for (const std::string* s : {&p.name, &p.customer_id, &p.email_domain, &p.address_line, &p.city,
                               &p.region, &p.postal_code, &p.country}) {
    if (s->size() > kMaxText) return true;
  }
  return false;
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

LineVerdict ValidateLine(const parse::Line& l, const LineContext& ctx,
                         const ProductLookup& products) {
  const v1::ReportHeader& header = *ctx.header;
  // Activity.
  if (l.activity_code.empty()) {
    return Reject(l, "activity", v1::REJECT_CODE_MISSING_FIELD, "activity code is required");
  }
  ActivityCode code = ActivityFromCode(l.activity_code);
  if (code.kind == ActivityCode::Kind::kIgnored) {
    LineVerdict v;
    v.kind = LineVerdict::Kind::kIgnored;
    return v;
  }
  if (code.kind == ActivityCode::Kind::kUnknown) {
    return Reject(l, "activity", v1::REJECT_CODE_UNKNOWN_ACTIVITY,
                  absl::StrCat("unknown activity code ", Quoted(l.activity_code)));
  }
  const v1::LineActivity activity = code.activity;
  if (!AllowedIn(header.kind(), activity)) {
    return Reject(l, "activity", v1::REJECT_CODE_ACTIVITY_NOT_ALLOWED,
                  absl::StrCat(CodeOf(activity), " lines are not allowed in a ",
                               v1::ReportKind_Name(header.kind()), " report"));
  }
  // Product and unit.
  if (l.sku.empty()) return Reject(l, "sku", v1::REJECT_CODE_MISSING_FIELD, "sku is required");
  const v1::Product* product = l.sku.size() <= kMaxIdLength ? products(l.sku) : nullptr;
  if (product == nullptr) {
    return Reject(l, "sku", v1::REJECT_CODE_UNKNOWN_SKU,
                  absl::StrCat("SKU ", Quoted(l.sku), " is not in the catalogue"));
  }
  if (!l.unit_of_measure.empty()) {
    if (!IsSupportedUnit(l.unit_of_measure)) {
      return Reject(l, "unit_of_measure", v1::REJECT_CODE_UNKNOWN_UNIT_OF_MEASURE,
                    absl::StrCat("unit of measure ", Quoted(l.unit_of_measure),
                                 " is not supported (EA, CA, BX, PK, DZ, PL, KT, ST, RL, UN)"));
    }
    if (l.unit_of_measure != product->unit_of_measure()) {
      return Reject(l, "unit_of_measure", v1::REJECT_CODE_WRONG_UNIT_OF_MEASURE,
                    absl::StrCat("SKU ", l.sku, " is counted in ", product->unit_of_measure(),
                                 ", not ", l.unit_of_measure));
    }
  }
  // Quantity.
  if (!l.has_quantity) {
    return Reject(l, "quantity", v1::REJECT_CODE_MISSING_FIELD, "quantity is required");
  }
  int64_t qty = l.quantity;
  if (qty > kMaxLineQuantity || qty < -kMaxLineQuantity) {
    return Reject(l, "quantity", v1::REJECT_CODE_INVALID_QUANTITY,
                  absl::StrCat("quantity ", qty, " is beyond ", kMaxLineQuantity));
  }
  if (IsReturn(activity)) {
    if (qty == 0) {
      return Reject(l, "quantity", v1::REJECT_CODE_INVALID_QUANTITY,
                    "a return must have a non-zero quantity");
    }
    qty = std::llabs(qty);
  } else if (activity == v1::LINE_ACTIVITY_ADJUSTMENT) {
    if (qty == 0) {
      return Reject(l, "quantity", v1::REJECT_CODE_INVALID_QUANTITY,
                    "an adjustment must have a non-zero quantity");
    }
  } else if (activity == v1::LINE_ACTIVITY_ON_HAND) {
    if (qty < 0) {
      return Reject(l, "quantity", v1::REJECT_CODE_INVALID_QUANTITY,
                    absl::StrCat("on-hand quantity ", qty, " is negative"));
    }
  } else if (qty <= 0) {
    return Reject(
        l, "quantity", v1::REJECT_CODE_INVALID_QUANTITY,
        absl::StrCat("quantity must be positive for ", CodeOf(activity), " lines, got ", qty));
  }
  // Currency and price.
  const std::string& product_currency = product->list_price().currency_code();
  std::string currency = !l.currency.empty()               ? l.currency
                         : !header.currency_code().empty() ? header.currency_code()
                                                           : product_currency;
  if (currency != product_currency) {
    return Reject(l, l.currency.empty() ? "header.currency_code" : "currency",
                  v1::REJECT_CODE_CURRENCY_MISMATCH,
                  absl::StrCat("SKU ", l.sku, " is priced in ", product_currency, ", not ",
                               Quoted(currency)));
  }
  std::optional<core::Money> price;
  if (!l.unit_price.empty()) {
    auto p = core::Money::Parse(l.unit_price, currency);
    if (!p.ok()) {
      return Reject(l, "unit_price", v1::REJECT_CODE_MALFORMED,
                    absl::StrCat(Quoted(l.unit_price), " is not an exact decimal amount"));
    }
    if (p->is_negative()) {
      return Reject(l, "unit_price", v1::REJECT_CODE_INVALID_PRICE,
                    absl::StrCat("unit price ", p->ToDecimalString(), " is negative"));
    }
    price = *p;
  }
  std::optional<core::Money> extended;
  if (price) {
    auto e = price->MultiplyBy(std::llabs(qty));
    if (!e.ok()) {
      return Reject(l, "unit_price", v1::REJECT_CODE_INVALID_PRICE,
                    "quantity x unit price overflows");
    }
    extended = *e;
  }
  // Date.
  if (l.date.empty()) return Reject(l, "date", v1::REJECT_CODE_MISSING_FIELD, "date is required");
  std::optional<absl::CivilDay> day = ParseDate(l.date);
  if (!day) {
    return Reject(l, "date", v1::REJECT_CODE_MALFORMED,
                  absl::StrCat(Quoted(l.date), " is not a YYYY-MM-DD date"));
  }
  if (*day > ctx.today) {
    return Reject(l, "date", v1::REJECT_CODE_DATE_IN_FUTURE,
                  absl::StrCat(l.date, " is after today (", FormatDate(ctx.today), ")"));
  }
  if (*day < ctx.period_start || *day >= ctx.period_end) {
    return Reject(
        l, "date", v1::REJECT_CODE_DATE_OUTSIDE_PERIOD,
        absl::StrCat(l.date, " is outside the report period ", header.period().start_date(), " .. ",
                     header.period().end_date(), " (end exclusive)"));
  }
  // Invoice and references.
  const bool transaction = IsSale(activity) || activity == v1::LINE_ACTIVITY_CUSTOMER_RETURN ||
                           activity == v1::LINE_ACTIVITY_RETURN_TO_VENDOR;
  if (transaction && l.invoice_number.empty()) {
    return Reject(l, "invoice_number", v1::REJECT_CODE_MISSING_INVOICE,
                  absl::StrCat(CodeOf(activity), " lines need the invoice number"));
  }
  for (const auto& [field, value] :
       {std::pair<const char*, const std::string*>{"invoice_number", &l.invoice_number},
        {"original_invoice_number", &l.original_invoice_number},
        {"deal_registration_id", &l.deal_registration_id},
        {"spa_id", &l.spa_id}}) {
    if (BadId(*value)) {
      return Reject(
          l, field, v1::REJECT_CODE_MALFORMED,
          absl::StrCat(Quoted(*value), " must be printable ASCII without spaces, at most ",
                       kMaxIdLength, " characters"));
    }
  }
  if (l.invoice_line < 0 || l.invoice_line > 1'000'000'000) {
    return Reject(l, "invoice_line", v1::REJECT_CODE_MALFORMED, "invoice line out of range");
  }
  if (TooLong(l.customer)) {
    return Reject(l, "end_customer", v1::REJECT_CODE_MALFORMED,
                  absl::StrCat("end customer fields must be at most ", kMaxText, " characters"));
  }
  // End customer.
  std::string customer_key;
  std::string domain_key;
  const std::string country = core::NormalizeCountryCode(l.customer.country);
  if (IsSale(activity)) {
    if (core::NormalizeCompanyName(l.customer.name).empty()) {
      return Reject(l, "end_customer.name", v1::REJECT_CODE_MISSING_END_CUSTOMER,
                    "a sale needs the end customer's name");
    }
    if (country.empty()) {
      return Reject(l, "end_customer.country_code", v1::REJECT_CODE_MISSING_END_CUSTOMER,
                    "a sale needs the end customer's country (it is part of the customer key)");
    }
  }
  if (!country.empty() && !core::IsIsoCountryCode(country)) {
    return Reject(l, "end_customer.country_code", v1::REJECT_CODE_MALFORMED,
                  absl::StrCat(Quoted(l.customer.country), " is not an ISO 3166-1 alpha-2 code"));
  }
  if (!l.customer.name.empty()) customer_key = core::CustomerKey(country, l.customer.name);
  if (!l.customer.email_domain.empty()) domain_key = core::DomainKey(l.customer.email_domain);
  if (activity == v1::LINE_ACTIVITY_CUSTOMER_RETURN && l.original_invoice_number.empty()) {
    return Reject(l, "original_invoice_number", v1::REJECT_CODE_MISSING_ORIGINAL_INVOICE,
                  "a customer return needs the original sale's invoice number");
  }

  LineVerdict v;
  v.kind = LineVerdict::Kind::kAccepted;
  v1::PosLine& out = v.line;
  out.set_report_id(header.report_id());
  out.set_partner_id(header.partner_id());
  out.set_report_kind(header.kind());
  out.set_line_number(l.line_number);
  out.set_activity(activity);
  out.set_sku(l.sku);
  out.set_product_line(product->product_line());
  out.set_quantity(qty);
  out.set_unit_of_measure(product->unit_of_measure());
  if (price) *out.mutable_unit_price() = price->ToProto();
  if (extended) *out.mutable_extended_amount() = extended->ToProto();
  out.set_date(l.date);
  *out.mutable_movement_at() = ToProtoTime(StartOf(*day));
  out.set_invoice_number(l.invoice_number);
  out.set_invoice_line(
      static_cast<int32_t>(l.invoice_line > 0 || l.invoice_number.empty() ? l.invoice_line : 1));
  out.set_original_invoice_number(l.original_invoice_number);
  if (!l.customer.empty()) *out.mutable_end_customer() = PartyOf(l.customer);
  out.set_end_customer_id(l.customer.customer_id);
  out.set_customer_key(customer_key);
  out.set_domain_key(domain_key);
  out.set_deal_registration_id(l.deal_registration_id);
  out.set_spa_id(l.spa_id);
  out.set_inventory_delta(InventoryDelta(activity, qty));
  return v;
}

v1::RejectedLine RejectOf(const parse::Issue& issue) {
  v1::RejectedLine r;
  r.set_line_number(issue.line_number);
  r.set_field(issue.field);
  r.set_code(issue.code == parse::IssueCode::kMissingField ? v1::REJECT_CODE_MISSING_FIELD
                                                           : v1::REJECT_CODE_MALFORMED);
  r.set_message(issue.message);
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

std::string LineIdentity(const v1::PosLine& line) {
  if (line.invoice_number().empty()) return "";
  std::string key = line.partner_id();
  key.push_back('\0');
  key.append(line.invoice_number());
  key.push_back('\0');
  uint32_t n = static_cast<uint32_t>(line.invoice_line());
  for (int shift = 24; shift >= 0; shift -= 8)
    key.push_back(static_cast<char>((n >> shift) & 0xff));
  return key;
}

}  // namespace channelops::pos::domain
