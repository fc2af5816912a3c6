// LeaderClock: stamps are the highest stamp seen at takeover plus monotonic
// time elapsed since; a brand-new cluster starts from `origin` once; later
// stamps seen while leading are caught up with, never stalled behind.
#include "node/leader_clock.h"

#include <gtest/gtest.h>

namespace synod::node {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

const paxos::Ballot kFirst{1, 1};
const paxos::Ballot kSecond{2, 2};
const LeaderClock::TimePoint kT0{seconds(1000)};

TEST(LeaderClock, CountsMonotonicTimeFromTheHighestStampSeen) {
  int origin_calls = 0;
  LeaderClock clock([&] {
    ++origin_calls;
    return uint64_t{0};
  });
  clock.Observe(50'000);
  clock.Observe(40'000);  // lower: ignored
  clock.Observe(0);       // no stamp
  EXPECT_EQ(clock.Stamp(kFirst, kT0), 50'000u);
  EXPECT_EQ(clock.Stamp(kFirst, kT0 + milliseconds(1500)), 51'500u);
  // A pause (SIGSTOP) is real elapsed time: the next stamp includes it.
  EXPECT_EQ(clock.Stamp(kFirst, kT0 + seconds(61) + milliseconds(500)), 111'500u);
  EXPECT_EQ(origin_calls, 0);  // something was seen: the origin is not consulted
}

TEST(LeaderClock, LeadStartsTheTermAtTakeover) {
  LeaderClock clock([] { return uint64_t{0}; });
  clock.Observe(10'000);
  clock.Lead(kFirst, kT0);
  clock.Lead(kFirst, kT0 + seconds(5));  // same term: no restart
  EXPECT_EQ(clock.Stamp(kFirst, kT0 + seconds(2)), 12'000u);
}

TEST(LeaderClock, ANewLeaderContinuesFromStampsItAcceptedButHasNotApplied) {
  // Replica 2 follows replica 1: it applied log time 70 s and accepted (not
  // yet applied) values stamped up to 70.4 s. Its own clock is elsewhere.
  LeaderClock follower([] { return uint64_t{0}; });
  follower.Observe(70'000);
  follower.Observe(70'400);
  // It takes over 3 s (monotonic) later: log time continues from 70.4 s, so
  // no replica's applied log time is ever ahead of its stamps.
  const LeaderClock::TimePoint takeover = kT0 + seconds(3);
  follower.Lead(kSecond, takeover);
  EXPECT_EQ(follower.Stamp(kSecond, takeover), 70'400u);
  EXPECT_EQ(follower.Stamp(kSecond, takeover + milliseconds(250)), 70'650u);
}

TEST(LeaderClock, ABrandNewClusterStartsFromTheOriginOnce) {
  int origin_calls = 0;
  LeaderClock clock([&] {
    ++origin_calls;
    return uint64_t{1'700'000'000'000};
  });
  EXPECT_EQ(clock.Stamp(kFirst, kT0), 1'700'000'000'000u);
  EXPECT_EQ(clock.Stamp(kFirst, kT0 + seconds(1)), 1'700'000'001'000u);
  // Deposed and re-elected: continues from its own stamps, no origin again.
  EXPECT_EQ(clock.Stamp(kSecond, kT0 + seconds(10)), 1'700'000'001'000u);
  EXPECT_EQ(clock.Stamp(kSecond, kT0 + seconds(11)), 1'700'000'002'000u);
  EXPECT_EQ(origin_calls, 1);
}

TEST(LeaderClock, AnOriginOfZeroStartsAtZero) {
  LeaderClock clock([] { return uint64_t{0}; });
  EXPECT_EQ(clock.Stamp(kFirst, kT0), 0u);
  EXPECT_EQ(clock.Stamp(kFirst, kT0 + milliseconds(7)), 7u);
}

TEST(LeaderClock, CatchesUpWithALaterStampSeenWhileLeading) {
  LeaderClock clock([] { return uint64_t{0}; });
  clock.Observe(5'000);
  EXPECT_EQ(clock.Stamp(kFirst, kT0), 5'000u);
  // An installed snapshot says log time already reached 90 s: continue from
  // there at the monotonic rate instead of stalling until 90 s is reached.
  clock.Observe(90'000);
  EXPECT_EQ(clock.Stamp(kFirst, kT0 + seconds(1)), 90'000u);
  EXPECT_EQ(clock.Stamp(kFirst, kT0 + seconds(2)), 91'000u);
  // A lower stamp seen later changes nothing.
  clock.Observe(60'000);
  EXPECT_EQ(clock.Stamp(kFirst, kT0 + seconds(3)), 92'000u);
}

TEST(LeaderClock, StampsNeverDecreaseAcrossTerms) {
  LeaderClock clock([] { return uint64_t{0}; });
  uint64_t last = 0;
  LeaderClock::TimePoint now = kT0;
  for (uint64_t round = 1; round <= 20; ++round) {
    const paxos::Ballot ballot{round, static_cast<paxos::ReplicaId>(1 + round % 3)};
    for (int i = 0; i < 5; ++i) {
      now += milliseconds(37 * i);
      const uint64_t stamp = clock.Stamp(ballot, now);
      ASSERT_GE(stamp, last) << "round " << round;
      last = stamp;
    }
    if (round % 4 == 1) clock.Observe(last + 500);  // a stamp from elsewhere
  }
  EXPECT_EQ(clock.highest_seen(), last);
}

}  // namespace
}  // namespace synod::node
