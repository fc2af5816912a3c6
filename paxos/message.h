// Messages exchanged between replicas by the Multi-Paxos core.
//
// Plain structs: the core produces and consumes them; transport/ converts them
// to and from the wire. Every message names the ballot it belongs to, so a
// stale or duplicated message is recognised and ignored or rejected.
#pragma once

#include <string>
#include <variant>
#include <vector>

#include "paxos/types.h"

namespace synod::paxos {

// Pre-vote: "would you support an election?" Sent before raising any ballot,
// so a replica that is merely cut off never disturbs a healthy leader.
// `first_unchosen` is always 0 and no receiver consults it: unlike Raft's
// pre-vote, no log comparison is needed, because any voter may lead safely
// (its phase 1 recovers every value a quorum may have accepted). The field
// stays on the wire so that replicas of different builds understand each other.
struct PreVoteRequest {
  Slot first_unchosen = 0;  // unused: always 0 (see above)
};

// Answer to PreVoteRequest. `promised` lets the candidate pick a high enough round.
struct PreVoteReply {
  bool granted = false;
  Ballot promised;
};

// Phase 1a: promise `ballot` and report accepted entries at slots >= from_slot.
// Also used to fetch the next page of a promise already given for `ballot`.
// `transfer_from`: the ballot of the leader that handed leadership to the
// candidate (TimeoutNow); null if none did. An acceptor that follows a leader
// in exactly that ballot promises even while it hears that leader (leader
// stickiness does not apply) if the sender is a voter of its configuration.
// The promise itself is an ordinary one.
struct Prepare {
  Ballot ballot;
  Slot from_slot = 0;
  Ballot transfer_from;
};

// Phase 1b: the acceptor promised `ballot`; `entries` are its accepted entries
// in [from_slot, next_slot) (one page). If `more`, the proposer asks for the
// next page with Prepare(ballot, next_slot).
struct Promise {
  Ballot ballot;
  Slot from_slot = 0;
  Slot next_slot = 0;
  bool more = false;
  Slot chosen_point = 0;  // acceptor's contiguous chosen prefix
  // The acceptor deleted its entries at slots <= compacted (all chosen, held
  // in its snapshot): the proposer must never propose there.
  Slot compacted = 0;
  std::vector<SlotEntry> entries;
};

// Phase 2a: accept `value` for `slot` in `ballot`. `commit` is the sender's
// contiguous chosen prefix (every slot <= commit is chosen).
struct Accept {
  Ballot ballot;
  Slot slot = 0;
  ValuePtr value;
  Slot commit = 0;
};

// Phase 2b: the acceptor durably accepted `slot` in `ballot`.
struct Accepted {
  Ballot ballot;
  Slot slot = 0;
};

// An acceptor refuses `ballot` because it promised the higher `promised`.
struct Reject {
  Ballot ballot;
  Ballot promised;
};

// Leader liveness and commit point; answered with HeartbeatReply.
struct Heartbeat {
  Ballot ballot;
  Slot commit = 0;
};

// Follower's answer to a heartbeat of `ballot`.
struct HeartbeatReply {
  Ballot ballot;
  Slot chosen_point = 0;
};

// Learner asks for chosen values in [from_slot, to_slot].
struct CatchupRequest {
  Slot from_slot = 0;
  Slot to_slot = 0;
};

// Chosen values (only values the sender knows are chosen). If the request
// started at or below `compacted`, the sender has deleted those slots: the
// requester must install the sender's snapshot instead (entries then empty).
struct CatchupReply {
  std::vector<CommittedEntry> entries;
  Slot compacted = 0;
};

// Leadership transfer: the leader of `ballot` tells the replica it hands
// leadership to (caught up to its chosen point) to start phase 1 at once,
// without waiting for an election timeout and without pre-vote.
struct TimeoutNow {
  Ballot ballot;
};

using MessageBody =
    std::variant<PreVoteRequest, PreVoteReply, Prepare, Promise, Accept, Accepted, Reject,
                 Heartbeat, HeartbeatReply, CatchupRequest, CatchupReply, TimeoutNow>;

// A message with its addressing.
struct Message {
  ReplicaId from = kNoReplica;
  ReplicaId to = kNoReplica;
  MessageBody body;
};

// Short human-readable form for traces, e.g. "1->2 Accept b=3.1 s=7".
std::string DescribeMessage(const Message& message);

}  // namespace synod::paxos
