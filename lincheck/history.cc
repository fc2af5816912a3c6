#include "lincheck/history.h"

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

int64_t Integer(const nlohmann::json& v, const char* what) {
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

std::string ParseKey(const nlohmann::json& event, const std::string& model) {
  if (model != "kv") return "";
  if (!event.contains("key")) throw LineError{"kv events need a key"};
  const nlohmann::json& key = event["key"];
  if (key.is_string()) return key.get<std::string>();
  if (key.is_number_integer()) return std::to_string(key.get<int64_t>());
  throw LineError{"key must be a string or an integer"};
}

}  // namespace

ParsedHistory ParseHistory(std::istream& in, const std::string& model) {
  ParsedHistory result;
  if (model != "register" && model != "counter" && model != "kv") {
    result.error = "unknown model '" + model + "' (expected register, counter or kv)";
    return result;
  }
  std::map<int64_t, Operation> open;  // process -> its invoked operation
  std::vector<Operation> done;
  std::string line;
  int number = 0;
  size_t index = 0;
  try {
    while (std::getline(in, line)) {
      ++number;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      nlohmann::json event = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (event.is_discarded() || !event.is_object()) throw LineError{"not a JSON object"};
      if (!event.contains("process")) throw LineError{"missing \"process\""};
      int64_t process = Integer(event["process"], "process");
      if (!event.contains("type") || !event["type"].is_string())
        throw LineError{"missing \"type\""};
      if (!event.contains("f") || !event["f"].is_string()) throw LineError{"missing \"f\""};
      std::string type = event["type"].get<std::string>();
      Function f = ParseFunction(event["f"].get<std::string>(), model);
      std::string key = ParseKey(event, model);
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
        if (type == "info") {
          op.known = false;
          op.ret = SIZE_MAX;
        } else {
          op.ret = index;
          if (f == Function::kRead) {
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
  for (auto& [process, op] : open) {  // never completed: unknown
    op.known = false;
    op.ret = SIZE_MAX;
    done.push_back(std::move(op));
  }
  result.operations = std::move(done);
  return result;
}

}  // namespace synod::lincheck
