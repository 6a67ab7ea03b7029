#pragma once

// Shape validation of every MdfService request, and of the shipments consumed
// from the POS topic: what can be decided from the message alone (required
// fields, lengths, enums, money shape and sign, one currency per message, date
// order, proof hashes). Each function returns OK or INVALID_ARGUMENT carrying
// every violation found (core::FieldViolations, so the gRPC status has
// google.rpc.BadRequest details naming the fields, e.g.
// "details.end_date", "proofs[1].content_hash"). Checks that need state (the
// fund's currency, the amount still unclaimed, the claim deadline) are made by
// Decide. Pure and thread-safe.

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "channelops/core/validation.h"
#include "channelops/mdf/v1/mdf.pb.h"
#include "channelops/pos/v1/events.pb.h"

namespace channelops::mdf::domain {

inline constexpr size_t kMaxIdLength =
    core::kMaxIdLength;                        // ids: request, fund, partner, campaign, payment ref
inline constexpr size_t kMaxNameLength = 200;  // names, proof descriptions
inline constexpr size_t kMaxTextLength = 2000;  // reasons, descriptions, URIs
inline constexpr int kMaxProofs = 50;
// Bound on any single amount: 1e9 units (1e15 micros), far above any fund,
// far below int64 overflow of the sums.
inline constexpr int64_t kMaxAmountMicros = 1'000'000'000'000'000;
inline constexpr int64_t kMaxCount = 1'000'000'000;  // leads, attendees, opportunities, quantity
inline constexpr int32_t kMaxPageSize = 500;
inline constexpr int32_t kDefaultPageSize = 50;
inline constexpr char kSha256Prefix[] = "sha256:";

absl::Status ValidateAllocateFunds(const v1::AllocateFundsRequest& r);
absl::Status ValidateAdjustFunds(const v1::AdjustFundsRequest& r);
absl::Status ValidateGetFund(const v1::GetFundRequest& r);
absl::Status ValidateListFunds(const v1::ListFundsRequest& r);
absl::Status ValidateSubmitFundRequest(const v1::SubmitFundRequestRequest& r);
absl::Status ValidateResubmitFundRequest(const v1::ResubmitFundRequestRequest& r);
absl::Status ValidateDecideFundRequest(const v1::DecideFundRequestRequest& r);
absl::Status ValidateCloseFundRequest(const v1::CloseFundRequestRequest& r);
absl::Status ValidateGetFundRequest(const v1::GetFundRequestRequest& r);
absl::Status ValidateListFundRequests(const v1::ListFundRequestsRequest& r);
absl::Status ValidateSubmitClaim(const v1::SubmitClaimRequest& r);
absl::Status ValidateDecideClaim(const v1::DecideClaimRequest& r);
absl::Status ValidateRecordPayment(const v1::RecordPaymentRequest& r);
absl::Status ValidateGetClaim(const v1::GetClaimRequest& r);
absl::Status ValidateListClaims(const v1::ListClaimsRequest& r);
absl::Status ValidateGetPartnerStatement(const v1::GetPartnerStatementRequest& r);

// A consumed sell-in shipment (channelops.pos.v1.ShipmentRecorded): ids, a
// positive quantity, and a purchase value (extended_amount, else unit_price)
// with a valid currency; both in one currency when both are given.
absl::Status ValidateShipment(const pos::v1::ShipmentRecorded& s);

// Canonical form of a proof hash: "sha256:" + lower-case hex.
std::string NormalizeContentHash(const std::string& hash);

}  // namespace channelops::mdf::domain
