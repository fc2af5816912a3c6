// Proposer role: phase 1 once per leadership (Prepare/Promise for all slots
// from the first unchosen one, paged), then phase 2 only (Accept/Accepted) with
// a window of slots in flight and many commands batched per slot.
//
// Recovery rule: with a quorum of complete promises the new leader re-proposes,
// slot by slot, the value with the highest ballot among the reports, fills with
// no-ops only the unreported slots below the highest reported one, and places
// new commands above it. Its own promise and accepts count only once durable
// (OnPersisted). Check-quorum: a leader that heard no reply in its ballot from
// a quorum for an election timeout steps down; so does one that is rejected
// with a higher ballot. Internal to the core.
//
// One class, implemented in one file per concept: proposer.cc (phase 1 and
// phase 2), proposer_membership.cc (configuration changes, phase 1 across
// them, the snapshot gap rule), proposer_transfer.cc (leadership transfer).
#pragma once

#include <deque>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "paxos/core.h"
#include "paxos/learner.h"
#include "paxos/message.h"
#include "paxos/replica_state.h"

namespace synod::paxos {

class Proposer {
 public:
  // ---- Core: phase 1 and phase 2 (proposer.cc) ----

  // References must outlive the proposer.
  Proposer(ReplicaState& state, Learner& learner);

  // The ballot of the current candidacy or leadership (null when following).
  Ballot ballot() const { return ballot_; }
  size_t pending_commands() const { return pending_.size(); }

  // Raises the ballot above every round seen and starts phase 1.
  // `transfer_from`: the ballot of the leader that handed leadership to this
  // replica (TimeoutNow; null: none); its Prepares name it, so acceptors that
  // follow that leader skip leader stickiness.
  void StartPhase1(Ballot transfer_from = Ballot{});
  // Leaves candidacy or leadership; queued commands are dropped (never proposed).
  void StepDown();

  void OnPromise(ReplicaId from, const Promise& promise);
  void OnAccepted(ReplicaId from, const Accepted& accepted);
  void OnReject(ReplicaId from, const Reject& reject);
  void OnHeartbeatReply(ReplicaId from, const HeartbeatReply& reply);
  // The outstanding Ready became durable: count this replica's own votes.
  void OnPersisted(const PersistedSummary& persisted);
  // Slots <= `slot` are chosen and gone from the log (snapshot installed):
  // stop waiting for votes there.
  void ForgetThrough(Slot slot);
  // Leader: slots may have become chosen without this leader's quorum: every
  // slot <= `covered` (a snapshot is about to replace them), or slots a
  // catch-up reply marked chosen. If one of them is a slot this leader
  // proposed in its ballot and did not learn chosen with that very value,
  // another value may be chosen there in a higher ballot, and a commit point
  // advertised over it would make acceptors holding this ballot's value mark
  // it chosen: the leader steps down (returns true). It also steps down if its
  // log holds an entry at or above its next proposal slot (only a newer
  // leader can have chosen a value there). Otherwise nothing changes.
  bool StepDownIfChosenElsewhere(Slot covered);
  // Test-only hook for a deliberately broken variant (the simulator's --break
  // stale-commit-point): StepDownIfChosenElsewhere never steps down and the
  // commit point is advertised unchecked, as before that rule existed.
  void DisableCommitPointGuardForTesting() { guard_commit_point_ = false; }

  ProposeResult Propose(std::vector<std::string> commands);
  // The chosen point or the configuration moved without this leader's own
  // count (a snapshot install): choose what now can be, and resume proposing.
  void ResumeAfterChosen();
  // Leader: heartbeats, retransmits, check-quorum. Candidate: retransmits.
  void Tick();

  // ---- Membership change (proposer_membership.cc) ----

  // Leader: proposes a configuration change derived from the configuration
  // set at `base_slot` (Core::ProposeConfiguration).
  ReconfigureResult ProposeConfiguration(const Configuration& next, Slot base_slot);

