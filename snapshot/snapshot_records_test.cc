// Known-answer tests for the small binary records of the snapshot store
// (meta files, receive progress, file names).
#include <gtest/gtest.h>

#include <string>

#include "snapshot/snapshot_layout.h"
#include "snapshot/snapshot_meta.h"

namespace synod::snapshot {
namespace {

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
