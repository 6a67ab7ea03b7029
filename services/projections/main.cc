// projections: consumes every service topic into its own store (read models
// for commission credits, partner ROI, pipeline and exposure), publishes the
// credit lines on channelops.analytics.commission_credits.v1 and serves
// channelops.analytics.v1.AnalyticsService. Wiring only; see projector.h,
// analytics_service.h and docs/projections.md.

#include <filesystem>
#include <memory>
#include <string>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "channelops/kafka/consumer_runner.h"
#include "channelops/server/log.h"
#include "channelops/server/runtime.h"
#include "projections/analytics_service.h"
#include "projections/projector.h"

ABSL_DECLARE_FLAG(std::string, data_dir);
ABSL_DECLARE_FLAG(std::string, kafka_bootstrap);

ABSL_FLAG(bool, rebuild, false,
          "Delete the projections store under --data_dir (read models, stored offsets, derived "
          "events) before starting, and re-consume every topic from the beginning. The derived "
          "topic then carries the rebuilt series again: see docs/projections.md");
ABSL_FLAG(std::string, consumer_group, "channelops.projections",
          "Kafka consumer group of the projections (partition assignment only: offsets live in "
          "the store)");
ABSL_FLAG(int32_t, roi_margin_bps, 3000,
          "Margin applied to attributed revenue in partner ROI, basis points (3000 = 30%)");

namespace {

// Removes the store directory, refusing anything that is not a RocksDB
// database (a CURRENT file) so that a mistyped --data_dir deletes nothing else.
absl::Status WipeStore(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return absl::OkStatus();
  if (!fs::exists(fs::path(dir) / "CURRENT", ec)) {
    return absl::FailedPreconditionError(
        absl::StrCat("--rebuild: ", dir, " is not a RocksDB store (no CURRENT file); not deleted"));
  }
  fs::remove_all(dir, ec);
  if (ec)
    return absl::UnavailableError(
        absl::StrCat("--rebuild: cannot delete ", dir, ": ", ec.message()));
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  using namespace channelops;
  server::InitProcess(
      argc, argv,
      "projections: read models joined from every channelops topic (commission "
      "credits, partner ROI, pipeline, exposure) and the AnalyticsService gRPC API");
  if (absl::GetFlag(FLAGS_rebuild)) {
    if (auto st = WipeStore(absl::GetFlag(FLAGS_data_dir)); !st.ok()) {
      server::LogError("cannot rebuild", {{"status", st.ToString()}});
      return 1;
    }
    server::LogInfo("rebuild: store deleted, consuming every topic from the beginning",
                    {{"data_dir", absl::GetFlag(FLAGS_data_dir)}});
  }
  auto rt = server::ServiceRuntime::Create(
      {"projections", projections::kCommissionCreditsTopic, projections::ReadModelCfs()});
  if (!rt.ok()) {
    server::LogError("cannot start", {{"status", rt.status().ToString()}});
    return 1;
  }
  projections::AnalyticsService service(
      (*rt)->store(), &(*rt)->metrics(),
      {.consumer_name = "projections", .roi_margin_bps = absl::GetFlag(FLAGS_roi_margin_bps)});
  service.set_authorizer((*rt)->authorizer());
  (*rt)->AddService(&service);
  (*rt)->AddBackgroundTask("projection_metrics", absl::Seconds(5),
                           [&service] { service.UpdateMetrics(); });

  projections::Projector projector;
  kafka::ConsumerOptions co;
  co.bootstraps = absl::GetFlag(FLAGS_kafka_bootstrap);
  co.group_id = absl::GetFlag(FLAGS_consumer_group);
  co.topics = projections::SourceTopics();
  co.name = "projections";
  auto runner = kafka::ConsumerRunner::Create(
      (*rt)->store(), co,
      [&projector](eventstore::Tx& tx, const kafka::ConsumedEvent& e) {
        return projector.Apply(tx, e);
      },
      &(*rt)->metrics());
  if (!runner.ok()) {
    server::LogError("cannot create the consumer", {{"status", runner.status().ToString()}});
    return 1;
  }
  if (auto st = (*runner)->Start(); !st.ok()) {
    server::LogError("cannot start the consumer", {{"status", st.ToString()}});
    return 1;
  }
  (*rt)->OnShutdown([r = runner->get()] { r->Stop(); });
  return (*rt)->Run();
}
