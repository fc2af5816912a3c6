// Applying a lessons fault window tick by tick (see fault_state.h).
#include "tests/sim/lessons/fault_state.h"

namespace synod::sim::lessons {

FaultState::Change FaultState::Advance(uint64_t now, NodeId leader) {
  Change change;
  if (active_ && now >= schedule_.end) {
    active_ = false;
    if (paused_ != 0) change.resumed = paused_;
    paused_ = 0;
    return change;
  }
  if (active_ || !InWindow(now)) return change;
  if (schedule_.kind == FaultKind::kSplit) {
    active_ = true;
    return change;
  }
  if (leader == 0) return change;  // wait for a leader to be the victim
  active_ = true;
  victim_ = leader;
  if (schedule_.kind == FaultKind::kPausedLeader) {
    paused_ = leader;
    change.paused = leader;
  }
  return change;
}

bool FaultState::Passes(NodeId from, NodeId to, paxos::RandomSource& random) const {
  if (!active_ || from == to) return true;
  switch (schedule_.kind) {
    case FaultKind::kSplit:
      return schedule_.side_a[from] == schedule_.side_a[to];
    case FaultKind::kAsymmetric:
      if (from != victim_) return true;
      return static_cast<double>(random.Uniform(0, 1000000)) / 1000000.0 >= schedule_.loss;
    case FaultKind::kPausedLeader:
      return true;
  }
  return true;
}

}  // namespace synod::sim::lessons
