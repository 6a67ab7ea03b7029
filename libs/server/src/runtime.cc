#include "channelops/server/runtime.h"

#include <signal.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>
#include <tuple>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "channelops/core/status_macros.h"
#include "channelops/outbox/relay.h"
#include "channelops/server/log.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/security/tls_credentials_options.h"
#include "grpcpp/support/server_interceptor.h"
#include "metrics_https.h"
#include "prometheus/counter.h"
#include "prometheus/exposer.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

ABSL_FLAG(std::string, grpc_addr, "127.0.0.1:0",
          "gRPC listen address host:port; port 0 picks a free port (logged at start)");
ABSL_FLAG(std::string, metrics_addr, "127.0.0.1:0",
          "Prometheus /metrics listen address host:port; port 0 picks a free port; empty disables");
ABSL_FLAG(std::string, data_dir, "", "Directory of this service's RocksDB event store (required)");
ABSL_FLAG(std::string, kafka_bootstrap, "127.0.0.1:9092",
          "Kafka bootstrap servers host:port[,host:port]; empty disables publishing (events stay "
          "in the store until a relay runs)");
ABSL_FLAG(std::string, kafka_format, "protobuf",
          "Value encoding on the topic: protobuf (EventEnvelope bytes) or json (proto3 JSON)");
ABSL_FLAG(absl::Duration, shutdown_timeout, absl::Seconds(10),
          "Bound on draining in-flight RPCs and on flushing the outbox at SIGTERM");
ABSL_FLAG(int64_t, outbox_republish_from, 0,
          "If > 0, publish the store's events again from this global position (restores a lost "
          "or expired topic), then continue");
ABSL_FLAG(std::string, identity_header, "",
          "Trusted metadata header carrying the caller identity when TLS is terminated by a mesh "
          "(e.g. x-channelops-principal); empty: identity from the peer certificate");
ABSL_FLAG(std::string, tls_cert_file, "",
          "PEM certificate chain of this server; with --tls_key_file turns TLS on for gRPC. The "
          "files are watched and reloaded when they change (rotation without restart)");
ABSL_FLAG(std::string, tls_key_file, "", "PEM private key of --tls_cert_file");
ABSL_FLAG(std::string, tls_ca_file, "",
          "PEM bundle of CAs that sign client certificates (mutual TLS); reloaded on change");
ABSL_FLAG(std::string, tls_client_auth, "require",
          "With --tls_ca_file: 'require' (mutual TLS: a client certificate signed by the CA is "
          "mandatory) or 'request' (verified if presented)");
ABSL_FLAG(absl::Duration, tls_reload_interval, absl::Seconds(10),
          "How often certificate files are checked for changes");
ABSL_FLAG(bool, metrics_tls, false,
          "Serve /metrics over HTTPS with --tls_cert_file/--tls_key_file (reloaded like gRPC's); "
          "with --tls_ca_file, client certificates as --tls_client_auth says (mutual TLS)");
ABSL_FLAG(std::string, authz_policy, "",
          "Authorization policy file (proto3 JSON of channelops.authz.v1.Policy, e.g. "
          "deploy/authz/policy.json). Empty: every caller is allowed (development only)");
ABSL_FLAG(std::string, dev_clock_offset_file, "",
          "DEVELOPMENT ONLY: a file holding a number of seconds added to the clock (re-read every "
          "200 ms, forward only) so demos and whole-stack tests can jump ahead to expiries and "
          "SLA timeouts. Never set in production");
ABSL_FLAG(int, store_max_open_files, 512,
          "at most this many of the store's table files open at once (file descriptors; RocksDB "
          "closes the least recently used beyond it): the descriptor count stays bounded "
          "whatever the data volume. At least 16");
ABSL_FLAG(int, store_memtable_budget_mb, 32,
          "MiB of memtables (unflushed writes) of all the store's column families together; "
          "with --store_block_cache_mb the bulk of the store's memory. At least 1");
