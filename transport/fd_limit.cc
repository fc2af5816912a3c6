// RaiseOpenFileLimit implementation.

#include "transport/fd_limit.h"

#include <sys/resource.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace synod::transport {

OpenFileLimit RaiseOpenFileLimit() {
  constexpr rlim_t kCap = 1u << 20;
  OpenFileLimit result;
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    result.status =
        Status::IoError(std::string("getrlimit(RLIMIT_NOFILE): ") + std::strerror(errno));
    return result;
  }
  result.before = result.after = limit.rlim_cur;
  rlim_t target = limit.rlim_max == RLIM_INFINITY ? kCap : limit.rlim_max;
  if (limit.rlim_cur == RLIM_INFINITY || limit.rlim_cur >= target) return result;
  limit.rlim_cur = target;
  if (setrlimit(RLIMIT_NOFILE, &limit) != 0) {
    result.status = Status::IoError("setrlimit(RLIMIT_NOFILE, " + std::to_string(target) +
                                    "): " + std::strerror(errno));
    return result;
  }
  result.after = target;
  return result;
}

}  // namespace synod::transport
