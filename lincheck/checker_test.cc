// Tests of synod-lincheck's parser and checker: hand-written legal and illegal
// histories per model (with the fail/info edge cases), randomized comparison
// against a brute-force oracle, and generated real executions.
#include "lincheck/checker.h"

#include <gtest/gtest.h>

#include <functional>
#include <random>
#include <sstream>

#include "lincheck/generator.h"
#include "lincheck/history.h"

namespace synod::lincheck {
namespace {

Verdict CheckText(const std::string& text, const std::string& model) {
  std::istringstream in(text);
  ParsedHistory history = ParseHistory(in, model);
  EXPECT_EQ(history.error, "") << "line " << history.error_line;
  return Check(history.operations, model).verdict;
}

constexpr Verdict kOk = Verdict::kLinearizable;
constexpr Verdict kBad = Verdict::kNotLinearizable;

// --- register ---

TEST(Register, SequentialWriteThenRead) {
  EXPECT_EQ(CheckText(R"({"process":0,"type":"invoke","f":"write","value":3}
{"process":0,"type":"ok","f":"write","value":3}
{"process":1,"type":"invoke","f":"read"}
{"process":1,"type":"ok","f":"read","value":3})",
                      "register"),
            kOk);
}

TEST(Register, ReadOfNeverWrittenIsNull) {
  EXPECT_EQ(CheckText(R"({"process":1,"type":"invoke","f":"read"}
{"process":1,"type":"ok","f":"read","value":null})",
                      "register"),
            kOk);
  EXPECT_EQ(CheckText(R"({"process":1,"type":"invoke","f":"read"}
{"process":1,"type":"ok","f":"read","value":0})",
                      "register"),
            kBad);
}

TEST(Register, StaleReadAfterCompletedWriteIsIllegal) {
  EXPECT_EQ(CheckText(R"({"process":0,"type":"invoke","f":"write","value":1}
{"process":0,"type":"ok","f":"write","value":1}
{"process":0,"type":"invoke","f":"write","value":2}
{"process":0,"type":"ok","f":"write","value":2}
{"process":1,"type":"invoke","f":"read"}
{"process":1,"type":"ok","f":"read","value":1})",
                      "register"),
            kBad);
}

TEST(Register, ConcurrentReadMaySeeEitherValue) {
  const char* history = R"({"process":0,"type":"invoke","f":"write","value":1}
{"process":0,"type":"ok","f":"write","value":1}
{"process":0,"type":"invoke","f":"write","value":2}
{"process":1,"type":"invoke","f":"read"}
{"process":1,"type":"ok","f":"read","value":%d}
{"process":0,"type":"ok","f":"write","value":2})";
  char buffer[512];
  for (int seen : {1, 2}) {
    snprintf(buffer, sizeof buffer, history, seen);
    EXPECT_EQ(CheckText(buffer, "register"), kOk) << seen;
  }
  snprintf(buffer, sizeof buffer, history, 7);
  EXPECT_EQ(CheckText(buffer, "register"), kBad);
}

TEST(Register, FailedWriteSeenByAReadIsIllegal) {
  EXPECT_EQ(CheckText(R"({"process":0,"type":"invoke","f":"write","value":5}
{"process":0,"type":"fail","f":"write","value":5}
{"process":1,"type":"invoke","f":"read"}
{"process":1,"type":"ok","f":"read","value":5})",
                      "register"),
            kBad);
}

TEST(Register, InfoWriteMayTakeEffectLateOrNever) {
  const char* seen_late = R"({"process":0,"type":"invoke","f":"write","value":5}
{"process":0,"type":"info","f":"write","value":5}
{"process":1,"type":"invoke","f":"read"}
{"process":1,"type":"ok","f":"read","value":null}
{"process":1,"type":"invoke","f":"read"}
{"process":1,"type":"ok","f":"read","value":5})";
  EXPECT_EQ(CheckText(seen_late, "register"), kOk);
  const char* never = R"({"process":0,"type":"invoke","f":"write","value":5}
{"process":0,"type":"info","f":"write","value":5}
{"process":1,"type":"invoke","f":"read"}
{"process":1,"type":"ok","f":"read","value":null})";
  EXPECT_EQ(CheckText(never, "register"), kOk);
}

