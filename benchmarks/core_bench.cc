// Micro-benchmark of the paxos core alone, in memory: three cores wired by
// direct function calls (no network, no disk, no application), a leader fed
// commands as fast as it takes them. Reports committed commands per second —
// the ceiling the protocol logic itself puts on throughput.
//
//   build/release/benchmarks/synod-core-bench
#include <benchmark/benchmark.h>

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "paxos/core.h"

namespace {

using namespace synod::paxos;

// Three in-memory cores; Ready state is "durable" as soon as it is taken.
class InMemoryCluster {
 public:
  explicit InMemoryCluster(CoreOptions options) {
    for (ReplicaId id : {1u, 2u, 3u}) {
      randoms_.push_back(std::make_unique<SplitMix64>(id));
      cores_[id] = std::make_unique<Core>(id, Configuration({1, 2, 3}), options, *randoms_.back(),
                                          DurableState{}, 0);
    }
  }

  ReplicaId ElectLeader() {
    for (int i = 0; i < 1000; ++i) {
      for (auto& [id, core] : cores_) core->Tick();
      Pump();
      for (auto& [id, core] : cores_) {
        if (core->Status().role == Role::kLeader) return id;
      }
    }
    return kNoReplica;
  }

  // Delivers everything until quiet; returns commands applied at the leader.
  uint64_t Pump(ReplicaId leader = kNoReplica) {
    uint64_t applied = 0;
    while (true) {
      bool busy = false;
      for (auto& [id, core] : cores_) {
        while (core->HasReady()) {
          busy = true;
          Ready ready = core->TakeReady();
          for (Message& m : ready.messages) queue_.push_back(std::move(m));
          for (Message& m : ready.messages_after_persist) queue_.push_back(std::move(m));
          if (id == leader) {
            for (const CommittedEntry& e : ready.committed) applied += e.value->commands.size();
          }
          core->Advance();
        }
      }
      while (!queue_.empty()) {
        busy = true;
        Message m = std::move(queue_.front());
        queue_.pop_front();
        cores_[m.to]->Step(m);
      }
      if (!busy) return applied;
    }
  }

  Core& core(ReplicaId id) { return *cores_[id]; }

 private:
  std::vector<std::unique_ptr<SplitMix64>> randoms_;
  std::map<ReplicaId, std::unique_ptr<Core>> cores_;
  std::deque<Message> queue_;
};

// Arg 0: commands per Propose call; arg 1: max commands per slot.
void BM_CoreCommit(benchmark::State& state) {
  CoreOptions options;
  options.window_slots = 64;
  options.max_batch_commands = static_cast<uint32_t>(state.range(1));
  InMemoryCluster cluster(options);
  ReplicaId leader = cluster.ElectLeader();
  if (leader == kNoReplica) {
    state.SkipWithError("no leader");
    return;
  }
  const std::string payload(100, 'x');
  uint64_t committed = 0;
  for (auto _ : state) {
    std::vector<std::string> batch(static_cast<size_t>(state.range(0)), payload);
    cluster.core(leader).Propose(std::move(batch));
    committed += cluster.Pump(leader);
  }
  state.counters["commands/s"] =
      benchmark::Counter(static_cast<double>(committed), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_CoreCommit)->Args({1, 1})->Args({64, 64})->Args({256, 256})->Args({1024, 256});

}  // namespace

BENCHMARK_MAIN();
