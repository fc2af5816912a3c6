// SimCluster::Replica: one simulated replica's core, disks and application,
// and the seams through which the runtime's node::ReadyPump drives its core.
// Private to the simulator's SimCluster implementation files.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "log/fault_injection_env.h"
#include "log/leveldb_log_storage.h"
#include "node/ready_pump.h"
#include "tests/sim/sim_cluster.h"

namespace synod::sim {

using paxos::Ballot;
using paxos::Message;
using paxos::ReplicaId;
using paxos::Slot;

// One simulated replica: its core, its disk and its application.
struct SimCluster::Replica {
  ReplicaId id = 0;
  bool up = true;
  bool paused = false;
  uint64_t restarts = 0;
  std::unique_ptr<paxos::RandomSource> random;
  std::unique_ptr<paxos::Core> core;
  // Disk: what survives a crash.
  Ballot disk_promised;
  std::map<Slot, paxos::Entry> disk_entries;
  // With options.leveldb_disk: the real storage code on a simulated disk; it
  // must always agree with the model above.
  std::unique_ptr<log::FaultInjectionEnv> env;
  std::unique_ptr<log::LevelDbLogStorage> storage;
  // Chosen marks written without a sync: durable only once a later synced
  // write completes (it syncs the log they are in); a crash loses them.
  std::vector<paxos::SlotEntry> unsynced_entries;
  // The seams of the runtime's node::ReadyPump (kept across restarts) and
  // the pump itself (one per core: gone while the replica is down).
  std::unique_ptr<SimDisk> disk;
  std::unique_ptr<RuntimeSeams> seams;
  std::unique_ptr<node::ReadyPump> pump;
  // Events held while paused.
  std::vector<Event> held;
  // Application.
  SimCounterApp app;
  paxos::ConfigAt app_config;       // the configuration after applied_through
  Slot applied_through = 0;         // every slot <= this is reflected in `app`
  std::vector<Slot> applied_slots;  // applied one by one since the last start or install
  // Snapshots and compaction (sim_cluster_snapshots.cc).
  std::optional<SimSnapshot> snapshot_disk;        // the durable snapshot
  std::optional<SimSnapshot> snapshot_taking;      // being written (lost on crash)
  std::optional<SimSnapshot> snapshot_installing;  // received, being made durable
  bool snapshot_fetching = false;                  // a transfer is on its way
  Slot disk_compacted = 0;                         // durable compaction point
  std::optional<Slot> unsynced_compaction;         // durable at the next sync
};

// The simulated disk under a replica's ReadyPump (its Persister). A synced
// write becomes durable at its kDiskDone event, a random latency after
// Persist; in manual mode SimCluster::Drain completes it as soon as the pump
// has handed it out. Then the SafetyChecker learns what became durable and
// the pump's `done` runs. A crash loses the write in flight and the unsynced
// writes. What is durable lives in the Replica's disk_* fields (and LevelDB
// with options.leveldb_disk). One per replica, for the cluster's lifetime.
class SimCluster::SimDisk : public node::Persister {
 public:
  SimDisk(SimCluster& cluster, Replica& replica) : cluster_(cluster), replica_(replica) {}
  void Persist(std::optional<Ballot> promised, std::vector<paxos::SlotEntry> entries,
               std::vector<paxos::SlotEntry> chosen_marks, node::WritePlacement placement,
               std::function<void()> done) override;
  void WriteUnsynced(std::vector<paxos::SlotEntry> entries) override;
  // Throws SimViolation if `through` is above the durable snapshot.
  void WriteCompaction(Slot through) override;
  // The kDiskDone event of write `generation`; ignored unless that write is
  // still in flight (a crash lost it).
  void Done(uint64_t generation);
  bool writing() const { return static_cast<bool>(done_); }
  uint64_t generation() const { return generation_; }
  // The process died: the write in flight and the unsynced writes are lost.
  void Crash();

 protected:
  // What reaches the platter. KeepSyncedWrite stores the write in flight and
  // the unsynced writes before it (it syncs the log they are in).
  virtual void KeepSyncedWrite();
  virtual void KeepUnsynced(std::vector<paxos::SlotEntry> entries);
  virtual void KeepCompaction(Slot through);

  SimCluster& cluster_;
  Replica& replica_;

 private:
  uint64_t generation_ = 0;  // of the latest write (stale kDiskDone events)
  std::optional<Ballot> promised_;
  std::vector<paxos::SlotEntry> entries_;
  std::vector<paxos::SlotEntry> chosen_marks_;
  std::function<void()> done_;  // set while a write is in flight
};

// --break skip-persist: a disk that acknowledges writes without keeping them.
class SimCluster::ForgetfulDisk final : public SimDisk {
 public:
  using SimDisk::SimDisk;

 protected:
  void KeepSyncedWrite() override {}
  void KeepUnsynced(std::vector<paxos::SlotEntry>) override {}
  void KeepCompaction(Slot) override {}
};

// The rest of a replica's runtime as its ReadyPump sees it: messages go to
// the simulated network (SimCluster::Send), chosen entries to the simulated
// application (SimCluster::Apply; after each batch a snapshot if one is
// due), snapshot fetches start a simulated transfer. One per replica.
class SimCluster::RuntimeSeams final : public node::MessageSink,
                                       public node::CommitSink,
                                       public node::SnapshotNeeds {
 public:
  RuntimeSeams(SimCluster& cluster, Replica& replica) : cluster_(cluster), replica_(replica) {}
  void Send(const Message& message) override { cluster_.Send(message); }
  void Apply(const paxos::CommittedEntry& entry) override { cluster_.Apply(replica_, entry); }
  void BatchApplied() override { cluster_.MaybeTakeSnapshot(replica_); }
  void FetchSnapshot(const paxos::SnapshotFetch& fetch) override {
    cluster_.StartSnapshotTransfer(replica_, fetch);
  }

 private:
  SimCluster& cluster_;
  Replica& replica_;
};

}  // namespace synod::sim