ABSL_FLAG(int, store_block_cache_mb, 32,
          "MiB of the store's block cache (table blocks read), shared by all column families. "
          "At least 1");
ABSL_FLAG(bool, store_key_filters, true,
          "keep an in-memory filter (~1.25 bytes per key) of the keys of the service's "
          "point-lookup read models (e.g. POS's duplicate-line index), so that checking a key "
          "that does not exist does not read the store. false: every check reads the store");
ABSL_FLAG(bool, store_memory_read_models, true,
          "hold the service's memory read models (deal registration: the customer index) whole "
          "in process memory, so that the reads of committed data (e.g. every conflict check) "
          "never read the engine. false: they read the store (less memory, a slower tail)");
ABSL_FLAG(bool, store_sync, true,
          "fsync every group commit (never turn off in production: acknowledged writes could be "
          "lost on power failure)");

// jemalloc's options, read at its start in the service binaries (which link it,
// see CMakeLists.txt; elsewhere the symbol is unused): a background thread
// returns freed memory to the system within seconds, also when the service is
// idle, so RSS follows the bytes in use.
extern "C" {
extern const char* malloc_conf;
const char* malloc_conf = "background_thread:true,dirty_decay_ms:5000,muzzy_decay_ms:5000";
}

namespace channelops::server {
namespace {

absl::StatusOr<std::pair<std::string, int>> SplitHostPort(absl::string_view flag,
                                                          absl::string_view v) {
  auto colon = v.rfind(':');
  int port = 0;
  if (colon == absl::string_view::npos || !absl::SimpleAtoi(v.substr(colon + 1), &port) ||
      port < 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": must be host:port, got '", v, "'"));
  }
  return std::make_pair(std::string(v.substr(0, colon)), port);
}

// Per-RPC count and latency by method and code.
class MetricsInterceptor final : public grpc::experimental::Interceptor {
 public:
  MetricsInterceptor(grpc::experimental::ServerRpcInfo* info,
                     prometheus::Family<prometheus::Counter>* c,
                     prometheus::Family<prometheus::Histogram>* h)
      : method_(info->method()), counters_(c), hist_(h), start_(absl::Now()) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      grpc::Status s = methods->GetSendStatus();
      std::string code = CodeName(s.error_code());
      counters_->Add({{"method", method_}, {"code", code}}).Increment();
      static const prometheus::Histogram::BucketBoundaries kBuckets = {
          0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5};
      hist_->Add({{"method", method_}}, kBuckets)
          .Observe(absl::ToDoubleSeconds(absl::Now() - start_));
    }
    methods->Proceed();
  }

  static std::string CodeName(grpc::StatusCode c) {
    static const char* kNames[] = {"OK",
                                   "CANCELLED",
                                   "UNKNOWN",
                                   "INVALID_ARGUMENT",
                                   "DEADLINE_EXCEEDED",
                                   "NOT_FOUND",
                                   "ALREADY_EXISTS",
                                   "PERMISSION_DENIED",
                                   "RESOURCE_EXHAUSTED",
                                   "FAILED_PRECONDITION",
                                   "ABORTED",
                                   "OUT_OF_RANGE",
                                   "UNIMPLEMENTED",
                                   "INTERNAL",
                                   "UNAVAILABLE",
                                   "DATA_LOSS",
                                   "UNAUTHENTICATED"};
    int i = static_cast<int>(c);
    return i >= 0 && i <= 16 ? kNames[i] : absl::StrCat(i);
  }

 private:
  std::string method_;
  prometheus::Family<prometheus::Counter>* counters_;
  prometheus::Family<prometheus::Histogram>* hist_;
  absl::Time start_;
};

class MetricsInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit MetricsInterceptorFactory(prometheus::Registry& r)
      : counters_(&prometheus::BuildCounter()
                       .Name("channelops_grpc_server_handled_total")
                       .Help("RPCs completed, by method and status code")
                       .Register(r)),
        hist_(&prometheus::BuildHistogram()
                   .Name("channelops_grpc_server_handling_seconds")
                   .Help("RPC latency from first byte to status, by method")
                   .Register(r)) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new MetricsInterceptor(info, counters_, hist_);
  }

 private:
  prometheus::Family<prometheus::Counter>* counters_;
  prometheus::Family<prometheus::Histogram>* hist_;
};

std::atomic<ServiceRuntime*> g_runtime{nullptr};

// The --tls_* flags, checked once for gRPC and /metrics.
struct TlsFlags {
  bool enabled = false;  // --tls_cert_file and --tls_key_file given
  std::string cert, key, ca;
  bool require_client_cert = true;  // --tls_client_auth=require
  absl::Duration reload_interval;
};

absl::StatusOr<TlsFlags> TlsFlagsFromFlags() {
  TlsFlags t;
  t.cert = absl::GetFlag(FLAGS_tls_cert_file);
  t.key = absl::GetFlag(FLAGS_tls_key_file);
  t.ca = absl::GetFlag(FLAGS_tls_ca_file);
  std::string mode = absl::GetFlag(FLAGS_tls_client_auth);
  if (t.cert.empty() && t.key.empty()) {
    if (!t.ca.empty()) {
      return absl::InvalidArgumentError("tls_ca_file: needs --tls_cert_file and --tls_key_file");
    }
    return t;
  }
  if (t.cert.empty() || t.key.empty()) {
    return absl::InvalidArgumentError("tls_cert_file, tls_key_file: both are required for TLS");
  }
  for (const auto& [flag, path] : {std::pair<const char*, std::string>{"tls_cert_file", t.cert},
                                   {"tls_key_file", t.key},
                                   {"tls_ca_file", t.ca}}) {
    if (!path.empty() && !std::filesystem::exists(path)) {
      return absl::InvalidArgumentError(absl::StrCat(flag, ": no such file '", path, "'"));
    }
  }
  if (mode != "require" && mode != "request") {
    return absl::InvalidArgumentError("tls_client_auth: must be 'require' or 'request'");
  }
  t.enabled = true;
  t.require_client_cert = mode == "require";
  t.reload_interval = std::max(absl::Seconds(1), absl::GetFlag(FLAGS_tls_reload_interval));
  return t;
}

// Insecure, TLS, or mutual TLS from the --tls_* flags. Certificates are read by a
// file watcher, so rotating them on disk needs no restart.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentialsFromFlags() {
  CHANNELOPS_ASSIGN_OR_RETURN(TlsFlags tls, TlsFlagsFromFlags());
  if (!tls.enabled) return grpc::InsecureServerCredentials();
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      tls.key, tls.cert, tls.ca, static_cast<unsigned>(absl::ToInt64Seconds(tls.reload_interval)));
  grpc::experimental::TlsServerCredentialsOptions opts(provider);
  opts.watch_identity_key_cert_pairs();
  if (!tls.ca.empty()) {
    opts.watch_root_certs();
    opts.set_cert_request_type(tls.require_client_cert
                                   ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                                   : GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
  } else {
    opts.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  }
  return grpc::experimental::TlsServerCredentials(opts);
}

}  // namespace

