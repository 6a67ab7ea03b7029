#pragma once

// Shared plumbing of the request fuzz targets (tests/fuzz/*_fuzz.cc other than
// the POS parser ones). libprotobuf-mutator is not in Debian 12, so an input is
// a sequence of steps, each structured by a proto of the service's API:
//
//   step    = kind:u8  length:u16 (big-endian)  payload:length bytes
//   payload = the serialized request proto selected by kind (kind % kinds);
//             a step whose payload does not parse is skipped
//
// A truncated last step uses the bytes that are left. Each target runs every
// parsed request through the validation its gRPC handler calls and, if valid,
// through the same decision path as the handler, against in-memory read models
// that evolve across steps exactly as the service's do; then it checks
// invariants, aborting (CHANNELOPS_CHECK) on a violation.
//
// Seeds: each target builds a few inputs of valid requests (Seeds()). Run a
// target with -write_seeds=DIR to write them as files (the checked-in ones
// live in tests/fuzz/seeds/<target>/). Every start replays them in strict mode,
// where each step must parse, validate and be decided without error, so the
// seeds provably reach the decision code.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "channelops/core/check.h"
#include "google/protobuf/message_lite.h"
#include "google/protobuf/stubs/logging.h"

namespace channelops::fuzz {

struct Step {
  uint8_t kind = 0;
  absl::string_view payload;
};

// Splits an input into steps.
class StepReader {
 public:
  StepReader(const uint8_t* data, size_t size)
      : data_(reinterpret_cast<const char*>(data)), size_(size) {}

  bool Next(Step* step) {
    if (pos_ >= size_) return false;
    step->kind = static_cast<uint8_t>(data_[pos_++]);
    size_t len = 0;
    for (int i = 0; i < 2 && pos_ < size_; ++i) {
      len = (len << 8) | static_cast<uint8_t>(data_[pos_++]);
    }
    len = std::min(len, size_ - pos_);
    step->payload = absl::string_view(data_ + pos_, len);
    pos_ += len;
    return true;
  }

 private:
  const char* data_;
  size_t size_;
  size_t pos_ = 0;
};

template <class M>
bool Parse(const Step& step, M* m) {
  return m->ParseFromArray(step.payload.data(), static_cast<int>(step.payload.size()));
}

inline void AppendRaw(std::string& input, uint8_t kind, absl::string_view payload) {
  CHANNELOPS_CHECK(payload.size() <= 0xffff) << "step payload too long for a seed";
  input.push_back(static_cast<char>(kind));
  input.push_back(static_cast<char>(payload.size() >> 8));
  input.push_back(static_cast<char>(payload.size() & 0xff));
  input.append(payload.data(), payload.size());
}

inline void AppendStep(std::string& input, uint8_t kind, const google::protobuf::MessageLite& m) {
  AppendRaw(input, kind, m.SerializeAsString());
}

// A Tick step's payload: hours to move the clock forward (big-endian u16).
inline std::string Hours(uint16_t hours) {
  return std::string{static_cast<char>(hours >> 8), static_cast<char>(hours & 0xff)};
}
inline absl::Duration HoursOf(absl::string_view payload) {
  uint32_t h = 0;
  for (size_t i = 0; i < payload.size() && i < 2; ++i) {
    h = (h << 8) | static_cast<uint8_t>(payload[i]);
  }
  return absl::Hours(h);
}

// The status codes a step may end with; anything else is a bug (an INTERNAL
// from a valid request, a DATA_LOSS, a code the contract does not list).
inline void CheckCode(const absl::Status& st, std::initializer_list<absl::StatusCode> allowed,
                      const char* what) {
  if (st.ok()) return;
  for (absl::StatusCode c : allowed) {
    if (st.code() == c) return;
  }
  CHANNELOPS_CHECK(false) << what << " returned an undocumented status: " << st;
}

// The shape every request harness shares: a store clock that moves one second
// between steps, strict mode for seeds (a seed step that fails aborts), and the
// parse -> validate gate of each step. Derived provides RunStep(const Step&)
// and CheckInvariants() (befriend HarnessBase<Derived> if they are private).
template <class Derived>
class HarnessBase {
 public:
  HarnessBase(bool strict, absl::Time start) : strict_(strict), now_(start) {}

