// Starts the real dev_kafka binary and talks to it only through its public
// interfaces: the bootstrap address (librdkafka, kcat), the control socket,
// stdout and signals.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "channelops/kafka/config.h"
#include "channelops/testing/child_process.h"
#include "channelops/testing/kafka_cluster.h"
#include "channelops/testing/temp_dir.h"
#include "gtest/gtest.h"

namespace channelops::dev_kafka {
namespace {

using testing::ChildProcess;
using testing::Record;

std::string DevKafkaBinary() { return testing::BinDir() + "/dev_kafka"; }

// Topic -> partition count, and the broker list, as a fresh client sees them.
struct ClusterView {
  std::map<std::string, int> topics;
  std::set<std::string> brokers;  // "host:port"
};

ClusterView Describe(const std::string& bootstrap) {
  ClusterView v;
  auto conf = kafka::MakeConf(bootstrap, {{"allow.auto.create.topics", "false"}});
  if (!conf.ok()) return v;
  auto rk = kafka::NewClient(RD_KAFKA_PRODUCER, std::move(*conf));
  if (!rk.ok()) return v;
  const rd_kafka_metadata_t* md = nullptr;
  if (rd_kafka_metadata(rk->get(), 1, nullptr, &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR) return v;
  for (int i = 0; i < md->topic_cnt; ++i)
    v.topics[md->topics[i].topic] = md->topics[i].partition_cnt;
  for (int i = 0; i < md->broker_cnt; ++i) {
    v.brokers.insert(absl::StrCat(md->brokers[i].host, ":", md->brokers[i].port));
  }
  rd_kafka_metadata_destroy(md);
  return v;
}

// Sends one control line, returns the response line (without newline).
std::string Control(const std::string& addr, const std::string& line) {
  std::vector<std::string> hp = absl::StrSplit(addr, ':');
  int port = 0;
  if (hp.size() != 2 || !absl::SimpleAtoi(hp[1], &port)) return "bad address";
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  inet_pton(AF_INET, hp[0].c_str(), &sa.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
    ::close(fd);
    return "connect failed";
  }
  const std::string req = line + "\n";
  (void)!::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
  std::string resp;
  char c;
  while (::recv(fd, &c, 1, 0) == 1 && c != '\n') resp.push_back(c);
  ::close(fd);
  return resp;
}

std::string FindInPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  for (const auto& dir : absl::StrSplit(path ? path : "/usr/bin:/bin", ':')) {
    std::string p = absl::StrCat(std::string(dir), "/", name);
    if (::access(p.c_str(), X_OK) == 0) return p;
  }
  return "";
}

class DevKafkaTest : public ::testing::Test {
 protected:
  void Start(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--addr=127.0.0.1:0", "--brokers=2", "--partitions=6",
                                     "--topics=dk.pre,dk.pre2", "--control_addr=127.0.0.1:0"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto p = ChildProcess::Start(DevKafkaBinary(), args);
    ASSERT_TRUE(p.ok()) << p.status() << " (CHANNELOPS_BIN_DIR=" << testing::BinDir() << ")";
    proc_ = std::move(*p);
    auto m = proc_->WaitForLine(R"(^dev_kafka bootstrap=(\S+) brokers=(\S+) control=(\S+)$)",
                                absl::Seconds(30), ChildProcess::Stream::kStdout);
    ASSERT_TRUE(m.ok()) << m.status();
    bootstrap_ = (*m)[1];
    brokers_ = (*m)[2];
    control_ = (*m)[3];
  }

