// BenchStateMachine: the state machine synod-bench replicates. It keeps a
// running count and checksum of what it applied (so the work cannot be
// optimised away) and answers with the command's length: the cost measured is
// Synod's, not the application's.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "statemachine/state_machine.h"

namespace synod::benchmarks {

class BenchStateMachine final : public statemachine::StateMachine {
 public:
  std::string Apply(std::string_view command, const statemachine::ApplyContext&) override {
    ++count_;
    for (char c : command) checksum_ = checksum_ * 131 + static_cast<uint8_t>(c);
    return std::to_string(command.size());
  }
  void Snapshot(statemachine::SnapshotWriter& out) const override {
    out.Write(std::to_string(count_) + " " + std::to_string(checksum_));
  }
  bool Restore(statemachine::SnapshotReader& in) override {
    std::string chunk;
    if (!in.Read(chunk)) return false;
    size_t space = chunk.find(' ');
    if (space == std::string::npos) return false;
    count_ = std::stoull(chunk.substr(0, space));
    checksum_ = std::stoull(chunk.substr(space + 1));
    return true;
  }

 private:
  uint64_t count_ = 0;
  uint64_t checksum_ = 0;
};

}  // namespace synod::benchmarks
