#include "node/ready_pump.h"

namespace synod::node {

ReadyPump::ReadyPump(paxos::Core& core, Persister& persister, MessageSink& network,
                     CommitSink& commits)
    : core_(core), persister_(persister), network_(network), commits_(commits) {}

void ReadyPump::Pump() {
  while (!write_in_flight_ && core_.HasReady()) {
    paxos::Ready ready = core_.TakeReady();
    // A leader's Accept requests leave while its own write runs.
    for (const paxos::Message& message : ready.messages) network_.Send(message);
    for (const paxos::CommittedEntry& entry : ready.committed) commits_.Apply(entry);
    if (!ready.NeedsPersist()) {
      if (!ready.unsynced_entries.empty())
        persister_.WriteUnsynced(std::move(ready.unsynced_entries));
      // Nothing new to persist: what these replies report is already durable.
      for (const paxos::Message& message : ready.messages_after_persist) network_.Send(message);
      core_.Advance();
      continue;
    }
    write_in_flight_ = true;
    // Chosen marks ride along in the synced write (distinct slots from `entries`).
    for (paxos::SlotEntry& mark : ready.unsynced_entries) ready.entries.push_back(std::move(mark));
    std::vector<paxos::Message> after = std::move(ready.messages_after_persist);
    persister_.Persist(
        ready.promised, std::move(ready.entries),
        [this, after = std::move(after)]() mutable { OnPersisted(std::move(after)); });
  }
}

void ReadyPump::OnPersisted(std::vector<paxos::Message> after_persist) {
  write_in_flight_ = false;
  for (const paxos::Message& message : after_persist) network_.Send(message);
  core_.Advance();
  Pump();
}

}  // namespace synod::node
