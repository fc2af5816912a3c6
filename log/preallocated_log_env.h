// PreallocatedLogEnv: a leveldb::Env (POSIX only) that hands LevelDB its
// write-ahead log files (NNNNNN.log) already written full of zeros and
// fsynced, so that a synced append overwrites allocated blocks instead of
// growing the file: fdatasync then writes the data alone, not the inode too
// (on this machine ~80 µs instead of ~110 µs per synced write).
//
// How: one spare file per directory ("synod-spare.wal", a name LevelDB's
// DeleteObsoleteFiles cannot parse, so it leaves it alone) is made on a
// background thread: zero-filled under a temporary name, fsynced, renamed,
// directory fsynced. NewWritableFile of a log renames the spare to the log's
// name, fsyncs the directory and writes from offset 0; without a ready spare
// it falls back to a plain file and never waits. Writing past the spare's
// size grows the file as usual.
//
// Recovery: the tail of a preallocated log is zeros, so a record torn by a
// crash is followed by zeros instead of the end of the file, which LevelDB's
// log reader reports as corruption (and paranoid_checks refuses). A process
// crash (kill -9) tears a write into a prefix: the torn record's header, or
// the payload it claims, runs into the zeros. NewSequentialFile of a log
// therefore presents it as ending before its first invalid record when that
// record runs past the last non-zero byte — what a short, torn plain file
// shows LevelDB. An invalid record lying wholly in written bytes is damage,
// not a tear: the open fails with Corruption (stricter than LevelDB, which
// skips a zeroed record silently), and for a whole header no writer makes.
// A damaged last record whose payload ends in zero bytes would read as torn
// and be dropped: LevelDbLogStorage therefore ends every write with the
// deletion of a key ending in kRecordEndMarkerBytes 0xff bytes, so its
// records end in non-zero bytes. A whole record whose length field was
// damaged upward also runs into the zeros; its checksum still matches its
// payload ending where the written bytes end, or ending in the marker
// (whatever follows it: whole records or a torn later write), which tells it
// from a tear (a torn prefix matches with probability ~2^-32): damage.
// Limits: damage that zeroes a record's last byte(s) — a lost or zeroed
// last sector, or a zeroed last byte — cannot be told from a tear and drops
// that record (a flipped bit cannot zero a 0xff byte); records written
// without the marker (before it was added, or by another writer) keep that
// limit for a zero-ending payload and for damaged lengths with records after
// them; a flipped bit in the zeros 7 or more bytes after the last record
// makes the open fail (safe, but the replica must be repaired).
// Known limit: a power loss that persists a later sector of an unsynced
// write but not an earlier one makes the open fail (the replica must then be
// repaired or replaced), as can happen to plain LevelDB logs on a file
// system without a journal.
//
// Every other file and call goes to Env::Default() unchanged.
#pragma once

#include <leveldb/env.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>

namespace synod::log {

// Name of the spare log file kept in a directory, and of the temporary file
// it is written under before it is complete.
inline constexpr char kSpareLogName[] = "synod-spare.wal";
inline constexpr char kSpareLogTempName[] = "synod-spare.wal.tmp";

// LevelDbLogStorage ends the payload of every log record it writes in this
// many 0xff bytes (the record-end marker, see Recovery above).
inline constexpr size_t kRecordEndMarkerBytes = 8;

// Length of the prefix of a LevelDB log file (contents `log`) to present to
// the log reader: log.size() if every record is valid; the start of the
// first invalid record if it is a torn write (it runs past the last non-zero
// byte, see above); nullopt if it is damage (within written bytes, an
// impossible header, or a whole record with a damaged length). Pure
// function, any thread.
std::optional<size_t> PresentedLogLength(std::string_view log);

// Env::Default() except that NewSequentialFile of a "<dir>/<digits>.log"
// reads the whole file and serves PresentedLogLength() bytes of it, or fails
// with Corruption (see above). Used alone when logs are not preallocated, so
// a directory that had preallocated logs still recovers from a torn write.
// Any thread.
class TearAwareLogEnv : public leveldb::EnvWrapper {
 public:
  TearAwareLogEnv() : leveldb::EnvWrapper(leveldb::Env::Default()) {}
  leveldb::Status NewSequentialFile(const std::string& name,
                                    leveldb::SequentialFile** result) override;
};

class PreallocatedLogEnv final : public TearAwareLogEnv {
 public:
  // Spares are `preallocate_bytes` long (rounded up to 4 KiB). Starts the
  // background thread. The env must outlive every DB opened with it.
  explicit PreallocatedLogEnv(uint64_t preallocate_bytes);
  // Stops and joins the background thread (an unfinished spare is deleted;
  // ready spares stay on disk for the next process). Requires every DB using
  // this env to be closed.
  ~PreallocatedLogEnv() override;
  PreallocatedLogEnv(const PreallocatedLogEnv&) = delete;
  PreallocatedLogEnv& operator=(const PreallocatedLogEnv&) = delete;

  // For "<dir>/<digits>.log": takes the directory's ready spare if there is
  // one (rename + directory fsync); otherwise, or if taking it fails, opens a
  // plain file through Env::Default(). Either way asks the background thread
  // for a new spare. Other names: Env::Default(). Any thread.
  leveldb::Status NewWritableFile(const std::string& name, leveldb::WritableFile** result) override;

  // Adopts `dir`'s leftover spare if it is complete (the right size, all
  // zeros; checked here, synchronously, by reading it); otherwise asks the
  // background thread for a spare, which replaces an incomplete leftover.
  // Call it with the DB in `dir` open (LevelDB's lock held): it creates and
  // renames files there. Any thread. Errors are not reported: the env falls
  // back to plain files (and WaitForSpare returns false early).
  void PrepareDirectory(const std::string& dir);
  // Stops all work in `dir`: cancels (and waits for) a spare being made
  // there and forgets its ready spare (the file stays on disk for the next
  // PrepareDirectory). After it returns the env touches nothing in `dir`
  // until a log is created there again. Call after closing the DB in `dir`,
  // e.g. before removing the directory. Any thread.
  void ForgetDirectory(const std::string& dir);
  // Waits until `dir` has a ready spare, its making failed, or `timeout`
  // passes; returns whether it has one. Any thread.
  bool WaitForSpare(const std::string& dir, std::chrono::milliseconds timeout);

  uint64_t preallocate_bytes() const { return preallocate_bytes_; }

 private:
  // Checks a leftover spare (size and zeros) without the lock; true if usable.
  bool LeftoverSpareUsable(const std::string& dir) const;
  // Makes dir's spare; false if cancelled or failed (nothing left behind).
  bool MakeSpare(const std::string& dir);
  // Run on the thread; an exception escaping it ends the process (exit 70).
  void RunOrExit() noexcept;
  void Run();  // the background thread

  const uint64_t preallocate_bytes_;
  std::mutex mutex_;
  std::condition_variable changed_;  // wanted_, ready_, busy_ or stop_ changed
  std::set<std::string> wanted_;     // directories needing a spare
  std::set<std::string> ready_;      // directories whose spare is complete
  std::set<std::string> failed_;     // directories whose last spare failed
  std::string busy_;                 // directory being filled ("" if none)
  bool cancel_busy_ = false;         // ForgetDirectory(busy_) is waiting
  bool stop_ = false;
  std::thread thread_;  // last: started once the fields above exist
};

}  // namespace synod::log
