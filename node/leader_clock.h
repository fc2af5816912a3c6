// LeaderClock: the time stamps a leader puts on the commands and ticks it
// proposes. Log time is max(previous log time, stamp) over the applied log
// (statemachine/envelope.h), so these stamps are what leases and session
// expiry are measured in.
//
// Stamps count elapsed real time on the monotonic clock; the wall clock never
// moves them. A leader's stamp is (the highest stamp this replica had seen
// when its ballot began leading) + (monotonic time elapsed since then). The
// replica reports what it sees through Observe: stamps in values it holds or
// may re-propose (its recovered log, accepted Accepts, Promises, catch-up),
// its applied log time, and its own stamps. If it sees a stamp above its
// current projection while leading (a snapshot or catch-up it had not seen
// when it took over), it continues from that stamp, so log time never stalls
// behind what a replica already applied. Stamps of one term never decrease.
//
// A brand-new cluster has seen no stamp: its first leader starts from the
// value `origin` returns (the runtime passes its wall clock, read once, for a
// replica that formed a new cluster; 0 otherwise).
//
// Pure: time comes in as arguments. Thread: one owner (the replica's loop).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>

#include "paxos/types.h"

namespace synod::node {

class LeaderClock {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  // `origin` is called only when a term starts with nothing seen; it returns
  // the first log time of a brand-new cluster (0: start from 0).
  explicit LeaderClock(std::function<uint64_t()> origin) : origin_(std::move(origin)) {}

  // Records a stamp (ms of log time) this replica has seen; 0 (no stamp) is
  // ignored.
  void Observe(uint64_t stamp_ms);

  // Starts the term of the leader of `ballot` at monotonic time `now`, unless
  // it is already the current term. Stamp() calls it too; calling it when the
  // replica becomes leader counts the time until its first proposal.
  void Lead(paxos::Ballot ballot, TimePoint now);

  // The stamp for a value the leader of `ballot` proposes at `now` (which
  // must not be earlier than the term's previous `now`). Recorded as seen.
  uint64_t Stamp(paxos::Ballot ballot, TimePoint now);

  // Highest stamp observed or handed out so far (0: none).
  uint64_t highest_seen() const { return highest_; }

 private:
  std::function<uint64_t()> origin_;
  uint64_t highest_ = 0;
  std::optional<paxos::Ballot> term_;  // ballot of the current term
  uint64_t base_ = 0;                  // stamp at `start_`
  TimePoint start_;
};

}  // namespace synod::node
