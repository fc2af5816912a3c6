// Ready: everything the core asks the runtime to do after an input.
//
// Contract (enforced by the runtime and the simulator):
//   1. Persist `promised` (if set) and `entries` durably, in one atomic write.
//      `unsynced_entries` (chosen marks only) are written in order with the
//      other writes but need no sync and nothing waits for them: a crash may
//      lose any of them, which only forgets that a slot is known chosen.
//   2. Send `messages` at any time (even before step 1 completes).
//   3. Send `messages_after_persist` only after step 1 is durable: they report
//      promises and accepts that must survive a crash.
//   4. Apply `committed` in order (they are chosen; persisting the applied index
//      is the application layer's job).
//   4a. If `compact_through` is set, delete stored entries at slots <= it and
//      record it as the compaction point, in order with the other writes (no
//      sync needed: a lost deletion only leaves entries that are still true).
//   4b. If `fetch_snapshot` is set, fetch that peer's latest snapshot, make it
//      durable, restore the application from it and call
//      Core::InstallSnapshot (the peer deleted slots this replica still needs).
//   5. Call Core::Advance() once step 1 is durable.
#pragma once

#include <optional>
#include <vector>

#include "paxos/message.h"
#include "paxos/types.h"

namespace synod::paxos {

// "Fetch the latest snapshot of replica `from`; it covers at least `at_least`."
struct SnapshotFetch {
  ReplicaId from = kNoReplica;
  Slot at_least = 0;
};

struct Ready {
  std::optional<Ballot> promised;               // new promised ballot to persist
  std::vector<SlotEntry> entries;               // new full state of each changed slot
  std::vector<SlotEntry> unsynced_entries;      // slots whose only change is the chosen mark
  std::vector<Message> messages;                // may leave at once
  std::vector<Message> messages_after_persist;  // leave only once persisted
  std::vector<CommittedEntry> committed;        // chosen values, next in slot order
  std::optional<Slot> compact_through;          // delete stored entries <= this
  std::optional<SnapshotFetch> fetch_snapshot;  // this replica needs a peer's snapshot

  bool NeedsPersist() const { return promised.has_value() || !entries.empty(); }
  bool Empty() const {
    return !NeedsPersist() && unsynced_entries.empty() && messages.empty() &&
           messages_after_persist.empty() && committed.empty() && !compact_through &&
           !fetch_snapshot;
  }
};

// Durable acceptor state a core restarts from (what previous Readies persisted).
struct DurableState {
  Ballot promised;
  std::vector<SlotEntry> entries;  // any order
  Slot compacted = 0;              // entries <= compacted were deleted (covered by a snapshot)
};

}  // namespace synod::paxos
