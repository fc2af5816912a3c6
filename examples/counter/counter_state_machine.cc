#include "examples/counter/counter_state_machine.h"

#include <charconv>
#include <utility>

namespace synod::examples {

namespace {

bool ParseInt(std::string_view text, int64_t& out) {
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), out);
  return error == std::errc() && end == text.data() + text.size() && !text.empty();
}

constexpr std::string_view kKeyWord = " key ";

}  // namespace

bool CounterStateMachine::ValidKey(std::string_view key) {
  if (key.empty() || key.size() > kMaxKeyLength) return false;
  for (char c : key) {
    if (c <= ' ' || c > '~') return false;
  }
  return true;
}

std::string CounterStateMachine::Apply(std::string_view command,
                                       const statemachine::ApplyContext&) {
  if (command == "get") return std::to_string(value_);
  if (command.substr(0, 4) == "add ") {
    std::string_view number = command.substr(4);
    std::string_view key;
    if (size_t at = number.find(kKeyWord); at != std::string_view::npos) {
      key = number.substr(at + kKeyWord.size());
      number = number.substr(0, at);
      if (!ValidKey(key)) return "error: bad key";
    }
    int64_t n = 0;
    if (!ParseInt(number, n)) return "error: bad number";
    if (!key.empty()) {
      if (keys_.find(key) != keys_.end()) return std::to_string(value_) + " duplicate";
      if (keys_.size() >= kMaxKeys) return "error: too many keys";
    }
    int64_t sum = 0;
    if (__builtin_add_overflow(value_, n, &sum)) return "error: overflow";
    value_ = sum;
    if (!key.empty()) keys_.emplace(key);
    return std::to_string(value_);
  }
  return "error: unknown command";
}

// Chunks: the counter, then one per key in order (none: the format from
// before keys).
void CounterStateMachine::Snapshot(statemachine::SnapshotWriter& out) const {
  out.Write(std::to_string(value_));
  for (const std::string& key : keys_) out.Write(key);
}

bool CounterStateMachine::Restore(statemachine::SnapshotReader& in) {
  std::string chunk;
  int64_t value = 0;
  if (!in.Read(chunk) || !ParseInt(chunk, value)) return false;
  std::set<std::string, std::less<>> keys;
  while (in.Read(chunk)) {
    if (!ValidKey(chunk) || keys.size() >= kMaxKeys || !keys.emplace(chunk).second) return false;
  }
  value_ = value;
  keys_ = std::move(keys);
  return true;
}

}  // namespace synod::examples
