#pragma once

// The routing state in memory: territories indexed by country -> region ->
// postal prefix, partner routing profiles with their counters (capacity,
// SLA misses, pause, acceptance and conversion), the weighted-rotation state
// of every shared territory, and the partners that have a location.
//
// It is the Evolve of the routing part of the event stream: Apply(event) moves
// it forward and reports what changed (so the service can write the same
// changes to its read models in the command's batch); Route (router.h) and
// Decide (decider.h) only read it. It holds no clock and does no I/O.
//
// Not thread-safe: the service keeps one on the store's single writer thread;
// tests own theirs. Not copyable (entries point at each other).

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/container/node_hash_map.h"
#include "absl/time/time.h"
#include "channelops/leads/v1/leads.pb.h"
#include "channelops/leads/v1/read_models.pb.h"
#include "lead_routing/domain/events.h"
#include "lead_routing/domain/geo.h"

namespace channelops::leads::domain {

inline constexpr int32_t kDefaultAcceptanceSlaHours = 48;
inline constexpr int32_t kDefaultMaxMisses = 3;
inline constexpr int32_t kDefaultMissWindowHours = 168;
inline constexpr int32_t kDefaultPauseHours = 72;
// Rotation passes advance by kStrideScale / effective weight per lead; the
// effective weight is at most 100 x 1500, so the truncation error is below
// one part in a million.
inline constexpr int64_t kStrideScale = 1'000'000'000'000;

// What routing knows about a lead (normalised fields).
struct LeadFacts {
  std::string country;       // "US"; may be empty
  std::string region;        // "US-CA"; may be empty
  std::string postal_code;   // "94105"; may be empty
  std::string industry;      // "healthcare"; may be empty
  std::string product_line;  // "security"; may be empty
  std::optional<v1::GeoPoint> location;
};

struct PartnerEntry {
  v1::PartnerProfile profile;    // as upserted (normalised), with version
  v1::PartnerCounters counters;  // routing counters
  absl::flat_hash_set<std::string> product_lines;
  absl::flat_hash_set<std::string> certifications;
  size_t located_slot = SIZE_MAX;  // index into RoutingIndex::located(), if it has a location

  const std::string& id() const { return profile.partner_id(); }
  bool PausedAt(absl::Time now) const;
};

struct TerritoryEntry {
  v1::Territory territory;  // as upserted (normalised), with version
  absl::flat_hash_set<std::string> industries;
  absl::flat_hash_set<std::string> regions;
  // EXCLUSIVE: the owner; SHARED: the pool, in the order given.
  std::vector<const PartnerEntry*> partners;
  // Weighted rotation (stride scheduling): each pool member has a pass; the
  // lowest effective pass is chosen and advances by kStrideScale / weight.
  // virtual_time is the pass of the last choice: a partner that was out of the
  // running (at capacity, paused, new) re-enters at it instead of catching up
  // with a burst.
  int64_t virtual_time = 0;
  absl::flat_hash_map<const PartnerEntry*, int64_t> pass;

  const std::string& id() const { return territory.territory_id(); }
  bool exclusive() const { return territory.mode() == v1::TERRITORY_MODE_EXCLUSIVE; }
};

struct LocatedPartner {
  UnitVector point;
  const PartnerEntry* partner;
};

enum class MatchLevel { kCountry = 1, kRegion = 2, kPostal = 3 };

struct TerritoryMatch {
  const TerritoryEntry* territory = nullptr;
  MatchLevel level = MatchLevel::kCountry;
  std::string matched_on;  // the postal prefix, region or country that matched
};

// The SLA-miss policy of a profile with defaults applied.
struct SlaPolicy {
  int32_t max_misses;
  absl::Duration window;
  absl::Duration pause;
};
SlaPolicy PolicyOf(const v1::PartnerProfile& profile);
// A territory's acceptance SLA (default 48 h); nullptr: the default.
int32_t AcceptanceSlaHours(const TerritoryEntry* territory);

// What Apply changed, for persistence.
struct IndexChanges {
  std::vector<std::string> territories;  // territory definitions
  std::vector<std::string> profiles;     // partner profiles
  std::vector<std::string> counters;     // partner counters
  // (territory id, partner id): the partner's pass and the territory's virtual time.
  std::vector<std::pair<std::string, std::string>> rotation;

  void Merge(IndexChanges other);
};

class RoutingIndex {
 public:
  RoutingIndex() = default;
  RoutingIndex(const RoutingIndex&) = delete;
  RoutingIndex& operator=(const RoutingIndex&) = delete;

  const PartnerEntry* FindPartner(const std::string& partner_id) const;
  const TerritoryEntry* FindTerritory(const std::string& territory_id) const;
  size_t partner_count() const { return partners_.size(); }
  size_t territory_count() const { return territories_.size(); }
  // Partners with a location, in no particular order.
  const std::vector<LocatedPartner>& located() const { return located_; }

  // The most specific territory covering the lead: the longest postal prefix
  // of the lead's postal code, else its region, else its country; among
  // territories at the same level, industry-specific first, then the smallest
  // territory id. nullopt if none covers it (or the lead has no country).
  std::optional<TerritoryMatch> MatchTerritory(const LeadFacts& lead) const;

  // Rotation: the pass a partner competes with in a territory, and its
  // effective weight (routing_weight x 1000, or x 500..1500 by its smoothed
  // acceptance and conversion rates when the territory has performance_bias).
  static int64_t EffectivePass(const TerritoryEntry& t, const PartnerEntry& p);
  static int64_t EffectiveWeight(const TerritoryEntry& t, const PartnerEntry& p);

  // Evolve: applies one event. Lead events must reference known partners and
  // territories (CHECKed: Decide guarantees it).
  IndexChanges Apply(const Event& e);

  // Loading persisted state (start-up, rebuild). Partners first, then their
  // counters, then territories, then rotation; each CHECKs its references.
  void LoadPartner(v1::PartnerProfile profile);
  void LoadCounters(const std::string& partner_id, v1::PartnerCounters counters);
  void LoadTerritory(v1::Territory territory);
  // partner_id empty: the territory's virtual time.
  void LoadRotation(const std::string& territory_id, const std::string& partner_id, int64_t value);
  void Clear();

 private:
  struct CountryIndex {
    std::vector<TerritoryEntry*> whole;
    absl::flat_hash_map<std::string, std::vector<TerritoryEntry*>> regions;
    absl::flat_hash_map<std::string, std::vector<TerritoryEntry*>> postal;
    size_t max_prefix = 0;
  };

  PartnerEntry& MutablePartner(const std::string& partner_id);
  TerritoryEntry& MutableTerritory(const std::string& territory_id);
  void PutPartner(v1::PartnerProfile profile);
  void PutTerritory(v1::Territory territory);
  void Index(TerritoryEntry* t);
  void Unindex(TerritoryEntry* t);
  void Release(const std::string& partner_id, IndexChanges& changes);

  absl::node_hash_map<std::string, PartnerEntry> partners_;
  absl::node_hash_map<std::string, TerritoryEntry> territories_;
  absl::flat_hash_map<std::string, CountryIndex> countries_;
  std::vector<LocatedPartner> located_;
};

}  // namespace channelops::leads::domain
