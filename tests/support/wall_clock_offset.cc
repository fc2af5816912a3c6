// synod_wall_clock_offset: an LD_PRELOAD module for multi-process tests that
// moves a running process's wall clock. clock_gettime(CLOCK_REALTIME and
// CLOCK_REALTIME_COARSE), gettimeofday and time return the real wall clock
// plus an offset in whole seconds (may be negative) read from the file named
// by SYNOD_TEST_WALL_CLOCK_OFFSET_FILE. The file is re-read at most every
// kRereadNs of monotonic time, so a test changes the offset while the process
// runs by rewriting the file (write a temporary file and rename it over, so a
// reader never sees it half written). Without the variable, or while the file
// is missing or does not hold a number, the offset is 0. Other clocks
// (CLOCK_MONOTONIC, ...) pass through unchanged.
//
// std::chrono::system_clock::now() in libstdc++ calls clock_gettime through
// the PLT (the vDSO is reached only inside libc), so interposing the libc
// symbols moves it too. Thread-safe: the cached offset is atomic; two threads
// may both re-read the file, which is harmless.
//
// Test support only (tests/cluster/clock_jump_cluster_test.py).
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <ctime>

namespace {

constexpr long long kNsPerSecond = 1000000000LL;
constexpr long long kRereadNs = 10 * 1000 * 1000;  // 10 ms

using ClockGettimeFn = int (*)(clockid_t, timespec*);

ClockGettimeFn RealClockGettime() {
  static const ClockGettimeFn real =
      reinterpret_cast<ClockGettimeFn>(dlsym(RTLD_NEXT, "clock_gettime"));
  return real;
}

// Real CLOCK_MONOTONIC in ns, or 0 if unavailable.
long long MonotonicNs() {
  timespec now{};
  if (RealClockGettime()(CLOCK_MONOTONIC, &now) != 0) return 0;
  return static_cast<long long>(now.tv_sec) * kNsPerSecond + now.tv_nsec;
}

// The offset file's value in ns: 0 if it is missing or not a number.
long long ReadOffsetNs(const char* path) {
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char text[32] = {};
  const ssize_t n = read(fd, text, sizeof text - 1);
  close(fd);
  if (n <= 0) return 0;
  char* end = nullptr;
  const long long seconds = std::strtoll(text, &end, 10);
  if (end == text) return 0;
  return seconds * kNsPerSecond;
}

std::atomic<long long> cached_offset_ns{0};
std::atomic<long long> next_read_ns{0};

long long OffsetNs() {
  static const char* const path = std::getenv("SYNOD_TEST_WALL_CLOCK_OFFSET_FILE");
  if (path == nullptr) return 0;
  const long long now = MonotonicNs();
  if (now >= next_read_ns.load(std::memory_order_relaxed)) {
    const int saved_errno = errno;  // callers of time functions expect errno untouched
    cached_offset_ns.store(ReadOffsetNs(path), std::memory_order_relaxed);
    next_read_ns.store(now + kRereadNs, std::memory_order_relaxed);
    errno = saved_errno;
  }
  return cached_offset_ns.load(std::memory_order_relaxed);
}

void Shift(timespec* ts, long long offset_ns) {
  long long ns = static_cast<long long>(ts->tv_sec) * kNsPerSecond + ts->tv_nsec + offset_ns;
  ts->tv_sec = static_cast<time_t>(ns / kNsPerSecond);
  ts->tv_nsec = static_cast<long>(ns % kNsPerSecond);
  if (ts->tv_nsec < 0) {
    ts->tv_nsec += kNsPerSecond;
    ts->tv_sec -= 1;
  }
}

}  // namespace

extern "C" {

int clock_gettime(clockid_t clock, timespec* ts) noexcept {
  const int result = RealClockGettime()(clock, ts);
  if (result == 0 && (clock == CLOCK_REALTIME || clock == CLOCK_REALTIME_COARSE)) {
    Shift(ts, OffsetNs());
  }
  return result;
}

int gettimeofday(timeval* tv, void* /*tz*/) noexcept {
  timespec now{};
  const int result = clock_gettime(CLOCK_REALTIME, &now);
  if (result != 0) return result;
  tv->tv_sec = now.tv_sec;
  tv->tv_usec = now.tv_nsec / 1000;
  return 0;
}

time_t time(time_t* out) noexcept {
  timespec now{};
  if (clock_gettime(CLOCK_REALTIME, &now) != 0) return static_cast<time_t>(-1);
  if (out != nullptr) *out = now.tv_sec;
  return now.tv_sec;
}

}  // extern "C"
