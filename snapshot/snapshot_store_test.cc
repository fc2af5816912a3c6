// SnapshotStore: round trips, resumable transfer, corruption, pruning, and
// crash safety at every install step and at every byte of truncation.
#include "snapshot/snapshot_store.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "snapshot/snapshot_layout.h"

namespace synod::snapshot {
namespace {

namespace fs = std::filesystem;

// Deterministic snapshot content: chunk i of stream `seed` has a length and
// bytes derived from (seed, i), so tests can regenerate and compare it without
// keeping the whole snapshot in memory.
uint64_t Mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

std::string MakeChunk(uint64_t seed, uint64_t index, size_t min_size, size_t max_size) {
  uint64_t state = Mix(seed * 1000003 + index);
  size_t size = min_size + static_cast<size_t>(state % (max_size - min_size + 1));
  std::string chunk(size, '\0');
  for (size_t i = 0; i < size; i += 8) {
    state = Mix(state);
    for (size_t j = 0; j < 8 && i + j < size; ++j)
      chunk[i + j] = static_cast<char>(state >> (8 * j));
  }
  return chunk;
}

// A generated snapshot: `count` chunks of [min_size, max_size] bytes.
struct Content {
  uint64_t seed;
  uint64_t count;
  size_t min_size;
  size_t max_size;
};

Content Small(uint64_t seed) { return Content{seed, 12, 0, 40}; }

std::optional<SnapshotMeta> WriteSnapshot(SnapshotStore& store, uint64_t slot,
                                          const Content& content, std::string* error = nullptr) {
  std::unique_ptr<SnapshotSink> sink = store.BeginWrite(slot, error);
  if (!sink) return std::nullopt;
  for (uint64_t i = 0; i < content.count; ++i) {
    sink->Write(MakeChunk(content.seed, i, content.min_size, content.max_size));
  }
  return sink->Commit(error);
}

// Reads the snapshot back through OpenReader + ChunkReader and compares every chunk.
void ExpectContent(SnapshotStore& store, const SnapshotMeta& meta, const Content& content) {
  std::string error;
  std::unique_ptr<SnapshotSource> source = store.OpenReader(meta, &error);
  ASSERT_TRUE(source) << error;
  ChunkReader reader(*source);
  std::string chunk;
  for (uint64_t i = 0; i < content.count; ++i) {
    ASSERT_TRUE(reader.Read(chunk)) << "chunk " << i << ": " << reader.error();
    ASSERT_TRUE(chunk == MakeChunk(content.seed, i, content.min_size, content.max_size))
        << "chunk " << i << " differs";
  }
  EXPECT_FALSE(reader.Read(chunk));
  EXPECT_TRUE(reader.ok()) << reader.error();
  EXPECT_TRUE(reader.at_end());
}

long MaxRssKiB() {
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

class SnapshotStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/synod-snapshot-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    root_ = pattern;
    dir_ = root_ + "/data/snapshots";  // Open creates the missing levels
  }
  void TearDown() override { fs::remove_all(root_); }

  std::unique_ptr<SnapshotStore> OpenStore(SnapshotStoreOptions options = {}) {
    return OpenStoreAt(dir_, std::move(options));
  }
  std::unique_ptr<SnapshotStore> OpenStoreAt(const std::string& dir,
                                             SnapshotStoreOptions options = {}) {
    std::string error;
    std::unique_ptr<SnapshotStore> store = SnapshotStore::Open(dir, &error, std::move(options));
    EXPECT_TRUE(store) << error;
    return store;
  }

