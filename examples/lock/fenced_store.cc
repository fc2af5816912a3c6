// The fenced store's request handling (see fenced_store.h).
#include "examples/lock/fenced_store.h"

#include <charconv>

#include "examples/lock/lock_state_machine.h"

namespace synod::examples {

namespace {

// Splits off the word before the next space; `rest` gets what follows it.
std::string_view NextWord(std::string_view& rest) {
  size_t space = rest.find(' ');
  std::string_view word = rest.substr(0, space);
  rest = space == std::string_view::npos ? std::string_view() : rest.substr(space + 1);
  return word;
}

}  // namespace

std::string FencedStore::Handle(std::string_view request) {
  if (request.find('\n') != std::string_view::npos) return "ERROR newline in request";
  std::string_view rest = request;
  std::string_view verb = NextWord(rest);
  if (verb == "READ") {
    if (!LockStateMachine::ValidName(rest)) return "ERROR bad lock name";
    auto it = values_.find(std::string(rest));
    if (it == values_.end()) return "EMPTY";
    return "VALUE " + std::to_string(it->second.token) + " " + it->second.data;
  }
  if (verb != "WRITE") return "ERROR unknown request";
  std::string lock(NextWord(rest));
  std::string_view token_text = NextWord(rest);
  if (!LockStateMachine::ValidName(lock)) return "ERROR bad lock name";
  uint64_t token = 0;
  auto [end, error] =
      std::from_chars(token_text.data(), token_text.data() + token_text.size(), token);
  if (error != std::errc() || end != token_text.data() + token_text.size() || token == 0) {
    return "ERROR bad token";
  }
  Value& value = values_[lock];
  if (token < value.token) return "REJECTED " + std::to_string(value.token);
  value.token = token;
  value.data = std::string(rest);
  return "OK";
}

}  // namespace synod::examples
