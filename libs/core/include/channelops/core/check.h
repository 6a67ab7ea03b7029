#pragma once

// CHANNELOPS_CHECK(cond) << "context";  An invariant of our own code is broken:
// crash loudly with the location and message, never limp on. (Abseil 20220623
// has no absl/log, hence our own.) Not for validating outside input.

#include <cstdlib>
#include <iostream>
#include <sstream>

namespace channelops::core::internal {

class CheckFailer {
 public:
  CheckFailer(const char* file, int line, const char* cond) {
    os_ << "CHECK failed at " << file << ":" << line << ": " << cond << " ";
  }
  [[noreturn]] ~CheckFailer() {
    std::cerr << os_.str() << std::endl;
    std::abort();
  }
  std::ostream& stream() { return os_; }

 private:
  std::ostringstream os_;
};

}  // namespace channelops::core::internal

#define CHANNELOPS_CHECK(cond) \
  if (cond) {                  \
  } else                       \
    ::channelops::core::internal::CheckFailer(__FILE__, __LINE__, #cond).stream()
