// SnapshotStore: round trips, streaming with bounded memory, pruning, write
// failures and crash safety at every step of Commit.
#include <gtest/gtest.h>
#include <signal.h>

#include <string>
#include <vector>

#include "snapshot/snapshot_layout.h"
#include "snapshot/snapshot_test_support.h"

namespace synod::snapshot {
namespace {

TEST_F(SnapshotStoreTest, EmptyStoreHasNoSnapshotAndCreatesItsDirectory) {
  auto store = OpenStore();
  ASSERT_TRUE(store);
  EXPECT_TRUE(fs::is_directory(dir_));
  EXPECT_FALSE(store->Latest());
  EXPECT_TRUE(Files().empty());
}

TEST_F(SnapshotStoreTest, SecondStoreOnTheSameDirectoryIsRefused) {
  auto store = OpenStore();
  Status refused = StatusOf(SnapshotStore::Open(dir_));
  EXPECT_FALSE(refused.ok());
  EXPECT_NE(refused.message().find("in use"), std::string::npos) << refused.message();
}

TEST_F(SnapshotStoreTest, RoundTrips50MiBInStreamedChunksWithBoundedMemory) {
  const Content content{7, 0, 1024, 1 << 20};
  const uint64_t target = 50ull << 20;
  const long rss_before = MaxRssKiB();
  std::optional<SnapshotMeta> meta;
  uint64_t count = 0;
  {
    auto store = OpenStore();
    auto sink = ValueOrFail(store->BeginWrite(1000));
    ASSERT_TRUE(sink);
    for (uint64_t written = 0; written < target; ++count) {
      std::string chunk = MakeChunk(content.seed, count, content.min_size, content.max_size);
      written += chunk.size();
      sink->Write(chunk);
    }
    Result<SnapshotMeta> committed = sink->Commit();
    ASSERT_EQ(StatusOf(committed), Status::Ok());
    meta = *committed;
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
  auto sink = ValueOrFail(store->BeginWrite(3));
  std::vector<std::string> chunks = {"",
                                     "a",
                                     std::string(5000, 'b'),
                                     "",
                                     std::string(63, 'c'),
                                     std::string(64, 'd'),
                                     std::string(3u << 20, 'e'),
                                     ""};
  for (const std::string& c : chunks) sink->Write(c);
  auto meta = sink->Commit();
  ASSERT_EQ(StatusOf(meta), Status::Ok());
  auto source = ValueOrFail(store->OpenReader(*meta));
  ASSERT_TRUE(source);
  ChunkReader reader(*source);
  std::string chunk;
  for (const std::string& expected : chunks) {
    ASSERT_TRUE(reader.Read(chunk)) << reader.status().ToString();
    EXPECT_EQ(chunk, expected);
  }
  EXPECT_FALSE(reader.Read(chunk));
  EXPECT_TRUE(reader.at_end());
}

TEST_F(SnapshotStoreTest, SnapshotMustBeNewerThanTheLatest) {
  auto store = OpenStore();
  ASSERT_TRUE(WriteSnapshot(*store, 10, Small(1)));
  EXPECT_FALSE(store->BeginWrite(10).ok());
  EXPECT_FALSE(store->BeginWrite(9).ok());
  EXPECT_FALSE(store->BeginReceive(SnapshotMeta{10, 100, 1, 10}).ok());
  auto first = ValueOrFail(store->BeginWrite(11));
  ASSERT_TRUE(first);
  EXPECT_FALSE(store->BeginWrite(11).ok()) << "two sinks for one slot";
}

TEST_F(SnapshotStoreTest, AbortAndDestructionRemoveTheTempFile) {
  auto store = OpenStore();
  ASSERT_TRUE(WriteSnapshot(*store, 1, Small(1)));
  {
    auto sink = ValueOrFail(store->BeginWrite(2));
    sink->Write("partial");
    EXPECT_TRUE(fs::exists(Path(TempDataName(2))));
  }
  EXPECT_FALSE(fs::exists(Path(TempDataName(2))));
  auto sink = ValueOrFail(store->BeginWrite(2));
  sink->Write("partial");
  sink->Abort();
  EXPECT_FALSE(fs::exists(Path(TempDataName(2))));
  EXPECT_FALSE(sink->Commit().ok());
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
  Status pruned = StatusOf(store->OpenReader(metas[0]));
  EXPECT_TRUE(pruned.IsNotFound()) << pruned.ToString();
  EXPECT_NE(pruned.message().find("pruned"), std::string::npos) << pruned.message();
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
  auto source = ValueOrFail(store->OpenReader(*meta));
  ASSERT_TRUE(source);
  ASSERT_TRUE(WriteSnapshot(*store, 2, Small(2)));  // prunes slot 1
  EXPECT_FALSE(fs::exists(Path(DataName(1))));
  ChunkReader reader(*source);
  std::string chunk;
  for (uint64_t i = 0; i < Small(1).count; ++i)
    ASSERT_TRUE(reader.Read(chunk)) << reader.status().ToString();
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
  Status verified = store->VerifyFile(*meta);
  EXPECT_TRUE(verified.IsCorruption()) << verified.ToString();
  EXPECT_NE(verified.message().find("CRC32C"), std::string::npos) << verified.message();
  Status opened = StatusOf(store->OpenReader(*meta));
  EXPECT_TRUE(opened.IsCorruption()) << opened.ToString();
  EXPECT_NE(opened.message().find("corrupt"), std::string::npos) << opened.message();
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
  auto sink = ValueOrFail(store->BeginWrite(2));
  for (int i = 0; i < 100; ++i) sink->Write(std::string(1000, 'x'));
  EXPECT_FALSE(sink->ok());
  Status committed = StatusOf(sink->Commit());
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &old_limit), 0);
  EXPECT_FALSE(committed.ok());
  EXPECT_NE(committed.message().find("cannot write"), std::string::npos) << committed.message();
  EXPECT_EQ(store->Latest()->applied_slot, 1u);
  EXPECT_EQ(Files(), (std::vector<std::string>{DataName(1), MetaName(1)}));
}

// --- crash safety of local installs ---------------------------------------

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
      Status crashed = StatusOf(TryWriteSnapshot(*store, 20, Small(200)));
      EXPECT_FALSE(crashed.ok());
      EXPECT_NE(crashed.message().find("simulated crash"), std::string::npos) << crashed.message();
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

}  // namespace
}  // namespace synod::snapshot
