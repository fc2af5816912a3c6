// SnapshotFetcher: pulls a peer's latest snapshot over Cap'n Proto into a
// SnapshotChunkSink (the local snapshot store, for the catch-up of a replica
// that is behind the peer's compacted log). Protocol, flow control and
// resume: docs/transport.md, "Snapshot transfer".
//
// One Fetch connects to the peer and says hello as a peer (a Dialer, as
// PeerNetwork does), asks snapshotInfo, starts (or resumes) a receive in the
// sink, reads the snapshot in chunks with at most `window` readSnapshot calls
// in flight, hands them to the sink in offset order (at most `window` chunks
// waiting there) and has the sink install it (size + CRC32C check, atomic
// install). On any failure the sink keeps the partial data durably, so the
// next Fetch of the same snapshot - also from a later process - resumes where
// this one stopped; a snapshot the peer pruned meanwhile (gone) is abandoned
// instead.
//
// Threading: network thread only (constructor, methods, destructor, and the
// done callback runs there). The disk work is the sink's, off this thread.
// Destroying the fetcher cancels a fetch in flight without calling its
// callback; the sink must outlive the fetcher.
#pragma once

#include <spdlog/logger.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "snapshot/snapshot_meta.h"
#include "transport/event_loop.h"
#include "transport/snapshot_chunk_sink.h"
#include "transport/types.h"
#include "util/status.h"

namespace synod::transport {

struct SnapshotFetcherOptions {
  // The peer to fetch from. peer.id, unless kNoReplica, must be the replica
  // that answers the hello.
  PeerEndpoint peer;
  // Our identity in the hello (as in PeerNetworkOptions): the peer's Server
  // must list `self` among its peers.
  ClusterId cluster_id = 0;
  paxos::ReplicaId self = paxos::kNoReplica;
  // Bytes per readSnapshot call; at most the peer's max_snapshot_chunk_bytes
  // (ServerOptions, 4 MiB by default); lowered to kMaxSnapshotChunkBytes and
  // to half of limits.max_message_bytes.
  size_t chunk_bytes = 1u << 20;
  // Chunks requested but not yet handed to the sink (readSnapshot calls in
  // flight plus replies that came ahead of an earlier one), and chunks handed
  // to the sink but not yet written (flow control: bounds memory to about
  // window * chunk_bytes at the peer and twice that here). At least 1.
  size_t window = 4;
  std::chrono::milliseconds connect_timeout{2000};  // TCP connect + hello
  std::chrono::milliseconds call_timeout{10000};    // each snapshotInfo / readSnapshot
  std::chrono::milliseconds overall_timeout{600000};
  Limits limits;
  std::chrono::milliseconds write_stall_timeout{30000};
  std::shared_ptr<spdlog::logger> logger;  // null: a private stderr logger
  // Feature bits (kFeature*) the peer's hello reply must state: one lacking
  // any is refused (MissingFeaturesReason) and nothing is read from it. The
  // replica requires kFeatureRetiredAddresses once its configuration in
  // effect records a removed member's address (a snapshot from a build that
  // voided that configuration would carry another one).
  uint32_t required_features = 0;
};

// Largest chunk_bytes a fetcher uses (larger values are lowered to it).
inline constexpr size_t kMaxSnapshotChunkBytes = 16u << 20;

// Outcome of one Fetch.
struct FetchResult {
  // Ok once the snapshot is installed; otherwise kUnavailable with why not
  // (refused, the local store's or the install's failure, a timeout, ...).
  Status status = Status::Unavailable("not fetched");
  bool ok() const { return status.ok(); }
  // The peer's snapshot (once snapshotInfo answered); on success the installed one.
  snapshot::SnapshotMeta meta;
  uint64_t bytes_transferred = 0;  // bytes this Fetch handed to the sink (written unless it failed)
  uint64_t resumed_from = 0;       // bytes kept from an earlier attempt
  double seconds = 0;              // from Fetch to the result
  bool gone = false;               // the peer pruned the snapshot mid-transfer: fetch again now
};

class SnapshotFetcher {
 public:
  using Done = std::function<void(FetchResult result)>;

  // Does nothing until Fetch. `sink` must outlive the fetcher.
  SnapshotFetcher(EventLoop& loop, SnapshotChunkSink& sink, SnapshotFetcherOptions options);
  ~SnapshotFetcher();
  SnapshotFetcher(const SnapshotFetcher&) = delete;
  SnapshotFetcher& operator=(const SnapshotFetcher&) = delete;

  // Fetches the peer's latest snapshot if its applied slot is >= at_least_slot
  // (else fails, saying what the peer has) and installs it through the sink.
  // `done` is called exactly once, later (never inside Fetch), on the network
  // thread - unless the fetcher is destroyed first. A Fetch while another is
  // in flight fails at once with an error (the one in flight continues). The
  // callback may call Fetch again or destroy the fetcher.
  void Fetch(uint64_t at_least_slot, Done done);

  // Stops the fetch in flight, if any; its callback gets ok=false, error
  // "cancelled". The partial file is kept (durable) for a later resume; an
  // install already handed to the sink (every byte received) still completes.
  void Cancel();

  // A fetch is in flight.
  bool busy() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace synod::transport
