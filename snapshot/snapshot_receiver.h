// SnapshotReceiver: installs a snapshot sent by a leader in byte ranges, into
// recv-<slot>-<crc>.part. Resumable: progress that was made durable (Sync)
// survives a crash and a later BeginReceive for the same meta continues there.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "snapshot/snapshot_meta.h"
#include "util/crc32c.h"
#include "util/file_io.h"
#include "util/status.h"

namespace synod::snapshot {

class SnapshotStore;

// Made by SnapshotStore::BeginReceive; the store must outlive it. One thread
// at a time. Destroying it without Finish keeps the partial file (bytes past
// the last Sync may be lost, as in a crash); Abandon deletes it.
class SnapshotReceiver {
 public:
  ~SnapshotReceiver();
  SnapshotReceiver(const SnapshotReceiver&) = delete;
  SnapshotReceiver& operator=(const SnapshotReceiver&) = delete;

  const SnapshotMeta& meta() const { return meta_; }
  // Bytes accepted so far; the leader should send from here. After a resume,
  // this is the durable length of the earlier attempt.
  uint64_t received_bytes() const { return received_; }
  // Bytes known to survive a crash.
  uint64_t durable_bytes() const { return durable_; }

  // Accepts bytes [offset, offset + size). offset must be <= received_bytes():
  // bytes already received are ignored (ok), a gap is refused
  // (kInvalidArgument). Bytes beyond meta().size_bytes, I/O errors and calls
  // after a failure or Finish fail too. Syncs every receive_sync_bytes.
  Status Append(uint64_t offset, std::string_view bytes);

  // fsyncs the partial file, then records its length durably. The failure if
  // either fails (durable_bytes() is then unchanged).
  Status Sync();

  // Checks that all bytes arrived and their CRC32C matches the meta, then
  // installs the snapshot like a local one and returns its meta. On a size or
  // checksum mismatch (kCorruption) the partial file is deleted; any failure
  // is returned. Call at most once.
  Result<SnapshotMeta> Finish();

  // Deletes the partial file and its progress record. Idempotent.
  void Abandon();

 private:
  friend class SnapshotStore;
  SnapshotReceiver(SnapshotStore& store, SnapshotMeta meta, util::UniqueFd fd, uint64_t durable,
                   util::Crc32cStream crc);

  Status Failed(Status status);  // latches the first failure, returns status
  void RemoveFiles();

  SnapshotStore& store_;
  const SnapshotMeta meta_;
  const std::string part_path_;
  util::UniqueFd fd_;
  uint64_t received_;
  uint64_t durable_;
  uint64_t unsynced_ = 0;   // bytes appended since the last Sync
  util::Crc32cStream crc_;  // of bytes [0, received_)
  Status error_;            // first failure; the receiver is unusable after it
  bool finished_ = false;   // installed, abandoned, or crashed in an install
};

}  // namespace synod::snapshot
