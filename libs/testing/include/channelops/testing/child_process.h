#pragma once

// Start real binaries from tests and talk to them through their public
// interfaces (ports they print, signals, exit codes).

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "channelops/testing/temp_dir.h"

namespace channelops::testing {

// $CHANNELOPS_BIN_DIR, the directory holding the built binaries (ctest sets it
// for every channelops_cc_test), or "" when unset.
std::string BinDir();

// A child process whose stdout and stderr go to files, read back by the test.
// Its stdin is /dev/null. It gets SIGKILL if the thread that started it dies
// (PR_SET_PDEATHSIG), so a crashed test leaves no stray servers behind: start
// it from the test's main thread. Not thread-safe.
class ChildProcess {
 public:
  enum class Stream { kStdout, kStderr, kBoth };

  // Starts `binary` with argv[1..] = args. `env` entries are added to (and
  // override) the inherited environment. INVALID_ARGUMENT if the binary is not
  // an executable file; INTERNAL if fork fails.
  static absl::StatusOr<std::unique_ptr<ChildProcess>> Start(
      const std::string& binary, const std::vector<std::string>& args,
      const std::vector<std::pair<std::string, std::string>>& env = {});

  // Sends SIGKILL if still running, and reaps.
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }

  // Waits until a complete line of `stream` matches `regex` (ECMAScript,
  // searched anywhere in the line; the first matching line since the start of
  // the output wins) and returns its submatches: [0] is the matched text, [1..]
  // the capture groups. Errors: INVALID_ARGUMENT for a bad regex;
  // FAILED_PRECONDITION if the process exited without printing it;
  // DEADLINE_EXCEEDED after `timeout`. Error messages carry the output's tail.
  absl::StatusOr<std::vector<std::string>> WaitForLine(const std::string& regex,
                                                       absl::Duration timeout,
                                                       Stream stream = Stream::kBoth);

  // Sends `signal`. FAILED_PRECONDITION if the process was already reaped.
  absl::Status Kill(int signal);

  // Waits for the process to exit and returns its exit code, or 128 + signal
  // number if a signal ended it. DEADLINE_EXCEEDED if it is still running after
  // `timeout` (it keeps running). Once reaped, returns the same value again.
  absl::StatusOr<int> Wait(absl::Duration timeout = absl::InfiniteDuration());

  // True until the process has exited (reaps it if it has).
  bool Running();

  // Everything the process wrote so far.
  std::string ReadStdout() const;
  std::string ReadStderr() const;
  // The last `max_bytes` of stdout and stderr, labelled, for failure messages.
  std::string OutputTail(size_t max_bytes = 4000) const;

 private:
  ChildProcess(pid_t pid, TempDir dir);
  void Reap(bool block);

  pid_t pid_;
  TempDir dir_;  // holds stdout and stderr
  std::optional<int> exit_code_;
};

}  // namespace channelops::testing
