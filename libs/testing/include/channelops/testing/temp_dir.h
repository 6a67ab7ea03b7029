#pragma once

#include <string>

#include "absl/strings/string_view.h"

namespace channelops::testing {

// A fresh directory under $TMPDIR (default /tmp), made with mkdtemp and removed
// recursively in the destructor. The constructor aborts the test binary with a
// message if the directory cannot be made: the test environment is broken and
// nothing meaningful can run. Not thread-safe; move-only.
class TempDir {
 public:
  explicit TempDir(absl::string_view prefix = "channelops");
  ~TempDir();
  TempDir(TempDir&& other) noexcept;
  TempDir& operator=(TempDir&& other) noexcept;
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // Absolute path of the directory, without a trailing slash.
  const std::string& path() const { return path_; }
  // path() + "/" + name (nothing is created).
  std::string Path(absl::string_view name) const;

 private:
  std::string path_;
};

}  // namespace channelops::testing
