// Election: eventual leader election — election timers, pre-vote and the
// "do I hear a live leader" test behind leader stickiness.
//
// A follower that hears no leader for a randomized timeout (in ticks, from the
// injected random source) asks for pre-votes; only when a quorum confirms it
// has not heard a leader either does it raise its ballot (phase 1, in
// Proposer). Safety never depends on this: two or zero leaders are safe.
// Internal to the core.
#pragma once

#include <set>

#include "paxos/message.h"
#include "paxos/replica_state.h"

namespace synod::paxos {

class Election {
 public:
  // What Tick asks the core to do next.
  enum class Action : uint8_t { kNone, kStartPhase1, kAbandonCandidacy };

  explicit Election(ReplicaState& state);

  // A message from a leader in `ballot` (>= our promise) arrived.
  void OnLeaderContact(ReplicaId leader, Ballot ballot);
  // This acceptor just promised a candidate's higher ballot: restart the
  // timers so the candidate has an election timeout to finish phase 1.
  void OnPromiseGranted();
  // True while a leader other than `candidate` was heard within the base election timeout.
  bool HearsLiveLeaderOtherThan(ReplicaId candidate) const;

  // True if this replica should start a transfer campaign now: it is a
  // voter, follows `from` as leader in `timeout.ballot`, heard it within
  // election_ticks and promised nothing higher.
  bool OnTimeoutNow(ReplicaId from, const TimeoutNow& timeout) const;

  void OnPreVoteRequest(ReplicaId from, const PreVoteRequest& request);
  // Returns kStartPhase1 when this reply completes a quorum of pre-votes.
  Action OnPreVoteReply(ReplicaId from, const PreVoteReply& reply);
  Action Tick();

  // Becomes (or stays) a follower with a fresh randomized timeout.
  void BecomeFollower();
  // Restarts the election timer (e.g. when phase 1 starts).
  void ResetTimer();

 private:
  Action StartPreVote();

  ReplicaState& state_;
  uint32_t elapsed_ = 0;
  uint32_t timeout_ = 0;
  std::set<ReplicaId> grants_;
};

}  // namespace synod::paxos
