// synod-lincheck: checks a JSON Lines client history for linearizability.
//
//   synod-lincheck --model register|counter|kv FILE [--timeout SECONDS] [--max-memory MIB]
//
// Exit 0: linearizable. 1: not linearizable (prints the operations that
// cannot be ordered). 2: malformed input or usage (names the line). 3:
// undecided within the timeout (default 60 s), or the search's memo would
// outgrow --max-memory (default 2048 MiB).
#include <chrono>
#include <cmath>
#include <fstream>
#include <iostream>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>

#include "lincheck/checker.h"
#include "lincheck/history.h"
#include "lincheck/model.h"

namespace {

int Usage(const std::string& problem) {
  std::cerr << "synod-lincheck: " << problem << "\n"
            << "usage: synod-lincheck --model register|counter|kv FILE [--timeout SECONDS] "
               "[--max-memory MIB]\n";
  return 2;
}

// The number in `text` (all of it), if it is in (0, max].
std::optional<double> ParsePositive(const std::string& text, double max) {
  size_t used = 0;
  double seconds = 0;
  try {
    seconds = std::stod(text, &used);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  if (used != text.size() || !std::isfinite(seconds) || seconds <= 0 || seconds > max) {
    return std::nullopt;
  }
  return seconds;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model, file;
  double timeout_seconds = 60;
  double max_memory_mib = 2048;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if ((arg == "--model" || arg == "--timeout" || arg == "--max-memory") && i + 1 >= argc) {
      return Usage(arg + " needs a value");
    } else if (arg == "--model") {
      model = argv[++i];
    } else if (arg == "--max-memory") {
      std::optional<double> mib = ParsePositive(argv[++i], 1e7);
      if (!mib || *mib < 1) return Usage("--max-memory takes a number of MiB, at least 1");
      max_memory_mib = *mib;
    } else if (arg == "--timeout") {
      std::optional<double> seconds = ParsePositive(argv[++i], 1e6);
      if (!seconds)
        return Usage("--timeout takes a number of seconds, more than 0 and at most 1e6");
      timeout_seconds = *seconds;
    } else if (!arg.empty() && arg[0] == '-') {
      return Usage("unknown option '" + arg + "'");
    } else if (file.empty()) {
      file = arg;
    } else {
      return Usage("more than one FILE given");
    }
  }
  if (model.empty()) return Usage("--model is required");
  if (!synod::lincheck::IsKnownModel(model)) {
    return Usage("unknown model '" + model + "' (expected register, counter or kv)");
  }
  if (file.empty()) return Usage("FILE is required");
  std::ifstream in(file);
  if (!in) return Usage("cannot read " + file);

  synod::lincheck::ParsedHistory history = synod::lincheck::ParseHistory(in, model);
  if (!history.error.empty()) {
    if (history.error_line > 0) {
      std::cerr << file << ":" << history.error_line << ": malformed event: " << history.error
                << "\n";
    } else {
      std::cerr << "synod-lincheck: " << file << ": " << history.error << "\n";
    }
    return 2;
  }
  synod::lincheck::CheckLimits limits;
  limits.max_memory_bytes = static_cast<size_t>(max_memory_mib * 1024 * 1024);
  limits.deadline = std::chrono::steady_clock::now() +
                    std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                        std::chrono::duration<double>(timeout_seconds));
  auto start = std::chrono::steady_clock::now();
  synod::lincheck::CheckResult result;
  try {
    result = synod::lincheck::Check(history.operations, model, limits);
  } catch (const std::bad_alloc&) {
    std::cout << "undecided: out of memory\n";
    return 3;
  }
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
      if (std::chrono::steady_clock::now() > limits.deadline) {
        std::cout << "undecided: timeout after " << timeout_seconds << " s\n";
      } else {
        std::cout << "undecided: " << result.explanation << "\n";
      }
      return 3;
  }
  return 3;
}
