// projections: consumes every service topic into its own store (read models
// for commission credits, partner ROI, pipeline and exposure), publishes the
// credit lines on channelops.analytics.commission_credits.v1 and the partner
// ROI changes on channelops.analytics.partner_roi.v1, and serves
// channelops.analytics.v1.AnalyticsService. Wiring only; see projector.h,
// consumer.h, analytics_service.h and docs/projections.md.

#include <filesystem>
#include <memory>
#include <string>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "channelops/core/money.h"
#include "channelops/core/status_macros.h"
#include "channelops/kafka/consumer_runner.h"
#include "channelops/outbox/relay.h"
#include "channelops/server/log.h"
#include "channelops/server/runtime.h"
#include "projections/analytics_service.h"
#include "projections/consumer.h"
#include "projections/projector.h"

ABSL_DECLARE_FLAG(std::string, data_dir);
ABSL_DECLARE_FLAG(std::string, kafka_bootstrap);
ABSL_DECLARE_FLAG(std::string, kafka_format);
ABSL_DECLARE_FLAG(absl::Duration, shutdown_timeout);

ABSL_FLAG(bool, rebuild, false,
          "Delete the projections store under --data_dir (read models, stored offsets, derived "
          "events) before starting, and re-consume every topic from the beginning. The derived "
          "topic then carries the rebuilt series again: see docs/projections.md");
ABSL_FLAG(std::string, consumer_group, "channelops.projections",
          "Kafka consumer group of the projections (partition assignment only: offsets live in "
          "the store)");
ABSL_FLAG(int32_t, roi_margin_bps, 3000,
          "Margin applied to attributed revenue in partner ROI, basis points (3000 = 30%)");
ABSL_FLAG(std::string, roi_currency, "USD",
          "Currency of the partner ROI figures published on channelops.analytics.partner_roi.v1");
ABSL_FLAG(absl::Duration, roi_publish_interval, absl::Seconds(1),
          "How often the partner ROI changes noted by the consumed batches are computed and "
          "published on channelops.analytics.partner_roi.v1 (also once at shutdown): each marked "
          "(partner, month) is recomputed once per publication, whatever the batch rate, and "
          "each partner normally gets one PartnerRoiChanged per interval. Finite, > 0 (e.g. 1s, "
          "500ms, 10s). GetPartnerRoi is always current; a crash delays unpublished changes to "
          "the next start, loses none");

ABSL_FLAG(int32_t, read_model_cache_mb, 128,
          "MiB of read models the projector keeps in memory per cache generation (two "
          "generations: about twice this, estimated from serialized sizes). A cache that holds "
          "the working set spares re-reading and re-parsing records from the store: with 1024 "
          "the 200,000-event benchmark ran 13-20% faster than with 128 (docs/BENCHMARKS.md). "
          "At least 1");

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

