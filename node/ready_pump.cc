#include "node/ready_pump.h"

namespace synod::node {

ReadyPump::ReadyPump(paxos::Core& core, Persister& persister, MessageSink& network,
                     CommitSink& commits, SnapshotNeeds* snapshots)
    : core_(core),
      persister_(persister),
      network_(network),
      commits_(commits),
      snapshots_(snapshots) {}

void ReadyPump::Pump() {
  while (!write_in_flight_ && core_.HasReady()) {
    paxos::Ready ready = core_.TakeReady();
    // A leader's Accept requests leave while its own write runs.
    for (const paxos::Message& message : ready.messages) network_.Send(message);
    for (const paxos::CommittedEntry& entry : ready.committed) commits_.Apply(entry);
    if (!ready.committed.empty()) commits_.BatchApplied();
    // No write is in flight here, so the deletion is ordered after every
    // earlier write and before this Ready's (which only holds later slots).
    if (ready.compact_through) persister_.WriteCompaction(*ready.compact_through);
    if (ready.fetch_snapshot && snapshots_ != nullptr)
      snapshots_->FetchSnapshot(*ready.fetch_snapshot);
    if (!ready.NeedsPersist()) {
      if (!ready.unsynced_entries.empty())
        persister_.WriteUnsynced(std::move(ready.unsynced_entries));
      // Nothing new to persist: what these replies report is already durable.
      for (const paxos::Message& message : ready.messages_after_persist) network_.Send(message);
      core_.Advance();
      continue;
    }
    write_in_flight_ = true;
    after_persist_ = std::move(ready.messages_after_persist);
    // A small write (light load: latency matters most) may hold the loop for
    // its fsync, a leader's only after its Accepts (in `messages`) have left.
    // A large one runs off the loop, which keeps receiving meanwhile.
    bool small = true;
    size_t bytes = 0;
    for (size_t i = 0; small && i < ready.entries.size(); ++i) {
      bytes += ready.entries[i].entry.value->ByteSize();
      small = bytes <= kInlineWriteMaxBytes;
    }
    WritePlacement placement = !small                   ? WritePlacement::kStorageThread
                               : ready.messages.empty() ? WritePlacement::kLoopNow
                                                        : WritePlacement::kLoopAfterSends;
    // Chosen marks ride along in the synced write (distinct slots from `entries`).
    persister_.Persist(ready.promised, std::move(ready.entries), std::move(ready.unsynced_entries),
                       placement, [this] { OnPersisted(); });
  }
}

void ReadyPump::OnPersisted() {
  write_in_flight_ = false;
  std::vector<paxos::Message> after_persist = std::move(after_persist_);
  after_persist_.clear();
  for (const paxos::Message& message : after_persist) network_.Send(message);
  core_.Advance();
  Pump();
}

}  // namespace synod::node
