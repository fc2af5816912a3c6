// SimCluster's snapshots: taking them (a write that a crash can cut short),
// compacting the log below them, sending them to a replica that is behind a
// compacted log (a transfer that loss, partitions and a crash of either side
// can cut short) and installing them (again a write a crash can cut short),
// while the replica keeps applying entries it learns meanwhile.
//
// Checked here: a compaction never runs ahead of the durable snapshot; an
// installed snapshot is never older than the local state; the restored state
// equals every other replica's state after that slot (SafetyChecker::OnAppState).
#include "paxos/invariant.h"
#include "tests/sim/sim_cluster.h"
#include "tests/sim/sim_replica.h"

namespace synod::sim {

void SimCluster::MaybeTakeSnapshot(Replica& replica) {
  if (snapshot_every_ == 0 || replica.snapshot_taking) return;
  Slot last = replica.snapshot_disk ? replica.snapshot_disk->slot : 0;
  if (replica.applied_through < last + snapshot_every_) return;
  // Capturing the state is instant; writing it takes a while.
  replica.snapshot_taking = SimSnapshot{replica.applied_through, replica.app, replica.app_config};
  Note("snapshot " + std::to_string(replica.id) + " taking at " +
       std::to_string(replica.applied_through));
  SimTime latency = 1 + rng_() % 30;
  events_.emplace(now_ + latency, Event{Event::Kind::kSnapshotTaken, Message{}, replica.id,
                                        replica.restarts, nullptr, 0, 0});
}

void SimCluster::OnSnapshotTaken(Replica& replica) {
  if (!replica.snapshot_taking) return;
  SimSnapshot taken = std::move(*replica.snapshot_taking);
  replica.snapshot_taking.reset();
  if (replica.snapshot_disk && replica.snapshot_disk->slot >= taken.slot)
    return;  // installed newer
  replica.snapshot_disk = std::move(taken);
  Slot slot = replica.snapshot_disk->slot;
  Note("snapshot " + std::to_string(replica.id) + " durable at " + std::to_string(slot));
  replica.core->Compact(slot, log_tail_);
  Drain(replica);
}

void SimCluster::CheckCompaction(const Replica& replica, Slot through) const {
  Slot covered = replica.snapshot_disk ? replica.snapshot_disk->slot : 0;
  if (through > covered) {
    throw SimViolation("replica " + std::to_string(replica.id) + " compacts through " +
                       std::to_string(through) + " but its durable snapshot covers only " +
                       std::to_string(covered));
  }
}

void SimCluster::Compact(Replica& replica, Slot through) {
  // Written without a sync, in order with the other writes (see SimDisk::Done).
  replica.unsynced_compaction = std::max(replica.unsynced_compaction.value_or(0), through);
  if (replica.storage) replica.storage->Compact(through);
}

void SimCluster::ApplyUnsyncedCompaction(Replica& replica) {
  if (!replica.unsynced_compaction) return;
  Slot through = *replica.unsynced_compaction;
  replica.unsynced_compaction.reset();
  if (through <= replica.disk_compacted) return;
  replica.disk_compacted = through;
  replica.disk_entries.erase(replica.disk_entries.begin(),
                             replica.disk_entries.upper_bound(through));
}

void SimCluster::StartSnapshotTransfer(Replica& replica, const paxos::SnapshotFetch& fetch) {
  if (replica.snapshot_fetching || replica.snapshot_installing) return;  // one at a time
  Replica& sender = At(fetch.from);
  if (!sender.up || sender.paused || !sender.snapshot_disk) return;  // the core asks again
  if (SnapshotPathDown(sender.id, replica.id) || (drop_ > 0 && Uniform() < drop_)) return;
  replica.snapshot_fetching = true;
  Note("snapshot " + std::to_string(replica.id) + " fetching from " + std::to_string(sender.id) +
       " (at " + std::to_string(sender.snapshot_disk->slot) + ", wanted " +
       std::to_string(fetch.at_least) + ")");
  auto copy = std::make_shared<const SimSnapshot>(*sender.snapshot_disk);
  SimTime latency = 5 + rng_() % 60;  // many chunks
  events_.emplace(now_ + latency,
                  Event{Event::Kind::kSnapshotArrived, Message{}, replica.id, replica.restarts,
                        std::move(copy), sender.id, sender.restarts});
}

Slot SimCluster::SnapshotSlot(ReplicaId id) const {
  const Replica& replica = At(id);
  return replica.snapshot_disk ? replica.snapshot_disk->slot : 0;
}

void SimCluster::FetchSnapshotUnasked(ReplicaId id, ReplicaId from) {
  Replica& replica = At(id);
  if (id == from || !replica.up) return;
  Note("snapshot " + std::to_string(id) + " fetches from " + std::to_string(from) + " unasked");
  StartSnapshotTransfer(replica, paxos::SnapshotFetch{from, 0});
}

void SimCluster::OnSnapshotArrived(Replica& replica, const Event& event) {
  replica.snapshot_fetching = false;
  const Replica& sender = At(event.from);
  // The sender crashed halfway, or the link broke: the transfer is lost (the
  // core asks again).
  if (!sender.up || sender.restarts != event.from_generation ||
      SnapshotPathDown(sender.id, replica.id)) {
    return;
  }
  bool stale = event.snapshot->slot <= replica.applied_through;
  if ((stale && options_.broken != Break::kStaleSnapshot) || replica.snapshot_installing) return;
  replica.snapshot_installing = *event.snapshot;
  SimTime latency = 1 + rng_() % 20;
  events_.emplace(now_ + latency, Event{Event::Kind::kSnapshotInstalled, Message{}, replica.id,
                                        replica.restarts, nullptr, 0, 0});
}

void SimCluster::OnSnapshotInstalled(Replica& replica) {
  if (!replica.snapshot_installing) return;
  SimSnapshot received = std::move(*replica.snapshot_installing);
  replica.snapshot_installing.reset();
  // The snapshot is durable now. Entries applied meanwhile may have overtaken
  // it: then it is older than the local state and is ignored.
  if (received.slot <= replica.core->Status().delivered &&
      options_.broken != Break::kStaleSnapshot) {
    Note("snapshot " + std::to_string(replica.id) + " ignores " + std::to_string(received.slot) +
         " (already at " + std::to_string(replica.core->Status().delivered) + ")");
    return;
  }
  if (!replica.snapshot_disk || replica.snapshot_disk->slot < received.slot) {
    replica.snapshot_disk = received;
  }
  replica.snapshot_taking.reset();  // superseded
  replica.app = received.app;
  replica.app_config = received.config;
  replica.applied_through = received.slot;
  replica.applied_slots.clear();
  checker_.CheckSnapshotConfig(replica.id, received.slot, received.config);
  checker_.OnAppState(replica.id, received.slot, AppFingerprint(replica));
  paxos::Role before = replica.core->Status().role;
  bool installed = replica.core->InstallSnapshot(received.slot, received.config);
  SYNOD_INVARIANT(installed || options_.broken == Break::kStaleSnapshot,
                  "the core refused a snapshot newer than what it delivered");
  ++snapshots_installed_;
  if (installed) {  // the core knows the configuration after its chosen point
    paxos::CoreStatus status = replica.core->Status();
    checker_.CheckSnapshotConfig(replica.id, status.chosen_point,
                                 paxos::ConfigAt{status.config_slot, status.config});
  }
  paxos::Role after = replica.core->Status().role;
  Note("snapshot " + std::to_string(replica.id) + " installed at " + std::to_string(received.slot) +
       (before == after ? ""
                        : std::string(" (was ") + paxos::RoleName(before) + ", now " +
                              paxos::RoleName(after) + ")"));
  Drain(replica);
}

}  // namespace synod::sim
