// The tick loop of the TOY election rows (see toy_run.h).
#include "tests/sim/lessons/toy_run.h"

#include <map>
#include <memory>

#include "paxos/random.h"
#include "tests/sim/lessons/fault_state.h"
#include "tests/sim/lessons/shared_register.h"
#include "tests/sim/lessons/toy_bully.h"
#include "tests/sim/lessons/toy_ring.h"

namespace synod::sim::lessons {

RowMetrics RunToy(ToyProtocol protocol, const FaultSchedule& schedule, uint64_t seed,
                  const LessonsSetup& setup) {
  paxos::SplitMix64 random(seed ^ (protocol == ToyProtocol::kBully ? 0xB011ull : 0x121Bull));
  std::vector<std::unique_ptr<ToyNode>> nodes(setup.nodes + 1);
  for (NodeId id = 1; id <= setup.nodes; ++id) {
    if (protocol == ToyProtocol::kBully) {
      nodes[id] = std::make_unique<ToyBully>(id, setup.nodes, ToyTiming{});
    } else {
      nodes[id] = std::make_unique<ToyRing>(id, setup.nodes, ToyTiming{});
    }
  }
  FaultState faults(schedule);
  SharedRegister shared(/*fencing=*/false);
  std::vector<uint64_t> wins(setup.nodes + 1, 0);
  std::vector<uint64_t> election(setup.nodes + 1, 0);  // each node's latest win, in win order
  uint64_t elections = 0;
  std::multimap<uint64_t, ToyMessage> network;                 // by delivery tick
  std::multimap<uint64_t, RegisterWrite> to_register;          // by arrival tick
  std::vector<std::vector<ToyMessage>> held(setup.nodes + 1);  // inbox of a paused node
  std::vector<RegisterWrite> held_write;                       // the paused node's pending write
  RowMetrics metrics;

  auto send = [&](uint64_t now, std::vector<ToyMessage>& out) {
    for (ToyMessage& message : out) {
      if (faults.Passes(message.from, message.to, random)) {
        network.emplace(now + random.Uniform(1, 4), std::move(message));
      }
    }
    out.clear();
  };
  auto note_wins = [&]() {
    for (NodeId id = 1; id <= setup.nodes; ++id) {
      if (nodes[id]->wins() != wins[id]) {
        wins[id] = nodes[id]->wins();
        election[id] = ++elections;
      }
    }
  };
  auto current_leader = [&]() {
    NodeId leader = 0;
    for (NodeId id = 1; id <= setup.nodes; ++id) {
      if (!faults.Paused(id) && nodes[id]->Leads() &&
          (leader == 0 || election[id] > election[leader])) {
        leader = id;
      }
    }
    return leader;
  };

  std::vector<ToyMessage> out;
  for (uint64_t now = 0; now < setup.ticks; ++now) {
    FaultState::Change change = faults.Advance(now, current_leader());
    if (change.paused != 0) {  // caught between deciding to write and writing
      held_write.push_back({change.paused, election[change.paused], 0});
    }
    if (change.resumed != 0) {
      for (const RegisterWrite& write : held_write) {
        to_register.emplace(now + random.Uniform(1, 4), write);
      }
      held_write.clear();
      for (const ToyMessage& message : held[change.resumed]) {
        nodes[change.resumed]->Receive(message, now, out);
      }
      held[change.resumed].clear();
      send(now, out);
    }
    while (!network.empty() && network.begin()->first <= now) {
      ToyMessage message = std::move(network.begin()->second);
      network.erase(network.begin());
      if (faults.Paused(message.to)) {
        held[message.to].push_back(std::move(message));
        continue;
      }
      nodes[message.to]->Receive(message, now, out);
      send(now, out);
    }
    for (NodeId id = 1; id <= setup.nodes; ++id) {
      if (faults.Paused(id)) continue;
      nodes[id]->Tick(now, out);
      send(now, out);
    }
    note_wins();
    size_t leaders = 0;
    for (NodeId id = 1; id <= setup.nodes; ++id) {
      if (faults.Paused(id) || !nodes[id]->Leads()) continue;
      ++leaders;
      if (now % setup.write_every == 0) {
        to_register.emplace(now + random.Uniform(1, 4), RegisterWrite{id, election[id], 0});
      }
    }
    if (leaders >= 2) ++metrics.two_leader_ticks;
    if (leaders == 0) ++metrics.leaderless_ticks;
    while (!to_register.empty() && to_register.begin()->first <= now) {
      shared.Write(to_register.begin()->second);
      to_register.erase(to_register.begin());
    }
  }
  metrics.conflicting = shared.conflicting();
  metrics.accepted = shared.accepted();
  metrics.refused = shared.refused();
  return metrics;
}

}  // namespace synod::sim::lessons
