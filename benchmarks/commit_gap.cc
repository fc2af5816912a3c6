#include "benchmarks/commit_gap.h"

#include <algorithm>
#include <stdexcept>

namespace synod::benchmarks {

void CommitTimeline::Record(Clock::time_point at) {
  if (!times_.empty() && at < times_.back()) {
    throw std::invalid_argument("CommitTimeline::Record: commit times must not decrease");
  }
  times_.push_back(at);
}

CommitTimeline::Gap CommitTimeline::LongestGap(Clock::time_point from, Clock::time_point to) const {
  // first: the first commit at or after `from`; last: the first at or after `to`.
  auto first = std::lower_bound(times_.begin(), times_.end(), from);
  auto last = std::lower_bound(first, times_.end(), to);
  Clock::time_point previous = first == times_.begin() ? from : *(first - 1);
  Gap longest{previous, previous, false};
  for (auto it = first; it != last; ++it) {
    if (*it - previous > longest.end - longest.start) longest = Gap{previous, *it, false};
    previous = *it;
  }
  Gap tail = last == times_.end() ? Gap{previous, to, true} : Gap{previous, *last, false};
  if (tail.end - tail.start > longest.end - longest.start) longest = tail;
  return longest;
}

CommitTimeline::Gap CommitTimeline::LongestGapInside(Clock::time_point from,
                                                     Clock::time_point to) const {
  auto first = std::lower_bound(times_.begin(), times_.end(), from);
  auto last = std::lower_bound(first, times_.end(), to);
  if (last - first < 2) return Gap{from, to, true};
  Gap longest{*first, *first, false};
  for (auto it = first + 1; it != last; ++it) {
    if (*it - *(it - 1) > longest.end - longest.start) longest = Gap{*(it - 1), *it, false};
  }
  return longest;
}

uint64_t CommitTimeline::CountIn(Clock::time_point from, Clock::time_point to) const {
  auto first = std::lower_bound(times_.begin(), times_.end(), from);
  auto last = std::lower_bound(first, times_.end(), to);
  return static_cast<uint64_t>(last - first);
}

}  // namespace synod::benchmarks
