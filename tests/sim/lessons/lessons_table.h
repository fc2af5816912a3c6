// The `synod-sim lessons` subcommand: runs the election lessons (toy Bully,
// toy Ring, Synod's Election recipe without and with fencing tokens) under
// the same seeded fault schedules and prints one table.
//
//   synod-sim lessons --seed S --runs N [--ticks T] [--tsv] [--check]
//
// Run i uses seed S+i for its fault windows (one per schedule kind) and for
// every row's randomness, so the same arguments print the same table.
// --tsv prints the table as tab-separated values (for the plot script);
// --check also verifies the claims the lessons make (see CheckClaims) and
// exits 1 naming any that failed. Exit 64 for a usage error; exit 1 with the
// reason if a run throws (a core invariant, or a request the Synod driver
// does not model).
#pragma once

#include <cstdint>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "tests/sim/lessons/fault_schedule.h"
#include "tests/sim/lessons/row_metrics.h"

namespace synod::sim::lessons {

// The protocols of the table, in row order.
enum class Protocol : uint8_t { kToyBully, kToyRing, kSynod, kSynodFenced };
// Row label, e.g. "toy Bully" or "Synod Election + fencing".
std::string ProtocolLabel(Protocol protocol);

// Sums over runs, by (schedule kind, protocol).
using LessonsTable = std::map<std::pair<FaultKind, Protocol>, RowMetrics>;

// Runs `runs` runs from `seed` (run i: seed + i) and sums them.
LessonsTable RunLessons(uint64_t seed, uint64_t runs, const LessonsSetup& setup);

// Prints the table, its definitions and what each row models.
void PrintTable(const LessonsTable& table, uint64_t seed, uint64_t runs, const LessonsSetup& setup,
                std::ostream& out);
// Prints one tab-separated line per row, after a header line.
void PrintTsv(const LessonsTable& table, std::ostream& out);
// The claims the lessons make; returns one line per failed claim (empty: all hold).
std::vector<std::string> CheckClaims(const LessonsTable& table);

// Entry point of the subcommand; `argv` starts after "lessons". Returns the exit status.
int LessonsMain(int argc, char** argv, std::ostream& out, std::ostream& err);

}  // namespace synod::sim::lessons
