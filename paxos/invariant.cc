#include "paxos/invariant.h"

namespace synod {

void FailInvariant(const char* file, int line, const char* condition, const std::string& message) {
  throw InvariantViolation(std::string("invariant violated at ") + file + ":" +
                           std::to_string(line) + ": " + condition + ": " + message);
}

}  // namespace synod
