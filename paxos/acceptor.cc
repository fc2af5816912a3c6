#include "paxos/acceptor.h"

#include "paxos/invariant.h"

namespace synod::paxos {

Acceptor::Acceptor(ReplicaState& state, Learner& learner, Election& election)
    : state_(state), learner_(learner), election_(election) {}

void Acceptor::OnPrepare(ReplicaId from, const Prepare& prepare) {
  if (prepare.ballot.replica != from || prepare.ballot.IsNull()) return;  // malformed
  if (prepare.ballot < state_.promised()) {
    state_.Send(from, Reject{prepare.ballot, state_.promised()});
    return;
  }
  if (prepare.ballot > state_.promised()) {
    // Stickiness: do not help a challenger while a live leader is heard,
    // unless that leader, in the ballot this replica follows, handed
    // leadership to it (TimeoutNow) and it is a voter.
    if (!IsTransferFromFollowedLeader(from, prepare) && election_.HearsLiveLeaderOtherThan(from)) {
      return;
    }
    state_.SetPromised(prepare.ballot);
    election_.OnPromiseGranted();
  }
  SendPromisePage(from, prepare.ballot, prepare.from_slot == 0 ? 1 : prepare.from_slot);
}

bool Acceptor::IsTransferFromFollowedLeader(ReplicaId from, const Prepare& prepare) const {
  return !prepare.transfer_from.IsNull() && prepare.transfer_from == state_.leader_ballot &&
         state_.config().IsVoter(from);
}

void Acceptor::SendPromisePage(ReplicaId to, Ballot ballot, Slot from_slot) {
  Promise promise;
  promise.ballot = ballot;
  promise.from_slot = from_slot;
  promise.chosen_point = learner_.chosen_point();
  promise.compacted = state_.compacted();
  size_t bytes = 0;
  const auto& log = state_.log();
  auto it = log.lower_bound(from_slot);
  for (; it != log.end(); ++it) {
    if (promise.entries.size() >= state_.options().max_page_entries ||
        bytes >= state_.options().max_page_bytes) {
      break;
    }
    if (it->second.ballot >= ballot) {
      // Already accepting in this ballot: the proposer finished phase 1 and
      // this Prepare is a late duplicate. A promise reports only lower ballots.
      SYNOD_INVARIANT(it->second.ballot == ballot, "accepted above the promise");
      return;
    }
    promise.entries.push_back(SlotEntry{it->first, it->second});
    bytes += it->second.value->ByteSize();
  }
  promise.more = it != log.end();
  promise.next_slot = promise.more ? it->first : state_.LastSlot() + 1;
  if (promise.next_slot < from_slot) promise.next_slot = from_slot;
  state_.SendAfterPersist(to, std::move(promise));
}

void Acceptor::OnAccept(ReplicaId from, const Accept& accept) {
  if (accept.ballot.replica != from || accept.ballot.IsNull() || accept.slot == 0 ||
      accept.value == nullptr) {
    return;  // malformed
  }
  if (accept.ballot < state_.promised()) {
    state_.Send(from, Reject{accept.ballot, state_.promised()});
    return;
  }
  if (accept.slot <= state_.compacted()) {
    // Chosen and deleted here (a leader that did not hear this acceptor's
    // promise retransmits). Nothing to accept; tell the leader where this
    // log starts, so it installs a snapshot instead of waiting for a vote.
    state_.SetPromised(accept.ballot);
    election_.OnLeaderContact(from, accept.ballot);
    state_.Send(from, CatchupReply{{}, state_.snapshot_slot()});
    learner_.OnCommitInfo(from, accept.ballot, accept.commit);
    return;
  }
  const Entry* existing = state_.Find(accept.slot);
  if (existing != nullptr && existing->chosen && !SameValue(existing->value, accept.value)) {
    // Another value was chosen here, so in a ballot above this one: the sender
    // is a stale leader (e.g. resumed from a pause) talking to an acceptor that
    // learned the slot without promising the newer ballot. Never overwrite a
    // chosen value and never acknowledge: ignore it.
    return;
  }
  state_.SetPromised(accept.ballot);
  election_.OnLeaderContact(from, accept.ballot);
  if (existing != nullptr && existing->ballot == accept.ballot) {
    SYNOD_INVARIANT(SameValue(existing->value, accept.value),
                    "one ballot proposed two values for one slot");
  } else {
    bool chosen = existing != nullptr && existing->chosen;  // same value, checked above
    state_.PutEntry(accept.slot, Entry{accept.ballot, accept.value, chosen});
  }
  state_.SendAfterPersist(from, Accepted{accept.ballot, accept.slot});
  learner_.OnCommitInfo(from, accept.ballot, accept.commit);
}

void Acceptor::OnHeartbeat(ReplicaId from, const Heartbeat& heartbeat) {
  if (heartbeat.ballot.replica != from || heartbeat.ballot.IsNull()) return;
  if (heartbeat.ballot < state_.promised()) {
    state_.Send(from, Reject{heartbeat.ballot, state_.promised()});
    return;
  }
  election_.OnLeaderContact(from, heartbeat.ballot);
  // Learn the commit point first: the reply then reports what this replica
  // knows chosen after it (a transferring leader waits for exactly that).
  // A catch-up request for what it lacks follows the reply.
  learner_.LearnCommitPoint(heartbeat.ballot, heartbeat.commit);
  state_.Send(from, HeartbeatReply{heartbeat.ballot, learner_.chosen_point()});
  learner_.RequestMissing(from, heartbeat.commit);
}

}  // namespace synod::paxos