  // Names in dir_ other than LOCK, sorted.
  std::vector<std::string> Files(const std::string& dir) const {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir)) {
      if (entry.path().filename() != "LOCK") names.push_back(entry.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
  }
  std::vector<std::string> Files() const { return Files(dir_); }

  std::string Path(const std::string& name) const { return dir_ + "/" + name; }

  static std::string ReadAll(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  static void WriteRaw(const std::string& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << bytes;
  }

  std::string root_;
  std::string dir_;
};

TEST_F(SnapshotStoreTest, EmptyStoreHasNoSnapshotAndCreatesItsDirectory) {
  auto store = OpenStore();
  ASSERT_TRUE(store);
  EXPECT_TRUE(fs::is_directory(dir_));
  EXPECT_FALSE(store->Latest());
  EXPECT_TRUE(Files().empty());
}

TEST_F(SnapshotStoreTest, SecondStoreOnTheSameDirectoryIsRefused) {
  auto store = OpenStore();
  std::string error;
  EXPECT_FALSE(SnapshotStore::Open(dir_, &error));
  EXPECT_NE(error.find("in use"), std::string::npos) << error;
}

TEST_F(SnapshotStoreTest, RoundTrips50MiBInStreamedChunksWithBoundedMemory) {
  const Content content{7, 0, 1024, 1 << 20};
  const uint64_t target = 50ull << 20;
  const long rss_before = MaxRssKiB();
  std::optional<SnapshotMeta> meta;
  uint64_t count = 0;
  {
    auto store = OpenStore();
    auto sink = store->BeginWrite(1000);
    ASSERT_TRUE(sink);
    for (uint64_t written = 0; written < target; ++count) {
      std::string chunk = MakeChunk(content.seed, count, content.min_size, content.max_size);
      written += chunk.size();
      sink->Write(chunk);
    }
    std::string error;
    meta = sink->Commit(&error);
    ASSERT_TRUE(meta) << error;
  }
  EXPECT_GE(meta->size_bytes, target);
  EXPECT_EQ(meta->applied_slot, 1000u);
  auto store = OpenStore();  // as after a restart
  ASSERT_EQ(store->Latest(), meta);
  ExpectContent(*store, *meta, Content{content.seed, count, content.min_size, content.max_size});
  const long growth_kib = MaxRssKiB() - rss_before;
  std::printf("peak RSS growth: %ld KiB\n", growth_kib);
#ifndef SYNOD_SANITIZED  // ASan's quarantine keeps freed chunks resident
  EXPECT_LT(growth_kib, 16 * 1024) << "peak memory grew by " << growth_kib << " KiB for a "
                                   << (meta->size_bytes >> 20) << " MiB snapshot";
#endif
}

TEST_F(SnapshotStoreTest, EmptyAndLargeChunksKeepTheirBoundaries) {
  auto store = OpenStore(SnapshotStoreOptions{.write_buffer_bytes = 64});
  auto sink = store->BeginWrite(3);
  std::vector<std::string> chunks = {"",
                                     "a",
                                     std::string(5000, 'b'),
                                     "",
                                     std::string(63, 'c'),
                                     std::string(64, 'd'),
                                     std::string(3u << 20, 'e'),
                                     ""};
  for (const std::string& c : chunks) sink->Write(c);
  std::string error;
  auto meta = sink->Commit(&error);
  ASSERT_TRUE(meta) << error;
  auto source = store->OpenReader(*meta, &error);
  ASSERT_TRUE(source) << error;
  ChunkReader reader(*source);
  std::string chunk;
  for (const std::string& expected : chunks) {
    ASSERT_TRUE(reader.Read(chunk)) << reader.error();
    EXPECT_EQ(chunk, expected);
  }
  EXPECT_FALSE(reader.Read(chunk));
  EXPECT_TRUE(reader.at_end());
}

TEST_F(SnapshotStoreTest, SnapshotMustBeNewerThanTheLatest) {
  auto store = OpenStore();
  ASSERT_TRUE(WriteSnapshot(*store, 10, Small(1)));
  std::string error;
  EXPECT_FALSE(store->BeginWrite(10, &error));
  EXPECT_FALSE(store->BeginWrite(9, &error));
  EXPECT_FALSE(store->BeginReceive(SnapshotMeta{10, 100, 1, 10}, &error));
  auto first = store->BeginWrite(11);
  ASSERT_TRUE(first);
  EXPECT_FALSE(store->BeginWrite(11, &error)) << "two sinks for one slot";
}

TEST_F(SnapshotStoreTest, AbortAndDestructionRemoveTheTempFile) {
  auto store = OpenStore();
  ASSERT_TRUE(WriteSnapshot(*store, 1, Small(1)));
  {
    auto sink = store->BeginWrite(2);
    sink->Write("partial");
    EXPECT_TRUE(fs::exists(Path(TempDataName(2))));
  }
  EXPECT_FALSE(fs::exists(Path(TempDataName(2))));
  auto sink = store->BeginWrite(2);
  sink->Write("partial");
  sink->Abort();
  EXPECT_FALSE(fs::exists(Path(TempDataName(2))));
  std::string error;
  EXPECT_FALSE(sink->Commit(&error));
  EXPECT_EQ(store->Latest()->applied_slot, 1u);
  EXPECT_EQ(Files(), (std::vector<std::string>{DataName(1), MetaName(1)}));
}

TEST_F(SnapshotStoreTest, KeepsOnlyTheNewestTwo) {
  auto store = OpenStore();
  std::vector<SnapshotMeta> metas;
  for (uint64_t slot = 1; slot <= 5; ++slot) {
    auto meta = WriteSnapshot(*store, slot * 10, Small(slot));
    ASSERT_TRUE(meta);
    metas.push_back(*meta);
  }
  EXPECT_EQ(store->List(), (std::vector<SnapshotMeta>{metas[3], metas[4]}));
  EXPECT_EQ(Files(),
            (std::vector<std::string>{DataName(40), MetaName(40), DataName(50), MetaName(50)}));
  std::string error;
  EXPECT_FALSE(store->OpenReader(metas[0], &error));
  EXPECT_NE(error.find("pruned"), std::string::npos) << error;
  ExpectContent(*store, metas[3], Small(4));
}

TEST_F(SnapshotStoreTest, KeepIsConfigurableAndAppliedOnOpen) {
  {
    auto store = OpenStore(SnapshotStoreOptions{.keep = 3});
    for (uint64_t slot = 1; slot <= 4; ++slot)
      ASSERT_TRUE(WriteSnapshot(*store, slot, Small(slot)));
    EXPECT_EQ(store->List().size(), 3u);
  }
  auto store = OpenStore(SnapshotStoreOptions{.keep = 1});
  ASSERT_EQ(store->List().size(), 1u);
  EXPECT_EQ(store->Latest()->applied_slot, 4u);
  EXPECT_EQ(Files(), (std::vector<std::string>{DataName(4), MetaName(4)}));
}

TEST_F(SnapshotStoreTest, ReaderSurvivesPruningOfItsSnapshot) {
  auto store = OpenStore(SnapshotStoreOptions{.keep = 1});
  auto meta = WriteSnapshot(*store, 1, Small(1));
  auto source = store->OpenReader(*meta);
  ASSERT_TRUE(source);
  ASSERT_TRUE(WriteSnapshot(*store, 2, Small(2)));  // prunes slot 1
  EXPECT_FALSE(fs::exists(Path(DataName(1))));
  ChunkReader reader(*source);
  std::string chunk;
  for (uint64_t i = 0; i < Small(1).count; ++i) ASSERT_TRUE(reader.Read(chunk)) << reader.error();
  EXPECT_FALSE(reader.Read(chunk));
  EXPECT_TRUE(reader.at_end());
}

TEST_F(SnapshotStoreTest, CorruptByteIsCaughtByOpenReaderAndVerifyFile) {
  auto store = OpenStore();
  auto meta = WriteSnapshot(*store, 5, Small(5));
  ASSERT_TRUE(meta);
  store.reset();
  std::string bytes = ReadAll(Path(DataName(5)));
  bytes[bytes.size() / 2] ^= 0x10;
  WriteRaw(Path(DataName(5)), bytes);
  store = OpenStore();
  ASSERT_EQ(store->Latest(), meta);  // Open checks sizes only
  std::string error;
  EXPECT_FALSE(store->VerifyFile(*meta, &error));
  EXPECT_NE(error.find("CRC32C"), std::string::npos) << error;
  error.clear();
  EXPECT_FALSE(store->OpenReader(*meta, &error));
  EXPECT_NE(error.find("corrupt"), std::string::npos) << error;
}

TEST_F(SnapshotStoreTest, WriteFailureIsReportedByCommitAndLeavesNothing) {
  auto store = OpenStore(SnapshotStoreOptions{.write_buffer_bytes = 4096});
  ASSERT_TRUE(WriteSnapshot(*store, 1, Small(1)));
  // RLIMIT_FSIZE makes write(2) fail with EFBIG past 64 KiB (SIGXFSZ ignored).
  struct rlimit old_limit;
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  signal(SIGXFSZ, SIG_IGN);
  struct rlimit limit = old_limit;
  limit.rlim_cur = 64 * 1024;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &limit), 0);
  auto sink = store->BeginWrite(2);
  for (int i = 0; i < 100; ++i) sink->Write(std::string(1000, 'x'));
  EXPECT_FALSE(sink->ok());
  std::string error;
  EXPECT_FALSE(sink->Commit(&error));
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &old_limit), 0);
  EXPECT_NE(error.find("cannot write"), std::string::npos) << error;
  EXPECT_EQ(store->Latest()->applied_slot, 1u);
  EXPECT_EQ(Files(), (std::vector<std::string>{DataName(1), MetaName(1)}));
}