std::vector<char*> InitProcess(int argc, char** argv, const char* usage) {
  // Signals are handled by ServiceRuntime::Run via sigwait; block them in every
  // thread created from here on.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  // Debian builds Abseil without NDEBUG, so absl::Mutex runs its deadlock
  // detector by default: every Mutex (gRPC's own, per call) gets a node in one
  // process-wide graph under a global lock, and every Lock walks it.
  // bench_handoff: a new mutex locked inside another, 86 -> 25 ns.
  // In-process tests (gtest binaries) keep it on.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);

  absl::FlagsUsageConfig cfg;
  cfg.contains_helpshort_flags = [](absl::string_view) { return true; };
  cfg.contains_help_flags = [](absl::string_view f) {
    return absl::StrContains(f, "channelops") || absl::StrContains(f, "services/") ||
           absl::StrContains(f, "libs/") || absl::StrContains(f, "tools/");
  };
  absl::SetFlagsUsageConfig(cfg);
  absl::SetProgramUsageMessage(absl::StrCat(
      usage,
      "\n\nEvery flag can also be set by the environment variable CHANNELOPS_<FLAG NAME IN UPPER "
      "CASE>\n(e.g. CHANNELOPS_GRPC_ADDR); a flag on the command line wins."));

  // Environment overrides become leading --flag=value arguments so that the
  // command line, parsed later, wins.
  std::vector<std::string> env_args;
  for (char** e = environ; e && *e; ++e) {
    absl::string_view kv(*e);
    if (!absl::StartsWith(kv, "CHANNELOPS_")) continue;
    auto eq = kv.find('=');
    if (eq == absl::string_view::npos) continue;
    std::string name = absl::AsciiStrToLower(kv.substr(11, eq - 11));
    if (absl::FindCommandLineFlag(name) == nullptr) continue;
    env_args.push_back(absl::StrCat("--", name, "=", kv.substr(eq + 1)));
  }
  static std::vector<std::string>* storage = new std::vector<std::string>();
  std::vector<char*> args;
  args.push_back(argv[0]);
  for (auto& a : env_args) {
    storage->push_back(a);
  }
  for (auto& a : *storage) args.push_back(a.data());
  for (int i = 1; i < argc; ++i) args.push_back(argv[i]);
  // "--help" shows every channelops flag (absl's --help otherwise filters by file).
  for (char*& a : args) {
    if (absl::string_view(a) == "--help" || absl::string_view(a) == "-h")
      a = const_cast<char*>("--helpfull");
  }
  return absl::ParseCommandLine(static_cast<int>(args.size()), args.data());
}

std::string CallerIdentity(const grpc::CallbackServerContext& ctx) {
  static const std::string header = absl::GetFlag(FLAGS_identity_header);
  if (!header.empty()) {
    auto it = ctx.client_metadata().find(header);
    if (it != ctx.client_metadata().end()) return std::string(it->second.data(), it->second.size());
  }
  auto auth = ctx.auth_context();
  if (auth && auth->IsPeerAuthenticated()) {
    // SPIFFE-style URI SAN first, then any SAN, then the subject CN.
    for (const auto& v : auth->FindPropertyValues("peer_spiffe_id")) {
      if (!v.empty()) return std::string(v.data(), v.size());
    }
    for (const auto& v : auth->FindPropertyValues("x509_subject_alternative_name")) {
      if (absl::StartsWith(absl::string_view(v.data(), v.size()), "spiffe://"))
        return std::string(v.data(), v.size());
    }
    for (const char* prop : {"x509_common_name", "x509_subject_alternative_name"}) {
      auto vals = auth->FindPropertyValues(prop);
      if (!vals.empty()) return std::string(vals.front().data(), vals.front().size());
    }
  }
  return "anonymous";
}

class ServiceRuntime::Impl {
 public:
  ServiceConfig config;
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  std::unique_ptr<prometheus::Exposer> exposer;       // plain HTTP /metrics
  std::unique_ptr<MetricsHttpsServer> metrics_https;  // --metrics_tls
  std::unique_ptr<eventstore::EventStore> store;
  std::unique_ptr<outbox::Relay> relay;
  std::vector<grpc::Service*> services;
  std::vector<std::function<void()>> on_shutdown;
  struct Task {
    std::string name;
    absl::Duration interval;
    std::function<void()> fn;
    std::thread thread;
  };
  std::vector<std::unique_ptr<Task>> tasks;
  absl::Notification stop_tasks;
  absl::Notification shutdown;
  std::string metrics_bound;
  std::unique_ptr<Authorizer> authorizer = std::make_unique<Authorizer>();
  std::unique_ptr<core::OffsetClock> dev_clock;
};

