#include "pos_ingestion/domain/validation.h"

#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "channelops/core/grpc_status.h"
#include "channelops/core/money.h"
#include "channelops/core/strings.h"
#include "channelops/core/validation.h"
#include "pos_ingestion/domain/convert.h"

namespace channelops::pos::domain {
namespace {

using core::FieldViolations;

constexpr char kTokenPrefix[] = "pos1:";

void Id(FieldViolations& v, const std::string& field, const std::string& value, bool required) {
  core::ValidateId(v, field, value, required, kMaxIdLength);
}

void Text(FieldViolations& v, const std::string& field, const std::string& value, size_t max,
          bool required) {
  core::ValidateText(v, field, value, max, required);
}

void RequestId(FieldViolations& v, const std::string& request_id) {
  Id(v, "request_id", request_id, true);
}

void MoneyShape(FieldViolations& v, const std::string& field, const common::v1::Money& m,
                bool required) {
  if (!required && m.currency_code().empty() && m.amount_micros() == 0) return;
  auto money = core::Money::FromProto(m, field);
  if (!money.ok()) {
    v.AddFrom(money.status(), field);
    return;
  }
  if (money->is_negative()) v.Add(absl::StrCat(field, ".amount_micros"), "must not be negative");
}

// A timestamp within years 1..9999.
bool ValidTime(const google::protobuf::Timestamp& ts) {
  return ts.seconds() >= -62135596800LL && ts.seconds() <= 253402300799LL && ts.nanos() >= 0 &&
         ts.nanos() <= 999'999'999;
}

void Time(FieldViolations& v, const std::string& field, const google::protobuf::Timestamp& ts) {
  if (!ValidTime(ts)) v.Add(field, "must be a timestamp between years 1 and 9999");
}

void Period(FieldViolations& v, const std::string& field, const common::v1::Period& p) {
  auto start = ParseDate(p.start_date());
  auto end = ParseDate(p.end_date());
  if (!start) v.Add(absl::StrCat(field, ".start_date"), "must be a YYYY-MM-DD date");
  if (!end) v.Add(absl::StrCat(field, ".end_date"), "must be a YYYY-MM-DD date");
  if (start && end && *end <= *start) {
    v.Add(absl::StrCat(field, ".end_date"), "must be after start_date (the end is exclusive)");
  }
  if (start && end && *end - *start > 3660) {
    v.Add(absl::StrCat(field, ".end_date"), "a period spans at most 10 years");
  }
}

void PageSize(FieldViolations& v, int32_t size) {
  if (size < 0 || size > kMaxPageSize) {
    v.Add("page_size", absl::StrCat("must be between 0 and ", kMaxPageSize));
  }
}

void PageToken(FieldViolations& v, const std::string& token) {
  std::string ignored;
  if (!token.empty() && !DecodePageToken(token, &ignored)) {
    v.Add("page_token", "is not a token returned by this API");
  }
}

}  // namespace

std::string EncodePageToken(const std::string& last_key) {
  return absl::WebSafeBase64Escape(absl::StrCat(kTokenPrefix, last_key));
}

bool DecodePageToken(const std::string& token, std::string* last_key) {
  std::string raw;
  if (!absl::WebSafeBase64Unescape(token, &raw)) return false;
  if (raw.rfind(kTokenPrefix, 0) != 0) return false;
  *last_key = raw.substr(sizeof(kTokenPrefix) - 1);
  return !last_key->empty();
}

absl::Status ValidateUpsertProduct(const v1::UpsertProductRequest& r) {
  FieldViolations v;
  RequestId(v, r.request_id());
  if (!r.has_product()) {
    v.Add("product", "is required");
    return v.ToStatus();
  }
  const v1::Product& p = r.product();
  Id(v, "product.sku", p.sku(), true);
  Text(v, "product.product_line", p.product_line(), kMaxNameLength, true);
  if (p.unit_of_measure().empty()) {
    v.Add("product.unit_of_measure", "is required");
  } else if (!IsSupportedUnit(p.unit_of_measure())) {
    v.Add("product.unit_of_measure",
          "must be one of EA, CA, BX, PK, DZ, PL, KT, ST, RL, UN (X12 unit codes, upper case)");
  }
  MoneyShape(v, "product.list_price", p.list_price(), true);
  Text(v, "product.description", p.description(), kMaxTextLength, false);
  return v.ToStatus();
}

absl::Status ValidateGetProduct(const v1::GetProductRequest& r) {
  FieldViolations v;
  Id(v, "sku", r.sku(), true);
  return v.ToStatus();
}

absl::Status ValidateChangePrice(const v1::ChangePriceRequest& r) {
  FieldViolations v;
  RequestId(v, r.request_id());
  Id(v, "sku", r.sku(), true);
  MoneyShape(v, "new_price", r.new_price(), true);
  if (r.has_effective_at()) Time(v, "effective_at", r.effective_at());
  return v.ToStatus();
}

absl::Status ValidateSetPriceProtectionTerms(const v1::SetPriceProtectionTermsRequest& r) {
  FieldViolations v;
  RequestId(v, r.request_id());
  if (!r.has_terms()) {
    v.Add("terms", "is required");
    return v.ToStatus();
  }
  const v1::PriceProtectionTerms& t = r.terms();
  Id(v, "terms.program_id", t.program_id(), true);
  if (t.supported_bps() < 0 || t.supported_bps() > 10000) {
    v.Add("terms.supported_bps", "must be between 0 and 10000 basis points");
  }
  if (t.claim_window_days() < 0 || t.claim_window_days() > kMaxDays) {
    v.Add("terms.claim_window_days", absl::StrCat("must be between 0 and ", kMaxDays));
  }
  if (t.eligibility_days() < 0 || t.eligibility_days() > kMaxDays) {
    v.Add("terms.eligibility_days", absl::StrCat("must be between 0 and ", kMaxDays));
  }
  if (t.partner_ids_size() > kMaxProgramPartners) {
    v.Add("terms.partner_ids",
          absl::StrCat("must list at most ", kMaxProgramPartners, " partners"));
  } else {
    for (int i = 0; i < t.partner_ids_size(); ++i) {
      Id(v, absl::StrCat("terms.partner_ids[", i, "]"), t.partner_ids(i), true);
    }
  }
  if (t.partner_ids_size() == 0 && !t.default_program()) {
    v.Add("terms.partner_ids", "must enrol at least one partner unless default_program is set");
  }
  return v.ToStatus();
}

absl::Status ValidateRecordShipments(const v1::RecordShipmentsRequest& r) {
  FieldViolations v;
  RequestId(v, r.request_id());
  if (r.shipments().empty()) v.Add("shipments", "must have at least one shipment");
  if (r.shipments_size() > kMaxShipments) {
    v.Add("shipments", absl::StrCat("must have at most ", kMaxShipments, " shipments, got ",
                                    r.shipments_size()));
    return v.ToStatus();
  }
  std::set<std::string> ids;
  for (int i = 0; i < r.shipments_size(); ++i) {
    const v1::Shipment& s = r.shipments(i);
    const std::string at = absl::StrCat("shipments[", i, "]");
    Id(v, at + ".shipment_id", s.shipment_id(), true);
    if (!s.shipment_id().empty() && !ids.insert(s.shipment_id()).second) {
      v.Add(at + ".shipment_id", "appears twice in the request");
    }
    Id(v, at + ".partner_id", s.partner_id(), true);
    Id(v, at + ".sku", s.sku(), true);
    if (s.quantity() <= 0 || s.quantity() > kMaxQuantity) {
      v.Add(at + ".quantity", absl::StrCat("must be between 1 and ", kMaxQuantity));
    }
    MoneyShape(v, at + ".unit_price", s.unit_price(), true);
    if (!s.has_shipped_at()) {
      v.Add(at + ".shipped_at", "is required");
    } else {
      Time(v, at + ".shipped_at", s.shipped_at());
    }
    if (s.has_received_at()) {
      Time(v, at + ".received_at", s.received_at());
      if (s.has_shipped_at() && ValidTime(s.received_at()) && ValidTime(s.shipped_at()) &&
          FromProtoTime(s.received_at()) < FromProtoTime(s.shipped_at())) {
        v.Add(at + ".received_at", "must not be before shipped_at");
      }
    }
  }
  return v.ToStatus();
}

absl::Status ValidateReportHeader(const v1::ReportHeader& h) {
  FieldViolations v;
  Id(v, "header.report_id", h.report_id(), true);
  Id(v, "header.partner_id", h.partner_id(), true);
  if (h.kind() == v1::REPORT_KIND_UNSPECIFIED || !v1::ReportKind_IsValid(h.kind())) {
    v.Add("header.kind", "must be SELL_THROUGH, INVENTORY or RETURNS");
  }
  if (h.format() == v1::REPORT_FORMAT_UNSPECIFIED || !v1::ReportFormat_IsValid(h.format())) {
    v.Add("header.format", "must be LINES, CSV, X12_867 or X12_852");
  }
  if (h.format() == v1::REPORT_FORMAT_X12_852 && h.kind() != v1::REPORT_KIND_INVENTORY) {
    v.Add("header.kind", "an X12 852 report is an INVENTORY report");
  }
  if (h.format() == v1::REPORT_FORMAT_X12_867 && h.kind() == v1::REPORT_KIND_INVENTORY) {
    v.Add("header.kind", "an X12 867 report is a SELL_THROUGH or RETURNS report");
  }
  Period(v, "header.period", h.period());
  Id(v, "header.corrects_report_id", h.corrects_report_id(), false);
  if (!h.corrects_report_id().empty() && h.corrects_report_id() == h.report_id()) {
    v.Add("header.corrects_report_id", "a report cannot correct itself");
  }
  if (!h.currency_code().empty() && !core::IsIsoCurrencyCode(h.currency_code())) {
    v.Add("header.currency_code", "must be a 3-letter ISO 4217 code");
  }
  return v.ToStatus();
}

absl::Status ValidateGetReport(const v1::GetReportRequest& r) {
  FieldViolations v;
  Id(v, "report_id", r.report_id(), true);
  return v.ToStatus();
}

absl::Status ValidateListRejectedLines(const v1::ListRejectedLinesRequest& r) {
  FieldViolations v;
  Id(v, "report_id", r.report_id(), true);
  PageSize(v, r.page_size());
  PageToken(v, r.page_token());
  return v.ToStatus();
}

absl::Status ValidateGetChannelInventory(const v1::GetChannelInventoryRequest& r) {
  FieldViolations v;
  Id(v, "partner_id", r.partner_id(), true);
  Id(v, "sku", r.sku(), false);
  if (r.has_as_of()) Time(v, "as_of", r.as_of());
  return v.ToStatus();
}

absl::Status ValidateReconcileInventory(const v1::ReconcileInventoryRequest& r) {
  FieldViolations v;
  Id(v, "report_id", r.report_id(), true);
  return v.ToStatus();
}

absl::Status ValidateGetSellThrough(const v1::GetSellThroughRequest& r) {
  FieldViolations v;
  Id(v, "partner_id", r.partner_id(), true);
  Id(v, "sku", r.sku(), false);
  Period(v, "period", r.period());
  return v.ToStatus();
}

absl::Status ValidateListPriceProtectionCredits(const v1::ListPriceProtectionCreditsRequest& r) {
  FieldViolations v;
  Id(v, "partner_id", r.partner_id(), false);
  Id(v, "sku", r.sku(), false);
  PageSize(v, r.page_size());
  PageToken(v, r.page_token());
  return v.ToStatus();
}

}  // namespace channelops::pos::domain
