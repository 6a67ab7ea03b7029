// Bad service-specific flags are refused at start, through the real binaries:
// a non-zero exit, a log line naming the flag, and nothing served. (The
// runtime's own flags, TLS and metrics, are covered by metrics_tls_e2e_test.)

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "channelops/testing/child_process.h"
#include "channelops/testing/temp_dir.h"
#include "gtest/gtest.h"

namespace channelops {
namespace {

using testing::ChildProcess;

struct Case {
  std::string binary;
  std::vector<std::string> args;
  std::vector<std::string> expect;  // each in the error log
};

TEST(BadFlagsE2E, ProjectionsRefusesBadValuesNamingTheFlag) {
  testing::TempDir dir;
  for (const Case& c : std::vector<Case>{
           {"projections",
            {"--read_model_cache_mb=0"},
            {"\"flag\":\"read_model_cache_mb\"", "\"value\":\"0\"", "1..1048576"}},
           {"projections",
            {"--read_model_cache_mb=2000000"},
            {"\"flag\":\"read_model_cache_mb\"", "\"value\":\"2000000\""}},
           {"projections", {"--roi_margin_bps=10001"}, {"\"roi_margin_bps\":\"10001\""}},
           {"projections", {"--roi_publish_interval=0s"}, {"\"roi_publish_interval\":\"0\""}},
       }) {
    std::vector<std::string> args = {"--grpc_addr=127.0.0.1:0", "--metrics_addr=",
                                     "--kafka_bootstrap=", "--data_dir=" + dir.Path("d")};
    args.insert(args.end(), c.args.begin(), c.args.end());
    auto p = ChildProcess::Start(testing::BinDir() + "/" + c.binary, args);
    ASSERT_TRUE(p.ok()) << p.status();
    auto code = (*p)->Wait(absl::Seconds(30));
    ASSERT_TRUE(code.ok()) << code.status();
    EXPECT_EQ(*code, 2) << c.args[0];
    const std::string err = (*p)->ReadStderr();
    EXPECT_NE(err.find("bad flag"), std::string::npos) << err;
    for (const std::string& e : c.expect) {
      EXPECT_NE(err.find(e), std::string::npos) << c.args[0] << ": " << e << "\n" << err;
    }
  }
}

}  // namespace
}  // namespace channelops
