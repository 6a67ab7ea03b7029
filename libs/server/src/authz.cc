#include "channelops/server/authz.h"

#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "channelops/server/log.h"
#include "channelops/server/runtime.h"
#include "google/protobuf/util/json_util.h"
#include "prometheus/counter.h"
#include "prometheus/registry.h"

namespace channelops::server {
namespace {

bool Matches(absl::string_view pattern, absl::string_view value, std::string* wildcard) {
  if (absl::EndsWith(pattern, "*")) {
    absl::string_view prefix = pattern.substr(0, pattern.size() - 1);
    if (!absl::StartsWith(value, prefix)) return false;
    if (wildcard) *wildcard = std::string(value.substr(prefix.size()));
    return true;
  }
  return pattern == value;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Authorizer>> Authorizer::FromPolicy(authz::v1::Policy policy,
                                                                   prometheus::Registry* metrics) {
  for (int i = 0; i < policy.identities_size(); ++i) {
    const auto& b = policy.identities(i);
    if (b.match().empty() || b.role().empty()) {
      return absl::InvalidArgumentError(absl::StrCat("authz_policy: identities[", i, "]: match and role are required"));
    }
    if (b.partner_id_from_wildcard() && !absl::EndsWith(b.match(), "*")) {
      return absl::InvalidArgumentError(absl::StrCat("authz_policy: identities[", i,
                                                     "]: partner_id_from_wildcard needs a match ending in *"));
    }
    bool known = false;
    for (const auto& r : policy.roles()) known |= r.role() == b.role();
    if (!known) {
      return absl::InvalidArgumentError(absl::StrCat("authz_policy: identities[", i, "]: role '", b.role(),
                                                     "' has no entry in roles"));
    }
  }
  auto a = std::make_unique<Authorizer>();
  a->enabled_ = true;
  a->policy_ = std::move(policy);
  if (metrics) {
    a->denied_ = &prometheus::BuildCounter()
                      .Name("channelops_authz_denied_total")
                      .Help("Calls refused by authentication or authorization, by method and reason")
                      .Register(*metrics);
  }
  return a;
}

absl::StatusOr<std::unique_ptr<Authorizer>> Authorizer::FromPolicyFile(const std::string& path,
                                                                       prometheus::Registry* metrics) {
  std::ifstream f(path);
  if (!f) return absl::InvalidArgumentError(absl::StrCat("authz_policy: cannot read '", path, "'"));
  std::stringstream ss;
  ss << f.rdbuf();
  authz::v1::Policy policy;
  auto st = google::protobuf::util::JsonStringToMessage(ss.str(), &policy);
  if (!st.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("authz_policy: '", path, "': ", st.ToString()));
  }
  return FromPolicy(std::move(policy), metrics);
}

absl::Status Authorizer::Deny(absl::StatusCode code, absl::string_view identity,
                              absl::string_view method, absl::string_view reason) const {
  if (denied_) denied_->Add({{"method", std::string(method)}, {"reason", std::string(reason)}}).Increment();
  LogWarn("call denied", {{"identity", std::string(identity)}, {"method", std::string(method)},
                          {"reason", std::string(reason)}});
  if (code == absl::StatusCode::kUnauthenticated) {
    return absl::UnauthenticatedError("no caller identity: present a client certificate");
  }
  return absl::PermissionDeniedError(absl::StrCat(method, ": ", reason));
}

absl::StatusOr<Caller> Authorizer::AuthorizeIdentity(absl::string_view identity,
                                                     absl::string_view full_method,
                                                     const google::protobuf::Message& request) const {
  Caller c;
  c.identity = std::string(identity);
  if (!enabled_) return c;
  if (identity.empty() || identity == "anonymous") {
    return Deny(absl::StatusCode::kUnauthenticated, identity, full_method, "unauthenticated");
  }
  const authz::v1::IdentityBinding* binding = nullptr;
  std::string wildcard;
  for (const auto& b : policy_.identities()) {
    if (Matches(b.match(), identity, &wildcard)) {
      binding = &b;
      break;
    }
  }
  if (binding == nullptr) {
    return Deny(absl::StatusCode::kPermissionDenied, identity, full_method, "identity has no role");
  }
  c.role = binding->role();
  c.partner_id = binding->partner_id_from_wildcard() ? wildcard : binding->partner_id();
  bool granted = false;
  for (const auto& r : policy_.roles()) {
    if (r.role() != c.role) continue;
    c.partner_scoped = r.partner_scoped();
    for (const auto& m : r.methods()) granted |= Matches(m, full_method, nullptr);
  }
  if (!granted) {
    return Deny(absl::StatusCode::kPermissionDenied, identity, full_method,
                absl::StrCat("role ", c.role, " may not call this method"));
  }
  if (c.partner_scoped) {
    if (c.partner_id.empty()) {
      return Deny(absl::StatusCode::kPermissionDenied, identity, full_method, "no partner id bound");
    }
    const auto* f = request.GetDescriptor()->FindFieldByName("partner_id");
    if (f && f->type() == google::protobuf::FieldDescriptor::TYPE_STRING && !f->is_repeated()) {
      // Strict: a partner must name itself (an empty partner_id often means
      // "any partner" or "on behalf of the vendor", which a partner may not ask).
      std::string requested = request.GetReflection()->GetString(request, f);
      if (requested != c.partner_id) {
        return Deny(absl::StatusCode::kPermissionDenied, identity, full_method,
                    requested.empty() ? "partner_id must name the caller's partner"
                                      : "partner_id names another partner");
      }
    }
  }
  return c;
}

absl::StatusOr<Caller> Authorizer::Authorize(const grpc::CallbackServerContext& ctx,
                                             absl::string_view full_method,
                                             const google::protobuf::Message& request) const {
  return AuthorizeIdentity(CallerIdentity(ctx), full_method, request);
}

}  // namespace channelops::server
