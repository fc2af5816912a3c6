// Core: one replica's deterministic Multi-Paxos state machine (Proposer,
// Acceptor and Learner roles plus eventual leader election).
//
// No I/O, no threads, no clock, no global state. Inputs are Step (a message
// from a peer), Tick (one unit of logical time) and Propose (client commands).
// After any input, HasReady() says whether there is work; TakeReady() hands it
// out and Advance() confirms that the Ready's state is durable (see ready.h).
// At most one Ready is outstanding: TakeReady() may not be called again until
// Advance(). Step, Tick and Propose may be called while a Ready is outstanding.
//
// Thread: not thread-safe; one owner drives it from one thread.
// Errors: protocol-level problems (stale ballots, duplicates) are handled;
// corrupted state throws InvariantViolation (see invariant.h).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "paxos/configuration.h"
#include "paxos/message.h"
#include "paxos/options.h"
#include "paxos/random.h"
#include "paxos/ready.h"
#include "paxos/types.h"

namespace synod::paxos {

enum class Role : uint8_t {
  kFollower,      // follows a leader (or waits for one)
  kPreCandidate,  // asking for pre-votes; has not raised its ballot
  kCandidate,     // running phase 1 with a raised ballot
  kLeader,        // phase 1 done for its ballot; runs phase 2 only
};
const char* RoleName(Role role);

// Result of Core::Propose.
struct ProposeResult {
  enum class Status : uint8_t {
    kAccepted,   // queued at the leader; will be placed in a slot
    kNotLeader,  // refused at once; definitely not proposed; see leader_hint
    kBusy,       // leader's queue is full; definitely not proposed; retry later
    // This leader is handing leadership over (TransferLeadership) and takes no
    // new commands; definitely not proposed. Retry shortly: leader_hint is this
    // replica, which answers kNotLeader with the new leader once it is done
    // (or takes commands again if the transfer failed, after election_ticks).
    kTransferring,
  };
  Status status = Status::kNotLeader;
  ReplicaId leader_hint = kNoReplica;  // kNoReplica when unknown
};

// Result of Core::TransferLeadership.
struct TransferResult {
  enum class Status : uint8_t {
    kAccepted,   // the transfer runs; watch CoreStatus::transfer_target and leader
    kNotLeader,  // refused: this replica does not lead; see leader_hint
    kInvalid,    // refused: the target is this leader, or not a voter (learner,
                 // removed or unknown); see reason
    kBusy,       // refused: a transfer or a configuration change is in flight,
                 // this leader's recovered values are not all proposed yet, or it
                 // still fetches a snapshot of slots below its own; see reason
  };
  Status status = Status::kNotLeader;
  ReplicaId leader_hint = kNoReplica;
  std::string reason;  // kInvalid / kBusy: why
};

// Result of Core::ProposeConfiguration.
struct ReconfigureResult {
  enum class Status : uint8_t {
    kAccepted,   // proposed at `slot`; in effect after it once chosen (watch CoreStatus)
    kNotLeader,  // refused at once; definitely not proposed; see leader_hint
    kBusy,       // a change is in flight, or this leader's own phase-1 values are not
                 // all chosen yet, or its window is full: definitely not proposed; retry
    kInvalid,    // the change is malformed, or derived from a configuration no longer
                 // in effect (see reason); definitely not proposed
  };
  Status status = Status::kNotLeader;
  ReplicaId leader_hint = kNoReplica;
  Slot slot = 0;       // kAccepted: where the change was proposed
  std::string reason;  // kInvalid / kBusy: why
};

// Test-only: protocol rules of membership change that the simulator's
// --break variants switch off to show that it catches the resulting bugs.
enum class MembershipBreak : uint8_t {
  kNone,
  kConfigBeforeOwnValue,  // a new leader proposes a change before its phase-1 values are chosen
  kTwoConfigsInFlight,    // a leader proposes past an unchosen configuration change
  kStaleConfigQuorum,     // phase 1 ignores reported changes: only the old configuration's quorum
  kCountAhead,            // votes counted out of slot order with the configuration the leader
                          // believes in, before the lower slots are chosen
  kKeepOldPromises,       // a leader keeps proposing after a change takes effect although the
                          // promises of its phase 1 do not meet every quorum of the new voters
  kProposeOverGap,        // a leader proposes above slots it knows only a snapshot holds, before
                          // it learned the configuration that governs the slots above them
};

// Read-only view of a core's state for status pages, tests and the simulator.
struct CoreStatus {
  ReplicaId id = kNoReplica;
  Role role = Role::kFollower;
  Ballot promised;       // highest ballot promised by this acceptor
  Ballot leader_ballot;  // ballot of the leader this replica follows or is
  ReplicaId leader = kNoReplica;
  Slot chosen_point = 0;        // every slot <= chosen_point is chosen locally
  Slot delivered = 0;           // every slot <= delivered was handed out in a Ready
  Slot last_slot = 0;           // highest slot with an entry
  Slot compacted = 0;           // entries <= compacted deleted (covered by a snapshot)
  size_t pending_commands = 0;  // leader only: queued, not yet in a slot
  Configuration config = Configuration::Empty();  // governs the slots after config_slot
  Slot config_slot = 0;                           // the slot whose chosen value set it (0: initial)
  Membership membership = Membership::kVoter;
  // Leader only: the voter a leadership transfer hands over to (kNoReplica: none in flight).
  ReplicaId transfer_target = kNoReplica;
  // Leader only: the transfer in flight sent the target its TimeoutNow. From
  // then on the target may take over even after the transfer ended with this
  // replica still leading (a delayed TimeoutNow still starts its candidacy).
  bool transfer_timeout_now_sent = false;
};

class Acceptor;
class Proposer;
class Learner;
class Election;
class ReplicaState;

class Core {
 public:
  // `self` must be a member of `config`; `options` must Validate(); `random`
  // must outlive the core. `durable` is what earlier Readies persisted (empty
  // for a fresh replica). `applied` is the highest slot the application has
  // already applied (committed entries are handed out from applied + 1).
  // Throws std::invalid_argument for bad arguments.
  Core(ReplicaId self, Configuration config, CoreOptions options, RandomSource& random,
       DurableState durable, Slot applied);
  // A replica restarting from a snapshot, or joining: `config` is the
  // configuration in effect after slot `applied` (the one the application's
  // snapshot holds; ConfigAt{0, initial} without a snapshot), so
  // config.slot <= applied. `self` need not be a member: a replica that is not
  // (yet, or any more) follows passively — it accepts, learns and applies, but
  // never campaigns — until a chosen change names it. Throws
  // std::invalid_argument for bad arguments.
  Core(ReplicaId self, ConfigAt config, CoreOptions options, RandomSource& random,
       DurableState durable, Slot applied);
  ~Core();
  Core(const Core&) = delete;
  Core& operator=(const Core&) = delete;

