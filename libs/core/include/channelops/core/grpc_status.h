#pragma once

// The one bridge between absl::Status (used everywhere inside channelops) and
// grpc::Status (used only at the gRPC boundary), plus constructors for statuses
// that carry machine-readable error details.
//
// Rich details travel inside an absl::Status as payloads keyed by the type URL
// of a google.rpc error-detail message ("type.googleapis.com/google.rpc.BadRequest"
// holding a serialized google.rpc.BadRequest, and so on). ToGrpcStatus packs
// every such payload as a google.protobuf.Any into a serialized google.rpc.Status
// in grpc::Status::error_details() (the "grpc-status-details-bin" trailer that
// gRPC clients in every language understand); FromGrpcStatus does the reverse.
//
// All functions are pure and thread-safe.

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace channelops::core {

// Plain char arrays: they convert to both std::string_view and absl::string_view
// (distinct types in Debian's Abseil build).
inline constexpr char kBadRequestTypeUrl[] = "type.googleapis.com/google.rpc.BadRequest";
inline constexpr char kPreconditionFailureTypeUrl[] =
    "type.googleapis.com/google.rpc.PreconditionFailure";

// Maps `status` to the grpc::Status with the same code (the two enums agree
// value for value; a code outside 0..16 becomes UNKNOWN) and message. If the
// status is not OK and carries payloads whose type URL starts with
// "type.googleapis.com/", they are sent as a serialized google.rpc.Status
// {code, message, details} in the binary error details. An OK status maps to
// grpc::Status::OK, whatever its payloads.
grpc::Status ToGrpcStatus(const absl::Status& status);

// The inverse of ToGrpcStatus: same code and message; if the binary error
// details parse as a google.rpc.Status, each detail becomes a payload keyed by
// its type URL (so GetFieldViolations works on a status received from a peer).
// Unparseable details are ignored.
absl::Status FromGrpcStatus(const grpc::Status& status);

// INVALID_ARGUMENT "<field>: <reason>" carrying a google.rpc.BadRequest payload
// with the single violation {field, reason}. `field` is a path into the request
// as the client wrote it, e.g. "lines[2].unit_price.currency_code".
absl::Status InvalidArgument(std::string_view field, std::string_view reason);

// FAILED_PRECONDITION "<subject>: <reason>" carrying a
// google.rpc.PreconditionFailure payload with the violation
// {type: "", subject, description: reason}. For a request that is well formed
// but not allowed in the current state, e.g. ("deal/123", "deal is already approved").
absl::Status FailedPrecondition(std::string_view subject, std::string_view reason);

// The field violations carried by `status` (its BadRequest payload), in order;
// empty if it carries none. Meant for tests and for merging statuses.
std::vector<std::pair<std::string, std::string>> GetFieldViolations(const absl::Status& status);

// Collects every problem found while validating one request, so a client gets
// them all in one round trip:
//
//   FieldViolations v;
//   if (req.deal_id().empty()) v.Add("deal_id", "is required");
//   if (req.lines().empty()) v.Add("lines", "must not be empty");
//   CHANNELOPS_RETURN_IF_ERROR(v.ToStatus());
//
// Not thread-safe (a value type used by one request handler).
class FieldViolations {
 public:
  // At most this many violations are put in the status (message and payload):
  // gRPC clients reject trailers above 8 KiB by default, and a client that sent
  // 10,000 bad lines learns enough from the first few. The message says how many
  // more there were.
  static constexpr size_t kMaxReported = 20;

  void Add(std::string_view field, std::string_view reason);

  // Adds the field violations carried by `status`; a non-OK status without any
  // is added as one violation whose field is `field_if_none` and whose reason is
  // its message. An OK status adds nothing.
  void AddFrom(const absl::Status& status, std::string_view field_if_none = "");

  bool empty() const { return violations_.empty(); }
  size_t size() const { return violations_.size(); }
  const std::vector<std::pair<std::string, std::string>>& violations() const { return violations_; }

  // OK if empty. Otherwise INVALID_ARGUMENT whose message is "a: x; b: y" (in
  // the order added, the first kMaxReported, then "; and N more") and whose
  // BadRequest payload carries those same violations.
  absl::Status ToStatus() const;

 private:
  std::vector<std::pair<std::string, std::string>> violations_;
};

}  // namespace channelops::core
