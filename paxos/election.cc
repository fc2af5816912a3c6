#include "paxos/election.h"

namespace synod::paxos {

Election::Election(ReplicaState& state) : state_(state) { ResetTimer(); }

void Election::ResetTimer() {
  elapsed_ = 0;
  if (state_.role == Role::kCandidate) {
    // A candidate is as good as a leader for pre-vote purposes: while it runs
    // phase 1 it does not help rivals start another election.
    state_.ticks_since_leader_contact = 0;
  }
  uint32_t base = state_.options().election_ticks;
  timeout_ = static_cast<uint32_t>(state_.random().Uniform(base, 2 * base));
}

void Election::BecomeFollower() {
  state_.role = Role::kFollower;
  grants_.clear();
  ResetTimer();
}

void Election::OnLeaderContact(ReplicaId leader, Ballot ballot) {
  if (ballot < state_.leader_ballot && state_.leader != kNoReplica) return;
  state_.leader = leader;
  state_.leader_ballot = ballot;
  state_.ticks_since_leader_contact = 0;
  if (state_.role == Role::kFollower || state_.role == Role::kPreCandidate) {
    state_.role = Role::kFollower;
    grants_.clear();
    elapsed_ = 0;
  }
}

bool Election::HearsLiveLeaderOtherThan(ReplicaId candidate) const {
  if (state_.role == Role::kLeader) return candidate != state_.self();
  return state_.leader != kNoReplica && state_.leader != candidate &&
         state_.ticks_since_leader_contact < state_.options().election_ticks;
}

void Election::OnPromiseGranted() {
  // Like a Raft vote: having just helped a candidate, give it time to lead.
  state_.ticks_since_leader_contact = 0;
  elapsed_ = 0;
}

bool Election::OnTimeoutNow(ReplicaId from, const TimeoutNow& timeout) const {
  // Only from the leader this replica follows, in that leader's ballot, and
  // heard within the election timeout: a late TimeoutNow of a deposed
  // leader, one after this replica promised a newer ballot, or one from a
  // leader it has stopped hearing starts nothing.
  return (state_.role == Role::kFollower || state_.role == Role::kPreCandidate) &&
         state_.config().IsVoter(state_.self()) && state_.leader == from &&
         timeout.ballot == state_.leader_ballot && timeout.ballot >= state_.promised() &&
         state_.ticks_since_leader_contact < state_.options().election_ticks;
}

void Election::OnPreVoteRequest(ReplicaId from, const PreVoteRequest&) {
  bool heard_leader = state_.role == Role::kLeader ||
                      state_.ticks_since_leader_contact < state_.options().election_ticks;
  state_.Send(from, PreVoteReply{!heard_leader, state_.promised()});
}

Election::Action Election::OnPreVoteReply(ReplicaId from, const PreVoteReply& reply) {
  state_.NoteBallot(reply.promised);
  if (state_.role != Role::kPreCandidate || !reply.granted) return Action::kNone;
  if (!state_.config().IsVoter(from)) return Action::kNone;  // only voters' grants count
  grants_.insert(from);
  return state_.config().IsQuorum(grants_.size()) ? Action::kStartPhase1 : Action::kNone;
}

Election::Action Election::StartPreVote() {
  state_.role = Role::kPreCandidate;
  grants_.clear();
  grants_.insert(state_.self());
  ResetTimer();
  for (ReplicaId voter : state_.config().voters()) {
    if (voter != state_.self()) state_.Send(voter, PreVoteRequest{0});
  }
  return state_.config().IsQuorum(grants_.size()) ? Action::kStartPhase1 : Action::kNone;
}

Election::Action Election::Tick() {
  if (state_.role == Role::kLeader) {
    state_.ticks_since_leader_contact = 0;
    return Action::kNone;
  }
  if (state_.ticks_since_leader_contact < UINT32_MAX) ++state_.ticks_since_leader_contact;
  ++elapsed_;
  if (elapsed_ < timeout_) return Action::kNone;
  switch (state_.role) {
    case Role::kFollower:
    case Role::kPreCandidate:
      if (!state_.config().IsVoter(state_.self())) {
        // A learner, a removed member or one not yet added never campaigns.
        state_.role = Role::kFollower;
        elapsed_ = 0;
        return Action::kNone;
      }
      return StartPreVote();
    case Role::kCandidate:
      return Action::kAbandonCandidacy;
    case Role::kLeader:
      break;
  }
  return Action::kNone;
}

}  // namespace synod::paxos
