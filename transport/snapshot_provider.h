// SnapshotProvider: what a Server serves to peers that fetch a snapshot
// (PeerService.snapshotInfo / readSnapshot; see docs/transport.md, "Snapshot
// transfer"), and StoreSnapshotProvider, the adapter over a SnapshotStore.
//
// Threading: the Server calls every method on the network thread. Reads may
// block that thread briefly on disk (one pread of at most a chunk; the first
// read of a new snapshot also verifies its CRC32C, one full sequential read).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "snapshot/snapshot_meta.h"

namespace synod::snapshot {
class SnapshotSource;
class SnapshotStore;
}  // namespace synod::snapshot

namespace synod::transport {

// Serves the bytes of this replica's snapshots. Set in ServerOptions; must
// outlive the Server.
class SnapshotProvider {
 public:
  virtual ~SnapshotProvider() = default;

  // The newest snapshot that can be served, if any.
  virtual std::optional<snapshot::SnapshotMeta> LatestSnapshot() = 0;

  // Replaces `out` with up to `max` bytes of snapshot `meta` from `offset`
  // (fewer only at the end of the file; empty at or past it) and returns true.
  // If `meta` is no longer available (pruned, replaced): *gone = true, true.
  // On an I/O or verification error: false and *error.
  virtual bool ReadSnapshot(const snapshot::SnapshotMeta& meta, uint64_t offset, size_t max,
                            std::string& out, bool* gone, std::string* error) = 0;
};

// Serves the snapshots of a SnapshotStore (which must outlive it). Keeps the
// last snapshot it read open (verified once by OpenReader), so consecutive
// reads of one snapshot cost one pread each. A snapshot that the store no
// longer lists is reported gone, even if this adapter still holds it open.
// Network thread only (the store itself is thread-safe).
class StoreSnapshotProvider final : public SnapshotProvider {
 public:
  explicit StoreSnapshotProvider(snapshot::SnapshotStore& store);
  ~StoreSnapshotProvider() override;
  StoreSnapshotProvider(const StoreSnapshotProvider&) = delete;
  StoreSnapshotProvider& operator=(const StoreSnapshotProvider&) = delete;

  // store.Latest() (checked on Open by size only; a corrupt file fails the
  // reads with the store's verification error, never serves bad bytes).
  std::optional<snapshot::SnapshotMeta> LatestSnapshot() override;
  bool ReadSnapshot(const snapshot::SnapshotMeta& meta, uint64_t offset, size_t max,
                    std::string& out, bool* gone, std::string* error) override;

 private:
  snapshot::SnapshotStore& store_;
  std::unique_ptr<snapshot::SnapshotSource> source_;  // the snapshot read last, if any
};

}  // namespace synod::transport
