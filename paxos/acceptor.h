// Acceptor role: promises ballots (phase 1b) and accepts values (phase 2b).
//
// Replies that report a promise or an accept are sent only after that state is
// durable (Ready::messages_after_persist). Leader stickiness: while this
// replica hears from a live leader it ignores Prepare from anyone else, so a
// replica that was merely cut off cannot depose a healthy leader; a Prepare
// from a voter whose `transfer_from` is the ballot of the leader this replica
// follows (that leader handed leadership to it) is promised anyway. Internal.
#pragma once

#include "paxos/election.h"
#include "paxos/learner.h"
#include "paxos/message.h"
#include "paxos/replica_state.h"

namespace synod::paxos {

class Acceptor {
 public:
  // All references must outlive the acceptor.
  Acceptor(ReplicaState& state, Learner& learner, Election& election);

  void OnPrepare(ReplicaId from, const Prepare& prepare);
  void OnAccept(ReplicaId from, const Accept& accept);
  void OnHeartbeat(ReplicaId from, const Heartbeat& heartbeat);

 private:
  // True if `prepare` comes from a voter that the leader this replica
  // follows, in the ballot it follows, handed leadership to (transfer_from).
  bool IsTransferFromFollowedLeader(ReplicaId from, const Prepare& prepare) const;
  // Sends one page of accepted entries at slots >= from_slot for `ballot`.
  void SendPromisePage(ReplicaId to, Ballot ballot, Slot from_slot);

  ReplicaState& state_;
  Learner& learner_;
  Election& election_;
};

}  // namespace synod::paxos
