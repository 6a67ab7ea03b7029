#pragma once

// The service runtime every channelops binary uses: flags (with CHANNELOPS_*
// environment overrides), the event store, the outbox relay, a gRPC server on
// the callback API with grpc.health.v1 and reflection, Prometheus /metrics on
// its own port, JSON logs, periodic background tasks (sweepers), and a graceful
// SIGTERM drain.
//
// Common flags (every service): --grpc_addr, --metrics_addr, --data_dir,
// --kafka_bootstrap, --kafka_format, --shutdown_timeout, --outbox_republish_from,
// --identity_header, --tls_cert_file, --tls_key_file, --tls_ca_file,
// --tls_client_auth, --tls_reload_interval (certificates reloaded without a
// restart), --metrics_tls (HTTPS /metrics with the same certificates),
// --authz_policy, --store_sync.
//
//   int main(int argc, char** argv) {
//     channelops::server::InitProcess(argc, argv, "deal_registration: ...");
//     auto rt = channelops::server::ServiceRuntime::Create({...});
//     MyService svc(rt->store(), rt->clock(), rt->metrics());
//     rt->AddService(&svc);
//     return rt->Run();
//   }

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "channelops/core/clock.h"
#include "channelops/eventstore/event_store.h"
#include "channelops/server/authz.h"
#include "grpcpp/grpcpp.h"

namespace prometheus {
class Registry;
}

namespace channelops::server {

// Parses flags. Environment variables CHANNELOPS_<FLAG_NAME_UPPER> set a flag's
// default; the command line wins. `--help` prints every flag and exits. Blocks
// SIGTERM/SIGINT in all threads (the runtime waits for them). Returns the
// positional arguments.
std::vector<char*> InitProcess(int argc, char** argv, const char* usage);

struct ServiceConfig {
  std::string name;                         // e.g. "deal_registration"
  std::string topic;                        // e.g. "channelops.deal_registration.events.v1"
  std::vector<std::string> read_model_cfs;  // "rm_*"
  core::Clock* clock = nullptr;             // default: system clock
  // Read models looked up mostly for keys that do not exist (eventstore::Options).
  // Initialised, so that configs that leave it out are not -Wextra warnings.
  std::vector<std::string> point_lookup_cfs = {};
  // Read models held whole in memory for readers (eventstore::Options::memory_read_cfs).
  std::vector<std::string> memory_read_cfs = {};
  // eventstore::Options::stream_insert_hints.
  bool stream_insert_hints = false;
};

class ServiceRuntime {
 public:
  // Opens the store under --data_dir, starts /metrics and the outbox relay.
  // Errors: INVALID_ARGUMENT for bad flags; UNAVAILABLE if the store cannot be
  // opened.
  static absl::StatusOr<std::unique_ptr<ServiceRuntime>> Create(ServiceConfig config);
  ~ServiceRuntime();

  eventstore::EventStore& store();
  core::Clock& clock();
  prometheus::Registry& metrics();
  const ServiceConfig& config() const;
  // Built from --authz_policy (allow-all without one). Valid for the runtime's life.
  const Authorizer& authorizer() const;

  // Registers a gRPC service (not owned; must outlive Run). Before Run only.
  void AddService(grpc::Service* service);

  // Runs `fn` every `interval` on its own thread until shutdown (sweepers).
  void AddBackgroundTask(std::string name, absl::Duration interval, std::function<void()> fn);

  // Runs `fn` during shutdown, after the gRPC server stopped and before the store
  // closes (e.g. stop a consumer runner).
  void OnShutdown(std::function<void()> fn);

  // Binds the gRPC server, logs {"msg":"listening","grpc_addr":..,"metrics_addr":..},
  // marks health SERVING, blocks until SIGTERM/SIGINT or RequestShutdown, then
  // drains: health NOT_SERVING, in-flight RPCs finish (bounded by
  // --shutdown_timeout), the outbox flushes (bounded), the store closes. Returns
  // the process exit code.
  int Run();

  // Asks Run to drain and return (tests, fatal errors). Thread-safe.
  void RequestShutdown();

  class Impl;

 private:
  explicit ServiceRuntime(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The authenticated principal of a call: the configured trusted header
// (--identity_header, for TLS terminated by a mesh), else the peer certificate's
// URI SAN / CN when TLS is on, else "anonymous". Recorded as the actor of events.
std::string CallerIdentity(const grpc::CallbackServerContext& ctx);

}  // namespace channelops::server
