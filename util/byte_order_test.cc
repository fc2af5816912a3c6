// Known-answer tests for the little-endian encoding the log's and snapshot
// store's records are written in.
#include "util/byte_order.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace synod::util {
namespace {

TEST(ByteOrderTest, PutLittleWritesLeastSignificantFirst) {
  std::string out;
  PutLittle(out, 0x0102030405060708ull, 8);
  PutLittle(out, 0xAABBCCDDu, 4);
  PutLittle(out, 0x1234, 2);
  EXPECT_EQ(out, std::string("\x08\x07\x06\x05\x04\x03\x02\x01\xDD\xCC\xBB\xAA\x34\x12", 14));
  std::string low;
  PutLittle(low, 0xFFFFFFFF00000001ull, 4);  // only the low bytes
  EXPECT_EQ(low, std::string("\x01\x00\x00\x00", 4));
}

TEST(ByteOrderTest, TakeLittleReadsBackAndAdvances) {
  std::string out;
  PutLittle(out, UINT64_MAX, 8);
  PutLittle(out, 0x80000001u, 4);
  PutLittle(out, 0xFE, 1);
  std::string_view in(out);
  EXPECT_EQ(TakeLittle(in, 8), UINT64_MAX);
  EXPECT_EQ(TakeLittle(in, 4), 0x80000001u);
  EXPECT_EQ(in.size(), 1u);
  EXPECT_EQ(TakeLittle(in, 1), 0xFEu);
  EXPECT_TRUE(in.empty());
}

TEST(ByteOrderTest, LoadLittleReadsBytesAboveSevenBitsUnsigned) {
  const unsigned char bytes[] = {0xFF, 0x80, 0x7F, 0x00};
  EXPECT_EQ(LoadLittle(bytes, 4), 0x007F80FFu);
  EXPECT_EQ(LoadLittle(bytes, 2), 0x80FFu);
  EXPECT_EQ(LoadLittle(bytes, 0), 0u);
  EXPECT_EQ(LoadLittle32(bytes), 0x007F80FFu);
}

}  // namespace
}  // namespace synod::util
