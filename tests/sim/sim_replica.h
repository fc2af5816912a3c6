// SimCluster::Replica: one simulated replica's core, disks and application.
// Private to the simulator's SimCluster implementation files.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "log/fault_injection_env.h"
#include "log/leveldb_log_storage.h"
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
  // The write in flight (at most one: the core has one Ready outstanding).
  bool writing = false;
  uint64_t generation = 0;
  std::optional<Ballot> write_promised;
  std::vector<paxos::SlotEntry> write_entries;
  std::vector<paxos::SlotEntry> write_chosen_marks;  // in the same synced write
  // Chosen marks written without a sync: durable only once a later synced
  // write completes (it syncs the log they are in); a crash loses them.
  std::vector<paxos::SlotEntry> unsynced_entries;
  std::vector<Message> write_after_persist;
  // Events held while paused.
  std::vector<Event> held;
  // Application.
  SimCounterApp app;
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

}  // namespace synod::sim