  std::unique_ptr<ChildProcess> proc_;
  std::string bootstrap_, brokers_, control_;
};

TEST_F(DevKafkaTest, AdvertisesBrokersAndPreCreatesTopics) {
  ASSERT_NO_FATAL_FAILURE(Start());
  EXPECT_EQ(bootstrap_.rfind("127.0.0.1:", 0), 0u);
  const std::vector<std::string> printed = absl::StrSplit(brokers_, ',');
  ASSERT_EQ(printed.size(), 2u);
  EXPECT_EQ(std::find(printed.begin(), printed.end(), bootstrap_), printed.end())
      << "the bootstrap address is the forwarder, not a broker";

  ClusterView v = Describe(bootstrap_);
  EXPECT_EQ(v.brokers, std::set<std::string>(printed.begin(), printed.end()));
  EXPECT_EQ(v.topics["dk.pre"], 6);
  EXPECT_EQ(v.topics["dk.pre2"], 6);
}

TEST_F(DevKafkaTest, ProducesAndConsumesThroughTheBootstrapAddress) {
  ASSERT_NO_FATAL_FAILURE(Start());
  std::vector<Record> in;
  for (int i = 0; i < 300; ++i) {
    Record r;
    r.topic = "dk.pre";
    r.key = absl::StrCat("stream-", i % 17);
    r.value = absl::StrCat("value-", i);
    r.headers = {{"ce_source", "channelops/dev_kafka_test"}, {"ce_id", absl::StrCat(i)}};
    in.push_back(std::move(r));
  }
  ASSERT_TRUE(testing::ProduceRecords(bootstrap_, in, absl::Seconds(30),
                                      {{"enable.idempotence", "true"}, {"acks", "all"}})
                  .ok());
  std::vector<Record> out = testing::ReadTopic(bootstrap_, "dk.pre", in.size(), absl::Seconds(60));
  ASSERT_EQ(out.size(), in.size());
  std::set<std::string> values;
  for (const Record& r : out) {
    values.insert(r.value);
    ASSERT_EQ(r.headers.size(), 2u);
    EXPECT_EQ(r.headers[0].second, "channelops/dev_kafka_test");
    EXPECT_EQ(r.value, absl::StrCat("value-", r.headers[1].second));
  }
  EXPECT_EQ(values.size(), in.size());
}

TEST_F(DevKafkaTest, AutoCreatesUnknownTopicsWithFourPartitions) {
  ASSERT_NO_FATAL_FAILURE(Start());
  Record r;
  r.topic = "dk.auto";
  r.key = "k";
  r.value = "v";
  ASSERT_TRUE(testing::ProduceRecords(bootstrap_, {r}).ok());
  EXPECT_EQ(Describe(bootstrap_).topics["dk.auto"], testing::kMockAutoCreatePartitions);
  std::vector<Record> out = testing::ReadTopic(bootstrap_, "dk.auto", 1, absl::Seconds(30));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].value, "v");
}

TEST_F(DevKafkaTest, KcatListsProducesAndConsumes) {
  const std::string kcat = FindInPath("kcat");
  if (kcat.empty()) GTEST_SKIP() << "kcat is not installed";
  ASSERT_NO_FATAL_FAILURE(Start());

  auto list = ChildProcess::Start(kcat, {"-b", bootstrap_, "-L", "-t", "dk.pre"});
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ((*list)->Wait(absl::Seconds(30)).value_or(-1), 0) << (*list)->OutputTail();
  EXPECT_NE((*list)->ReadStdout().find("topic \"dk.pre\" with 6 partitions"), std::string::npos)
      << (*list)->ReadStdout();

  testing::TempDir dir;
  {
    std::ofstream f(dir.Path("input"));
    for (int i = 0; i < 20; ++i) f << "key" << i << ":value" << i << "\n";
  }
  auto produce = ChildProcess::Start(kcat, {"-b", bootstrap_, "-P", "-t", "dk.kcat", "-K:", "-H",
                                            "ce_source=kcat", "-l", dir.Path("input")});
  ASSERT_TRUE(produce.ok()) << produce.status();
  ASSERT_EQ((*produce)->Wait(absl::Seconds(30)).value_or(-1), 0) << (*produce)->OutputTail();

  // What kcat produced, librdkafka reads back (auto-created topic, 4 partitions)...
  std::vector<Record> out = testing::ReadTopic(bootstrap_, "dk.kcat", 20, absl::Seconds(30));
  ASSERT_EQ(out.size(), 20u);
  std::set<std::string> seen;
  for (const Record& r : out) {
    EXPECT_EQ(r.value, "value" + r.key.substr(3));
    ASSERT_EQ(r.headers.size(), 1u);
    EXPECT_EQ(r.headers[0].second, "kcat");
    seen.insert(r.key);
  }
  EXPECT_EQ(seen.size(), 20u);

  // ...and kcat consumes it too.
  auto consume = ChildProcess::Start(
      kcat, {"-b", bootstrap_, "-C", "-t", "dk.kcat", "-o", "beginning", "-e", "-f", "%k=%s\\n"});
  ASSERT_TRUE(consume.ok()) << consume.status();
  ASSERT_EQ((*consume)->Wait(absl::Seconds(30)).value_or(-1), 0) << (*consume)->OutputTail();
  std::vector<std::string> lines =
      absl::StrSplit((*consume)->ReadStdout(), '\n', absl::SkipEmpty());
  std::set<std::string> consumed(lines.begin(), lines.end());
  EXPECT_EQ(consumed.size(), 20u);
  EXPECT_TRUE(consumed.contains("key7=value7"));
}

