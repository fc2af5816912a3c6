// FaultInjectionEnv: a leveldb::Env for tests and the simulator that keeps
// files in memory and models a disk cache — data appended but not yet synced
// is lost at Crash(), leaving a torn, unsynced tail — and can fail writes and
// syncs on demand. In the spirit of LevelDB's own fault_injection_test.
//
// Ownership: owns its in-memory base Env. Thread-safe (LevelDB calls it from
// its background thread too). Crash() requires every DB on it to be closed.
#pragma once

#include <leveldb/env.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace synod::log {

// Holds the in-memory Env so it exists before EnvWrapper is given it.
struct InMemoryEnvHolder {
  InMemoryEnvHolder();
  std::unique_ptr<leveldb::Env> in_memory;
};

class FaultInjectionEnv final : private InMemoryEnvHolder, public leveldb::EnvWrapper {
 public:
  FaultInjectionEnv();
  ~FaultInjectionEnv() override;

  leveldb::Status NewWritableFile(const std::string& name, leveldb::WritableFile** result) override;
  leveldb::Status NewAppendableFile(const std::string& name,
                                    leveldb::WritableFile** result) override;
  leveldb::Status RemoveFile(const std::string& name) override;
  leveldb::Status RenameFile(const std::string& from, const std::string& to) override;

  // A power cut: every file keeps its synced bytes and at most the first
  // `keep_unsynced` bytes of what was appended after its last sync (0, the
  // default, drops the whole unsynced tail; a partial count models a torn
  // write that half reached the platter). Requires every DB on this env to be
  // closed. Never fails: file access goes to the in-memory base env.
  void Crash(size_t keep_unsynced = 0);
  // While set, Append/Sync on writable files fail with an I/O error.
  void SetFailWrites(bool fail);
  bool fail_writes() const;
  // While set, only Sync fails: appended data stays unsynced (a torn tail).
  void SetFailSyncs(bool fail);
  bool fail_syncs() const;

  // Called by the wrapped files.
  void OnAppend(const std::string& name, size_t bytes);
  void OnSync(const std::string& name);

 private:
  struct FileState {
    size_t size = 0;
    size_t synced = 0;
  };
  mutable std::mutex mutex_;
  std::map<std::string, FileState> files_;
  bool fail_writes_ = false;
  bool fail_syncs_ = false;
};

}  // namespace synod::log
