// Parsing helpers for LockStateMachine results (see lock_result.h).
#include "examples/lock/lock_result.h"

#include <charconv>

namespace synod::examples {

std::optional<uint64_t> ResultNumber(const std::string& result, const std::string& key) {
  std::string needle = key + "=";
  size_t at = 0;
  while ((at = result.find(needle, at)) != std::string::npos) {
    if (at == 0 || result[at - 1] == ' ') break;
    at += needle.size();
  }
  if (at == std::string::npos) return std::nullopt;
  const char* begin = result.data() + at + needle.size();
  const char* end = result.data() + result.size();
  uint64_t value = 0;
  auto [stop, error] = std::from_chars(begin, end, value);
  if (error != std::errc() || stop == begin || (stop != end && *stop != ' ')) return std::nullopt;
  return value;
}

bool ResultIs(const std::string& result, const std::string& word) {
  return result.rfind(word, 0) == 0 && (result.size() == word.size() || result[word.size()] == ' ');
}

}  // namespace synod::examples
