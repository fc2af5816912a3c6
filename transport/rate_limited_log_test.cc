// LogRateLimiter: which warnings are logged, counted and summarised, on a
// fake clock.

#include "transport/rate_limited_log.h"

#include <gtest/gtest.h>

namespace synod::transport {
namespace {

using namespace std::chrono_literals;

TEST(LogRateLimiterTest, FirstIsLoggedThenOneSummaryPerPeriod) {
  LogRateLimiter limiter(10s);
  Clock::time_point t0{};
  EXPECT_TRUE(limiter.Admit("timeout", "a", t0));
  for (int i = 0; i < 5; ++i)
    EXPECT_FALSE(limiter.Admit("timeout", "b" + std::to_string(i), t0 + 1s));
  EXPECT_TRUE(limiter.TakeDue(t0 + 9s).empty());
  ASSERT_TRUE(limiter.NextDue().has_value());
  EXPECT_EQ(*limiter.NextDue(), t0 + 10s);

  std::vector<LogRateLimiter::Summary> due = limiter.TakeDue(t0 + 10s);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].kind, "timeout");
  EXPECT_EQ(due[0].count, 5u);
  EXPECT_EQ(due[0].latest, "b4");
  EXPECT_FALSE(limiter.NextDue().has_value());

  // The summary opened a new period: still counted, not logged.
  EXPECT_FALSE(limiter.Admit("timeout", "c", t0 + 15s));
  EXPECT_TRUE(limiter.TakeDue(t0 + 19s).empty());
  due = limiter.TakeDue(t0 + 20s);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].count, 1u);
  EXPECT_EQ(limiter.suppressed_total(), 6u);
}

TEST(LogRateLimiterTest, KindsAreIndependentAndQuietKindsLogAtOnceAgain) {
  LogRateLimiter limiter(10s);
  Clock::time_point t0{};
  EXPECT_TRUE(limiter.Admit("a", "x", t0));
  EXPECT_TRUE(limiter.Admit("b", "y", t0));
  EXPECT_FALSE(limiter.Admit("a", "x", t0 + 1s));
  EXPECT_TRUE(limiter.TakeDue(t0 + 10s).size() == 1);  // only "a" had something counted
  // "b" was quiet for a whole period: its next warning is logged at once.
  EXPECT_TRUE(limiter.Admit("b", "y", t0 + 12s));
  // "a" had its summary at 10 s; quiet since, it logs at once after 20 s.
  EXPECT_TRUE(limiter.TakeDue(t0 + 20s).empty());
  EXPECT_TRUE(limiter.Admit("a", "x", t0 + 21s));
}

TEST(LogRateLimiterTest, AFloodGivesOneLinePerPeriod) {
  LogRateLimiter limiter(10s);
  Clock::time_point t0{};
  int lines = 0;
  for (int ms = 0; ms < 40000; ms += 2) {  // 500 warnings a second for 40 s
    Clock::time_point now = t0 + std::chrono::milliseconds(ms);
    lines += static_cast<int>(limiter.TakeDue(now).size());
    if (limiter.Admit("refused", "r", now)) ++lines;
  }
  EXPECT_LE(lines, 5);  // the first, then one summary every 10 s
  EXPECT_GE(lines, 4);
}

}  // namespace
}  // namespace synod::transport
