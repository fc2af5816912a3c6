// SnapshotStore: the durable set of snapshots of one replica, in one directory
// it owns (e.g. <data_dir>/snapshots). Takes local snapshots (BeginWrite),
// serves them (OpenReader), and installs snapshots received from a leader
// (BeginReceive). Layout and crash-safety argument: snapshot/README.md.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "snapshot/snapshot_meta.h"
#include "snapshot/snapshot_receiver.h"
#include "snapshot/snapshot_sink.h"
#include "snapshot/snapshot_source.h"
#include "snapshot/snapshot_store_options.h"
#include "util/file_io.h"
#include "util/status.h"

namespace synod::snapshot {

// Thread-safe: its methods may be called from several threads (an internal
// mutex, held across an install's fsyncs). Sinks, receivers and sources it
// hands out borrow it: destroy them first. One store per directory (Open
// takes an exclusive lock on <dir>/LOCK). Not copyable.
class SnapshotStore {
 public:
  // Creates `dir` if needed (fsyncing its parent), removes leftovers of
  // interrupted local writes and installs, keeps complete snapshots and
  // partial receives newer than the latest complete snapshot, and prunes
  // beyond options.keep. The failure's Status otherwise (the message names the
  // path; kUnavailable if another store holds the directory).
  static Result<std::unique_ptr<SnapshotStore>> Open(std::string dir,
                                                     SnapshotStoreOptions options = {});
  ~SnapshotStore();
  SnapshotStore(const SnapshotStore&) = delete;
  SnapshotStore& operator=(const SnapshotStore&) = delete;

  const std::string& dir() const { return dir_; }

  // Newest complete snapshot (checked on Open by size only; OpenReader checks
  // the CRC32C), if any.
  std::optional<SnapshotMeta> Latest() const;
  // Every complete snapshot, oldest first.
  std::vector<SnapshotMeta> List() const;

  // Starts a local snapshot of the state after applied_slot. It must be newer
  // than Latest(), and only one sink per slot may be open: kInvalidArgument
  // otherwise, kIoError if the temp file cannot be created.
  Result<std::unique_ptr<SnapshotSink>> BeginWrite(uint64_t applied_slot);

  // Opens a complete snapshot of this store for reading after VerifyFile.
  // kNotFound if it is unknown (e.g. pruned), kIoError if unreadable,
  // kCorruption if corrupt.
  Result<std::unique_ptr<SnapshotSource>> OpenReader(const SnapshotMeta& meta);

  // Checks that the data file of `meta` has exactly meta.size_bytes bytes
  // whose CRC32C is meta.crc32c (kCorruption otherwise). Reads the whole file
  // in bounded pieces.
  Status VerifyFile(const SnapshotMeta& meta) const;

  // Starts (or resumes, if an earlier attempt left durable progress for the
  // same meta) receiving a snapshot. Deletes partial receives of any other
  // meta. Refused if meta is not newer than Latest() or is too small to be a
  // snapshot file (kInvalidArgument), or another receive is in progress
  // (kUnavailable); kIoError if its files cannot be prepared.
  Result<std::unique_ptr<SnapshotReceiver>> BeginReceive(const SnapshotMeta& meta);

 private:
  friend class SnapshotSink;
  friend class SnapshotReceiver;

  SnapshotStore(std::string dir, SnapshotStoreOptions options, util::UniqueFd lock);

  std::string PathOf(const std::string& name) const { return dir_ + "/" + name; }
  Status Recover();  // Open's scan; no other thread yet

  // Installs the fsync-pending data file dir/<temp_name> (open as data_fd) as
  // the complete snapshot `meta`, then prunes. *crashed is set if the test
  // hook simulated a crash (the caller must then leave its files alone).
  Status Install(int data_fd, const std::string& temp_name, const SnapshotMeta& meta,
                 bool* crashed);
  Status PruneLocked();                               // snapshots beyond keep, stale receives
  void ReleaseWrite(const std::string& temp_name);    // a sink is gone
  void ReleaseReceive(const std::string& part_name);  // a receiver is gone

  const std::string dir_;
  const SnapshotStoreOptions options_;
  util::UniqueFd lock_;

  mutable std::mutex mu_;
  std::vector<SnapshotMeta> complete_;  // sorted by applied_slot; guarded by mu_
  std::set<std::string> active_;        // temp names of live sinks/receivers; guarded by mu_
  bool receiving_ = false;              // a receiver is live; guarded by mu_
};

}  // namespace synod::snapshot
