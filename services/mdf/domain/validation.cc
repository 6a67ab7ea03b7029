#include "mdf/domain/validation.h"

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "channelops/core/grpc_status.h"
#include "channelops/core/money.h"
#include "channelops/core/strings.h"
#include "channelops/core/validation.h"
#include "mdf/domain/convert.h"

namespace channelops::mdf::domain {
namespace {

using core::FieldViolations;

std::string At(const std::string& prefix, const char* field) {
  return prefix.empty() ? std::string(field) : absl::StrCat(prefix, ".", field);
}

void Id(FieldViolations& v, const std::string& field, const std::string& value, bool required) {
  core::ValidateId(v, field, value, required, kMaxIdLength);
}

void Text(FieldViolations& v, const std::string& field, const std::string& value, size_t max,
          bool required) {
  core::ValidateText(v, field, value, max, required);
}

void RequestId(FieldViolations& v, const std::string& request_id) {
  core::ValidateRequestId(v, request_id);
}

enum class Sign { kPositive, kNonNegative, kNonZero };

// A money field: valid ISO currency, the sign asked, and within kMaxAmountMicros.
// Returns whether it is well formed (so callers can compare currencies).
bool MoneyShape(FieldViolations& v, const std::string& field, const common::v1::Money& m,
                Sign sign) {
  auto money = core::Money::FromProto(m, field);
  if (!money.ok()) {
    v.AddFrom(money.status(), field);
    return false;
  }
  const std::string amount = At(field, "amount_micros");
  const int64_t micros = money->micros();
  if (sign == Sign::kPositive && micros <= 0) {
    v.Add(amount, "must be positive");
    return false;
  }
  if (sign == Sign::kNonNegative && micros < 0) {
    v.Add(amount, "must not be negative");
    return false;
  }
  if (sign == Sign::kNonZero && micros == 0) {
    v.Add(amount, "must not be zero");
    return false;
  }
  if (micros > kMaxAmountMicros || micros < -kMaxAmountMicros) {
    v.Add(amount, absl::StrCat("must be at most ", kMaxAmountMicros / core::Money::kMicrosPerUnit,
                               " units in magnitude"));
    return false;
  }
  return true;
}

void Count(FieldViolations& v, const std::string& field, int64_t n) {
  if (n < 0) {
    v.Add(field, "must not be negative");
  } else if (n > kMaxCount) {
    v.Add(field, absl::StrCat("must be at most ", kMaxCount));
  }
}

bool Date(FieldViolations& v, const std::string& field, const std::string& value) {
  if (value.empty()) {
    v.Add(field, "is required");
    return false;
  }
  if (!ParseDate(value).has_value()) {
    v.Add(field, "must be a calendar date YYYY-MM-DD");
    return false;
  }
  return true;
}

void Period(FieldViolations& v, const std::string& field, bool present,
            const common::v1::Period& p) {
  if (!present) {
    v.Add(field, "is required");
    return;
  }
  bool start_ok = Date(v, At(field, "start_date"), p.start_date());
  bool end_ok = Date(v, At(field, "end_date"), p.end_date());
  if (start_ok && end_ok && *ParseDate(p.end_date()) <= *ParseDate(p.start_date())) {
    v.Add(At(field, "end_date"), "must be after start_date (the period is [start, end))");
  }
}

void Timestamp(FieldViolations& v, const std::string& field, bool present,
               const google::protobuf::Timestamp& ts) {
  if (!present) {
    v.Add(field, "is required");
    return;
  }
  // google.protobuf.Timestamp's range: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z.
  if (ts.seconds() < -62135596800 || ts.seconds() > 253402300799 || ts.nanos() < 0 ||
      ts.nanos() > 999999999) {
    v.Add(field, "must be a valid timestamp");
  }
}

void PageToken(FieldViolations& v, const std::string& token) {
  std::string decoded;
  if (!token.empty() && (!absl::WebSafeBase64Unescape(token, &decoded) || decoded.empty())) {
    v.Add("page_token", "is not a token returned by this service");
  }
}

void PageSize(FieldViolations& v, int32_t size) {
  if (size < 0 || size > kMaxPageSize) {
    v.Add("page_size", absl::StrCat("must be between 0 and ", kMaxPageSize));
  }
}

void Details(FieldViolations& v, const std::string& prefix, bool present,
             const v1::FundRequestDetails& d) {
  if (!present) {
    v.Add(prefix, "is required");
    return;
  }
  Id(v, At(prefix, "campaign_id"), d.campaign_id(), false);
  if (!v1::ActivityType_IsValid(d.activity_type()) ||
      d.activity_type() == v1::ACTIVITY_TYPE_UNSPECIFIED) {
    v.Add(At(prefix, "activity_type"), "must be one of the ActivityType values");
  }
  Text(v, At(prefix, "name"), d.name(), kMaxNameLength, true);
  Text(v, At(prefix, "description"), d.description(), kMaxTextLength, false);
  bool start_ok = Date(v, At(prefix, "start_date"), d.start_date());
  bool end_ok = Date(v, At(prefix, "end_date"), d.end_date());
  if (start_ok && end_ok && *ParseDate(d.end_date()) < *ParseDate(d.start_date())) {
    v.Add(At(prefix, "end_date"), absl::StrCat("must not be before start_date ", d.start_date()));
  }
  const std::string planned = At(prefix, "planned_cost");
  const std::string requested = At(prefix, "requested_amount");
  bool planned_ok = MoneyShape(v, planned, d.planned_cost(), Sign::kPositive);
  bool requested_ok = MoneyShape(v, requested, d.requested_amount(), Sign::kPositive);
  if (planned_ok && requested_ok) {
    if (d.requested_amount().currency_code() != d.planned_cost().currency_code()) {
      v.Add(At(requested, "currency_code"), absl::StrCat("must be the currency of planned_cost (",
                                                         d.planned_cost().currency_code(), ")"));
    } else if (d.requested_amount().amount_micros() > d.planned_cost().amount_micros()) {
      v.Add(requested, "must not exceed planned_cost");
    }
  }
  Count(v, At(prefix, "expected_leads"), d.expected_leads());
  if (HasMoney(d.expected_revenue())) {
    const std::string revenue = At(prefix, "expected_revenue");
    if (MoneyShape(v, revenue, d.expected_revenue(), Sign::kNonNegative) && planned_ok &&
        d.expected_revenue().currency_code() != d.planned_cost().currency_code()) {
      v.Add(At(revenue, "currency_code"), absl::StrCat("must be the currency of planned_cost (",
                                                       d.planned_cost().currency_code(), ")"));
    }
  }
}

bool IsHex(const std::string& s) {
  for (char c : s) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

void Proof(FieldViolations& v, const std::string& prefix, const v1::ProofOfPerformance& p) {
  if (!v1::ProofKind_IsValid(p.kind()) || p.kind() == v1::PROOF_KIND_UNSPECIFIED) {
    v.Add(At(prefix, "kind"), "must be INVOICE, PHOTO, ATTENDEE_LIST or REPORT");
  }
  const std::string hash_field = At(prefix, "content_hash");
  const std::string& h = p.content_hash();
  const size_t prefix_len = sizeof(kSha256Prefix) - 1;
  if (h.empty()) {
    v.Add(hash_field, "is required: the SHA-256 of the document, \"sha256:<64 hex digits>\"");
  } else if (h.size() != prefix_len + 64 || !absl::StartsWithIgnoreCase(h, kSha256Prefix) ||
             !IsHex(h.substr(prefix_len))) {
    v.Add(hash_field, "must be \"sha256:\" followed by 64 hex digits");
  }
  const std::string uri_field = At(prefix, "uri");
  if (p.uri().empty()) {
    v.Add(uri_field, "is required");
  } else if (p.uri().size() > kMaxTextLength) {
    v.Add(uri_field, absl::StrCat("must be at most ", kMaxTextLength, " characters"));
  } else if (!core::IsValidIdentifier(p.uri(), kMaxTextLength) ||
             p.uri().find(':') == std::string::npos) {
    v.Add(uri_field, "must be an absolute URI without spaces (e.g. s3://bucket/key)");
  }
  Text(v, At(prefix, "description"), p.description(), kMaxNameLength, false);
}

}  // namespace

std::string NormalizeContentHash(const std::string& hash) { return absl::AsciiStrToLower(hash); }

absl::Status ValidateAllocateFunds(const v1::AllocateFundsRequest& r) {
  FieldViolations v;
  RequestId(v, r.request_id());
  Id(v, "fund_id", r.fund_id(), true);
  Id(v, "partner_id", r.partner_id(), true);
  if (r.kind() != v1::FUND_KIND_MDF && r.kind() != v1::FUND_KIND_COOP) {
    v.Add("kind", "must be FUND_KIND_MDF or FUND_KIND_COOP");
  }
  Period(v, "period", r.has_period(), r.period());
  // A co-op fund may open empty: it accrues from purchases.
  MoneyShape(v, "amount", r.amount(),
             r.kind() == v1::FUND_KIND_COOP ? Sign::kNonNegative : Sign::kPositive);
  Timestamp(v, "expires_at", r.has_expires_at(), r.expires_at());
  Text(v, "name", r.name(), kMaxNameLength, false);
  return v.ToStatus();
}

absl::Status ValidateAdjustFunds(const v1::AdjustFundsRequest& r) {
  FieldViolations v;
  RequestId(v, r.request_id());
  Id(v, "fund_id", r.fund_id(), true);
  MoneyShape(v, "amount", r.amount(), Sign::kNonZero);
  Text(v, "reason", r.reason(), kMaxTextLength, true);
  return v.ToStatus();
}

absl::Status ValidateGetFund(const v1::GetFundRequest& r) {
  FieldViolations v;
  Id(v, "fund_id", r.fund_id(), true);
  return v.ToStatus();
}

absl::Status ValidateListFunds(const v1::ListFundsRequest& r) {
  FieldViolations v;
  Id(v, "partner_id", r.partner_id(), true);
  if (!v1::FundKind_IsValid(r.kind())) v.Add("kind", "must be a FundKind value");
  if (!v1::FundStatus_IsValid(r.status())) v.Add("status", "must be a FundStatus value");
  return v.ToStatus();
}

absl::Status ValidateSubmitFundRequest(const v1::SubmitFundRequestRequest& r) {
  FieldViolations v;
  RequestId(v, r.request_id());
  Id(v, "fund_id", r.fund_id(), true);
  Id(v, "partner_id", r.partner_id(), true);
  Details(v, "details", r.has_details(), r.details());
  return v.ToStatus();
}

absl::Status ValidateResubmitFundRequest(const v1::ResubmitFundRequestRequest& r) {
  FieldViolations v;
  RequestId(v, r.request_id());
  Id(v, "fund_request_id", r.fund_request_id(), true);
  Details(v, "details", r.has_details(), r.details());
  return v.ToStatus();
}

absl::Status ValidateDecideFundRequest(const v1::DecideFundRequestRequest& r) {
  FieldViolations v;
  RequestId(v, r.request_id());
  Id(v, "fund_request_id", r.fund_request_id(), true);
  const auto d = r.decision();
  if (d != v1::FUND_REQUEST_DECISION_APPROVE && d != v1::FUND_REQUEST_DECISION_REJECT &&
      d != v1::FUND_REQUEST_DECISION_RETURN) {
    v.Add("decision", "must be APPROVE, REJECT or RETURN");
  }
  if (HasMoney(r.approved_amount())) {
    if (d != v1::FUND_REQUEST_DECISION_APPROVE) {
      v.Add("approved_amount", "is only allowed with APPROVE");
    } else {
      MoneyShape(v, "approved_amount", r.approved_amount(), Sign::kPositive);
    }
  }
  bool reason_required =
      d == v1::FUND_REQUEST_DECISION_REJECT || d == v1::FUND_REQUEST_DECISION_RETURN;
  Text(v, "reason", r.reason(), kMaxTextLength, reason_required);
  return v.ToStatus();
}

absl::Status ValidateCloseFundRequest(const v1::CloseFundRequestRequest& r) {
  FieldViolations v;
  RequestId(v, r.request_id());
  Id(v, "fund_request_id", r.fund_request_id(), true);
  Text(v, "reason", r.reason(), kMaxTextLength, false);
  return v.ToStatus();
}

absl::Status ValidateGetFundRequest(const v1::GetFundRequestRequest& r) {
  FieldViolations v;
  Id(v, "fund_request_id", r.fund_request_id(), true);
  return v.ToStatus();
}

absl::Status ValidateListFundRequests(const v1::ListFundRequestsRequest& r) {
  FieldViolations v;
  Id(v, "fund_id", r.fund_id(), false);
  Id(v, "partner_id", r.partner_id(), false);
  if (!v1::FundRequestStatus_IsValid(r.status())) {
    v.Add("status", "must be a FundRequestStatus value");
  }
  PageSize(v, r.page_size());
  PageToken(v, r.page_token());
  return v.ToStatus();
}

absl::Status ValidateSubmitClaim(const v1::SubmitClaimRequest& r) {
  FieldViolations v;
  RequestId(v, r.request_id());
  Id(v, "fund_request_id", r.fund_request_id(), true);
  Id(v, "partner_id", r.partner_id(), true);
  bool cost_ok = MoneyShape(v, "actual_cost", r.actual_cost(), Sign::kPositive);
  bool claimed_ok = MoneyShape(v, "claimed_amount", r.claimed_amount(), Sign::kPositive);
  if (cost_ok && claimed_ok) {
    if (r.claimed_amount().currency_code() != r.actual_cost().currency_code()) {
      v.Add("claimed_amount.currency_code", absl::StrCat("must be the currency of actual_cost (",
                                                         r.actual_cost().currency_code(), ")"));
    } else if (r.claimed_amount().amount_micros() > r.actual_cost().amount_micros()) {
      v.Add("claimed_amount", "must not exceed actual_cost");
    }
  }
  if (r.proofs().empty()) {
    v.Add("proofs", "at least one proof of performance is required");
  } else if (r.proofs().size() > kMaxProofs) {
    v.Add("proofs", absl::StrCat("must have at most ", kMaxProofs, " documents"));
  } else {
    for (int i = 0; i < r.proofs().size(); ++i) {
      Proof(v, absl::StrCat("proofs[", i, "]"), r.proofs(i));
    }
  }
  Count(v, "results.leads", r.results().leads());
  Count(v, "results.attendees", r.results().attendees());
  Count(v, "results.opportunities", r.results().opportunities());
  Text(v, "description", r.description(), kMaxTextLength, false);
  return v.ToStatus();
}

absl::Status ValidateDecideClaim(const v1::DecideClaimRequest& r) {
  FieldViolations v;
  RequestId(v, r.request_id());
  Id(v, "claim_id", r.claim_id(), true);
  const auto d = r.decision();
  if (d != v1::CLAIM_DECISION_APPROVE && d != v1::CLAIM_DECISION_REJECT) {
    v.Add("decision", "must be APPROVE or REJECT");
  }
  if (HasMoney(r.approved_amount())) {
    if (d != v1::CLAIM_DECISION_APPROVE) {
      v.Add("approved_amount", "is only allowed with APPROVE");
    } else {
      MoneyShape(v, "approved_amount", r.approved_amount(), Sign::kPositive);
    }
  }
  Text(v, "reason", r.reason(), kMaxTextLength, d == v1::CLAIM_DECISION_REJECT);
  return v.ToStatus();
}

absl::Status ValidateRecordPayment(const v1::RecordPaymentRequest& r) {
  FieldViolations v;
  RequestId(v, r.request_id());
  Id(v, "claim_id", r.claim_id(), true);
  Id(v, "payment_reference", r.payment_reference(), true);
  return v.ToStatus();
}

absl::Status ValidateGetClaim(const v1::GetClaimRequest& r) {
  FieldViolations v;
  Id(v, "claim_id", r.claim_id(), true);
  return v.ToStatus();
}

absl::Status ValidateListClaims(const v1::ListClaimsRequest& r) {
  FieldViolations v;
  Id(v, "fund_request_id", r.fund_request_id(), false);
  Id(v, "fund_id", r.fund_id(), false);
  Id(v, "partner_id", r.partner_id(), false);
  if (!v1::ClaimStatus_IsValid(r.status())) v.Add("status", "must be a ClaimStatus value");
  PageSize(v, r.page_size());
  PageToken(v, r.page_token());
  return v.ToStatus();
}

absl::Status ValidateGetPartnerStatement(const v1::GetPartnerStatementRequest& r) {
  FieldViolations v;
  Id(v, "partner_id", r.partner_id(), true);
  Period(v, "period", r.has_period(), r.period());
  return v.ToStatus();
}

absl::Status ValidateShipment(const pos::v1::ShipmentRecorded& s) {
  FieldViolations v;
  Id(v, "shipment_id", s.shipment_id(), true);
  Id(v, "partner_id", s.partner_id(), true);
  if (s.quantity() <= 0 || s.quantity() > kMaxCount) {
    v.Add("quantity", absl::StrCat("must be between 1 and ", kMaxCount));
  }
  bool has_extended = HasMoney(s.extended_amount());
  bool has_unit = HasMoney(s.unit_price());
  if (!has_extended && !has_unit) {
    v.Add("extended_amount", "extended_amount or unit_price is required");
  }
  bool extended_ok =
      has_extended && MoneyShape(v, "extended_amount", s.extended_amount(), Sign::kNonNegative);
  bool unit_ok = has_unit && MoneyShape(v, "unit_price", s.unit_price(), Sign::kNonNegative);
  if (extended_ok && unit_ok &&
      s.extended_amount().currency_code() != s.unit_price().currency_code()) {
    v.Add("extended_amount.currency_code", "must be the currency of unit_price");
  }
  if (s.has_shipped_at()) Timestamp(v, "shipped_at", true, s.shipped_at());
  if (s.has_received_at()) Timestamp(v, "received_at", true, s.received_at());
  return v.ToStatus();
}

}  // namespace channelops::mdf::domain