TEST(Register, InfoWriteSeenThenUnseenIsIllegal) {
  EXPECT_EQ(CheckText(R"({"process":0,"type":"invoke","f":"write","value":5}
{"process":0,"type":"info","f":"write","value":5}
{"process":1,"type":"invoke","f":"read"}
{"process":1,"type":"ok","f":"read","value":5}
{"process":1,"type":"invoke","f":"read"}
{"process":1,"type":"ok","f":"read","value":null})",
                      "register"),
            kBad);
}

TEST(Register, InvokeWithoutCompletionIsUnknown) {
  EXPECT_EQ(CheckText(R"({"process":0,"type":"invoke","f":"write","value":5}
{"process":1,"type":"invoke","f":"read"}
{"process":1,"type":"ok","f":"read","value":5})",
                      "register"),
            kOk);
}

TEST(Register, CasSemantics) {
  EXPECT_EQ(CheckText(R"({"process":0,"type":"invoke","f":"write","value":1}
{"process":0,"type":"ok","f":"write","value":1}
{"process":0,"type":"invoke","f":"cas","value":[1,2]}
{"process":0,"type":"ok","f":"cas","value":[1,2]}
{"process":1,"type":"invoke","f":"read"}
{"process":1,"type":"ok","f":"read","value":2})",
                      "register"),
            kOk);
  // A cas that succeeded although the register held another value.
  EXPECT_EQ(CheckText(R"({"process":0,"type":"invoke","f":"write","value":1}
{"process":0,"type":"ok","f":"write","value":1}
{"process":0,"type":"invoke","f":"cas","value":[3,4]}
{"process":0,"type":"ok","f":"cas","value":[3,4]})",
                      "register"),
            kBad);
  // A cas that found another value ends in fail: no effect.
  EXPECT_EQ(CheckText(R"({"process":0,"type":"invoke","f":"write","value":1}
{"process":0,"type":"ok","f":"write","value":1}
{"process":0,"type":"invoke","f":"cas","value":[3,4]}
{"process":0,"type":"fail","f":"cas","value":[3,4]}
{"process":1,"type":"invoke","f":"read"}
{"process":1,"type":"ok","f":"read","value":1})",
                      "register"),
            kOk);
}

// --- counter ---

TEST(Counter, AddsAndGets) {
  EXPECT_EQ(CheckText(R"({"process":0,"type":"invoke","f":"add","value":2}
{"process":0,"type":"ok","f":"add","value":2}
{"process":1,"type":"invoke","f":"add","value":3}
{"process":2,"type":"invoke","f":"get"}
{"process":2,"type":"ok","f":"get","value":5}
{"process":1,"type":"ok","f":"add","value":3}
{"process":2,"type":"invoke","f":"get"}
{"process":2,"type":"ok","f":"get","value":5})",
                      "counter"),
            kOk);
  EXPECT_EQ(CheckText(R"({"process":0,"type":"invoke","f":"add","value":2}
{"process":0,"type":"ok","f":"add","value":2}
{"process":2,"type":"invoke","f":"get"}
{"process":2,"type":"ok","f":"get","value":0})",
                      "counter"),
            kBad);
}

TEST(Counter, AddAppliedTwiceIsIllegal) {
  EXPECT_EQ(CheckText(R"({"process":0,"type":"invoke","f":"add","value":2}
{"process":0,"type":"info","f":"add","value":2}
{"process":1,"type":"invoke","f":"get"}
{"process":1,"type":"ok","f":"get","value":4})",
                      "counter"),
            kBad);
}

TEST(Counter, FailedAddIsNotSeen) {
  EXPECT_EQ(CheckText(R"({"process":0,"type":"invoke","f":"add","value":2}
{"process":0,"type":"fail","f":"add","value":2}
{"process":1,"type":"invoke","f":"get"}
{"process":1,"type":"ok","f":"get","value":2})",
                      "counter"),
            kBad);
}

// --- kv ---

