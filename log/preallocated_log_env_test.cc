// Tests of PreallocatedLogEnv: the log scan that hides a torn tail (and only
// a torn tail), and LevelDB on the real file system through the env —
// preallocated logs, crash copies with torn records, mid-file corruption,
// growth past the preallocated size, and the plain-file fallback.
#include "log/preallocated_log_env.h"

#include <gtest/gtest.h>
#include <leveldb/db.h>
#include <leveldb/write_batch.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "log/leveldb_log_storage.h"
#include "paxos/random.h"
#include "snapshot/checksum.h"
#include "tests/support/temp_dir.h"

namespace synod::log {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr size_t kBlock = 32768;

// One physical log record, encoded from the documented format.
std::string Record(uint8_t type, const std::string& payload) {
  std::string typed(1, static_cast<char>(type));
  typed += payload;
  uint32_t crc = snapshot::Crc32c(typed);
  uint32_t masked = ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
  std::string out;
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>(masked >> (8 * i)));
  out.push_back(static_cast<char>(payload.size() & 0xff));
  out.push_back(static_cast<char>(payload.size() >> 8));
  out += typed;
  return out;
}

std::string Zeros(size_t n) { return std::string(n, '\0'); }

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

using test_support::TempDir;

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteFileAt(const fs::path& path, size_t offset, const std::string& bytes) {
  std::fstream out(path, std::ios::binary | std::ios::in | std::ios::out);
  out.seekp(static_cast<std::streamoff>(offset));
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good());
}

std::vector<fs::path> LogFiles(const fs::path& dir) {
  std::vector<fs::path> logs;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() == ".log") logs.push_back(entry.path());
  }
  return logs;
}

// The single write-ahead log in `dir`.
fs::path TheLog(const fs::path& dir) {
  std::vector<fs::path> logs = LogFiles(dir);
  EXPECT_EQ(logs.size(), 1u);
  return logs.empty() ? fs::path() : logs[0];
}

uint64_t AllocatedBytes(const fs::path& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return 0;
  return static_cast<uint64_t>(st.st_blocks) * 512;
}

// A crash image of a DB that is still open: its files as they are now. The
// env's spare (and the temporary file it is made under) are left out: the
// background thread may rename or replace them while the copy runs.
void CopyDir(const fs::path& from, const fs::path& to) {
  fs::create_directories(to);
  for (const auto& entry : fs::directory_iterator(from)) {
    const std::string name = entry.path().filename().string();
    if (name == "LOCK" || name.rfind(kSpareLogName, 0) == 0) continue;
    fs::copy_file(entry.path(), to / entry.path().filename());
  }
}

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
  const fs::path crashed = tmp_.path() / "crashed";
  CopyDir(db_dir_, crashed);
  db.reset();
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
  db.reset();
  env_.ForgetDirectory(crashed.string());
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
  const fs::path image = tmp_.path() / "image";
  CopyDir(db_dir_, image);
  db.reset();
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
    db.reset();
    env_.ForgetDirectory(cut_dir.string());
  }
}

TEST_F(PreallocatedLogEnvTest, KeepsALastRecordEndingInZeroBytes) {
  std::unique_ptr<leveldb::DB> db;
  OpenPreallocated(db);
  SyncedPut(*db, "a", "first");
  const std::string zero_tail = "tail" + Zeros(64);
  SyncedPut(*db, "z", zero_tail);
  const fs::path crashed = tmp_.path() / "crashed";
  CopyDir(db_dir_, crashed);
  db.reset();
  ASSERT_TRUE(Open(&env_, crashed, db).ok());
  std::string value;
  ASSERT_TRUE(db->Get(leveldb::ReadOptions(), "z", &value).ok());
  EXPECT_EQ(value, zero_tail);
  db.reset();
  env_.ForgetDirectory(crashed.string());
}

TEST_F(PreallocatedLogEnvTest, CorruptionBeforeAValidRecordStillRefusesToOpen) {
  std::unique_ptr<leveldb::DB> db;
  OpenPreallocated(db);
  for (int i = 0; i < 5; ++i) SyncedPut(*db, Key(i), Value(i));
  const fs::path crashed = tmp_.path() / "crashed";
  CopyDir(db_dir_, crashed);
  db.reset();
  const fs::path log = TheLog(crashed);
  std::string contents = ReadFile(log);
  WriteFileAt(log, 20, std::string(1, static_cast<char>(contents[20] ^ 0x40)));  // first record
  leveldb::Status status = Open(&env_, crashed, db);
  EXPECT_FALSE(status.ok());
  EXPECT_TRUE(status.IsCorruption()) << status.ToString();
  db.reset();
  env_.ForgetDirectory(crashed.string());
}

