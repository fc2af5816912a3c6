// LeaderClock: the time stamps a leader puts on the commands and ticks it
// proposes. The applier counts a stamp only if its ballot is at least that of
// the last stamp that counted, and log time = max(previous log time, counted
// stamps) (statemachine/applier.h), so these stamps are what leases and
// session expiry are measured in.
//
// Stamps count elapsed real time on the monotonic clock; the wall clock never
// moves them. A leader starts only from log time this replica has applied
// (chosen, so every replica reaches it), never from stamps it merely saw or
// made itself (those may never be chosen, and a deposed leader's stamps run
// on time the cluster never had):
//   - at takeover (Lead) the projection is (applied log time, now);
//   - whenever its applied log time rises to L at monotonic t (Applied), the
//     projection becomes max(projection, L + (now - t));
//   - Stamp(now) = projection at now; never decreasing within a term.
// Each projection is safe: L was stamped no later than t, so L + (now - t) is
// never ahead of the real time elapsed since L was stamped. Time between
// leaders (no leader running, or a new leader that has not yet applied what
// its predecessor stamped) is lost: leases and sessions last longer, never
// shorter. A leader lagging in applied state stalls until it catches up.
//
// A brand-new cluster has applied nothing: its first leader starts from the
// value `origin` returns, once per term start with applied log time 0 (the
// replica passes its wall clock only if it knows of no chosen, accepted or
// compacted slot; 0 otherwise).
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

  // `origin` is called only when a term starts while the applied log time is
  // 0; it returns the first log time of a brand-new cluster (0: start from 0).
  explicit LeaderClock(std::function<uint64_t()> origin) : origin_(std::move(origin)) {}

  // Reports this replica's applied log time (Applier::log_time_ms) after it
  // applied an entry or installed a snapshot, at monotonic time `now`. Lower
  // values than already reported are ignored.
  void Applied(uint64_t log_time_ms, TimePoint now);

  // Starts the term of the leader of `ballot` at monotonic time `now`, unless
  // it is already the current term. Stamp() calls it too; calling it when the
  // replica becomes leader counts the time until its first proposal.
  void Lead(paxos::Ballot ballot, TimePoint now);

  // The stamp for a value the leader of `ballot` proposes at `now` (which
  // must not be earlier than the term's previous `now`).
  uint64_t Stamp(paxos::Ballot ballot, TimePoint now);

  // Highest applied log time reported (0: none).
  uint64_t applied_log_time() const { return applied_; }

 private:
  // base_ + elapsed since start_ (the current term's projection at `now`).
  uint64_t Projection(TimePoint now) const;

  std::function<uint64_t()> origin_;
  uint64_t applied_ = 0;
  std::optional<paxos::Ballot> term_;  // ballot of the current (or last) term
  uint64_t base_ = 0;                  // projection at `start_`
  TimePoint start_;
  uint64_t last_stamp_ = 0;  // this term's last stamp
};

}  // namespace synod::node