TEST(Kv, KeysAreIndependent) {
  EXPECT_EQ(CheckText(R"({"process":0,"type":"invoke","f":"write","key":"x","value":1}
{"process":0,"type":"ok","f":"write","key":"x","value":1}
{"process":1,"type":"invoke","f":"read","key":"y"}
{"process":1,"type":"ok","f":"read","key":"y","value":null}
{"process":1,"type":"invoke","f":"read","key":"x"}
{"process":1,"type":"ok","f":"read","key":"x","value":1})",
                      "kv"),
            kOk);
  EXPECT_EQ(CheckText(R"({"process":0,"type":"invoke","f":"write","key":"x","value":1}
{"process":0,"type":"ok","f":"write","key":"x","value":1}
{"process":1,"type":"invoke","f":"read","key":"y"}
{"process":1,"type":"ok","f":"read","key":"y","value":1})",
                      "kv"),
            kBad);
}

// --- parsing ---

TEST(Parse, MalformedInputNamesTheLine) {
  struct Case {
    const char* text;
    const char* model;
    int line;
  };
  for (const Case& c : std::initializer_list<Case>{
           {"{\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\nnot json\n", "register", 2},
           {"{\"process\":0,\"type\":\"ok\",\"f\":\"read\",\"value\":1}\n", "register", 1},
           {"{\"process\":0,\"type\":\"invoke\",\"f\":\"add\",\"value\":1}\n", "register", 1},
           {"{\"process\":0,\"type\":\"invoke\",\"f\":\"cas\",\"value\":3}\n", "register", 1},
           {"{\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\n"
            "{\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\n",
            "register", 2},
           {"{\"process\":0,\"type\":\"begin\",\"f\":\"read\"}\n", "register", 1},
           {"{\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\n", "kv", 1},
       }) {
    std::istringstream in(c.text);
    ParsedHistory history = ParseHistory(in, c.model);
    EXPECT_NE(history.error, "") << c.text;
    EXPECT_EQ(history.error_line, c.line) << c.text << " -> " << history.error;
  }
}

// --- brute-force oracle ---

// Tries every order consistent with real time; unknown operations may be left out.
bool Oracle(const std::vector<Operation>& ops, const std::string& model) {
  std::vector<Operation> relevant;
  for (const Operation& op : ops) {
    bool observer = op.f == Function::kRead || op.f == Function::kGet;
    if (!(observer && !op.known)) relevant.push_back(op);
  }
  std::vector<bool> placed(relevant.size(), false);
  std::function<bool(bool, int64_t)> search = [&](bool set, int64_t value) -> bool {
    bool all_known = true;
    for (size_t i = 0; i < relevant.size(); ++i) all_known &= placed[i] || !relevant[i].known;
    if (all_known) return true;
    for (size_t i = 0; i < relevant.size(); ++i) {
      if (placed[i]) continue;
      bool minimal = true;  // no unplaced operation returned before this one was invoked
      for (size_t j = 0; j < relevant.size(); ++j) {
        if (!placed[j] && j != i && relevant[j].known && relevant[j].ret < relevant[i].call) {
          minimal = false;
        }
      }
      if (!minimal) continue;
      const Operation& op = relevant[i];
      bool next_set = set;
      int64_t next_value = value;
      bool legal = true;
      switch (op.f) {
        case Function::kRead:
          legal = op.value.has_value() == set && (!set || *op.value == value);
          break;
        case Function::kWrite:
          next_set = true;
          next_value = *op.value;
          break;
        case Function::kCas:
          legal = set && value == op.cas_old;
          next_set = true;
          next_value = op.cas_new;
          break;
        case Function::kAdd:
          next_value = value + *op.value;
          break;
        case Function::kGet:
          legal = *op.value == value;
          break;
      }
      if (!legal) continue;
      placed[i] = true;
      if (search(next_set, next_value)) return true;
      placed[i] = false;
    }
    return false;
  };
  (void)model;
  return search(false, 0);
}

