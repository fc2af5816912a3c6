// Learner role: knows which slots are chosen, hands chosen values to the
// application in slot order exactly once per core lifetime, and fetches chosen
// values it is missing from other replicas.
//
// A slot is marked chosen only when this replica holds the value accepted in
// the ballot that was chosen there: either it accepted the leader's value in
// the leader's current ballot and the leader's commit point covers the slot, or
// another replica sent the value as chosen. Internal to the core.
#pragma once

#include "paxos/message.h"
#include "paxos/replica_state.h"

namespace synod::paxos {

class Learner {
 public:
  // `state` must outlive the learner. `applied`: slots <= applied were already
  // applied by the application (they are not handed out again).
  Learner(ReplicaState& state, Slot applied);

  // Every slot <= chosen_point() is chosen locally.
  Slot chosen_point() const { return chosen_point_; }
  Slot delivered() const { return delivered_; }
  bool IsChosen(Slot slot) const;

  // Marks `slot` chosen; requires a local entry holding the chosen value.
  void MarkChosen(Slot slot);
  // A leader in `ballot` says every slot <= commit is chosen.
  void OnCommitInfo(ReplicaId leader, Ballot ballot, Slot commit);
  // OnCommitInfo in two steps, for a caller that replies in between: marks
  // chosen the slots <= commit this replica accepted in `ballot` (sends
  // nothing), then asks `leader` for the rest still missing.
  void LearnCommitPoint(Ballot ballot, Slot commit);
  void RequestMissing(ReplicaId leader, Slot commit);
  void OnCatchupRequest(ReplicaId from, const CatchupRequest& request);
  void OnCatchupReply(ReplicaId from, const CatchupReply& reply);
  // This replica must learn every slot <= upto; `from` can serve them (as
  // values or as a snapshot). Retried on ticks until the chosen point gets there.
  void NeedUpTo(ReplicaId from, Slot upto);
  // The application's state was replaced by a snapshot covering slots <=
  // `slot` (> delivered()): they count as chosen and delivered.
  void InstallSnapshot(Slot slot);
  // While short of NeedUpTo's target: ticks since any member last answered
  // that it can serve the missing slots (values or a snapshot); else 0.
  uint32_t ticks_without_help() const { return ticks_without_help_; }
  void Tick();

 private:
  void AdvanceChosenPoint();
  void RequestCatchup(ReplicaId from, Slot upto);
  // The member after `after` in configuration order, never this replica.
  ReplicaId NextPeer(ReplicaId after) const;

  ReplicaState& state_;
  Slot chosen_point_ = 0;
  Slot delivered_ = 0;
  uint32_t catchup_cooldown_ = 0;     // ticks before another catch-up request
  ReplicaId want_from_ = kNoReplica;  // NeedUpTo: who can serve
  Slot want_upto_ = 0;
  bool helped_since_request_ = true;  // a reply since the last NeedUpTo retry could serve
  uint32_t ticks_without_help_ = 0;   // while short of want_upto_: ticks since such a reply
  // A non-voter without a leader asks the members in turn (Tick).
  uint32_t probe_elapsed_ = 0;
  ReplicaId probe_peer_ = kNoReplica;
};

}  // namespace synod::paxos