  // ---- Leadership transfer (proposer_transfer.cc) ----

  // Leader: starts a leadership transfer (Core::TransferLeadership).
  TransferResult TransferLeadership(ReplicaId target);
  // The target of the leadership transfer in flight (kNoReplica: none).
  ReplicaId transfer_target() const { return transfer_target_; }
  // The transfer in flight sent its TimeoutNow (false: none in flight).
  bool transfer_timeout_now_sent() const { return timeout_now_sent_; }
  // Test-only (the simulator's --break transfer-never-ends): a failed
  // transfer never ends, so this leader refuses commands for good.
  void KeepFailedTransferForTesting() { keep_failed_transfer_ = true; }

 private:
  struct PromiseProgress {
    Slot next_slot = 0;
    bool complete = false;
  };
  struct Report {
    Ballot ballot;
    ValuePtr value;
    ValuePtr chosen;  // a value some promiser holds marked chosen, or null
  };

  // ---- Core: phase 1 and phase 2 (proposer.cc) ----

  // The commit point this leader advertises (Heartbeat, Accept): its chosen
  // point. Throws InvariantViolation if a slot at or below it is one this
  // leader proposed and did not learn chosen with its own value.
  Slot CommitPoint() const;
  void MergeReport(Slot slot, const Entry& entry);
  void MaybeBecomeLeader();
  // Proposes the recovered phase-1 values still waiting, in slot order,
  // stopping after a configuration change until that change is chosen.
  void ContinueReproposals();
  // Marks chosen, in slot order from the chosen point, every counted slot
  // whose votes are a quorum of the configuration that governs it (known
  // only once every lower slot is chosen).
  void ChooseInOrder();
  // Replicas that get Accepts and heartbeats: members of the current
  // configuration and of the one before it (a removed member learns so).
  std::vector<ReplicaId> Targets() const;
  // Writes (ballot_, value) at `slot` and sends Accepts. `known_chosen`:
  // `value` is known chosen there (a promiser held it marked chosen), so the
  // entry is marked chosen at once.
  void ProposeAt(Slot slot, ValuePtr value, bool known_chosen = false);
  void FillWindow();
  void CountVote(Slot slot, ReplicaId voter);
  void SendAcceptTo(ReplicaId to, Slot slot, const ValuePtr& value);
  bool IsSelfPromiseDurable() const { return self_promise_durable_; }

  // ---- Membership change (proposer_membership.cc) ----

  // First slot a quorum of complete promisers still holds (none compacted
  // it): below it, reports cannot be trusted to contain the chosen value.
  Slot FirstRecoverableSlot(const std::vector<ConfigAt>& chain) const;
  // The configurations phase 1 needs a promise quorum of: the one governing
  // phase1_from_, then each change that is the highest-ballot report at its
  // slot and would take effect there (NextConfiguration), in slot order.
  std::vector<ConfigAt> Phase1Chain() const;
  // Asks the voters of the chain that were not asked yet for promises.
  void PrepareChainMembers(const std::vector<ConfigAt>& chain);
  // A quorum of complete promises (this replica's own once durable) from
  // the voters of every configuration in `chain`.
  bool HasPromiseQuorums(const std::vector<ConfigAt>& chain) const;
  // Every voter of every configuration in `chain` completed its promise.
  bool AllPromised(const std::vector<ConfigAt>& chain) const;
  size_t CompletePromises(const Configuration& config) const;
  // This leader proposed a configuration change that is not chosen yet.
  bool ConfigInFlight() const;
  // Leader: true if the replicas that promised this ballot in phase 1 meet
  // every quorum of the configuration now in effect (so no value can have
  // been chosen above the chosen point without one of them reporting it).
  // Otherwise a change took effect whose quorums the promises miss (two
  // voters changed since phase 1): runs phase 1 again under it (or steps down
  // if this replica is no voter) and returns false.
  bool PromisesCoverConfig();
  // Leader: slots between the chosen point and gap_end_ are known only to a
  // snapshot, so the configurations governing the slots above them (changes
  // chosen inside the gap) are unknown: nothing is proposed until that
  // snapshot is installed (then PromisesCoverConfig decides).
  bool GapBlocksProposals() const;