  void Run(const uint8_t* data, size_t size) {
    StepReader reader(data, size);
    Step step;
    while (reader.Next(&step)) {
      now_ += absl::Seconds(1);  // the store clock moves between commands
      static_cast<Derived*>(this)->RunStep(step);
      static_cast<Derived*>(this)->CheckInvariants();
    }
  }

 protected:
  // A step that a seed (strict mode) must never fail.
  void Refused(const Step& step, const absl::Status& st) {
    CHANNELOPS_CHECK(!strict_) << "seed step of kind " << int(step.kind) << " failed: " << st;
  }

  template <class M>
  bool ParseOk(const Step& step, M* m) {
    if (Parse(step, m)) return true;
    Refused(step, absl::InvalidArgumentError("unparseable"));
    return false;
  }

  // Parses the step into `m` and runs the handler's validation on it.
  template <class M>
  bool Load(const Step& step, M* m, absl::Status (*validate)(const M&)) {
    if (!ParseOk(step, m)) return false;
    absl::Status st = validate(*m);
    CheckCode(st, {absl::StatusCode::kInvalidArgument}, "validation");
    if (!st.ok()) Refused(step, st);
    return st.ok();
  }

  const bool strict_;
  absl::Time now_;
};

// Decoded proto3 strings with invalid UTF-8 make protobuf log an error per
// parse: keep the fuzzer's output readable.
inline void SilenceProtobufLogs() {
  google::protobuf::SetLogHandler(
      [](google::protobuf::LogLevel, const char*, int, const std::string&) {});
}

// LLVMFuzzerInitialize helper: replays `seeds` with `run_strict` (which must
// abort if a seed step fails); with -write_seeds=DIR also writes them to
// DIR/seed-<n> and exits.
inline void InitSeeds(int* argc, char*** argv, const std::vector<std::string>& seeds,
                      const std::function<void(const std::string&)>& run_strict) {
  SilenceProtobufLogs();
  for (const std::string& s : seeds) run_strict(s);
  constexpr absl::string_view kFlag = "-write_seeds=";
  for (int i = 1; i < *argc; ++i) {
    absl::string_view arg((*argv)[i]);
    if (arg.substr(0, kFlag.size()) != kFlag) continue;
    const std::string dir(arg.substr(kFlag.size()));
    for (size_t n = 0; n < seeds.size(); ++n) {
      const std::string path = absl::StrCat(dir, "/seed-", n);
      std::ofstream out(path, std::ios::binary | std::ios::trunc);
      out.write(seeds[n].data(), static_cast<std::streamsize>(seeds[n].size()));
      CHANNELOPS_CHECK(out.good()) << "cannot write " << path;
    }
    std::printf("wrote %zu seeds to %s\n", seeds.size(), dir.c_str());
    std::exit(0);
  }
}

}  // namespace channelops::fuzz

// The libFuzzer entry points of a request harness: `ns` has Seeds() and a
// Harness(bool strict) whose Run(data, size) replays one input. Seeds are
// replayed strictly at start (a failing seed step aborts); fuzz inputs are not.
#define CHANNELOPS_REQUEST_FUZZER(ns)                                                         \
  extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {                              \
    channelops::fuzz::InitSeeds(argc, argv, ns::Seeds(), [](const std::string& s) {           \
      ns::Harness(/*strict=*/true).Run(reinterpret_cast<const uint8_t*>(s.data()), s.size()); \
    });                                                                                       \
    return 0;                                                                                 \
  }                                                                                           \
  extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {                   \
    ns::Harness(/*strict=*/false).Run(data, size);                                            \
    return 0;                                                                                 \
  }
