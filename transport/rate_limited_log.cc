// LogRateLimiter and RateLimitedLog implementation.

#include "transport/rate_limited_log.h"

#include <chrono>

namespace synod::transport {

bool LogRateLimiter::Admit(const std::string& kind, const std::string& text,
                           Clock::time_point now) {
  auto it = kinds_.find(kind);
  if (it == kinds_.end()) {
    kinds_.emplace(kind, Kind{now, 0, {}});
    return true;
  }
  Kind& k = it->second;
  if (k.pending == 0 && now - k.last_line >= period_) {
    k.last_line = now;
    return true;
  }
  ++k.pending;
  ++suppressed_total_;
  k.latest = text;
  return false;
}

std::vector<LogRateLimiter::Summary> LogRateLimiter::TakeDue(Clock::time_point now) {
  std::vector<Summary> due;
  for (auto it = kinds_.begin(); it != kinds_.end();) {
    Kind& k = it->second;
    if (now - k.last_line < period_) {
      ++it;
      continue;
    }
    if (k.pending == 0) {
      it = kinds_.erase(it);  // quiet for a whole period: the next one logs at once
      continue;
    }
    due.push_back(Summary{it->first, k.pending, std::move(k.latest)});
    k.pending = 0;
    k.latest.clear();
    k.last_line = now;
    ++it;
  }
  return due;
}

std::optional<Clock::time_point> LogRateLimiter::NextDue() const {
  std::optional<Clock::time_point> next;
  for (const auto& [name, k] : kinds_) {
    if (k.pending == 0) continue;
    Clock::time_point at = k.last_line + period_;
    if (!next || at < *next) next = at;
  }
  return next;
}

RateLimitedLog::RateLimitedLog(boost::asio::io_context& io, std::shared_ptr<spdlog::logger> log,
                               Clock::duration period)
    : log_(std::move(log)),
      period_(period),
      limiter_(period),
      timer_(io),
      alive_(std::make_shared<bool>(true)) {}

RateLimitedLog::~RateLimitedLog() {
  *alive_ = false;
  timer_.cancel();
}

void RateLimitedLog::Warn(const std::string& kind, const std::string& text) {
  Log(spdlog::level::warn, kind, text);
}

void RateLimitedLog::Log(spdlog::level::level_enum level, const std::string& kind,
                         const std::string& text) {
  if (limiter_.Admit(kind, text, Clock::now())) {
    log_->log(level, "{}", text);
    return;
  }
  Arm();
}

void RateLimitedLog::Arm() {
  std::optional<Clock::time_point> due = limiter_.NextDue();
  if (!due || (armed_for_ && *armed_for_ <= *due)) return;
  armed_for_ = due;
  timer_.expires_at(*due);
  timer_.async_wait([this, a = alive_](const boost::system::error_code& ec) {
    if (!*a || ec) return;
    armed_for_.reset();
    Flush();
  });
}

void RateLimitedLog::Flush() {
  double seconds = std::chrono::duration<double>(period_).count();
  for (const LogRateLimiter::Summary& s : limiter_.TakeDue(Clock::now())) {
    log_->warn("{} more like this in the last {:g} s; latest: {}", s.count, seconds, s.latest);
  }
  Arm();
}

}  // namespace synod::transport
