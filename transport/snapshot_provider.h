// SnapshotProvider: what a Server serves to peers that fetch a snapshot
// (PeerService.snapshotInfo / readSnapshot; see docs/transport.md, "Snapshot
// transfer"). The runtime implements it over its snapshot store
// (node/store_snapshot_provider.h).
//
// Threading: the Server calls every method on the network thread. Reads may
// block that thread briefly on disk (one pread of at most a chunk; the first
// read of a new snapshot also verifies its CRC32C, one full sequential read).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "snapshot/snapshot_meta.h"
#include "util/status.h"

namespace synod::transport {

// Serves the bytes of this replica's snapshots. Set in ServerOptions; must
// outlive the Server.
class SnapshotProvider {
 public:
  virtual ~SnapshotProvider() = default;

  // The newest snapshot that can be served, if any.
  virtual std::optional<snapshot::SnapshotMeta> LatestSnapshot() = 0;

  // Replaces `out` with up to `max` bytes of snapshot `meta` from `offset`
  // (fewer only at the end of the file; empty at or past it) and returns ok.
  // kNotFound if `meta` is no longer available (pruned, replaced): the peer
  // is told it is gone. Any other failure (an I/O or verification error) is
  // a failed call; `out` is then unspecified.
  virtual Status ReadSnapshot(const snapshot::SnapshotMeta& meta, uint64_t offset, size_t max,
                              std::string& out) = 0;
};

}  // namespace synod::transport
