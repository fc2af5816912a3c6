// RunSynod: the Synod rows of the election lessons. Five nodes each run a
// real paxos::Core (a replica of a 5-member group) and a candidate of the
// Election recipe (examples/lock/election.h) over the real LockStateMachine
// (examples/lock/lock_state_machine.h); the candidate that leads writes to
// the shared register every setup.write_every ticks, as the toys' leaders do.
//
// What is real and what is modelled:
//   real     paxos::Core (election, phase 1/2, learning) and LockStateMachine
//            (leases in log time, fencing tokens), applied on every replica;
//   modelled the runtime around them, in this file: the disk (a Ready is
//            durable at once, in memory; no crashes here), the leader's log-time
//            stamps and the applier's stamp-ballot rule (node/leader_clock.h,
//            docs/protocol.md "Log time"), a client that sends a command to the
//            replica it believes leads and follows not-leader hints (attempt
//            timeout 100 ms, gives up as "unknown" after 300 ms), and the
//            Election recipe's decisions re-stated tick by tick (acquire with
//            retry every ttl/4, renew every ttl/3, leading while the last good
//            renew was sent less than ttl - max(ttl/5, 20 ms) ago).
// One tick is 10 ms; the lease (ttl) is 600 ms. The same executions feed two
// registers, unfenced and fenced (token >= highest seen, as FencedStore), so
// the two rows differ only in the register. A pause stops the whole node
// (replica and candidate) after its candidate decided to write.
// Deterministic in (schedule, seed).
#pragma once

#include <cstdint>

#include "tests/sim/lessons/fault_schedule.h"
#include "tests/sim/lessons/row_metrics.h"

namespace synod::sim::lessons {

struct SynodRowResult {
  RowMetrics unfenced;  // Election recipe, register without fencing
  RowMetrics fenced;    // the same run, register checking fencing tokens
};

// Throws std::logic_error if the core asks for something this driver does not
// model (compaction, a snapshot fetch): a broken assumption, not a result.
SynodRowResult RunSynod(const FaultSchedule& schedule, uint64_t seed, const LessonsSetup& setup);

}  // namespace synod::sim::lessons
