// Tests of the POSIX file helpers on a temporary directory: results, and the
// Status (code and message naming the path) of each failure.
#include "util/file_io.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "util/crc32c.h"

namespace synod::util {
namespace {

namespace fs = std::filesystem;

class FileIoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("synod_file_io_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Path(const std::string& name) const { return (dir_ / name).string(); }
  static std::string Contents(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  fs::path dir_;
};

TEST_F(FileIoTest, WriteAllThenReadAtRoundTrips) {
  const std::string path = Path("f");
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  ASSERT_TRUE(fd.valid());
  const std::string data(100000, 'x');
  ASSERT_TRUE(WriteAll(fd.get(), data, path).ok());
  ASSERT_TRUE(SyncFd(fd.get(), path).ok());
  std::string out;
  ASSERT_TRUE(ReadAt(fd.get(), 10, 20, out, path).ok());
  EXPECT_EQ(out, std::string(20, 'x'));
  ASSERT_TRUE(ReadAt(fd.get(), data.size() - 5, 100, out, path).ok());  // stops at the end
  EXPECT_EQ(out.size(), 5u);
}

TEST_F(FileIoTest, FailuresNameThePathAndErrno) {
  const std::string path = Path("f");
  UniqueFd read_only(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  Status write = WriteAll(read_only.get(), "x", path);
  EXPECT_EQ(write.code(), Status::Code::kIoError);
  EXPECT_EQ(write.message().rfind("cannot write " + path + ": ", 0), 0u) << write.message();
  std::string out = "old";
  Status read = ReadAt(-1, 0, 4, out, path);
  EXPECT_EQ(read.code(), Status::Code::kIoError);
  EXPECT_EQ(read.message(), "cannot read " + path + ": Bad file descriptor");
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(SyncFd(-1, path).message(), "cannot fsync " + path + ": Bad file descriptor");
}

TEST_F(FileIoTest, SyncDirectoryOpensOnlyDirectories) {
  EXPECT_TRUE(SyncDirectory(dir_.string()).ok());
  Status missing = SyncDirectory(Path("absent"));
  EXPECT_TRUE(missing.IsNotFound());
  EXPECT_EQ(missing.message(),
            "cannot open directory " + Path("absent") + ": No such file or directory");
  std::ofstream(Path("plain")) << "x";
  Status file = SyncDirectory(Path("plain"));
  EXPECT_EQ(file.code(), Status::Code::kIoError);
  EXPECT_EQ(file.message(), "cannot open directory " + Path("plain") + ": Not a directory");
}

TEST_F(FileIoTest, DirectoriesAreOpenedCloseOnExec) {
  Result<UniqueFd> fd = OpenDirectory(dir_.string());
  ASSERT_TRUE(fd.ok()) << fd.status().ToString();
  const int flags = ::fcntl(fd->get(), F_GETFD);
  ASSERT_GE(flags, 0);
  EXPECT_NE(flags & FD_CLOEXEC, 0) << "a child process started now would inherit the descriptor";
}

TEST_F(FileIoTest, CreateDirectoryDurablyMakesAncestorsAndRefusesAFile) {
  EXPECT_TRUE(CreateDirectoryDurably(Path("a/b/c") + "/").ok());
  EXPECT_TRUE(fs::is_directory(Path("a/b/c")));
  EXPECT_TRUE(CreateDirectoryDurably(Path("a/b/c")).ok());  // already there
  std::ofstream(Path("plain")) << "x";
  Status file = CreateDirectoryDurably(Path("plain"));
  EXPECT_EQ(file.code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(file.message(), Path("plain") + " is not a directory");
  Status under_file = CreateDirectoryDurably(Path("plain/d"));
  EXPECT_EQ(under_file.code(), Status::Code::kIoError);
  EXPECT_NE(under_file.message().find(Path("plain")), std::string::npos) << under_file.message();
}

TEST_F(FileIoTest, WriteFileAtomicallyReplacesWholeAndLeavesNoTemp) {
  ASSERT_TRUE(WriteFileAtomically(dir_.string(), "meta", "first").ok());
  ASSERT_TRUE(WriteFileAtomically(dir_.string(), "meta", "second").ok());
  EXPECT_EQ(Contents(Path("meta")), "second");
  EXPECT_FALSE(fs::exists(Path("meta.tmp")));
  Status failed = WriteFileAtomically(Path("absent"), "meta", "x");
  EXPECT_TRUE(failed.IsNotFound());
  EXPECT_NE(failed.message().find("cannot create " + Path("absent") + "/meta.tmp"),
            std::string::npos);
}

// In a child process: WriteFileAtomically with the file size limit at 4 KiB
// (SIGXFSZ ignored, so write(2) fails with EFBIG). Prints the Status; exits 0
// if it failed.
[[noreturn]] void WriteUnderFileSizeLimit(const std::string& dir, const std::string& name,
                                          const std::string& bytes) {
  ::signal(SIGXFSZ, SIG_IGN);
  struct rlimit limit = {4096, 4096};
  ::setrlimit(RLIMIT_FSIZE, &limit);
  Status status = WriteFileAtomically(dir, name, bytes);
  std::fprintf(stderr, "%s\n", status.ToString().c_str());
  std::_Exit(status.ok() ? 1 : 0);
}

// A write the file system refuses part way (here the file size limit, EFBIG,
// standing in for a full disk's ENOSPC): the old content stays, the
// temporary file goes, and the Status names it. In a child process, as the
// limit would hold for the whole process.
TEST_F(FileIoTest, WriteFileAtomicallyRefusedMidWriteKeepsTheOldFile) {
  ASSERT_TRUE(WriteFileAtomically(dir_.string(), "members", "old\n").ok());
  EXPECT_EXIT(WriteUnderFileSizeLimit(dir_.string(), "members", std::string(20000, 'n')),
              ::testing::ExitedWithCode(0),
              "I/O error: cannot write .*members.tmp: File too large");
  EXPECT_EQ(Contents(Path("members")), "old\n");
  EXPECT_FALSE(fs::exists(Path("members.tmp")));
}

TEST_F(FileIoTest, ReadSmallFileRefusesMissingAndLarger) {
  ASSERT_TRUE(WriteFileAtomically(dir_.string(), "small", "12345").ok());
  Result<std::string> read = ReadSmallFile(Path("small"), 5);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(*read, "12345");
  Result<std::string> larger = ReadSmallFile(Path("small"), 4);
  EXPECT_TRUE(larger.status().IsCorruption());
  EXPECT_EQ(larger.status().message(), Path("small") + " is larger than expected");
  EXPECT_TRUE(ReadSmallFile(Path("absent"), 4).status().IsNotFound());
}

TEST_F(FileIoTest, RemoveFileAcceptsMissing) {
  ASSERT_TRUE(WriteFileAtomically(dir_.string(), "gone", "x").ok());
  EXPECT_TRUE(RemoveFile(Path("gone")).ok());
  EXPECT_FALSE(fs::exists(Path("gone")));
  EXPECT_TRUE(RemoveFile(Path("gone")).ok());
  fs::create_directories(dir_ / "sub" / "child");
  Status busy = RemoveFile((dir_ / "sub").string());  // a directory: unlink refuses
  EXPECT_FALSE(busy.ok());
  EXPECT_EQ(busy.message().rfind("cannot remove " + (dir_ / "sub").string() + ": ", 0), 0u);
}

TEST_F(FileIoTest, ChecksumFileCoversPiecesAndRefusesShortFiles) {
  std::string data;
  for (int i = 0; i < (3 << 20) + 123; ++i) data.push_back(static_cast<char>(i * 31 + 7));
  ASSERT_TRUE(WriteFileAtomically(dir_.string(), "big", data).ok());
  UniqueFd fd(::open(Path("big").c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(fd.valid());
  Result<uint32_t> whole = ChecksumFile(fd.get(), data.size(), Path("big"));
  ASSERT_TRUE(whole.ok());
  EXPECT_EQ(*whole, Crc32c(data));
  Result<uint32_t> prefix = ChecksumFile(fd.get(), 1000, Path("big"));
  ASSERT_TRUE(prefix.ok());
  EXPECT_EQ(*prefix, Crc32c(std::string_view(data).substr(0, 1000)));
  Result<uint32_t> beyond = ChecksumFile(fd.get(), data.size() + 1, Path("big"));
  EXPECT_TRUE(beyond.status().IsCorruption());
  EXPECT_EQ(beyond.status().message(), Path("big") + " is shorter than expected (" +
                                           std::to_string(data.size()) + " of " +
                                           std::to_string(data.size() + 1) + " bytes)");
}

TEST_F(FileIoTest, UniqueFdClosesOnceAndMoves) {
  int raw = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(raw, 0);
  UniqueFd a(raw);
  UniqueFd b(std::move(a));
  EXPECT_FALSE(a.valid());
  EXPECT_EQ(b.get(), raw);
  UniqueFd c;
  c = std::move(b);
  EXPECT_EQ(c.get(), raw);
  c.Reset();
  EXPECT_FALSE(c.valid());
  EXPECT_EQ(::fcntl(raw, F_GETFD), -1);  // closed
}

}  // namespace
}  // namespace synod::util
