// MemoryLogStorage: the in-memory twin of LevelDbLogStorage for tests — same
// contract, nothing on disk, every Persist "durable" at once. It can be told
// to fail its next write, which then goes to the fatal handler exactly as a
// failed fsync would.
#pragma once

#include <map>

#include "log/log_storage.h"

namespace synod::log {

class MemoryLogStorage final : public LogStorage {
 public:
  MemoryLogStorage(LogMetadata metadata, FatalHandler fatal = ExitOnFatalStorageError);

  void Persist(const std::optional<paxos::Ballot>& promised,
               const std::vector<paxos::SlotEntry>& entries) override;
  void WriteUnsynced(const std::vector<paxos::SlotEntry>& entries) override;
  void Compact(paxos::Slot through) override;
  void SetClusterId(const std::string& cluster_id) override;
  void SetApplied(paxos::Slot applied) override;
  RecoveredLog Load() const override;

  // The next write fails (fatal) instead of being stored.
  void FailNextWrite() { fail_next_ = true; }
  size_t writes() const { return writes_; }

 private:
  bool CheckWrite(const char* what);

  LogMetadata metadata_;
  FatalHandler fatal_;
  paxos::Ballot promised_;
  std::map<paxos::Slot, paxos::Entry> entries_;
  paxos::Slot applied_ = 0;
  paxos::Slot compacted_ = 0;
  bool fail_next_ = false;
  size_t writes_ = 0;
  bool fresh_ = true;
};

}  // namespace synod::log
