// Linearizability checking: the Wing–Gong / Lowe search with memoisation of
// (linearized set, model state), as Porcupine and Knossos do, and
// P-compositionality for kv (each key is checked independently).
//
// Unknown (info / never completed) operations may take effect at any point
// after their invoke, or never: the search succeeds once every operation with
// a known outcome is linearized. No global state; separate calls may run on
// separate threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "lincheck/history.h"

namespace synod::lincheck {

// kUndecided: the deadline or the step budget ran out first.
enum class Verdict : uint8_t { kLinearizable, kNotLinearizable, kUndecided };

// What Check found.
struct CheckResult {
  Verdict verdict = Verdict::kLinearizable;
  // kNotLinearizable: the operations that cannot be ordered. kUndecided:
  // which limit ran out.
  std::string explanation;
  uint64_t steps = 0;  // search steps taken, over all kv keys
};

// Bounds on the search; whichever runs out first gives kUndecided.
struct CheckLimits {
  // Wall-clock bound (checked every 1024 steps).
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  // Deterministic bound on the total number of search steps (all kv keys together).
  uint64_t max_steps = UINT64_MAX;
  // Bound on the memo of explored configurations (16 bytes each in a table
  // kept at most 3/4 full; the whole process needs little else), per kv key.
  size_t max_memory_bytes = SIZE_MAX;
};

// Checks `operations` (as ParseHistory returns them: failed ones left out;
// unknown ones with known == false) against `model`: "register", "counter"
// or "kv" (one register per key, keys checked independently). Operations
// are ordered in real time by their `call` / `ret` positions (op a precedes
// op b iff a.ret < b.call); no call may share its position with a known
// return. Throws std::invalid_argument for an unknown model, an operation
// that does not fit it or such a shared position (a caller's bug;
// ParseHistory never returns one). Memory grows with the configurations
// explored; bound the work with `limits`.
CheckResult Check(const std::vector<Operation>& operations, const std::string& model,
                  const CheckLimits& limits = CheckLimits{});

}  // namespace synod::lincheck
