// CounterStateMachine: the replicated counter, Synod's first example. Built
// only on the public StateMachine API.
//
// Commands (text): "add N" adds the signed 64-bit N and returns the counter
// after it; "add N key K" does the same once per idempotency key K (1 to
// kMaxKeyLength printable non-space characters): the first command with K
// adds and returns the counter, every later one with K (from any client)
// changes nothing and returns "VALUE duplicate", the counter at that point;
// "get" returns the counter. Anything else returns "error: ...", changing
// nothing. Deterministic, as every StateMachine must be.
//
// Keys are kept for good (in snapshots too), at most kMaxKeys of them: a new
// key beyond that is refused with "error: too many keys". A state without
// keys snapshots exactly as before keys existed (one chunk: the counter).
#pragma once

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "statemachine/state_machine.h"

namespace synod::examples {

class CounterStateMachine final : public statemachine::StateMachine {
 public:
  static constexpr size_t kMaxKeyLength = 64;
  static constexpr size_t kMaxKeys = 100000;

  std::string Apply(std::string_view command, const statemachine::ApplyContext& context) override;
  void Snapshot(statemachine::SnapshotWriter& out) const override;
  bool Restore(statemachine::SnapshotReader& in) override;

  int64_t value() const { return value_; }

  // True if `key` can be an idempotency key (see the file comment).
  static bool ValidKey(std::string_view key);

  // Command encoders for clients.
  static std::string AddCommand(int64_t n) { return "add " + std::to_string(n); }
  static std::string AddCommand(int64_t n, const std::string& key) {
    return AddCommand(n) + " key " + key;
  }
  static std::string GetCommand() { return "get"; }

 private:
  int64_t value_ = 0;
  std::set<std::string, std::less<>> keys_;  // idempotency keys applied so far
};

}  // namespace synod::examples
