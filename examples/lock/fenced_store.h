// FencedStore: the fenced resource of the lock example. It keeps one value per
// lock name and accepts a write only if its fencing token is at least the
// highest token it has seen for that lock, so a holder that was paused past
// its lease (and replaced by a holder with a higher token) cannot overwrite
// newer data when it wakes up.
//
// Line protocol (one request line in, one reply line out; see README.md):
//   "WRITE LOCK TOKEN DATA" -> "OK" | "REJECTED HIGHEST" | "ERROR reason"
//   "READ LOCK"             -> "VALUE TOKEN DATA" | "EMPTY" | "ERROR reason"
// LOCK follows LockStateMachine::ValidName; TOKEN is a positive integer; DATA
// is the rest of the line (may hold spaces, not newlines). In memory only.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace synod::examples {

class FencedStore {
 public:
  // Handles one request line (without its '\n') and returns the reply line
  // (without '\n'). Never throws for bad input: replies "ERROR ...".
  std::string Handle(std::string_view request);

 private:
  struct Value {
    uint64_t token = 0;  // highest token seen (of the accepted write)
    std::string data;
  };
  std::map<std::string, Value> values_;
};

}  // namespace synod::examples
