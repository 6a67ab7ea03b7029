#include "channelops/testing/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"

extern char** environ;

namespace channelops::testing {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Tail(const std::string& s, size_t max_bytes) {
  return s.size() <= max_bytes ? s : s.substr(s.size() - max_bytes);
}

// Complete lines only: a line still being written must not half-match.
bool FindLine(const std::string& text, const std::regex& re, std::vector<std::string>* out) {
  size_t start = 0;
  while (true) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) return false;
    std::smatch m;
    const std::string line = text.substr(start, nl - start);
    if (std::regex_search(line, m, re)) {
      out->clear();
      for (const auto& sub : m) out->push_back(sub.str());
      return true;
    }
    start = nl + 1;
  }
}

}  // namespace

std::string BinDir() {
  const char* d = std::getenv("CHANNELOPS_BIN_DIR");
  return d == nullptr ? std::string() : std::string(d);
}

absl::StatusOr<std::unique_ptr<ChildProcess>> ChildProcess::Start(
    const std::string& binary, const std::vector<std::string>& args,
    const std::vector<std::pair<std::string, std::string>>& env) {
  struct stat st;
  if (::stat(binary.c_str(), &st) != 0 || !S_ISREG(st.st_mode) ||
      ::access(binary.c_str(), X_OK) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("not an executable file: ", binary));
  }
  TempDir dir("child");
  const std::string out_path = dir.Path("stdout");
  const std::string err_path = dir.Path("stderr");

  // Everything the child needs is built before fork: between fork and exec only
  // async-signal-safe calls are allowed (the test process has threads).
  std::vector<std::string> argv_s;
  argv_s.push_back(binary);
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::map<std::string, std::string> env_map;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string kv(*e);
    size_t eq = kv.find('=');
    if (eq == std::string::npos) continue;
    env_map[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const auto& [k, v] : env) env_map[k] = v;
  std::vector<std::string> env_s;
  for (const auto& [k, v] : env_map) env_s.push_back(absl::StrCat(k, "=", v));
  std::vector<char*> argv, envp;
  for (auto& s : argv_s) argv.push_back(s.data());
  argv.push_back(nullptr);
  for (auto& s : env_s) envp.push_back(s.data());
  envp.push_back(nullptr);

  const int out_fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  const int err_fd = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (out_fd < 0 || err_fd < 0 || null_fd < 0) {
    for (int fd : {out_fd, err_fd, null_fd}) {
      if (fd >= 0) ::close(fd);
    }
    return absl::InternalError(absl::StrCat("open output files: ", std::strerror(errno)));
  }
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int e = errno;
    ::close(out_fd);
    ::close(err_fd);
    ::close(null_fd);
    return absl::InternalError(absl::StrCat("fork: ", std::strerror(e)));
  }
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // the parent died before prctl
    // dup2 clears O_CLOEXEC on the targets.
    if (::dup2(null_fd, 0) < 0 || ::dup2(out_fd, 1) < 0 || ::dup2(err_fd, 2) < 0) ::_exit(127);
    // Signals blocked or ignored by the test runner's thread are inherited; reset.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    ::execve(argv[0], argv.data(), envp.data());
    const char msg[] = "ChildProcess: execve failed\n";
    (void)!::write(2, msg, sizeof(msg) - 1);
    ::_exit(127);
  }
  ::close(out_fd);
  ::close(err_fd);
  ::close(null_fd);
  return std::unique_ptr<ChildProcess>(new ChildProcess(pid, std::move(dir)));
}

ChildProcess::ChildProcess(pid_t pid, TempDir dir) : pid_(pid), dir_(std::move(dir)) {}

ChildProcess::~ChildProcess() {
  if (!exit_code_.has_value()) {
    ::kill(pid_, SIGKILL);
    Reap(/*block=*/true);
  }
}

void ChildProcess::Reap(bool block) {
  if (exit_code_.has_value()) return;
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &status, block ? 0 : WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == pid_) {
    if (WIFEXITED(status)) {
      exit_code_ = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
      exit_code_ = 128 + WTERMSIG(status);
    }
  } else if (r < 0) {
    exit_code_ = -1;  // ECHILD: someone else reaped it; nothing more to learn
  }
}

bool ChildProcess::Running() {
  Reap(/*block=*/false);
  return !exit_code_.has_value();
}

absl::Status ChildProcess::Kill(int signal) {
  Reap(/*block=*/false);
  if (exit_code_.has_value()) {
    return absl::FailedPreconditionError(
        absl::StrCat("process ", pid_, " already exited with ", *exit_code_));
  }
  if (::kill(pid_, signal) != 0) {
    return absl::InternalError(absl::StrCat("kill(", pid_, "): ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::StatusOr<int> ChildProcess::Wait(absl::Duration timeout) {
  if (timeout == absl::InfiniteDuration()) {
    Reap(/*block=*/true);
    return *exit_code_;
  }
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    Reap(/*block=*/false);
    if (exit_code_.has_value()) return *exit_code_;
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("process ", pid_, " still running after ", absl::FormatDuration(timeout)));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

absl::StatusOr<std::vector<std::string>> ChildProcess::WaitForLine(const std::string& regex,
                                                                   absl::Duration timeout,
                                                                   Stream stream) {
  std::regex re;
  try {
    re = std::regex(regex, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    return absl::InvalidArgumentError(absl::StrCat("bad regex '", regex, "': ", e.what()));
  }
  const absl::Time deadline = absl::Now() + timeout;
  std::vector<std::string> groups;
  while (true) {
    // Check for exit before reading, so output written just before exiting is seen.
    const bool exited = !Running();
    if (stream != Stream::kStderr && FindLine(ReadStdout(), re, &groups)) return groups;
    if (stream != Stream::kStdout && FindLine(ReadStderr(), re, &groups)) return groups;
    if (exited) {
      return absl::FailedPreconditionError(absl::StrCat(
          "process exited with ", *exit_code_, " before printing /", regex, "/\n", OutputTail()));
    }
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat("no line matching /", regex, "/ within ",
                                                      absl::FormatDuration(timeout), "\n",
                                                      OutputTail()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

std::string ChildProcess::ReadStdout() const { return ReadFile(dir_.Path("stdout")); }
std::string ChildProcess::ReadStderr() const { return ReadFile(dir_.Path("stderr")); }

std::string ChildProcess::OutputTail(size_t max_bytes) const {
  return absl::StrCat("--- stdout (tail) ---\n", Tail(ReadStdout(), max_bytes),
                      "\n--- stderr (tail) ---\n", Tail(ReadStderr(), max_bytes));
}

}  // namespace channelops::testing
