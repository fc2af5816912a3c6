#include "benchmarks/load_flags.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace synod::benchmarks {
namespace {

// Seconds: a finite number as strtod reads it, with nothing after it.
bool ParseSeconds(const std::string& text, double& out) {
  if (text.empty()) return false;
  char* end = nullptr;
  errno = 0;
  double value = std::strtod(text.c_str(), &end);
  if (errno != 0 || end != text.c_str() + text.size() || !std::isfinite(value)) return false;
  out = value;
  return true;
}

}  // namespace

Result<LoadFlags> ParseLoadFlags(const node::CliFlags& flags) {
  LoadFlags load;
  if (!flags.Get("--replicas").empty() &&
      (!node::ParseU64(flags.Get("--replicas"), load.replicas) ||
       (load.replicas != 3 && load.replicas != 5))) {
    return Status::InvalidArgument("--replicas takes 3 or 5");
  }
  if (!flags.Get("--size").empty() && (!node::ParseU64(flags.Get("--size"), load.size) ||
                                       load.size == 0 || load.size > (1u << 20))) {
    return Status::InvalidArgument("--size takes 1 to 1048576 bytes");
  }
  if ((!flags.Get("--duration-s").empty() &&
       !ParseSeconds(flags.Get("--duration-s"), load.duration_s)) ||
      (!flags.Get("--warmup-s").empty() && !ParseSeconds(flags.Get("--warmup-s"), load.warmup_s))) {
    return Status::InvalidArgument("--duration-s and --warmup-s take seconds");
  }
  if (!(load.duration_s > 0) || !(load.warmup_s >= 0)) {
    return Status::InvalidArgument("--duration-s must be positive and --warmup-s not negative");
  }
  // Both become steady_clock durations (int64 nanoseconds): a day is far
  // from overflow and longer than any benchmark run.
  constexpr double kMaxSeconds = 86400;
  if (load.duration_s > kMaxSeconds || load.warmup_s > kMaxSeconds) {
    return Status::InvalidArgument("--duration-s and --warmup-s take at most 86400 seconds");
  }
  return load;
}

}  // namespace synod::benchmarks
