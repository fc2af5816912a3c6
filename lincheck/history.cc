#include "lincheck/history.h"

#include <limits>
#include <map>
#include <nlohmann/json.hpp>

namespace synod::lincheck {

const char* FunctionName(Function f) {
  switch (f) {
    case Function::kRead:
      return "read";
    case Function::kWrite:
      return "write";
    case Function::kCas:
      return "cas";
    case Function::kAdd:
      return "add";
    case Function::kGet:
      return "get";
  }
  return "?";
}

std::string Operation::Describe() const {
  std::string out = "process " + std::to_string(process) + " " + FunctionName(f);
  if (!key.empty()) out += " key=" + key;
  if (f == Function::kCas) {
    out += " [" + std::to_string(cas_old) + "," + std::to_string(cas_new) + "]";
  } else if (f == Function::kWrite || f == Function::kAdd) {
    out += " " + std::to_string(value.value_or(0));
  } else if (known) {
    out += " -> " + (value ? std::to_string(*value) : std::string("null"));
  }
  out += known ? "" : " (unknown outcome)";
  out += " (line " + std::to_string(invoke_line);
  if (complete_line != 0) out += "-" + std::to_string(complete_line);
  return out + ")";
}

namespace {

struct LineError {
  std::string message;
};

// The signed 64-bit integer in `v`; throws LineError naming `what` for
// anything else (null, floats, strings, integers beyond int64).
int64_t Integer(const nlohmann::json& v, const char* what) {
  if (v.is_number_unsigned()) {
    uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      throw LineError{std::string(what) + " is outside the signed 64-bit range"};
    }
    return static_cast<int64_t>(u);
  }
  if (!v.is_number_integer()) throw LineError{std::string(what) + " must be an integer"};
  return v.get<int64_t>();
}

Function ParseFunction(const std::string& name, const std::string& model) {
  bool counter = model == "counter";
  if (!counter && name == "read") return Function::kRead;
  if (!counter && name == "write") return Function::kWrite;
  if (!counter && name == "cas") return Function::kCas;
  if (counter && name == "add") return Function::kAdd;
  if (counter && name == "get") return Function::kGet;
  throw LineError{"f \"" + name + "\" is not an operation of the " + model + " model"};
}

// The kv key of `event` as text ("" for other models). Integer keys are
// written in decimal; `integer_keys` remembers which texts came from integers
// so that the key 1 and the key "1" are never silently merged into one
// register (that could hide a violation): mixing them is an error.
std::string ParseKey(const nlohmann::json& event, const std::string& model,
                     std::map<std::string, bool>& integer_keys) {
  if (model != "kv") return "";
  if (!event.contains("key")) throw LineError{"kv events need a key"};
  const nlohmann::json& key = event["key"];
  std::string text;
  if (key.is_string()) {
    text = key.get<std::string>();
  } else if (key.is_number_integer()) {
    text = std::to_string(Integer(key, "key"));
  } else {
    throw LineError{"key must be a string or an integer"};
  }
  auto [it, inserted] = integer_keys.emplace(text, !key.is_string());
  if (!inserted && it->second == key.is_string()) {
    throw LineError{"key " + text + " appears both as a string and as an integer"};
  }
  return text;
}

// `line` without trailing whitespace (kept for explanations).
std::string Trimmed(const std::string& line) {
  size_t end = line.find_last_not_of(" \t\r");
  return end == std::string::npos ? std::string() : line.substr(0, end + 1);
}

}  // namespace

ParsedHistory ParseHistory(std::istream& in, const std::string& model) {
  ParsedHistory result;
  if (model != "register" && model != "counter" && model != "kv") {
    result.error = "unknown model '" + model + "' (expected register, counter or kv)";
    return result;
  }
  std::map<int64_t, Operation> open;  // process -> its invoked operation
  std::map<std::string, bool> integer_keys;
  std::vector<Operation> done;
  std::string line;
  int number = 0;
  size_t index = 0;
  try {
    while (std::getline(in, line)) {
      ++number;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      nlohmann::json event;
      try {
        event = nlohmann::json::parse(line);
      } catch (const nlohmann::json::parse_error& error) {
        throw LineError{std::string("invalid JSON (") + error.what() + ")"};
      }
      if (!event.is_object()) throw LineError{"not a JSON object"};
      if (!event.contains("process")) throw LineError{"missing \"process\""};
      int64_t process = Integer(event["process"], "process");
      if (!event.contains("type") || !event["type"].is_string())
        throw LineError{"missing \"type\""};
      if (!event.contains("f") || !event["f"].is_string()) throw LineError{"missing \"f\""};
      std::string type = event["type"].get<std::string>();
      Function f = ParseFunction(event["f"].get<std::string>(), model);
      std::string key = ParseKey(event, model, integer_keys);
      const nlohmann::json value = event.contains("value") ? event["value"] : nlohmann::json();
      ++index;
      if (type == "invoke") {
        auto it = open.find(process);
        if (it != open.end()) {
          throw LineError{"process " + std::to_string(process) +
                          " invokes again while its operation from line " +
                          std::to_string(it->second.invoke_line) + " is still open"};
        }
        Operation op;
        op.process = process;
        op.f = f;
        op.key = key;
        op.call = index;
        op.invoke_line = number;
        op.invoke_text = Trimmed(line);
        if (f == Function::kWrite || f == Function::kAdd) {
          op.value = Integer(value, "value");
        } else if (f == Function::kCas) {
          if (!value.is_array() || value.size() != 2)
            throw LineError{"cas value must be [old,new]"};
          op.cas_old = Integer(value[0], "cas old value");
          op.cas_new = Integer(value[1], "cas new value");
        }
        open.emplace(process, std::move(op));
      } else if (type == "ok" || type == "fail" || type == "info") {
        auto it = open.find(process);
        if (it == open.end()) {
          throw LineError{"\"" + type + "\" for process " + std::to_string(process) +
                          " without an open invoke"};
        }
        Operation op = std::move(it->second);
        open.erase(it);
        if (op.f != f) throw LineError{"completion's f differs from its invoke's"};
        if (model == "kv" && op.key != key) throw LineError{"completion's key differs"};
        if (type == "fail") continue;  // definitely never took effect
        op.complete_line = number;
        op.complete_text = Trimmed(line);
        if (type == "info") {
          op.known = false;
          op.ret = SIZE_MAX;
        } else {
          op.ret = index;
          if (f == Function::kRead) {
            // A read's ok must state what it read: null (never written) or a value.
            if (!event.contains("value")) throw LineError{"a read's ok needs a value (or null)"};
            if (!value.is_null()) op.value = Integer(value, "value read");
          } else if (f == Function::kGet) {
            op.value = Integer(value, "count read");
          }
        }
        done.push_back(std::move(op));
      } else {
        throw LineError{"type \"" + type + "\" is not invoke, ok, fail or info"};
      }
    }
  } catch (const LineError& error) {
    result.error = error.message;
    result.error_line = number;
    return result;
  } catch (const nlohmann::json::exception& error) {
    result.error = error.what();
    result.error_line = number;
    return result;
  }
  if (in.bad()) {
    result.error = "read error after line " + std::to_string(number);
    return result;
  }
  for (auto& [process, op] : open) {  // never completed: unknown
    op.known = false;
    op.ret = SIZE_MAX;
    done.push_back(std::move(op));
  }
  result.operations = std::move(done);
  return result;
}

}  // namespace synod::lincheck
