// LevelDbLogStorage: LogStorage on LevelDB, one synced WriteBatch per Persist.
//
// Data directory rules (Open):
//   - absent or empty: a fresh replica — the directory is created, its
//     identity record written and synced, and the parent of each directory
//     created (missing ancestors included) fsynced;
//   - non-empty: it must hold this replica's log (LevelDB's CURRENT file, a
//     write-ahead *.log file, and a valid identity record); missing or corrupt
//     files, another replica's or another cluster's log, or a newer format
//     are refused with an error naming the path. A replica never starts on
//     data it cannot trust;
//   - one exception: a LevelDB database holding no record at all (a first
//     start that died before writing its identity) is initialised as fresh —
//     it never promised anything.
// Keys: "meta" (identity), "promised", "applied", "compacted", "e"+8-byte
// big-endian slot (an entry), "k"+slot (a chosen mark: that slot's entry is
// chosen; builds before 2026-12-03 refuse such a log); every write also deletes "~end"+8 x 0xff
// (never present), so each write-ahead log record ends in non-zero bytes (see
// preallocated_log_env.h, Recovery).
#pragma once

#include <leveldb/db.h>
#include <leveldb/env.h>

#include <memory>
#include <string>

#include "log/log_storage.h"
#include "log/preallocated_log_env.h"
#include "util/status.h"

namespace synod::log {

struct LevelDbOptions {
  std::string dir;
  paxos::ReplicaId replica_id = paxos::kNoReplica;
  // Refuse a log recorded for another cluster ("" accepts any, e.g. before
  // the cluster id is known).
  std::string expected_cluster_id;
  // File system; null = the real one. Tests pass a FaultInjectionEnv.
  leveldb::Env* env = nullptr;
  // With env == nullptr only: give LevelDB preallocated write-ahead log files
  // through the process-wide PreallocatedLogEnv (cheaper fdatasync per synced
  // write; see log/preallocated_log_env.h). false = plain Env::Default().
  bool preallocate_log_files = true;
  FatalHandler fatal = ExitOnFatalStorageError;
};

class LevelDbLogStorage final : public LogStorage {
 public:
  // Opens (or creates) the log in its steps (inspect or create the
  // directory, open the database, load or write the identity record, check
  // every record). A failed step's Status names the path. Never calls the
  // fatal handler.
  static Result<std::unique_ptr<LevelDbLogStorage>> Open(LevelDbOptions options);

  ~LevelDbLogStorage() override;

  void Persist(const std::optional<paxos::Ballot>& promised,
               const std::vector<paxos::SlotEntry>& entries) override;
  void WriteUnsynced(const std::vector<paxos::SlotEntry>& entries) override;
  void PersistWithChosenMarks(const std::optional<paxos::Ballot>& promised,
                              const std::vector<paxos::SlotEntry>& entries,
                              const std::vector<paxos::SlotEntry>& chosen_marks) override;
  void Compact(paxos::Slot through) override;
  void SetClusterId(const std::string& cluster_id) override;
  void SetApplied(paxos::Slot applied) override;
  RecoveredLog Load() const override;

 private:
  LevelDbLogStorage(LevelDbOptions options, std::unique_ptr<leveldb::DB> db, bool fresh,
                    LogMetadata metadata, PreallocatedLogEnv* preallocated);
  // Reads everything; returns an error naming the path if anything is corrupt.
  std::string LoadChecked(RecoveredLog& out) const;
  void Write(leveldb::WriteBatch& batch, const char* what, bool sync = true);

  LevelDbOptions options_;
  // The process-wide env db_ runs on when it preallocates log files (never
  // destroyed), else null. Told to forget options_.dir when db_ closes.
  PreallocatedLogEnv* preallocated_;
  std::unique_ptr<leveldb::DB> db_;
  bool fresh_;
  LogMetadata metadata_;
  paxos::Slot compacted_ = 0;  // last compaction point written (deletions start above it)
  // What Open read to check the log, handed out by the first Load() if no
  // write happened in between (then cleared).
  mutable std::optional<RecoveredLog> first_load_;
};

}  // namespace synod::log
