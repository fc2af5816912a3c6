// SimCounterApp: the deterministic application the simulator replicates — a
// counter with per-client deduplication (client id + sequence number), so a
// command retried after a failover is applied exactly once. Commands that
// name a session (ClientCommand::session) are deduplicated within it, and the
// session expires like the runtime's (statemachine/session_table.h), in log
// time counted in applied commands: a command of an older or expired session
// is refused, never applied.
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
    bool expired = false;  // refused: its session expired (not applied)
  };

  // `deduplicate` false is a deliberately broken variant (--break no-dedup).
  // Sessions expire after `session_expiry` applied commands without one of
  // theirs (0: never).
  explicit SimCounterApp(bool deduplicate = true, uint64_t session_expiry = 0)
      : deduplicate_(deduplicate), session_expiry_(session_expiry) {}

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
    uint64_t session = 0;      // the client's current session
    uint64_t last_active = 0;  // log time of its last command
  };
  bool deduplicate_ = true;
  uint64_t session_expiry_ = 0;
  uint64_t log_time_ = 0;  // commands applied or refused so far
  int64_t counter_ = 0;
  uint64_t applied_commands_ = 0;
  std::map<uint32_t, Session> sessions_;
};

}  // namespace synod::sim
