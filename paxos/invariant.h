// Invariant checks for the paxos core and everything built on it.
//
// A violated invariant means the protocol state is corrupt; carrying on could
// lose or invent data, so the check throws InvariantViolation. Production code
// never handles it as a recoverable error: the applier lets it propagate, and
// the runtime's thread boundaries (transport/internal_error.h) catch it only
// to print it and exit 70. The simulator catches it to report the seed of
// the run that broke it.
#pragma once

#include <stdexcept>
#include <string>

namespace synod {

// Thrown when an internal invariant does not hold. In production caught only to
// exit 70 (transport/internal_error.h).
class InvariantViolation : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

// Throws InvariantViolation naming the file, line and condition.
[[noreturn]] void FailInvariant(const char* file, int line, const char* condition,
                                const std::string& message);

}  // namespace synod

// SYNOD_INVARIANT(cond, message): throws InvariantViolation when cond is false.
#define SYNOD_INVARIANT(cond, message)                                         \
  do {                                                                         \
    if (!(cond)) ::synod::FailInvariant(__FILE__, __LINE__, #cond, (message)); \
  } while (0)
