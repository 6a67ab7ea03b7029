#pragma once

// Shape validation of every PosIngestionService request: what can be decided
// from the request alone (required fields, lengths, enums, money shape, dates,
// limits). Each function returns OK or INVALID_ARGUMENT carrying every
// violation found (core::FieldViolations, so the gRPC status has
// google.rpc.BadRequest details naming the fields). Checks that need state
// (unknown SKU, the product's currency, the corrected report) are made by
// Decide. Report lines are not requests: they are validated one by one
// (lines.h) and rejected, never failing the stream. Pure and thread-safe.

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "channelops/pos/v1/pos.pb.h"

namespace channelops::pos::domain {

inline constexpr size_t kMaxIdLength = 128;     // ids: request, partner, SKU, report, shipment
inline constexpr size_t kMaxNameLength = 200;   // product line
inline constexpr size_t kMaxTextLength = 2000;  // description
inline constexpr int64_t kMaxQuantity = 1'000'000'000;
inline constexpr int kMaxShipments = 10'000;
inline constexpr int kMaxProgramPartners = 10'000;
inline constexpr int32_t kMaxDays = 3650;
inline constexpr int32_t kMaxPageSize = 1000;
inline constexpr int32_t kDefaultPageSize = 100;
inline constexpr int kMaxLinesPerMessage = 5000;
inline constexpr size_t kMaxChunkBytes = 4 << 20;

absl::Status ValidateUpsertProduct(const v1::UpsertProductRequest& r);
absl::Status ValidateGetProduct(const v1::GetProductRequest& r);
absl::Status ValidateChangePrice(const v1::ChangePriceRequest& r);
absl::Status ValidateSetPriceProtectionTerms(const v1::SetPriceProtectionTermsRequest& r);
absl::Status ValidateRecordShipments(const v1::RecordShipmentsRequest& r);
// The first message of IngestReport (fields named "header.<field>").
absl::Status ValidateReportHeader(const v1::ReportHeader& h);
absl::Status ValidateGetReport(const v1::GetReportRequest& r);
absl::Status ValidateListRejectedLines(const v1::ListRejectedLinesRequest& r);
absl::Status ValidateGetChannelInventory(const v1::GetChannelInventoryRequest& r);
absl::Status ValidateReconcileInventory(const v1::ReconcileInventoryRequest& r);
absl::Status ValidateGetSellThrough(const v1::GetSellThroughRequest& r);
absl::Status ValidateListPriceProtectionCredits(const v1::ListPriceProtectionCreditsRequest& r);

// Page tokens: an opaque web-safe base64 of the last key returned.
std::string EncodePageToken(const std::string& last_key);
// false if `token` is not a token we issued.
bool DecodePageToken(const std::string& token, std::string* last_key);

}  // namespace channelops::pos::domain
