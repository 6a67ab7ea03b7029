#include "lead_routing/domain/geo.h"

#include <algorithm>
#include <cmath>

namespace channelops::leads::domain {
namespace {
constexpr double kDegToRad = M_PI / 180.0;
}

UnitVector ToUnitVector(double latitude_deg, double longitude_deg) {
  double lat = latitude_deg * kDegToRad, lon = longitude_deg * kDegToRad;
  return UnitVector{std::cos(lat) * std::cos(lon), std::cos(lat) * std::sin(lon), std::sin(lat)};
}

double ChordSquared(const UnitVector& a, const UnitVector& b) {
  double dx = a.x - b.x, dy = a.y - b.y, dz = a.z - b.z;
  return dx * dx + dy * dy + dz * dz;
}

double HaversineKm(double lat1_deg, double lon1_deg, double lat2_deg, double lon2_deg) {
  double phi1 = lat1_deg * kDegToRad, phi2 = lat2_deg * kDegToRad;
  double dphi = (lat2_deg - lat1_deg) * kDegToRad, dlambda = (lon2_deg - lon1_deg) * kDegToRad;
  double s1 = std::sin(dphi / 2), s2 = std::sin(dlambda / 2);
  double h = s1 * s1 + std::cos(phi1) * std::cos(phi2) * s2 * s2;
  return 2 * kEarthRadiusKm * std::asin(std::sqrt(std::clamp(h, 0.0, 1.0)));
}

}  // namespace channelops::leads::domain
