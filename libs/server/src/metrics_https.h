#pragma once

// Prometheus /metrics over TLS (optionally mutual TLS), for --metrics_tls.
// Private to libs/server.
//
// Why not prometheus-cpp's Exposer: its civetweb (Debian 12: libcivetweb1
// 1.15) is built against the OpenSSL 1.1 API and dlopen()s libssl.so at run
// time. With Debian 12's OpenSSL 3 the symbol SSL_get_peer_certificate does not
// exist (it is a macro over SSL_get1_peer_certificate), civetweb leaves the
// pointer null and calls it after every TLS handshake: the first HTTPS scrape
// kills the process with SIGSEGV. (It also needs the libssl-dev symlink
// libssl.so at run time, and never reloads certificates.) The plaintext
// endpoint keeps using the Exposer.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace prometheus {
class Registry;
}

namespace channelops::server {

struct MetricsHttpsOptions {
  std::string host;                 // numeric address or name; "[::]" style brackets allowed
  int port = 0;                     // 0: any free port (see MetricsHttpsServer::port)
  std::string cert_file, key_file;  // PEM chain (leaf first) and its key
  std::string ca_file;              // PEM CAs for client certificates; empty: no client auth
  bool require_client_cert = true;  // with ca_file: refuse clients without one
  absl::Duration reload_interval = absl::Seconds(10);  // certificate files re-read this often
};

// Serves GET /metrics in the Prometheus text format from `registry`, one request
// per connection (Connection: close), at most a few connections at a time.
// Certificate files are re-read every reload_interval; a changed, valid set is
// used for new connections, an invalid one (e.g. key and certificate of
// different generations mid-rotation) is logged and the previous set kept.
// Thread-safe; stops (and joins its threads) in the destructor.
class MetricsHttpsServer {
 public:
  // Errors: INVALID_ARGUMENT for unreadable or inconsistent certificate files;
  // UNAVAILABLE if the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<MetricsHttpsServer>> Start(
      MetricsHttpsOptions options, std::shared_ptr<prometheus::Registry> registry);
  ~MetricsHttpsServer();

  int port() const;

  class Impl;

 private:
  explicit MetricsHttpsServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace channelops::server
