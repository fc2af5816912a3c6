// PeerNetwork: sends Paxos messages to the other replicas.
//
// Send() never blocks: it queues the message for its destination (a bounded
// queue per peer; when full, the oldest queued message is dropped, which
// Paxos tolerates). Each peer has its own connection, opened at construction
// (or when SetPeers adds the peer) and re-opened with exponential backoff
// after any failure. Everything queued
// for a peer is coalesced into few deliver() calls (bounded by bytes), with
// up to max_calls_in_flight calls outstanding per connection. Every call and
// every handshake has a deadline; a miss closes that connection only, so a
// peer that accepts TCP but never answers (a paused process) never holds up
// traffic to the others. A hello reply that lacks a feature this network
// requires (SetRequiredFeatures) counts as a refusal. With a ReturnPath, messages for a peer whose
// deliver() call this replica's Server holds leave in that call's return, and
// messages a peer put in the returns of our calls go to reply_handler.
//
// Threading: network thread only. Destroying it closes all connections;
// queued messages are discarded.
#pragma once

#include <spdlog/logger.h>

#include <chrono>
#include <functional>
#include <memory>
#include <vector>

#include "paxos/message.h"
#include "transport/event_loop.h"
#include "transport/handlers.h"
#include "transport/return_path.h"
#include "transport/types.h"

namespace synod::transport {

struct PeerNetworkOptions {
  ClusterId cluster_id = 0;
  // Stated in every hello (see ServerOptions::member_list_id); 0: none. A
  // peer that refuses `cluster_id` and states this hash as its own id (an
  // older build, which checks only the hash) is greeted with the hash.
  ClusterId member_list_id = 0;
  paxos::ReplicaId self = paxos::kNoReplica;
  // The other replicas (an entry for `self` is ignored).
  std::vector<PeerEndpoint> peers;
  Limits limits;
  size_t max_queue_messages = 65536;    // per peer
  size_t max_queue_bytes = 256u << 20;  // per peer, by EstimateWireBytes
  // Messages queued longer than this (a peer down or unreachable) are dropped
  // instead of sent: Paxos retransmits what still matters, and a returning
  // replica is not flooded with stale traffic (it catches up from the log or
  // a snapshot instead).
  std::chrono::milliseconds max_queue_age{3000};
  size_t max_calls_in_flight = 8;  // per connection
  std::chrono::milliseconds call_timeout{2000};
  std::chrono::milliseconds connect_timeout{2000};  // TCP connect + hello
  std::chrono::milliseconds backoff_initial{50};
  std::chrono::milliseconds backoff_max{2000};
  std::chrono::milliseconds write_stall_timeout{30000};
  std::shared_ptr<spdlog::logger> logger;  // null: a private stderr logger
  // "link to replica N lost" lines: one per peer, then one summary per period.
  std::chrono::milliseconds log_summary_period{10000};
  // Where this replica's Server holds peers' deliver() calls (return_path.h):
  // messages for a peer with a held call leave in that call's return first.
  // Must outlive the PeerNetwork. Null: messages leave in calls only.
  ReturnPath* return_path = nullptr;
  // Receives the messages peers put in the returns of our deliver() calls
  // (checked like the Server checks calls: from the called peer, to self).
  // Must outlive the PeerNetwork. Null: such messages are dropped.
  PeerMessageHandler* reply_handler = nullptr;
  // The kFeature* bits stated in hellos. Always kFeatures in production;
  // tests state fewer to play an older build.
  uint32_t features = kFeatures;
};

// Per-peer counters and state.
struct PeerLinkState {
  bool connected = false;          // handshaken and accepted
  HandshakeInfo last_handshake;    // the latest hello reply (accepted or not)
  uint64_t handshakes = 0;         // hello replies received
  uint64_t connects = 0;           // connection attempts
  uint64_t sent_messages = 0;      // in calls the peer answered, or in returns
  uint64_t returned_messages = 0;  // of those, sent in the return of the peer's call
  uint64_t reply_messages = 0;     // received in the returns of our calls
  uint64_t dropped_messages = 0;   // queue overflow or lost with a failed call
  uint64_t calls = 0;              // deliver() calls sent
  uint64_t failed_calls = 0;
  size_t queued_messages = 0;
};

class PeerNetwork {
 public:
  // Called on the network thread after every hello reply from a peer.
  using HandshakeObserver = std::function<void(paxos::ReplicaId peer, const HandshakeInfo& info)>;

  // Starts connecting to every peer.
  PeerNetwork(EventLoop& loop, PeerNetworkOptions options);
  ~PeerNetwork();
  PeerNetwork(const PeerNetwork&) = delete;
  PeerNetwork& operator=(const PeerNetwork&) = delete;

  // Queues `message` for `message.to`. Returns false (and drops it) if the
  // destination is not a known peer; true otherwise (even if that made the
  // queue drop an older message).
  bool Send(paxos::Message message);

  // Uses `cluster_id` in hellos from now on (existing connections stay).
  void SetClusterId(ClusterId cluster_id);

  // Replaces the set of peers (an entry for `self` or kNoReplica is ignored;
  // of two entries with one id the first counts). A new id gets a link that
  // starts connecting at once; an id no longer present loses its link (its
  // connection closes, its queued messages are dropped and logged, Send to it
  // returns false and LinkState reports the default state); an id whose host
  // or port changed reconnects to the new endpoint, keeping its queue and
  // counters. Unchanged links are untouched. Connections are closed from an
  // Asio handler posted by this call, so it may be called from anywhere on the
  // network thread, including the handshake observer and the reply_handler.
  void SetPeers(std::vector<PeerEndpoint> peers);

  // Feature bits (kFeature*) a peer's hello reply must state from now on (0
  // at construction: none). A reply lacking one counts as a refusal (the
  // link backs off and retries; LinkState's last_handshake has accepted
  // false and the MissingFeaturesReason, "replica N runs an older build that
  // cannot read removed members' addresses: upgrade it", logged at most once
  // per log_summary_period per peer); links connected to such a peer are
  // closed (from a posted Asio handler, so this may be called anywhere on the
  // network thread). The replica requires kFeatureRetiredAddresses once the
  // configuration in effect records a removed member's address.
  void SetRequiredFeatures(uint32_t features);

  // Sets the observer of hello replies (replaces any previous one).
  void SetHandshakeObserver(HandshakeObserver observer);

  // State of the link to `peer` (default state for an unknown peer).
  PeerLinkState LinkState(paxos::ReplicaId peer) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace synod::transport
