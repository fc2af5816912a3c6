#include "log/preallocated_log_env.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>

#include "util/byte_order.h"
#include "util/crc32c.h"
#include "util/file_io.h"

namespace synod::log {

namespace {

// LevelDB log format (leveldb doc/log_format.md): 32 KiB blocks of physical
// records; header = masked CRC32C of type + payload (4 bytes, little endian),
// payload length (2 bytes, little endian), type (1 byte: 1 full, 2 first,
// 3 middle, 4 last; 0 is reserved for preallocated files). Fewer than 7
// bytes left in a block are a trailer.
constexpr size_t kBlockSize = 32768;
constexpr size_t kHeaderSize = 7;
constexpr uint8_t kFirstRecordType = 1;
constexpr uint8_t kLastRecordType = 4;
constexpr uint32_t kCrcMaskDelta = 0xa282ead8u;

constexpr size_t kWriteBufferSize = 65536;  // as LevelDB's PosixWritableFile
constexpr size_t kFillChunk = 1 << 20;      // checking spares
// Zero-filling writes this much, then writes it back and waits before the
// next piece: the disk never holds a burst of spare writes in front of the
// synced log writes (measured: p99 at 256 clients rose by ~40% when a 5 MiB
// spare was written back in one go by its fsync).
constexpr size_t kZeroFillPiece = 256 << 10;

uint32_t MaskedCrc(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + kCrcMaskDelta; }

// The masked CRC32C stored in a record header.
uint32_t StoredCrc(const unsigned char* header) { return util::LoadLittle32(header); }

// True if the masked CRC32C in `header` matches its type byte followed by
// the `payload_length` bytes after the header (which must be readable).
bool ChecksumMatches(const unsigned char* header, size_t payload_length) {
  return MaskedCrc(util::Crc32cExtend(0, header + 6, 1 + payload_length)) == StoredCrc(header);
}

// End offset of the valid physical record starting at `pos`, or 0 if the
// bytes there are not one (including the reserved zero header).
size_t ValidRecordEnd(std::string_view log, size_t pos) {
  const size_t left_in_block = kBlockSize - pos % kBlockSize;
  if (left_in_block < kHeaderSize || log.size() - pos < kHeaderSize) return 0;
  const auto* header = reinterpret_cast<const unsigned char*>(log.data() + pos);
  const uint8_t type = header[6];
  if (type < kFirstRecordType || type > kLastRecordType) return 0;
  const size_t length = static_cast<size_t>(util::LoadLittle(header + 4, 2));
  if (kHeaderSize + length > left_in_block || kHeaderSize + length > log.size() - pos) return 0;
  if (!ChecksumMatches(header, length)) return 0;
  return pos + kHeaderSize + length;
}

// For a record at `pos` whose header is whole and plausible but claims bytes
// past `written_end`: true if it is in fact whole and only its length field
// is damaged, i.e. its checksum matches its payload ending at some e where
// the written bytes end, or where the payload ends in the record-end marker
// (whatever follows: whole records, or a torn later write). A torn prefix
// passes with probability ~2^-32 (it must match the checksum there too).
bool WholeRecordWithDamagedLength(std::string_view log, size_t pos, size_t written_end) {
  const auto* header = reinterpret_cast<const unsigned char*>(log.data() + pos);
  const uint32_t stored = StoredCrc(header);
  const size_t payload = pos + kHeaderSize;
  uint32_t crc = util::Crc32cExtend(0, header + 6, 1);  // the type byte
  for (size_t e = payload; e <= written_end; ++e) {
    if (e > payload) crc = util::Crc32cExtend(crc, log.data() + e - 1, 1);
    if (MaskedCrc(crc) != stored) continue;
    if (e == written_end) return true;
    if (e - payload >= kRecordEndMarkerBytes &&
        log.find_first_not_of('\xff', e - kRecordEndMarkerBytes) >= e) {
      return true;
    }
  }
  return false;
}

// "dir/base" → {"dir", "base"}; a bare name is in ".".
std::pair<std::string, std::string> SplitPath(const std::string& name) {
  size_t slash = name.rfind('/');
  if (slash == std::string::npos) return {".", name};
  return {slash == 0 ? "/" : name.substr(0, slash), name.substr(slash + 1)};
}

// True for LevelDB's write-ahead log names: digits followed by ".log".
bool IsLogFileName(const std::string& base) {
  constexpr std::string_view kSuffix = ".log";
  if (base.size() <= kSuffix.size() ||
      base.compare(base.size() - kSuffix.size(), kSuffix.size(), kSuffix) != 0) {
    return false;
  }
  return std::all_of(base.begin(), base.end() - kSuffix.size(),
                     [](char c) { return c >= '0' && c <= '9'; });
}

leveldb::Status PosixError(const std::string& context, int error) {
  return leveldb::Status::IOError(context, std::strerror(error));
}

// Writes sequentially from offset 0 into an existing (preallocated) file,
// buffering like LevelDB's PosixWritableFile. One writer thread (LevelDB's).
class PreallocatedLogFile final : public leveldb::WritableFile {
 public:
  PreallocatedLogFile(int fd, std::string name) : fd_(fd), name_(std::move(name)) {}
  ~PreallocatedLogFile() override {
    if (fd_ >= 0) Close();  // errors ignored, as LevelDB's own files do
  }

