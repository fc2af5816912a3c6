// CounterStateMachine: the replicated counter, Synod's first example. Built
// only on the public StateMachine API.
//
// Commands (text): "add N" adds the signed 64-bit N and returns the counter
// after it; "get" returns the counter. Anything else returns "error: ...".
// Deterministic, as every StateMachine must be.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "statemachine/state_machine.h"

namespace synod::examples {

class CounterStateMachine final : public statemachine::StateMachine {
 public:
  std::string Apply(std::string_view command, const statemachine::ApplyContext& context) override;
  void Snapshot(statemachine::SnapshotWriter& out) const override;
  bool Restore(statemachine::SnapshotReader& in) override;

  int64_t value() const { return value_; }

  // Command encoders for clients.
  static std::string AddCommand(int64_t n) { return "add " + std::to_string(n); }
  static std::string GetCommand() { return "get"; }

 private:
  int64_t value_ = 0;
};

}  // namespace synod::examples
