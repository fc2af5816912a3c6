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
//   5. Call Core::Advance() once step 1 is durable.
#pragma once

#include <optional>
#include <vector>

#include "paxos/message.h"
#include "paxos/types.h"

namespace synod::paxos {

struct Ready {
  std::optional<Ballot> promised;               // new promised ballot to persist
  std::vector<SlotEntry> entries;               // new full state of each changed slot
  std::vector<SlotEntry> unsynced_entries;      // slots whose only change is the chosen mark
  std::vector<Message> messages;                // may leave at once
  std::vector<Message> messages_after_persist;  // leave only once persisted
  std::vector<CommittedEntry> committed;        // chosen values, next in slot order

  bool NeedsPersist() const { return promised.has_value() || !entries.empty(); }
  bool Empty() const {
    return !NeedsPersist() && unsynced_entries.empty() && messages.empty() &&
           messages_after_persist.empty() && committed.empty();
  }
};

// Durable acceptor state a core restarts from (what previous Readies persisted).
struct DurableState {
  Ballot promised;
  std::vector<SlotEntry> entries;  // any order
};

}  // namespace synod::paxos