  // Processes one message addressed to this replica. Messages addressed
  // elsewhere are ignored, and so are pre-votes and Prepares from a replica
  // this replica knows was removed (no ballot inflation by a removed member).
  // Votes count only from the voters of the configuration governing a slot.
  void Step(const Message& message);
  // Advances logical time by one tick: election timers, heartbeats, retransmits.
  void Tick();
  // Offers commands (opaque bytes) for replication. Never blocks, never queues
  // on a non-leader.
  ProposeResult Propose(std::vector<std::string> commands);

  // Leader: proposes replacing the configuration with `next`, built from
  // Status().config with WithLearner / WithPromoted / WithRemoved; `base_slot`
  // is the Status().config_slot read with it. It takes effect for the slots
  // after the one it is chosen at; until then this leader proposes nothing
  // above it. Refused (definitely not proposed) on a non-leader, while another
  // change is in flight or this leader's phase-1 values are not all chosen
  // (kBusy), if `base_slot` is not the slot that set the configuration in
  // effect (kInvalid: re-read Status() and rebuild; validated against a newer
  // configuration the change could undo changes chosen since), or if
  // ValidateChange refuses it (kInvalid).
  ReconfigureResult ProposeConfiguration(const Configuration& next, Slot base_slot);

  // Leader: hands leadership to the voter `target` (etcd-raft's
  // MsgTimeoutNow). From now on Propose refuses with kTransferring and
  // ProposeConfiguration with kBusy; commands Propose took earlier are still
  // proposed. Once every slot this leader proposed is chosen and `target`
  // reports a chosen point that covers them, it is sent TimeoutNow (once) and starts
  // phase 1 at once (no election timeout, no pre-vote, leader stickiness
  // overridden at the acceptors); its higher ballot deposes this leader. If
  // no new leader deposes this one within election_ticks, or `target` stops
  // being a voter (a snapshot install replaced the configuration), the
  // transfer ends and this leader takes commands again. Refused as
  // TransferResult says.
  TransferResult TransferLeadership(ReplicaId target);