// The store's relay, routing PartnerRoiChanged to its own topic. The runtime's
// relay knows one topic per store, so the runtime is given none and this one
// runs instead (one cursor: the store's order holds on both topics).
absl::StatusOr<std::unique_ptr<channelops::outbox::Relay>> StartRelay(
    channelops::server::ServiceRuntime& rt) {
  using namespace channelops;
  CHANNELOPS_ASSIGN_OR_RETURN(outbox::Format format,
                              outbox::ParseFormat(absl::GetFlag(FLAGS_kafka_format)));
  outbox::RelayOptions ro;
  ro.bootstraps = absl::GetFlag(FLAGS_kafka_bootstrap);
  ro.topic = projections::kCommissionCreditsTopic;
  ro.route = projections::DerivedTopicOf;
  ro.format = format;
  ro.metrics = &rt.metrics();
  CHANNELOPS_ASSIGN_OR_RETURN(auto relay, outbox::Relay::Create(rt.store(), std::move(ro)));
  relay->Start();
  return relay;
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
  const int32_t margin_bps = absl::GetFlag(FLAGS_roi_margin_bps);
  const std::string roi_currency = absl::GetFlag(FLAGS_roi_currency);
  const absl::Duration roi_interval = absl::GetFlag(FLAGS_roi_publish_interval);
  const int32_t cache_mb = absl::GetFlag(FLAGS_read_model_cache_mb);
  if (margin_bps < 0 || margin_bps > 10000 || !core::IsIsoCurrencyCode(roi_currency) ||
      roi_interval <= absl::ZeroDuration() || roi_interval == absl::InfiniteDuration()) {
    server::LogError("bad flag", {{"roi_margin_bps", absl::StrCat(margin_bps)},
                                  {"roi_currency", roi_currency},
                                  {"roi_publish_interval", absl::FormatDuration(roi_interval)},
                                  {"expected", "0..10000, an ISO 4217 code, interval > 0"}});
    return 2;
  }
  if (cache_mb < 1 || cache_mb > (1 << 20)) {
    server::LogError("bad flag", {{"flag", "read_model_cache_mb"},
                                  {"value", absl::StrCat(cache_mb)},
                                  {"expected", "1..1048576 (MiB per cache generation)"}});
    return 2;
  }
  auto rt = server::ServiceRuntime::Create(
      {"projections", /*topic: the relay below*/ "", projections::ReadModelCfs()});
  if (!rt.ok()) {
    server::LogError("cannot start", {{"status", rt.status().ToString()}});
    return 1;
  }
  auto relay = StartRelay(**rt);
  if (!relay.ok()) {
    server::LogError("cannot start the outbox relay", {{"status", relay.status().ToString()}});
    return 1;
  }
  projections::AnalyticsService service(
      (*rt)->store(), &(*rt)->metrics(),
      {.consumer_name = "projections", .roi_margin_bps = margin_bps});
  service.set_authorizer((*rt)->authorizer());
  (*rt)->AddService(&service);
  (*rt)->AddBackgroundTask("projection_metrics", absl::Seconds(5),
                           [&service] { service.UpdateMetrics(); });

  projections::Projector projector(
      {.roi_margin_bps = margin_bps,
       .roi_currency = roi_currency,
       .cache_generation_bytes = static_cast<size_t>(cache_mb) << 20});
  kafka::ConsumerOptions co;
  co.bootstraps = absl::GetFlag(FLAGS_kafka_bootstrap);
  co.group_id = absl::GetFlag(FLAGS_consumer_group);
  co.topics = projections::SourceTopics();
  co.name = "projections";
  auto consumer =
      projections::ProjectionsConsumer::Create((*rt)->store(), co, projector, &(*rt)->metrics());
  if (!consumer.ok()) {
    server::LogError("cannot create the consumer", {{"status", consumer.status().ToString()}});
    return 1;
  }
  if (auto st = (*consumer)->Start(); !st.ok()) {
    server::LogError("cannot start the consumer", {{"status", st.ToString()}});
    return 1;
  }
  // Partner ROI publication: the changes marked by the batches (durable, so
  // a crash delays them to the next start, loses none).
  auto flush_roi = [c = consumer->get()] {
    auto flushed = c->FlushRoi();
    if (!flushed.ok()) {
      server::LogWarn("partner ROI not published yet", {{"status", flushed.status().ToString()}});
    }
  };
  (*rt)->AddBackgroundTask("roi_publish", roi_interval, flush_roi);
  // Consumer first, then the last ROI changes (nothing more to publish after
  // that), then the relay drains; the runtime closes the store after these.
  (*rt)->OnShutdown([c = consumer->get(), flush_roi] {
    c->Stop();
    flush_roi();
  });
  (*rt)->OnShutdown([r = relay->get()] {
    r->Stop(absl::GetFlag(FLAGS_shutdown_timeout));
    server::LogInfo("outbox stopped",
                    {{"cursor", absl::StrCat(r->cursor())}, {"lag", absl::StrCat(r->lag())}});
  });
  return (*rt)->Run();
}
