#include "snapshot/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "snapshot/checksum.h"

namespace synod::snapshot {

bool Fail(std::string* error, const std::string& message) {
  if (error != nullptr) *error = message;
  return false;
}

std::string ErrnoMessage(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + std::strerror(errno);
}

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) {
    Reset();
    fd_ = other.Release();
  }
  return *this;
}

int UniqueFd::Release() {
  int fd = fd_;
  fd_ = -1;
  return fd;
}

void UniqueFd::Reset() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool WriteAll(int fd, std::string_view bytes, const std::string& path, std::string* error) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Fail(error, ErrnoMessage("cannot write", path));
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

bool ReadAt(int fd, uint64_t offset, size_t size, std::string& out, const std::string& path,
            std::string* error) {
  out.resize(size);
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::pread(fd, out.data() + done, size - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      out.clear();
      return Fail(error, ErrnoMessage("cannot read", path));
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  out.resize(done);
  return true;
}

bool SyncFd(int fd, const std::string& path, std::string* error) {
  if (::fsync(fd) != 0) return Fail(error, ErrnoMessage("cannot fsync", path));
  return true;
}

bool SyncDirectory(const std::string& dir, std::string* error) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return Fail(error, ErrnoMessage("cannot open directory", dir));
  return SyncFd(fd.get(), dir, error);
}

bool WriteFileAtomically(const std::string& dir, const std::string& name, std::string_view bytes,
                         std::string* error) {
  const std::string path = dir + "/" + name;
  const std::string tmp = path + ".tmp";
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd.valid()) return Fail(error, ErrnoMessage("cannot create", tmp));
  if (!WriteAll(fd.get(), bytes, tmp, error) || !SyncFd(fd.get(), tmp, error)) {
    ::unlink(tmp.c_str());
    return false;
  }
  if (::close(fd.Release()) != 0) {
    ::unlink(tmp.c_str());
    return Fail(error, ErrnoMessage("cannot close", tmp));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    std::string message = ErrnoMessage("cannot rename " + tmp + " to", path);
    ::unlink(tmp.c_str());
    return Fail(error, message);
  }
  return SyncDirectory(dir, error);
}

bool ReadSmallFile(const std::string& path, size_t max_size, std::string& out, std::string* error) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return Fail(error, ErrnoMessage("cannot open", path));
  if (!ReadAt(fd.get(), 0, max_size + 1, out, path, error)) return false;
  if (out.size() > max_size) return Fail(error, path + " is larger than expected");
  return true;
}

bool RemoveFile(const std::string& path, std::string* error) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return Fail(error, ErrnoMessage("cannot remove", path));
  }
  return true;
}

bool ChecksumFile(int fd, uint64_t size, uint32_t& crc, const std::string& path,
                  std::string* error) {
  constexpr size_t kPiece = 1 << 20;
  Crc32cStream stream;
  std::string piece;
  for (uint64_t offset = 0; offset < size;) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(kPiece, size - offset));
    if (!ReadAt(fd, offset, want, piece, path, error)) return false;
    if (piece.size() != want) {
      return Fail(error, path + " is shorter than expected (" +
                             std::to_string(offset + piece.size()) + " of " + std::to_string(size) +
                             " bytes)");
    }
    stream.Update(piece);
    offset += want;
  }
  crc = stream.value();
  return true;
}

}  // namespace synod::snapshot
