#pragma once

// Partner ROI arithmetic: exact money, the ratio in basis points (no floating
// point). Pure and thread-safe.

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "channelops/core/money.h"

namespace channelops::projections::domain {

struct RoiFigures {
  core::Money net_return;  // attributed x margin_bps / 10000 (to the micro) - spend
  bool defined = false;    // spend > 0
  int64_t roi_bps = 0;     // net_return / spend x 10000, rounded half away from zero
  std::string roi;         // roi_bps / 10000 with 4 decimals, e.g. "2.0000", "-0.2500"
};

// ROI = (attributed revenue x margin - fund spend) / fund spend.
// INVALID_ARGUMENT if the currencies differ, spend is negative or the margin is
// outside 0..10000; OUT_OF_RANGE on overflow.
absl::StatusOr<RoiFigures> ComputeRoi(const core::Money& attributed_revenue, int32_t margin_bps,
                                      const core::Money& fund_spend);

// "2.0000" for 20000 basis points.
std::string FormatBps(int64_t bps);

}  // namespace channelops::projections::domain
