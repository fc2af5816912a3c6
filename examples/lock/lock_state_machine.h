// LockStateMachine: replicated named locks with leases and fencing tokens.
// Built only on the public StateMachine API.
//
// Every lock has a per-lock token counter kept in the state (and snapshots):
// each grant takes the next value, so a release followed by an acquire always
// yields a higher token, however the commands are batched into slots. Leases
// are measured in log time (ApplyContext::log_time_ms) only — never a local
// clock — so every replica, and a replica replaying its log after a restart,
// decides expiry identically. A lock granted at log time g with ttl L is held
// for log times in [g, g + L); a renew at t < g + L moves the end to t + L and
// keeps the token; a renew at or after the end fails.
//
// Commands (text, fields separated by one space; NAME and OWNER are 1..128
// printable non-space ASCII characters, TTL is 1..kMaxTtlMs):
//   "acquire NAME OWNER TTL"   -> "granted token=T ttl=TTL"  (free, or re-acquired
//                                 by the same owner: keeps its token, extends)
//                              -> "held owner=O token=T remaining=MS"
//   "renew NAME OWNER TOKEN"   -> "renewed token=T ttl=TTL" | "error: ..."
//   "release NAME OWNER TOKEN" -> "released token=T" | "error: ..."
//                                 ("error: lease had already expired" when the
//                                 lease ended before the release)
//   "status NAME"              -> "held owner=O token=T remaining=MS" | "free"
// Every "error: ..." result (bad input or a refusal) changes nothing.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "statemachine/state_machine.h"

namespace synod::examples {

class LockStateMachine final : public statemachine::StateMachine {
 public:
  // Largest accepted lease (one day): keeps log time + ttl far from overflow.
  static constexpr uint64_t kMaxTtlMs = 24ull * 60 * 60 * 1000;
  // Longest accepted lock or owner name.
  static constexpr size_t kMaxNameLength = 128;

  // One lock's replicated state. `owner` is empty when nobody holds it.
  struct Lock {
    uint64_t last_token = 0;  // highest token ever granted for this lock
    std::string owner;        // holder, "" if free (released)
    uint64_t expires_ms = 0;  // log time at which the lease ends (held only)
    uint64_t ttl_ms = 0;      // lease length used by renew (held only)
  };

  // Applies one command (see the file comment); deterministic.
  std::string Apply(std::string_view command, const statemachine::ApplyContext& context) override;
  // Writes every lock, including free ones (their token counters matter).
  void Snapshot(statemachine::SnapshotWriter& out) const override;
  // Replaces the state with a snapshot; false (state unchanged) if malformed.
  bool Restore(statemachine::SnapshotReader& in) override;

  // All locks, by name (for tests and diagnostics).
  const std::map<std::string, Lock>& locks() const { return locks_; }

  // Command encoders for clients; arguments are not validated here (the state
  // machine refuses bad ones with "error: ...").
  static std::string AcquireCommand(const std::string& name, const std::string& owner,
                                    uint64_t ttl_ms);
  static std::string RenewCommand(const std::string& name, const std::string& owner,
                                  uint64_t token);
  static std::string ReleaseCommand(const std::string& name, const std::string& owner,
                                    uint64_t token);
  static std::string StatusCommand(const std::string& name);

  // True if `text` is a valid lock or owner name (1..kMaxNameLength
  // printable ASCII characters, no spaces).
  static bool ValidName(std::string_view text);

 private:
  std::string Acquire(const std::string& name, const std::string& owner, uint64_t ttl,
                      uint64_t now);
  std::string Renew(const std::string& name, const std::string& owner, uint64_t token,
                    uint64_t now);
  std::string Release(const std::string& name, const std::string& owner, uint64_t token,
                      uint64_t now);
  std::string Status(const std::string& name, uint64_t now) const;

  std::map<std::string, Lock> locks_;
};

}  // namespace synod::examples
