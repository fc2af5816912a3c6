#include "benchmarks/commit_gap.h"

#include <gtest/gtest.h>

#include <stdexcept>

namespace synod::benchmarks {
namespace {

using Clock = CommitTimeline::Clock;
using std::chrono::milliseconds;

const Clock::time_point kT0{};

Clock::time_point At(int ms) { return kT0 + milliseconds(ms); }

CommitTimeline Timeline(std::initializer_list<int> ms) {
  CommitTimeline timeline;
  for (int t : ms) timeline.Record(At(t));
  return timeline;
}

TEST(CommitTimeline, LongestGapInsideTheWindow) {
  CommitTimeline timeline = Timeline({0, 10, 20, 70, 80, 90});
  CommitTimeline::Gap gap = timeline.LongestGap(At(5), At(85));
  EXPECT_EQ(gap.start, At(20));
  EXPECT_EQ(gap.end, At(70));
  EXPECT_FALSE(gap.open);
  EXPECT_DOUBLE_EQ(gap.Ms(), 50.0);
}

TEST(CommitTimeline, AStallThatBeganBeforeTheWindowCountsWhole) {
  // The leader died at 15, after the commit at 10: the gap is 10..1000.
  CommitTimeline timeline = Timeline({0, 10, 1000, 1001});
  CommitTimeline::Gap gap = timeline.LongestGap(At(15), At(1001));
  EXPECT_EQ(gap.start, At(10));
  EXPECT_EQ(gap.end, At(1000));
}

TEST(CommitTimeline, AStallThatOutlastsTheWindowEndsAtTheNextCommit) {
  CommitTimeline timeline = Timeline({0, 10, 20, 500});
  CommitTimeline::Gap gap = timeline.LongestGap(At(0), At(100));
  EXPECT_EQ(gap.start, At(20));
  EXPECT_EQ(gap.end, At(500));
  EXPECT_FALSE(gap.open);
}

TEST(CommitTimeline, NoCommitAfterTheWindowIsAnOpenGap) {
  CommitTimeline timeline = Timeline({0, 10, 20});
  CommitTimeline::Gap gap = timeline.LongestGap(At(5), At(100));
  EXPECT_EQ(gap.start, At(20));
  EXPECT_EQ(gap.end, At(100));
  EXPECT_TRUE(gap.open);
}

TEST(CommitTimeline, NoCommitAtAllIsOneOpenGapOverTheWindow) {
  CommitTimeline timeline;
  CommitTimeline::Gap gap = timeline.LongestGap(At(5), At(100));
  EXPECT_EQ(gap.start, At(5));
  EXPECT_EQ(gap.end, At(100));
  EXPECT_TRUE(gap.open);
}

TEST(CommitTimeline, NoCommitBeforeTheWindowStartsTheGapAtTheWindow) {
  CommitTimeline timeline = Timeline({60, 70});
  CommitTimeline::Gap gap = timeline.LongestGap(At(0), At(100));
  EXPECT_EQ(gap.start, At(0));
  EXPECT_EQ(gap.end, At(60));
}

TEST(CommitTimeline, CommitsAtTheSameInstantAreConsecutive) {
  CommitTimeline timeline = Timeline({0, 0, 0, 3, 3, 5});
  CommitTimeline::Gap gap = timeline.LongestGap(At(0), At(5));
  EXPECT_EQ(gap.start, At(0));
  EXPECT_EQ(gap.end, At(3));
}

TEST(CommitTimeline, InsideTheWindowIgnoresGapsThatCrossItsEnds) {
  // A quiet window that ends where a leader died at 25: the stall 20..1000
  // is the disruption's, not the baseline's.
  CommitTimeline timeline = Timeline({0, 2, 5, 6, 20, 1000});
  CommitTimeline::Gap gap = timeline.LongestGapInside(At(1), At(25));
  EXPECT_EQ(gap.start, At(6));
  EXPECT_EQ(gap.end, At(20));
  EXPECT_FALSE(gap.open);
}

TEST(CommitTimeline, InsideAWindowWithOneCommitIsTheWholeWindowOpen) {
  CommitTimeline timeline = Timeline({0, 50, 200});
  CommitTimeline::Gap gap = timeline.LongestGapInside(At(10), At(100));
  EXPECT_EQ(gap.start, At(10));
  EXPECT_EQ(gap.end, At(100));
  EXPECT_TRUE(gap.open);
}

TEST(CommitTimeline, CountsCommitsInAHalfOpenWindow) {
  CommitTimeline timeline = Timeline({0, 10, 20, 30});
  EXPECT_EQ(timeline.CountIn(At(10), At(30)), 2u);
  EXPECT_EQ(timeline.CountIn(At(31), At(40)), 0u);
  EXPECT_EQ(timeline.size(), 4u);
}

TEST(CommitTimeline, RefusesTimesThatGoBack) {
  CommitTimeline timeline = Timeline({10});
  EXPECT_THROW(timeline.Record(At(9)), std::invalid_argument);
}

}  // namespace
}  // namespace synod::benchmarks
