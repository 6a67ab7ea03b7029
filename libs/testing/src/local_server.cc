#include "channelops/testing/local_server.h"

#include "absl/strings/str_cat.h"

namespace channelops::testing {

absl::StatusOr<LocalServer> StartLocalServer(grpc::Service* service) {
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(service);
  LocalServer out;
  out.server = builder.BuildAndStart();
  if (out.server == nullptr || port == 0) return absl::InternalError("cannot listen on 127.0.0.1:0");
  out.channel =
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials());
  return out;
}

}  // namespace channelops::testing
