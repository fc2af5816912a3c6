// SharedRegister: the resource every elected leader of the election lessons
// writes to, with an optional fencing-token check, and the counts the lessons
// table reports.
//
// Each write names its writer, the writer's election (a number that orders
// elections: later elections have higher numbers; see the row runners) and,
// for fenced rows, a fencing token. With fencing the register accepts a write
// only if its token is >= the highest token it has accepted (as
// examples/lock's FencedStore does); without fencing it accepts every write.
//
// A *conflicting* accepted write is one whose election is older than the
// election of a write the register had already accepted: a deposed or
// split-off leader overwrote what a newer leader wrote (the lost update that
// two leaders cause). Not thread-safe.
#pragma once

#include <cstdint>

#include "tests/sim/lessons/fault_schedule.h"

namespace synod::sim::lessons {

// One write as the register receives it.
struct RegisterWrite {
  NodeId writer = 0;
  uint64_t election = 0;  // orders elections (see the file comment)
  uint64_t token = 0;     // fencing token (fenced registers only; 0 = none)
};

class SharedRegister {
 public:
  explicit SharedRegister(bool fencing) : fencing_(fencing) {}

  // Handles one write; returns true if it was accepted.
  bool Write(const RegisterWrite& write);

  uint64_t accepted() const { return accepted_; }
  uint64_t refused() const { return refused_; }  // by the fencing check
  uint64_t conflicting() const { return conflicting_; }

 private:
  bool fencing_;
  uint64_t highest_token_ = 0;
  uint64_t newest_election_ = 0;  // newest election among accepted writes
  uint64_t accepted_ = 0;
  uint64_t refused_ = 0;
  uint64_t conflicting_ = 0;
};

}  // namespace synod::sim::lessons
