#pragma once

// An in-process gRPC server on a free loopback port, for service tests that
// drive a service through its generated stub.

#include <memory>

#include "absl/status/statusor.h"
#include "grpcpp/grpcpp.h"

namespace channelops::testing {

struct LocalServer {
  std::unique_ptr<grpc::Server> server;
  std::shared_ptr<grpc::Channel> channel;  // insecure, to the server
};

// Starts `service` (not owned; must outlive the server) on 127.0.0.1:0.
// INTERNAL if it cannot listen.
absl::StatusOr<LocalServer> StartLocalServer(grpc::Service* service);

}  // namespace channelops::testing