// A synced record damaged on the medium is refused, not dropped: plain
// LevelDB refuses it as well (a whole record with a bad checksum).
TEST_F(PreallocatedLogEnvTest, BitFlipInTheLastSyncedRecordRefusesToOpen) {
  std::unique_ptr<leveldb::DB> db;
  OpenPreallocated(db);
  SyncedPut(*db, "a", "first");
  SyncedPut(*db, "promised", std::string(200, 'P'));
  const fs::path crashed = tmp_.path() / "crashed";
  CopyDir(db_dir_, crashed);
  db.reset();
  const fs::path log = TheLog(crashed);
  const std::string contents = ReadFile(log);
  const size_t end = PresentedLogLength(contents).value();
  WriteFileAt(log, end - 50, std::string(1, static_cast<char>(contents[end - 50] ^ 0x01)));
  leveldb::Status status = Open(&env_, crashed, db);
  EXPECT_TRUE(status.IsCorruption()) << status.ToString();
  db.reset();
  env_.ForgetDirectory(crashed.string());
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
  const fs::path crashed = tmp_.path() / "crashed";
  CopyDir(db_dir_, crashed);
  db.reset();
  WriteFileAt(TheLog(crashed), a_end, Zeros(b_end - a_end));
  leveldb::Status status = Open(&env_, crashed, db);
  EXPECT_TRUE(status.IsCorruption()) << status.ToString();
  db.reset();
  env_.ForgetDirectory(crashed.string());
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
  const fs::path crashed = tmp_.path() / "crashed";
  CopyDir(db_dir_, crashed);
  db.reset();
  const fs::path log = TheLog(crashed);
  const size_t written = PresentedLogLength(ReadFile(log)).value();
  const size_t cut = synced_end + 4096;  // the write's first page reached the file
  WriteFileAt(log, cut, Zeros(written - cut));
  leveldb::Status status = Open(&env_, crashed, db);
  ASSERT_TRUE(status.ok()) << status.ToString();
  std::map<std::string, std::string> all = ReadAll(*db);
  EXPECT_EQ(all.size(), 1u);
  EXPECT_EQ(all["a"], "first");
  db.reset();
  env_.ForgetDirectory(crashed.string());
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
  const fs::path crashed = tmp_.path() / "crashed";
  CopyDir(db_dir_, crashed);
  db.reset();
  WriteFileAt(TheLog(crashed), synced_end, Record(1, std::string(900, 'w')).substr(0, 300));
  TearAwareLogEnv tear_aware;
  leveldb::Status status = Open(&tear_aware, crashed, db);
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(ReadAll(*db).size(), 5u);
  db.reset();
  env_.ForgetDirectory(crashed.string());
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
  db.reset();
  env_.ForgetDirectory(crashed.string());
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

// The storage moves a fresh directory to a preallocated log at once, so a
// new replica's synced writes are cheap from its first command on.
TEST(PreallocatedLogStorage, FreshStorageWritesAPreallocatedLogFromTheStart) {
  TempDir tmp{"synod-prealloc"};
  LevelDbOptions options;
  options.dir = (tmp.path() / "replica").string();
  options.replica_id = 1;
  {
    LevelDbLogStorage::OpenResult opened = LevelDbLogStorage::Open(options);
    ASSERT_NE(opened.storage, nullptr) << opened.error;
    const uint64_t four_mib = 4u << 20;
    EXPECT_GE(fs::file_size(TheLog(options.dir)), four_mib);
    EXPECT_GE(AllocatedBytes(TheLog(options.dir)), four_mib);
  }
  // And it reopens (the log holds the identity record and nothing torn).
  LevelDbLogStorage::OpenResult reopened = LevelDbLogStorage::Open(options);
  ASSERT_NE(reopened.storage, nullptr) << reopened.error;
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
    LevelDbLogStorage::OpenResult opened = LevelDbLogStorage::Open(options);
    ASSERT_NE(opened.storage, nullptr) << opened.error;
    paxos::SlotEntry entry{
        1, paxos::Entry{paxos::Ballot{1, 1}, paxos::MakeCommandsValue({zero_ending}), false}};
    opened.storage->Persist(paxos::Ballot{1, 1}, {entry});
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
    LevelDbLogStorage::OpenResult reopened = LevelDbLogStorage::Open(copy);
    ASSERT_NE(reopened.storage, nullptr) << reopened.error;
    RecoveredLog recovered = reopened.storage->Load();
    ASSERT_EQ(recovered.paxos.entries.size(), 1u);
    EXPECT_EQ(recovered.paxos.entries[0].entry.value->commands[0], zero_ending);
  }
  // One bit of the entry's zero tail flipped on the medium.
  WriteFileAt(TheLog(damaged), zeros_start + 10, std::string(1, '\x04'));
  for (const fs::path& dir : {damaged, bad_length}) {
    if (dir == bad_length) {
      // Or one bit of its length field: it then claims 256 bytes more.
      ASSERT_EQ(7 + (static_cast<uint8_t>(contents[4]) | (static_cast<uint8_t>(contents[5]) << 8)),
                end)
          << "the entry's record is the log's only one";
      WriteFileAt(TheLog(dir), 5, std::string(1, static_cast<char>(contents[5] ^ 0x01)));
    }
    LevelDbOptions copy = options;
    copy.dir = dir.string();
    LevelDbLogStorage::OpenResult refused = LevelDbLogStorage::Open(copy);
    EXPECT_EQ(refused.storage, nullptr) << "a damaged synced record must not be dropped as torn";
    EXPECT_NE(refused.error.find("damaged record"), std::string::npos) << refused.error;
  }
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
  LevelDbLogStorage::OpenResult opened = LevelDbLogStorage::Open(options);
  ASSERT_NE(opened.storage, nullptr) << opened.error;
  const size_t sizes[] = {1, 17, 100, 1000, 5000, 40000, 300};
  size_t last_record_start = 0;
  std::string before_last;
  for (paxos::Slot slot = 1; slot <= 21; ++slot) {
    std::string command(sizes[slot % 7], static_cast<char>('a' + slot));
    if (slot % 3 == 0) command += Zeros(32);  // as no-op entries end
    paxos::SlotEntry entry{
        slot, paxos::Entry{paxos::Ballot{1, 1}, paxos::MakeCommandsValue({command}), false}};
    if (slot == 21) before_last = ReadFile(TheLog(options.dir));
    opened.storage->Persist(paxos::Ballot{1, 1}, {entry});
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