  leveldb::Status Append(const leveldb::Slice& data) override {
    const char* p = data.data();
    size_t size = data.size();
    size_t copied = std::min(size, kWriteBufferSize - buffered_);
    std::memcpy(buffer_ + buffered_, p, copied);
    buffered_ += copied;
    p += copied;
    size -= copied;
    if (size == 0) return leveldb::Status::OK();
    leveldb::Status status = FlushBuffer();
    if (!status.ok()) return status;
    if (size < kWriteBufferSize) {
      std::memcpy(buffer_, p, size);
      buffered_ = size;
      return leveldb::Status::OK();
    }
    return WriteUnbuffered(p, size);
  }
  leveldb::Status Close() override {
    leveldb::Status status = FlushBuffer();
    if (fd_ >= 0 && ::close(fd_) < 0 && status.ok()) status = PosixError(name_, errno);
    fd_ = -1;
    return status;
  }
  leveldb::Status Flush() override { return FlushBuffer(); }
  leveldb::Status Sync() override {
    leveldb::Status status = FlushBuffer();
    if (!status.ok()) return status;
    if (::fdatasync(fd_) != 0) return PosixError(name_, errno);
    return leveldb::Status::OK();
  }

 private:
  leveldb::Status FlushBuffer() {
    leveldb::Status status = WriteUnbuffered(buffer_, buffered_);
    buffered_ = 0;
    return status;
  }
  leveldb::Status WriteUnbuffered(const char* data, size_t size) {
    if (size == 0) return leveldb::Status::OK();
    if (fd_ < 0) return leveldb::Status::IOError(name_, "file is closed");
    Status written = util::WriteAll(fd_, std::string_view(data, size), name_);
    if (!written.ok()) return leveldb::Status::IOError(written.message());
    return leveldb::Status::OK();
  }

  int fd_;
  const std::string name_;
  char buffer_[kWriteBufferSize];
  size_t buffered_ = 0;
};

// Serves a prefix of a log file read into memory. One reader thread.
class MemorySequentialFile final : public leveldb::SequentialFile {
 public:
  explicit MemorySequentialFile(std::string data) : data_(std::move(data)) {}
  leveldb::Status Read(size_t n, leveldb::Slice* result, char* scratch) override {
    size_t count = std::min(n, data_.size() - pos_);
    std::memcpy(scratch, data_.data() + pos_, count);
    pos_ += count;
    *result = leveldb::Slice(scratch, count);
    return leveldb::Status::OK();
  }
  leveldb::Status Skip(uint64_t n) override {
    pos_ += static_cast<size_t>(std::min<uint64_t>(n, data_.size() - pos_));
    return leveldb::Status::OK();
  }

