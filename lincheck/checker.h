// Linearizability checking: the Wing–Gong / Lowe search with memoisation of
// (linearized set, model state), as Porcupine and Knossos do, and
// P-compositionality for kv (each key is checked independently).
//
// Unknown (info / never completed) operations may take effect at any point
// after their invoke, or never: the search succeeds once every operation with
// a known outcome is linearized. Not thread-safe; no global state.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "lincheck/history.h"

namespace synod::lincheck {

enum class Verdict : uint8_t { kLinearizable, kNotLinearizable, kUndecided };

struct CheckResult {
  Verdict verdict = Verdict::kLinearizable;
  std::string explanation;  // for kNotLinearizable / kUndecided
  uint64_t steps = 0;       // search steps taken
};

struct CheckLimits {
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  uint64_t max_steps = UINT64_MAX;  // deterministic budget for tests
};

// Checks operations (as ParseHistory returns them) against "register",
// "counter" or "kv".
CheckResult Check(const std::vector<Operation>& operations, const std::string& model,
                  const CheckLimits& limits = CheckLimits{});

}  // namespace synod::lincheck
