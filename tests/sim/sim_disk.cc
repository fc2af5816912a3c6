// SimCluster::SimDisk: the simulated disk under a replica's node::ReadyPump.
// A synced write is durable only at its kDiskDone event; the checker is told
// then, before the pump's `done` lets the replies that report it leave.
#include "tests/sim/sim_replica.h"

namespace synod::sim {

void SimCluster::SimDisk::Persist(std::optional<Ballot> promised,
                                  std::vector<paxos::SlotEntry> entries,
                                  std::vector<paxos::SlotEntry> chosen_marks,
                                  node::WritePlacement /*placement*/, std::function<void()> done) {
  // The placement only says which thread runs the write: the simulated disk
  // has one latency model for all.
  ++generation_;
  promised_ = promised;
  entries_ = std::move(entries);
  chosen_marks_ = std::move(chosen_marks);
  done_ = std::move(done);
  if (cluster_.manual_network_) return;  // SimCluster::Drain completes it at once
  SimTime latency = 1 + cluster_.rng_() % 8;
  if (cluster_.rng_() % 8 == 0) latency += cluster_.rng_() % 80;  // a slow fsync
  cluster_.events_.emplace(cluster_.now_ + latency,
                           Event{Event::Kind::kDiskDone, Message{}, replica_.id, generation_});
}

void SimCluster::SimDisk::WriteUnsynced(std::vector<paxos::SlotEntry> entries) {
  KeepUnsynced(std::move(entries));
}

void SimCluster::SimDisk::WriteCompaction(Slot through) {
  cluster_.CheckCompaction(replica_, through);
  KeepCompaction(through);
}

void SimCluster::SimDisk::Done(uint64_t generation) {
  if (!done_ || generation != generation_) return;
  KeepSyncedWrite();
  // The disk acknowledged: from here on the replica may claim this state.
  cluster_.checker_.OnDurable(replica_.id, promised_, entries_);
  cluster_.checker_.OnDurable(replica_.id, std::nullopt, chosen_marks_);
  promised_.reset();
  entries_.clear();
  chosen_marks_.clear();
  std::function<void()> done = std::move(done_);
  done_ = nullptr;
  done();  // the pump sends what waited for this write, advances and pumps on
}

void SimCluster::SimDisk::Crash() {
  ++generation_;  // its kDiskDone event, if still queued, finds nothing
  promised_.reset();
  entries_.clear();
  chosen_marks_.clear();
  done_ = nullptr;
  replica_.unsynced_entries.clear();  // never synced: lost
  replica_.unsynced_compaction.reset();
}

void SimCluster::SimDisk::KeepSyncedWrite() {
  // This sync also makes the unsynced writes before it durable.
  for (const paxos::SlotEntry& se : replica_.unsynced_entries) {
    replica_.disk_entries[se.slot] = se.entry;
  }
  cluster_.checker_.OnDurable(replica_.id, std::nullopt, replica_.unsynced_entries);
  replica_.unsynced_entries.clear();
  cluster_.ApplyUnsyncedCompaction(replica_);
  if (promised_) replica_.disk_promised = *promised_;
  for (const auto* written : {&entries_, &chosen_marks_}) {
    for (const paxos::SlotEntry& se : *written) replica_.disk_entries[se.slot] = se.entry;
  }
  if (replica_.storage)
    replica_.storage->PersistWithChosenMarks(promised_, entries_, chosen_marks_);
}

void SimCluster::SimDisk::KeepUnsynced(std::vector<paxos::SlotEntry> entries) {
  if (replica_.storage) replica_.storage->WriteUnsynced(entries);
  for (paxos::SlotEntry& mark : entries) replica_.unsynced_entries.push_back(std::move(mark));
}

void SimCluster::SimDisk::KeepCompaction(Slot through) { cluster_.Compact(replica_, through); }

}  // namespace synod::sim