// Random small histories with random (often wrong) results.
std::vector<Operation> RandomHistory(std::mt19937_64& rng, const std::string& model) {
  std::vector<Operation> ops;
  int n = 1 + static_cast<int>(rng() % 6);
  size_t clock = 0;
  for (int i = 0; i < n; ++i) {
    Operation op;
    op.process = i;
    clock += rng() % 3;
    op.call = ++clock;
    if (model == "counter") {
      op.f = rng() % 2 ? Function::kAdd : Function::kGet;
      op.value = static_cast<int64_t>(rng() % 3);
    } else {
      int choice = static_cast<int>(rng() % 3);
      op.f = choice == 0 ? Function::kRead : choice == 1 ? Function::kWrite : Function::kCas;
      op.value = static_cast<int64_t>(rng() % 3);
      if (op.f == Function::kRead && rng() % 4 == 0) op.value.reset();
      op.cas_old = static_cast<int64_t>(rng() % 3);
      op.cas_new = static_cast<int64_t>(rng() % 3);
    }
    ops.push_back(op);
  }
  for (Operation& op : ops) {
    op.known = rng() % 5 != 0;
    op.ret = op.known ? op.call + 1 + rng() % 8 : SIZE_MAX;
  }
  // Make event positions distinct: calls at even, returns at odd positions.
  for (Operation& op : ops) {
    op.call *= 2;
    if (op.known) op.ret = op.ret * 2 + 1;
  }
  return ops;
}

TEST(Oracle, CheckerAgreesWithBruteForceOnSmallRandomHistories) {
  std::mt19937_64 rng(12345);
  int linearizable = 0, not_linearizable = 0;
  for (int round = 0; round < 4000; ++round) {
    std::string model = round % 2 ? "counter" : "register";
    std::vector<Operation> ops = RandomHistory(rng, model);
    bool expected = Oracle(ops, model);
    CheckResult result = Check(ops, model);
    ASSERT_EQ(result.verdict == Verdict::kLinearizable, expected) << "round " << round;
    (expected ? linearizable : not_linearizable)++;
  }
  // Both verdicts are exercised.
  EXPECT_GT(linearizable, 400);
  EXPECT_GT(not_linearizable, 400);
}

// --- generated real executions ---

TEST(Generated, RealExecutionsAreLinearizable) {
  for (const char* model : {"register", "counter", "kv"}) {
    for (uint64_t seed = 1; seed <= 20; ++seed) {
      GeneratorOptions options;
      options.model = model;
      options.operations = 300;
      options.processes = 5;
      options.seed = seed;
      std::stringstream text;
      GenerateHistory(options, text);
      ParsedHistory history = ParseHistory(text, model);
      ASSERT_EQ(history.error, "") << model << " seed " << seed;
      CheckResult result = Check(history.operations, model);
      EXPECT_EQ(result.verdict, kOk) << model << " seed " << seed << "\n" << result.explanation;
    }
  }
}

TEST(Generated, CorruptedReadsAreCaught) {
  int caught = 0, corrupted = 0;
  for (uint64_t seed = 1; seed <= 30; ++seed) {
    GeneratorOptions options;
    options.model = "counter";
    options.operations = 200;
    options.processes = 4;
    options.seed = seed;
    std::stringstream text;
    GenerateHistory(options, text);
    ParsedHistory history = ParseHistory(text, "counter");
    ASSERT_EQ(history.error, "");
    // A get that reads a count far outside anything reachable.
    for (Operation& op : history.operations) {
      if (op.f == Function::kGet && op.known) {
        op.value = *op.value + 1000000;
        ++corrupted;
        break;
      }
    }
    caught += Check(history.operations, "counter").verdict == kBad;
  }
  EXPECT_GT(corrupted, 20);
  EXPECT_EQ(caught, corrupted);
}

TEST(Limits, StepBudgetGivesUndecided) {
  GeneratorOptions options;
  options.operations = 400;
  options.seed = 3;
  std::stringstream text;
  GenerateHistory(options, text);
  ParsedHistory history = ParseHistory(text, "register");
  CheckLimits limits;
  limits.max_steps = 5;
  EXPECT_EQ(Check(history.operations, "register", limits).verdict, Verdict::kUndecided);
}

}  // namespace
}  // namespace synod::lincheck
