// Micro-benchmark of durable log appends: LevelDbLogStorage::Persist (one
// synced WriteBatch) with 1..256 entries of 100-byte commands per batch, on
// the real file system under /tmp. This is the fsync ceiling group commit
// works against. Also reports records/s (entries per second).
//
//   build/release/benchmarks/synod-log-bench
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "log/leveldb_log_storage.h"

namespace {

using synod::paxos::Ballot;
using synod::paxos::SlotEntry;

void BM_PersistSynced(benchmark::State& state) {
  std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("synod-log-bench-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  synod::log::LevelDbOptions options;
  options.dir = dir.string();
  options.replica_id = 1;
  auto opened = synod::log::LevelDbLogStorage::Open(options);
  if (!opened.storage) {
    state.SkipWithError(opened.error.c_str());
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
    opened.storage->Persist(Ballot{1, 1}, entries);
  }
  state.counters["batches/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["records/s"] = benchmark::Counter(static_cast<double>(state.iterations() * batch),
                                                   benchmark::Counter::kIsRate);
  opened.storage.reset();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_PersistSynced)->Arg(1)->Arg(16)->Arg(64)->Arg(256)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
