// The process's open file limit (RLIMIT_NOFILE), which bounds how many
// connections a Server can hold: every connection is one descriptor.
#pragma once

#include <cstdint>

#include "util/status.h"

namespace synod::transport {

struct OpenFileLimit {
  uint64_t before = 0;  // soft limit found
  uint64_t after = 0;   // soft limit now
  Status status;        // kIoError if the limit could not be read or raised
};

// Raises this process's soft RLIMIT_NOFILE to its hard limit (capped at
// 1,048,576 when the hard limit is unlimited). Meant for main() of a serving
// process, before it accepts connections; a process-wide setting, so library
// code does not call it. Never fails the caller: problems are in `status`.
OpenFileLimit RaiseOpenFileLimit();

}  // namespace synod::transport
