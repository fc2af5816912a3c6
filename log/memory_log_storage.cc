#include "log/memory_log_storage.h"

namespace synod::log {

MemoryLogStorage::MemoryLogStorage(LogMetadata metadata, FatalHandler fatal)
    : metadata_(std::move(metadata)), fatal_(std::move(fatal)) {}

bool MemoryLogStorage::CheckWrite(const char* what) {
  if (fail_next_) {
    fail_next_ = false;
    fatal_(std::string(what) + " in memory failed (injected)");
    return false;
  }
  ++writes_;
  fresh_ = false;
  return true;
}

void MemoryLogStorage::Persist(const std::optional<paxos::Ballot>& promised,
                               const std::vector<paxos::SlotEntry>& entries) {
  if (!CheckWrite("persisting acceptor state")) return;
  if (promised) promised_ = *promised;
  for (const paxos::SlotEntry& se : entries) entries_[se.slot] = se.entry;
}

void MemoryLogStorage::WriteUnsynced(const std::vector<paxos::SlotEntry>& entries) {
  if (!CheckWrite("recording chosen marks")) return;
  for (const paxos::SlotEntry& se : entries) entries_[se.slot] = se.entry;
}

void MemoryLogStorage::Compact(paxos::Slot through) {
  if (through <= compacted_ || !CheckWrite("compacting the log")) return;
  entries_.erase(entries_.begin(), entries_.upper_bound(through));
  compacted_ = through;
}

void MemoryLogStorage::SetClusterId(const std::string& cluster_id) {
  if (CheckWrite("recording the cluster id")) metadata_.cluster_id = cluster_id;
}

void MemoryLogStorage::SetApplied(paxos::Slot applied) {
  if (CheckWrite("recording the applied index")) applied_ = applied;
}

RecoveredLog MemoryLogStorage::Load() const {
  RecoveredLog out;
  out.metadata = metadata_;
  out.fresh = fresh_;
  out.applied = applied_;
  out.paxos.promised = promised_;
  out.paxos.compacted = compacted_;
  for (const auto& [slot, entry] : entries_) out.paxos.entries.push_back({slot, entry});
  return out;
}

}  // namespace synod::log
