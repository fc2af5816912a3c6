// synod_same_start_clock: an LD_PRELOAD module for multi-process tests. It
// replaces std::chrono::steady_clock::now() so that a process's first
// kFrozenCalls readings all return the instant in SYNOD_TEST_STEADY_START_NS
// (then the real clock): processes started together with the same value read
// the same start-up nanosecond, as two client processes were seen to do on a
// busy 2-vCPU VM. Without the variable it only passes the real clock through.
// With SYNOD_TEST_STEADY_MARK_DIR set, the first frozen reading also creates
// the empty file <dir>/<pid>, so a test can check the override really ran.
//
// Test support only (tests/cluster/counter_cluster_test.py, same_start_clock);
// it relies on libstdc++ calling steady_clock::now() through the PLT.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>

namespace {

constexpr int kFrozenCalls = 20;

long long FrozenStart() {
  static const long long value = [] {
    const char* text = std::getenv("SYNOD_TEST_STEADY_START_NS");
    return text == nullptr ? 0LL : std::atoll(text);
  }();
  return value;
}

// Records that this process was handed a frozen reading (best effort: a
// missing file makes the test fail, never the process).
void MarkFrozen() {
  const char* dir = std::getenv("SYNOD_TEST_STEADY_MARK_DIR");
  if (dir == nullptr) return;
  char path[4096];
  std::snprintf(path, sizeof path, "%s/%d", dir, static_cast<int>(getpid()));
  const int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd >= 0) close(fd);
}

}  // namespace

namespace std::chrono {
inline namespace _V2 {

steady_clock::time_point steady_clock::now() noexcept {
  static int calls = 0;
  if (calls < kFrozenCalls && FrozenStart() > 0) {
    if (calls++ == 0) MarkFrozen();
    return time_point(duration(FrozenStart()));
  }
  timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return time_point(duration(static_cast<long long>(now.tv_sec) * 1000000000LL + now.tv_nsec));
}

}  // namespace _V2
}  // namespace std::chrono
