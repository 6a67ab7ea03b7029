#include "lead_routing/domain/validation.h"

#include <cmath>
#include <set>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "channelops/core/grpc_status.h"
#include "channelops/core/normalize.h"
#include "channelops/core/strings.h"
#include "channelops/core/validation.h"
#include "lead_routing/domain/normalize.h"

namespace channelops::leads::domain {
namespace {

using core::FieldViolations;

std::string At(const std::string& prefix, const char* field) {
  return prefix.empty() ? std::string(field) : absl::StrCat(prefix, ".", field);
}
std::string Index(const std::string& field, int i) { return absl::StrCat(field, "[", i, "]"); }

std::string Trimmed(const std::string& s) { return std::string(absl::StripAsciiWhitespace(s)); }

void Id(FieldViolations& v, const std::string& field, const std::string& value, bool required) {
  core::ValidateId(v, field, value, required, kMaxIdLength);
}

void Text(FieldViolations& v, const std::string& field, const std::string& value, size_t max,
          bool required) {
  core::ValidateText(v, field, value, max, required);
}

void RequestId(FieldViolations& v, const std::string& request_id) {
  Id(v, "request_id", request_id, true);
}

// Normalises a keyword list in place (lower case, de-duplicated, order kept).
void Keywords(FieldViolations& v, const std::string& field,
              google::protobuf::RepeatedPtrField<std::string>* list) {
  if (list->size() > kMaxKeywords) {
    v.Add(field, absl::StrCat("must have at most ", kMaxKeywords, " entries"));
    return;
  }
  std::set<std::string> seen;
  google::protobuf::RepeatedPtrField<std::string> out;
  for (int i = 0; i < list->size(); ++i) {
    std::string k = NormalizeKeyword(list->Get(i));
    if (k.empty()) {
      v.Add(Index(field, i), "must not be blank");
    } else if (k.size() > kMaxKeywordLength) {
      v.Add(Index(field, i), absl::StrCat("must be at most ", kMaxKeywordLength, " characters"));
    } else if (seen.insert(k).second) {
      *out.Add() = std::move(k);
    }
  }
  *list = std::move(out);
}

// A keyword field (industry, product interest): normalised in place.
void Keyword(FieldViolations& v, const std::string& field, std::string* value) {
  *value = NormalizeKeyword(*value);
  if (value->size() > kMaxKeywordLength) {
    v.Add(field, absl::StrCat("must be at most ", kMaxKeywordLength, " characters"));
  }
}

void Location(FieldViolations& v, const std::string& field, const v1::GeoPoint& p) {
  if (!std::isfinite(p.latitude()) || p.latitude() < -90 || p.latitude() > 90) {
    v.Add(At(field, "latitude"), "must be between -90 and 90 degrees");
  }
  if (!std::isfinite(p.longitude()) || p.longitude() < -180 || p.longitude() > 180) {
    v.Add(At(field, "longitude"), "must be between -180 and 180 degrees");
  }
}

void Page(FieldViolations& v, int32_t page_size, const std::string& page_token) {
  if (page_size < 0 || page_size > kMaxPageSize) {
    v.Add("page_size", absl::StrCat("must be between 0 and ", kMaxPageSize));
  }
  if (page_token.size() > 2 * kMaxIdLength + 16) v.Add("page_token", "is not a valid page token");
}

bool LooksLikeEmail(const std::string& s) {
  size_t at = s.find('@');
  if (at == std::string::npos || at == 0 || s.find('@', at + 1) != std::string::npos) return false;
  std::string domain = s.substr(at + 1);
  size_t dot = domain.find('.');
  if (dot == std::string::npos || dot == 0 || domain.back() == '.') return false;
  for (char c : s) {
    if (absl::ascii_isspace(static_cast<unsigned char>(c)) ||
        absl::ascii_iscntrl(static_cast<unsigned char>(c))) {
      return false;
    }
  }
  return true;
}

bool LooksLikePhone(const std::string& s) {
  bool digit = false;
  for (char c : s) {
    if (absl::ascii_isdigit(static_cast<unsigned char>(c))) {
      digit = true;
    } else if (c != ' ' && c != '+' && c != '-' && c != '(' && c != ')' && c != '.') {
      return false;
    }
  }
  return digit;
}

void Contact(FieldViolations& v, const std::string& field, common::v1::Contact* c) {
  c->set_name(Trimmed(c->name()));
  c->set_email(Trimmed(c->email()));
  c->set_phone(Trimmed(c->phone()));
  Text(v, At(field, "name"), c->name(), kMaxNameLength, false);
  if (!c->email().empty()) {
    if (c->email().size() > 254) {
      v.Add(At(field, "email"), "must be at most 254 characters");
    } else if (!LooksLikeEmail(c->email())) {
      v.Add(At(field, "email"), "must be an email address (name@domain)");
    }
  }
  if (!c->phone().empty()) {
    if (c->phone().size() > 40) {
      v.Add(At(field, "phone"), "must be at most 40 characters");
    } else if (!LooksLikePhone(c->phone())) {
      v.Add(At(field, "phone"), "must be digits with optional + - ( ) . and spaces");
    }
  }
}

}  // namespace

absl::StatusOr<v1::Territory> ValidateUpsertTerritory(const v1::UpsertTerritoryRequest& r) {
  FieldViolations v;
  RequestId(v, r.request_id());
  if (!r.has_territory()) {
    v.Add("territory", "is required");
    return v.ToStatus();
  }
  v1::Territory t = r.territory();
  t.clear_version();
  t.clear_updated_at();
  const std::string p = "territory";
  Id(v, At(p, "territory_id"), t.territory_id(), true);
  t.set_name(Trimmed(t.name()));
  Text(v, At(p, "name"), t.name(), kMaxNameLength, false);

  // Countries.
  std::set<std::string> countries;
  google::protobuf::RepeatedPtrField<std::string> norm_countries;
  if (t.countries().empty()) v.Add(At(p, "countries"), "must name at least one country");
  if (t.countries_size() > kMaxCountries) {
    v.Add(At(p, "countries"), absl::StrCat("must have at most ", kMaxCountries, " entries"));
  } else {
    for (int i = 0; i < t.countries_size(); ++i) {
      std::string c = core::NormalizeCountryCode(t.countries(i));
      if (!core::IsIsoCountryCode(c)) {
        v.Add(Index(At(p, "countries"), i), "must be an ISO 3166-1 alpha-2 code");
      } else if (countries.insert(c).second) {
        *norm_countries.Add() = c;
      }
    }
  }
  *t.mutable_countries() = std::move(norm_countries);

  // Regions: "US-CA", or "CA" when the territory has exactly one country.
  if (t.regions_size() > kMaxRegions) {
    v.Add(At(p, "regions"), absl::StrCat("must have at most ", kMaxRegions, " entries"));
  } else {
    std::set<std::string> seen;
    google::protobuf::RepeatedPtrField<std::string> out;
    for (int i = 0; i < t.regions_size(); ++i) {
      std::string raw = absl::AsciiStrToUpper(absl::StripAsciiWhitespace(t.regions(i)));
      std::string country;
      size_t dash = raw.find('-');
      if (dash != std::string::npos) {
        country = raw.substr(0, dash);
      } else if (countries.size() == 1) {
        country = *countries.begin();
      } else {
        v.Add(Index(At(p, "regions"), i),
              "must be written <country>-<code> (e.g. US-CA) when the territory has several "
              "countries");
        continue;
      }
      std::string region = NormalizeRegion(country, raw);
      if (region.empty()) {
        v.Add(Index(At(p, "regions"), i),
              "must be a subdivision code of 1 to 3 letters or digits, e.g. CA or US-CA");
      } else if (!countries.contains(country)) {
        v.Add(Index(At(p, "regions"), i),
              absl::StrCat("names country ", country, ", which is not in countries"));
      } else if (seen.insert(region).second) {
        *out.Add() = region;
      }
    }
    *t.mutable_regions() = std::move(out);
  }

  // Postal prefixes.
  if (t.postal_prefixes_size() > kMaxPostalPrefixes) {
    v.Add(At(p, "postal_prefixes"),
          absl::StrCat("must have at most ", kMaxPostalPrefixes, " entries"));
  } else {
    std::set<std::string> seen;
    google::protobuf::RepeatedPtrField<std::string> out;
    for (int i = 0; i < t.postal_prefixes_size(); ++i) {
      std::string prefix = core::NormalizePostalCode(t.postal_prefixes(i));
      if (!IsValidPostalPrefix(prefix)) {
        v.Add(Index(At(p, "postal_prefixes"), i),
              "must be 1 to 10 letters or digits (spaces and dashes are ignored)");
      } else if (seen.insert(prefix).second) {
        *out.Add() = prefix;
      }
    }
    *t.mutable_postal_prefixes() = std::move(out);
  }

  Keywords(v, At(p, "industries"), t.mutable_industries());
  Keywords(v, At(p, "required_certifications"), t.mutable_required_certifications());

  switch (t.mode()) {
    case v1::TERRITORY_MODE_EXCLUSIVE:
      Id(v, At(p, "owner_partner_id"), t.owner_partner_id(), true);
      if (!t.partner_ids().empty()) {
        v.Add(At(p, "partner_ids"),
              "must be empty for an EXCLUSIVE territory (use owner_partner_id)");
      }
      if (t.performance_bias()) {
        v.Add(At(p, "performance_bias"), "applies only to SHARED territories");
      }
      break;
    case v1::TERRITORY_MODE_SHARED: {
      if (!t.owner_partner_id().empty()) {
        v.Add(At(p, "owner_partner_id"), "must be empty for a SHARED territory (use partner_ids)");
      }
      if (t.partner_ids().empty()) {
        v.Add(At(p, "partner_ids"), "must name at least one partner for a SHARED territory");
      } else if (t.partner_ids_size() > kMaxPoolSize) {
        v.Add(At(p, "partner_ids"), absl::StrCat("must have at most ", kMaxPoolSize, " partners"));
      } else {
        std::set<std::string> seen;
        for (int i = 0; i < t.partner_ids_size(); ++i) {
          Id(v, Index(At(p, "partner_ids"), i), t.partner_ids(i), true);
          if (!seen.insert(t.partner_ids(i)).second) {
            v.Add(Index(At(p, "partner_ids"), i), "is listed twice");
          }
        }
      }
      break;
    }
    default:
      v.Add(At(p, "mode"), "must be EXCLUSIVE or SHARED");
  }
  if (t.acceptance_sla_hours() < 0 || t.acceptance_sla_hours() > kMaxAcceptanceSlaHours) {
    v.Add(At(p, "acceptance_sla_hours"),
          absl::StrCat("must be between 0 (default 48) and ", kMaxAcceptanceSlaHours));
  }
  if (absl::Status s = v.ToStatus(); !s.ok()) return s;
  return t;
}

absl::StatusOr<v1::PartnerProfile> ValidateUpsertPartnerProfile(
    const v1::UpsertPartnerProfileRequest& r) {
  FieldViolations v;
  RequestId(v, r.request_id());
  if (!r.has_profile()) {
    v.Add("profile", "is required");
    return v.ToStatus();
  }
  v1::PartnerProfile pr = r.profile();
  pr.clear_version();
  pr.clear_updated_at();
  pr.clear_paused_until();
  const std::string p = "profile";
  Id(v, At(p, "partner_id"), pr.partner_id(), true);
  pr.set_name(Trimmed(pr.name()));
  Text(v, At(p, "name"), pr.name(), kMaxNameLength, false);
  pr.set_tier(NormalizeTier(pr.tier()));
  if (pr.tier().size() > 32) v.Add(At(p, "tier"), "must be at most 32 characters");
  if (pr.routing_weight() < kMinRoutingWeight || pr.routing_weight() > kMaxRoutingWeight) {
    v.Add(At(p, "routing_weight"),
          absl::StrCat("must be between ", kMinRoutingWeight, " and ", kMaxRoutingWeight));
  }
  Keywords(v, At(p, "certifications"), pr.mutable_certifications());
  Keywords(v, At(p, "product_lines"), pr.mutable_product_lines());
  if (pr.max_open_leads() < 0) {
    v.Add(At(p, "max_open_leads"), "must not be negative (0: no cap)");
  } else if (pr.max_open_leads() > kMaxOpenLeadsCap) {
    v.Add(At(p, "max_open_leads"), absl::StrCat("must be at most ", kMaxOpenLeadsCap));
  }
  if (pr.has_location()) Location(v, At(p, "location"), pr.location());
  const auto& pol = pr.sla_miss_policy();
  const std::string pf = At(p, "sla_miss_policy");
  if (pol.max_misses() < 0 || pol.max_misses() > 100) {
    v.Add(At(pf, "max_misses"), "must be between 0 (default 3) and 100");
  }
  if (pol.window_hours() < 0 || pol.window_hours() > 8760) {
    v.Add(At(pf, "window_hours"), "must be between 0 (default 168) and 8760");
  }
  if (pol.pause_hours() < 0 || pol.pause_hours() > 8760) {
    v.Add(At(pf, "pause_hours"), "must be between 0 (default 72) and 8760");
  }
  if (absl::Status s = v.ToStatus(); !s.ok()) return s;
  return pr;
}

absl::StatusOr<v1::SubmitLeadRequest> ValidateSubmitLead(const v1::SubmitLeadRequest& r) {
  FieldViolations v;
  RequestId(v, r.request_id());
  v1::SubmitLeadRequest n = r;
  n.set_source(NormalizeKeyword(n.source()));
  if (n.source().size() > kMaxKeywordLength) {
    v.Add("source", absl::StrCat("must be at most ", kMaxKeywordLength, " characters"));
  }
  Id(v, "campaign_id", n.campaign_id(), false);
  n.set_company(Trimmed(n.company()));
  Text(v, "company", n.company(), kMaxNameLength, true);
  if (n.has_contact()) Contact(v, "contact", n.mutable_contact());

  std::string country = core::NormalizeCountryCode(n.country_code());
  bool country_ok = false;
  if (!country.empty()) {
    country_ok = core::IsIsoCountryCode(country);
    if (!country_ok) v.Add("country_code", "must be an ISO 3166-1 alpha-2 code");
  }
  n.set_country_code(country);
  if (!absl::StripAsciiWhitespace(n.region()).empty()) {
    if (country.empty()) {
      v.Add("country_code", "is required when region is given");
    } else if (country_ok) {
      std::string region = NormalizeRegion(country, n.region());
      if (region.empty()) {
        v.Add("region", absl::StrCat("must be a subdivision code of ", country,
                                     " (1 to 3 letters or digits, e.g. CA or ", country, "-CA)"));
      }
      n.set_region(region);
    }
  } else {
    n.clear_region();
  }
  std::string postal = core::NormalizePostalCode(n.postal_code());
  if (!postal.empty()) {
    if (country.empty()) {
      v.Add("country_code", "is required when postal_code is given");
    } else if (country_ok && !IsValidPostalCode(country, postal)) {
      v.Add("postal_code", absl::StrCat("is not a valid postal code for ", country));
    }
  }
  n.set_postal_code(postal);
  Keyword(v, "industry", n.mutable_industry());
  Keyword(v, "product_interest", n.mutable_product_interest());
  if (n.score() < 0 || n.score() > kMaxScore) {
    v.Add("score", absl::StrCat("must be between 0 and ", kMaxScore));
  }
  if (n.has_location()) Location(v, "location", n.location());
  if (absl::Status s = v.ToStatus(); !s.ok()) return s;
  return n;
}

absl::Status ValidateAcceptLead(const v1::AcceptLeadRequest& r) {
  FieldViolations v;
  RequestId(v, r.request_id());
  Id(v, "lead_id", r.lead_id(), true);
  Id(v, "partner_id", r.partner_id(), true);
  return v.ToStatus();
}

absl::Status ValidateDeclineLead(const v1::DeclineLeadRequest& r) {
  FieldViolations v;
  RequestId(v, r.request_id());
  Id(v, "lead_id", r.lead_id(), true);
  Id(v, "partner_id", r.partner_id(), true);
  Text(v, "reason", r.reason(), kMaxTextLength, true);
  return v.ToStatus();
}

absl::Status ValidateConvertLead(const v1::ConvertLeadRequest& r) {
  FieldViolations v;
  RequestId(v, r.request_id());
  Id(v, "lead_id", r.lead_id(), true);
  Id(v, "partner_id", r.partner_id(), true);
  Id(v, "deal_id", r.deal_id(), true);
  return v.ToStatus();
}

absl::Status ValidateCloseLead(const v1::CloseLeadRequest& r) {
  FieldViolations v;
  RequestId(v, r.request_id());
  Id(v, "lead_id", r.lead_id(), true);
  Id(v, "partner_id", r.partner_id(), false);
  Text(v, "reason", r.reason(), kMaxTextLength, true);
  return v.ToStatus();
}

absl::Status ValidateReassignLead(const v1::ReassignLeadRequest& r) {
  FieldViolations v;
  RequestId(v, r.request_id());
  Id(v, "lead_id", r.lead_id(), true);
  Id(v, "partner_id", r.partner_id(), true);
  Text(v, "reason", r.reason(), kMaxTextLength, true);
  return v.ToStatus();
}

absl::Status ValidateGetTerritory(const v1::GetTerritoryRequest& r) {
  FieldViolations v;
  Id(v, "territory_id", r.territory_id(), true);
  return v.ToStatus();
}

absl::Status ValidateGetPartnerProfile(const v1::GetPartnerProfileRequest& r) {
  FieldViolations v;
  Id(v, "partner_id", r.partner_id(), true);
  return v.ToStatus();
}

absl::Status ValidateGetLead(const v1::GetLeadRequest& r) {
  FieldViolations v;
  Id(v, "lead_id", r.lead_id(), true);
  Id(v, "partner_id", r.partner_id(), false);
  return v.ToStatus();
}

absl::Status ValidateListLeads(const v1::ListLeadsRequest& r) {
  FieldViolations v;
  Id(v, "partner_id", r.partner_id(), true);
  if (!v1::LeadStatus_IsValid(r.status())) v.Add("status", "is not a LeadStatus");
  Page(v, r.page_size(), r.page_token());
  return v.ToStatus();
}

absl::Status ValidateListUnroutedLeads(const v1::ListUnroutedLeadsRequest& r) {
  FieldViolations v;
  Page(v, r.page_size(), r.page_token());
  return v.ToStatus();
}

absl::Status ValidateGetRoutingHistory(const v1::GetRoutingHistoryRequest& r) {
  FieldViolations v;
  Id(v, "lead_id", r.lead_id(), true);
  return v.ToStatus();
}

absl::Status ValidateGetPartnerLeadStats(const v1::GetPartnerLeadStatsRequest& r) {
  FieldViolations v;
  Id(v, "partner_id", r.partner_id(), true);
  return v.ToStatus();
}

}  // namespace channelops::leads::domain
