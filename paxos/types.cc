#include "paxos/types.h"

#include "paxos/invariant.h"

namespace synod::paxos {

std::string Ballot::ToString() const {
  return std::to_string(round) + "." + std::to_string(replica);
}

size_t Value::ByteSize() const {
  size_t size = 8;
  for (const std::string& c : commands) size += c.size() + 8;
  return size;
}

ValuePtr NoopValue() {
  static const ValuePtr kNoop = std::make_shared<const Value>();
  return kNoop;
}

ValuePtr MakeCommandsValue(std::vector<std::string> commands) {
  SYNOD_INVARIANT(!commands.empty(), "a commands value holds at least one command");
  auto value = std::make_shared<Value>();
  value->kind = ValueKind::kCommands;
  value->commands = std::move(commands);
  return value;
}

bool SameValue(const ValuePtr& a, const ValuePtr& b) {
  SYNOD_INVARIANT(a && b, "values compared must exist");
  return a == b || *a == *b;
}

}  // namespace synod::paxos
