// Writes a simulated client history as JSON Lines in the format synod-lincheck
// reads (model "counter"): {"process":P,"type":"invoke|ok|info","f":"add|get",
// "value":N,"time":T}. An add's invoke carries the amount; a get's ok carries
// the count read; an outcome never learned is written as info.
#pragma once

#include <ostream>
#include <vector>

#include "tests/sim/random_run.h"

namespace synod::sim {

// Writes one line per event to `out`.
void WriteHistoryJsonl(const std::vector<HistoryEvent>& history, std::ostream& out);

}  // namespace synod::sim
