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

// The operations of the three models: register and kv use read/write/cas,
// counter uses add/get.
enum class Function : uint8_t { kRead, kWrite, kCas, kAdd, kGet };

// The input spelling of `f` ("read", ...); never null.
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
  int complete_line = 0;      // 0 when never completed
  std::string invoke_text;    // the invoke's input line, if parsed from text (for explanations)
  std::string complete_text;  // the completion's input line ("" when never completed)

  // One-line human description, e.g. "process 1 read -> 5 (line 3-4)".
  std::string Describe() const;
};

// Outcome of parsing: operations (fail ones already dropped) or an error
// naming the line.
struct ParsedHistory {
  std::vector<Operation> operations;
  std::string error;  // empty on success
  int error_line = 0;
};

// Reads JSON Lines from `in` and pairs invokes with completions. `model`
// ("register", "counter" or "kv") names the kinds of `f` allowed and whether a
// key is needed. Never throws for bad input: the first problem found is
// returned in `error` with its 1-based line number (0 for an unknown model).
// Values are signed 64-bit integers; anything else where a value is expected
// (a float, a string, an integer outside int64, a missing read result) is an
// error. A process may invoke again after an info completion (lenient); the
// info operation stays concurrent with everything after its invoke.
ParsedHistory ParseHistory(std::istream& in, const std::string& model);

}  // namespace synod::lincheck
