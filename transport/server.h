// Server: the one listen address of a replica, serving peers and clients.
//
// Every accepted connection gets the Handshake bootstrap capability. A hello
// with the wrong cluster id, another member list, an unknown or removed
// replica id (for peers), a peer whose build lacks a feature this server
// requires (SetRequiredPeerFeatures) or a bad role is refused and logged; the
// connection is closed shortly after the refusal reply. A connection that does not complete a hello
// within handshake_timeout (handshake_timeout_under_pressure when the waiting pool is more than
// half full at its accept) is closed. A malformed or oversize message closes that connection only.
//
// Admission: connections are counted in three budgets, so that no kind can
// lock another out. Connections that have not (successfully) said hello share
// max_pending_connections, at most max_pending_per_address from one remote IP
// address. A new connection whose address is at its limit, or holds as many
// as any address while the pool is full, is closed at accept (cheaply);
// otherwise a full pool closes the oldest waiting connection of the address
// holding the most, so a flood of idle sockets from some addresses cannot
// keep a hello from another address out. A hello
// accepted as a member moves the connection to that member's budget
// (max_connections_per_member; a new one closes one of that member's others:
// first one whose address is not the member's configured host, then the one
// with the least recent activity), and one
// accepted as a client to the clients' budget (max_client_connections; a new
// one closes the least recently active client connection). Warnings about
// such closures are rate-limited (one line, then one summary per
// log_summary_period per kind). accept() failing for lack of file descriptors
// closes one waiting connection (or, if none waits, the least recently active
// client connection) and retries after accept_retry_delay. Listen() shrinks
// the client and pending budgets to fit the open file limit.
// Handshaken peers may also read this replica's snapshots (snapshotInfo /
// readSnapshot, served from options.snapshot_provider; see snapshot_provider.h).
//
// Threading: network thread only (constructor, methods, destructor).
// Destroying the Server closes every connection and the listener.
#pragma once

#include <spdlog/logger.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "transport/event_loop.h"
#include "transport/handlers.h"
#include "transport/return_path.h"
#include "transport/snapshot_provider.h"
#include "transport/types.h"
#include "util/status.h"

namespace synod::transport {

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;  // 0: pick a free port (see Server::port())
  ClusterId cluster_id = 0;
  // Hash of this replica's member list (MemberListClusterId); 0: none. When
  // set, a peer stating another list is refused, and a peer that has not yet
  // applied the agreed id (it says this hash) is still accepted; until this
  // server has applied the agreed id itself (cluster_id == member_list_id), a
  // peer with this list that states an agreed id is accepted too. Once it
  // has (cluster_id != member_list_id) and has been given a configuration
  // after a change (SetRetired with config_slot > 0), a peer or client
  // stating the agreed id is accepted whatever list it states.
  ClusterId member_list_id = 0;
  // This replica's member list "1=host:port,...", reported in hello replies
  // (clients learn the cluster's members and addresses from a majority).
  std::string members;
  paxos::ReplicaId self = paxos::kNoReplica;
  // Replica ids allowed to connect as peers (self is never allowed).
  std::vector<paxos::ReplicaId> peers;
  Limits limits;
  // Connections that have not said hello yet (or were refused), in total ...
  size_t max_pending_connections = 256;
  // ... and from one remote IP address.
  size_t max_pending_per_address = 32;
  // Connections per member that said hello as that member (its link, a
  // snapshot fetch, a stale one from before its restart).
  size_t max_connections_per_member = 4;
  // Connections that said hello as clients.
  size_t max_client_connections = 1024;
  // Time from accept to a completed hello while at most half of
  // max_pending_connections are waiting (generous: an event-loop stall or a
  // slow peer must not fail a legitimate hello) ...
  std::chrono::milliseconds handshake_timeout{5000};
  // ... and while more are waiting (a flood: idle sockets go sooner).
  std::chrono::milliseconds handshake_timeout_under_pressure{1000};
  // Descriptors kept free for everything but connections (storage, snapshot
  // files, outgoing peer links) when Listen() shrinks max_client_connections
  // and max_pending_connections to fit the open file limit.
  size_t reserved_file_descriptors = 128;
  // Wait before accepting again after accept() failed for lack of resources
  // (EMFILE, ENFILE, ENOBUFS, ENOMEM).
  std::chrono::milliseconds accept_retry_delay{100};
  // Repeated warnings of one kind: one line, then one summary per period.
  std::chrono::milliseconds log_summary_period{10000};
  // Time a refused connection stays open so the refusal reply reaches the peer.
  std::chrono::milliseconds refusal_linger{500};
  // A connection whose writes make no progress this long is closed.
  std::chrono::milliseconds write_stall_timeout{30000};
  // In-flight incoming call bytes per connection before the server stops
  // reading from it (Cap'n Proto flow limit).
  size_t flow_limit_bytes = 64u << 20;
  // Serves PeerService.snapshotInfo/readSnapshot to handshaken peers; must
  // outlive the Server. Null: those calls fail ("serves no snapshots").
  SnapshotProvider* snapshot_provider = nullptr;
  // Largest readSnapshot reply; a larger maxBytes is lowered to this. Kept
  // well under limits.max_message_bytes (the reader's traversal limit).
  size_t max_snapshot_chunk_bytes = 4u << 20;
  // Where deliver() calls from peers are held so answers can leave in their
  // returns (see return_path.h); must outlive the Server. Null: every call
  // returns at once, empty.
  ReturnPath* return_path = nullptr;
  // Reported to callers as hasHistory; null means false.
  std::function<bool()> has_history;
  // Where refusals and errors are logged; null: a private stderr logger.
  std::shared_ptr<spdlog::logger> logger;
  // The kFeature* bits this server states in hello replies. Always kFeatures
  // in production; tests state fewer to play an older build.
  uint32_t features = kFeatures;
};

