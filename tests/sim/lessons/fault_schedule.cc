// Seeded generation of the lessons' fault windows (see fault_schedule.h).
#include "tests/sim/lessons/fault_schedule.h"

#include <algorithm>
#include <numeric>

#include "paxos/random.h"

namespace synod::sim::lessons {

std::string FaultKindName(FaultKind kind) {
  switch (kind) {
    case FaultKind::kSplit:
      return "split";
    case FaultKind::kAsymmetric:
      return "asymmetric";
    case FaultKind::kPausedLeader:
      return "paused-leader";
  }
  return "?";
}

std::vector<FaultKind> AllFaultKinds() {
  return {FaultKind::kSplit, FaultKind::kAsymmetric, FaultKind::kPausedLeader};
}

FaultSchedule MakeFaultSchedule(FaultKind kind, uint64_t seed, uint32_t nodes, uint64_t ticks) {
  // One generator per (seed, kind): every row sees the same window.
  paxos::SplitMix64 random(seed * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(kind) + 1);
  FaultSchedule schedule;
  schedule.kind = kind;
  schedule.start = random.Uniform(ticks * 3 / 16, ticks * 5 / 16);
  schedule.end = schedule.start + random.Uniform(ticks * 3 / 16, ticks * 6 / 16);
  schedule.side_a.assign(nodes + 1, false);
  std::vector<NodeId> order(nodes);
  std::iota(order.begin(), order.end(), 1);
  for (size_t i = order.size(); i > 1; --i) {  // Fisher-Yates on our own generator
    std::swap(order[i - 1], order[random.Uniform(0, i)]);
  }
  for (uint32_t i = 0; i < nodes / 2; ++i) schedule.side_a[order[i]] = true;
  schedule.loss = 0.7 + 0.3 * static_cast<double>(random.Uniform(0, 1001)) / 1000.0;
  return schedule;
}

}  // namespace synod::sim::lessons
