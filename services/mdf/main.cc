// mdf: market development funds and co-op (funds, fund requests, claims,
// payments), with co-op accruing from the pos_ingestion topic's sell-in
// shipments. Wiring only; see mdf_service.h, coop_accrual.h and docs/mdf.md.

#include <memory>
#include <string>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "channelops/kafka/consumer_runner.h"
#include "channelops/server/log.h"
#include "channelops/server/runtime.h"
#include "mdf/coop_accrual.h"
#include "mdf/mdf_service.h"

ABSL_DECLARE_FLAG(std::string, kafka_bootstrap);

ABSL_FLAG(int64_t, coop_accrual_bps, 0,
          "Co-op accrual rate in basis points of each sell-in shipment's purchase value, credited "
          "to the partner's open co-op fund (0..10000; 0 disables accrual and its consumer)");
ABSL_FLAG(int32_t, claim_window_days, 60,
          "Claims on an approved fund request are accepted through the end (UTC) of this many "
          "days after the activity's end date (0..3650); unclaimed reservations are then released");
ABSL_FLAG(absl::Duration, sweep_interval, absl::Minutes(1),
          "How often funds past their expiry instant are expired and requests past their claim "
          "window are closed");
ABSL_FLAG(std::string, pos_topic, channelops::mdf::kPosTopic,
          "Topic of the pos_ingestion service's events (sell-in shipments accrue co-op)");
ABSL_FLAG(std::string, coop_consumer_group, "channelops-mdf-coop-accrual",
          "Kafka consumer group of the co-op accrual consumer (offsets are kept in the store)");

int main(int argc, char** argv) {
  using namespace channelops;
  server::InitProcess(argc, argv,
                      "mdf: the MdfService gRPC API (MDF and co-op funds, fund requests, claims, "
                      "payments, partner statements); co-op accrues from sell-in shipments");
  const int64_t accrual_bps = absl::GetFlag(FLAGS_coop_accrual_bps);
  const int32_t window_days = absl::GetFlag(FLAGS_claim_window_days);
  if (accrual_bps < 0 || accrual_bps > mdf::domain::kMaxAccrualBps || window_days < 0 ||
      window_days > mdf::domain::kMaxClaimWindowDays) {
    server::LogError("bad flags", {{"coop_accrual_bps", absl::StrCat(accrual_bps)},
                                   {"claim_window_days", absl::StrCat(window_days)}});
    return 1;
  }
  auto rt = server::ServiceRuntime::Create(
      {"mdf", "channelops.mdf.events.v1", mdf::MdfService::ReadModelCfs()});
  if (!rt.ok()) {
    server::LogError("cannot start", {{"status", rt.status().ToString()}});
    return 1;
  }
  mdf::MdfService service((*rt)->store(), (*rt)->clock(), {window_days});
  service.set_authorizer((*rt)->authorizer());
  (*rt)->AddService(&service);

  (*rt)->AddBackgroundTask("fund_expiry_sweep", absl::GetFlag(FLAGS_sweep_interval), [&service] {
    auto expired = service.SweepExpiredFunds();
    if (!expired.ok()) {
      server::LogWarn("fund expiry sweep failed", {{"status", expired.status().ToString()}});
    } else if (*expired > 0) {
      server::LogInfo("funds expired", {{"count", absl::StrCat(*expired)}});
    }
  });
  (*rt)->AddBackgroundTask("claim_window_sweep", absl::GetFlag(FLAGS_sweep_interval), [&service] {
    auto closed = service.SweepClaimWindows();
    if (!closed.ok()) {
      server::LogWarn("claim window sweep failed", {{"status", closed.status().ToString()}});
    } else if (*closed > 0) {
      server::LogInfo("fund requests closed", {{"count", absl::StrCat(*closed)}});
    }
  });

  mdf::CoopAccrual accrual(accrual_bps);
  std::unique_ptr<kafka::ConsumerRunner> consumer;
  const std::string bootstrap = absl::GetFlag(FLAGS_kafka_bootstrap);
  if (accrual_bps == 0 || bootstrap.empty()) {
    server::LogWarn("co-op accrual disabled", {{"coop_accrual_bps", absl::StrCat(accrual_bps)},
                                               {"kafka_bootstrap", bootstrap}});
  } else {
    kafka::ConsumerOptions o;
    o.bootstraps = bootstrap;
    o.group_id = absl::GetFlag(FLAGS_coop_consumer_group);
    o.topics = {absl::GetFlag(FLAGS_pos_topic)};
    o.name = "coop_accrual";
    auto runner =
        kafka::ConsumerRunner::Create((*rt)->store(), o, accrual.AsHandler(), &(*rt)->metrics());
    if (runner.ok()) consumer = std::move(*runner);
    absl::Status started = runner.ok() ? consumer->Start() : runner.status();
    if (!started.ok()) {
      server::LogError("cannot start the co-op accrual consumer", {{"status", started.ToString()}});
      return 1;
    }
    (*rt)->OnShutdown([&consumer] { consumer->Stop(); });
  }
  return (*rt)->Run();
}
