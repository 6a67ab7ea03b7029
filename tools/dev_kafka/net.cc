#include "net.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace channelops::dev_kafka {
namespace {

absl::StatusOr<sockaddr_in> ParseAddr(const std::string& addr) {
  const size_t colon = addr.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("address '", addr, "' is not host:port"));
  }
  std::string host = addr.substr(0, colon);
  if (host.empty() || host == "localhost") host = "127.0.0.1";
  int port = -1;
  if (!absl::SimpleAtoi(addr.substr(colon + 1), &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("address '", addr, "' has a bad port"));
  }
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &sa.sin_addr) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("address '", addr, "': host must be an IPv4 literal or localhost"));
  }
  return sa;
}

int ConnectTo(const std::string& addr) {
  auto sa = ParseAddr(addr);
  if (!sa.ok()) return -1;
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int r;
  do {
    r = ::connect(fd, reinterpret_cast<const sockaddr*>(&*sa), sizeof(*sa));
  } while (r != 0 && errno == EINTR);
  if (r != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

void NoDelay(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

bool SendAll(int fd, const char* p, size_t n) {
  while (n > 0) {
    const ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

void Wake(int efd) {
  const uint64_t one = 1;
  (void)!::write(efd, &one, sizeof(one));
}

}  // namespace

absl::StatusOr<int> Listen(const std::string& addr) {
  auto sa = ParseAddr(addr);
  if (!sa.ok()) return sa.status();
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&*sa), sizeof(*sa)) != 0 ||
      ::listen(fd, 128) != 0) {
    const int e = errno;
    ::close(fd);
    return absl::UnavailableError(absl::StrCat("listen on ", addr, ": ", std::strerror(e)));
  }
  return fd;
}

std::string BoundAddress(int fd) {
  sockaddr_in sa{};
  socklen_t len = sizeof(sa);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  char host[INET_ADDRSTRLEN] = {0};
  ::inet_ntop(AF_INET, &sa.sin_addr, host, sizeof(host));
  return absl::StrCat(host, ":", ntohs(sa.sin_port));
}

// ---- TcpForwarder ----

TcpForwarder::TcpForwarder(int listen_fd, std::function<std::vector<std::string>()> upstreams)
    : listen_fd_(listen_fd), wake_fd_(::eventfd(0, EFD_CLOEXEC)), upstreams_(std::move(upstreams)) {
  accept_thread_ = std::thread([this] { AcceptLoop(); });
}

TcpForwarder::~TcpForwarder() { Stop(); }

void TcpForwarder::Stop() {
  {
    absl::MutexLock l(&mu_);
    if (stopped_) return;
    stopped_ = true;
    for (auto& c : conns_) {
      ::shutdown(c->client, SHUT_RDWR);  // wakes both pumps
      ::shutdown(c->upstream, SHUT_RDWR);
    }
  }
  Wake(wake_fd_);
  accept_thread_.join();
  absl::MutexLock l(&mu_);
  Reap(/*all=*/true);
  ::close(listen_fd_);
  ::close(wake_fd_);
}

void TcpForwarder::AcceptLoop() {
  while (true) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    const int r = ::poll(fds, 2, 1000);
    {
      absl::MutexLock l(&mu_);
      if (stopped_) return;
      Reap(/*all=*/false);
    }
    if (r <= 0 || !(fds[0].revents & POLLIN)) continue;
    const int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    int upstream = -1;
    for (const std::string& addr : upstreams_()) {
      if ((upstream = ConnectTo(addr)) >= 0) break;
    }
    if (upstream < 0) {  // every broker is down: the client retries, as with a real cluster
      ::close(client);
      continue;
    }
    NoDelay(client);
    NoDelay(upstream);
    auto c = std::make_unique<Connection>();
    c->client = client;
    c->upstream = upstream;
    absl::MutexLock l(&mu_);
    if (stopped_) {
      ::close(client);
      ::close(upstream);
      return;
    }
    Connection* raw = c.get();
    raw->up = std::thread([this, raw] { Pump(raw, raw->client, raw->upstream); });
    raw->down = std::thread([this, raw] { Pump(raw, raw->upstream, raw->client); });
    conns_.push_back(std::move(c));
  }
}

void TcpForwarder::Pump(Connection* c, int from, int to) {
  char buf[64 * 1024];
  while (true) {
    const ssize_t n = ::recv(from, buf, sizeof(buf), 0);
    if (n > 0) {
      if (!SendAll(to, buf, static_cast<size_t>(n))) {
        ::shutdown(from, SHUT_RDWR);
        ::shutdown(to, SHUT_RDWR);
        break;
      }
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) {
      ::shutdown(to, SHUT_WR);  // pass the half-close on; the other direction goes on
    } else {
      ::shutdown(from, SHUT_RDWR);
      ::shutdown(to, SHUT_RDWR);
    }
    break;
  }
  c->finished.fetch_add(1);
}

void TcpForwarder::Reap(bool all) {
  for (auto it = conns_.begin(); it != conns_.end();) {
    Connection& c = **it;
    if (!all && c.finished.load() < 2) {
      ++it;
      continue;
    }
    c.up.join();
    c.down.join();
    ::close(c.client);
    ::close(c.upstream);
    it = conns_.erase(it);
  }
}

// ---- LineServer ----

LineServer::LineServer(int listen_fd, std::function<std::string(const std::string&)> handler)
    : listen_fd_(listen_fd), wake_fd_(::eventfd(0, EFD_CLOEXEC)), handler_(std::move(handler)) {
  thread_ = std::thread([this] { Loop(); });
}

LineServer::~LineServer() { Stop(); }

void LineServer::Stop() {
  if (stopped_.exchange(true)) return;
  Wake(wake_fd_);
  thread_.join();
  ::close(listen_fd_);
  ::close(wake_fd_);
}

void LineServer::Loop() {
  std::map<int, std::string> clients;  // fd -> unterminated input
  while (!stopped_.load()) {
    std::vector<pollfd> fds = {{listen_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    for (const auto& [fd, buf] : clients) fds.push_back({fd, POLLIN, 0});
    if (::poll(fds.data(), fds.size(), -1) < 0) continue;
    if (fds[0].revents & POLLIN) {
      const int c = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c >= 0) clients[c];
    }
    for (size_t i = 2; i < fds.size(); ++i) {
      if (fds[i].revents == 0) continue;
      const int fd = fds[i].fd;
      char buf[1024];
      const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
      std::string& in = clients[fd];
      bool close_it = n <= 0;
      if (n > 0) {
        in.append(buf, static_cast<size_t>(n));
        size_t nl;
        while ((nl = in.find('\n')) != std::string::npos) {
          std::string line = in.substr(0, nl);
          in.erase(0, nl + 1);
          if (!line.empty() && line.back() == '\r') line.pop_back();
          if (line.empty()) continue;
          const std::string resp = handler_(line) + "\n";
          if (!SendAll(fd, resp.data(), resp.size())) close_it = true;
        }
        if (in.size() > 4096) close_it = true;  // not a line protocol client
      }
      if (close_it) {
        ::close(fd);
        clients.erase(fd);
      }
    }
  }
  for (const auto& [fd, buf] : clients) ::close(fd);
}

}  // namespace channelops::dev_kafka
