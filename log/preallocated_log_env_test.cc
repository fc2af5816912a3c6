// Tests of PreallocatedLogEnv: LevelDB on the real file system through the
// env — preallocated logs, crash copies with torn records, mid-file
// corruption, growth past the preallocated size, the plain-file fallback and
// leftover spares.
#include "log/preallocated_log_env.h"

#include <gtest/gtest.h>
#include <leveldb/db.h>
#include <leveldb/write_batch.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "log/log_file_test_support.h"
#include "tests/support/temp_dir.h"

namespace synod::log {
namespace {

using namespace test_files;
using namespace std::chrono_literals;
using test_support::TempDir;

leveldb::Status Open(leveldb::Env* env, const fs::path& dir, std::unique_ptr<leveldb::DB>& db) {
  db.reset();
  leveldb::Options options;
  options.create_if_missing = true;
  options.paranoid_checks = true;
  options.env = env;
  leveldb::DB* raw = nullptr;
  leveldb::Status status = leveldb::DB::Open(options, dir.string(), &raw);
  db.reset(raw);
  return status;
}

void SyncedPut(leveldb::DB& db, const std::string& key, const std::string& value) {
  leveldb::WriteOptions write;
  write.sync = true;
  ASSERT_TRUE(db.Put(write, key, value).ok());
}

std::map<std::string, std::string> ReadAll(leveldb::DB& db) {
  std::map<std::string, std::string> out;
  std::unique_ptr<leveldb::Iterator> it(db.NewIterator(leveldb::ReadOptions()));
  for (it->SeekToFirst(); it->Valid(); it->Next())
    out[it->key().ToString()] = it->value().ToString();
  EXPECT_TRUE(it->status().ok()) << it->status().ToString();
  return out;
}

std::string Key(int i) { return "key" + std::to_string(i); }
std::string Value(int i) { return "value-" + std::to_string(i) + std::string(100, 'v'); }

class PreallocatedLogEnvTest : public ::testing::Test {
 protected:
  static constexpr uint64_t kPrealloc = 256 << 10;
  // Opens a DB in dir_ whose current log is a preallocated one: the first
  // open (of a fresh directory) makes a plain log and asks for a spare, the
  // second takes the spare.
  void OpenPreallocated(std::unique_ptr<leveldb::DB>& db) {
    ASSERT_TRUE(Open(&env_, db_dir_, db).ok());
    db.reset();
    ASSERT_TRUE(env_.WaitForSpare(db_dir_.string(), 30s));
    ASSERT_TRUE(Open(&env_, db_dir_, db).ok());
    ASSERT_GE(AllocatedBytes(TheLog(db_dir_)), kPrealloc) << "the log is the spare";
    ASSERT_GE(fs::file_size(TheLog(db_dir_)), kPrealloc);
  }

  // A crash image of the open `db` in tmp_/`name` (CopyDir), then `db` closed.
  fs::path CrashImage(std::unique_ptr<leveldb::DB>& db, const std::string& name = "crashed") {
    const fs::path image = tmp_.path() / name;
    CopyDir(db_dir_, image);
    db.reset();
    return image;
  }
  // Closes `db`, opened on the copy `dir`, and has the env forget `dir`.
  void CloseCopy(std::unique_ptr<leveldb::DB>& db, const fs::path& dir) {
    db.reset();
    env_.ForgetDirectory(dir.string());
  }

