// Plain value types of the transport's public API: endpoints, limits, the
// handshake's outcome and the client request/reply shapes.
//
// Nothing here mentions Cap'n Proto; users of transport/ (node/, client code)
// see only these structs and the paxos/ message types.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "paxos/configuration.h"
#include "paxos/types.h"

namespace synod::transport {

// Identifies a cluster. Before the cluster has agreed on one, it is the hash
// of the member list (MemberListClusterId).
using ClusterId = uint64_t;

// Where a replica listens (peers and clients share the one address).
struct PeerEndpoint {
  paxos::ReplicaId id = paxos::kNoReplica;
  std::string host;
  uint16_t port = 0;
};

// Cluster id of a cluster that has none yet: FNV-1a 64 of the canonical member
// list "1=host:port,2=host:port" (sorted by id), so every member computes the
// same value from the same --members flag. Never returns 0.
ClusterId MemberListClusterId(std::vector<PeerEndpoint> members);

// Size limits shared by both ends of a connection.
struct Limits {
  // Largest Cap'n Proto message a connection reads; a larger one closes that
  // connection. Also the traversal limit of each incoming message.
  size_t max_message_bytes = 64u << 20;
  // A sender closes a deliver()/submit() batch once it holds this many bytes
  // (a single larger message still goes alone, if under max_message_bytes).
  size_t max_batch_bytes = 4u << 20;
  // Largest number of commands in one value, entries in one Promise or
  // CatchupReply accepted by the decoder.
  size_t max_list_items = 1u << 20;
};

// What the other end said in the handshake (see synod.capnp Handshake.hello).
struct HandshakeInfo {
  bool accepted = false;
  std::string reason;  // why it was refused; empty when accepted
  paxos::ReplicaId server_replica = paxos::kNoReplica;
  ClusterId server_cluster = 0;
  bool has_history = false;    // the server's log is not empty
  std::string server_members;  // the server's member list text; empty from older servers

