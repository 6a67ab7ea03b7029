#include "metrics_https.h"

#include <netdb.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <list>
#include <sstream>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "channelops/server/log.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"

namespace channelops::server {
namespace {

// A scrape is one small request; anything slower or larger is not Prometheus.
constexpr int kMaxConnections = 8;
constexpr size_t kMaxRequestBytes = 16 << 10;
constexpr int kIoTimeoutSeconds = 10;

using SslCtxPtr = std::shared_ptr<SSL_CTX>;

// Drains OpenSSL's error queue into one message.
std::string OpenSslErrors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    absl::StrAppend(&out, out.empty() ? "" : "; ", buf);
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

absl::StatusOr<std::string> ReadFile(const char* flag, const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return absl::InvalidArgumentError(absl::StrCat(flag, ": cannot read '", path, "'"));
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

struct Pem {
  std::string cert, key, ca;
  bool operator==(const Pem& o) const { return cert == o.cert && key == o.key && ca == o.ca; }
};

absl::StatusOr<Pem> ReadPem(const MetricsHttpsOptions& o) {
  Pem p;
  auto cert = ReadFile("tls_cert_file", o.cert_file);
  if (!cert.ok()) return cert.status();
  p.cert = std::move(*cert);
  auto key = ReadFile("tls_key_file", o.key_file);
  if (!key.ok()) return key.status();
  p.key = std::move(*key);
  if (!o.ca_file.empty()) {
    auto ca = ReadFile("tls_ca_file", o.ca_file);
    if (!ca.ok()) return ca.status();
    p.ca = std::move(*ca);
  }
  return p;
}

// Every certificate in a PEM bundle.
std::vector<X509*> ReadCerts(const std::string& pem) {
  std::vector<X509*> out;
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  while (X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) out.push_back(x);
  ERR_clear_error();  // the loop ends on "no start line"
  BIO_free(bio);
  return out;
}

absl::StatusOr<SslCtxPtr> BuildContext(const Pem& pem, const MetricsHttpsOptions& o) {
  ERR_clear_error();
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()), SSL_CTX_free);
  if (!ctx) return absl::InternalError(absl::StrCat("SSL_CTX_new: ", OpenSslErrors()));
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_RENEGOTIATION);