  TempDir tmp_{"synod-prealloc"};  // destroyed last: the env stops touching it first
  const fs::path db_dir_ = tmp_.path() / "db";
  PreallocatedLogEnv env_{kPrealloc};
};

TEST_F(PreallocatedLogEnvTest, ReopenHoldsEverySyncedRecord) {
  std::unique_ptr<leveldb::DB> db;
  OpenPreallocated(db);
  for (int i = 0; i < 100; ++i) SyncedPut(*db, Key(i), Value(i));
  EXPECT_GE(fs::file_size(TheLog(db_dir_)), kPrealloc) << "written in place, not appended";
  ASSERT_TRUE(Open(&env_, db_dir_, db).ok());
  std::map<std::string, std::string> all = ReadAll(*db);
  ASSERT_EQ(all.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(all[Key(i)], Value(i));
  EXPECT_TRUE(fs::exists(db_dir_ / kSpareLogName) || env_.WaitForSpare(db_dir_.string(), 30s))
      << "a new spare follows each log taken";
}

TEST_F(PreallocatedLogEnvTest, TornTailAfterACrashOpensWithEverySyncedRecord) {
  std::unique_ptr<leveldb::DB> db;
  OpenPreallocated(db);
  for (int i = 0; i < 20; ++i) SyncedPut(*db, Key(i), Value(i));
  const fs::path crashed = CrashImage(db);
  // The crash tore the next write: its header and part of its payload reached
  // the disk, the rest of the preallocated file is still zeros.
  const fs::path log = TheLog(crashed);
  std::string contents = ReadFile(log);
  const size_t end = PresentedLogLength(contents).value();
  ASSERT_GT(end, 0u);
  ASSERT_LT(end + 1000, contents.size());
  ASSERT_EQ(contents.find_first_not_of('\0', end), std::string::npos);
  WriteFileAt(log, end, Record(1, std::string(900, 'w')).substr(0, 300));
  const fs::path plain = tmp_.path() / "plain";
  CopyDir(crashed, plain);

  // Without the env LevelDB sees the torn record followed by zeros as
  // corruption (why the env presents the tail) ...
  EXPECT_FALSE(Open(leveldb::Env::Default(), plain, db).ok());
  // ... with it, the log ends where the torn write began.
  leveldb::Status status = Open(&env_, crashed, db);
  ASSERT_TRUE(status.ok()) << status.ToString();
  std::map<std::string, std::string> all = ReadAll(*db);
  ASSERT_EQ(all.size(), 20u);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(all[Key(i)], Value(i));
  CloseCopy(db, crashed);
}

// The last write torn at every byte (what reached the disk is a prefix, the
// rest still zeros): the DB always opens, with or without that write, never
// missing an earlier one.
TEST_F(PreallocatedLogEnvTest, AWriteTornAtEveryByteOpens) {
  std::unique_ptr<leveldb::DB> db;
  OpenPreallocated(db);
  for (int i = 0; i < 3; ++i) SyncedPut(*db, Key(i), Value(i));
  const size_t synced_end = PresentedLogLength(ReadFile(TheLog(db_dir_))).value();
  leveldb::WriteBatch last;
  last.Put("last1", "x");
  last.Put("last2", "y");
  leveldb::WriteOptions sync;
  sync.sync = true;
  ASSERT_TRUE(db->Write(sync, &last).ok());
  const fs::path image = CrashImage(db, "image");
  const std::string log_name = TheLog(image).filename().string();
  const std::string full = ReadFile(image / log_name);
  const size_t all_end = PresentedLogLength(full).value();
  ASSERT_LT(synced_end, all_end);
  const fs::path cut_dir = tmp_.path() / "cut";
  for (size_t cut = synced_end; cut <= all_end; ++cut) {
    SCOPED_TRACE("cut at " + std::to_string(cut));
    fs::remove_all(cut_dir);
    CopyDir(image, cut_dir);
    WriteFileAt(cut_dir / log_name, cut, Zeros(all_end - cut));
    leveldb::Status status = Open(&env_, cut_dir, db);
    ASSERT_TRUE(status.ok()) << status.ToString();
    std::map<std::string, std::string> all = ReadAll(*db);
    EXPECT_EQ(all.size(), cut == all_end ? 5u : 3u);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(all[Key(i)], Value(i));
    CloseCopy(db, cut_dir);
  }
}

TEST_F(PreallocatedLogEnvTest, KeepsALastRecordEndingInZeroBytes) {
  std::unique_ptr<leveldb::DB> db;
  OpenPreallocated(db);
  SyncedPut(*db, "a", "first");
  const std::string zero_tail = "tail" + Zeros(64);
  SyncedPut(*db, "z", zero_tail);
  const fs::path crashed = CrashImage(db);
  ASSERT_TRUE(Open(&env_, crashed, db).ok());
  std::string value;
  ASSERT_TRUE(db->Get(leveldb::ReadOptions(), "z", &value).ok());
  EXPECT_EQ(value, zero_tail);
  CloseCopy(db, crashed);
}

TEST_F(PreallocatedLogEnvTest, CorruptionBeforeAValidRecordStillRefusesToOpen) {
  std::unique_ptr<leveldb::DB> db;
  OpenPreallocated(db);
  for (int i = 0; i < 5; ++i) SyncedPut(*db, Key(i), Value(i));
  const fs::path crashed = CrashImage(db);
  const fs::path log = TheLog(crashed);
  std::string contents = ReadFile(log);
  WriteFileAt(log, 20, std::string(1, static_cast<char>(contents[20] ^ 0x40)));  // first record
  leveldb::Status status = Open(&env_, crashed, db);
  EXPECT_FALSE(status.ok());
  EXPECT_TRUE(status.IsCorruption()) << status.ToString();
  CloseCopy(db, crashed);
}

// A synced record damaged on the medium is refused, not dropped: plain
// LevelDB refuses it as well (a whole record with a bad checksum).
TEST_F(PreallocatedLogEnvTest, BitFlipInTheLastSyncedRecordRefusesToOpen) {
  std::unique_ptr<leveldb::DB> db;
  OpenPreallocated(db);
  SyncedPut(*db, "a", "first");
  SyncedPut(*db, "promised", std::string(200, 'P'));
  const fs::path crashed = CrashImage(db);
  const fs::path log = TheLog(crashed);
  const std::string contents = ReadFile(log);
  const size_t end = PresentedLogLength(contents).value();
  WriteFileAt(log, end - 50, std::string(1, static_cast<char>(contents[end - 50] ^ 0x01)));
  leveldb::Status status = Open(&env_, crashed, db);
  EXPECT_TRUE(status.IsCorruption()) << status.ToString();
  CloseCopy(db, crashed);
}

// Durable records zeroed in the middle of the log (a lost write): refused,
// where LevelDB alone would skip them silently.
TEST_F(PreallocatedLogEnvTest, ZeroedRecordBeforeAValidOneRefusesToOpen) {
  std::unique_ptr<leveldb::DB> db;
  OpenPreallocated(db);
  SyncedPut(*db, "a", "first");
  const size_t a_end = PresentedLogLength(ReadFile(TheLog(db_dir_))).value();
  SyncedPut(*db, "b", std::string(100, 'b'));
  const size_t b_end = PresentedLogLength(ReadFile(TheLog(db_dir_))).value();
  SyncedPut(*db, "c", std::string(100, 'c'));
  const fs::path crashed = CrashImage(db);
  WriteFileAt(TheLog(crashed), a_end, Zeros(b_end - a_end));
  leveldb::Status status = Open(&env_, crashed, db);
  EXPECT_TRUE(status.IsCorruption()) << status.ToString();
  CloseCopy(db, crashed);
}

// kill -9 can cut a multi-page write() at a page boundary; a value that
// happens to hold bytes shaped like a log record must not make that tear
// look like damage.
TEST_F(PreallocatedLogEnvTest, ATornWriteWhoseValueEmbedsARecordOpens) {
  std::unique_ptr<leveldb::DB> db;
  OpenPreallocated(db);
  SyncedPut(*db, "a", "first");
  const size_t synced_end = PresentedLogLength(ReadFile(TheLog(db_dir_))).value();
  SyncedPut(*db, "b",
            std::string(100, 'x') + Record(1, "innocent payload") + std::string(8000, 'y'));
  const fs::path crashed = CrashImage(db);
  const fs::path log = TheLog(crashed);
  const size_t written = PresentedLogLength(ReadFile(log)).value();
  const size_t cut = synced_end + 4096;  // the write's first page reached the file
  WriteFileAt(log, cut, Zeros(written - cut));
  leveldb::Status status = Open(&env_, crashed, db);
  ASSERT_TRUE(status.ok()) << status.ToString();
  std::map<std::string, std::string> all = ReadAll(*db);
  EXPECT_EQ(all.size(), 1u);
  EXPECT_EQ(all["a"], "first");
  CloseCopy(db, crashed);
}

// After every synced write, whatever its size (records ending at a block
// end, 7-byte leftovers, trailers, records spanning blocks, empty values,
// values of zeros), the presented length is exactly what LevelDB's writer
// wrote: nothing synced is ever cut (model of the writer from the format).
TEST_F(PreallocatedLogEnvTest, PresentedLengthIsTheWritersOffsetAfterEverySyncedWrite) {
  std::unique_ptr<leveldb::DB> db;
  OpenPreallocated(db);
  const fs::path log = TheLog(db_dir_);
  uint64_t offset = 0;
  auto write_record = [&](size_t size) {  // the writer's fragmenting
    for (size_t left = size;;) {
      size_t leftover = kBlock - offset % kBlock;
      if (leftover < 7) offset += leftover;
      size_t fragment = std::min(left, kBlock - offset % kBlock - 7);
      offset += 7 + fragment;
      left -= fragment;
      if (left == 0) break;
    }
  };
  uint32_t seed = 12345;
  auto next = [&] {
    seed = seed * 1103515245u + 12345u;
    return seed >> 8;
  };
  leveldb::WriteOptions sync;
  sync.sync = true;
  for (int i = 0; i < 400 && offset < kPrealloc - 80000; ++i) {
    const size_t room = kBlock - offset % kBlock;
    size_t target = 20;
    switch (next() % 4) {
      case 0:  // end 0..12 bytes before the block's end
        target = room >= 7 + 20 ? room - 7 - next() % 13 : 20;
        break;
      case 1:
        target = 40000 + next() % 30000;  // spans blocks
        break;
      case 2:
        target = 20;
        break;
      default:
        target = 20 + next() % 3000;
    }
    const std::string key = "k" + std::to_string(i);
    const size_t fixed = 12 + 1 + 1 + key.size();  // batch header, tag, key
    size_t value_size = target > fixed + 3 ? target - fixed - 3 : 0;
    if (next() % 10 == 0) value_size = 0;
    leveldb::WriteBatch batch;
    batch.Put(key, std::string(value_size, next() % 2 ? 'x' : '\0'));
    const size_t size = batch.ApproximateSize();
    ASSERT_TRUE(db->Write(sync, &batch).ok());
    write_record(size);
    const std::optional<size_t> presented = PresentedLogLength(ReadFile(log));
    ASSERT_TRUE(presented.has_value()) << "write " << i;
    ASSERT_EQ(*presented, offset) << "write " << i << " of " << size << " bytes";
  }
}

// A replica restarted with preallocation off still reads its old
// preallocated log with the tear rule.
TEST_F(PreallocatedLogEnvTest, TearAwareEnvAloneOpensATornPreallocatedLog) {
  std::unique_ptr<leveldb::DB> db;
  OpenPreallocated(db);
  for (int i = 0; i < 5; ++i) SyncedPut(*db, Key(i), Value(i));
  const size_t synced_end = PresentedLogLength(ReadFile(TheLog(db_dir_))).value();
  const fs::path crashed = CrashImage(db);
  WriteFileAt(TheLog(crashed), synced_end, Record(1, std::string(900, 'w')).substr(0, 300));
  TearAwareLogEnv tear_aware;
  leveldb::Status status = Open(&tear_aware, crashed, db);
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(ReadAll(*db).size(), 5u);
  CloseCopy(db, crashed);
}

TEST_F(PreallocatedLogEnvTest, WritesPastThePreallocatedSize) {
  std::unique_ptr<leveldb::DB> db;
  OpenPreallocated(db);
  const int n = static_cast<int>(3 * kPrealloc / 1024);
  const std::string big(1000, 'g');
  for (int i = 0; i < n; ++i) SyncedPut(*db, Key(i), big);
  EXPECT_GT(fs::file_size(TheLog(db_dir_)), kPrealloc);
  ASSERT_TRUE(Open(&env_, db_dir_, db).ok());
  std::map<std::string, std::string> all = ReadAll(*db);
  ASSERT_EQ(all.size(), static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) ASSERT_EQ(all[Key(i)], big);
}

TEST_F(PreallocatedLogEnvTest, WithoutASpareUsesAPlainFile) {
  std::unique_ptr<leveldb::DB> db;
  ASSERT_TRUE(Open(&env_, db_dir_, db).ok());  // fresh directory: no spare yet
  for (int i = 0; i < 10; ++i) SyncedPut(*db, Key(i), Value(i));
  EXPECT_LT(fs::file_size(TheLog(db_dir_)), kPrealloc) << "appended, not preallocated";
  const fs::path crashed = tmp_.path() / "crashed";
  CopyDir(db_dir_, crashed);
  ASSERT_TRUE(Open(&env_, db_dir_, db).ok());
  EXPECT_EQ(ReadAll(*db).size(), 10u);
  db.reset();
  ASSERT_TRUE(Open(&env_, crashed, db).ok());
  EXPECT_EQ(ReadAll(*db).size(), 10u);
  CloseCopy(db, crashed);
}

TEST_F(PreallocatedLogEnvTest, AdoptsOnlyCompleteLeftoverSpares) {
  fs::create_directories(db_dir_);
  const std::string dir = db_dir_.string();
  env_.PrepareDirectory(dir);
  ASSERT_TRUE(env_.WaitForSpare(dir, 30s));
  const fs::path spare = db_dir_ / kSpareLogName;
  {
    PreallocatedLogEnv next_process(kPrealloc);
    next_process.PrepareDirectory(dir);
    EXPECT_TRUE(next_process.WaitForSpare(dir, 0ms)) << "adopted at once";
    next_process.ForgetDirectory(dir);
  }
  WriteFileAt(spare, 1000, "not zero");  // e.g. a log whose rename was lost
  {
    PreallocatedLogEnv next_process(kPrealloc);
    next_process.PrepareDirectory(dir);
    ASSERT_TRUE(next_process.WaitForSpare(dir, 30s)) << "made anew";
    std::string contents = ReadFile(spare);
    EXPECT_EQ(contents.size(), kPrealloc);
    EXPECT_EQ(contents.find_first_not_of('\0'), std::string::npos);
    next_process.ForgetDirectory(dir);
  }
  env_.ForgetDirectory(dir);
}

}  // namespace
}  // namespace synod::log
