// History: client operations read from Jepsen-style JSON Lines, paired into
// operations (an invoke and the same process's completion).
//
// Line format: {"process":0,"type":"invoke|ok|fail|info","f":"read|write|cas|add|get",
//               "key":"x","value":3,"time":17}
// `fail` = definitely never took effect: dropped. `info`, or an invoke never
// completed = unknown: may take effect at any point after its invoke, or never.
#pragma once

#include <cstdint>
#include <istream>
#include <optional>
#include <string>
#include <vector>

namespace synod::lincheck {

enum class Function : uint8_t { kRead, kWrite, kCas, kAdd, kGet };
const char* FunctionName(Function f);

// One operation, with its position in the input (for ordering and messages).
struct Operation {
  int64_t process = 0;
  Function f = Function::kRead;
  std::string key;                   // kv only ("" otherwise)
  std::optional<int64_t> value;      // write/add argument; read/get result (null = never written)
  int64_t cas_old = 0, cas_new = 0;  // cas only
  bool known = true;                 // false: info/unknown outcome
  size_t call = 0;                   // index of the invoke event
  size_t ret = 0;                    // index of the completion (SIZE_MAX when unknown)
  int invoke_line = 0;
  int complete_line = 0;  // 0 when never completed

  std::string Describe() const;
};

// Outcome of parsing: operations (fail ones already dropped) or an error
// naming the line.
struct ParsedHistory {
  std::vector<Operation> operations;
  std::string error;  // empty on success
  int error_line = 0;
};

// Model names the kinds of `f` allowed: "register", "counter" or "kv".
ParsedHistory ParseHistory(std::istream& in, const std::string& model);

}  // namespace synod::lincheck
