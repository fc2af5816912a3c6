#include "lincheck/generator.h"

#include <map>
#include <optional>
#include <random>
#include <vector>

namespace synod::lincheck {

namespace {

struct Pending {
  bool active = false;
  bool effected = false;
  std::string f;
  std::string key;
  int64_t arg = 0, arg2 = 0;
  std::string result;  // JSON of the ok value
  bool fail = false;
};

std::string Key(const std::string& model, const std::string& key) {
  return model == "kv" ? ",\"key\":\"" + key + "\"" : "";
}

}  // namespace

void GenerateHistory(const GeneratorOptions& options, std::ostream& out) {
  std::mt19937_64 rng(options.seed);
  auto rand = [&](uint64_t n) { return static_cast<int64_t>(rng() % n); };
  std::map<std::string, std::optional<int64_t>> registers;
  int64_t counter = 0;
  std::vector<Pending> pending(options.processes);
  int started = 0, completed = 0, time = 0;
  int info_left = options.info_operations, fail_left = options.failed_operations;
  while (completed < options.operations) {
    ++time;
    int p = static_cast<int>(rand(options.processes));
    Pending& op = pending[p];
    if (!op.active) {
      if (started >= options.operations) continue;
      ++started;
      op = Pending{};
      op.active = true;
      op.key = options.model == "kv" ? "k" + std::to_string(rand(options.keys)) : "";
      if (options.model == "counter") {
        op.f = rand(2) == 0 ? "add" : "get";
        op.arg = rand(10) - 3;
      } else {
        int choice = static_cast<int>(rand(3));
        op.f = choice == 0 ? "read" : choice == 1 ? "write" : "cas";
        op.arg = rand(5);
        op.arg2 = rand(5);
      }
      op.fail =
          fail_left > 0 && rand(options.operations / (options.failed_operations + 1) + 1) == 0;
      if (op.fail) --fail_left;
      out << "{\"process\":" << p << ",\"type\":\"invoke\",\"f\":\"" << op.f << "\""
          << Key(options.model, op.key);
      if (op.f == "write" || op.f == "add") out << ",\"value\":" << op.arg;
      if (op.f == "cas") out << ",\"value\":[" << op.arg << "," << op.arg2 << "]";
      out << ",\"time\":" << time << "}\n";
      continue;
    }
    if (!op.effected && info_left > 0 && rand(20) == 0) {
      // The client gives up before the operation happens; it never will.
      --info_left;
      out << "{\"process\":" << p << ",\"type\":\"info\",\"f\":\"" << op.f << "\""
          << Key(options.model, op.key);
      if (op.f == "write" || op.f == "add") out << ",\"value\":" << op.arg;
      if (op.f == "cas") out << ",\"value\":[" << op.arg << "," << op.arg2 << "]";
      out << ",\"time\":" << time << "}\n";
      op.active = false;
      ++completed;
      continue;
    }
    if (!op.effected && rand(2) == 0) {  // the linearization point
      op.effected = true;
      if (op.fail) continue;  // a failed operation takes no effect
      std::optional<int64_t>& reg = registers[op.key];
      if (op.f == "read") {
        op.result = reg ? std::to_string(*reg) : "null";
      } else if (op.f == "write") {
        reg = op.arg;
      } else if (op.f == "cas") {
        if (reg && *reg == op.arg) {
          reg = op.arg2;
        } else {
          op.fail = true;  // a cas that found another value fails, with no effect
        }
      } else if (op.f == "add") {
        counter += op.arg;
      } else {
        op.result = std::to_string(counter);
      }
      continue;
    }
    if (!op.effected) continue;
    std::string type = op.fail ? "fail" : "ok";
    if (!op.fail && info_left > 0 &&
        rand(options.operations / (options.info_operations + 1) + 1) == 0) {
      type = "info";
      --info_left;
    }
    out << "{\"process\":" << p << ",\"type\":\"" << type << "\",\"f\":\"" << op.f << "\""
        << Key(options.model, op.key);
    if (type == "ok" && (op.f == "read" || op.f == "get")) out << ",\"value\":" << op.result;
    if (op.f == "write" || op.f == "add") out << ",\"value\":" << op.arg;
    if (op.f == "cas") out << ",\"value\":[" << op.arg << "," << op.arg2 << "]";
    out << ",\"time\":" << time << "}\n";
    op.active = false;
    ++completed;
  }
}

}  // namespace synod::lincheck