// --- crash safety of local installs ---------------------------------------

constexpr InstallStep kAllSteps[] = {InstallStep::kSyncData,      InstallStep::kWriteMetaTemp,
                                     InstallStep::kRenameMeta,    InstallStep::kRenameData,
                                     InstallStep::kSyncDirectory, InstallStep::kPrune};

TEST_F(SnapshotStoreTest, CrashAtEveryCommitStepLeavesOldOrNewNeverTorn) {
  for (InstallStep crash_step : kAllSteps) {
    SCOPED_TRACE(static_cast<int>(crash_step));
    fs::remove_all(dir_);
    SnapshotMeta old_meta;
    {
      auto store = OpenStore();
      ASSERT_TRUE(WriteSnapshot(*store, 5, Small(50)));  // pruned by the new one with keep=2
      auto meta = WriteSnapshot(*store, 10, Small(100));
      ASSERT_TRUE(meta);
      old_meta = *meta;
    }
    {
      SnapshotStoreOptions options;
      options.crash_before = [crash_step](InstallStep step) { return step == crash_step; };
      auto store = OpenStore(std::move(options));
      std::string error;
      EXPECT_FALSE(WriteSnapshot(*store, 20, Small(200), &error));
      EXPECT_NE(error.find("simulated crash"), std::string::npos) << error;
    }  // the "process" dies: sink and store are gone without cleaning up
    auto store = OpenStore();
    std::optional<SnapshotMeta> latest = store->Latest();
    ASSERT_TRUE(latest);
    const bool renamed =
        crash_step == InstallStep::kSyncDirectory || crash_step == InstallStep::kPrune;
    EXPECT_EQ(latest->applied_slot, renamed ? 20u : 10u);
    ExpectContent(*store, *latest, renamed ? Small(200) : Small(100));
    ExpectContent(*store, old_meta, Small(100));
    for (const std::string& name : Files()) {
      auto parsed = ParseName(name);
      ASSERT_TRUE(parsed) << name;
      EXPECT_TRUE(parsed->kind == FileKind::kData || parsed->kind == FileKind::kMeta) << name;
    }
    // The store works on after the crash.
    ASSERT_TRUE(WriteSnapshot(*store, 30, Small(300)));
    EXPECT_EQ(store->List().size(), 2u);
  }
}

