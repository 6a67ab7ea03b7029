#include "channelops/testing/child_process.h"

#include <signal.h>

#include "gtest/gtest.h"

namespace channelops::testing {
namespace {

TEST(ChildProcessTest, CapturesOutputAndExitCode) {
  auto p = ChildProcess::Start("/bin/sh", {"-c", "echo out-line; echo err-line >&2; exit 7"});
  ASSERT_TRUE(p.ok()) << p.status();
  auto code = (*p)->Wait(absl::Seconds(10));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 7);
  EXPECT_EQ((*p)->ReadStdout(), "out-line\n");
  EXPECT_EQ((*p)->ReadStderr(), "err-line\n");
  EXPECT_FALSE((*p)->Running());
  EXPECT_EQ((*p)->Kill(SIGTERM).code(), absl::StatusCode::kFailedPrecondition);
}

TEST(ChildProcessTest, WaitForLineReturnsCaptureGroups) {
  auto p = ChildProcess::Start(
      "/bin/sh",
      {"-c", "sleep 0.2; echo 'noise'; echo 'listening on 127.0.0.1:4321' >&2; sleep 30"});
  ASSERT_TRUE(p.ok()) << p.status();
  auto m = (*p)->WaitForLine(R"(listening on ([0-9.]+):(\d+))", absl::Seconds(10));
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ(m->size(), 3u);
  EXPECT_EQ((*m)[1], "127.0.0.1");
  EXPECT_EQ((*m)[2], "4321");
  // Only stdout: the line went to stderr, so it is not found there.
  auto only_out =
      (*p)->WaitForLine("listening", absl::Milliseconds(100), ChildProcess::Stream::kStdout);
  EXPECT_EQ(only_out.status().code(), absl::StatusCode::kDeadlineExceeded);

  ASSERT_TRUE((*p)->Kill(SIGTERM).ok());
  auto code = (*p)->Wait(absl::Seconds(10));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 128 + SIGTERM);
}

TEST(ChildProcessTest, WaitForLineFailsFastWhenTheProcessExits) {
  auto p = ChildProcess::Start("/bin/sh", {"-c", "echo bye; exit 3"});
  ASSERT_TRUE(p.ok()) << p.status();
  const absl::Time start = absl::Now();
  auto m = (*p)->WaitForLine("never printed", absl::Seconds(30));
  EXPECT_EQ(m.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  EXPECT_NE(m.status().message().find("bye"), absl::string_view::npos) << m.status();
}

TEST(ChildProcessTest, WaitTimesOutWhileRunningAndPassesEnv) {
  auto p = ChildProcess::Start("/bin/sh", {"-c", "echo \"v=$CHANNELOPS_TEST_VAR\"; sleep 30"},
                               {{"CHANNELOPS_TEST_VAR", "hello world"}});
  ASSERT_TRUE(p.ok()) << p.status();
  auto m = (*p)->WaitForLine("^v=(.*)$", absl::Seconds(10));
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ((*m)[1], "hello world");
  EXPECT_EQ((*p)->Wait(absl::Milliseconds(50)).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_TRUE((*p)->Running());
}

TEST(ChildProcessTest, RejectsMissingBinaryAndBadRegex) {
  EXPECT_EQ(ChildProcess::Start("/nonexistent/binary", {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto p = ChildProcess::Start("/bin/sh", {"-c", "sleep 30"});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ((*p)->WaitForLine("(", absl::Seconds(1)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ChildProcessTest, DestructorKillsARunningChild) {
  pid_t pid;
  {
    auto p = ChildProcess::Start("/bin/sh", {"-c", "sleep 60"});
    ASSERT_TRUE(p.ok());
    pid = (*p)->pid();
  }
  EXPECT_NE(::kill(pid, 0), 0);  // reaped: no such process
}

TEST(BinDirTest, ComesFromTheEnvironment) {
  // ctest sets CHANNELOPS_BIN_DIR for every channelops_cc_test.
  const char* env = std::getenv("CHANNELOPS_BIN_DIR");
  EXPECT_EQ(BinDir(), env ? std::string(env) : std::string());
}

}  // namespace
}  // namespace channelops::testing
