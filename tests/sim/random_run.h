// RandomRun: one simulated schedule from a seed — a chaotic phase with
// crashes, restarts, pauses, partitions (symmetric, asymmetric, leader
// isolation), message loss and duplication while clients submit commands and
// retry them; then every fault heals and the run must settle (a leader, equal
// chosen points, every client answered) within a stated bound.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "tests/sim/sim_types.h"

namespace synod::sim {

class SimCluster;

// One client operation in Jepsen style, for linearizability checking.
struct HistoryEvent {
  uint32_t process = 0;
  enum class Type { kInvoke, kOk, kFail, kInfo } type = Type::kInvoke;
  std::string f;      // "add" or "get"
  int64_t value = 0;  // add: the amount; get ok: the count read
  SimTime time = 0;
};

struct RunResult {
  uint64_t seed = 0;
  SimTime steps = 0;
  size_t chosen_slots = 0;
  uint64_t faults = 0;
  uint64_t snapshots_installed = 0;  // snapshots sent to a lagging replica and installed
  uint64_t commands_answered = 0;
  uint64_t config_changes = 0;           // configuration changes chosen (and in effect)
  uint64_t transfers_started = 0;        // leadership transfers a leader accepted
  uint64_t transfers_completed = 0;      // ... whose target led within 2 * election_ticks
  std::optional<std::string> violation;  // set when a property failed
  std::string trace;                     // recent events, when violated
  std::vector<HistoryEvent> history;
};

// Called after every simulated step (time unit) of a run, with the cluster
// read-only (the two-leaders lesson watches roles); must not keep the reference.
using StepObserver = std::function<void(const SimCluster&)>;

// Runs one schedule. `trace_out` (may be null) receives a line per event when
// options.trace is set; `observer` (may be empty) sees the cluster after each
// step. Never throws for protocol failures: they land in RunResult::violation.
RunResult RunRandomSchedule(const SimOptions& options, std::ostream* trace_out,
                            const StepObserver& observer = {});

}  // namespace synod::sim