  std::vector<X509*> chain = ReadCerts(pem.cert);
  if (chain.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("tls_cert_file: no PEM certificate in '", o.cert_file, "'"));
  }
  BIO* kb = BIO_new_mem_buf(pem.key.data(), static_cast<int>(pem.key.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(kb, nullptr, nullptr, nullptr);
  BIO_free(kb);
  absl::Status st = absl::OkStatus();
  if (key == nullptr) {
    st = absl::InvalidArgumentError(
        absl::StrCat("tls_key_file: no PEM private key in '", o.key_file, "': ", OpenSslErrors()));
  } else if (X509_check_private_key(chain[0], key) != 1) {
    ERR_clear_error();
    st = absl::InvalidArgumentError(
        absl::StrCat("tls_key_file: does not match the certificate in '", o.cert_file, "'"));
  } else if (SSL_CTX_use_certificate(ctx.get(), chain[0]) != 1 ||
             SSL_CTX_use_PrivateKey(ctx.get(), key) != 1) {
    st = absl::InvalidArgumentError(
        absl::StrCat("tls_cert_file, tls_key_file: '", o.cert_file, "': ", OpenSslErrors()));
  }
  EVP_PKEY_free(key);
  X509_free(chain[0]);
  for (size_t i = 1; i < chain.size(); ++i) {
    // add0: the context takes ownership.
    if (st.ok() && SSL_CTX_add0_chain_cert(ctx.get(), chain[i]) == 1) continue;
    X509_free(chain[i]);
    if (st.ok()) {
      st = absl::InvalidArgumentError(
          absl::StrCat("tls_cert_file: chain of '", o.cert_file, "': ", OpenSslErrors()));
    }
  }
  if (!st.ok()) return st;
  if (!o.ca_file.empty()) {
    std::vector<X509*> cas = ReadCerts(pem.ca);
    if (cas.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("tls_ca_file: no PEM certificate in '", o.ca_file, "'"));
    }
    X509_STORE* store = SSL_CTX_get_cert_store(ctx.get());
    bool ok = true;
    for (X509* ca : cas) {
      ok = ok && X509_STORE_add_cert(store, ca) == 1 && SSL_CTX_add_client_CA(ctx.get(), ca) == 1;
      X509_free(ca);
    }
    if (!ok) {
      return absl::InvalidArgumentError(
          absl::StrCat("tls_ca_file: '", o.ca_file, "': ", OpenSslErrors()));
    }
    SSL_CTX_set_verify(
        ctx.get(), SSL_VERIFY_PEER | (o.require_client_cert ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
        nullptr);
    static const unsigned char kSid[] = "channelops-metrics";
    SSL_CTX_set_session_id_context(ctx.get(), kSid, sizeof(kSid) - 1);
  } else {
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  }
  return ctx;
}

std::string HttpResponse(absl::string_view status, absl::string_view content_type,
                         absl::string_view body, bool head) {
  return absl::StrCat("HTTP/1.1 ", status, "\r\nContent-Type: ", content_type,
                      "\r\nContent-Length: ", body.size(), "\r\nConnection: close\r\n\r\n",
                      head ? "" : body);
}

bool WriteAll(SSL* ssl, absl::string_view data) {
  while (!data.empty()) {
    int n = SSL_write(ssl, data.data(), static_cast<int>(std::min<size_t>(data.size(), 1 << 20)));
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

}  // namespace

class MetricsHttpsServer::Impl {
 public:
  Impl(MetricsHttpsOptions o, std::shared_ptr<prometheus::Registry> r, int fd, int port, Pem pem,
       SslCtxPtr ctx)
      : options_(std::move(o)),
        registry_(std::move(r)),
        listen_fd_(fd),
        port_(port),
        pem_(std::move(pem)),
        ctx_(std::move(ctx)) {
    next_reload_ = absl::Now() + options_.reload_interval;
    acceptor_ = std::thread([this] { AcceptLoop(); });
  }

  ~Impl() {
    stop_ = true;
    acceptor_.join();
    close(listen_fd_);
    std::list<Conn> conns;
    {
      absl::MutexLock l(&mu_);
      for (Conn& c : conns_) shutdown(c.fd, SHUT_RDWR);  // unblocks reads and writes
      conns.splice(conns.end(), conns_);
    }
    for (Conn& c : conns) {
      c.thread.join();
      close(c.fd);
    }
  }

  int port() const { return port_; }

 private:
  struct Conn {
    int fd;
    std::thread thread;
    std::atomic<bool> done{false};
  };

  void AcceptLoop() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      int r = poll(&p, 1, 200);
      if (absl::Now() >= next_reload_) MaybeReload();
      ReapFinished();
      if (r <= 0 || stop_) continue;
      int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      absl::MutexLock l(&mu_);
      if (conns_.size() >= kMaxConnections) {
        close(fd);
        continue;
      }
      timeval tv{kIoTimeoutSeconds, 0};
      setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
      setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
      Conn& c = conns_.emplace_back();
      c.fd = fd;
      // The fd is closed by whoever joins the thread, never by the thread: a
      // concurrent shutdown(2) must not hit a number reused elsewhere.
      c.thread = std::thread([this, &c, ctx = ctx_] {
        Serve(c.fd, ctx.get());
        c.done = true;
      });
    }
  }

  void ReapFinished() {
    std::list<Conn> finished;
    {
      absl::MutexLock l(&mu_);
      for (auto it = conns_.begin(); it != conns_.end();) {
        auto next = std::next(it);
        if (it->done) finished.splice(finished.end(), conns_, it);
        it = next;
      }
    }
    for (Conn& c : finished) {
      c.thread.join();
      close(c.fd);
    }
  }

  // Re-reads the certificate files; a changed and valid set serves new
  // connections from now on.
  void MaybeReload() {
    next_reload_ = absl::Now() + options_.reload_interval;
    auto pem = ReadPem(options_);
    if (!pem.ok()) {
      LogWarn("metrics TLS: cannot read certificate files; keeping the loaded ones",
              {{"status", pem.status().ToString()}});
      return;
    }
    if (*pem == pem_) return;
    auto ctx = BuildContext(*pem, options_);
    if (!ctx.ok()) {
      // Often transient: the certificate and key files are being replaced one
      // after the other. Retried at the next interval.
      LogWarn("metrics TLS: new certificate files are not usable yet; keeping the loaded ones",
              {{"status", ctx.status().ToString()}});
      return;
    }
    pem_ = std::move(*pem);
    absl::MutexLock l(&mu_);
    ctx_ = std::move(*ctx);
    LogInfo("metrics TLS: certificates reloaded", {{"cert_file", options_.cert_file}});
  }

  void Serve(int fd, SSL_CTX* ctx) {
    SSL* ssl = SSL_new(ctx);
    if (ssl == nullptr) return;
    SSL_set_fd(ssl, fd);
    // A failed handshake (no or a wrong client certificate, plain HTTP, a port
    // scanner) gets no answer: TLS has already told the client why.
    if (SSL_accept(ssl) == 1) {
      std::string req;
      char buf[4096];
      while (req.find("\r\n\r\n") == std::string::npos && req.size() < kMaxRequestBytes) {
        int n = SSL_read(ssl, buf, sizeof(buf));
        if (n <= 0) break;
        req.append(buf, static_cast<size_t>(n));
      }
      if (req.find("\r\n\r\n") != std::string::npos) {
        std::vector<absl::string_view> line =
            absl::StrSplit(absl::string_view(req).substr(0, req.find("\r\n")), ' ');
        absl::string_view method = line.size() == 3 ? line[0] : "";
        absl::string_view target = line.size() == 3 ? line[1] : "";
        absl::string_view path = target.substr(0, target.find('?'));
        std::string resp;
        if (method != "GET" && method != "HEAD") {
          resp = HttpResponse("405 Method Not Allowed", "text/plain", "GET only\n", false);
        } else if (path != "/metrics") {
          resp = HttpResponse("404 Not Found", "text/plain", "see /metrics\n", method == "HEAD");
        } else {
          std::string body = prometheus::TextSerializer().Serialize(registry_->Collect());
          resp = HttpResponse("200 OK", "text/plain; version=0.0.4; charset=utf-8", body,
                              method == "HEAD");
        }
        if (WriteAll(ssl, resp)) SSL_shutdown(ssl);
      }
    }
    SSL_free(ssl);
    ERR_clear_error();  // per-thread queue: nothing left for the next user
  }

  const MetricsHttpsOptions options_;
  const std::shared_ptr<prometheus::Registry> registry_;
  const int listen_fd_;
  const int port_;
  std::atomic<bool> stop_{false};
  // Acceptor thread only.
  absl::Time next_reload_;
  Pem pem_;

  absl::Mutex mu_;
  SslCtxPtr ctx_ ABSL_GUARDED_BY(mu_);
  std::list<Conn> conns_ ABSL_GUARDED_BY(mu_);
  std::thread acceptor_;
};

