// The lessons' shared register (see shared_register.h).
#include "tests/sim/lessons/shared_register.h"

#include <algorithm>

namespace synod::sim::lessons {

bool SharedRegister::Write(const RegisterWrite& write) {
  if (fencing_) {
    if (write.token < highest_token_) {
      ++refused_;
      return false;
    }
    highest_token_ = write.token;
  }
  ++accepted_;
  if (write.election < newest_election_) ++conflicting_;
  newest_election_ = std::max(newest_election_, write.election);
  return true;
}

}  // namespace synod::sim::lessons
