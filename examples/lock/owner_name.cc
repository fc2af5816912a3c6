// UniqueOwnerName (see owner_name.h): host, pid and OS random bits.
#include "examples/lock/owner_name.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "node/os_random.h"

namespace synod::examples {

std::string UniqueOwnerName(size_t max_length) {
  max_length = std::max(max_length, kMinUniqueOwnerLength);
  char random_hex[17] = {};
  std::snprintf(random_hex, sizeof(random_hex), "%016llx",
                static_cast<unsigned long long>(node::OsRandom64()));
  std::string tail = std::to_string(getpid()) + "-" + random_hex;
  char host[64] = {};
  if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0') std::snprintf(host, 8, "host");
  std::string name(host);
  for (char& c : name) {
    if (c <= ' ' || c > '~') c = '_';
  }
  if (tail.size() + 2 > max_length) return tail;  // no room for a host character and '-'
  name.resize(std::min(name.size(), max_length - tail.size() - 1));
  return name + "-" + tail;
}

}  // namespace synod::examples