TEST_F(DevKafkaTest, ControlSocketTakesBrokersDownAndUp) {
  ASSERT_NO_FATAL_FAILURE(Start());
  Record r;
  r.topic = "dk.pre";
  r.key = "k";
  r.value = "before";
  ASSERT_TRUE(testing::ProduceRecords(bootstrap_, {r}).ok());

  EXPECT_EQ(Control(control_, "down 1"), "ok");
  EXPECT_EQ(Control(control_, "down 2"), "ok");
  r.value = "during";
  EXPECT_FALSE(testing::ProduceRecords(bootstrap_, {r}, absl::Seconds(2)).ok());

  EXPECT_EQ(Control(control_, "up 1"), "ok");
  EXPECT_EQ(Control(control_, "up 2"), "ok");
  r.value = "after";
  ASSERT_TRUE(testing::ProduceRecords(bootstrap_, {r}, absl::Seconds(30)).ok());
  std::vector<Record> out = testing::ReadTopic(bootstrap_, "dk.pre", 2, absl::Seconds(30));
  std::set<std::string> values;
  for (const Record& rec : out) values.insert(rec.value);
  EXPECT_TRUE(values.contains("before"));
  EXPECT_TRUE(values.contains("after"));
  EXPECT_FALSE(values.contains("during"));

  EXPECT_EQ(Control(control_, "create dk.ctl 3"), "ok");
  EXPECT_EQ(Describe(bootstrap_).topics["dk.ctl"], 3);
  EXPECT_EQ(Control(control_, "down 9").rfind("error", 0), 0u);
  EXPECT_EQ(Control(control_, "bogus").rfind("error usage", 0), 0u);
}

TEST_F(DevKafkaTest, ExitsZeroOnSigtermAndSigint) {
  for (int sig : {SIGTERM, SIGINT}) {
    ASSERT_NO_FATAL_FAILURE(Start());
    ASSERT_TRUE(Describe(bootstrap_).topics.contains("dk.pre"));  // a live client connection
    ASSERT_TRUE(proc_->Kill(sig).ok());
    auto code = proc_->Wait(absl::Seconds(20));
    ASSERT_TRUE(code.ok()) << code.status();
    EXPECT_EQ(*code, 0) << proc_->OutputTail();
  }
}

TEST_F(DevKafkaTest, FailsFastWhenTheBootstrapPortIsTaken) {
  ASSERT_NO_FATAL_FAILURE(Start());
  auto second = ChildProcess::Start(DevKafkaBinary(), {"--addr=" + bootstrap_});
  ASSERT_TRUE(second.ok());
  auto code = (*second)->Wait(absl::Seconds(20));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 1);
  EXPECT_NE((*second)->ReadStderr().find("cannot listen on --addr"), std::string::npos)
      << (*second)->OutputTail();
}

TEST(DevKafkaFlagsTest, HelpListsEveryFlagAndBadFlagsExitTwo) {
  auto help = ChildProcess::Start(DevKafkaBinary(), {"--help"});
  ASSERT_TRUE(help.ok()) << help.status();
  ASSERT_EQ((*help)->Wait(absl::Seconds(10)).value_or(-1), 0);
  for (const char* flag : {"--addr", "--brokers", "--partitions", "--topics", "--control_addr"}) {
    EXPECT_NE((*help)->ReadStdout().find(flag), std::string::npos) << flag;
  }
  for (const char* bad : {"--bogus=1", "--partitions=0", "--brokers=x"}) {
    auto p = ChildProcess::Start(DevKafkaBinary(), {bad});
    ASSERT_TRUE(p.ok());
    EXPECT_EQ((*p)->Wait(absl::Seconds(10)).value_or(-1), 2) << bad;
  }
}

}  // namespace
}  // namespace channelops::dev_kafka
