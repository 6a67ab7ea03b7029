#include "channelops/core/wire.h"

#include <string>

#include "google/protobuf/wrappers.pb.h"
#include "gtest/gtest.h"

namespace channelops::core {
namespace {

// Field 1 of BytesValue is `bytes value`: protobuf's own encoding to compare with.
TEST(WireTest, LengthDelimitedFieldIsWhatProtobufWrites) {
  for (size_t n : {0, 1, 127, 128, 300, 16383, 16384, 70000}) {
    std::string bytes(n, '\0');
    for (size_t i = 0; i < n; ++i) bytes[i] = static_cast<char>(i * 7 + 3);
    google::protobuf::BytesValue m;
    m.set_value(bytes);
    std::string expected = n == 0 ? std::string("\x0a\x00", 2) : m.SerializeAsString();
    std::string out = "prefix";
    AppendLengthDelimited(&out, 1, bytes);
    EXPECT_EQ(out, "prefix" + expected) << n;
  }
}

TEST(WireTest, TagsAndVarintsOfTwoBytesAndMore) {
  std::string out;
  AppendLengthDelimited(&out, 16, "ab");  // tag (16 << 3) | 2 = 130: 0x82 0x01
  EXPECT_EQ(out, std::string("\x82\x01\x02"
                             "ab",
                             5));
  out.clear();
  AppendVarint(&out, 0);
  AppendVarint(&out, 300);                // 0xac 0x02
  AppendVarint(&out, uint64_t{1} << 63);  // ten bytes
  EXPECT_EQ(out.substr(0, 3), std::string("\x00\xac\x02", 3));
  EXPECT_EQ(out.size(), 13u);
  EXPECT_EQ(static_cast<unsigned char>(out.back()), 0x01);
}

}  // namespace
}  // namespace channelops::core
