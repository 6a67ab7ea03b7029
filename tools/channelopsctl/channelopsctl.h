#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "google/protobuf/message.h"
#include "grpcpp/grpcpp.h"

namespace channelops::ctl {

using Flags = std::map<std::string, std::string>;

std::string Flag(const Flags& f, const std::string& name, const std::string& def);
absl::Duration DurationFlag(const Flags& f, const std::string& name, absl::Duration def);
std::string ToJson(const google::protobuf::Message& m);
std::shared_ptr<grpc::Channel> Connect(const std::string& addr);

// The demo scenario (demo.cc). Returns the exit code.
int RunDemo(const Flags& flags);
// The fixed-rate command load with retries (load.cc). Returns the exit code.
int RunLoad(const Flags& flags);

}  // namespace channelops::ctl
