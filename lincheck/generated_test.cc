// Histories of real linearizable executions (GenerateHistory) must always
// pass, also cut off at any point (operations still open become unknown);
// the same histories with one result corrupted must fail.
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "lincheck/checker.h"
#include "lincheck/generator.h"
#include "lincheck/history.h"

namespace synod::lincheck {
namespace {

std::string Generate(const std::string& model, uint64_t seed, int operations, int processes,
                     int info) {
  GeneratorOptions options;
  options.model = model;
  options.operations = operations;
  options.processes = processes;
  options.info_operations = info;
  options.failed_operations = info;
  options.seed = seed;
  std::ostringstream text;
  GenerateHistory(options, text);
  return text.str();
}

std::vector<Operation> Parse(const std::string& text, const std::string& model) {
  std::istringstream in(text);
  ParsedHistory history = ParseHistory(in, model);
  EXPECT_EQ(history.error, "") << "line " << history.error_line;
  return history.operations;
}

TEST(Generated, RealExecutionsAreLinearizable) {
  for (const char* model : {"register", "counter", "kv"}) {
    for (uint64_t seed = 1; seed <= 20; ++seed) {
      int info = static_cast<int>(seed % 4) * 10;  // 0 to 30 unknown outcomes
      std::string text = Generate(model, seed, 300, 2 + static_cast<int>(seed % 9), info);
      CheckResult result = Check(Parse(text, model), model);
      EXPECT_EQ(result.verdict, Verdict::kLinearizable) << model << " seed " << seed << "\n"
                                                        << result.explanation;
    }
  }
}

TEST(Generated, PrefixesOfRealExecutionsAreLinearizable) {
  for (const char* model : {"register", "counter", "kv"}) {
    std::string text = Generate(model, 77, 200, 6, 10);
    std::vector<size_t> line_ends;
    for (size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '\n') line_ends.push_back(i + 1);
    }
    for (size_t cut = 0; cut < line_ends.size(); cut += 7) {
      std::string prefix = text.substr(0, line_ends[cut]);
      CheckResult result = Check(Parse(prefix, model), model);
      EXPECT_EQ(result.verdict, Verdict::kLinearizable)
          << model << " cut after line " << cut + 1 << "\n"
          << result.explanation;
    }
  }
}

// Sets the result of the `nth` ok read (or get) of `text` to `value`.
std::string CorruptNthResult(const std::string& text, int nth, const std::string& value,
                             bool* done) {
  std::istringstream in(text);
  std::string line, out;
  int seen = 0;
  *done = false;
  while (std::getline(in, line)) {
    bool observer_ok = line.find("\"type\":\"ok\"") != std::string::npos &&
                       (line.find("\"f\":\"read\"") != std::string::npos ||
                        line.find("\"f\":\"get\"") != std::string::npos);
    if (observer_ok && seen++ == nth) {
      size_t at = line.find("\"value\":");
      size_t end = line.find(',', at);
      line = line.substr(0, at) + "\"value\":" + value + line.substr(end);
      *done = true;
    }
    out += line + "\n";
  }
  return out;
}

TEST(Generated, AReadOfAValueNeverWrittenIsCaught) {
  for (const char* model : {"register", "counter", "kv"}) {
    int corrupted = 0;
    for (uint64_t seed = 1; seed <= 15; ++seed) {
      std::string text = Generate(model, seed, 300, 5, 5);
      for (int nth : {0, 7, 40}) {
        bool done = false;
        std::string bad = CorruptNthResult(text, nth, "1000001", &done);
        if (!done) continue;
        ++corrupted;
        CheckResult result = Check(Parse(bad, model), model);
        EXPECT_EQ(result.verdict, Verdict::kNotLinearizable)
            << model << " seed " << seed << " read " << nth;
        EXPECT_NE(result.explanation.find("1000001"), std::string::npos) << result.explanation;
      }
    }
    EXPECT_GT(corrupted, 30) << model;
  }
}

TEST(Generated, ARegisterReadOfNullAfterAnyWriteIsCaught) {
  int corrupted = 0;
  for (uint64_t seed = 1; seed <= 15; ++seed) {
    std::string text = Generate("register", seed, 300, 5, 5);
    // Reads late in the history come after completed writes: null is stale.
    bool done = false;
    std::string bad = CorruptNthResult(text, 60, "null", &done);
    if (!done) continue;
    ++corrupted;
    EXPECT_EQ(Check(Parse(bad, "register"), "register").verdict, Verdict::kNotLinearizable)
        << "seed " << seed;
  }
  EXPECT_GT(corrupted, 10);
}

}  // namespace
}  // namespace synod::lincheck
