// LogStorage: the durable home of one replica's acceptor state — promised
// ballot, accepted entries with chosen marks, the applied index (recorded with
// snapshots) and the data directory's identity.
//
// Contract: Persist is one atomic, synced write (group commit: one per Ready).
// A failed write or sync is fatal: the implementation calls its FatalHandler,
// which never returns (default: print the path and reason, exit 74). There is
// no retry and no "carry on as if it were safe".
// Thread: not thread-safe; one owner (the runtime's storage thread) at a time.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "log/entry_codec.h"
#include "paxos/ready.h"

namespace synod::log {

// Called with a message when durability cannot be guaranteed. Must not return.
using FatalHandler = std::function<void(const std::string& message)>;

// The default FatalHandler: prints "synod: fatal storage error: <message>" to
// stderr and exits the process with status 74 without running destructors.
[[noreturn]] void ExitOnFatalStorageError(const std::string& message);

// Everything a replica restarts from.
struct RecoveredLog {
  LogMetadata metadata;
  paxos::DurableState paxos;  // promised ballot and entries, in slot order
  paxos::Slot applied = 0;    // applied index recorded with the last snapshot
  bool fresh = false;         // the data directory was absent or empty
};

class LogStorage {
 public:
  virtual ~LogStorage() = default;
  // Durably stores `promised` (if set) and `entries` in one synced write.
  virtual void Persist(const std::optional<paxos::Ballot>& promised,
                       const std::vector<paxos::SlotEntry>& entries) = 0;
  // Stores `entries` (chosen marks, see paxos/ready.h: each slot's stored
  // entry already has this ballot and value, only `chosen` is new) in order
  // with the other writes but without a sync: a crash may lose any of them.
  // Write failures are still fatal.
  virtual void WriteUnsynced(const std::vector<paxos::SlotEntry>& entries) = 0;
  // Persist(promised, entries) that also records `chosen_marks` (as for
  // WriteUnsynced; slots distinct from `entries`'). The marks may be written
  // first and unsynced; implementations that can do it in the same synced
  // write (LevelDB) do.
  virtual void PersistWithChosenMarks(const std::optional<paxos::Ballot>& promised,
                                      const std::vector<paxos::SlotEntry>& entries,
                                      const std::vector<paxos::SlotEntry>& chosen_marks) {
    if (!chosen_marks.empty()) WriteUnsynced(chosen_marks);
    Persist(promised, entries);
  }
  // Deletes the entries at slots <= `through` and records `through` as the
  // compaction point (RecoveredLog::paxos.compacted), without a sync: a crash
  // may undo it, which only leaves entries that are still true. The caller
  // guarantees a durable snapshot covers `through`. Lower points are ignored.
  virtual void Compact(paxos::Slot through) = 0;
  // Durably records the cluster id the members agreed on.
  virtual void SetClusterId(const std::string& cluster_id) = 0;
  // Durably records the applied index (called together with a snapshot).
  virtual void SetApplied(paxos::Slot applied) = 0;
  // Reads back everything persisted so far.
  virtual RecoveredLog Load() const = 0;
};

}  // namespace synod::log
