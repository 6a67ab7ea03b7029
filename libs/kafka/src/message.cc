#include "channelops/kafka/message.h"

namespace channelops::kafka {

Headers HeadersOf(const rd_kafka_message_t* msg) {
  Headers out;
  rd_kafka_headers_t* hdrs = nullptr;
  if (rd_kafka_message_headers(msg, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR) return out;
  const char* name;
  const void* value;
  size_t size;
  for (size_t i = 0;
       rd_kafka_header_get_all(hdrs, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i) {
    out.emplace_back(name, value == nullptr ? std::string()
                                            : std::string(static_cast<const char*>(value), size));
  }
  return out;
}

std::optional<std::string> HeaderValue(const rd_kafka_message_t* msg, const char* name) {
  rd_kafka_headers_t* hdrs = nullptr;
  if (rd_kafka_message_headers(msg, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR) return std::nullopt;
  const void* value;
  size_t size;
  if (rd_kafka_header_get_last(hdrs, name, &value, &size) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return std::nullopt;
  }
  if (value == nullptr) return std::string();
  return std::string(static_cast<const char*>(value), size);
}

std::string KeyOf(const rd_kafka_message_t* msg) {
  if (msg->key == nullptr) return {};
  return std::string(static_cast<const char*>(msg->key), msg->key_len);
}

std::string ValueOf(const rd_kafka_message_t* msg) {
  if (msg->payload == nullptr) return {};
  return std::string(static_cast<const char*>(msg->payload), msg->len);
}

}  // namespace channelops::kafka
