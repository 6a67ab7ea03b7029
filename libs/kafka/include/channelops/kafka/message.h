#pragma once

// Small read-only helpers over rd_kafka_message_t.

#include <librdkafka/rdkafka.h>

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace channelops::kafka {

using Headers = std::vector<std::pair<std::string, std::string>>;

// All headers of a message, in record order (a header without a value maps to
// ""). Thread-compatible.
Headers HeadersOf(const rd_kafka_message_t* msg);

// The value of the last header called `name`, or nullopt. Thread-compatible.
std::optional<std::string> HeaderValue(const rd_kafka_message_t* msg, const char* name);

// The key and value as strings ("" when null).
std::string KeyOf(const rd_kafka_message_t* msg);
std::string ValueOf(const rd_kafka_message_t* msg);

}  // namespace channelops::kafka
