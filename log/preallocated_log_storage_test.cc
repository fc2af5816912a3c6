// Tests of LevelDbLogStorage on preallocated logs: a fresh directory starts
// on one, and damage to what the storage wrote is refused, never taken for a
// torn write (its record-end marker and the damaged-length check).
#include <gtest/gtest.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "log/leveldb_log_storage.h"
#include "log/log_file_test_support.h"
#include "log/preallocated_log_env.h"
#include "paxos/random.h"
#include "tests/support/status_testing.h"
#include "tests/support/temp_dir.h"

namespace synod::log {
namespace {

using namespace test_files;
using test_support::TempDir;

// The storage moves a fresh directory to a preallocated log at once, so a
// new replica's synced writes are cheap from its first command on.
TEST(PreallocatedLogStorage, FreshStorageWritesAPreallocatedLogFromTheStart) {
  TempDir tmp{"synod-prealloc"};
  LevelDbOptions options;
  options.dir = (tmp.path() / "replica").string();
  options.replica_id = 1;
  {
    auto opened = LevelDbLogStorage::Open(options);
    ASSERT_EQ(StatusOf(opened), Status::Ok());
    const uint64_t four_mib = 4u << 20;
    EXPECT_GE(fs::file_size(TheLog(options.dir)), four_mib);
    EXPECT_GE(AllocatedBytes(TheLog(options.dir)), four_mib);
  }
  // And it reopens (the log holds the identity record and nothing torn).
  auto reopened = LevelDbLogStorage::Open(options);
  ASSERT_EQ(StatusOf(reopened), Status::Ok());
}

// The storage ends every log record in eight non-zero bytes, so a synced
// last record that was damaged on the medium is refused even when the entry
// it holds ends in zero bytes (as no-op entries do): it cannot read as torn.
TEST(PreallocatedLogStorage, DamagedLastRecordIsRefusedHoweverItsEntryEnds) {
  TempDir tmp{"synod-prealloc"};
  LevelDbOptions options;
  options.dir = (tmp.path() / "replica").string();
  options.replica_id = 1;
  const std::string zero_ending = "x" + Zeros(64);
  const fs::path crashed = tmp.path() / "crashed";
  const fs::path damaged = tmp.path() / "damaged";
  const fs::path bad_length = tmp.path() / "bad-length";
  {
    auto opened = LevelDbLogStorage::Open(options);
    ASSERT_EQ(StatusOf(opened), Status::Ok());
    paxos::SlotEntry entry{
        1, paxos::Entry{paxos::Ballot{1, 1}, paxos::MakeCommandsValue({zero_ending}), false}};
    (*opened)->Persist(paxos::Ballot{1, 1}, {entry});
    CopyDir(options.dir, crashed);  // crash images of the same moment
    CopyDir(options.dir, damaged);
    CopyDir(options.dir, bad_length);
  }
  const fs::path log = TheLog(crashed);
  const std::string contents = ReadFile(log);
  const size_t end = PresentedLogLength(contents).value();
  EXPECT_EQ(contents.substr(end - 8, 8), std::string(8, '\xff'))
      << "the last record ends in the end marker";
  const size_t zeros_start = contents.rfind('x', end) + 1;
  ASSERT_LT(zeros_start, end - 8);
  {
    // Undamaged, the copy opens with the entry.
    LevelDbOptions copy = options;
    copy.dir = crashed.string();
    auto reopened = LevelDbLogStorage::Open(copy);
    ASSERT_EQ(StatusOf(reopened), Status::Ok());
    RecoveredLog recovered = (*reopened)->Load();
    ASSERT_EQ(recovered.paxos.entries.size(), 1u);
    EXPECT_EQ(recovered.paxos.entries[0].entry.value->commands[0], zero_ending);
  }
  auto expect_refused = [&](const fs::path& dir) {
    LevelDbOptions copy = options;
    copy.dir = dir.string();
    auto refused = LevelDbLogStorage::Open(copy);
    EXPECT_FALSE(refused.ok()) << "a damaged synced record must not be dropped as torn";
    EXPECT_NE(refused.status().message().find("damaged record"), std::string::npos)
        << refused.status().message();
  };
  // One bit of the entry's zero tail flipped on the medium.
  WriteFileAt(TheLog(damaged), zeros_start + 10, std::string(1, '\x04'));
  expect_refused(damaged);
  // Or one bit of its length field: it then claims 256 bytes more.
  ASSERT_EQ(7 + (static_cast<uint8_t>(contents[4]) | (static_cast<uint8_t>(contents[5]) << 8)), end)
      << "the entry's record is the log's only one";
  WriteFileAt(TheLog(bad_length), 5, std::string(1, static_cast<char>(contents[5] ^ 0x01)));
  expect_refused(bad_length);
}

// What the storage writes survives any single flipped bit: the presented log
// is either whole or refused, never cut before a synced record. Records of
// varied sizes (some fragmented across blocks, some ending in zero bytes);
// flips at sampled positions, and at every bit of the last record's header
// and tail and of the zeros right after it.
TEST(PreallocatedLogStorage, NoSingleFlippedBitCutsASyncedRecord) {
  TempDir tmp{"synod-prealloc"};
  LevelDbOptions options;
  options.dir = (tmp.path() / "replica").string();
  options.replica_id = 1;
  auto opened = LevelDbLogStorage::Open(options);
  ASSERT_EQ(StatusOf(opened), Status::Ok());
  const size_t sizes[] = {1, 17, 100, 1000, 5000, 40000, 300};
  size_t last_record_start = 0;
  std::string before_last;
  for (paxos::Slot slot = 1; slot <= 21; ++slot) {
    std::string command(sizes[slot % 7], static_cast<char>('a' + slot));
    if (slot % 3 == 0) command += Zeros(32);  // as no-op entries end
    paxos::SlotEntry entry{
        slot, paxos::Entry{paxos::Ballot{1, 1}, paxos::MakeCommandsValue({command}), false}};
    if (slot == 21) before_last = ReadFile(TheLog(options.dir));
    (*opened)->Persist(paxos::Ballot{1, 1}, {entry});
  }
  std::string contents = ReadFile(TheLog(options.dir));
  const size_t end = PresentedLogLength(contents).value();
  contents.resize(end + 2 * kBlock);  // the rest is zeros too
  ASSERT_GT(end, 3 * kBlock) << "some records are fragmented";
  last_record_start = PresentedLogLength(before_last).value();
  ASSERT_LT(last_record_start, end);

  auto check = [&](size_t pos, int bit) {
    contents[pos] = static_cast<char>(contents[pos] ^ (1 << bit));
    std::optional<size_t> presented = PresentedLogLength(contents);
    contents[pos] = static_cast<char>(contents[pos] ^ (1 << bit));
    if (presented) {
      ASSERT_EQ(*presented, end) << "a flip at byte " << pos << " bit " << bit
                                 << " cut the log before synced records";
    }
  };
  for (size_t pos = last_record_start; pos < end + 16 && !HasFailure(); ++pos) {
    for (int bit = 0; bit < 8; ++bit) check(pos, bit);
  }
  paxos::SplitMix64 random(7);
  for (int i = 0; i < 2000 && !HasFailure(); ++i) {
    check(random.Uniform(0, end), static_cast<int>(random.Uniform(0, 8)));
  }
}

}  // namespace
}  // namespace synod::log
