// Reading the LockStateMachine's text results on the client side, shared by
// synod-lock's subcommands and the `run` supervisor.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace synod::examples {

// The value of "key=NUMBER" inside `result` ("granted token=7 ttl=1000" with
// key "token" gives 7); nullopt if absent or not a number.
std::optional<uint64_t> ResultNumber(const std::string& result, const std::string& key);

// True for results that start with `word` followed by a space or the end.
bool ResultIs(const std::string& result, const std::string& word);

}  // namespace synod::examples