// Builds a pristine directory with complete snapshots at slots 10 and 20, and
// checks damaged copies of it: the damage must make Open fall back to slot 10.
class DamagedStoreTest : public SnapshotStoreTest {
 protected:
  void SetUp() override {
    SnapshotStoreTest::SetUp();
    pristine_ = root_ + "/pristine";
    auto store = OpenStoreAt(pristine_);
    auto old_meta = WriteSnapshot(*store, 10, Small(10));
    auto new_meta = WriteSnapshot(*store, 20, Small(20));
    ASSERT_TRUE(old_meta && new_meta);
    old_ = *old_meta;
    new_ = *new_meta;
  }

  // Copies the pristine directory to dir_, lets `damage` change it, reopens,
  // and expects the old snapshot to be the latest and the new one's files gone.
  void ExpectFallsBackToOld(const std::function<void()>& damage) {
    fs::remove_all(dir_);
    fs::create_directories(fs::path(dir_).parent_path());
    fs::copy(pristine_, dir_);
    fs::remove(Path("LOCK"));
    damage();
    auto store = OpenStore();
    ASSERT_TRUE(store);
    ASSERT_EQ(store->Latest(), old_);
    EXPECT_EQ(Files(), (std::vector<std::string>{DataName(10), MetaName(10)}));
    ExpectContent(*store, old_, Small(10));
  }

  std::string pristine_;
  SnapshotMeta old_;
  SnapshotMeta new_;
};

TEST_F(DamagedStoreTest, MetaWithoutData) {
  ExpectFallsBackToOld([&] { fs::remove(Path(DataName(20))); });
}

TEST_F(DamagedStoreTest, MetaWithTempDataOnly) {  // crash between the two renames
  ExpectFallsBackToOld([&] { fs::rename(Path(DataName(20)), Path(TempDataName(20))); });
}

TEST_F(DamagedStoreTest, DataWithoutMeta) {
  ExpectFallsBackToOld([&] { fs::remove(Path(MetaName(20))); });
}

TEST_F(DamagedStoreTest, DataWithOnlyTempMeta) {  // crash before the meta rename
  ExpectFallsBackToOld([&] { fs::rename(Path(MetaName(20)), Path(MetaName(20) + ".tmp")); });
}

TEST_F(DamagedStoreTest, MetaForAnotherSlot) {
  ExpectFallsBackToOld([&] {
    fs::copy_file(Path(MetaName(10)), Path(MetaName(20)), fs::copy_options::overwrite_existing);
  });
}

