// Tuning and test hooks for SnapshotStore. Value type, copied into the store at Open.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>

namespace synod::snapshot {

// The durable steps of installing a snapshot (a local Commit or a received
// Finish), in order. See README.md for why a crash between any two is safe.
enum class InstallStep {
  kSyncData,       // fsync the temporary data file
  kWriteMetaTemp,  // write and fsync snap-<slot>.meta.tmp
  kRenameMeta,     // rename it to snap-<slot>.meta
  kRenameData,     // rename the data file to snap-<slot>.data
  kSyncDirectory,  // fsync the directory: the snapshot is now durable
  kPrune,          // delete snapshots beyond `keep` and stale partial receives
};

struct SnapshotStoreOptions {
  // Complete snapshots kept after an install (the newest ones). At least 1.
  size_t keep = 2;
  // SnapshotSink buffers this many bytes before each write(2).
  size_t write_buffer_bytes = size_t{1} << 20;
  // SnapshotReceiver::Append makes progress durable (Sync) after this many new bytes.
  uint64_t receive_sync_bytes = uint64_t{4} << 20;
  // Tests only: called before each install step; returning true simulates a
  // crash there: that step and all later ones are skipped, nothing is cleaned
  // up, and the sink or receiver leaves its files on disk when destroyed.
  std::function<bool(InstallStep)> crash_before;
};

}  // namespace synod::snapshot
