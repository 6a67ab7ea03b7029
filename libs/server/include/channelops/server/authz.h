#pragma once

// Authorization by role, from one policy file loaded at start (--authz_policy,
// proto3 JSON of channelops.authz.v1.Policy; example deploy/authz/policy.json).
//
// Every handler calls Authorize(ctx, method, request) first:
//  - no identity (no client certificate, no trusted header)  -> UNAUTHENTICATED
//  - identity bound to no role, or role not granted the method -> PERMISSION_DENIED
//  - partner-scoped role (PARTNER) whose request has a `partner_id` field that
//    is not the caller's own partner (empty included) -> PERMISSION_DENIED
// Every denial is counted (channelops_authz_denied_total{method,reason}) and
// logged with the identity, never with the payload. Records a handler returns
// by id (e.g. GetDeal) are checked by the handler with Caller::CanSeePartner.
//
// Without --authz_policy every caller is allowed (development; logged at start).
// Thread-safe after construction.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "channelops/authz/v1/policy.pb.h"
#include "google/protobuf/message.h"
#include "grpcpp/grpcpp.h"

namespace prometheus {
class Registry;
template <typename T>
class Family;
class Counter;
}  // namespace prometheus

namespace channelops::server {

struct Caller {
  std::string identity;    // e.g. spiffe://channelops/partner/P001, or "anonymous"
  std::string role;        // e.g. PARTNER; empty when authorization is off
  std::string partner_id;  // partner-scoped roles only
  bool partner_scoped = false;

  // True if this caller may see or act on a record of `partner_id`.
  bool CanSeePartner(absl::string_view partner_id) const {
    return !partner_scoped || partner_id == this->partner_id;
  }
};

class Authorizer {
 public:
  // An authorizer that allows everything (no policy).
  Authorizer() = default;
  // Loads and checks a policy. INVALID_ARGUMENT naming the problem.
  static absl::StatusOr<std::unique_ptr<Authorizer>> FromPolicyFile(const std::string& path,
                                                                    prometheus::Registry* metrics);
  static absl::StatusOr<std::unique_ptr<Authorizer>> FromPolicy(authz::v1::Policy policy,
                                                                prometheus::Registry* metrics);

  // `full_method` is "package.Service/Method".
  absl::StatusOr<Caller> Authorize(const grpc::CallbackServerContext& ctx,
                                   absl::string_view full_method,
                                   const google::protobuf::Message& request) const;
  // Same, with the identity already extracted (unit tests, non-gRPC callers).
  absl::StatusOr<Caller> AuthorizeIdentity(absl::string_view identity, absl::string_view full_method,
                                           const google::protobuf::Message& request) const;

  bool enabled() const { return enabled_; }

 private:
  absl::Status Deny(absl::StatusCode code, absl::string_view identity, absl::string_view method,
                    absl::string_view reason) const;
  bool enabled_ = false;
  authz::v1::Policy policy_;
  prometheus::Family<prometheus::Counter>* denied_ = nullptr;
};

}  // namespace channelops::server
