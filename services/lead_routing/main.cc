// lead_routing: territories, partner routing profiles, and leads routed to
// partners with an acceptance SLA. Wiring only; see lead_routing_service.h and
// docs/lead_routing.md.

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "channelops/server/log.h"
#include "channelops/server/runtime.h"
#include "lead_routing/lead_routing_service.h"

ABSL_FLAG(absl::Duration, sla_sweep_interval, absl::Seconds(30),
          "How often offers not accepted within their territory's SLA are timed out and the "
          "leads re-routed to the next candidate");

int main(int argc, char** argv) {
  using namespace channelops;
  server::InitProcess(argc, argv,
                      "lead_routing: the LeadRoutingService gRPC API (territories, partner routing "
                      "profiles, lead routing, acceptance SLA, partner inbox, statistics)");
  auto rt = server::ServiceRuntime::Create({"lead_routing", "channelops.lead_routing.events.v1",
                                            leads::LeadRoutingService::ReadModelCfs()});
  if (!rt.ok()) {
    server::LogError("cannot start", {{"status", rt.status().ToString()}});
    return 1;
  }
  leads::LeadRoutingService service((*rt)->store(), (*rt)->clock());
  service.set_authorizer((*rt)->authorizer());
  (*rt)->AddService(&service);
  (*rt)->AddBackgroundTask("sla_sweep", absl::GetFlag(FLAGS_sla_sweep_interval), [&service] {
    auto timed_out = service.SweepAcceptanceTimeouts();
    if (!timed_out.ok()) {
      server::LogWarn("sla sweep failed", {{"status", timed_out.status().ToString()}});
    } else if (*timed_out > 0) {
      server::LogInfo("lead offers timed out", {{"count", absl::StrCat(*timed_out)}});
    }
  });
  return (*rt)->Run();
}
