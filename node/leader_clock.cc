#include "node/leader_clock.h"

#include <algorithm>

namespace synod::node {

void LeaderClock::Observe(uint64_t stamp_ms) { highest_ = std::max(highest_, stamp_ms); }

void LeaderClock::Lead(paxos::Ballot ballot, TimePoint now) {
  if (term_ == ballot) return;
  term_ = ballot;
  if (highest_ == 0 && origin_) highest_ = origin_();
  base_ = highest_;
  start_ = now;
}

uint64_t LeaderClock::Stamp(paxos::Ballot ballot, TimePoint now) {
  Lead(ballot, now);
  const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(now - start_).count();
  uint64_t stamp = base_ + static_cast<uint64_t>(std::max<int64_t>(elapsed, 0));
  if (stamp < highest_) {
    // Saw a later stamp than this term's projection: continue from it.
    base_ = highest_;
    start_ = now;
    stamp = highest_;
  }
  highest_ = stamp;
  return stamp;
}

}  // namespace synod::node
