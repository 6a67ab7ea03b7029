#pragma once

// Great-circle geometry for the nearest-partner rule. Pure and thread-safe.

namespace channelops::leads::domain {

inline constexpr double kEarthRadiusKm = 6371.0088;  // IUGG mean radius

// A point on the unit sphere. The chord between two of them grows strictly
// with the great-circle distance, so the nearest by ChordSquared (three
// multiplications) is the nearest by haversine.
struct UnitVector {
  double x = 0, y = 0, z = 0;
};

UnitVector ToUnitVector(double latitude_deg, double longitude_deg);
double ChordSquared(const UnitVector& a, const UnitVector& b);

// Great-circle distance by the haversine formula, in kilometres.
double HaversineKm(double lat1_deg, double lon1_deg, double lat2_deg, double lon2_deg);

}  // namespace channelops::leads::domain
