// FaultState: the network and process conditions a FaultSchedule imposes at
// each tick, for every row of the election lessons. The victim of an
// asymmetric loss or a pause is "the leader": the row names it (its node
// that believes it leads, with the latest election) at the first tick of the
// window at which it has one; with no leader during the whole window nothing
// happens. Messages to a paused node wait until it resumes (the row holds
// them); a paused node neither ticks nor sends. Not thread-safe.
#pragma once

#include <cstdint>

#include "paxos/random.h"
#include "tests/sim/lessons/fault_schedule.h"

namespace synod::sim::lessons {

class FaultState {
 public:
  explicit FaultState(FaultSchedule schedule) : schedule_(std::move(schedule)) {}

  // What changed at this tick.
  struct Change {
    NodeId paused = 0;   // this node was paused now (the row holds its pending write)
    NodeId resumed = 0;  // this node resumed now (the row releases what it held)
  };
  // Moves to tick `now` (call once per tick, in order). `leader` is the row's
  // current leader (0: none); it is used only to pick the victim.
  Change Advance(uint64_t now, NodeId leader);

  bool Paused(NodeId id) const { return paused_ != 0 && paused_ == id; }
  // Whether one message from `from` to `to` (nodes, from != to) gets through
  // now; draws from `random` only for a lossy link.
  bool Passes(NodeId from, NodeId to, paxos::RandomSource& random) const;
  // The victim of the window (0 before it is chosen, or for a split).
  NodeId victim() const { return victim_; }
  bool InWindow(uint64_t now) const { return now >= schedule_.start && now < schedule_.end; }

 private:
  FaultSchedule schedule_;
  bool active_ = false;  // the fault is in force
  NodeId victim_ = 0;
  NodeId paused_ = 0;
};

}  // namespace synod::sim::lessons
