// deal_registration: programme rules of engagement, partner deal
// registrations, direct-sales opportunities and special pricing.
// Wiring only; see deal_registration_service.h and docs/deal_registration.md.

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "channelops/server/log.h"
#include "channelops/server/runtime.h"
#include "deal_registration/deal_registration_service.h"

ABSL_FLAG(absl::Duration, expiry_sweep_interval, absl::Minutes(1),
          "How often registrations without an update for the programme's expiry days are "
          "expired (frees their customers for other partners)");

int main(int argc, char** argv) {
  using namespace channelops;
  server::InitProcess(argc, argv,
                      "deal_registration: the DealRegistrationService gRPC API (programme rules, "
                      "deal registration, conflicts, direct opportunities, special pricing)");
  server::ServiceConfig config{"deal_registration", "channelops.deal_registration.events.v1",
                               dealreg::DealRegistrationService::ReadModelCfs()};
  // Every registration of a new customer looks up its keys' claims, which do
  // not exist yet.
  config.point_lookup_cfs = {dealreg::kCustomerIndexCf};
  // Every conflict check reads the claims of its keys: from memory, never a
  // block read (docs/ARCHITECTURE.md, "Memory read models"; ~0.2-0.3 KB per
  // registration, docs/OPERATIONS.md).
  config.memory_read_cfs = dealreg::DealRegistrationService::MemoryReadCfs();
  auto rt = server::ServiceRuntime::Create(std::move(config));
  if (!rt.ok()) {
    server::LogError("cannot start", {{"status", rt.status().ToString()}});
    return 1;
  }
  dealreg::DealRegistrationService service((*rt)->store(), (*rt)->clock());
  service.set_authorizer((*rt)->authorizer());
  service.set_metrics((*rt)->metrics());
  (*rt)->AddService(&service);
  (*rt)->AddBackgroundTask("expiry_sweep", absl::GetFlag(FLAGS_expiry_sweep_interval), [&service] {
    auto expired = service.SweepExpired();
    if (!expired.ok()) {
      server::LogWarn("expiry sweep failed", {{"status", expired.status().ToString()}});
    } else if (*expired > 0) {
      server::LogInfo("registrations expired", {{"count", absl::StrCat(*expired)}});
    }
  });
  return (*rt)->Run();
}