 private:
  const std::string data_;
  size_t pos_ = 0;
};

}  // namespace

std::optional<size_t> PresentedLogLength(std::string_view log) {
  // Walk the records as the log reader does, up to the first invalid one.
  size_t pos = 0;
  size_t valid_end = 0;  // end of the last valid record (the cut for a tear)
  while (pos < log.size()) {
    const size_t left_in_block = kBlockSize - pos % kBlockSize;
    if (left_in_block < kHeaderSize) {
      pos += left_in_block;  // trailer
      continue;
    }
    const size_t end = ValidRecordEnd(log, pos);
    if (end == 0) break;
    valid_end = pos = end;
  }
  if (pos >= log.size()) return log.size();  // nothing invalid
  // A crash tears a write into a prefix: what follows it was never written,
  // so it is the preallocated zeros (or the end of a plain file). The invalid
  // record at `pos` is such a tear only if it reaches past the last non-zero
  // byte: its header, or the payload its header claims, runs into the zeros.
  const size_t written_end = log.find_last_not_of('\0') + 1;  // 0 if all zeros
  if (written_end <= pos) return valid_end;                   // zeros from here on
  const auto* header = reinterpret_cast<const unsigned char*>(log.data() + pos);
  if (log.size() - pos < kHeaderSize || pos + kHeaderSize > written_end) return valid_end;
  // The header was written whole: one a writer cannot produce is damage.
  const uint8_t type = header[6];
  const size_t length = static_cast<size_t>(util::LoadLittle(header + 4, 2));
  if (type < kFirstRecordType || type > kLastRecordType ||
      kHeaderSize + length > kBlockSize - pos % kBlockSize) {
    return std::nullopt;
  }
  if (pos + kHeaderSize + length > written_end) {
    // A whole record whose length field was damaged upward runs into the
    // zeros too (whatever follows it): damage, not a tear.
    if (WholeRecordWithDamagedLength(log, pos, written_end)) return std::nullopt;
    return valid_end;
  }
  // A whole record lies in written bytes and is damaged (bad checksum, type
  // or length, or a zero header with data after it): not a tear.
  return std::nullopt;
}

PreallocatedLogEnv::PreallocatedLogEnv(uint64_t preallocate_bytes)
    : preallocate_bytes_(std::max<uint64_t>(4096, (preallocate_bytes + 4095) / 4096 * 4096)),
      thread_([this] { RunOrExit(); }) {}

PreallocatedLogEnv::~PreallocatedLogEnv() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

leveldb::Status PreallocatedLogEnv::NewWritableFile(const std::string& name,
                                                    leveldb::WritableFile** result) {
  auto [dir, base] = SplitPath(name);
  if (!IsLogFileName(base)) return target()->NewWritableFile(name, result);
  bool take = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    take = ready_.erase(dir) > 0;
  }
  leveldb::Status status;
  bool done = false;
  if (take) {
    const std::string spare = dir + "/" + kSpareLogName;
    if (::rename(spare.c_str(), name.c_str()) == 0) {
      // The new name must be durable before anything is written under it:
      // otherwise a crash could bring back a "spare" holding log records.
      done = true;
      Status synced = util::SyncDirectory(dir);
      if (!synced.ok()) {
        status = leveldb::Status::IOError("after taking a spare log", synced.message());
      } else {
        int fd = ::open(name.c_str(), O_WRONLY | O_CLOEXEC);
        if (fd < 0) {
          status = PosixError(name, errno);
        } else {
          *result = new PreallocatedLogFile(fd, name);
        }
      }
    }
  }
  if (!done) status = target()->NewWritableFile(name, result);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    wanted_.insert(dir);
    failed_.erase(dir);
  }
  changed_.notify_all();
  return status;
}

leveldb::Status TearAwareLogEnv::NewSequentialFile(const std::string& name,
                                                   leveldb::SequentialFile** result) {
  if (!IsLogFileName(SplitPath(name).second)) return target()->NewSequentialFile(name, result);
  std::string data;
  leveldb::Status status = leveldb::ReadFileToString(target(), name, &data);
  if (!status.ok()) return status;
  std::optional<size_t> length = PresentedLogLength(data);
  if (!length) {
    return leveldb::Status::Corruption(
        name, "a damaged record lies before the end of what was written (not a torn write)");
  }
  data.resize(*length);
  *result = new MemorySequentialFile(std::move(data));
  return leveldb::Status::OK();
}

void PreallocatedLogEnv::PrepareDirectory(const std::string& dir) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (ready_.count(dir) || wanted_.count(dir) || busy_ == dir) return;  // already handled
  }
  bool usable = LeftoverSpareUsable(dir);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (usable) {
      ready_.insert(dir);
    } else {
      wanted_.insert(dir);
      failed_.erase(dir);
    }
  }
  changed_.notify_all();
}

