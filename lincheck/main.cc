// synod-lincheck: checks a JSON Lines client history for linearizability.
//
//   synod-lincheck --model register|counter|kv FILE [--timeout SECONDS]
//
// Exit 0: linearizable. 1: not linearizable (prints the operations that
// cannot be ordered). 2: malformed input or usage (names the line). 3:
// undecided within the timeout (default 60 s).
#include <chrono>
#include <fstream>
#include <iostream>
#include <string>

#include "lincheck/checker.h"
#include "lincheck/history.h"

namespace {

int Usage(const std::string& problem) {
  std::cerr << "synod-lincheck: " << problem << "\n"
            << "usage: synod-lincheck --model register|counter|kv FILE [--timeout SECONDS]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model, file;
  double timeout_seconds = 60;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--model" && i + 1 < argc) {
      model = argv[++i];
    } else if (arg == "--timeout" && i + 1 < argc) {
      try {
        timeout_seconds = std::stod(argv[++i]);
      } catch (...) {
        return Usage("--timeout takes a number of seconds");
      }
      if (timeout_seconds <= 0) return Usage("--timeout must be positive");
    } else if (!arg.empty() && arg[0] == '-') {
      return Usage("unknown option '" + arg + "'");
    } else if (file.empty()) {
      file = arg;
    } else {
      return Usage("more than one FILE given");
    }
  }
  if (model.empty()) return Usage("--model is required");
  if (file.empty()) return Usage("FILE is required");
  std::ifstream in(file);
  if (!in) return Usage("cannot read " + file);

  synod::lincheck::ParsedHistory history = synod::lincheck::ParseHistory(in, model);
  if (!history.error.empty()) {
    if (history.error_line > 0) {
      std::cerr << file << ":" << history.error_line << ": malformed event: " << history.error
                << "\n";
    } else {
      std::cerr << "synod-lincheck: " << history.error << "\n";
    }
    return 2;
  }
  synod::lincheck::CheckLimits limits;
  limits.deadline = std::chrono::steady_clock::now() +
                    std::chrono::milliseconds(static_cast<int64_t>(timeout_seconds * 1000));
  auto start = std::chrono::steady_clock::now();
  synod::lincheck::CheckResult result = synod::lincheck::Check(history.operations, model, limits);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  switch (result.verdict) {
    case synod::lincheck::Verdict::kLinearizable:
      std::cout << "linearizable: " << history.operations.size() << " operations, " << result.steps
                << " search steps, " << seconds << " s\n";
      return 0;
    case synod::lincheck::Verdict::kNotLinearizable:
      std::cout << result.explanation;
      return 1;
    case synod::lincheck::Verdict::kUndecided:
      std::cout << "undecided: timeout after " << timeout_seconds << " s\n";
      return 3;
  }
  return 3;
}
