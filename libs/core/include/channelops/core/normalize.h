#pragma once

// Normalisation of the identifying fields of an end customer, so that deal
// registration and POS ingestion derive the same key from differently typed
// input ("ACME Corp." and "Acme, Inc" are one customer).
//
// Every function is pure, total (never fails: bad input gives "" or false) and
// thread-safe. Only ASCII is folded; other bytes (UTF-8) pass through unchanged.
//
// These keys are persisted and matched across services: a change to any rule or
// table below changes keys, so it needs a migration (re-keying), not just a deploy.

#include <string>
#include <string_view>

namespace channelops::core {

// Canonical form of a company name, by these steps:
//   1. ASCII letters are lower-cased.
//   2. "&" becomes the word "and": "AT&T" -> "at and t", the same as "AT and T".
//   3. Apostrophes (' and U+2019) are removed, joining the word: "McDonald's" ->
//      "mcdonalds" (the same as "McDonalds"). Every other ASCII character that is
//      not a letter or digit (. , " - / ( ) etc.) separates words.
//   4. Whitespace is collapsed: words are joined by one space.
//   5. A leading "the" is dropped (repeatedly).
//   6. Legal-form suffixes are dropped from the end, repeatedly: inc,
//      incorporated, corp, corporation, llc, ltd, limited, gmbh, co, company, plc,
//      sa, ag, bv, nv, pty, srl, sarl, oy, oyj, ab, as, aps, kk, lp, llp, pte, pvt,
//      sdn, bhd, ltda. A suffix spelled with dots ("S.A.", "L.L.C.", "G.m.b.H.")
//      counts, and so does an "and" left dangling by one ("Smith & Co" -> "smith").
//   7. Steps 5 and 6 never remove the last remaining word: "Company" -> "company",
//      "The" -> "the".
// So "ACME Corp.", "Acme Corporation", "acme, inc", "Acme Inc." and "ACME" all give
// "acme"; "Smith & Sons Co" gives "smith and sons". The result is "" only when the
// input has no letter or digit (or non-ASCII byte). Idempotent:
// NormalizeCompanyName(NormalizeCompanyName(x)) == NormalizeCompanyName(x).
std::string NormalizeCompanyName(std::string_view name);

// The registrable domain of an email address or a domain name:
//   - an email address ("Jane.Doe@Sales.ACME.com") is reduced to its domain;
//   - surrounding whitespace and one trailing dot are removed, ASCII is
//     lower-cased, and a leading "www." is removed;
//   - subdomains are folded to the registrable domain, i.e. one label below the
//     public suffix: "sales.acme.com" -> "acme.com",
//     "eu.sales.acme.co.uk" -> "acme.co.uk".
// The public suffix is the last label, or the last two where they are in a
// built-in table of common two-label suffixes (co.uk, com.au, co.jp, com.br, ...).
// That table is a small subset of the ICANN section of the Public Suffix List
// (https://publicsuffix.org): deeper or rarer suffixes are treated as the
// single last label.
// Returns "" for empty or invalid input: no dot, an empty label, a label longer
// than 63 or a name longer than 253 characters, a character other than
// [a-z0-9-] (internationalised names must be given in punycode, "xn--..."), a
// label that starts or ends with '-', an all-digit last label (IP addresses),
// or a name that is itself a public suffix ("co.uk").
std::string NormalizeEmailDomain(std::string_view email_or_domain);

// Upper-cased, with all ASCII whitespace and '-' removed: "sw1a 1aa" -> "SW1A1AA",
// "12345-6789" -> "123456789".
std::string NormalizePostalCode(std::string_view postal_code);

// Upper-cased, with surrounding ASCII whitespace removed: " us " -> "US". Does
// not validate (see IsIsoCountryCode).
std::string NormalizeCountryCode(std::string_view country_code);

// True iff `code` is exactly one of the 249 officially assigned ISO 3166-1
// alpha-2 codes, in upper case. Lower case, surrounding spaces, reserved or
// user-assigned codes ("UK", "EU", "XK") are false: normalise first.
bool IsIsoCountryCode(std::string_view code);

// The end-customer key shared by deal registration and POS ingestion:
// NormalizeCountryCode(country) + "|" + NormalizeCompanyName(company_name),
// e.g. ("us", "ACME Corp.") -> "US|acme".
// "" if the company name normalises to "" (so that nameless customers never
// share a key); the country is not validated.
std::string CustomerKey(std::string_view country, std::string_view company_name);

// "d|" + NormalizeEmailDomain(email_or_domain), e.g. "d|acme.com";
// "" if the domain normalises to "".
std::string DomainKey(std::string_view email_or_domain);

}  // namespace channelops::core