// Counters, for tests and status pages.
struct ServerStats {
  uint64_t accepted = 0;             // TCP connections accepted
  uint64_t closed_at_accept = 0;     // its address at max_pending_per_address, or the pool
                                     // full and its address holding the most
  uint64_t evicted_pending = 0;      // oldest of the address holding the most, closed to
                                     // make room (pool full, or out of fds)
  uint64_t evicted_members = 0;      // a member's connection closed: max_connections_per_member
  uint64_t evicted_clients = 0;      // least recently active client: max_client_connections
  uint64_t accept_errors = 0;        // accept() failures (e.g. EMFILE)
  uint64_t refused_handshakes = 0;   // hello refused
  uint64_t handshake_timeouts = 0;   // closed for not saying hello in time
  uint64_t suppressed_warnings = 0;  // warnings counted into summary lines instead
  uint64_t bad_batches = 0;          // deliver() calls that failed validation
  uint64_t peer_messages = 0;        // messages handed to the PeerMessageHandler
  uint64_t client_commands = 0;      // commands handed to the ClientRequestHandler
  uint64_t snapshot_reads = 0;       // readSnapshot calls answered with data
  uint64_t snapshot_bytes_served = 0;
  size_t client_budget = 0;   // max_client_connections in force (after Listen())
  size_t pending_budget = 0;  // max_pending_connections in force (after Listen())
};

class Server {
 public:
  // `peer_handler` and `client_handler` must outlive the Server; either may be
  // null, in which case hellos in that role are refused.
  Server(EventLoop& loop, ServerOptions options, PeerMessageHandler* peer_handler,
         ClientRequestHandler* client_handler);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds host:port and starts accepting. kInvalidArgument for a bad host,
  // kIoError if the socket cannot be bound (e.g. address in use). Call once.
  Status Listen();

  // The bound port (valid after a successful Listen()).
  uint16_t port() const;

  // Changes the cluster id required from now on (bootstrap agreed on one).
  void SetClusterId(ClusterId cluster_id);

  // Replaces the replica ids allowed to connect as peers (options.peers; self
  // is never allowed). Accepted connections of ids no longer listed are closed
  // (from a posted Asio handler, so this is safe inside any callback on the
  // network thread); their hellos are refused from now on ("unknown replica").
  void SetPeers(std::vector<paxos::ReplicaId> peers);

  // Replaces the ids removed from the cluster, as of the configuration chosen
  // at `config_slot` (stated as configSlot in every hello reply; 0: the
  // initial configuration). A hello from a removed id is refused with
  // removed = true and the reason "replica N was removed from the cluster
  // (configuration slot S)", even if it is also in the peers; its accepted
  // connections are closed as by SetPeers. With config_slot > 0 the member
  // list no longer counts for peers stating the agreed id (member_list_id).
  void SetRetired(std::vector<paxos::ReplicaId> retired, paxos::Slot config_slot);

  // Replaces the member list text stated in hello replies (options.members;
  // also where AdmitMember finds a member's configured host).
  void SetMembers(std::string members);

  // Feature bits (kFeature*) a peer's hello must state from now on (0 at
  // construction: none). A peer hello lacking one is refused with the reason
  // MissingFeaturesReason gives ("replica N runs an older build that cannot
  // read removed members' addresses: upgrade it"); accepted peer connections
  // whose hello lacked one are closed as by SetPeers. Client hellos are not
  // checked. The replica requires kFeatureRetiredAddresses once the
  // configuration in effect records a removed member's address.
  void SetRequiredPeerFeatures(uint32_t features);

  // The features stated by the latest peer hello from replica `id` that got
  // past the cluster and member checks (accepted, or refused only for its
  // features) since this Server was constructed; nullopt if none. Tells the
  // build of a member that only dials us.
  std::optional<uint32_t> PeerFeatures(paxos::ReplicaId id) const;

  // Open connections (handshaken or not).
  size_t connection_count() const;
  // Of those, the ones waiting for (or refused at) hello.
  size_t pending_count() const;
  // Of those, the ones accepted as clients.
  size_t client_count() const;

  ServerStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace synod::transport
