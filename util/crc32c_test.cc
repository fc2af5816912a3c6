// Known-answer tests for CRC32C.
#include "util/crc32c.h"

#include <gtest/gtest.h>

#include <string>

namespace synod::util {
namespace {

TEST(Crc32cTest, KnownVectors) {
  EXPECT_EQ(Crc32c(""), 0u);
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(Crc32c("a"), 0xC1D04330u);
  EXPECT_EQ(Crc32c(std::string(32, '\0')), 0x8A9136AAu);    // RFC 3720 B.4
  EXPECT_EQ(Crc32c(std::string(32, '\xff')), 0x62A8AB43u);  // RFC 3720 B.4
  std::string ascending;
  for (int i = 0; i < 32; ++i) ascending.push_back(static_cast<char>(i));
  EXPECT_EQ(Crc32c(ascending), 0x46DD794Eu);  // RFC 3720 B.4
}

TEST(Crc32cTest, IncrementalEqualsWholeAtEverySplit) {
  std::string data;
  for (int i = 0; i < 100; ++i) data.push_back(static_cast<char>(i * 37 + 11));
  const uint32_t whole = Crc32c(data);
  for (size_t split = 0; split <= data.size(); ++split) {
    Crc32cStream stream;
    stream.Update(std::string_view(data).substr(0, split));
    stream.Update(std::string_view(data).substr(split));
    EXPECT_EQ(stream.value(), whole) << split;
    EXPECT_EQ(Crc32cStream::Resume(Crc32c(data.substr(0, split))).value(),
              Crc32c(data.substr(0, split)));
    Crc32cStream resumed = Crc32cStream::Resume(Crc32c(data.substr(0, split)));
    resumed.Update(std::string_view(data).substr(split));
    EXPECT_EQ(resumed.value(), whole) << split;
  }
}

}  // namespace
}  // namespace synod::util
