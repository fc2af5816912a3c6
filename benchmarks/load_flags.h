// The load shape flags synod-bench's commands share (`run`, `gap`):
// --replicas, --size, --duration-s, --warmup-s, parsed and checked once.
#pragma once

#include <cstdint>
#include <string>

#include "node/cli.h"
#include "util/status.h"

namespace synod::benchmarks {

// A load's shape. Defaults: 3 replicas, 100 B commands, 10 s measured after
// a 2 s warm-up.
struct LoadFlags {
  uint64_t replicas = 3;  // 3 or 5
  uint64_t size = 100;    // command payload bytes, 1 to 1 MiB
  double duration_s = 10;
  double warmup_s = 2;
};

// Reads the flags above from `flags` (absent ones keep their defaults).
// kInvalidArgument saying which flag is wrong for a value out of range, not
// a number (trailing garbage included), not finite, or above a day.
Result<LoadFlags> ParseLoadFlags(const node::CliFlags& flags);

}  // namespace synod::benchmarks
