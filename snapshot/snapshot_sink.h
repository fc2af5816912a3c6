// SnapshotSink: takes one local snapshot, streaming the state machine's chunks
// to snap-<slot>.tmp (buffered, checksummed on the way, never held whole in
// memory), and installs it durably on Commit.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "snapshot/snapshot_meta.h"
#include "statemachine/state_machine.h"
#include "util/crc32c.h"
#include "util/file_io.h"
#include "util/status.h"

namespace synod::snapshot {

class SnapshotStore;

// Made by SnapshotStore::BeginWrite; the store must outlive it. One thread at
// a time. Not copyable.
class SnapshotSink : public statemachine::SnapshotWriter {
 public:
  ~SnapshotSink() override;  // without a successful Commit: Abort()
  SnapshotSink(const SnapshotSink&) = delete;
  SnapshotSink& operator=(const SnapshotSink&) = delete;

  // Appends one chunk (framed so that a reader returns exactly this chunk).
  // An I/O error is latched: later writes are ignored and Commit reports it.
  void Write(std::string_view chunk) override;

  // Flushes, fsyncs and installs the snapshot (see InstallStep); prunes old
  // snapshots. Returns its meta, or the failure (the temp file is then
  // removed). Call at most once.
  Result<SnapshotMeta> Commit();

  // Drops the snapshot being written and removes its temp file. Idempotent.
  void Abort();

  uint64_t applied_slot() const { return slot_; }
  // False once a write failed; error() says why.
  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }

 private:
  friend class SnapshotStore;
  SnapshotSink(SnapshotStore& store, uint64_t slot, util::UniqueFd fd, size_t buffer_bytes);

  void Emit(std::string_view bytes);  // buffers `bytes`, counting and checksumming them
  bool Flush();

  SnapshotStore& store_;
  const uint64_t slot_;
  const std::string temp_path_;
  util::UniqueFd fd_;
  std::string buffer_;
  const size_t buffer_bytes_;
  uint64_t size_ = 0;
  util::Crc32cStream crc_;
  std::string error_;
  bool finished_ = false;  // committed, aborted or crashed: nothing left to clean up
};

}  // namespace synod::snapshot
