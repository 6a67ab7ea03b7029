#pragma once

// A throwaway PKI for the TLS end-to-end tests, made with the openssl CLI, and
// certificate files laid out the way Kubernetes mounts a Secret.

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace channelops::testing {

inline std::string Slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Runs a shell script quietly; returns its exit status.
inline int Sh(const std::string& script) {
  std::string cmd = "(set -e; " + script + ") >/dev/null 2>&1";
  return std::system(cmd.c_str());
}

// Runs a command; returns its exit status and what it wrote (stdout + stderr).
inline std::pair<int, std::string> RunCommand(const std::string& cmd) {
  std::string out;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return {-1, "popen failed"};
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

// In `dir`: ca.pem/ca.key, two server certificates for 127.0.0.1 and localhost
// with different subjects (server-a, server-b), and a client certificate
// (client.pem/.key, SPIFFE id of the analyst role). Each call makes a new CA.
inline void MakePki(const std::string& dir) {
  std::string issue = R"(issue() { name=$1; cn=$2; san=$3;
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$cn" \
      -keyout $name.key -out $name.csr;
    printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$san" > $name.ext;
    openssl x509 -req -in $name.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
      -extfile $name.ext -out $name.pem; }; )";
  ASSERT_EQ(Sh("mkdir -p " + dir + " && cd " + dir +
               " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2"
               " -subj '/CN=test CA' -keyout ca.key -out ca.pem && " +
               issue +
               "issue server-a server-a 'DNS:localhost,IP:127.0.0.1' && "
               "issue server-b server-b 'DNS:localhost,IP:127.0.0.1' && "
               "issue client client 'URI:spiffe://channelops/staff/analyst'"),
            0);
}

// Publishes pki/<name>.pem/.key and pki/ca.pem in `mount` as kubelet updates a
// Secret volume: tls.crt -> ..data/tls.crt (same for tls.key, ca.crt) and
// ..data -> ..gen<generation>, switched atomically with rename(2).
inline void Publish(const std::string& pki, const std::string& mount, const std::string& name,
                    int generation) {
  std::string gen = absl::StrCat("..gen", generation);
  ASSERT_EQ(
      Sh(absl::StrCat("mkdir -p ", mount, " && cd ", mount, " && mkdir ", gen, " && cp ", pki, "/",
                      name, ".pem ", gen, "/tls.crt && cp ", pki, "/", name, ".key ", gen,
                      "/tls.key && cp ", pki, "/ca.pem ", gen, "/ca.crt && ln -sfn ", gen,
                      " ..data_tmp && mv -T ..data_tmp ..data && for f in tls.crt tls.key "
                      "ca.crt; do [ -L $f ] || ln -s ..data/$f $f; done")),
      0);
}

}  // namespace channelops::testing
