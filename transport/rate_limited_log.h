// Rate limiting for repeated warnings (a flood of refused connections must not
// flood the log). Used by transport/ and node/ (peer link lines).
//
// Per kind of warning (a short fixed string such as "handshake-timeout"): the
// first occurrence is logged at once; later ones within `period` of the last
// line of that kind are only counted, and when the period ends one summary
// line reports how many there were and the latest one's text. So a sustained
// flood of one kind logs about one line per period.
#pragma once

#include <spdlog/logger.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "transport/types.h"

namespace synod::transport {

// The decisions, without a clock or a logger (unit-testable). Not thread-safe.
class LogRateLimiter {
 public:
  explicit LogRateLimiter(Clock::duration period) : period_(period) {}

  // An occurrence of `kind` at `now` with text `text`. Returns true if it is
  // to be logged now; false if it was counted for a later summary.
  bool Admit(const std::string& kind, const std::string& text, Clock::time_point now);

  // One summary: `count` occurrences of `kind` were not logged; `latest` is
  // the text of the last of them.
  struct Summary {
    std::string kind;
    uint64_t count = 0;
    std::string latest;
  };

  // The summaries due at `now` (kinds whose period has ended with uncounted
  // occurrences); each starts a new period for its kind.
  std::vector<Summary> TakeDue(Clock::time_point now);

  // When the next summary falls due; nullopt if nothing is counted.
  std::optional<Clock::time_point> NextDue() const;

  // Occurrences not logged on their own so far (summarised or pending).
  uint64_t suppressed_total() const { return suppressed_total_; }

 private:
  struct Kind {
    Clock::time_point last_line;  // when this kind last produced a line
    uint64_t pending = 0;         // counted since then
    std::string latest;
  };
  Clock::duration period_;
  std::map<std::string, Kind> kinds_;
  uint64_t suppressed_total_ = 0;
};

// LogRateLimiter wired to a logger and an Asio timer that writes the summary
// lines ("<count> more like this in the last <period> s; latest: <text>") at
// warn level. Network thread only (the thread running `io`); `io` must
// outlive it. Destroying it drops summaries not yet written.
class RateLimitedLog {
 public:
  RateLimitedLog(boost::asio::io_context& io, std::shared_ptr<spdlog::logger> log,
                 Clock::duration period);
  ~RateLimitedLog();
  RateLimitedLog(const RateLimitedLog&) = delete;
  RateLimitedLog& operator=(const RateLimitedLog&) = delete;

  // Logs `text` at warn level now, or counts it for the summary of `kind`.
  void Warn(const std::string& kind, const std::string& text);
  // The same at `level` (summaries are still written at warn level).
  void Log(spdlog::level::level_enum level, const std::string& kind, const std::string& text);

  uint64_t suppressed_total() const { return limiter_.suppressed_total(); }

 private:
  void Arm();
  void Flush();

  std::shared_ptr<spdlog::logger> log_;
  Clock::duration period_;
  LogRateLimiter limiter_;
  boost::asio::steady_timer timer_;
  std::optional<Clock::time_point> armed_for_;
  std::shared_ptr<bool> alive_;
};

}  // namespace synod::transport
