// StoreSnapshotProvider: what this replica's Server serves to peers fetching
// a snapshot (transport::SnapshotProvider), read from its SnapshotStore.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "snapshot/snapshot_store.h"
#include "transport/snapshot_provider.h"

namespace synod::node {

// Serves the snapshots of a SnapshotStore (which must outlive it). Keeps the
// last snapshot it read open (verified once by OpenReader), so consecutive
// reads of one snapshot cost one pread each. A snapshot that the store no
// longer lists is reported gone, even if this adapter still holds it open.
// Network thread only (the store itself is thread-safe).
class StoreSnapshotProvider final : public transport::SnapshotProvider {
 public:
  explicit StoreSnapshotProvider(snapshot::SnapshotStore& store);
  ~StoreSnapshotProvider() override;
  StoreSnapshotProvider(const StoreSnapshotProvider&) = delete;
  StoreSnapshotProvider& operator=(const StoreSnapshotProvider&) = delete;

  // store.Latest() (checked on Open by size only; a corrupt file fails the
  // reads with the store's verification error, never serves bad bytes).
  std::optional<snapshot::SnapshotMeta> LatestSnapshot() override;
  // kNotFound once the store no longer lists `meta` (or OpenReader no longer
  // finds it); otherwise the store's failure if it cannot be opened
  // (unreadable, corrupt) or read.
  Status ReadSnapshot(const snapshot::SnapshotMeta& meta, uint64_t offset, size_t max,
                      std::string& out) override;

 private:
  snapshot::SnapshotStore& store_;
  std::unique_ptr<snapshot::SnapshotSource> source_;  // the snapshot read last, if any
};

}  // namespace synod::node
