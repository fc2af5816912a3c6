// RowMetrics: what one row of the election lessons table counts over a run
// (and, summed, over many runs). Definitions, printed under the table too:
//   two_leader_ticks  ticks at which two or more running (not paused) nodes
//                     each believe they lead
//   leaderless_ticks  ticks at which no running node believes it leads
//   conflicting       writes the register accepted from a leader older than
//                     one whose write it had already accepted
//                     (SharedRegister: a deposed or split-off leader overwrote
//                     a newer leader's value)
//   accepted/refused  writes the register accepted / refused (fencing)
#pragma once

#include <cstdint>

namespace synod::sim::lessons {

struct RowMetrics {
  uint64_t two_leader_ticks = 0;
  uint64_t leaderless_ticks = 0;
  uint64_t conflicting = 0;
  uint64_t accepted = 0;
  uint64_t refused = 0;

  RowMetrics& operator+=(const RowMetrics& other) {
    two_leader_ticks += other.two_leader_ticks;
    leaderless_ticks += other.leaderless_ticks;
    conflicting += other.conflicting;
    accepted += other.accepted;
    refused += other.refused;
    return *this;
  }
};

// How every row runs: node count, run length, and the writing cadence.
struct LessonsSetup {
  uint32_t nodes = 5;
  uint64_t ticks = 800;      // one tick = 10 ms of simulated time
  uint64_t write_every = 2;  // a leader writes every this many ticks
};

}  // namespace synod::sim::lessons
