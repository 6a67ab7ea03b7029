// pos_ingestion: the product catalogue and prices, price-protection terms and
// credits, sell-in shipments, partner sell-through / returns / inventory
// reports (typed, CSV, X12 867 and 852), channel inventory.
// Wiring only; see pos_ingestion_service.h and docs/pos_ingestion.md.

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "channelops/server/log.h"
#include "channelops/server/runtime.h"
#include "pos_ingestion/pos_ingestion_service.h"
#include "pos_ingestion/read_models.h"

ABSL_FLAG(absl::Duration, price_sweep_interval, absl::Minutes(1),
          "How often scheduled price changes that fell due are applied (drops issue "
          "price-protection credits)");
ABSL_FLAG(absl::Duration, staging_retention, absl::Hours(24),
          "How long the staged lines of an all_or_nothing report stream that never ended "
          "(the process died) are kept before the sweeper deletes them");

int main(int argc, char** argv) {
  using namespace channelops;
  server::InitProcess(argc, argv,
                      "pos_ingestion: the PosIngestionService gRPC API (catalogue and prices, "
                      "sell-in, partner POS reports in CSV / X12 867 / X12 852, channel "
                      "inventory, price protection)");
  server::ServiceConfig config{"pos_ingestion", "channelops.pos_ingestion.events.v1",
                               pos::PosIngestionService::ReadModelCfs()};
  // Every accepted line looks up its identity, which is almost always new.
  config.point_lookup_cfs = {pos::kLineIndexCf};
  auto rt = server::ServiceRuntime::Create(std::move(config));
  if (!rt.ok()) {
    server::LogError("cannot start", {{"status", rt.status().ToString()}});
    return 1;
  }
  if (auto st = pos::PosIngestionService::CheckStoreFormat((*rt)->store()); !st.ok()) {
    server::LogError("cannot start", {{"status", st.ToString()}});
    return 1;
  }
  pos::PosIngestionService service((*rt)->store(), (*rt)->clock());
  service.set_authorizer((*rt)->authorizer());
  (*rt)->AddService(&service);
  (*rt)->AddBackgroundTask("price_sweep", absl::GetFlag(FLAGS_price_sweep_interval), [&service] {
    auto applied = service.ApplyDuePriceChanges();
    if (!applied.ok()) {
      server::LogWarn("price sweep failed", {{"status", applied.status().ToString()}});
    } else if (*applied > 0) {
      server::LogInfo("scheduled price changes applied", {{"count", absl::StrCat(*applied)}});
    }
    auto swept = service.SweepAbandonedStaging(absl::GetFlag(FLAGS_staging_retention));
    if (!swept.ok()) {
      server::LogWarn("staging sweep failed", {{"status", swept.status().ToString()}});
    } else if (*swept > 0) {
      server::LogInfo("abandoned staging removed", {{"rows", absl::StrCat(*swept)}});
    }
  });
  return (*rt)->Run();
}
