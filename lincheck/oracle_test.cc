// Randomized comparison of the checker with a brute-force oracle on small
// histories, for both verdicts. The oracle shares no code with the checker
// or the parser: it works on the generator's own records, drops failed
// operations itself, and tries every order consistent with real time in
// which each unknown operation (info or never completed) is placed or left
// out. The checker sees the same history only as JSON Lines text.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "lincheck/checker.h"
#include "lincheck/history.h"

namespace synod::lincheck {
namespace {

enum class Outcome { kOk, kFail, kInfo, kOpen };

// One operation as the generator made it.
struct RawOp {
  std::string f;
  std::string key;
  int64_t arg = 0, arg2 = 0;      // write/add value; cas old/new
  std::optional<int64_t> result;  // read/get result (ok only)
  Outcome outcome = Outcome::kOk;
  int call = 0, ret = 0;  // event positions (ret unused for kOpen)
};

// --- the oracle ---

struct OracleState {
  std::map<std::string, std::optional<int64_t>> registers;
  int64_t counter = 0;
};

// Applies `op` if it can take effect in `s` with its reported result.
bool OracleApply(OracleState& s, const RawOp& op) {
  bool known = op.outcome == Outcome::kOk;
  std::optional<int64_t>& reg = s.registers[op.key];
  if (op.f == "read") {
    return !known || reg == op.result;
  } else if (op.f == "write") {
    reg = op.arg;
  } else if (op.f == "cas") {
    if (!reg || *reg != op.arg) return false;
    reg = op.arg2;
  } else if (op.f == "add") {
    s.counter += op.arg;
  } else if (op.f == "get") {
    return !known || s.counter == *op.result;
  }
  return true;
}

bool Oracle(const std::vector<RawOp>& all) {
  std::vector<RawOp> ops;
  for (const RawOp& op : all) {
    if (op.outcome != Outcome::kFail) ops.push_back(op);
  }
  auto known = [&](size_t i) { return ops[i].outcome == Outcome::kOk; };
  std::vector<bool> done(ops.size(), false);  // placed or left out
  std::function<bool(const OracleState&)> search = [&](const OracleState& s) {
    bool finished = true;
    for (size_t i = 0; i < ops.size(); ++i) finished &= done[i] || !known(i);
    if (finished) return true;
    for (size_t i = 0; i < ops.size(); ++i) {
      if (done[i]) continue;
      bool may_come_next = true;  // nothing left returned before it was called
      for (size_t j = 0; j < ops.size(); ++j) {
        if (!done[j] && known(j) && ops[j].ret < ops[i].call) may_come_next = false;
      }
      if (!may_come_next) continue;
      done[i] = true;
      OracleState next = s;
      if (OracleApply(next, ops[i]) && search(next)) return true;
      // An unknown operation may also never take effect.
      if (!known(i) && search(s)) return true;
      done[i] = false;
    }
    return false;
  };
  return search(OracleState{});
}

// --- the generator ---

// A random small history over `model`. Half the time the results come from a
// real execution (linearization points inside each window) with at most one
// result nudged; otherwise they are random. Event positions interleave at
// random.
std::vector<RawOp> RandomHistory(std::mt19937_64& rng, const std::string& model) {
  auto rand = [&](int n) { return static_cast<int>(rng() % n); };
  int n = 1 + rand(7);
  std::vector<RawOp> ops(n);
  // Interleave 2n events: each operation's call before its return.
  std::vector<int> order;
  for (int i = 0; i < n; ++i) order.insert(order.end(), {i, i});
  std::shuffle(order.begin(), order.end(), rng);
  std::vector<int> seen(n, 0);
  for (size_t pos = 0; pos < order.size(); ++pos) {
    RawOp& op = ops[order[pos]];
    (seen[order[pos]]++ == 0 ? op.call : op.ret) = static_cast<int>(pos) + 1;
  }
  for (RawOp& op : ops) {
    int kind = rand(3);
    if (model == "counter") {
      op.f = kind == 0 ? "get" : "add";
      op.arg = rand(5) - 2;
    } else {
      op.f = kind == 0 ? "read" : kind == 1 ? "write" : "cas";
      op.key = model == "kv" ? std::string(1, static_cast<char>('a' + rand(2))) : "";
      op.arg = rand(3);
      op.arg2 = rand(3);
    }
    int outcome = rand(10);
    op.outcome = outcome < 6   ? Outcome::kOk
                 : outcome < 8 ? Outcome::kInfo
                 : outcome < 9 ? Outcome::kFail
                               : Outcome::kOpen;
  }
  if (rand(2) == 0) {  // random results
    for (RawOp& op : ops) {
      if (op.f == "read" && rand(4) != 0) op.result = rand(3);
      if (op.f == "get") op.result = rand(5) - 2;
    }
    return ops;
  }
  // A real execution: each operation that takes effect does so at a distinct
  // point inside its window (unknown ones anywhere after their call).
  std::vector<std::pair<double, int>> points;
  for (int i = 0; i < n; ++i) {
    RawOp& op = ops[i];
    if (op.outcome == Outcome::kFail) continue;
    if (op.outcome != Outcome::kOk && rand(2) == 0) continue;  // unknown, never took effect
    double end = op.outcome == Outcome::kOk ? op.ret : 2.0 * n + 1;
    points.push_back({op.call + (end - op.call) * (rand(1000) + 1) / 1002.0, i});
  }
  std::sort(points.begin(), points.end());
  OracleState s;
  for (auto [point, i] : points) {
    RawOp& op = ops[i];
    std::optional<int64_t>& reg = s.registers[op.key];
    if (op.f == "read") op.result = reg;
    if (op.f == "get") op.result = s.counter;
    if (op.f == "cas" && !(reg && *reg == op.arg)) {
      if (op.outcome == Outcome::kOk) op.outcome = Outcome::kFail;  // found another value
      continue;
    }
    OracleApply(s, op);
  }
  if (rand(2) == 0) {  // nudge one result
    for (RawOp& op : ops) {
      if (op.outcome == Outcome::kOk && (op.f == "read" || op.f == "get")) {
        op.result = op.result.value_or(-1) + 1;
        break;
      }
    }
  }
  return ops;
}

// The history as JSON Lines, one event per position.
std::string Render(const std::vector<RawOp>& ops) {
  std::map<int, std::string> lines;
  for (size_t p = 0; p < ops.size(); ++p) {
    const RawOp& op = ops[p];
    auto line = [&](const char* type, bool with_result) {
      std::ostringstream out;
      out << "{\"process\":" << p << ",\"type\":\"" << type << "\",\"f\":\"" << op.f << "\"";
      if (!op.key.empty()) out << ",\"key\":\"" << op.key << "\"";
      if (op.f == "write" || op.f == "add") out << ",\"value\":" << op.arg;
      if (op.f == "cas") out << ",\"value\":[" << op.arg << "," << op.arg2 << "]";
      if (with_result) {
        out << ",\"value\":" << (op.result ? std::to_string(*op.result) : std::string("null"));
      }
      return out.str() + "}";
    };
    lines[op.call] = line("invoke", false);
    bool observer = op.f == "read" || op.f == "get";
    switch (op.outcome) {
      case Outcome::kOk:
        lines[op.ret] = line("ok", observer);
        break;
      case Outcome::kFail:
        lines[op.ret] = line("fail", false);
        break;
      case Outcome::kInfo:
        lines[op.ret] = line("info", false);
        break;
      case Outcome::kOpen:
        break;
    }
  }
  std::string text;
  for (const auto& [position, line] : lines) text += line + "\n";
  return text;
}

TEST(Oracle, CheckerAgreesWithBruteForceOnSmallRandomHistories) {
  for (const char* model : {"register", "counter", "kv"}) {
    std::mt19937_64 rng(12345);
    int linearizable = 0, not_linearizable = 0;
    for (int round = 0; round < 3000; ++round) {
      std::vector<RawOp> ops = RandomHistory(rng, model);
      std::string text = Render(ops);
      std::istringstream in(text);
      ParsedHistory history = ParseHistory(in, model);
      ASSERT_EQ(history.error, "") << text;
      bool expected = Oracle(ops);
      CheckResult result = Check(history.operations, model);
      ASSERT_EQ(result.verdict == Verdict::kLinearizable, expected)
          << model << " round " << round << "\n"
          << text << result.explanation;
      (expected ? linearizable : not_linearizable)++;
    }
    // Both verdicts are well represented.
    EXPECT_GT(linearizable, 600) << model;
    EXPECT_GT(not_linearizable, 600) << model;
  }
}

// The oracle itself: a few cases whose answer is known by hand.
TEST(Oracle, OracleKnowsTheBasics) {
  RawOp write{"write", "", 1, 0, std::nullopt, Outcome::kOk, 1, 2};
  RawOp read1{"read", "", 0, 0, 1, Outcome::kOk, 3, 4};
  RawOp read_null{"read", "", 0, 0, std::nullopt, Outcome::kOk, 3, 4};
  EXPECT_TRUE(Oracle({write, read1}));
  EXPECT_FALSE(Oracle({write, read_null}));
  RawOp failed = write;
  failed.outcome = Outcome::kFail;
  EXPECT_FALSE(Oracle({failed, read1}));
  EXPECT_TRUE(Oracle({failed, read_null}));
  RawOp info = write;
  info.outcome = Outcome::kInfo;
  EXPECT_TRUE(Oracle({info, read1}));
  EXPECT_TRUE(Oracle({info, read_null}));
}

}  // namespace
}  // namespace synod::lincheck
