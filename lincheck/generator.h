// Generates histories of real linearizable executions (for tests and timing):
// `processes` clients run random operations against one true object; each
// takes effect at a random instant inside its [invoke, complete] window; some
// completions are reported as info (unknown) and some operations fail without
// taking effect.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

namespace synod::lincheck {

// What to generate; the defaults are the timing workload (10 processes, a few
// info and failed operations).
struct GeneratorOptions {
  std::string model = "register";  // register | counter | kv
  int processes = 10;
  int operations = 1000;
  int info_operations = 5;    // completions reported as info
  int failed_operations = 5;  // operations that fail (never take effect)
  int keys = 4;               // kv only
  uint64_t seed = 1;
};

// Writes the history as JSON Lines to `out`: exactly `operations` completed
// operations (ok, fail or info), deterministic for a given seed. Requires
// processes >= 1, keys >= 1 and non-negative counts (synod-lincheck-gen
// checks its arguments).
void GenerateHistory(const GeneratorOptions& options, std::ostream& out);

}  // namespace synod::lincheck