TEST_F(DamagedStoreTest, TornMetaAtEveryLength) {
  const std::string meta_bytes = ReadAll(pristine_ + "/" + MetaName(20));
  ASSERT_EQ(meta_bytes.size(), kEncodedMetaSize);
  for (size_t length = 0; length < meta_bytes.size(); ++length) {
    SCOPED_TRACE(length);
    ExpectFallsBackToOld([&] { WriteRaw(Path(MetaName(20)), meta_bytes.substr(0, length)); });
  }
  ExpectFallsBackToOld([&] { WriteRaw(Path(MetaName(20)), meta_bytes + "x"); });
  for (size_t i = 0; i < meta_bytes.size(); i += 5) {
    std::string flipped = meta_bytes;
    flipped[i] ^= 0x04;
    ExpectFallsBackToOld([&] { WriteRaw(Path(MetaName(20)), flipped); });
  }
}

TEST_F(DamagedStoreTest, DataTruncatedAtEveryByte) {
  const std::string data = ReadAll(pristine_ + "/" + DataName(20));
  ASSERT_EQ(data.size(), new_.size_bytes);
  for (size_t length = 0; length < data.size(); ++length) {
    SCOPED_TRACE(length);
    ExpectFallsBackToOld([&] { fs::resize_file(Path(DataName(20)), length); });
  }
  ExpectFallsBackToOld([&] { WriteRaw(Path(DataName(20)), data + "extra"); });
}

TEST_F(DamagedStoreTest, LeftoverTempFilesAreRemoved) {
  fs::remove_all(dir_);
  fs::create_directories(fs::path(dir_).parent_path());
  fs::copy(pristine_, dir_);
  WriteRaw(Path(TempDataName(30)), "half a snapshot");
  WriteRaw(Path(MetaName(30) + ".tmp"), "half a meta");
  WriteRaw(Path(ProgressName(40, 1) + ".tmp"), "half a progress");
  WriteRaw(Path("notes.txt"), "not ours");
  auto store = OpenStore();
  EXPECT_EQ(store->Latest(), new_);
  EXPECT_EQ(Files(), (std::vector<std::string>{"notes.txt", DataName(10), MetaName(10),
                                               DataName(20), MetaName(20)}));
}

// --- receiving ---------------------------------------------------------------

class TransferTest : public SnapshotStoreTest {
 protected:
  void SetUp() override {
    SnapshotStoreTest::SetUp();
    leader_dir_ = root_ + "/leader";
    leader_ = OpenStoreAt(leader_dir_);
  }

  // Sends [from, to) of `source` to `receiver` in 64 KiB pieces.
  static void Send(const SnapshotSource& source, SnapshotReceiver& receiver, uint64_t from,
                   uint64_t to) {
    std::string piece;
    std::string error;
    for (uint64_t offset = from; offset < to; offset += piece.size()) {
      ASSERT_TRUE(source.ReadAt(offset, std::min<uint64_t>(64 << 10, to - offset), piece, &error))
          << error;
      ASSERT_FALSE(piece.empty());
      ASSERT_TRUE(receiver.Append(offset, piece, &error)) << error;
    }
  }

  std::string leader_dir_;
  std::unique_ptr<SnapshotStore> leader_;
};

TEST_F(TransferTest, ResumesAfterACrashHalfwayAndInstalls) {
  const Content content{11, 200, 1024, 256 << 10};
  auto meta = WriteSnapshot(*leader_, 500, content);
  ASSERT_TRUE(meta);
  auto source = leader_->OpenReader(*meta);
  ASSERT_TRUE(source);
  const uint64_t half = meta->size_bytes / 2;
  std::string error;
  {
    auto follower = OpenStore(SnapshotStoreOptions{.receive_sync_bytes = 1 << 20});
    ASSERT_TRUE(WriteSnapshot(*follower, 100, Small(1)));  // an older local snapshot
    auto receiver = follower->BeginReceive(*meta, &error);
    ASSERT_TRUE(receiver) << error;
    EXPECT_EQ(receiver->received_bytes(), 0u);
    Send(*source, *receiver, 0, half);
    EXPECT_EQ(receiver->received_bytes(), half);
    EXPECT_GT(receiver->durable_bytes(), 0u);
  }  // crash: receiver and store vanish; bytes after the last sync are not durable
  // The unsynced tail may hold anything after a real crash.
  {
    std::ofstream part(Path(PartName(500, meta->crc32c)), std::ios::binary | std::ios::app);
    part << std::string(3000, '\x5a');
  }
  auto follower = OpenStore();
  EXPECT_EQ(follower->Latest()->applied_slot, 100u);  // the partial receive is not a snapshot
  auto receiver = follower->BeginReceive(*meta, &error);
  ASSERT_TRUE(receiver) << error;
  const uint64_t resume = receiver->received_bytes();
  EXPECT_GT(resume, 0u);
  EXPECT_LE(resume, half);
  EXPECT_EQ(resume % (1 << 20), 0u) << "resumes from a durable sync point";
  Send(*source, *receiver, resume, meta->size_bytes);
  auto installed = receiver->Finish(&error);
  ASSERT_TRUE(installed) << error;
  EXPECT_EQ(*installed, *meta);
  receiver.reset();
  EXPECT_EQ(follower->Latest(), meta);
  EXPECT_EQ(Files(),
            (std::vector<std::string>{DataName(100), MetaName(100), DataName(500), MetaName(500)}));
  follower.reset();
  follower = OpenStore();
  ASSERT_EQ(follower->Latest(), meta);
  ExpectContent(*follower, *meta, content);
}

