#include "projections/domain/roi.h"

#include <cstdlib>

#include "absl/strings/str_format.h"
#include "channelops/core/status_macros.h"

namespace channelops::projections::domain {

std::string FormatBps(int64_t bps) {
  const bool negative = bps < 0;
  const uint64_t mag = negative ? 0 - static_cast<uint64_t>(bps) : static_cast<uint64_t>(bps);
  return absl::StrFormat("%s%d.%04d", negative ? "-" : "", mag / 10000, mag % 10000);
}

absl::StatusOr<RoiFigures> ComputeRoi(const core::Money& attributed_revenue, int32_t margin_bps,
                                      const core::Money& fund_spend) {
  if (margin_bps < 0 || margin_bps > 10000) {
    return absl::InvalidArgumentError("margin_bps must be 0..10000");
  }
  if (fund_spend.is_negative()) return absl::InvalidArgumentError("negative fund spend");
  CHANNELOPS_ASSIGN_OR_RETURN(core::Money margin, attributed_revenue.ApplyBasisPoints(margin_bps));
  CHANNELOPS_ASSIGN_OR_RETURN(core::Money net, margin.Sub(fund_spend));
  RoiFigures f{net};
  if (fund_spend.is_zero()) return f;
  f.defined = true;
  // net / spend in basis points, rounded half away from zero, in 128 bits.
  const __int128 num = static_cast<__int128>(net.micros()) * 10000;
  const __int128 den = fund_spend.micros();
  __int128 q = num / den;
  __int128 r = num % den;
  if (r < 0) r = -r;
  if (2 * r >= den) q += (num < 0) ? -1 : 1;
  if (q > INT64_MAX || q < INT64_MIN) return absl::OutOfRangeError("ROI out of range");
  f.roi_bps = static_cast<int64_t>(q);
  f.roi = FormatBps(f.roi_bps);
  return f;
}

}  // namespace channelops::projections::domain
