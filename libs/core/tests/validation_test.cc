#include "channelops/core/validation.h"

#include "gtest/gtest.h"

namespace channelops::core {
namespace {

TEST(Validation, IdsAndTextNameTheField) {
  struct Case {
    std::string value;
    bool required;
    std::string want;  // "" = valid
  } cases[] = {
      {"", true, "p: is required"},          {"", false, ""},
      {"P-001", true, ""},                   {"has space", true, "p: must be printable ASCII without spaces"},
      {std::string(129, 'x'), true, "p: must be at most 128 characters"},
  };
  for (const auto& c : cases) {
    FieldViolations v;
    ValidateId(v, "p", c.value, c.required);
    absl::Status st = v.ToStatus();
    if (c.want.empty()) {
      EXPECT_TRUE(st.ok()) << c.value;
    } else {
      EXPECT_EQ(st.message(), c.want) << c.value;
    }
  }
  FieldViolations t;
  ValidateText(t, "reason", "   ", 10, true);
  ValidateText(t, "note", std::string(11, 'a'), 10, false);
  ValidateRequestId(t, "");
  auto fv = GetFieldViolations(t.ToStatus());
  ASSERT_EQ(fv.size(), 3u);
  EXPECT_EQ(fv[0].first, "reason");
  EXPECT_EQ(fv[1].first, "note");
  EXPECT_EQ(fv[2].first, "request_id");
}

}  // namespace
}  // namespace channelops::core
