#include "node/os_random.h"

#include <unistd.h>

#include <chrono>
#include <functional>
#include <random>
#include <stdexcept>
#include <thread>

#include "paxos/random.h"

namespace synod::node {

uint64_t OsRandom64() {
  try {
    std::random_device device;
    return (static_cast<uint64_t>(device()) << 32) ^ static_cast<uint64_t>(device());
  } catch (const std::runtime_error&) {  // no OS source (std::bad_alloc is not caught)
    uint64_t mixed =
        static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
        (static_cast<uint64_t>(::getpid()) << 40) ^
        static_cast<uint64_t>(std::hash<std::thread::id>{}(std::this_thread::get_id()));
    return paxos::SplitMix64(mixed).Next();
  }
}

}  // namespace synod::node
