// SimCounterApp: the deterministic application the simulator replicates — a
// counter with per-client deduplication (client id + sequence number), so a
// command retried after a failover is applied exactly once.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "tests/sim/sim_types.h"

namespace synod::sim {

class SimCounterApp {
 public:
  // Result of applying one command: the counter after it (for add) or the
  // counter read (for get); `duplicate` if the command had been applied before.
  struct Result {
    int64_t value = 0;
    bool duplicate = false;
  };

  // `deduplicate` false is a deliberately broken variant (--break no-dedup).
  explicit SimCounterApp(bool deduplicate = true) : deduplicate_(deduplicate) {}

  // Applies one command; throws SimViolation for a command that is not valid.
  Result Apply(const std::string& command);
  int64_t counter() const { return counter_; }
  uint64_t applied_commands() const { return applied_commands_; }
  // The whole state as text: equal states give equal fingerprints.
  std::string Fingerprint() const;

 private:
  struct Session {
    uint64_t last_seq = 0;
    int64_t last_result = 0;
  };
  bool deduplicate_ = true;
  int64_t counter_ = 0;
  uint64_t applied_commands_ = 0;
  std::map<uint32_t, Session> sessions_;
};

}  // namespace synod::sim
