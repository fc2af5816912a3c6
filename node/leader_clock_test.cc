// LeaderClock: a term's stamps are the applied log time at takeover plus
// monotonic time elapsed since, caught up to (applied log time L at t) +
// (now - t) whenever applied log time rises; never the replica's own or
// unchosen stamps; a brand-new cluster starts from `origin`.
#include "node/leader_clock.h"

#include <gtest/gtest.h>

namespace synod::node {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

const paxos::Ballot kFirst{1, 1};
const paxos::Ballot kSecond{2, 2};
const LeaderClock::TimePoint kT0{seconds(1000)};

LeaderClock ZeroOrigin() {
  return LeaderClock([] { return uint64_t{0}; });
}

TEST(LeaderClock, CountsMonotonicTimeFromTheAppliedLogTimeAtTakeover) {
  int origin_calls = 0;
  LeaderClock clock([&] {
    ++origin_calls;
    return uint64_t{0};
  });
  clock.Applied(50'000, kT0 - seconds(30));
  clock.Applied(40'000, kT0 - seconds(20));  // lower: ignored
  EXPECT_EQ(clock.applied_log_time(), 50'000u);
  // The 30 s between applying 50 s and taking over are not counted.
  EXPECT_EQ(clock.Stamp(kFirst, kT0), 50'000u);
  EXPECT_EQ(clock.Stamp(kFirst, kT0 + milliseconds(1500)), 51'500u);
  // A pause (SIGSTOP) is real elapsed time: the next stamp includes it.
  EXPECT_EQ(clock.Stamp(kFirst, kT0 + seconds(61) + milliseconds(500)), 111'500u);
  EXPECT_EQ(origin_calls, 0);  // something was applied: the origin is not consulted
}

TEST(LeaderClock, LeadStartsTheTermAtTakeover) {
  LeaderClock clock = ZeroOrigin();
  clock.Applied(10'000, kT0 - seconds(1));
  clock.Lead(kFirst, kT0);
  clock.Lead(kFirst, kT0 + seconds(5));  // same term: no restart
  EXPECT_EQ(clock.Stamp(kFirst, kT0 + seconds(2)), 12'000u);
}

TEST(LeaderClock, ContinuesFromAppliedLogTimeThatOvertakesItsProjection) {
  LeaderClock clock = ZeroOrigin();
  clock.Applied(5'000, kT0);
  EXPECT_EQ(clock.Stamp(kFirst, kT0), 5'000u);
  // It applies a predecessor's stamp of 90 s (or installs a snapshot) at
  // t0 + 1 s: continue from there at the monotonic rate, counting from when
  // it was applied.
  clock.Applied(90'000, kT0 + seconds(1));
  EXPECT_EQ(clock.Stamp(kFirst, kT0 + seconds(3)), 92'000u);
  // Applied log time below the projection changes nothing.
  clock.Applied(92'500, kT0 + seconds(4));
  EXPECT_EQ(clock.Stamp(kFirst, kT0 + seconds(5)), 94'000u);
}

TEST(LeaderClock, ALaggingNewLeaderStallsUntilItApplies) {
  // It took over having applied 70 s while its predecessor had stamped (and
  // the cluster applied) up to 70.4 s: its stamps lag (they do not count, log
  // time = max) until it applies 70.4 s, then continue from it.
  LeaderClock clock = ZeroOrigin();
  clock.Applied(70'000, kT0);
  clock.Lead(kSecond, kT0 + seconds(3));
  EXPECT_EQ(clock.Stamp(kSecond, kT0 + seconds(3) + milliseconds(100)), 70'100u);
  clock.Applied(70'400, kT0 + seconds(3) + milliseconds(200));
  EXPECT_EQ(clock.Stamp(kSecond, kT0 + seconds(3) + milliseconds(450)), 70'650u);
}

// A deposed leader's own stamps (refused, never chosen) must not become the
// base of its next term: the cluster lost the time of a leaderless outage,
// and a lease granted after it would end as soon as that leader leads again.
TEST(LeaderClock, ADeposedLeadersOwnStampsDoNotEndALaterLeaseEarly) {
  const paxos::Ballot b1{1, 1}, b2{2, 2}, b3{3, 2}, b4{4, 1};
  const uint64_t ttl = 20'000;
  LeaderClock a = ZeroOrigin();  // replica 1
  LeaderClock b = ZeroOrigin();  // replica 2
  a.Applied(100'000, kT0);
  b.Applied(100'000, kT0);
  EXPECT_EQ(a.Stamp(b1, kT0), 100'000u);
  // t0+0.1 s: A is paused (SIGSTOP). t0+1.5 s: B elected (b2) with C; its
  // tick at t0+3 s is chosen and applied (A applies it once resumed).
  b.Lead(b2, kT0 + milliseconds(1500));
  const uint64_t tick = b.Stamp(b2, kT0 + seconds(3));
  EXPECT_EQ(tick, 101'500u);
  b.Applied(tick, kT0 + seconds(3));
  // C dies: 60 s with no quorum, log time stands still at 101.5 s.
  // t0+63 s: A resumes and, before B's Reject arrives, stamps a tick for b1
  // (its term's clock ran through the outage); B refuses it.
  EXPECT_EQ(a.Stamp(b1, kT0 + seconds(63)), 163'000u);
  a.Applied(tick, kT0 + seconds(63) + milliseconds(10));
  // t0+64 s: B re-elected (b3) with A; it grants a 20 s lease at log time g.
  b.Lead(b3, kT0 + seconds(64));
  const uint64_t g = b.Stamp(b3, kT0 + seconds(64));
  EXPECT_EQ(g, 101'500u);
  b.Applied(g, kT0 + seconds(64) + milliseconds(20));
  a.Applied(g, kT0 + seconds(64) + milliseconds(20));
  // t0+66 s: B fails; A elected (b4) at t0+67 s. The lease was granted 3 s
  // (real) ago: it must still hold, and must last until g + ttl is reached
  // no earlier than t0+64 s + ttl of real time.
  const uint64_t first = a.Stamp(b4, kT0 + seconds(67));
  EXPECT_LT(first, g + ttl) << "the 20 s lease ended 3 s after its grant";
  EXPECT_LT(a.Stamp(b4, kT0 + seconds(64) + milliseconds(ttl) - milliseconds(1)), g + ttl);
}

TEST(LeaderClock, ABrandNewClusterStartsFromTheOrigin) {
  int origin_calls = 0;
  LeaderClock clock([&] {
    ++origin_calls;
    return uint64_t{1'700'000'000'000};
  });
  EXPECT_EQ(clock.Stamp(kFirst, kT0), 1'700'000'000'000u);
  EXPECT_EQ(clock.Stamp(kFirst, kT0 + seconds(1)), 1'700'000'001'000u);
  EXPECT_EQ(origin_calls, 1);
  // Deposed once its first stamp was applied and re-elected: continues from
  // the applied log time, the origin is not consulted again.
  clock.Applied(1'700'000'000'000, kT0 + seconds(2));
  EXPECT_EQ(clock.Stamp(kSecond, kT0 + seconds(10)), 1'700'000'000'000u);
  EXPECT_EQ(clock.Stamp(kSecond, kT0 + seconds(11)), 1'700'000'001'000u);
  EXPECT_EQ(origin_calls, 1);
}

TEST(LeaderClock, AnOriginOfZeroStartsAtZero) {
  LeaderClock clock = ZeroOrigin();
  EXPECT_EQ(clock.Stamp(kFirst, kT0), 0u);
  EXPECT_EQ(clock.Stamp(kFirst, kT0 + milliseconds(7)), 7u);
}

TEST(LeaderClock, StampsNeverDecreaseWithinATermAndNeverLeadAppliedTimePlusElapsed) {
  LeaderClock clock = ZeroOrigin();
  LeaderClock::TimePoint now = kT0;
  for (uint64_t round = 1; round <= 20; ++round) {
    const paxos::Ballot ballot{round, static_cast<paxos::ReplicaId>(1 + round % 3)};
    clock.Lead(ballot, now);
    const uint64_t base = clock.applied_log_time();
    const LeaderClock::TimePoint start = now;
    uint64_t last = 0;
    for (int i = 0; i < 5; ++i) {
      now += milliseconds(37 * i);
      if (i == 2 && round % 4 == 1) clock.Applied(base + 10'000, now);  // caught up
      const uint64_t stamp = clock.Stamp(ballot, now);
      ASSERT_GE(stamp, last) << "round " << round;
      const auto elapsed = std::chrono::duration_cast<milliseconds>(now - start).count();
      ASSERT_LE(stamp, std::max(base, clock.applied_log_time()) + static_cast<uint64_t>(elapsed))
          << "round " << round;
      last = stamp;
    }
    clock.Applied(last, now);  // its stamps were chosen and applied
  }
}

}  // namespace
}  // namespace synod::node
