// FaultSchedule: one seeded fault window, shared by every row of the
// election lessons (the toy Bully and Ring protocols and Synod's Election
// recipe), so each protocol meets the same split, the same lossy link and
// the same pause. Pure data plus the generator; the rows apply it through
// FaultState (fault_state.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace synod::sim::lessons {

// Nodes are numbered 1..n.
using NodeId = uint32_t;

enum class FaultKind : uint8_t {
  kSplit,         // the nodes split into two sides that cannot reach each other
  kAsymmetric,    // the leader's messages to its peers are lost; it still hears them
  kPausedLeader,  // the leader stops (SIGSTOP, a VM stall) between deciding to write and writing
};
// "split", "asymmetric" or "paused-leader".
std::string FaultKindName(FaultKind kind);
// All kinds, in table order.
std::vector<FaultKind> AllFaultKinds();

struct FaultSchedule {
  FaultKind kind = FaultKind::kSplit;
  uint64_t start = 0;  // first tick of the fault window
  uint64_t end = 0;    // first tick after it (everything heals)
  // kSplit: side_a[id] is true for the nodes of the smaller side (index 0 unused).
  std::vector<bool> side_a;
  // kAsymmetric: probability that a message from the victim to a peer is lost.
  double loss = 0;
};

// The schedule of `kind` for run `seed` with `nodes` nodes over `ticks` ticks
// (>= 400): the window starts in [3/16, 5/16) of the run and lasts [3/16, 6/16)
// of it; a split puts nodes/2 random nodes on side A; the asymmetric loss is
// drawn from [0.7, 1.0]. Deterministic in its arguments.
FaultSchedule MakeFaultSchedule(FaultKind kind, uint64_t seed, uint32_t nodes, uint64_t ticks);

}  // namespace synod::sim::lessons
