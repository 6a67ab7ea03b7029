#include "channelops/kafka/config.h"

#include "gtest/gtest.h"

namespace channelops::kafka {
namespace {

std::string Get(rd_kafka_conf_t* conf, const char* name) {
  char buf[512];
  size_t size = sizeof(buf);
  if (rd_kafka_conf_get(conf, name, buf, &size) != RD_KAFKA_CONF_OK) return "<unset>";
  return buf;
}

TEST(ConfigTest, MakeConfSetsBootstrapsAndProperties) {
  auto conf = MakeConf("127.0.0.1:1,127.0.0.1:2", {{"client.id", "x"}, {"linger.ms", "7"}});
  ASSERT_TRUE(conf.ok()) << conf.status();
  EXPECT_EQ(Get(conf->get(), "bootstrap.servers"), "127.0.0.1:1,127.0.0.1:2");
  EXPECT_EQ(Get(conf->get(), "client.id"), "x");
  EXPECT_EQ(Get(conf->get(), "linger.ms"), "7");
}

TEST(ConfigTest, UnknownPropertyAndBadValueCarryLibrdkafkaText) {
  auto unknown = MakeConf("127.0.0.1:1", {{"no.such.property", "1"}});
  ASSERT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(unknown.status().message().find("no.such.property"), absl::string_view::npos)
      << unknown.status();
  EXPECT_NE(unknown.status().message().find("No such configuration property"),
            absl::string_view::npos)
      << unknown.status();

  auto bad = MakeConf("127.0.0.1:1", {{"linger.ms", "not-a-number"}});
  ASSERT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("linger.ms"), absl::string_view::npos) << bad.status();

  EXPECT_EQ(MakeConf("").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ConfigTest, NewClientReportsRefusedCombinations) {
  // Transactions require idempotence; librdkafka refuses the combination at rd_kafka_new.
  auto conf = MakeConf("127.0.0.1:1", {{"transactional.id", "t"}, {"enable.idempotence", "false"}});
  ASSERT_TRUE(conf.ok()) << conf.status();
  auto rk = NewClient(RD_KAFKA_PRODUCER, std::move(*conf));
  ASSERT_EQ(rk.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(rk.status().message().find("idempotence"), absl::string_view::npos) << rk.status();

  auto ok_conf = MakeConf("127.0.0.1:1");
  ASSERT_TRUE(ok_conf.ok());
  auto ok = NewClient(RD_KAFKA_PRODUCER, std::move(*ok_conf));
  EXPECT_TRUE(ok.ok()) << ok.status();
}

TEST(ConfigTest, ErrorCodesMapToStatusCodes) {
  EXPECT_TRUE(ToStatus(RD_KAFKA_RESP_ERR_NO_ERROR).ok());
  EXPECT_EQ(ToStatusCode(RD_KAFKA_RESP_ERR__TRANSPORT), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ToStatusCode(RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ToStatusCode(RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(ToStatusCode(RD_KAFKA_RESP_ERR__MSG_TIMED_OUT), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(ToStatusCode(RD_KAFKA_RESP_ERR__QUEUE_FULL), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ToStatusCode(RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART), absl::StatusCode::kNotFound);
  EXPECT_EQ(ToStatusCode(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ToStatusCode(RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(ToStatusCode(RD_KAFKA_RESP_ERR__FENCED), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ToStatusCode(RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS), absl::StatusCode::kAborted);
  EXPECT_EQ(ToStatusCode(RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(ToStatusCode(RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(ToStatusCode(RD_KAFKA_RESP_ERR__DESTROY), absl::StatusCode::kCancelled);
  EXPECT_EQ(ToStatusCode(RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION), absl::StatusCode::kUnimplemented);
  EXPECT_EQ(ToStatusCode(RD_KAFKA_RESP_ERR_SECURITY_DISABLED),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ToStatusCode(RD_KAFKA_RESP_ERR_FEATURE_UPDATE_FAILED), absl::StatusCode::kUnknown);

  absl::Status s = ToStatus(RD_KAFKA_RESP_ERR__TRANSPORT, "produce to x");
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(s.message().substr(0, 25), "produce to x: _TRANSPORT:");
}

}  // namespace
}  // namespace channelops::kafka
