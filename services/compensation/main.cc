// compensation: comp plans (effective-dated versions), role assignments and
// commission periods. Wiring only; see compensation_service.h and
// docs/compensation.md.

#include "channelops/server/log.h"
#include "channelops/server/runtime.h"
#include "compensation/compensation_service.h"

int main(int argc, char** argv) {
  using namespace channelops;
  server::InitProcess(argc, argv,
                      "compensation: the CompensationService gRPC API (comp plans, role "
                      "assignments, commission periods)");
  auto rt = server::ServiceRuntime::Create({"compensation", "channelops.compensation.events.v1",
                                            comp::CompensationService::ReadModelCfs()});
  if (!rt.ok()) {
    server::LogError("cannot start", {{"status", rt.status().ToString()}});
    return 1;
  }
  comp::CompensationService service((*rt)->store(), (*rt)->clock());
  service.set_authorizer((*rt)->authorizer());
  (*rt)->AddService(&service);
  return (*rt)->Run();
}
