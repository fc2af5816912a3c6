// ReplicaState: the state one replica's roles share — identity, the acceptor's
// durable record (promised ballot and per-slot entries), the current role and
// leader, and the outbox from which the next Ready is built.
//
// Internal to the core (not part of the public API). Every durable change goes
// through SetPromised/PutEntry so it is tracked for the next Ready; nothing
// else writes the log. Not thread-safe.
#pragma once

#include <algorithm>
#include <map>
#include <set>
#include <vector>

#include "paxos/configuration.h"
#include "paxos/core.h"
#include "paxos/message.h"
#include "paxos/options.h"
#include "paxos/random.h"
#include "paxos/ready.h"

namespace synod::paxos {

// What the outstanding Ready persisted, so roles can act once it is durable.
struct PersistedSummary {
  std::optional<Ballot> promised;
  std::vector<std::pair<Slot, Ballot>> accepted;  // (slot, ballot) of each persisted entry
};

class ReplicaState {
 public:
  // `random` must outlive this object. `config` governs the slots after
  // config.slot (the restart point). Throws std::invalid_argument if the
  // options are invalid, or if `require_member` and `self` is not a member.
  ReplicaState(ReplicaId self, ConfigAt config, bool require_member, CoreOptions options,
               RandomSource& random, DurableState durable);

  ReplicaId self() const { return self_; }
  // The configuration governing the slots after the latest chosen
  // configuration change this replica knows (its chosen point's successor).
  const Configuration& config() const { return history_.rbegin()->second; }
  // The slot whose chosen value set config() (0: the initial configuration).
  Slot config_slot() const { return history_.rbegin()->first; }
  ConfigAt current_config() const { return ConfigAt{config_slot(), config()}; }
  // The configuration governing `slot` with the slot whose chosen value set
  // it, as far as this replica knows (exact for slots <= chosen point + 1;
  // for slots older than its history holds, the oldest it has). Returned by
  // value: the slot is needed to match a change's base_slot.
  ConfigAt ConfigAtFor(Slot slot) const;
  // The previous configuration (before config()), or config() if none known.
  const Configuration& previous_config() const;
  // The learner marks `slot` chosen with `value`, in slot order: a
  // configuration change there takes effect for the slots after it.
  void ApplyChosen(Slot slot, const Value& value);
  // A snapshot installed through `slot` carries `config` (config.slot <= slot):
  // it replaces what this replica knew about slots <= slot.
  void ResetConfiguration(const ConfigAt& config);
  // Test-only broken rules (the simulator's --break variants): bit r is set
  // when rule MembershipBreak(r) is switched off; several may be.
  uint8_t broken_rules = 0;
  // Whether the test-only hook switched `rule` off.
  bool RuleBroken(MembershipBreak rule) const {
    return ((broken_rules >> static_cast<unsigned>(rule)) & 1u) != 0;
  }
  // Test-only (the simulator's --break small-quorum): from now on every
  // configuration this replica knows or learns counts n/2 of its voters as a
  // quorum.
  void ShrinkQuorumsForTesting();
  bool quorums_shrunk_for_testing() const { return shrink_quorums_; }
  // `config` with the quorum rule this replica counts by (itself, unless
  // ShrinkQuorumsForTesting was called).
  Configuration QuorumRule(Configuration config) const;
  const CoreOptions& options() const { return options_; }
  RandomSource& random() { return random_; }

  // --- acceptor's durable record ---
  Ballot promised() const { return promised_; }
  // Raises the promise (never lowers it: lowering throws InvariantViolation).
  void SetPromised(Ballot ballot);
  // The entry at `slot`, or null.
  const Entry* Find(Slot slot) const;
  // Replaces the entry at `slot` and schedules it for persistence: synced,
  // unless the only change is setting the chosen mark (then unsynced).
  void PutEntry(Slot slot, Entry entry);
  const std::map<Slot, Entry>& log() const { return log_; }
  Slot LastSlot() const { return log_.empty() ? compacted_ : log_.rbegin()->first; }

  // Slots <= compacted() hold no entry: they are chosen and covered by a
  // snapshot (this replica's own, or one it installed).
  Slot compacted() const { return compacted_; }
  // Deletes entries (and undelivered committed values) at slots <= `upto` and
  // schedules the deletion for the next Ready. Never lowers compacted().
  void DropThrough(Slot upto);
  // Highest slot covered by this replica's durable snapshot (0: none known).
  Slot snapshot_slot() const { return snapshot_slot_; }
  void NoteSnapshot(Slot slot) { snapshot_slot_ = std::max(snapshot_slot_, slot); }
  // Asks the runtime (next Ready) to fetch a snapshot from `from`.
  void RequestSnapshot(ReplicaId from, Slot at_least);

  // Highest round seen in any ballot (own or others'); new ballots go above it.
  uint64_t max_seen_round() const { return max_seen_round_; }
  void NoteBallot(Ballot ballot);

  // --- role and leader ---
  Role role = Role::kFollower;
  ReplicaId leader = kNoReplica;  // leader this replica follows or is, if known
  Ballot leader_ballot;           // that leader's ballot
  uint32_t ticks_since_leader_contact = 0;

  // --- outbox ---
  void Send(ReplicaId to, MessageBody body);
  void SendAfterPersist(ReplicaId to, MessageBody body);
  // Sends to every member except self.
  void Broadcast(const MessageBody& body);
  void BroadcastAfterPersist(const MessageBody& body);
  void Deliver(CommittedEntry entry);

  bool HasReady() const;
  bool ready_outstanding() const { return ready_outstanding_; }
  Ready TakeReady();
  // Marks the outstanding Ready durable and returns what it persisted.
  PersistedSummary Advance();

 private:
  ReplicaId self_;
  std::map<Slot, Configuration> history_;  // slot that set it -> configuration
  bool shrink_quorums_ = false;            // test-only: see ShrinkQuorumsForTesting
  CoreOptions options_;
  RandomSource& random_;

  Ballot promised_;
  std::map<Slot, Entry> log_;
  Slot compacted_ = 0;
  Slot snapshot_slot_ = 0;
  bool compaction_dirty_ = false;
  std::optional<SnapshotFetch> fetch_snapshot_;
  uint64_t max_seen_round_ = 0;

  bool promised_dirty_ = false;
  std::set<Slot> dirty_slots_;           // need a synced write
  std::set<Slot> unsynced_dirty_slots_;  // only their chosen mark changed
  std::vector<Message> messages_;
  std::vector<Message> messages_after_persist_;
  std::vector<CommittedEntry> committed_;
  bool ready_outstanding_ = false;
  PersistedSummary outstanding_;
};

}  // namespace synod::paxos