ServiceRuntime::ServiceRuntime(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ServiceRuntime::~ServiceRuntime() {
  g_runtime = nullptr;
  if (!impl_->stop_tasks.HasBeenNotified()) impl_->stop_tasks.Notify();
  for (auto& t : impl_->tasks) {
    if (t->thread.joinable()) t->thread.join();
  }
  if (impl_->relay) impl_->relay->Stop(absl::Seconds(1));
  if (impl_->store) impl_->store->Close();
}

absl::StatusOr<std::unique_ptr<ServiceRuntime>> ServiceRuntime::Create(ServiceConfig config) {
  auto impl = std::make_unique<Impl>();
  impl->config = std::move(config);
  std::string dev_clock_file = absl::GetFlag(FLAGS_dev_clock_offset_file);
  if (impl->config.clock == nullptr && !dev_clock_file.empty()) {
    impl->dev_clock = std::make_unique<core::OffsetClock>(core::SystemClock::Instance());
    impl->config.clock = impl->dev_clock.get();
    LogWarn("development clock: offset read from a file", {{"file", dev_clock_file}});
  }
  if (impl->config.clock == nullptr) impl->config.clock = &core::SystemClock::Instance();
  std::string data_dir = absl::GetFlag(FLAGS_data_dir);
  if (data_dir.empty()) return absl::InvalidArgumentError("data_dir: is required");
  CHANNELOPS_ASSIGN_OR_RETURN(outbox::Format format,
                              outbox::ParseFormat(absl::GetFlag(FLAGS_kafka_format)));
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  if (ec)
    return absl::InvalidArgumentError(
        absl::StrCat("data_dir: cannot create '", data_dir, "': ", ec.message()));

  std::string metrics_addr = absl::GetFlag(FLAGS_metrics_addr);
  bool metrics_tls = absl::GetFlag(FLAGS_metrics_tls);
  if (metrics_tls && metrics_addr.empty()) {
    return absl::InvalidArgumentError("metrics_tls: needs --metrics_addr");
  }
  if (metrics_tls) {
    CHANNELOPS_ASSIGN_OR_RETURN(auto hp, SplitHostPort("metrics_addr", metrics_addr));
    CHANNELOPS_ASSIGN_OR_RETURN(TlsFlags tls, TlsFlagsFromFlags());
    if (!tls.enabled) {
      return absl::InvalidArgumentError("metrics_tls: needs --tls_cert_file and --tls_key_file");
    }
    MetricsHttpsOptions mo;
    mo.host = hp.first;
    mo.port = hp.second;
    mo.cert_file = tls.cert;
    mo.key_file = tls.key;
    mo.ca_file = tls.ca;
    mo.require_client_cert = tls.require_client_cert;
    mo.reload_interval = tls.reload_interval;
    CHANNELOPS_ASSIGN_OR_RETURN(impl->metrics_https,
                                MetricsHttpsServer::Start(std::move(mo), impl->registry));
    impl->metrics_bound = absl::StrCat(hp.first, ":", impl->metrics_https->port());
  } else if (!metrics_addr.empty()) {
    CHANNELOPS_RETURN_IF_ERROR(SplitHostPort("metrics_addr", metrics_addr).status());
    try {
      impl->exposer = std::make_unique<prometheus::Exposer>(metrics_addr);
    } catch (const std::exception& e) {
      return absl::UnavailableError(
          absl::StrCat("metrics_addr: cannot listen on ", metrics_addr, ": ", e.what()));
    }
    impl->exposer->RegisterCollectable(impl->registry);
    auto ports = impl->exposer->GetListeningPorts();
    auto hp = SplitHostPort("metrics_addr", metrics_addr);
    impl->metrics_bound = absl::StrCat(hp->first, ":", ports.empty() ? 0 : ports.front());
  }

  std::string policy = absl::GetFlag(FLAGS_authz_policy);
  if (!policy.empty()) {
    CHANNELOPS_ASSIGN_OR_RETURN(impl->authorizer,
                                Authorizer::FromPolicyFile(policy, impl->registry.get()));
    LogInfo("authorization policy loaded", {{"path", policy}});
  } else {
    LogWarn("no --authz_policy: every caller is allowed (development only)");
  }

  eventstore::Options so;
  so.path = data_dir;
  so.source = absl::StrCat("channelops/", impl->config.name);
  so.read_model_cfs = impl->config.read_model_cfs;
  so.point_lookup_cfs = impl->config.point_lookup_cfs;
  so.stream_insert_hints = impl->config.stream_insert_hints;
  if (absl::GetFlag(FLAGS_store_memory_read_models)) {
    so.memory_read_cfs = impl->config.memory_read_cfs;
  }
  so.clock = impl->config.clock;
  so.metrics = impl->registry.get();
  so.sync = absl::GetFlag(FLAGS_store_sync);
  so.key_filters = absl::GetFlag(FLAGS_store_key_filters);
  so.max_open_files = absl::GetFlag(FLAGS_store_max_open_files);
  for (auto [flag, mb, out] : {
           std::make_tuple("--store_memtable_budget_mb", absl::GetFlag(FLAGS_store_memtable_budget_mb),
                           &so.memtable_budget_bytes),
           std::make_tuple("--store_block_cache_mb", absl::GetFlag(FLAGS_store_block_cache_mb),
                           &so.block_cache_bytes)}) {
    if (mb < 1 || mb > (1 << 20)) {
      return absl::InvalidArgumentError(
          absl::StrCat(flag, ": must be between 1 and 1048576 (MiB), got ", mb));
    }
    *out = static_cast<size_t>(mb) << 20;
  }
  CHANNELOPS_ASSIGN_OR_RETURN(impl->store, eventstore::EventStore::Open(so));

  int64_t republish = absl::GetFlag(FLAGS_outbox_republish_from);
  if (republish > 0) {
    CHANNELOPS_RETURN_IF_ERROR(
        outbox::Relay::ResetCursor(*impl->store, static_cast<uint64_t>(republish)));
    LogInfo("outbox cursor reset", {{"from_position", absl::StrCat(republish)}});
  }
  std::string bootstrap = absl::GetFlag(FLAGS_kafka_bootstrap);
  if (!bootstrap.empty() && !impl->config.topic.empty()) {
    outbox::RelayOptions ro;
    ro.bootstraps = bootstrap;
    ro.topic = impl->config.topic;
    ro.format = format;
    ro.metrics = impl->registry.get();
    CHANNELOPS_ASSIGN_OR_RETURN(impl->relay, outbox::Relay::Create(*impl->store, ro));
    impl->relay->Start();
  }
  auto rt = std::unique_ptr<ServiceRuntime>(new ServiceRuntime(std::move(impl)));
  if (rt->impl_->dev_clock) {
    core::OffsetClock* clock = rt->impl_->dev_clock.get();
    rt->AddBackgroundTask("dev_clock", absl::Milliseconds(200), [clock, dev_clock_file] {
      std::ifstream f(dev_clock_file);
      int64_t secs = 0;
      if (f >> secs && clock->AdvanceTo(absl::Seconds(secs))) {
        LogInfo("development clock moved", {{"offset_seconds", absl::StrCat(secs)}});
      }
    });
  }
  // Idempotency records older than the retention window are pruned hourly.
  rt->AddBackgroundTask("idempotency_prune", absl::Hours(1), [r = rt.get()] {
    auto n = r->store().PruneIdempotency(r->clock().Now());
    if (!n.ok()) LogWarn("idempotency prune failed", {{"status", n.status().ToString()}});
  });
  return rt;
}

eventstore::EventStore& ServiceRuntime::store() { return *impl_->store; }
core::Clock& ServiceRuntime::clock() { return *impl_->config.clock; }
prometheus::Registry& ServiceRuntime::metrics() { return *impl_->registry; }
const ServiceConfig& ServiceRuntime::config() const { return impl_->config; }
const Authorizer& ServiceRuntime::authorizer() const { return *impl_->authorizer; }
void ServiceRuntime::AddService(grpc::Service* s) { impl_->services.push_back(s); }
void ServiceRuntime::OnShutdown(std::function<void()> fn) {
  impl_->on_shutdown.push_back(std::move(fn));
}

void ServiceRuntime::AddBackgroundTask(std::string name, absl::Duration interval,
                                       std::function<void()> fn) {
  auto t = std::make_unique<Impl::Task>();
  t->name = std::move(name);
  t->interval = interval;
  t->fn = std::move(fn);
  Impl::Task* raw = t.get();
  absl::Notification* stop = &impl_->stop_tasks;
  t->thread = std::thread([raw, stop] {
    while (!stop->WaitForNotificationWithTimeout(raw->interval)) raw->fn();
  });
  impl_->tasks.push_back(std::move(t));
}

void ServiceRuntime::RequestShutdown() {
  if (!impl_->shutdown.HasBeenNotified()) impl_->shutdown.Notify();
}

int ServiceRuntime::Run() {
  std::string addr = absl::GetFlag(FLAGS_grpc_addr);
  auto hp = SplitHostPort("grpc_addr", addr);
  if (!hp.ok()) {
    LogError("bad flag", {{"status", hp.status().ToString()}});
    return 2;
  }
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  auto creds = ServerCredentialsFromFlags();
  if (!creds.ok()) {
    LogError("bad TLS flags", {{"status", creds.status().ToString()}});
    return 2;
  }
  builder.AddListeningPort(addr, *creds, &port);
  for (grpc::Service* s : impl_->services) builder.RegisterService(s);
  builder.SetMaxReceiveMessageSize(64 << 20);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(std::make_unique<MetricsInterceptorFactory>(*impl_->registry));
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) {
    LogError("cannot listen", {{"grpc_addr", addr}});
    return 1;
  }
  auto* health = server->GetHealthCheckService();
  health->SetServingStatus(true);
  std::string bound = absl::StrCat(hp->first, ":", port);
  LogInfo("listening", {{"service", impl_->config.name},
                        {"grpc_addr", bound},
                        {"metrics_addr", impl_->metrics_bound},
                        {"metrics_scheme", impl_->metrics_bound.empty() ? ""
                                           : impl_->metrics_https       ? "https"
                                                                        : "http"},
                        {"data_dir", absl::GetFlag(FLAGS_data_dir)},
                        {"topic", impl_->config.topic}});

  // Wait for SIGTERM/SIGINT (blocked in every thread by InitProcess) or RequestShutdown.
  std::thread signal_waiter([this] {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    int sig = 0;
    while (!impl_->shutdown.HasBeenNotified()) {
      timespec ts{0, 100 * 1000 * 1000};
      sig = sigtimedwait(&set, nullptr, &ts);
      if (sig > 0) {
        LogInfo("signal received, draining", {{"signal", absl::StrCat(sig)}});
        RequestShutdown();
      }
    }
  });
  impl_->shutdown.WaitForNotification();
  signal_waiter.join();

  absl::Duration timeout = absl::GetFlag(FLAGS_shutdown_timeout);
  health->SetServingStatus(false);
  server->Shutdown(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout));
  impl_->stop_tasks.Notify();
  for (auto& t : impl_->tasks) {
    if (t->thread.joinable()) t->thread.join();
  }
  for (auto& fn : impl_->on_shutdown) fn();
  if (impl_->relay) {
    impl_->relay->Stop(timeout);
    LogInfo("outbox stopped", {{"cursor", absl::StrCat(impl_->relay->cursor())},
                               {"lag", absl::StrCat(impl_->relay->lag())}});
  }
  impl_->store->Close();
  server->Wait();
  LogInfo("stopped", {{"service", impl_->config.name}});
  return 0;
}

}  // namespace channelops::server
