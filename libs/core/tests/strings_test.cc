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

TEST(FirstInvalidUtf8Test, Table) {
  constexpr size_t kOk = std::string_view::npos;
  struct Case {
    std::string s;
    size_t want;
  };
  const Case cases[] = {
      {"", kOk},
      {"plain ASCII, longer than eight bytes", kOk},
      {"caf\xC3\xA9", kOk},  // U+00E9
      {"Soci\xC3\xA9t\xC3\xA9 G\xC3\xA9n\xC3\xA9rale", kOk},
      {"\xE2\x82\xAC 100", kOk},  // U+20AC
      {"\xF0\x9F\x98\x80", kOk},  // U+1F600
      {"\xF4\x8F\xBF\xBF", kOk},  // U+10FFFF, the last
      {"\xED\x9F\xBF", kOk},      // U+D7FF, before the surrogates
      {"Soci\xE9t\xE9", 4},       // Latin-1
      {"abcdefgh\x80", 8},        // a lone continuation byte
      {"\xC0\xAF", 0},            // overlong '/'
      {"\xC1\xBF", 0},            // overlong
      {"\xE0\x80\xAF", 0},        // overlong, three bytes
      {"\xF0\x80\x80\xAF", 0},    // overlong, four bytes
      {"\xED\xA0\x80", 0},        // U+D800, a surrogate
      {"\xF4\x90\x80\x80", 0},    // above U+10FFFF
      {"\xF5\x80\x80\x80", 0},
      {"\xFF", 0},
      {"ok \xC3", 3},  // truncated at the end
      {"ok \xE2\x82", 3},
      {"ok \xE2\x28\xA1", 3},            // second byte not a continuation
      {"ok \xF0\x9F\x98\x28", 3},        // fourth byte not a continuation
      {std::string("nul\0ok", 6), kOk},  // NUL is valid UTF-8
  };
  for (const auto& c : cases) {
    EXPECT_EQ(FirstInvalidUtf8(c.s), c.want) << "'" << c.s << "'";
  }
}

TEST(Utf8PrefixTest, NeverEndsInsideASequence) {
  EXPECT_EQ(Utf8Prefix("abc", 5), "abc");
  EXPECT_EQ(Utf8Prefix("abcdef", 3), "abc");
  // "caf" + U+00E9 (2 bytes): 4 bytes would cut it.
  EXPECT_EQ(Utf8Prefix("caf\xC3\xA9!", 4), "caf");
  EXPECT_EQ(Utf8Prefix("caf\xC3\xA9!", 5), "caf\xC3\xA9");
  // U+1F600 (4 bytes) after "a".
  const std::string emoji =
      "a\xF0\x9F\x98\x80"
      "b";
  for (size_t n = 1; n <= 4; ++n) EXPECT_EQ(Utf8Prefix(emoji, n), "a") << n;
  EXPECT_EQ(Utf8Prefix(emoji, 5), "a\xF0\x9F\x98\x80");
  // Input that is not UTF-8 is cut where asked: nothing before the cut is lost.
  EXPECT_EQ(Utf8Prefix("abc\x80\x80\x80", 3), "abc");
  EXPECT_EQ(Utf8Prefix("\xC3\xA9\x80\x80", 2), "\xC3\xA9");
  EXPECT_EQ(Utf8Prefix(std::string(70, '\xB0'), 64), std::string(64, '\xB0'));  // Latin-1 degrees
  EXPECT_EQ(Utf8Prefix("ab\xE9xyz", 3), "ab\xE9");  // Latin-1 e-acute: not a lead of UTF-8 here
  for (size_t n = 0; n <= emoji.size(); ++n) {
    EXPECT_EQ(FirstInvalidUtf8(Utf8Prefix(emoji, n)), std::string_view::npos) << n;
  }
}

TEST(QuotableUtf8Test, EscapesWhatIsNotUtf8AndBoundsTheLength) {
  EXPECT_EQ(QuotableUtf8("Soci\xC3\xA9t\xC3\xA9", 64), "Soci\xC3\xA9t\xC3\xA9");
  EXPECT_EQ(QuotableUtf8("Soci\xE9t\xE9", 64), "Soci\\xE9t\\xE9");  // Latin-1
  EXPECT_EQ(QuotableUtf8("\xFF\xC3", 64), "\\xFF\\xC3");
  EXPECT_EQ(QuotableUtf8(std::string(100, 'x'), 10), std::string(10, 'x') + "...");
  EXPECT_EQ(QuotableUtf8("caf\xC3\xA9", 4), "caf...");  // not inside the character
  for (const std::string s : {"\xE9",
                              "a\x80"
                              "b",
                              "\xF0\x9F\x98", "ok"}) {
    EXPECT_EQ(FirstInvalidUtf8(QuotableUtf8(s, 64)), std::string_view::npos) << s;
  }
}

}  // namespace
}  // namespace channelops::core
