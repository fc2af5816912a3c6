// Known-answer tests for CRC32C and the small binary records built on it.
#include "snapshot/checksum.h"

#include <gtest/gtest.h>

#include <string>

#include "snapshot/snapshot_layout.h"
#include "snapshot/snapshot_meta.h"

namespace synod::snapshot {
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

TEST(SnapshotMetaTest, RoundTripsAndRejectsGarbage) {
  SnapshotMeta meta{123456789012345ull, 52428800, 0xDEADBEEF, 123456789012345ull};
  std::string encoded = EncodeMeta(meta);
  ASSERT_EQ(encoded.size(), kEncodedMetaSize);
  ASSERT_EQ(DecodeMeta(encoded), meta);
  EXPECT_FALSE(DecodeMeta(""));
  EXPECT_FALSE(DecodeMeta("garbage"));
  EXPECT_FALSE(DecodeMeta(std::string(kEncodedMetaSize, '\0')));
  for (size_t length = 0; length < encoded.size(); ++length) {
    EXPECT_FALSE(DecodeMeta(encoded.substr(0, length))) << length;
  }
  EXPECT_FALSE(DecodeMeta(encoded + "x"));
  for (size_t i = 0; i < encoded.size(); ++i) {
    std::string flipped = encoded;
    flipped[i] = static_cast<char>(flipped[i] ^ 0x01);
    EXPECT_FALSE(DecodeMeta(flipped)) << "byte " << i;
  }
}

TEST(SnapshotLayoutTest, NamesParseBackAndOthersDoNot) {
  auto data = ParseName(DataName(42));
  ASSERT_TRUE(data);
  EXPECT_EQ(data->kind, FileKind::kData);
  EXPECT_EQ(data->slot, 42u);
  EXPECT_EQ(ParseName(MetaName(7))->kind, FileKind::kMeta);
  EXPECT_EQ(ParseName(MetaName(7) + ".tmp")->kind, FileKind::kTempMeta);
  EXPECT_EQ(ParseName(TempDataName(7))->kind, FileKind::kTempData);
  auto part = ParseName(PartName(UINT64_MAX, 0xE3069283));
  ASSERT_TRUE(part);
  EXPECT_EQ(part->kind, FileKind::kPart);
  EXPECT_EQ(part->slot, UINT64_MAX);
  EXPECT_EQ(part->crc, 0xE3069283u);
  EXPECT_EQ(ParseName(ProgressName(9, 1))->kind, FileKind::kProgress);
  EXPECT_EQ(ParseName(ProgressName(9, 1) + ".tmp")->kind, FileKind::kTempProgress);
  EXPECT_FALSE(ParseName("LOCK"));
  EXPECT_FALSE(ParseName("snap-42.data"));
  EXPECT_FALSE(ParseName("snap-99999999999999999999.data"));  // overflows uint64
  EXPECT_FALSE(ParseName("recv-00000000000000000009-0000000G.part"));
  EXPECT_LT(DataName(9), DataName(10));  // names sort by slot
}

TEST(SnapshotLayoutTest, ProgressRoundTripsAndRejectsGarbage) {
  ReceiveProgress progress{SnapshotMeta{5, 1000, 77, 5}, 640};
  std::string encoded = EncodeProgress(progress);
  auto decoded = DecodeProgress(encoded);
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->meta, progress.meta);
  EXPECT_EQ(decoded->durable_bytes, 640u);
  for (size_t length = 0; length < encoded.size(); ++length) {
    EXPECT_FALSE(DecodeProgress(encoded.substr(0, length)));
  }
  for (size_t i = 0; i < encoded.size(); ++i) {
    std::string flipped = encoded;
    flipped[i] = static_cast<char>(flipped[i] ^ 0x80);
    EXPECT_FALSE(DecodeProgress(flipped)) << "byte " << i;
  }
  EXPECT_FALSE(DecodeProgress(EncodeProgress({progress.meta, 1001})));  // more than the size
}

}  // namespace
}  // namespace synod::snapshot
