// SimCluster: N real paxos cores wired to a simulated network and simulated
// disks, driven in simulated time. Deterministic: everything random comes from
// one seeded generator, so a seed replays a run exactly. Every Ready a core
// produces is carried out by the runtime's own node::ReadyPump; the simulator
// supplies its seams (disk, network, application, snapshot fetches).
//
// Network: messages get random delays (reordering), may be dropped or
// duplicated, and links can be cut one direction at a time (partitions).
// Disk: a Ready's state becomes durable after a random latency; a crash loses
// what was not yet durable. Paused replicas (think SIGSTOP) neither tick nor
// receive; their messages wait until they resume. In manual mode (scenario
// tests) messages wait in a mailbox until delivered by hand and disk writes
// complete at once.
//
// Every durable write, restart and delivery is reported to the SafetyChecker,
// which throws SimViolation when a property fails. Not thread-safe.
#pragma once

#include <algorithm>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <ostream>
#include <random>
#include <set>
#include <vector>

#include "paxos/core.h"
#include "tests/sim/safety_checker.h"
#include "tests/sim/sim_app.h"
#include "tests/sim/sim_types.h"

namespace synod::sim {

class SimCluster {
 public:
  // Called for every command a replica applies: (replica, slot, command, result).
  using ApplyObserver = std::function<void(paxos::ReplicaId, paxos::Slot, const std::string&,
                                           const SimCounterApp::Result&)>;

  // `trace` (may be null) receives one line per event when options.trace is set.
  SimCluster(const SimOptions& options, paxos::CoreOptions core_options, bool manual_network,
             std::ostream* trace);
  ~SimCluster();

  void set_apply_observer(ApplyObserver observer) { apply_observer_ = std::move(observer); }

  SimTime now() const { return now_; }
  // Advances one time unit: due deliveries and disk completions, due ticks.
  void Step();
  // Ticks one replica now (manual scenarios); ignored if it is down or paused.
  void TickReplica(paxos::ReplicaId id);
  // Checks per-step properties (promises never go backwards) on live replicas.
  void CheckInvariants() const;

  // --- faults ---
  void Crash(paxos::ReplicaId id);
  void Restart(paxos::ReplicaId id);
  void Pause(paxos::ReplicaId id);
  void Resume(paxos::ReplicaId id);
  void SetLink(paxos::ReplicaId from, paxos::ReplicaId to, bool up);
  // Cuts the messages from `from` to `to` but not snapshot transfers on that
  // path (they use their own connection); SetLink or HealNetwork restores it.
  void CutMessagesOnly(paxos::ReplicaId from, paxos::ReplicaId to);
  void HealNetwork();
  // Like HealNetwork but keeps the message loss and duplication rates.
  void HealLinks();
  void SetLoss(double drop, double duplicate);
  // Replica `id`'s runtime fetches `from`'s latest snapshot without its core
  // asking (a fetch requested long ago that completes late, or is retried):
  // installed if newer than what `id` delivered, as Ready::fetch_snapshot is.
  // Ignored if `from` is down, paused or has no snapshot, or `id` is down; a
  // transfer to a paused `id` completes once it resumes.
  void FetchSnapshotUnasked(paxos::ReplicaId id, paxos::ReplicaId from);

  // --- clients ---
  // Offers a command to a replica; returns kNotLeader if it is down or paused.
  paxos::ProposeResult Propose(paxos::ReplicaId id, const std::string& command);
  // Offers a configuration change to a replica (Core::ProposeConfiguration);
  // kNotLeader if it is down or paused.
  paxos::ReconfigureResult ProposeConfiguration(paxos::ReplicaId id,
                                                const paxos::Configuration& next,
                                                paxos::Slot base_slot);
  // Asks a replica to hand leadership to `target` (Core::TransferLeadership);
  // kNotLeader if it is down or paused.
  paxos::TransferResult TransferLeadership(paxos::ReplicaId id, paxos::ReplicaId target);
  // This run may change the membership: it hosts kMaxSimReplicas replicas,
  // those beyond options.replicas start empty outside the configuration.
  bool membership() const { return membership_; }

  // --- manual network (scenarios) ---
  using MessageFilter = std::function<bool(const paxos::Message&)>;
  // Delivers the queued messages that match (in queue order); returns how many.
  size_t DeliverIf(const MessageFilter& match);
  // Drops the queued messages that match; returns how many.
  size_t DropIf(const MessageFilter& match);
  // Counts the queued messages that match.
  size_t CountIf(const MessageFilter& match) const {
    return static_cast<size_t>(std::count_if(mailbox_.begin(), mailbox_.end(), match));
  }
  // Appends a copy of every matching queued message (duplicated delivery).
  size_t DuplicateIf(const MessageFilter& match);
  // The value a replica holds as chosen at `slot`, or null.
  paxos::ValuePtr ChosenValue(paxos::ReplicaId id, paxos::Slot slot) const;
  size_t mailbox_size() const { return mailbox_.size(); }

