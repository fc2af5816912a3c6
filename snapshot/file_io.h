// Thin POSIX file helpers for the snapshot store: every failure becomes an
// error message naming the path and errno text, never an exception or abort.
// All functions are safe to call from any thread on distinct files.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace synod::snapshot {

// Stores `message` in *error when error is not null. Returns false, so that
// callers can write `return Fail(error, "...")`.
bool Fail(std::string* error, const std::string& message);

// "<what> <path>: <strerror(errno)>" for the current errno.
std::string ErrnoMessage(const std::string& what, const std::string& path);

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

// Writes all of `bytes` at the file offset. False (and *error) on failure.
bool WriteAll(int fd, std::string_view bytes, const std::string& path, std::string* error);

// Reads up to `size` bytes at `offset` into out (replacing it); stops short
// only at end of file. False (and *error) on failure.
bool ReadAt(int fd, uint64_t offset, size_t size, std::string& out, const std::string& path,
            std::string* error);

// fsync(fd). A failed fsync leaves the file's durability unknown: callers
// must treat the whole operation as failed and never retry-then-succeed.
bool SyncFd(int fd, const std::string& path, std::string* error);

// fsyncs a directory so that entries created, renamed or removed in it survive a crash.
bool SyncDirectory(const std::string& dir, std::string* error);

// Writes `bytes` to dir/name.tmp, fsyncs it, renames it over dir/name and
// fsyncs dir: afterwards dir/name holds either the old or the new content.
bool WriteFileAtomically(const std::string& dir, const std::string& name, std::string_view bytes,
                         std::string* error);

// Reads a whole file of at most `max_size` bytes. False if missing, larger, or unreadable.
bool ReadSmallFile(const std::string& path, size_t max_size, std::string& out, std::string* error);

// Removes a file; a missing file is not an error.
bool RemoveFile(const std::string& path, std::string* error);

// CRC32C of the first `size` bytes of fd, read in bounded pieces. False if
// the file is shorter or unreadable.
bool ChecksumFile(int fd, uint64_t size, uint32_t& crc, const std::string& path,
                  std::string* error);

}  // namespace synod::snapshot
