#pragma once

// Loopback TCP plumbing for dev_kafka: a connection forwarder (so clients can
// bootstrap from a fixed address while the mock brokers sit on random ports)
// and a line-based control socket.

#include <atomic>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace channelops::dev_kafka {

// "host:port" -> a listening IPv4 socket (host: dotted quad or "localhost";
// port 0 picks a free one). INVALID_ARGUMENT for a malformed address,
// UNAVAILABLE if it cannot bind (e.g. the port is taken).
absl::StatusOr<int> Listen(const std::string& addr);
// "127.0.0.1:<port>" the socket is bound to.
std::string BoundAddress(int fd);

// Accepts connections on `listen_fd` and pipes each, byte for byte in both
// directions, to the first of upstreams() that accepts a connection (a mock
// broker that is down refuses connections, so the next one is tried). One
// thread per direction per connection: fine for a dev cluster's handful of
// bootstrap connections. Thread-safe.
class TcpForwarder {
 public:
  TcpForwarder(int listen_fd, std::function<std::vector<std::string>()> upstreams);
  ~TcpForwarder();  // Stop()
  TcpForwarder(const TcpForwarder&) = delete;
  TcpForwarder& operator=(const TcpForwarder&) = delete;

  // Closes the listener and every forwarded connection. Idempotent.
  void Stop();

 private:
  struct Connection {
    int client = -1;
    int upstream = -1;
    std::thread up, down;
    std::atomic<int> finished{0};  // directions done
  };
  void AcceptLoop();
  void Pump(Connection* c, int from, int to);
  void Reap(bool all) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const int listen_fd_;
  const int wake_fd_;  // eventfd: wakes the accept loop on Stop
  const std::function<std::vector<std::string>()> upstreams_;
  absl::Mutex mu_;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  std::list<std::unique_ptr<Connection>> conns_ ABSL_GUARDED_BY(mu_);
  std::thread accept_thread_;
};

// A line-based control socket: each request line gets one response line,
// "ok[ <detail>]" or "error <why>". `handler` maps a request line to the
// response (without the newline); it runs on the server's one thread.
class LineServer {
 public:
  LineServer(int listen_fd, std::function<std::string(const std::string&)> handler);
  ~LineServer();  // Stop()
  LineServer(const LineServer&) = delete;
  LineServer& operator=(const LineServer&) = delete;
  void Stop();

 private:
  void Loop();

  const int listen_fd_;
  const int wake_fd_;
  const std::function<std::string(const std::string&)> handler_;
  std::atomic<bool> stopped_{false};
  std::thread thread_;
};

}  // namespace channelops::dev_kafka