void PreallocatedLogEnv::ForgetDirectory(const std::string& dir) {
  std::unique_lock<std::mutex> lock(mutex_);
  wanted_.erase(dir);
  ready_.erase(dir);
  failed_.erase(dir);
  if (busy_ == dir) {
    cancel_busy_ = true;
    changed_.wait(lock, [&] { return busy_ != dir; });
  }
}

bool PreallocatedLogEnv::WaitForSpare(const std::string& dir, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait_for(lock, timeout, [&] { return ready_.count(dir) > 0 || failed_.count(dir) > 0; });
  return ready_.count(dir) > 0;
}

bool PreallocatedLogEnv::LeftoverSpareUsable(const std::string& dir) const {
  const std::string spare = dir + "/" + kSpareLogName;
  int fd = ::open(spare.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st;
  bool usable = ::fstat(fd, &st) == 0 && static_cast<uint64_t>(st.st_size) == preallocate_bytes_;
  std::unique_ptr<char[]> chunk(new char[kFillChunk]);
  uint64_t checked = 0;
  while (usable && checked < preallocate_bytes_) {
    ssize_t n = ::read(fd, chunk.get(), kFillChunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      usable = false;
      break;
    }
    usable = std::all_of(chunk.get(), chunk.get() + n, [](char c) { return c == 0; });
    checked += static_cast<uint64_t>(n);
  }
  ::close(fd);
  return usable;
}

bool PreallocatedLogEnv::MakeSpare(const std::string& dir) {
  const std::string temp = dir + "/" + kSpareLogTempName;
  const std::string spare = dir + "/" + kSpareLogName;
  auto cancelled = [&] {
    std::lock_guard<std::mutex> lock(mutex_);
    return stop_ || cancel_busy_;
  };
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  std::unique_ptr<char[]> zeros(new char[kZeroFillPiece]());
  bool ok = true;
  for (uint64_t written = 0; ok && written < preallocate_bytes_;) {
    if (cancelled()) {
      ok = false;
      break;
    }
    size_t n =
        static_cast<size_t>(std::min<uint64_t>(kZeroFillPiece, preallocate_bytes_ - written));
    ok = util::WriteAll(fd, std::string_view(zeros.get(), n), temp).ok() &&
         ::sync_file_range(
             fd, static_cast<off64_t>(written), static_cast<off64_t>(n),
             SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER) == 0;
    written += n;
  }
  ok = ok && util::SyncFd(fd, temp).ok();
  ok = ::close(fd) == 0 && ok;
  // Renamed only once complete and durable, so a file under the spare name is
  // always whole (and LeftoverSpareUsable checks it anyway).
  ok = ok && !cancelled() && ::rename(temp.c_str(), spare.c_str()) == 0;
  if (!ok) {
    ::unlink(temp.c_str());
    return false;
  }
  return util::SyncDirectory(dir).ok();
}

void PreallocatedLogEnv::RunOrExit() noexcept {
  try {
    Run();
  } catch (...) {
    // The thread's boundary: an exception here (std::bad_alloc, say) would
    // otherwise be std::terminate. Like transport/internal_error.h (which this
    // layer does not link): one line on stderr, one write(2), exit 70.
    static const char kLine[] =
        "synod: fatal internal error in the log preallocation thread: an exception\n";
    ssize_t ignored = ::write(STDERR_FILENO, kLine, sizeof(kLine) - 1);
    (void)ignored;
    std::_Exit(70);
  }
}

void PreallocatedLogEnv::Run() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    changed_.wait(lock, [&] { return stop_ || !wanted_.empty(); });
    if (stop_) return;
    std::string dir = *wanted_.begin();
    wanted_.erase(wanted_.begin());
    if (ready_.count(dir)) continue;
    busy_ = dir;
    cancel_busy_ = false;
    lock.unlock();
    bool ok = LeftoverSpareUsable(dir) || MakeSpare(dir);
    lock.lock();
    if (ok && !cancel_busy_ && !stop_) {
      ready_.insert(dir);
    } else if (!ok) {
      failed_.insert(dir);
    }
    busy_.clear();
    cancel_busy_ = false;
    changed_.notify_all();
  }
}

}  // namespace synod::log