  // Added with runtime membership (false / 0 from older servers):
  bool removed = false;         // refused: our replica id was removed from the cluster
  paxos::Slot config_slot = 0;  // slot of the server's configuration (0: its static list)
  uint32_t features = 0;        // the server's kFeature* bits
};

// Handshake feature bits (synod.capnp Handshake.hello `features`).
// Membership changes while running (Server::SetPeers/SetRetired, PeerNetwork::SetPeers).
constexpr uint32_t kFeatureRuntimeMembership = 1u << 0;
// Reads configurations that record removed members' addresses
// (paxos::Configuration::RetiredAddress; a build without it voids them).
constexpr uint32_t kFeatureRetiredAddresses = 1u << 1;
// What servers and dialers of this build state.
constexpr uint32_t kFeatures = kFeatureRuntimeMembership | kFeatureRetiredAddresses;

// "" if a peer `id` whose hello states `features` has every bit of
// `required`; else why this build may not exchange peer messages with it
// ("replica N runs an older build that cannot read removed members'
// addresses: upgrade it" for kFeatureRetiredAddresses). Never throws.
std::string MissingFeaturesReason(paxos::ReplicaId id, uint32_t features, uint32_t required);

// Per-command answer of a replica to a client submission (wire OutcomeStatus).
enum class OutcomeStatus : uint8_t {
  kOk = 0,              // applied; `result` is the state machine's answer
  kNotLeader = 1,       // not applied; try the leader hint
  kBusy = 2,            // not applied; back off and retry
  kSessionExpired = 3,  // the client session is gone
  kUnknown = 4,         // may or may not have been applied
  kError = 5,           // rejected; `result` says why
  kApplyFailed = 6,     // applied as a failure (the StateMachine's Apply threw);
                        // `result` is the exception's message
  kRefused = 7,         // refused by a session limit: never applied, now or later;
                        // `result` says which limit
};

// Short name of a status, e.g. "notLeader".
const char* OutcomeStatusName(OutcomeStatus status);

// One command's outcome.
struct Outcome {
  OutcomeStatus status = OutcomeStatus::kError;
  std::string result;
  paxos::Slot slot = 0;
};

// A replica's answer to one submit() call: one outcome per command, in order.
struct ClientReply {
  std::vector<Outcome> outcomes;
  paxos::ReplicaId leader_hint = paxos::kNoReplica;
};

// Answer of a replica to transferLeader() (wire TransferStatus).
enum class TransferStatus : uint8_t {
  kHandedOver = 0,  // the replica stopped leading (or the target is the leader, or the
                    // target was told to take over and still may): wait for the target
  kResumed = 1,     // the transfer ended without a new leader; the replica still leads
  kNotLeader = 2,   // refused: not the leader; try leader_hint
  kInvalid = 3,     // refused: the target is not a voter; `reason` says why
  kBusy = 4,        // refused for now; `reason` says why
};

// Short name of a transfer status, e.g. "handedOver".
const char* TransferStatusName(TransferStatus status);

// A replica's answer to one transferLeader() call.
struct TransferReply {
  TransferStatus status = TransferStatus::kNotLeader;
  paxos::ReplicaId leader_hint = paxos::kNoReplica;  // kNoReplica when unknown
  std::string reason;
};

// The kinds of configuration change a client may ask for (wire MemberChangeKind).
enum class MemberChangeKind : uint8_t {
  kAddLearner = 0,  // a new member that votes in no quorum
  kPromote = 1,     // a learner becomes a voter
  kRemove = 2,      // a member leaves for good; its id can never return
};

// Short name of a change kind, e.g. "addLearner".
const char* MemberChangeKindName(MemberChangeKind kind);

// One configuration change, as a client asks the leader for it (changeMembers()).
struct MemberChange {
  MemberChangeKind kind = MemberChangeKind::kAddLearner;
  paxos::ReplicaId replica = paxos::kNoReplica;
  std::string address;   // kAddLearner: the new member's "HOST:PORT"; empty otherwise
  uint32_t wait_ms = 0;  // kPromote: how long the leader waits for the learner to catch up
};

// Answer of a replica to changeMembers() (wire ChangeStatus).
enum class ChangeStatus : uint8_t {
  kDone = 0,        // in effect at config_slot (`already`: it was before the call)
  kNotLeader = 1,   // refused: not the leader; try leader_hint
  kInvalid = 2,     // refused, nothing proposed; `reason` says why
  kBusy = 3,        // refused for now, nothing proposed; `reason` says why; retry
  kBehind = 4,      // promote refused: the learner was `behind` slots behind; nothing proposed
  kUnknown = 5,     // proposed at proposed_slot, then the replica lost track of it
  kSuperseded = 6,  // chosen at proposed_slot but void: another change took effect first
};

// Short name of a change status, e.g. "notLeader".
const char* ChangeStatusName(ChangeStatus status);

// A replica's answer to one changeMembers() call.
struct ChangeReply {
  ChangeStatus status = ChangeStatus::kNotLeader;
  paxos::ReplicaId leader_hint = paxos::kNoReplica;  // kNoReplica when unknown
  std::string reason;
  paxos::Slot config_slot = 0;    // kDone: the slot whose chosen value set that configuration
  uint64_t behind = 0;            // kBehind: slots the learner lagged
  paxos::Slot proposed_slot = 0;  // kUnknown, kSuperseded: where the change was proposed
  bool already = false;           // kDone: the change was in effect before the call
};

// Role of a replica, for status pages.
enum class Role : uint8_t { kFollower = 0, kCandidate = 1, kLeader = 2 };

// A replica's place in the configuration it knows (synod.capnp Membership):
// the core's own enum, whose values the wire carries.
using paxos::Membership;
using paxos::MembershipName;

// A replica's status, answered by status().
struct ReplicaStatus {
  paxos::ReplicaId id = paxos::kNoReplica;
  Role role = Role::kFollower;
  paxos::Ballot ballot;
  paxos::Slot chosen_point = 0;
  paxos::Slot applied = 0;
  paxos::ReplicaId leader = paxos::kNoReplica;  // kNoReplica when unknown
  uint32_t state_digest = 0;  // CRC32C of the applied state (see synod.capnp Status)
  // Membership (see synod.capnp Status; defaults from servers that predate it).
  paxos::Slot config_slot = 0;  // the slot whose chosen value set the configuration (0: initial)
  std::vector<paxos::Member> members;          // that configuration, sorted by id
  Membership membership = Membership::kVoter;  // this replica's place in it
};

// Monotonic clock used for deadlines and timers.
using Clock = std::chrono::steady_clock;

}  // namespace synod::transport
