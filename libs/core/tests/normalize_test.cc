#include "channelops/core/normalize.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace channelops::core {
namespace {

// Every input in a group must normalise to the group's expected key.
struct CompanyGroup {
  std::string_view want;
  std::vector<std::string_view> inputs;
};

const std::vector<CompanyGroup>& CompanyGroups() {
  static const auto* groups = new std::vector<CompanyGroup>{
      {"acme",
       {"ACME Corp.",
        "Acme Corporation",
        "acme, inc",
        "Acme Inc.",
        "ACME",
        "  acme   ",
        "The Acme Company",
        "Acme Co., Ltd.",
        "ACME LLC",
        "Acme, L.L.C.",
        "Acme GmbH",
        "Acme G.m.b.H.",
        "Acme S.A.",
        "Acme SARL",
        "Acme S.A.R.L.",
        "Acme Pty Ltd",
        "Acme A/S",
        "Acme Limited",
        "ACME PLC",
        "Acme Inc Inc",
        "Acme Incorporated",
        "Acme B.V.",
        "Acme N.V.",
        "Acme AG",
        "Acme AB",
        "Acme Oy",
        "Acme K.K.",
        "Acme L.P.",
        "Acme LLP",
        "Acme S.r.l.",
        "Acme Pte. Ltd.",
        "Acme Pvt Ltd",
        "Acme Sdn Bhd",
        "Acme Ltda",
        "Acme\tCorp",
        "THE ACME CORPORATION",
        "The The Acme",
        "acme (corp)",
        "Acme Corp & Co"}},
      {"at and t", {"AT&T", "AT and T", "at & t", "AT&T Inc.", "at&t corp"}},
      {"smith and sons", {"Smith & Sons Co", "smith and sons", "Smith & Sons, Co.", "SMITH&SONS"}},
      {"smith", {"Smith & Co", "Smith and Co.", "Smith Co", "Smith & Co., Ltd."}},
      {"hewlett packard", {"Hewlett-Packard Company", "Hewlett Packard", "hewlett/packard"}},
      {"mcdonalds", {"McDonald's Corporation", "McDonalds", "McDonald\xE2\x80\x99s", "MCDONALD'S"}},
      {"home depot", {"The Home Depot", "Home Depot, Inc.", "the home depot inc"}},
      {"company", {"Company", "The Company", "company inc", "COMPANY, LLC"}},
  };
  return *groups;
}

TEST(NormalizeCompanyNameTest, EquivalentNamesShareOneForm) {
  for (const CompanyGroup& g : CompanyGroups()) {
    for (std::string_view in : g.inputs) {
      EXPECT_EQ(NormalizeCompanyName(in), g.want) << "input: " << in;
    }
  }
}

TEST(NormalizeCompanyNameTest, Table) {
  struct Case {
    std::string_view in;
    std::string_view want;
  };
  const Case cases[] = {
      {"", ""},
      {"   ", ""},
      {"!!! ... ---", ""},
      {"&", "and"},
      {"The", "the"},
      {"Inc.", "inc"},
      {"Co Ltd", "co"},  // never drops the last word
      {"The Co", "co"},
      {"Theatre Corp", "theatre"},  // "the" only as a whole word
      {"Bank of the West", "bank of the west"},
      {"Acme Holdings", "acme holdings"},
      {"Co-operative Bank", "co operative bank"},  // a suffix word only counts at the end
      {"ACME (Europe) Ltd", "acme europe"},
      {"3M Company", "3m"},
      {"A B C", "a b c"},          // single letters that spell no suffix stay
      {"A B", "a b"},              // "ab" is a suffix, but it is the whole name
      {"Smith and", "smith and"},  // "and" is only dropped after a suffix
      {"Incorporated Television Company", "incorporated television"},
      {"M\xC3\xBCller GmbH", "m\xC3\xBCller"},  // UTF-8 kept as is
      {"O'Reilly Media, Inc.", "oreilly media"},
      {"Yahoo!", "yahoo"},
      {"Acme 2.0 Ltd", "acme 2 0"},
      {"ACME   EUROPE\n", "acme europe"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(NormalizeCompanyName(c.in), c.want) << "input: " << c.in;
  }
}

TEST(NormalizeCompanyNameTest, DistinctCompaniesStayDistinct) {
  const std::pair<std::string_view, std::string_view> pairs[] = {
      {"Acme", "Acme Europe"},      {"AT&T", "ATT"},  {"Smith & Sons", "Smith"},
      {"Apple Inc", "Applied Inc"}, {"A B C", "ABC"},
  };
  for (const auto& [a, b] : pairs) {
    EXPECT_NE(NormalizeCompanyName(a), NormalizeCompanyName(b)) << a << " vs " << b;
  }
}

TEST(NormalizeCompanyNameTest, IdempotentAndNonEmptyForAlphanumericInput) {
  std::vector<std::string_view> inputs;
  for (const CompanyGroup& g : CompanyGroups())
    inputs.insert(inputs.end(), g.inputs.begin(), g.inputs.end());
  for (std::string_view extra : {"Company", "Inc", "The", "Co Co Co", "the the", "S.A.", "x"}) {
    inputs.push_back(extra);
  }
  for (std::string_view in : inputs) {
    std::string once = NormalizeCompanyName(in);
    EXPECT_FALSE(once.empty()) << "input: " << in;
    EXPECT_EQ(NormalizeCompanyName(once), once) << "input: " << in;
  }
}

TEST(NormalizeEmailDomainTest, Valid) {
  struct Case {
    std::string_view in;
    std::string_view want;
  };
  const Case cases[] = {
      {"acme.com", "acme.com"},
      {"sales.acme.com", "acme.com"},
      {"eu.sales.acme.co.uk", "acme.co.uk"},
      {"acme.co.uk", "acme.co.uk"},
      {"Jane.Doe@Sales.ACME.com", "acme.com"},
      {"  bob@acme.com  ", "acme.com"},
      {"acme.com.", "acme.com"},
      {"www.acme.com", "acme.com"},
      {"WWW.Acme.Com", "acme.com"},
      {"www.acme.co.uk", "acme.co.uk"},
      {"www.com", "www.com"},
      {"shop.acme.com.au", "acme.com.au"},
      {"a.b.c.acme.co.jp", "acme.co.jp"},
      {"mail.acme.com.br", "acme.com.br"},
      {"x.acme.co.za", "acme.co.za"},
      {"acme.io", "acme.io"},
      {"uk.acme.com", "acme.com"},  // "com" then "uk" is not co.uk
      {"acme.uk", "acme.uk"},
      {"xn--bcher-kva.de", "xn--bcher-kva.de"},
      {"mail.xn--bcher-kva.ch", "xn--bcher-kva.ch"},
      {"acme-corp.com", "acme-corp.com"},
      {"a@b@acme.com", "acme.com"},  // the domain is after the last '@'
      {"123.acme.com", "acme.com"},
      {"3com.com", "3com.com"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(NormalizeEmailDomain(c.in), c.want) << "input: " << c.in;
  }
}

TEST(NormalizeEmailDomainTest, InvalidGivesEmpty) {
  const std::string long_label(64, 'a');
  const std::string long_name = std::string(63, 'a') + "." + std::string(63, 'b') + "." +
                                std::string(63, 'c') + "." + std::string(63, 'd') + ".com";
  const std::string inputs[] = {
      "",
      "   ",
      "acme",
      "com",
      "co.uk",
      "www.co.uk",
      "@",
      "bob@",
      "acme..com",
      ".acme.com",
      "acme.com..",
      "-acme.com",
      "acme-.com",
      "ac me.com",
      "acme_corp.com",
      "192.168.0.1",
      "bob@[192.168.0.1]",
      "m\xC3\xBCnchen.de",
      "acme.com/path",
      "http://acme.com",
      long_label + ".com",
      long_name,
      "bob@acme",
  };
  for (const std::string& in : inputs) {
    EXPECT_EQ(NormalizeEmailDomain(in), "") << "input: " << in;
  }
  // The limits themselves are accepted.
  EXPECT_EQ(NormalizeEmailDomain(std::string(63, 'a') + ".com"), std::string(63, 'a') + ".com");
}

TEST(NormalizePostalCodeTest, Table) {
  struct Case {
    std::string_view in;
    std::string_view want;
  };
  const Case cases[] = {
      {"sw1a 1aa", "SW1A1AA"},
      {"SW1A1AA", "SW1A1AA"},
      {"12345-6789", "123456789"},
      {" 10115 ", "10115"},
      {"k1a\t0b1", "K1A0B1"},
      {"", ""},
      {"- -", ""},
      {"1234 AB", "1234AB"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(NormalizePostalCode(c.in), c.want) << "input: " << c.in;
  }
}

TEST(NormalizeCountryCodeTest, Table) {
  struct Case {
    std::string_view in;
    std::string_view want;
  };
  const Case cases[] = {
      {"us", "US"}, {" gb\n", "GB"}, {"De", "DE"}, {"", ""}, {"  ", ""}, {"usa", "USA"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(NormalizeCountryCode(c.in), c.want) << "input: " << c.in;
  }
}

TEST(IsIsoCountryCodeTest, Table) {
  for (std::string_view code : {"US", "GB", "DE", "FR", "JP", "CN", "IN", "BR", "AU", "ZA", "SS",
                                "BQ", "CW", "SX", "AX", "AQ", "ZW", "AD"}) {
    EXPECT_TRUE(IsIsoCountryCode(code)) << code;
  }
  for (std::string_view code :
       {"UK", "EU", "XK", "ZZ", "AA", "us", "Us", "USA", "U", "", " US", "AN", "YU", "CS"}) {
    EXPECT_FALSE(IsIsoCountryCode(code)) << code;
  }
}

TEST(IsIsoCountryCodeTest, ExactlyTheAssignedCodes) {
  int assigned = 0;
  for (char a = 'A'; a <= 'Z'; ++a) {
    for (char b = 'A'; b <= 'Z'; ++b) {
      const char code[] = {a, b};
      if (IsIsoCountryCode(std::string_view(code, 2))) ++assigned;
    }
  }
  EXPECT_EQ(assigned, 249);
}

TEST(CustomerKeyTest, Table) {
  struct Case {
    std::string_view country;
    std::string_view name;
    std::string_view want;
  };
  const Case cases[] = {
      {"us", "ACME Corp.", "US|acme"},
      {" US ", "Acme, Inc", "US|acme"},
      {"gb", "The Smith & Sons Co", "GB|smith and sons"},
      {"DE", "M\xC3\xBCller GmbH", "DE|m\xC3\xBCller"},
      {"", "Acme", "|acme"},
      {"US", "!!!", ""},
      {"US", "", ""},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(CustomerKey(c.country, c.name), c.want) << c.country << " / " << c.name;
  }
  // Deal registration and POS ingestion, typed differently, meet on one key.
  EXPECT_EQ(CustomerKey("us", "ACME Corporation"), CustomerKey("US ", "acme inc."));
  EXPECT_NE(CustomerKey("US", "Acme"), CustomerKey("CA", "Acme"));
}

TEST(DomainKeyTest, Table) {
  struct Case {
    std::string_view in;
    std::string_view want;
  };
  const Case cases[] = {
      {"bob@Sales.Acme.com", "d|acme.com"},
      {"www.acme.co.uk", "d|acme.co.uk"},
      {"", ""},
      {"not a domain", ""},
      {"co.uk", ""},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(DomainKey(c.in), c.want) << "input: " << c.in;
  }
}

}  // namespace
}  // namespace channelops::core