TEST_F(TransferTest, ExplicitSyncMakesProgressDurable) {
  auto meta = WriteSnapshot(*leader_, 7, Content{3, 40, 100, 5000});
  auto source = leader_->OpenReader(*meta);
  std::string error;
  {
    auto follower = OpenStore();
    auto receiver = follower->BeginReceive(*meta, &error);
    Send(*source, *receiver, 0, 1000);
    EXPECT_EQ(receiver->durable_bytes(), 0u);  // below receive_sync_bytes
    ASSERT_TRUE(receiver->Sync(&error)) << error;
    EXPECT_EQ(receiver->durable_bytes(), 1000u);
    Send(*source, *receiver, 1000, 1500);
  }
  auto follower = OpenStore();
  auto receiver = follower->BeginReceive(*meta, &error);
  ASSERT_TRUE(receiver) << error;
  EXPECT_EQ(receiver->received_bytes(), 1000u);
  Send(*source, *receiver, 1000, meta->size_bytes);
  ASSERT_TRUE(receiver->Finish(&error)) << error;
}

TEST_F(TransferTest, DuplicatesAreIgnoredAndGapsRefused) {
  auto meta = WriteSnapshot(*leader_, 7, Content{3, 10, 100, 200});
  auto source = leader_->OpenReader(*meta);
  std::string all;
  ASSERT_TRUE(source->ReadAt(0, meta->size_bytes + 10, all));
  ASSERT_EQ(all.size(), meta->size_bytes);
  auto follower = OpenStore();
  std::string error;
  auto receiver = follower->BeginReceive(*meta, &error);
  std::string_view bytes = all;
  ASSERT_TRUE(receiver->Append(0, bytes.substr(0, 100), &error));
  EXPECT_TRUE(receiver->Append(0, bytes.substr(0, 100), &error));   // exact duplicate
  EXPECT_TRUE(receiver->Append(50, bytes.substr(50, 30), &error));  // inside what we have
  EXPECT_EQ(receiver->received_bytes(), 100u);
  EXPECT_FALSE(receiver->Append(101, bytes.substr(101, 10), &error));  // gap
  EXPECT_NE(error.find("gap"), std::string::npos) << error;
  EXPECT_TRUE(receiver->Append(60, bytes.substr(60, 100), &error));  // overlaps, extends
  EXPECT_EQ(receiver->received_bytes(), 160u);
  EXPECT_FALSE(receiver->Append(160, all.substr(160) + "x", &error));  // past the end
  ASSERT_TRUE(receiver->Append(160, bytes.substr(160), &error)) << error;
  ASSERT_TRUE(receiver->Finish(&error)) << error;
  EXPECT_FALSE(receiver->Append(0, bytes.substr(0, 1), &error));  // after Finish
  EXPECT_EQ(follower->Latest(), meta);
}

TEST_F(TransferTest, CorruptedByteInTransferFailsFinishAndDiscards) {
  auto meta = WriteSnapshot(*leader_, 7, Content{3, 40, 100, 5000});
  auto source = leader_->OpenReader(*meta);
  std::string all;
  ASSERT_TRUE(source->ReadAt(0, meta->size_bytes, all));
  all[all.size() / 3] ^= 0x01;
  auto follower = OpenStore();
  std::string error;
  auto receiver = follower->BeginReceive(*meta, &error);
  ASSERT_TRUE(receiver->Append(0, all, &error)) << error;
  EXPECT_FALSE(receiver->Finish(&error));
  EXPECT_NE(error.find("CRC32C"), std::string::npos) << error;
  EXPECT_FALSE(follower->Latest());
  EXPECT_TRUE(Files().empty());
  receiver.reset();
  // A fresh attempt works.
  receiver = follower->BeginReceive(*meta, &error);
  ASSERT_EQ(receiver->received_bytes(), 0u);
  ASSERT_TRUE(source->ReadAt(0, meta->size_bytes, all));
  ASSERT_TRUE(receiver->Append(0, all, &error));
  ASSERT_TRUE(receiver->Finish(&error)) << error;
}

