#include "channelops/server/authz.h"

#include "channelops/dealreg/v1/dealreg.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"

namespace channelops::server {
namespace {

constexpr char kPolicy[] = R"({
  "identities": [
    {"match": "spiffe://channelops/partner/*", "role": "PARTNER", "partner_id_from_wildcard": true},
    {"match": "spiffe://channelops/staff/channel-manager", "role": "CHANNEL_MANAGER"}
  ],
  "roles": [
    {"role": "PARTNER", "partner_scoped": true,
     "methods": ["svc.S/RegisterDeal", "svc.S/Get*"]},
    {"role": "CHANNEL_MANAGER", "methods": ["svc.S/*"]}
  ]})";

std::unique_ptr<Authorizer> Make(prometheus::Registry* r) {
  authz::v1::Policy p;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(kPolicy, &p).ok());
  auto a = Authorizer::FromPolicy(p, r);
  EXPECT_TRUE(a.ok()) << a.status();
  return std::move(*a);
}

TEST(Authorizer, AllowsEverythingWithoutPolicy) {
  Authorizer a;
  dealreg::v1::RegisterDealRequest req;
  auto c = a.AuthorizeIdentity("anonymous", "svc.S/RegisterDeal", req);
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->CanSeePartner("anyone"));
}

TEST(Authorizer, NoIdentityIsUnauthenticated) {
  prometheus::Registry reg;
  auto a = Make(&reg);
  dealreg::v1::RegisterDealRequest req;
  EXPECT_EQ(a->AuthorizeIdentity("anonymous", "svc.S/RegisterDeal", req).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(a->AuthorizeIdentity("", "svc.S/RegisterDeal", req).status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST(Authorizer, PartnerActsOnlyForItself) {
  prometheus::Registry reg;
  auto a = Make(&reg);
  dealreg::v1::RegisterDealRequest req;
  req.set_partner_id("P001");
  auto own = a->AuthorizeIdentity("spiffe://channelops/partner/P001", "svc.S/RegisterDeal", req);
  ASSERT_TRUE(own.ok()) << own.status();
  EXPECT_EQ(own->role, "PARTNER");
  EXPECT_EQ(own->partner_id, "P001");
  EXPECT_TRUE(own->CanSeePartner("P001"));
  EXPECT_FALSE(own->CanSeePartner("P002"));
  auto other = a->AuthorizeIdentity("spiffe://channelops/partner/P002", "svc.S/RegisterDeal", req);
  EXPECT_EQ(other.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(other.status().message().find("P001"), std::string::npos) << "never echo the payload";
  // A method not granted to the role.
  EXPECT_EQ(a->AuthorizeIdentity("spiffe://channelops/partner/P001", "svc.S/ApproveDeal", req).status().code(),
            absl::StatusCode::kPermissionDenied);
  // An empty partner_id is not "any partner" for a partner.
  dealreg::v1::RegisterDealRequest anon_req;
  EXPECT_EQ(a->AuthorizeIdentity("spiffe://channelops/partner/P001", "svc.S/RegisterDeal", anon_req).status().code(),
            absl::StatusCode::kPermissionDenied);
  // Prefix grant.
  dealreg::v1::GetDealRequest get;
  EXPECT_TRUE(a->AuthorizeIdentity("spiffe://channelops/partner/P001", "svc.S/GetDeal", get).ok());
  // Unknown identity.
  EXPECT_EQ(a->AuthorizeIdentity("spiffe://elsewhere/x", "svc.S/GetDeal", get).status().code(),
            absl::StatusCode::kPermissionDenied);
  // Denials are counted.
  bool found = false;
  for (const auto& fam : reg.Collect()) {
    if (fam.name == "channelops_authz_denied_total") found = !fam.metric.empty();
  }
  EXPECT_TRUE(found);
}

TEST(Authorizer, ManagerMayDecideAnything) {
  auto a = Make(nullptr);
  dealreg::v1::ApproveDealRequest req;
  auto c = a->AuthorizeIdentity("spiffe://channelops/staff/channel-manager", "svc.S/ApproveDeal", req);
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->CanSeePartner("P123"));
}

TEST(Authorizer, RejectsInconsistentPolicy) {
  authz::v1::Policy p;
  auto* b = p.add_identities();
  b->set_match("x");
  b->set_role("GHOST");
  EXPECT_EQ(Authorizer::FromPolicy(p, nullptr).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Authorizer::FromPolicyFile("/nonexistent.json", nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(Authorizer, ShippedPolicyLoads) {
  auto a = Authorizer::FromPolicyFile(std::string(getenv("CHANNELOPS_SOURCE_DIR")) + "/deploy/authz/policy.json", nullptr);
  ASSERT_TRUE(a.ok()) << a.status();
}

}  // namespace
}  // namespace channelops::server
