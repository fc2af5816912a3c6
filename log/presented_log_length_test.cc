// Tests of PresentedLogLength: the scan of a write-ahead log that hides a
// torn tail (and only a torn tail) and refuses damage, on logs built from the
// documented record format.
#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "log/log_file_test_support.h"
#include "log/preallocated_log_env.h"

namespace synod::log {
namespace {

using namespace test_files;

TEST(PresentedLogLength, KeepsIntactLogsAndTrimsTornTails) {
  const std::string a = Record(1, "first");
  const std::string b = Record(1, std::string(300, 'b'));
  EXPECT_EQ(PresentedLogLength(a + b), a.size() + b.size()) << "no damage: unchanged";
  EXPECT_EQ(PresentedLogLength(Zeros(3 * kBlock)), 0u) << "an unused preallocated log";
  EXPECT_EQ(PresentedLogLength(a + b + Zeros(kBlock)), a.size() + b.size());
  // A torn record: a valid header, part of its payload, then zeros.
  std::string torn = Record(1, std::string(1000, 't')).substr(0, 400);
  EXPECT_EQ(PresentedLogLength(a + b + torn + Zeros(2 * kBlock)), a.size() + b.size());
  // Torn inside its header.
  EXPECT_EQ(PresentedLogLength(a + torn.substr(0, 5) + Zeros(kBlock)), a.size());
  // A fragmented record whose last fragment is torn, across a block boundary.
  std::string first = Record(2, std::string(kBlock - a.size() - 7, 'f'));
  ASSERT_EQ((a + first).size(), kBlock);
  std::string last = Record(4, std::string(100, 'l'));
  EXPECT_EQ(PresentedLogLength(a + first + last.substr(0, 50) + Zeros(kBlock)), kBlock);
  EXPECT_EQ(PresentedLogLength(a + first + last + Zeros(kBlock)), kBlock + last.size());
}

TEST(PresentedLogLength, KeepsARecordWhosePayloadEndsInZeros) {
  const std::string a = Record(1, "x");
  const std::string zero_tail = Record(1, "value" + Zeros(64));
  EXPECT_EQ(PresentedLogLength(a + zero_tail + Zeros(kBlock)), a.size() + zero_tail.size());
}

TEST(PresentedLogLength, RefusesDamageWithinWrittenBytes) {
  const std::string a = Record(1, "first");
  std::string damaged = Record(1, std::string(200, 'd'));
  damaged[50] ^= 1;
  const std::string c = Record(1, "third");
  EXPECT_EQ(PresentedLogLength(a + damaged + c + Zeros(kBlock)), std::nullopt);
  // Also when the next valid record is blocks later, after zeros.
  EXPECT_EQ(PresentedLogLength(a + damaged + Zeros(kBlock) + c + Zeros(100)), std::nullopt);
  // A whole last record with a flipped bit is damage too, not a tear.
  EXPECT_EQ(PresentedLogLength(a + damaged + Zeros(kBlock)), std::nullopt);
  // A whole header no writer produces (bad type, or a length past its
  // block), even where its claimed payload would run into the zeros.
  std::string bad_type = Record(1, "fourth");
  bad_type[6] = 9;
  EXPECT_EQ(PresentedLogLength(a + bad_type + Zeros(kBlock)), std::nullopt);
  std::string too_long = Record(1, std::string(100, 'l'));
  too_long[5] = static_cast<char>(0xff);  // length > 65280: past the block
  EXPECT_EQ(PresentedLogLength(a + too_long + Zeros(2 * kBlock)), std::nullopt);
  // A zeroed record with written data after it (LevelDB itself would skip
  // the rest of the block silently).
  EXPECT_EQ(PresentedLogLength(a + Zeros(300) + c + Zeros(kBlock)), std::nullopt);
}

// A whole record whose length field gained a bit so that it claims bytes
// past what was written looks like a tear by its length alone; its checksum
// over its payload up to the written end, or up to the record-end marker,
// tells it apart (whatever follows it).
TEST(PresentedLogLength, RefusesARecordWhoseLengthWasDamaged) {
  const std::string a = Record(1, "first");
  // As LevelDbLogStorage writes them: the payload ends in the marker.
  const std::string marker(kRecordEndMarkerBytes, '\xff');
  const std::string b = Record(1, "second" + marker);
  const std::string c = Record(1, "third" + marker);
  const std::string torn = Record(1, std::string(200, 't') + marker).substr(0, 60);
  for (int bit = 0; bit < 16; ++bit) {
    std::string damaged = b;
    damaged[4 + bit / 8] = static_cast<char>(damaged[4 + bit / 8] ^ (1 << (bit % 8)));
    // Last record; whole records after it; a torn later write after it; its
    // CRC bytes alone of that later write after it.
    for (const std::string& after : {std::string(), c + c, torn, torn.substr(0, 3)}) {
      EXPECT_EQ(PresentedLogLength(a + damaged + after + Zeros(2 * kBlock)), std::nullopt)
          << "bit " << bit << ", " << after.size() << " bytes after it";
    }
  }
  // A last record without the marker is refused by its checksum up to the
  // written end.
  const std::string plain = Record(1, "second, ending in non-zero bytes");
  std::string damaged = plain;
  damaged[5] = static_cast<char>(damaged[5] ^ 0x01);
  EXPECT_EQ(PresentedLogLength(a + damaged + Zeros(kBlock)), std::nullopt);
  // Records torn at any byte of their payload are still cut.
  for (const std::string& record : {b, plain}) {
    for (size_t keep = 7; keep < record.size(); ++keep) {
      EXPECT_EQ(PresentedLogLength(a + record.substr(0, keep) + Zeros(kBlock)), a.size())
          << "kept " << keep;
    }
  }
}

TEST(PresentedLogLength, ATornWriteIsCutWhateverItsPayloadHolds) {
  const std::string a = Record(1, "first");
  // The torn write's payload embeds a valid record: still a tear.
  const std::string embedding =
      Record(1, std::string(100, 'x') + Record(1, "innocent") + std::string(8000, 'y'));
  EXPECT_EQ(PresentedLogLength(a + embedding.substr(0, 4096 - a.size()) + Zeros(2 * kBlock)),
            a.size());
}

}  // namespace
}  // namespace synod::log