TEST_F(TransferTest, WrongSizeFailsFinish) {
  auto meta = WriteSnapshot(*leader_, 7, Content{3, 40, 100, 5000});
  auto source = leader_->OpenReader(*meta);
  std::string all;
  ASSERT_TRUE(source->ReadAt(0, meta->size_bytes, all));
  auto follower = OpenStore();
  std::string error;
  SnapshotMeta longer = *meta;
  longer.size_bytes += 1;
  auto receiver = follower->BeginReceive(longer, &error);
  ASSERT_TRUE(receiver->Append(0, all, &error));
  EXPECT_FALSE(receiver->Finish(&error));
  EXPECT_NE(error.find("received"), std::string::npos) << error;
  receiver.reset();
  SnapshotMeta shorter = *meta;
  shorter.size_bytes -= 1;
  receiver = follower->BeginReceive(shorter, &error);
  EXPECT_FALSE(receiver->Append(0, all, &error));
  ASSERT_TRUE(receiver->Append(0, std::string_view(all).substr(0, shorter.size_bytes), &error));
  EXPECT_FALSE(receiver->Finish(&error));
  EXPECT_FALSE(follower->Latest());
  EXPECT_TRUE(Files().empty());
}

TEST_F(TransferTest, CrashAtEveryFinishStepLeavesOldOrNew) {
  auto meta = WriteSnapshot(*leader_, 70, Content{3, 40, 100, 5000});
  auto source = leader_->OpenReader(*meta);
  std::string all;
  ASSERT_TRUE(source->ReadAt(0, meta->size_bytes, all));
  for (InstallStep crash_step : kAllSteps) {
    SCOPED_TRACE(static_cast<int>(crash_step));
    fs::remove_all(dir_);
    std::string error;
    {
      auto follower = OpenStore();
      ASSERT_TRUE(WriteSnapshot(*follower, 10, Small(1)));
    }
    {
      SnapshotStoreOptions options;
      options.crash_before = [crash_step](InstallStep step) { return step == crash_step; };
      auto follower = OpenStore(std::move(options));
      auto receiver = follower->BeginReceive(*meta, &error);
      ASSERT_TRUE(receiver) << error;
      ASSERT_TRUE(receiver->Append(0, all, &error));
      ASSERT_TRUE(receiver->Sync(&error));
      EXPECT_FALSE(receiver->Finish(&error));
      EXPECT_NE(error.find("simulated crash"), std::string::npos) << error;
    }
    auto follower = OpenStore();
    const bool renamed =
        crash_step == InstallStep::kSyncDirectory || crash_step == InstallStep::kPrune;
    ASSERT_TRUE(follower->Latest());
    EXPECT_EQ(follower->Latest()->applied_slot, renamed ? 70u : 10u);
    if (!renamed) {  // the durable partial file is still there: finish it now
      auto receiver = follower->BeginReceive(*meta, &error);
      ASSERT_TRUE(receiver) << error;
      EXPECT_EQ(receiver->received_bytes(), meta->size_bytes);
      ASSERT_TRUE(receiver->Finish(&error)) << error;
    }
    ASSERT_EQ(follower->Latest(), meta);
    ExpectContent(*follower, *meta, Content{3, 40, 100, 5000});
    EXPECT_EQ(Files(),
              (std::vector<std::string>{DataName(10), MetaName(10), DataName(70), MetaName(70)}));
  }
}

