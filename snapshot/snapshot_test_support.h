// Shared helpers of the snapshot store tests: deterministic generated
// snapshot content (regenerated for comparison instead of kept in memory), a
// fixture owning a temporary directory, and small file utilities.
// Test-only; included by snapshot_*_test.cc.
#pragma once

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
#include "snapshot/snapshot_store.h"
#include "tests/support/status_testing.h"
#include "tests/support/temp_dir.h"

namespace synod::snapshot {

namespace fs = std::filesystem;

// Deterministic snapshot content: chunk i of stream `seed` has a length and
// bytes derived from (seed, i), so tests can regenerate and compare it without
// keeping the whole snapshot in memory.
inline uint64_t Mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

inline std::string MakeChunk(uint64_t seed, uint64_t index, size_t min_size, size_t max_size) {
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

inline Content Small(uint64_t seed) { return Content{seed, 12, 0, 40}; }

// Takes a snapshot of `content` at `slot`: its meta or the failure.
inline Result<SnapshotMeta> TryWriteSnapshot(SnapshotStore& store, uint64_t slot,
                                             const Content& content) {
  Result<std::unique_ptr<SnapshotSink>> sink = store.BeginWrite(slot);
  if (!sink.ok()) return sink.status();
  for (uint64_t i = 0; i < content.count; ++i) {
    (*sink)->Write(MakeChunk(content.seed, i, content.min_size, content.max_size));
  }
  return (*sink)->Commit();
}

// TryWriteSnapshot's meta, or nullopt on failure.
inline std::optional<SnapshotMeta> WriteSnapshot(SnapshotStore& store, uint64_t slot,
                                                 const Content& content) {
  Result<SnapshotMeta> meta = TryWriteSnapshot(store, slot, content);
  if (!meta.ok()) return std::nullopt;
  return *meta;
}

// Reads the snapshot back through OpenReader + ChunkReader and compares every chunk.
inline void ExpectContent(SnapshotStore& store, const SnapshotMeta& meta, const Content& content) {
  std::unique_ptr<SnapshotSource> source = ValueOrFail(store.OpenReader(meta));
  ASSERT_TRUE(source);
  ChunkReader reader(*source);
  std::string chunk;
  for (uint64_t i = 0; i < content.count; ++i) {
    ASSERT_TRUE(reader.Read(chunk)) << "chunk " << i << ": " << reader.status().ToString();
    ASSERT_TRUE(chunk == MakeChunk(content.seed, i, content.min_size, content.max_size))
        << "chunk " << i << " differs";
  }
  EXPECT_FALSE(reader.Read(chunk));
  EXPECT_TRUE(reader.ok()) << reader.status().ToString();
  EXPECT_TRUE(reader.at_end());
}

inline long MaxRssKiB() {
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

class SnapshotStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = root_ + "/data/snapshots";  // Open creates the missing levels
  }

  std::unique_ptr<SnapshotStore> OpenStore(SnapshotStoreOptions options = {}) {
    return OpenStoreAt(dir_, std::move(options));
  }
  std::unique_ptr<SnapshotStore> OpenStoreAt(const std::string& dir,
                                             SnapshotStoreOptions options = {}) {
    return ValueOrFail(SnapshotStore::Open(dir, std::move(options)));
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

  test_support::TempDir tmp_{"synod-snapshot-test"};
  const std::string root_ = tmp_.path().string();
  std::string dir_;
};

// Every step of an install, in order (crash-at-every-step tests).
inline constexpr InstallStep kAllSteps[] = {
    InstallStep::kSyncData,   InstallStep::kWriteMetaTemp, InstallStep::kRenameMeta,
    InstallStep::kRenameData, InstallStep::kSyncDirectory, InstallStep::kPrune};

}  // namespace synod::snapshot
