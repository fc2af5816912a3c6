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
  };
  Status status = Status::kNotLeader;
  ReplicaId leader_hint = kNoReplica;  // kNoReplica when unknown
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
  ~Core();
  Core(const Core&) = delete;
  Core& operator=(const Core&) = delete;

  // Processes one message addressed to this replica. Messages from non-members
  // or addressed elsewhere are ignored.
  void Step(const Message& message);
  // Advances logical time by one tick: election timers, heartbeats, retransmits.
  void Tick();
  // Offers commands (opaque bytes) for replication. Never blocks, never queues
  // on a non-leader.
  ProposeResult Propose(std::vector<std::string> commands);

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

  // Test-only hook for a deliberately broken variant (the simulator's --break
  // stale-commit-point): a leader that learns slots chosen from a snapshot or
  // a catch-up reply where it proposed values it never saw chosen keeps
  // leading and advertises a commit point over them. Never call it in production.
  void DisableCommitPointGuardForTesting();

  CoreStatus Status() const;
  // The value this replica holds as chosen for `slot` (its entry is marked
  // chosen), or null (unknown, deleted by compaction, or only in a snapshot).
  ValuePtr ChosenValue(Slot slot) const;

 private:
  std::unique_ptr<ReplicaState> state_;
  std::unique_ptr<Learner> learner_;
  std::unique_ptr<Election> election_;
  std::unique_ptr<Acceptor> acceptor_;
  std::unique_ptr<Proposer> proposer_;
};

}  // namespace synod::paxos
