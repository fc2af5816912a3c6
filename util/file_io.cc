#include "util/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <vector>

#include "util/crc32c.h"

namespace synod::util {

std::string ErrnoMessage(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + std::strerror(errno);
}

Status ErrnoStatus(const std::string& what, const std::string& path) {
  const bool missing = errno == ENOENT;
  std::string message = ErrnoMessage(what, path);
  return missing ? Status::NotFound(std::move(message)) : Status::IoError(std::move(message));
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

Status WriteAll(int fd, std::string_view bytes, const std::string& path) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("cannot write", path);
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

Status ReadAt(int fd, uint64_t offset, size_t size, std::string& out, const std::string& path) {
  out.resize(size);
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::pread(fd, out.data() + done, size - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      out.clear();
      return ErrnoStatus("cannot read", path);
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  out.resize(done);
  return Status::Ok();
}

Status SyncFd(int fd, const std::string& path) {
  if (::fsync(fd) != 0) return ErrnoStatus("cannot fsync", path);
  return Status::Ok();
}

Result<UniqueFd> OpenDirectory(const std::string& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus("cannot open directory", dir);
  return fd;
}

Status SyncDirectory(const std::string& dir) {
  Result<UniqueFd> fd = OpenDirectory(dir);
  if (!fd.ok()) return fd.status();
  return SyncFd(fd->get(), dir);
}

Status CreateDirectoryDurably(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path path = fs::absolute(fs::path(dir), ec).lexically_normal();
  if (ec) return Status::IoError("cannot resolve " + dir + ": " + ec.message());
  if (!path.has_filename()) path = path.parent_path();  // drop a trailing '/'
  std::vector<fs::path> missing;
  for (fs::path p = path; !p.empty() && !fs::exists(p, ec); p = p.parent_path()) {
    if (ec) return Status::IoError("cannot stat " + p.string() + ": " + ec.message());
    missing.push_back(p);
    if (p == p.parent_path()) break;
  }
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    if (::mkdir(it->c_str(), 0755) != 0 && errno != EEXIST) {
      return ErrnoStatus("cannot create directory", it->string());
    }
    Status synced = SyncDirectory(it->parent_path().string());
    if (!synced.ok()) return synced;
  }
  if (!fs::is_directory(path, ec)) return Status::InvalidArgument(dir + " is not a directory");
  return Status::Ok();
}

Status WriteFileAtomically(const std::string& dir, const std::string& name,
                           std::string_view bytes) {
  const std::string path = dir + "/" + name;
  const std::string tmp = path + ".tmp";
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd.valid()) return ErrnoStatus("cannot create", tmp);
  Status status = WriteAll(fd.get(), bytes, tmp);
  if (status.ok()) status = SyncFd(fd.get(), tmp);
  if (!status.ok()) {
    ::unlink(tmp.c_str());
    return status;
  }
  if (::close(fd.Release()) != 0) {
    status = ErrnoStatus("cannot close", tmp);
    ::unlink(tmp.c_str());
    return status;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    status = ErrnoStatus("cannot rename " + tmp + " to", path);
    ::unlink(tmp.c_str());
    return status;
  }
  return SyncDirectory(dir);
}

Result<std::string> ReadSmallFile(const std::string& path, size_t max_size) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus("cannot open", path);
  std::string out;
  Status status = ReadAt(fd.get(), 0, max_size + 1, out, path);
  if (!status.ok()) return status;
  if (out.size() > max_size) return Status::Corruption(path + " is larger than expected");
  return out;
}

Status RemoveFile(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return ErrnoStatus("cannot remove", path);
  return Status::Ok();
}

Result<uint32_t> ChecksumFile(int fd, uint64_t size, const std::string& path) {
  constexpr size_t kPiece = 1 << 20;
  Crc32cStream stream;
  std::string piece;
  for (uint64_t offset = 0; offset < size;) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(kPiece, size - offset));
    Status status = ReadAt(fd, offset, want, piece, path);
    if (!status.ok()) return status;
    if (piece.size() != want) {
      return Status::Corruption(path + " is shorter than expected (" +
                                std::to_string(offset + piece.size()) + " of " +
                                std::to_string(size) + " bytes)");
    }
    stream.Update(piece);
    offset += want;
  }
  return stream.value();
}

}  // namespace synod::util
