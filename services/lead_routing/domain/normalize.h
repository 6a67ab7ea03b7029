#pragma once

// Normalisation and format checks of the geography and keyword fields of lead
// routing (territories, partner profiles, leads). Every function is pure, total
// and thread-safe. Only ASCII is folded.
//
// These forms are stored and matched against each other (a territory's postal
// prefix against a lead's postal code), so a change here needs a re-keying of
// the stored territories, not just a deploy.

#include <string>
#include <string_view>

namespace channelops::leads::domain {

// Keywords (industries, certifications, product lines): surrounding ASCII
// whitespace removed, inner runs of whitespace collapsed to one space, ASCII
// lower-cased. "  Health  Care " -> "health care".
std::string NormalizeKeyword(std::string_view s);

// Tiers: trimmed and upper-cased. " gold " -> "GOLD".
std::string NormalizeTier(std::string_view s);

// A subdivision (ISO 3166-2 style) within `country` (already normalised):
// "ca", "CA", "US-CA", " us-ca " all give "US-CA" for country "US". The
// subdivision part must be 1..3 ASCII letters or digits. Returns "" if the
// text is malformed or names a country other than `country`.
std::string NormalizeRegion(std::string_view country, std::string_view region);

// The country part of a normalised region ("US-CA" -> "US"); "" if none.
std::string_view RegionCountry(std::string_view normalized_region);

// True iff `normalized` (see core::NormalizePostalCode) is a well-formed postal
// code of `country`: the country's own format where one is built in (US 5 or 9
// digits, CA A9A9A9, GB outward+inward code, DE/FR/IT/ES 5 digits, NL 9999AA,
// AU/AT/BE/CH/DK/NO/NZ 4 digits, JP 7 digits, IN 6 digits, BR 8 digits, ...),
// otherwise 2..10 ASCII letters or digits.
bool IsValidPostalCode(std::string_view country, std::string_view normalized);

// True iff `normalized` is a plausible postal-code prefix: 1..10 ASCII letters
// or digits.
bool IsValidPostalPrefix(std::string_view normalized);

}  // namespace channelops::leads::domain
