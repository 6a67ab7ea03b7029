// dev_kafka: a Kafka-protocol cluster on loopback for development and tests,
// built on librdkafka's in-memory mock cluster. See README.md for its limits.
//
//   dev_kafka --addr=127.0.0.1:9092 --partitions=32 --topics=a,b
//
// Prints one line on stdout once clients can connect:
//   dev_kafka bootstrap=127.0.0.1:9092 brokers=127.0.0.1:41233[,...] [control=...]
// and runs until SIGTERM or SIGINT (exit 0).

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "channelops/kafka/config.h"
#include "net.h"

namespace channelops::dev_kafka {
namespace {

struct Flag {
  const char* name;
  std::string value;
  const char* help;
};

// Flags in --help order. Each can also come from CHANNELOPS_DEV_KAFKA_<NAME>;
// the command line wins.
std::vector<Flag> DefaultFlags() {
  return {
      {"addr", "127.0.0.1:9092",
       "bootstrap address clients connect to (host:port; port 0 picks a free one)"},
      {"brokers", "1", "number of mock brokers (ids 1..N), each on a random loopback port"},
      {"partitions", "32", "partition count of the topics created with --topics"},
      {"topics", "", "comma-separated topics to create at start with --partitions partitions"},
      {"control_addr", "",
       "optional line-based control socket (host:port): 'down <id>', 'up <id>', "
       "'create <topic> <partitions>'; empty = off"},
  };
}

void PrintHelp(const std::vector<Flag>& flags) {
  std::printf(
      "dev_kafka: a Kafka-protocol cluster on loopback (librdkafka mock cluster).\n"
      "Data lives in memory only; see tools/dev_kafka/README.md for the limits.\n\n"
      "Flags (also from env CHANNELOPS_DEV_KAFKA_<FLAG>, command line wins):\n");
  for (const Flag& f : flags) {
    std::printf("  --%-14s %s (default \"%s\")\n", f.name, f.help, f.value.c_str());
  }
  std::printf("  --%-14s %s\n", "help", "this text");
}

// JSON log line on stderr.
void Log(const char* level, const std::string& msg, const std::string& error = "") {
  std::string line = absl::StrCat(
      "{\"ts\":\"", absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", absl::Now(), absl::UTCTimeZone()),
      "\",\"level\":\"", level, "\",\"logger\":\"dev_kafka\",\"msg\":\"");
  auto esc = [](const std::string& s) {
    std::string o;
    for (unsigned char c : s) {
      if (c == '"' || c == '\\') {
        o += '\\';
        o += static_cast<char>(c);
      } else if (c < 0x20) {
        o += absl::StrCat("\\u00", c < 0x10 ? "0" : "", absl::Hex(c));
      } else {
        o += static_cast<char>(c);
      }
    }
    return o;
  };
  line += esc(msg) + "\"";
  if (!error.empty()) line += ",\"error\":\"" + esc(error) + "\"";
  line += "}\n";
  std::fwrite(line.data(), 1, line.size(), stderr);
}

void RdkafkaLog(const rd_kafka_t*, int level, const char* fac, const char* buf) {
  Log(level <= 3 ? "error" : level == 4 ? "warn" : "info", absl::StrCat(fac, ": ", buf));
}

// Parses argv over the defaults. Returns false (after printing why) on error.
bool ParseFlags(int argc, char** argv, std::vector<Flag>* flags, bool* help) {
  for (Flag& f : *flags) {
    const std::string env = absl::StrCat("CHANNELOPS_DEV_KAFKA_", absl::AsciiStrToUpper(f.name));
    if (const char* v = std::getenv(env.c_str())) f.value = v;
  }
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h" || arg == "--helpfull") {
      *help = true;
      return true;
    }
    if (arg.rfind("--", 0) != 0) {
      std::fprintf(stderr, "dev_kafka: unexpected argument '%s' (try --help)\n", arg.c_str());
      return false;
    }
    arg = arg.substr(2);
    std::string name = arg, value;
    const size_t eq = arg.find('=');
    bool has_value = eq != std::string::npos;
    if (has_value) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
    }
    Flag* flag = nullptr;
    for (Flag& f : *flags) {
      if (name == f.name) flag = &f;
    }
    if (flag == nullptr) {
      std::fprintf(stderr, "dev_kafka: unknown flag --%s (try --help)\n", name.c_str());
      return false;
    }
    if (!has_value) {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "dev_kafka: flag --%s needs a value\n", name.c_str());
        return false;
      }
      value = argv[++i];
    }
    flag->value = value;
  }
  return true;
}

