#include "examples/counter/counter_state_machine.h"

#include <charconv>

namespace synod::examples {

namespace {

bool ParseInt(std::string_view text, int64_t& out) {
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), out);
  return error == std::errc() && end == text.data() + text.size() && !text.empty();
}

}  // namespace

std::string CounterStateMachine::Apply(std::string_view command,
                                       const statemachine::ApplyContext&) {
  if (command == "get") return std::to_string(value_);
  if (command.substr(0, 4) == "add ") {
    int64_t n = 0;
    if (!ParseInt(command.substr(4), n)) return "error: bad number";
    int64_t sum = 0;
    if (__builtin_add_overflow(value_, n, &sum)) return "error: overflow";
    value_ = sum;
    return std::to_string(value_);
  }
  return "error: unknown command";
}

void CounterStateMachine::Snapshot(statemachine::SnapshotWriter& out) const {
  out.Write(std::to_string(value_));
}

bool CounterStateMachine::Restore(statemachine::SnapshotReader& in) {
  std::string chunk;
  int64_t value = 0;
  if (!in.Read(chunk) || !ParseInt(chunk, value)) return false;
  value_ = value;
  return true;
}

}  // namespace synod::examples