  // --- introspection ---
  const std::vector<paxos::ReplicaId>& ids() const { return ids_; }
  bool IsUp(paxos::ReplicaId id) const;
  bool IsPaused(paxos::ReplicaId id) const;
  paxos::CoreStatus Status(paxos::ReplicaId id) const;
  // Whether messages from `from` to `to` pass (no cut on that direction).
  bool LinkUp(paxos::ReplicaId from, paxos::ReplicaId to) const {
    auto it = link_down_.find({from, to});
    return it == link_down_.end() || !it->second;
  }
  // Up, unpaused replica whose role is leader with the highest ballot, or 0.
  paxos::ReplicaId Leader() const;
  int64_t Counter(paxos::ReplicaId id) const;
  const std::vector<paxos::Slot>& AppliedSlots(paxos::ReplicaId id) const;
  const SafetyChecker& checker() const { return checker_; }
  uint64_t faults() const { return faults_; }
  void CountFault() { ++faults_; }
  std::mt19937_64& rng() { return rng_; }
  // The last events, newest last, for a failure report.
  std::string RecentTrace() const;
  // Kind name of a message body ("Accept", "Promise", ...).
  static std::string KindOf(const paxos::Message& message);

  // Snapshot cadence of this run (random per seed; 0 = no snapshots).
  uint64_t snapshot_every() const { return snapshot_every_; }
  uint64_t snapshots_installed() const { return snapshots_installed_; }
  // Slot covered by replica `id`'s durable snapshot (0: none).
  paxos::Slot SnapshotSlot(paxos::ReplicaId id) const;

 private:
  struct Replica;
  // ReadyPump seams (sim_replica.h).
  class SimDisk;
  class ForgetfulDisk;
  class RuntimeSeams;
  // A replica's application state as of `slot` (a snapshot).
  struct SimSnapshot {
    paxos::Slot slot = 0;
    SimCounterApp app;
    paxos::ConfigAt config;  // the configuration in effect after `slot`
  };
  struct Event {
    enum class Kind {
      kDeliver,            // message
      kDiskDone,           // replica's synced write completed
      kSnapshotTaken,      // replica's snapshot write completed
      kSnapshotArrived,    // a transfer from `from` reached replica
      kSnapshotInstalled,  // replica made the received snapshot durable
    } kind;
    paxos::Message message;    // kDeliver
    paxos::ReplicaId replica;  // every other kind
    uint64_t generation = 0;   // kDiskDone: write generation; others: replica's restarts
    std::shared_ptr<const SimSnapshot> snapshot;  // kSnapshotArrived
    paxos::ReplicaId from = 0;                    // kSnapshotArrived: sender
    uint64_t from_generation = 0;                 // sender's restarts at send
  };

  Replica& At(paxos::ReplicaId id);
  const Replica& At(paxos::ReplicaId id) const;
  void StartCore(Replica& replica);
  // Runs the replica's ReadyPump after an input; in manual mode completes its
  // disk writes at once.
  void Drain(Replica& replica);
  void Send(const paxos::Message& message);
  // A Promise or Accepted leaving a replica must report state already on its
  // disk; throws SimViolation otherwise (the "reply before fsync" bug).
  void CheckReportIsDurable(const paxos::Message& message) const;
  void Dispatch(const Event& event);
  void Deliver(const paxos::Message& message);
  void Apply(Replica& replica, const paxos::CommittedEntry& entry);
  // The replica's application state and, in membership runs, its configuration.
  std::string AppFingerprint(const Replica& replica) const;
  // --- snapshots (sim_cluster_snapshots.cc) ---
  // After applying: start taking a snapshot when due.
  void MaybeTakeSnapshot(Replica& replica);
  void OnSnapshotTaken(Replica& replica);
  // Ready::fetch_snapshot: start a transfer from the named peer.
  void StartSnapshotTransfer(Replica& replica, const paxos::SnapshotFetch& fetch);
  void OnSnapshotArrived(Replica& replica, const Event& event);
  void OnSnapshotInstalled(Replica& replica);
  // True if a snapshot transfer from `from` to `to` cannot pass.
  bool SnapshotPathDown(paxos::ReplicaId from, paxos::ReplicaId to);
  // Ready::compact_through: throws SimViolation if `through` is above the
  // durable snapshot.
  void CheckCompaction(const Replica& replica, paxos::Slot through) const;
  // The model (and LevelDB) delete entries <= through, unsynced.
  void Compact(Replica& replica, paxos::Slot through);
  // A sync makes an earlier unsynced compaction durable.
  void ApplyUnsyncedCompaction(Replica& replica);
  void Note(const std::string& line);
  double Uniform();

  SimOptions options_;
  bool membership_ = false;
  uint64_t snapshot_every_ = 0;  // applied slots between snapshots (0: never)
  uint64_t log_tail_ = 0;        // entries kept below a snapshot
  uint64_t snapshots_installed_ = 0;
  paxos::CoreOptions core_options_;
  bool manual_network_;
  std::ostream* trace_;
  std::mt19937_64 rng_;
  SafetyChecker checker_;
  std::vector<paxos::ReplicaId> ids_;
  std::vector<std::unique_ptr<Replica>> replicas_;
  std::multimap<SimTime, Event> events_;
  std::deque<paxos::Message> mailbox_;
  std::map<std::pair<paxos::ReplicaId, paxos::ReplicaId>, bool> link_down_;
  // Cut links (CutMessagesOnly) on which snapshot transfers still pass.
  std::set<std::pair<paxos::ReplicaId, paxos::ReplicaId>> snapshot_path_open_;
  double drop_ = 0;
  double duplicate_ = 0;
  SimTime now_ = 0;
  uint64_t faults_ = 0;
  ApplyObserver apply_observer_;
  std::deque<std::string> recent_;
};

}  // namespace synod::sim
