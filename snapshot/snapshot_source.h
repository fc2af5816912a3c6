// SnapshotSource: read access to one complete, verified snapshot file, both as
// raw bytes (for chunked transfer to a follower) and, through ChunkReader, as
// the chunks the state machine wrote (for Restore).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "snapshot/snapshot_meta.h"
#include "statemachine/state_machine.h"
#include "util/file_io.h"
#include "util/status.h"

namespace synod::snapshot {

// Made by SnapshotStore::OpenReader after checking the file's size and CRC32C.
// Holds the file open, so it stays readable even if the store prunes it.
// ReadAt is safe from several threads at once. Not copyable.
class SnapshotSource {
 public:
  SnapshotSource(const SnapshotSource&) = delete;
  SnapshotSource& operator=(const SnapshotSource&) = delete;

  const SnapshotMeta& meta() const { return meta_; }

  // Replaces `out` with up to max_bytes of the file starting at `offset`
  // (empty at or past the end). kIoError on an I/O error, kCorruption if the
  // file ends before its recorded size.
  Status ReadAt(uint64_t offset, size_t max_bytes, std::string& out) const;

 private:
  friend class SnapshotStore;
  SnapshotSource(SnapshotMeta meta, util::UniqueFd fd, std::string path);

  const SnapshotMeta meta_;
  util::UniqueFd fd_;
  const std::string path_;
};

// Adapter handing StateMachine::Restore the exact chunks its Snapshot wrote.
// Borrows the source (which must outlive it). One thread.
//
// Read returns false both at the end and on an error (the interface has no
// error channel): after Restore the caller must check ok() and at_end(); a
// restore that stopped early is not a restore.
class ChunkReader : public statemachine::SnapshotReader {
 public:
  explicit ChunkReader(const SnapshotSource& source);

  bool Read(std::string& chunk) override;

  bool ok() const { return status_.ok(); }
  // Why reading stopped early: kIoError from a read, kCorruption for bad
  // framing or a file that ends inside a chunk. Ok while ok().
  const Status& status() const { return status_; }
  // True once every chunk has been read and the file ended exactly there.
  bool at_end() const { return at_end_; }

 private:
  bool Take(size_t size, std::string& out);  // next `size` bytes of the file

  const SnapshotSource& source_;
  std::string buffer_;     // read-ahead
  size_t buffer_pos_ = 0;  // next unread byte of buffer_
  uint64_t file_pos_ = 0;  // file offset just after buffer_
  bool started_ = false;   // magic checked
  bool at_end_ = false;
  Status status_;
};

}  // namespace synod::snapshot