  bool HasReady() const;
  // Hands out the accumulated work. Requires: HasReady(), no Ready outstanding.
  Ready TakeReady();
  // The outstanding Ready's state is durable (and its messages were handed to
  // the network). Requires a Ready outstanding.
  void Advance();

  // The application holds a durable snapshot covering slots <= snapshot_slot
  // (<= Status().delivered): entries at slots <= snapshot_slot - keep_tail are
  // deleted (the next Ready carries compact_through); slower replicas get the
  // snapshot. Lower points are ignored. Throws InvariantViolation if
  // snapshot_slot > delivered.
  void Compact(Slot snapshot_slot, Slot keep_tail);
  // The application's state was replaced by a durable snapshot covering slots
  // <= `slot` (see Ready::fetch_snapshot). Returns false and changes nothing
  // if the snapshot is not newer than what was delivered (an old snapshot is
  // ignored). Otherwise slots <= slot count as chosen and delivered, their
  // entries are deleted (next Ready: compact_through) and committed values
  // not yet handed out at or below `slot` are dropped (the snapshot holds them).
  // A leader whose in-flight proposals the snapshot covers steps down: it may
  // have been deposed by a leader that chose other values there (protocol.md).
  // May be called at any time, whether or not a Ready asked for the snapshot.
  bool InstallSnapshot(Slot slot);
  // As above for a snapshot that holds `config`, the configuration in effect
  // after `slot` (config.slot <= slot). The one-argument form keeps the
  // configuration this replica knows (only right if no change was chosen at
  // a slot it has not delivered).
  bool InstallSnapshot(Slot slot, const ConfigAt& config);

  // Test-only hook for a deliberately broken variant (the simulator's --break
  // stale-commit-point): a leader that learns slots chosen from a snapshot or
  // a catch-up reply where it proposed values it never saw chosen keeps
  // leading and advertises a commit point over them. Never call it in production.
  void DisableCommitPointGuardForTesting();
  // Test-only hook for the simulator's membership --break variants: switches
  // `rule` off in addition to any switched off before (kNone: no change).
  // Never call it in production.
  void BreakMembershipRuleForTesting(MembershipBreak rule);
  // Test-only hook for the simulator's --break small-quorum: every
  // configuration, present and future (changes, snapshots), counts n/2 of its
  // voters as a quorum. Never call it in production.
  void ShrinkQuorumsForTesting();
  // Test-only hook for the simulator's --break transfer-never-ends: a leader
  // whose leadership transfer failed keeps refusing commands (the transfer
  // never times out). Never call it in production.
  void KeepFailedTransferForTesting();

  CoreStatus Status() const;
  // The value this replica holds as chosen for `slot` (its entry is marked
  // chosen), or null (unknown, deleted by compaction, or only in a snapshot).
  ValuePtr ChosenValue(Slot slot) const;

 private:
  // Every input that may change the role ends here, with the role and
  // proposer ballot it began with: a new candidacy (a candidate with another
  // ballot: phase 1 started, or run again under a configuration that took
  // effect) gets a whole election timeout, and a candidate or leader that
  // became a follower gets a follower's fresh timer. Returns true if it did
  // either.
  bool SyncElection(Role before, Ballot before_ballot);

  std::unique_ptr<ReplicaState> state_;
  std::unique_ptr<Learner> learner_;
  std::unique_ptr<Election> election_;
  std::unique_ptr<Acceptor> acceptor_;
  std::unique_ptr<Proposer> proposer_;
};

}  // namespace synod::paxos
