// CommitTimeline: the completion times of the commands clients saw commit,
// and the longest gap between consecutive commits around a time window (how
// long clients saw no progress while a leader crashed, restarted or handed
// over).
//
// Threading: not thread-safe; one thread records and queries.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

namespace synod::benchmarks {

class CommitTimeline {
 public:
  using Clock = std::chrono::steady_clock;

  // A stretch without commits: from the commit at `start` to the next at
  // `end`. `open` when no commit came at or after the window's end: then
  // `end` is the window's end and the gap lasted at least that long.
  struct Gap {
    Clock::time_point start;
    Clock::time_point end;
    bool open = false;
    double Ms() const { return std::chrono::duration<double, std::milli>(end - start).count(); }
  };

  // Records a commit seen at `at`. Times must not decrease (they come from
  // one steady clock on one thread); a decreasing one throws
  // std::invalid_argument.
  void Record(Clock::time_point at);

  // The longest gap between consecutive commits that overlaps [from, to):
  // the commits inside the window, with the last one before `from` (or
  // `from` itself if there is none) and the first at or after `to` (or `to`,
  // marking the gap open) as its ends. So a stall that began before the
  // window, or outlasted it, counts whole. Requires from < to.
  Gap LongestGap(Clock::time_point from, Clock::time_point to) const;

  // The longest gap between two consecutive commits both inside [from, to):
  // nothing outside the window counts (for a quiet baseline window that
  // ends where a disruption starts). With fewer than two commits inside, the
  // whole window, marked open. Requires from < to.
  Gap LongestGapInside(Clock::time_point from, Clock::time_point to) const;

  // Commits recorded in [from, to).
  uint64_t CountIn(Clock::time_point from, Clock::time_point to) const;

  uint64_t size() const { return times_.size(); }

 private:
  std::vector<Clock::time_point> times_;  // nondecreasing
};

}  // namespace synod::benchmarks
