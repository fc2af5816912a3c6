// The sequential specifications the checker tests histories against: a
// register (read / write / cas; kv is one register per key) and a counter
// (add / get). A model step says whether an operation, with the result it
// reported, can take effect in a state, and what state follows.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "lincheck/history.h"

namespace synod::lincheck {

// A register's value (`set` false: never written) or a counter's count.
struct ModelState {
  bool set = false;
  int64_t value = 0;
  bool operator==(const ModelState&) const = default;
};

// The state after `op` takes effect in `state`, or nullopt if it cannot take
// effect there with the result it reported (a read of another value, a cas
// whose old value is not the current one, a get of another count). Counter
// adds wrap around in two's complement (never undefined behaviour). `op`
// must be valid (see ValidateOperation).
std::optional<ModelState> ApplyOperation(const ModelState& state, const Operation& op);

// True for operations that never change the state (read, get).
bool IsObserver(Function f);

// True if `model` is "register", "counter" or "kv".
bool IsKnownModel(const std::string& model);

// "" if `op` is a well-formed operation of `model` (an f of that model; a
// value for write and add; a result for a known get; a return after the call
// when the outcome is known); otherwise what is wrong with it.
std::string ValidateOperation(const Operation& op, const std::string& model);

// Human form of a state, e.g. "the register holds 3", "the count is 5".
std::string DescribeState(const ModelState& state, const std::string& model);

}  // namespace synod::lincheck
