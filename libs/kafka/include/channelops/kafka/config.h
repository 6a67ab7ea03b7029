#pragma once

// The one place where librdkafka configuration and error codes become
// absl::Status. Everything above this adapter speaks absl::Status only.

#include <librdkafka/rdkafka.h>

#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace channelops::kafka {

struct ConfDeleter {
  void operator()(rd_kafka_conf_t* conf) const { rd_kafka_conf_destroy(conf); }
};
// An owned configuration. Ownership moves to librdkafka in NewClient().
using ConfPtr = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;

struct ClientDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
// An owned producer or consumer handle (rd_kafka_destroy on reset). A consumer
// should be closed with rd_kafka_consumer_close() before it is destroyed.
using ClientPtr = std::unique_ptr<rd_kafka_t, ClientDeleter>;

// Extra librdkafka properties, applied in key order after bootstrap.servers.
using Properties = std::map<std::string, std::string>;

// Sets one property. INVALID_ARGUMENT carrying librdkafka's own text (which
// names the property and why it was refused) for an unknown property or a bad
// value. Thread-compatible (the conf must not be shared while being built).
absl::Status SetProperty(rd_kafka_conf_t* conf, absl::string_view name, absl::string_view value);

// A fresh configuration with bootstrap.servers = `bootstraps` (a
// "host:port,host:port" list) and then every entry of `properties`.
// INVALID_ARGUMENT: empty bootstraps, or a property librdkafka refused (the
// message names it). Thread-safe.
absl::StatusOr<ConfPtr> MakeConf(absl::string_view bootstraps, const Properties& properties = {});

// Creates a client from `conf`, which is consumed on success and on failure.
// INVALID_ARGUMENT with librdkafka's text if the handle cannot be created
// (e.g. a property combination it refuses). Thread-safe.
absl::StatusOr<ClientPtr> NewClient(rd_kafka_type_t type, ConfPtr conf);

// Converts a librdkafka error code into an absl::Status (OK for
// RD_KAFKA_RESP_ERR_NO_ERROR). The message is "<context>: <NAME>: <text>".
// The mapping:
//   UNAVAILABLE        transport failures, brokers down, leader/coordinator moves
//   DEADLINE_EXCEEDED  local and request timeouts, message timeouts
//   RESOURCE_EXHAUSTED local queue full, throttling
//   NOT_FOUND          unknown topic or partition
//   INVALID_ARGUMENT   invalid arguments, configs, topic names, message sizes
//   PERMISSION_DENIED / UNAUTHENTICATED   authorization / authentication
//   FAILED_PRECONDITION fenced producers, bad state, fatal errors
//   ABORTED            rebalances, unknown member, illegal generation
//   OUT_OF_RANGE       offset out of range, partition EOF
//   ALREADY_EXISTS     topic already exists
//   UNIMPLEMENTED      unsupported versions and features
//   CANCELLED          the handle is being destroyed
//   UNKNOWN            anything else
// Thread-safe.
absl::Status ToStatus(rd_kafka_resp_err_t err, absl::string_view context = {});
absl::StatusCode ToStatusCode(rd_kafka_resp_err_t err);

}  // namespace channelops::kafka
