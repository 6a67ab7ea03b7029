#include "channelops/core/grpc_status.h"

#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl_string_view.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace channelops::core {
namespace {

using internal::ToAbsl;
using internal::ToStd;

constexpr char kTypeUrlPrefix[] = "type.googleapis.com/";

absl::Cord Serialize(const google::protobuf::MessageLite& m) {
  std::string bytes;
  // Serializing a message we just built cannot fail (no required fields).
  m.SerializeToString(&bytes);
  return absl::Cord(std::move(bytes));
}

google::rpc::BadRequest ToBadRequest(
    const std::vector<std::pair<std::string, std::string>>& violations, size_t limit) {
  google::rpc::BadRequest br;
  for (size_t i = 0; i < violations.size() && i < limit; ++i) {
    auto* fv = br.add_field_violations();
    fv->set_field(violations[i].first);
    fv->set_description(violations[i].second);
  }
  return br;
}

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  int raw = static_cast<int>(status.code());
  // absl::StatusCode and grpc::StatusCode are both the canonical google.rpc.Code.
  grpc::StatusCode code =
      (raw >= 1 && raw <= 16) ? static_cast<grpc::StatusCode>(raw) : grpc::StatusCode::UNKNOWN;
  std::string message(status.message());

  google::rpc::Status rpc_status;
  status.ForEachPayload([&](absl::string_view type_url, const absl::Cord& payload) {
    if (!absl::StartsWith(type_url, kTypeUrlPrefix)) return;
    google::protobuf::Any* any = rpc_status.add_details();
    any->set_type_url(std::string(type_url));
    any->set_value(std::string(payload));
  });
  if (rpc_status.details_size() == 0) return grpc::Status(code, message);
  rpc_status.set_code(static_cast<int>(code));
  rpc_status.set_message(message);
  return grpc::Status(code, message, rpc_status.SerializeAsString());
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  int raw = static_cast<int>(status.error_code());
  absl::StatusCode code =
      (raw >= 1 && raw <= 16) ? static_cast<absl::StatusCode>(raw) : absl::StatusCode::kUnknown;
  absl::Status out(code, status.error_message());
  std::string details = status.error_details();
  if (details.empty()) return out;
  google::rpc::Status rpc_status;
  if (!rpc_status.ParseFromString(details)) return out;
  for (const google::protobuf::Any& any : rpc_status.details()) {
    out.SetPayload(any.type_url(), absl::Cord(any.value()));
  }
  return out;
}

absl::Status InvalidArgument(std::string_view field, std::string_view reason) {
  absl::Status s = absl::InvalidArgumentError(absl::StrCat(ToAbsl(field), ": ", ToAbsl(reason)));
  google::rpc::BadRequest br;
  auto* fv = br.add_field_violations();
  fv->set_field(std::string(field));
  fv->set_description(std::string(reason));
  s.SetPayload(kBadRequestTypeUrl, Serialize(br));
  return s;
}

absl::Status FailedPrecondition(std::string_view subject, std::string_view reason) {
  absl::Status s =
      absl::FailedPreconditionError(absl::StrCat(ToAbsl(subject), ": ", ToAbsl(reason)));
  google::rpc::PreconditionFailure pf;
  auto* v = pf.add_violations();
  v->set_subject(std::string(subject));
  v->set_description(std::string(reason));
  s.SetPayload(kPreconditionFailureTypeUrl, Serialize(pf));
  return s;
}

std::vector<std::pair<std::string, std::string>> GetFieldViolations(const absl::Status& status) {
  std::vector<std::pair<std::string, std::string>> out;
  auto payload = status.GetPayload(kBadRequestTypeUrl);
  if (!payload.has_value()) return out;
  google::rpc::BadRequest br;
  if (!br.ParseFromString(std::string(*payload))) return out;
  out.reserve(br.field_violations_size());
  for (const auto& fv : br.field_violations()) out.emplace_back(fv.field(), fv.description());
  return out;
}

void FieldViolations::Add(std::string_view field, std::string_view reason) {
  violations_.emplace_back(std::string(field), std::string(reason));
}

void FieldViolations::AddFrom(const absl::Status& status, std::string_view field_if_none) {
  if (status.ok()) return;
  auto carried = GetFieldViolations(status);
  if (carried.empty()) {
    Add(field_if_none, ToStd(status.message()));
    return;
  }
  for (auto& v : carried) violations_.push_back(std::move(v));
}

absl::Status FieldViolations::ToStatus() const {
  if (violations_.empty()) return absl::OkStatus();
  std::string message;
  for (size_t i = 0; i < violations_.size() && i < kMaxReported; ++i) {
    if (i > 0) message.append("; ");
    absl::StrAppend(&message, violations_[i].first, ": ", violations_[i].second);
  }
  if (violations_.size() > kMaxReported) {
    absl::StrAppend(&message, "; and ", violations_.size() - kMaxReported, " more");
  }
  absl::Status s = absl::InvalidArgumentError(message);
  s.SetPayload(kBadRequestTypeUrl, Serialize(ToBadRequest(violations_, kMaxReported)));
  return s;
}

}  // namespace channelops::core
