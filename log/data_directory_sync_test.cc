// Which directories LevelDbLogStorage::Open fsyncs when it creates the data
// directory on the real file system. This binary defines fsync(2) itself
// (recording the path of each descriptor, then making the real system call),
// so it runs apart from synod_log_test.
#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "log/leveldb_log_storage.h"
#include "tests/support/status_testing.h"

namespace {

std::mutex synced_mutex;
std::vector<std::string>& Synced() {
  static std::vector<std::string>* const synced = new std::vector<std::string>();
  return *synced;
}

}  // namespace

// Every fsync in this process: records the path fd names, then fsyncs it.
extern "C" int fsync(int fd) {
  char link[64];
  std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  char target[4096];
  ssize_t n = ::readlink(link, target, sizeof target);
  if (n > 0) {
    std::lock_guard<std::mutex> lock(synced_mutex);
    Synced().emplace_back(target, static_cast<size_t>(n));
  }
  return static_cast<int>(::syscall(SYS_fsync, fd));
}

namespace synod::log {
namespace {

class DataDirectorySync : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = std::filesystem::canonical(std::filesystem::temp_directory_path()) /
            ("synod-dir-sync-test-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_);
    std::lock_guard<std::mutex> lock(synced_mutex);
    Synced().clear();
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  // Opens a log in `dir`; the paths fsynced meanwhile.
  std::vector<std::string> OpenAndListSyncs(const std::string& dir) {
    LevelDbOptions options;
    options.dir = dir;
    options.replica_id = 1;
    options.preallocate_log_files = false;
    auto opened = LevelDbLogStorage::Open(options);
    EXPECT_EQ(StatusOf(opened), Status::Ok());
    std::lock_guard<std::mutex> lock(synced_mutex);
    return Synced();
  }

  static bool Contains(const std::vector<std::string>& synced, const std::filesystem::path& p) {
    return std::find(synced.begin(), synced.end(), p.string()) != synced.end();
  }

  std::filesystem::path root_;
};

// Each directory Open creates is an entry in its parent: every such parent is
// fsynced, or a crash can take the whole log (and its promises) away.
TEST_F(DataDirectorySync, EveryCreatedAncestorsParentIsSynced) {
  std::vector<std::string> synced = OpenAndListSyncs((root_ / "a" / "b" / "log").string());
  EXPECT_TRUE(Contains(synced, root_)) << "the new entry a";
  EXPECT_TRUE(Contains(synced, root_ / "a")) << "the new entry b";
  EXPECT_TRUE(Contains(synced, root_ / "a" / "b")) << "the new entry log";
}

// A trailing '/' names the same directory: its parent is still the one synced.
TEST_F(DataDirectorySync, ATrailingSlashStillSyncsTheParent) {
  std::vector<std::string> synced = OpenAndListSyncs((root_ / "log").string() + "/");
  EXPECT_TRUE(Contains(synced, root_)) << "the new entry log";
}

}  // namespace
}  // namespace synod::log