  // ---- Leadership transfer (proposer_transfer.cc) ----

  // Leader with a transfer in flight: sends TimeoutNow to the target (once
  // per transfer) when every slot this leader proposed is chosen, nothing
  // waits to be proposed and the target's reported chosen point covers them.
  void MaybeSendTimeoutNow();
  // Leader with a transfer in flight whose own slots just became all chosen
  // while the target has not reported them: sends the target a heartbeat
  // carrying the new commit point (once per point), so its reply (which
  // reports its chosen point after learning that commit point) can release
  // TimeoutNow without waiting for the next heartbeat tick.
  void ProbeTransferTarget();
  // Ends the transfer in flight (if any): Propose takes commands again.
  void EndTransfer();
  // Ends the transfer in flight if its target is no voter of the
  // configuration now in effect (a snapshot install replaced it): it could
  // never campaign.
  void EndTransferToNonVoter();

  ReplicaState& state_;
  Learner& learner_;
  Ballot ballot_;

  // Phase 1.
  Slot phase1_from_ = 0;
  bool self_promise_durable_ = false;
  std::map<ReplicaId, PromiseProgress> promises_;
  std::map<Slot, Report> reports_;          // highest-ballot report per slot
  std::map<ReplicaId, Slot> compacted_by_;  // each promiser's compaction point (highest seen)
  uint32_t gap_wait_ticks_ = 0;             // waited for more promises to close a gap
  // Leader: slots <= gap_end_ were skipped (only a snapshot had them); if no
  // member offers them for two election timeouts, phase 1 runs again.
  Slot gap_end_ = 0;

  // Phase 2.
  Slot next_slot_ = 0;
  std::map<Slot, std::vector<ReplicaId>> votes_;  // in-flight slots and who accepted them
  // Slots whose votes reached a quorum of the current configuration but
  // whose lower slots are not all chosen yet: marked chosen in slot order
  // once the configuration governing them is known (ChooseInOrder).
  std::map<Slot, std::vector<ReplicaId>> counted_;
  struct Reproposal {
    ValuePtr value;
    bool known_chosen = false;
  };
  std::map<Slot, Reproposal> reproposals_;  // recovered values not yet proposed
  Slot reproposal_end_ = 0;                 // highest slot phase 1 recovered
  Slot config_in_flight_ = 0;  // slot of this leader's last configuration change (0: none)
  // Leader: this replica and the replicas whose phase-1 promise for ballot_
  // was complete (reported every entry from phase1_from_).
  std::vector<ReplicaId> promisers_;
  std::deque<std::string> pending_;
  size_t pending_bytes_ = 0;

  bool guard_commit_point_ = true;  // false only in a broken test variant

  // Leadership transfer.
  Ballot transfer_from_;                    // candidacy started by TimeoutNow of this leader ballot
  ReplicaId transfer_target_ = kNoReplica;  // leader: transfer in flight to it
  uint32_t transfer_elapsed_ = 0;           // ticks since the transfer started
  Slot target_chosen_point_ = 0;            // the target's chosen point, as it last replied
  bool timeout_now_sent_ = false;           // TimeoutNow went to the target (once per transfer)
  Slot target_probed_at_ = 0;          // commit point of the last ProbeTransferTarget heartbeat
  bool keep_failed_transfer_ = false;  // true only in a broken test variant

  // Timers and liveness.
  uint32_t heartbeat_elapsed_ = 0;
  uint32_t check_quorum_elapsed_ = 0;
  std::set<ReplicaId> active_peers_;
};

}  // namespace synod::paxos