TEST_F(TransferTest, StalePartialReceivesAreCleaned) {
  auto meta30 = WriteSnapshot(*leader_, 30, Content{1, 20, 100, 3000});
  auto meta60 = WriteSnapshot(*leader_, 60, Content{2, 20, 100, 3000});
  auto source30 = leader_->OpenReader(*meta30);
  auto source60 = leader_->OpenReader(*meta60);
  std::string error;
  const std::string part30 = PartName(30, meta30->crc32c);
  const std::string part60 = PartName(60, meta60->crc32c);
  auto begin_partial = [&](SnapshotStore& store, const SnapshotMeta& meta,
                           const SnapshotSource& source) {
    auto receiver = store.BeginReceive(meta, &error);
    ASSERT_TRUE(receiver) << error;
    Send(source, *receiver, 0, 1000);
    ASSERT_TRUE(receiver->Sync(&error)) << error;
  };
  {
    // Open keeps a partial receive newer than the latest snapshot.
    auto store = OpenStore();
    begin_partial(*store, *meta30, *source30);
  }
  {
    auto store = OpenStore();
    EXPECT_EQ(Files(), (std::vector<std::string>{part30, ProgressName(30, meta30->crc32c)}));
    // A new receive of another snapshot removes the old partial one.
    begin_partial(*store, *meta60, *source60);
    EXPECT_EQ(Files(), (std::vector<std::string>{part60, ProgressName(60, meta60->crc32c)}));
    // A local snapshot at least as new makes the partial receive stale: pruned.
    ASSERT_TRUE(WriteSnapshot(*store, 60, Small(6)));
    EXPECT_EQ(Files(), (std::vector<std::string>{DataName(60), MetaName(60)}));
  }
  {
    // Open removes partial receives older than the latest snapshot.
    auto store = OpenStore();
    WriteRaw(Path(PartName(50, 1)), "old");
    WriteRaw(Path(ProgressName(50, 1)), "old");
    WriteRaw(Path(ProgressName(90, 1)), "progress without its part file");
  }
  auto store = OpenStore();
  EXPECT_EQ(Files(), (std::vector<std::string>{DataName(60), MetaName(60)}));
}

TEST_F(TransferTest, WriteFailureStopsTheReceiverAndItResumesLater) {
  const Content content{5, 64, 1000, 30000};
  auto meta = WriteSnapshot(*leader_, 9, content);
  auto source = leader_->OpenReader(*meta);
  std::string all;
  ASSERT_TRUE(source->ReadAt(0, meta->size_bytes, all));
  ASSERT_GT(all.size(), 300u << 10);
  std::string error;
  uint64_t durable = 0;
  {
    auto follower = OpenStore(SnapshotStoreOptions{.receive_sync_bytes = 64 << 10});
    auto receiver = follower->BeginReceive(*meta, &error);
    struct rlimit old_limit;
    ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old_limit), 0);
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit limit = old_limit;
    limit.rlim_cur = 200 << 10;  // write(2) fails with EFBIG past 200 KiB
    ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &limit), 0);
    bool failed = false;
    for (uint64_t offset = 0; offset < all.size() && !failed; offset += 32 << 10) {
      failed = !receiver->Append(offset, std::string_view(all).substr(offset, 32 << 10), &error);
    }
    ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &old_limit), 0);
    EXPECT_TRUE(failed);
    EXPECT_NE(error.find("cannot write"), std::string::npos) << error;
    durable = receiver->durable_bytes();
    EXPECT_GT(durable, 0u);
    EXPECT_LE(durable, 200u << 10);
    EXPECT_FALSE(receiver->Append(receiver->received_bytes(), "x", &error)) << "latched";
    EXPECT_FALSE(receiver->Finish(&error));
    EXPECT_FALSE(follower->Latest());
  }
  auto follower = OpenStore();
  auto receiver = follower->BeginReceive(*meta, &error);
  ASSERT_TRUE(receiver) << error;
  EXPECT_EQ(receiver->received_bytes(), durable);
  Send(*source, *receiver, durable, meta->size_bytes);
  ASSERT_TRUE(receiver->Finish(&error)) << error;
  ExpectContent(*follower, *meta, content);
}

TEST_F(TransferTest, OnlyOneReceiveAtATime) {
  auto meta = WriteSnapshot(*leader_, 30, Small(1));
  auto follower = OpenStore();
  std::string error;
  auto first = follower->BeginReceive(*meta, &error);
  ASSERT_TRUE(first);
  EXPECT_FALSE(follower->BeginReceive(*meta, &error));
  first.reset();
  EXPECT_TRUE(follower->BeginReceive(*meta, &error));
}

TEST_F(TransferTest, AbandonRemovesThePartialFile) {
  auto meta = WriteSnapshot(*leader_, 30, Small(1));
  auto source = leader_->OpenReader(*meta);
  auto follower = OpenStore();
  std::string error;
  auto receiver = follower->BeginReceive(*meta, &error);
  Send(*source, *receiver, 0, 10);
  ASSERT_TRUE(receiver->Sync(&error));
  receiver->Abandon();
  EXPECT_TRUE(Files().empty());
}

}  // namespace
}  // namespace synod::snapshot