int Main(int argc, char** argv) {
  std::vector<Flag> flags = DefaultFlags();
  bool help = false;
  if (!ParseFlags(argc, argv, &flags, &help)) return 2;
  if (help) {
    PrintHelp(flags);
    return 0;
  }
  std::map<std::string, std::string> f;
  for (const Flag& fl : flags) f[fl.name] = fl.value;
  int brokers = 0, partitions = 0;
  if (!absl::SimpleAtoi(f["brokers"], &brokers) || brokers < 1 || brokers > 64) {
    std::fprintf(stderr, "dev_kafka: --brokers must be 1..64\n");
    return 2;
  }
  if (!absl::SimpleAtoi(f["partitions"], &partitions) || partitions < 1 || partitions > 10000) {
    std::fprintf(stderr, "dev_kafka: --partitions must be 1..10000\n");
    return 2;
  }
  std::vector<std::string> topics = absl::StrSplit(f["topics"], ',', absl::SkipWhitespace());
  for (std::string& t : topics) t = std::string(absl::StripAsciiWhitespace(t));

  // SIGTERM/SIGINT are taken synchronously by sigwait below. Block them before
  // any thread starts so that every thread inherits the mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  // Bind first: a taken port should fail fast, before the mock starts.
  absl::StatusOr<int> listen_fd = Listen(f["addr"]);
  if (!listen_fd.ok()) {
    Log("error", "cannot listen on --addr", listen_fd.status().ToString());
    return 1;
  }
  absl::StatusOr<int> control_fd = -1;
  if (!f["control_addr"].empty()) {
    control_fd = Listen(f["control_addr"]);
    if (!control_fd.ok()) {
      Log("error", "cannot listen on --control_addr", control_fd.status().ToString());
      return 1;
    }
  }

  // The handle only does the mock's bookkeeping (it never connects anywhere).
  kafka::ConfPtr conf(rd_kafka_conf_new());
  rd_kafka_conf_set_log_cb(conf.get(), RdkafkaLog);
  (void)kafka::SetProperty(conf.get(), "log_level", "4");  // no "no bootstrap.servers" notice
  absl::StatusOr<kafka::ClientPtr> rk = kafka::NewClient(RD_KAFKA_PRODUCER, std::move(conf));
  if (!rk.ok()) {
    Log("error", "cannot create the mock's handle", rk.status().ToString());
    return 1;
  }
  rd_kafka_mock_cluster_t* mock = rd_kafka_mock_cluster_new(rk->get(), brokers);
  if (mock == nullptr) {
    Log("error", "rd_kafka_mock_cluster_new failed");
    return 1;
  }
  const std::string mock_bootstraps = rd_kafka_mock_cluster_bootstraps(mock);
  const std::vector<std::string> broker_addrs = absl::StrSplit(mock_bootstraps, ',');
  const int replication = brokers < 3 ? brokers : 3;
  int exit_code = 0;
  for (const std::string& t : topics) {
    absl::Status s = kafka::ToStatus(
        rd_kafka_mock_topic_create(mock, t.c_str(), partitions, replication), "create topic " + t);
    if (!s.ok()) {
      Log("error", "cannot create topic", s.ToString());
      exit_code = 1;
    }
  }

  std::unique_ptr<TcpForwarder> forwarder;
  std::unique_ptr<LineServer> control;
  std::string ready;
  if (exit_code == 0) {
    // Every connection to --addr goes to the first broker that is up; clients
    // then learn all brokers' real addresses from metadata.
    ready = absl::StrCat("dev_kafka bootstrap=", BoundAddress(*listen_fd),
                         " brokers=", mock_bootstraps);
    forwarder =
        std::make_unique<TcpForwarder>(*listen_fd, [&broker_addrs] { return broker_addrs; });
    if (*control_fd >= 0) {
      absl::StrAppend(&ready, " control=", BoundAddress(*control_fd));
      control = std::make_unique<LineServer>(*control_fd, [mock,
                                                           replication](const std::string& line) {
        std::vector<std::string> w = absl::StrSplit(line, ' ', absl::SkipEmpty());
        int32_t id = 0;
        int n = 0;
        absl::Status s;
        if (w.size() == 2 && (w[0] == "down" || w[0] == "up") && absl::SimpleAtoi(w[1], &id)) {
          s = kafka::ToStatus(w[0] == "down" ? rd_kafka_mock_broker_set_down(mock, id)
                                             : rd_kafka_mock_broker_set_up(mock, id),
                              line);
        } else if (w.size() == 3 && w[0] == "create" && absl::SimpleAtoi(w[2], &n) && n > 0) {
          s = kafka::ToStatus(rd_kafka_mock_topic_create(mock, w[1].c_str(), n, replication), line);
        } else {
          return std::string(
              "error usage: down <broker_id> | up <broker_id> | create <topic> <partitions>");
        }
        Log(s.ok() ? "info" : "warn", "control: " + line, s.ok() ? "" : s.ToString());
        return s.ok() ? std::string("ok") : "error " + s.ToString();
      });
    }
    std::printf("%s\n", ready.c_str());
    std::fflush(stdout);
    Log("info", ready);

    int sig = 0;
    sigwait(&stop_signals, &sig);
    Log("info", absl::StrCat("stopping on signal ", sig));
  }
  if (control) control->Stop();
  if (forwarder) forwarder->Stop();
  rd_kafka_mock_cluster_destroy(mock);
  rk->reset();
  return exit_code;
}

}  // namespace
}  // namespace channelops::dev_kafka

int main(int argc, char** argv) { return channelops::dev_kafka::Main(argc, argv); }
