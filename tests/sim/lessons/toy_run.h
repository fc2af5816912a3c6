// RunToy: runs one TOY election protocol (toy Bully or toy Ring) of the
// election lessons on `setup.nodes` nodes under one fault schedule, with the
// shared workload: every node that believes it leads writes to the shared
// register (unfenced: the toys have no tokens) every setup.write_every ticks.
//
// World: node-to-node messages take 1-3 ticks; the register is reachable from
// every node (1-3 ticks) whatever the partition among nodes. A pause catches
// its victim after it decided to write: that write leaves when it resumes.
// Deterministic in (protocol, schedule, seed).
#pragma once

#include <cstdint>

#include "tests/sim/lessons/fault_schedule.h"
#include "tests/sim/lessons/row_metrics.h"

namespace synod::sim::lessons {

enum class ToyProtocol : uint8_t { kBully, kRing };

RowMetrics RunToy(ToyProtocol protocol, const FaultSchedule& schedule, uint64_t seed,
                  const LessonsSetup& setup);

}  // namespace synod::sim::lessons
