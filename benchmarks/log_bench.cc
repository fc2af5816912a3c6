// Micro-benchmark of durable log appends: LevelDbLogStorage::Persist (one
// synced WriteBatch) with 1..256 entries of 100-byte commands per batch, on
// the real file system under /tmp. This is the fsync ceiling group commit
// works against. Also reports records/s (entries per second).
//
// BM_PersistSynced writes plain (appended) LevelDB log files;
// BM_PersistSyncedPreallocated writes into a log file preallocated by
// PreallocatedLogEnv (the default on the real file system), where fdatasync
// need not write the inode. Compare them at batch 1:
//
//   build/release/benchmarks/synod-log-bench --benchmark_filter='PersistSynced.*/1/'
#include <benchmark/benchmark.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "log/leveldb_log_storage.h"
#include "log/preallocated_log_env.h"
#include "tests/support/temp_dir.h"

namespace {

using synod::paxos::Ballot;
using synod::paxos::SlotEntry;

// Persists batches of `state.range(0)` entries into a new LevelDB log in
// `dir`; `env` null = plain log files. The storage is closed on return.
void PersistSyncedIn(benchmark::State& state, synod::log::PreallocatedLogEnv* env,
                     const std::filesystem::path& dir) {
  synod::log::LevelDbOptions options;
  options.dir = dir.string();
  options.replica_id = 1;
  options.preallocate_log_files = false;
  options.env = env;
  auto opened = synod::log::LevelDbLogStorage::Open(options);
  if (opened.ok() && env != nullptr) {
    // A fresh directory's first log is plain; reopen once a spare is ready so
    // the log written below is a preallocated one.
    (*opened).reset();
    if (!env->WaitForSpare(dir.string(), std::chrono::seconds(60))) {
      state.SkipWithError("no spare log file was made");
      return;
    }
    opened = synod::log::LevelDbLogStorage::Open(options);
  }
  if (!opened.ok()) {
    state.SkipWithError(opened.status().message().c_str());
    return;
  }
  const int64_t batch = state.range(0);
  const std::string command(100, 'x');
  synod::paxos::ValuePtr value = synod::paxos::MakeCommandsValue({command});
  uint64_t slot = 0;
  for (auto _ : state) {
    std::vector<SlotEntry> entries;
    entries.reserve(static_cast<size_t>(batch));
    for (int64_t i = 0; i < batch; ++i) {
      entries.push_back(SlotEntry{++slot, synod::paxos::Entry{Ballot{1, 1}, value, false}});
    }
    (*opened)->Persist(Ballot{1, 1}, entries);
  }
  state.counters["batches/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["records/s"] = benchmark::Counter(static_cast<double>(state.iterations() * batch),
                                                   benchmark::Counter::kIsRate);
}

// PersistSyncedIn in a fresh private directory (mkdtemp: two runs at once, or
// a leftover of the same pid, never share it), removed afterwards; `env`
// forgets the directory first, on every path, as it requires.
void RunPersistSynced(benchmark::State& state, synod::log::PreallocatedLogEnv* env) {
  std::optional<synod::test_support::TempDir> temp;
  try {
    temp.emplace("synod-log-bench");
  } catch (const std::runtime_error& error) {
    state.SkipWithError(error.what());
    return;
  }
  std::filesystem::path dir = temp->path() / "log";
  PersistSyncedIn(state, env, dir);
  if (env != nullptr) env->ForgetDirectory(dir.string());
}

void BM_PersistSynced(benchmark::State& state) { RunPersistSynced(state, nullptr); }
BENCHMARK(BM_PersistSynced)->Arg(1)->Arg(16)->Arg(64)->Arg(256)->UseRealTime();

void BM_PersistSyncedPreallocated(benchmark::State& state) {
  // Spares sized as LevelDbLogStorage sizes them (4 MiB write buffer + 1 MiB).
  static auto* const env = new synod::log::PreallocatedLogEnv(5 << 20);
  RunPersistSynced(state, env);
}
BENCHMARK(BM_PersistSyncedPreallocated)->Arg(1)->Arg(16)->Arg(64)->Arg(256)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
