#include "node/leader_clock.h"

#include <algorithm>

namespace synod::node {

uint64_t LeaderClock::Projection(TimePoint now) const {
  const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(now - start_).count();
  return base_ + static_cast<uint64_t>(std::max<int64_t>(elapsed, 0));
}

void LeaderClock::Applied(uint64_t log_time_ms, TimePoint now) {
  if (log_time_ms <= applied_) return;
  applied_ = log_time_ms;
  // Continue from it if it is ahead of this term's projection (a term that
  // ended is replaced at the next Lead anyway).
  if (term_ && log_time_ms > Projection(now)) {
    base_ = log_time_ms;
    start_ = now;
  }
}

void LeaderClock::Lead(paxos::Ballot ballot, TimePoint now) {
  if (term_ == ballot) return;
  term_ = ballot;
  base_ = applied_ != 0 ? applied_ : origin_();
  start_ = now;
  last_stamp_ = 0;
}

uint64_t LeaderClock::Stamp(paxos::Ballot ballot, TimePoint now) {
  Lead(ballot, now);
  last_stamp_ = std::max(last_stamp_, Projection(now));
  return last_stamp_;
}

}  // namespace synod::node
