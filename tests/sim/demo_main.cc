// synod-sim-demo: a narrated, simulated 3-replica cluster (deterministic, in
// one process): an election, commits, a leader crash, a new leader carrying
// on, and the old leader returning and catching up. The networked demo
// replaces this once replicas run as processes.
#include <iostream>
#include <string>

#include "tests/sim/sim_cluster.h"

namespace {

using synod::paxos::ReplicaId;
using synod::sim::SimCluster;

class Narrator {
 public:
  explicit Narrator(SimCluster& cluster) : cluster_(cluster) {}

  void Say(const std::string& line) {
    std::cout << "[t=" << cluster_.now() / synod::sim::kUnitsPerTick << " ticks] " << line
              << std::endl;
  }

  // Steps until a leader exists (or `limit` units pass); announces it.
  ReplicaId AwaitLeader(uint64_t limit) {
    for (uint64_t i = 0; i < limit; ++i) {
      cluster_.Step();
      ReplicaId leader = cluster_.Leader();
      if (leader != 0 && cluster_.Status(leader).leader == leader) {
        if (leader != announced_) {
          announced_ = leader;
          Say("replica " + std::to_string(leader) + " is leader with ballot " +
              cluster_.Status(leader).leader_ballot.ToString());
        }
        return leader;
      }
    }
    return 0;
  }

  // Proposes "add value" at the leader and steps until it is applied there.
  void Add(uint32_t client, uint64_t seq, int64_t value) {
    synod::sim::ClientCommand command{"add", client, seq, value};
    ReplicaId leader = AwaitLeader(100000);
    cluster_.Propose(leader, command.Encode());
    uint64_t before = cluster_.Status(leader).chosen_point;
    for (int i = 0; i < 10000 && cluster_.Status(leader).chosen_point == before; ++i) {
      cluster_.Step();
    }
    Say("client " + std::to_string(client) + ": add " + std::to_string(value) +
        " committed in slot " + std::to_string(cluster_.Status(leader).chosen_point) +
        " by leader " + std::to_string(leader) +
        ", counter = " + std::to_string(cluster_.Counter(leader)));
  }

  void Settle(uint64_t units) {
    for (uint64_t i = 0; i < units; ++i) cluster_.Step();
  }

  void Report() {
    for (ReplicaId id : cluster_.ids()) {
      synod::paxos::CoreStatus status = cluster_.Status(id);
      Say("  replica " + std::to_string(id) + ": " +
          (cluster_.IsUp(id) ? std::string(synod::paxos::RoleName(status.role)) : "down") +
          ", chosen up to slot " + std::to_string(status.chosen_point) + ", counter " +
          (cluster_.IsUp(id) ? std::to_string(cluster_.Counter(id)) : "-"));
    }
  }

 private:
  SimCluster& cluster_;
  ReplicaId announced_ = 0;
};

}  // namespace

int main() {
  synod::sim::SimOptions options;
  options.seed = 2026;
  options.replicas = 3;
  synod::paxos::CoreOptions core;
  SimCluster cluster(options, core, /*manual_network=*/false, nullptr);
  Narrator narrator(cluster);

  narrator.Say("starting a simulated 3-replica Synod cluster (Multi-Paxos, fsync simulated)");
  ReplicaId leader = narrator.AwaitLeader(100000);
  uint64_t seq = 0;
  for (int64_t v : {5, 10, 20}) narrator.Add(1, ++seq, v);
  narrator.Settle(200);
  narrator.Report();

  narrator.Say("crashing the leader, replica " + std::to_string(leader) + " (kill -9)");
  cluster.Crash(leader);
  ReplicaId next = narrator.AwaitLeader(100000);
  for (int64_t v : {1, 2}) narrator.Add(2, ++seq, v);
  narrator.Settle(200);
  narrator.Report();

  narrator.Say("restarting replica " + std::to_string(leader) + " from its durable state");
  cluster.Restart(leader);
  narrator.Settle(600);
  narrator.Report();
  bool caught_up = cluster.Counter(leader) == cluster.Counter(next);
  narrator.Say(caught_up ? "replica " + std::to_string(leader) + " caught up: all counters agree"
                         : "replica did not catch up");
  return caught_up ? 0 : 1;
}
