// Thin POSIX file helpers shared by the log and the snapshot store: every
// failure becomes a Status whose message names the path and the errno text
// ("cannot write /d/x: No space left on device"), never an exception or abort.
// All functions are safe to call from any thread on distinct files.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "util/status.h"

namespace synod::util {

// "<what> <path>: <strerror(errno)>" for the current errno.
std::string ErrnoMessage(const std::string& what, const std::string& path);

// ErrnoMessage as a Status: NotFound if errno is ENOENT, else IoError.
Status ErrnoStatus(const std::string& what, const std::string& path);

// Owns one file descriptor; closes it on destruction. Move-only.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.Release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { Reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int Release();
  void Reset();

 private:
  int fd_ = -1;
};

// Writes all of `bytes` at the file offset (retrying short writes and EINTR).
Status WriteAll(int fd, std::string_view bytes, const std::string& path);

// Reads up to `size` bytes at `offset` into out (replacing it); stops short
// only at end of file. On failure out is empty.
Status ReadAt(int fd, uint64_t offset, size_t size, std::string& out, const std::string& path);

// fsync(fd). A failed fsync leaves the file's durability unknown: callers
// must treat the whole operation as failed and never retry-then-succeed.
Status SyncFd(int fd, const std::string& path);

// Opens directory `dir` read-only, O_DIRECTORY | O_CLOEXEC (a child process
// started meanwhile never inherits it). NotFound if missing, IoError otherwise.
Result<UniqueFd> OpenDirectory(const std::string& dir);

// fsyncs a directory (OpenDirectory) so that entries created, renamed or
// removed in it survive a crash. The one place in the tree that syncs a
// directory.
Status SyncDirectory(const std::string& dir);

// Creates directory `dir` and any missing ancestors (mode 0755), fsyncing
// the parent of each directory it creates, so that the new entries survive a
// crash; a trailing '/' is ignored. Ok if `dir` already is a directory.
// InvalidArgument if it exists as something else, IoError otherwise.
Status CreateDirectoryDurably(const std::string& dir);

// Writes `bytes` to dir/name.tmp, fsyncs it, renames it over dir/name and
// fsyncs dir: afterwards dir/name holds either the old or the new content.
// On failure dir/name.tmp is removed.
Status WriteFileAtomically(const std::string& dir, const std::string& name, std::string_view bytes);

// A whole file of at most `max_size` bytes. NotFound if missing, Corruption
// if larger, IoError if unreadable.
Result<std::string> ReadSmallFile(const std::string& path, size_t max_size);

// Removes a file; a missing file is not an error.
Status RemoveFile(const std::string& path);

// CRC32C of the first `size` bytes of fd, read in bounded pieces.
// Corruption if the file is shorter, IoError if unreadable.
Result<uint32_t> ChecksumFile(int fd, uint64_t size, const std::string& path);

}  // namespace synod::util