absl::StatusOr<std::unique_ptr<MetricsHttpsServer>> MetricsHttpsServer::Start(
    MetricsHttpsOptions options, std::shared_ptr<prometheus::Registry> registry) {
  auto pem = ReadPem(options);
  if (!pem.ok()) return pem.status();
  auto ctx = BuildContext(*pem, options);
  if (!ctx.ok()) return ctx.status();

  std::string host = options.host;
  if (absl::StartsWith(host, "[") && absl::EndsWith(host, "]"))
    host = host.substr(1, host.size() - 2);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* res = nullptr;
  std::string port_str = absl::StrCat(options.port);
  if (int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(), port_str.c_str(), &hints, &res);
      rc != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics_addr: cannot resolve '", options.host, "': ", gai_strerror(rc)));
  }
  int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  bool bound = fd >= 0 && bind(fd, res->ai_addr, res->ai_addrlen) == 0 && listen(fd, 64) == 0;
  int err = errno;
  freeaddrinfo(res);
  if (!bound) {
    if (fd >= 0) close(fd);
    return absl::UnavailableError(absl::StrCat("metrics_addr: cannot listen on ", options.host, ":",
                                               options.port, ": ", strerror(err)));
  }
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  int port = ntohs(ss.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port
                                            : reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  return std::unique_ptr<MetricsHttpsServer>(new MetricsHttpsServer(std::make_unique<Impl>(
      std::move(options), std::move(registry), fd, port, std::move(*pem), std::move(*ctx))));
}

MetricsHttpsServer::MetricsHttpsServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
MetricsHttpsServer::~MetricsHttpsServer() = default;
int MetricsHttpsServer::port() const { return impl_->port(); }

}  // namespace channelops::server
