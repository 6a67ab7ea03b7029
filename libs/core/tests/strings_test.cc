#include "channelops/core/strings.h"

#include <string>

#include "gtest/gtest.h"

namespace channelops::core {
namespace {

TEST(IsValidIdentifierTest, Table) {
  struct Case {
    std::string id;
    size_t max_len;
    bool want;
  };
  const Case cases[] = {
      {"deal-123", 64, true},
      {"a", 1, true},
      {"ab", 1, false},                  // too long
      {std::string(64, 'x'), 64, true},  // exactly the limit
      {std::string(65, 'x'), 64, false},
      {"", 64, false},
      {"has space", 64, false},
      {"tab\there", 64, false},
      {"new\nline", 64, false},
      {std::string("nul\0x", 5), 64, false},
      {"del\x7f", 64, false},
      {"caf\xC3\xA9", 64, false},  // non-ASCII
      {"!#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", 64, true},
      {"SKU/ABC-1.2_3", 64, true},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(IsValidIdentifier(c.id, c.max_len), c.want) << "id: '" << c.id << "'";
  }
}

}  // namespace
}  // namespace channelops::core
