// Invariant checks for the paxos core and everything built on it.
//
// A violated invariant means the protocol state is corrupt; carrying on could
// lose or invent data, so the check throws InvariantViolation. Production code
// never catches it (the process terminates with the message); the simulator
// catches it to report the seed of the run that broke it.
#pragma once

#include <stdexcept>
#include <string>

namespace synod {

// Thrown when an internal invariant does not hold. Never caught in production.
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
