// Hand-written histories for each model, legal and illegal, including the
// fail / info edge cases, and the contract of Check (input validation, step
// budget, deadline, explanations).
#include "lincheck/checker.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <sstream>
#include <stdexcept>
#include <string>

#include "lincheck/history.h"
#include "lincheck/test_util.h"

namespace synod::lincheck {
namespace {

using testing::CheckText;
using testing::kBad;
using testing::kOk;
using testing::VerdictOf;

// --- register ---

TEST(Register, SequentialWriteThenRead) {
  EXPECT_EQ(VerdictOf(R"({"process":0,"type":"invoke","f":"write","value":3}
{"process":0,"type":"ok","f":"write","value":3}
{"process":1,"type":"invoke","f":"read"}
{"process":1,"type":"ok","f":"read","value":3})",
                      "register"),
            kOk);
}

TEST(Register, ReadOfNeverWrittenIsNull) {
  EXPECT_EQ(VerdictOf(R"({"process":1,"type":"invoke","f":"read"}
{"process":1,"type":"ok","f":"read","value":null})",
                      "register"),
            kOk);
  EXPECT_EQ(VerdictOf(R"({"process":1,"type":"invoke","f":"read"}
{"process":1,"type":"ok","f":"read","value":0})",
                      "register"),
            kBad);
}

TEST(Register, StaleReadAfterCompletedWriteIsIllegal) {
  EXPECT_EQ(VerdictOf(R"({"process":0,"type":"invoke","f":"write","value":1}
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
    EXPECT_EQ(VerdictOf(buffer, "register"), kOk) << seen;
  }
  snprintf(buffer, sizeof buffer, history, 7);
  EXPECT_EQ(VerdictOf(buffer, "register"), kBad);
}

TEST(Register, FailedWriteSeenByAReadIsIllegal) {
  EXPECT_EQ(VerdictOf(R"({"process":0,"type":"invoke","f":"write","value":5}
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
  EXPECT_EQ(VerdictOf(seen_late, "register"), kOk);
  const char* never = R"({"process":0,"type":"invoke","f":"write","value":5}
{"process":0,"type":"info","f":"write","value":5}
{"process":1,"type":"invoke","f":"read"}
{"process":1,"type":"ok","f":"read","value":null})";
  EXPECT_EQ(VerdictOf(never, "register"), kOk);
}

TEST(Register, InfoWriteSeenThenUnseenIsIllegal) {
  EXPECT_EQ(VerdictOf(R"({"process":0,"type":"invoke","f":"write","value":5}
{"process":0,"type":"info","f":"write","value":5}
{"process":1,"type":"invoke","f":"read"}
{"process":1,"type":"ok","f":"read","value":5}
{"process":1,"type":"invoke","f":"read"}
{"process":1,"type":"ok","f":"read","value":null})",
                      "register"),
            kBad);
}

TEST(Register, InvokeWithoutCompletionIsUnknown) {
  EXPECT_EQ(VerdictOf(R"({"process":0,"type":"invoke","f":"write","value":5}
{"process":1,"type":"invoke","f":"read"}
{"process":1,"type":"ok","f":"read","value":5})",
                      "register"),
            kOk);
}

TEST(Register, CasSemantics) {
  EXPECT_EQ(VerdictOf(R"({"process":0,"type":"invoke","f":"write","value":1}
{"process":0,"type":"ok","f":"write","value":1}
{"process":0,"type":"invoke","f":"cas","value":[1,2]}
{"process":0,"type":"ok","f":"cas","value":[1,2]}
{"process":1,"type":"invoke","f":"read"}
{"process":1,"type":"ok","f":"read","value":2})",
                      "register"),
            kOk);
  // A cas that succeeded although the register held another value.
  EXPECT_EQ(VerdictOf(R"({"process":0,"type":"invoke","f":"write","value":1}
{"process":0,"type":"ok","f":"write","value":1}
{"process":0,"type":"invoke","f":"cas","value":[3,4]}
{"process":0,"type":"ok","f":"cas","value":[3,4]})",
                      "register"),
            kBad);
  // A cas that found another value ends in fail: no effect.
  EXPECT_EQ(VerdictOf(R"({"process":0,"type":"invoke","f":"write","value":1}
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
  EXPECT_EQ(VerdictOf(R"({"process":0,"type":"invoke","f":"add","value":2}
{"process":0,"type":"ok","f":"add","value":2}
{"process":1,"type":"invoke","f":"add","value":3}
{"process":2,"type":"invoke","f":"get"}
{"process":2,"type":"ok","f":"get","value":5}
{"process":1,"type":"ok","f":"add","value":3}
{"process":2,"type":"invoke","f":"get"}
{"process":2,"type":"ok","f":"get","value":5})",
                      "counter"),
            kOk);
  EXPECT_EQ(VerdictOf(R"({"process":0,"type":"invoke","f":"add","value":2}
{"process":0,"type":"ok","f":"add","value":2}
{"process":2,"type":"invoke","f":"get"}
{"process":2,"type":"ok","f":"get","value":0})",
                      "counter"),
            kBad);
}

TEST(Counter, AddAppliedTwiceIsIllegal) {
  EXPECT_EQ(VerdictOf(R"({"process":0,"type":"invoke","f":"add","value":2}
{"process":0,"type":"info","f":"add","value":2}
{"process":1,"type":"invoke","f":"get"}
{"process":1,"type":"ok","f":"get","value":4})",
                      "counter"),
            kBad);
}

TEST(Counter, FailedAddIsNotSeen) {
  EXPECT_EQ(VerdictOf(R"({"process":0,"type":"invoke","f":"add","value":2}
{"process":0,"type":"fail","f":"add","value":2}
{"process":1,"type":"invoke","f":"get"}
{"process":1,"type":"ok","f":"get","value":2})",
                      "counter"),
            kBad);
}

// --- kv ---

TEST(Kv, KeysAreIndependent) {
  EXPECT_EQ(VerdictOf(R"({"process":0,"type":"invoke","f":"write","key":"x","value":1}
{"process":0,"type":"ok","f":"write","key":"x","value":1}
{"process":1,"type":"invoke","f":"read","key":"y"}
{"process":1,"type":"ok","f":"read","key":"y","value":null}
{"process":1,"type":"invoke","f":"read","key":"x"}
{"process":1,"type":"ok","f":"read","key":"x","value":1})",
                      "kv"),
            kOk);
  EXPECT_EQ(VerdictOf(R"({"process":0,"type":"invoke","f":"write","key":"x","value":1}
{"process":0,"type":"ok","f":"write","key":"x","value":1}
{"process":1,"type":"invoke","f":"read","key":"y"}
{"process":1,"type":"ok","f":"read","key":"y","value":1})",
                      "kv"),
            kBad);
}

// --- more register edge cases ---

TEST(Register, CasOnNeverWrittenRegisterCannotSucceed) {
  EXPECT_EQ(VerdictOf(R"({"process":0,"type":"invoke","f":"cas","value":[0,1]}
{"process":0,"type":"ok","f":"cas","value":[0,1]})",
                      "register"),
            kBad);
}

TEST(Register, InfoCasMayHaveTakenEffect) {
  const char* history = R"({"process":0,"type":"invoke","f":"write","value":1}
{"process":0,"type":"ok","f":"write","value":1}
{"process":1,"type":"invoke","f":"cas","value":[1,2]}
{"process":1,"type":"info","f":"cas","value":[1,2]}
{"process":2,"type":"invoke","f":"read"}
{"process":2,"type":"ok","f":"read","value":%d})";
  char buffer[512];
  for (int seen : {1, 2}) {
    snprintf(buffer, sizeof buffer, history, seen);
    EXPECT_EQ(VerdictOf(buffer, "register"), kOk) << seen;
  }
  snprintf(buffer, sizeof buffer, history, 3);
  EXPECT_EQ(VerdictOf(buffer, "register"), kBad);
}

TEST(Register, InfoWriteCannotTakeEffectBeforeItsInvoke) {
  EXPECT_EQ(VerdictOf(R"({"process":1,"type":"invoke","f":"read"}
{"process":1,"type":"ok","f":"read","value":5}
{"process":0,"type":"invoke","f":"write","value":5}
{"process":0,"type":"info","f":"write","value":5})",
                      "register"),
            kBad);
}

TEST(Register, InfoWriteStaysConcurrentWithItsProcessLaterOperations) {
  // Process 0 goes on after an info write (allowed, leniently): the write of
  // 5 may still take effect after the write of 6 ...
  const char* prefix = R"({"process":0,"type":"invoke","f":"write","value":5}
{"process":0,"type":"info","f":"write","value":5}
{"process":0,"type":"invoke","f":"write","value":6}
{"process":0,"type":"ok","f":"write","value":6}
{"process":1,"type":"invoke","f":"read"}
{"process":1,"type":"ok","f":"read","value":5}
)";
  EXPECT_EQ(VerdictOf(prefix, "register"), kOk);
  // ... but then 6 cannot come back.
  EXPECT_EQ(VerdictOf(std::string(prefix) + R"({"process":1,"type":"invoke","f":"read"}
{"process":1,"type":"ok","f":"read","value":6})",
                      "register"),
            kBad);
}

TEST(Register, FailedCasLeavesTheValue) {
  EXPECT_EQ(VerdictOf(R"({"process":0,"type":"invoke","f":"write","value":1}
{"process":0,"type":"ok","f":"write","value":1}
{"process":1,"type":"invoke","f":"cas","value":[1,2]}
{"process":1,"type":"fail","f":"cas","value":[1,2]}
{"process":2,"type":"invoke","f":"read"}
{"process":2,"type":"ok","f":"read","value":2})",
                      "register"),
            kBad);
}

TEST(Register, ReadsMustAgreeOnOneOrderOfConcurrentWrites) {
  // Two concurrent writes; one reader sees 1 then 2, another 2 then 1.
  EXPECT_EQ(VerdictOf(R"({"process":0,"type":"invoke","f":"write","value":1}
{"process":1,"type":"invoke","f":"write","value":2}
{"process":2,"type":"invoke","f":"read"}
{"process":2,"type":"ok","f":"read","value":1}
{"process":3,"type":"invoke","f":"read"}
{"process":3,"type":"ok","f":"read","value":2}
{"process":2,"type":"invoke","f":"read"}
{"process":2,"type":"ok","f":"read","value":2}
{"process":3,"type":"invoke","f":"read"}
{"process":3,"type":"ok","f":"read","value":1}
{"process":0,"type":"ok","f":"write","value":1}
{"process":1,"type":"ok","f":"write","value":2})",
                      "register"),
            kBad);
}

// --- more counter edge cases ---

TEST(Counter, NegativeAddsAndWrapAround) {
  EXPECT_EQ(VerdictOf(R"({"process":0,"type":"invoke","f":"add","value":-4}
{"process":0,"type":"ok","f":"add","value":-4}
{"process":1,"type":"invoke","f":"get"}
{"process":1,"type":"ok","f":"get","value":-4})",
                      "counter"),
            kOk);
  // Adds wrap in two's complement rather than overflow (no undefined behaviour).
  EXPECT_EQ(VerdictOf(R"({"process":0,"type":"invoke","f":"add","value":9223372036854775807}
{"process":0,"type":"ok","f":"add","value":9223372036854775807}
{"process":0,"type":"invoke","f":"add","value":1}
{"process":0,"type":"ok","f":"add","value":1}
{"process":1,"type":"invoke","f":"get"}
{"process":1,"type":"ok","f":"get","value":-9223372036854775808})",
                      "counter"),
            kOk);
}

TEST(Counter, InfoAddSeenThenUnseenIsIllegal) {
  EXPECT_EQ(VerdictOf(R"({"process":0,"type":"invoke","f":"add","value":2}
{"process":0,"type":"info","f":"add","value":2}
{"process":1,"type":"invoke","f":"get"}
{"process":1,"type":"ok","f":"get","value":2}
{"process":1,"type":"invoke","f":"get"}
{"process":1,"type":"ok","f":"get","value":0})",
                      "counter"),
            kBad);
}

TEST(Counter, OnlySomeInfoAddsTookEffect) {
  // Three unknown adds; the get saw exactly the first and the third.
  EXPECT_EQ(VerdictOf(R"({"process":0,"type":"invoke","f":"add","value":1}
{"process":1,"type":"invoke","f":"add","value":10}
{"process":2,"type":"invoke","f":"add","value":100}
{"process":0,"type":"info","f":"add","value":1}
{"process":1,"type":"info","f":"add","value":10}
{"process":2,"type":"info","f":"add","value":100}
{"process":3,"type":"invoke","f":"get"}
{"process":3,"type":"ok","f":"get","value":101}
{"process":3,"type":"invoke","f":"get"}
{"process":3,"type":"ok","f":"get","value":111})",
                      "counter"),
            kOk);
  EXPECT_EQ(VerdictOf(R"({"process":0,"type":"invoke","f":"add","value":1}
{"process":1,"type":"invoke","f":"add","value":10}
{"process":0,"type":"info","f":"add","value":1}
{"process":1,"type":"info","f":"add","value":10}
{"process":3,"type":"invoke","f":"get"}
{"process":3,"type":"ok","f":"get","value":12})",
                      "counter"),
            kBad);
}

// --- more kv ---

TEST(Kv, AViolationOnOneKeyIsFoundAmongLegalKeys) {
  std::string history;
  for (int key = 0; key < 5; ++key) {
    std::string k = "\"key\":\"k" + std::to_string(key) + "\"";
    history += "{\"process\":0,\"type\":\"invoke\",\"f\":\"write\"," + k + ",\"value\":1}\n";
    history += "{\"process\":0,\"type\":\"ok\",\"f\":\"write\"," + k + ",\"value\":1}\n";
    history += "{\"process\":1,\"type\":\"invoke\",\"f\":\"read\"," + k + "}\n";
    // Key k3 reads a stale (never written) value.
    history += "{\"process\":1,\"type\":\"ok\",\"f\":\"read\"," + k +
               (key == 3 ? ",\"value\":null}\n" : ",\"value\":1}\n");
  }
  CheckResult result = CheckText(history, "kv");
  EXPECT_EQ(result.verdict, kBad);
  EXPECT_EQ(result.explanation.rfind("key k3: ", 0), 0u) << result.explanation;
}

TEST(Kv, IntegerKeysWork) {
  EXPECT_EQ(VerdictOf(R"({"process":0,"type":"invoke","f":"write","key":1,"value":4}
{"process":0,"type":"ok","f":"write","key":1,"value":4}
{"process":1,"type":"invoke","f":"read","key":2}
{"process":1,"type":"ok","f":"read","key":2,"value":4})",
                      "kv"),
            kBad);
}

// --- explanations ---

TEST(Explanation, NamesThePrefixAndTheOperationsThatCannotFollowByLine) {
  CheckResult result = CheckText(R"({"process":0,"type":"invoke","f":"write","value":1}
{"process":0,"type":"ok","f":"write","value":1}
{"process":0,"type":"invoke","f":"write","value":2}
{"process":0,"type":"ok","f":"write","value":2}
{"process":1,"type":"invoke","f":"read","time":40}
{"process":2,"type":"invoke","f":"read"}
{"process":1,"type":"ok","f":"read","value":1,"time":41}
{"process":2,"type":"ok","f":"read","value":2})",
                                 "register");
  ASSERT_EQ(result.verdict, kBad);
  const std::string& e = result.explanation;
  EXPECT_NE(e.find("orders 3 of 4"), std::string::npos) << e;
  EXPECT_NE(e.find("holds 2"), std::string::npos) << e;
  // The stale read, in its input form with line numbers ...
  EXPECT_NE(e.find(R"(line 5: {"process":1,"type":"invoke","f":"read","time":40})"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find(R"(line 7: {"process":1,"type":"ok","f":"read","value":1,"time":41})"),
            std::string::npos)
      << e;
  // ... and not the read that fits.
  EXPECT_EQ(e.find("line 8:"), std::string::npos) << e;
}

// --- the Check contract ---

// A history whose search must visit 2^k configurations: k concurrent adds of
// unknown outcome and distinct powers of two, then a get no subset explains.
std::string SubsetSumHistory(int k) {
  std::string history;
  for (int i = 0; i < k; ++i) {
    history += "{\"process\":" + std::to_string(i) +
               ",\"type\":\"invoke\",\"f\":\"add\",\"value\":" + std::to_string(1LL << i) + "}\n";
  }
  history += "{\"process\":" + std::to_string(k) + ",\"type\":\"invoke\",\"f\":\"get\"}\n";
  history += "{\"process\":" + std::to_string(k) + ",\"type\":\"ok\",\"f\":\"get\",\"value\":-1}\n";
  return history;
}

TEST(Limits, SmallSubsetSumIsDecided) {
  CheckResult result = CheckText(SubsetSumHistory(8), "counter");
  EXPECT_EQ(result.verdict, kBad);
  EXPECT_GT(result.steps, 256u);  // every subset was tried
}

TEST(Limits, StepBudgetGivesUndecidedDeterministically) {
  CheckLimits limits;
  limits.max_steps = 5000;
  CheckResult first = CheckText(SubsetSumHistory(30), "counter", limits);
  CheckResult second = CheckText(SubsetSumHistory(30), "counter", limits);
  EXPECT_EQ(first.verdict, Verdict::kUndecided);
  EXPECT_EQ(second.verdict, Verdict::kUndecided);
  EXPECT_EQ(first.steps, second.steps);
  // The same budget decides an easier history.
  EXPECT_EQ(CheckText(SubsetSumHistory(6), "counter", limits).verdict, kBad);
}

TEST(Limits, StepBudgetIsSharedByAllKvKeys) {
  // Per key: six concurrent writes, then a read that saw the first one (so
  // it must have been written last).
  std::string history;
  for (int key = 0; key < 4; ++key) {
    std::string k = ",\"key\":" + std::to_string(key);
    for (const char* type : {"invoke", "ok"}) {
      for (int p = 0; p < 6; ++p) {
        history += "{\"process\":" + std::to_string(p) + ",\"type\":\"" + type +
                   "\",\"f\":\"write\"" + k + ",\"value\":" + std::to_string(p) + "}\n";
      }
    }
    history += "{\"process\":9,\"type\":\"invoke\",\"f\":\"read\"" + k + "}\n";
    history += "{\"process\":9,\"type\":\"ok\",\"f\":\"read\"" + k + ",\"value\":0}\n";
  }
  std::istringstream in(history);
  ParsedHistory parsed = ParseHistory(in, "kv");
  ASSERT_EQ(parsed.error, "");
  CheckResult unlimited = Check(parsed.operations, "kv");
  ASSERT_EQ(unlimited.verdict, kOk);
  ASSERT_GT(unlimited.steps, 40u);
  CheckLimits limits;
  limits.max_steps = unlimited.steps - 1;
  EXPECT_EQ(Check(parsed.operations, "kv", limits).verdict, Verdict::kUndecided);
  limits.max_steps = unlimited.steps;
  EXPECT_EQ(Check(parsed.operations, "kv", limits).verdict, kOk);
}

TEST(Limits, MemoryLimitGivesUndecided) {
  CheckLimits limits;
  limits.max_memory_bytes = 1 << 20;
  CheckResult result = CheckText(SubsetSumHistory(30), "counter", limits);
  EXPECT_EQ(result.verdict, Verdict::kUndecided);
  EXPECT_NE(result.explanation.find("memory limit of 1 MiB"), std::string::npos)
      << result.explanation;
  // About 1 MiB / 16 bytes * 3/4 = 49k configurations fit (some 20 steps
  // each here, scanning 30 candidates), and then it stops.
  EXPECT_GT(result.steps, 49000u);
  EXPECT_LT(result.steps, 3000000u);
}

TEST(Limits, PassedDeadlineGivesUndecided) {
  CheckLimits limits;
  limits.deadline = std::chrono::steady_clock::now();
  EXPECT_EQ(CheckText(SubsetSumHistory(30), "counter", limits).verdict, Verdict::kUndecided);
}

TEST(CheckContract, RejectsAnUnknownModelOrOperationsThatDoNotFit) {
  Operation write;
  write.f = Function::kWrite;
  write.value = 1;
  write.call = 1;
  write.ret = 2;
  EXPECT_THROW(Check({write}, "queue"), std::invalid_argument);
  EXPECT_THROW(Check({write}, "counter"), std::invalid_argument);
  EXPECT_EQ(Check({write}, "register").verdict, kOk);
  Operation no_value = write;
  no_value.value.reset();
  EXPECT_THROW(Check({no_value}, "register"), std::invalid_argument);
  Operation backwards = write;
  backwards.ret = 0;
  EXPECT_THROW(Check({backwards}, "register"), std::invalid_argument);
  Operation get;
  get.f = Function::kGet;
  get.call = 1;
  get.ret = 2;
  EXPECT_THROW(Check({get}, "counter"), std::invalid_argument);  // known get, no count
  get.known = false;
  get.ret = SIZE_MAX;
  EXPECT_EQ(Check({get}, "counter").verdict, kOk);
  // A call at the same position as another operation's return.
  Operation read;
  read.f = Function::kRead;
  read.call = 2;
  read.ret = 3;
  read.value = 1;
  EXPECT_THROW(Check({write, read}, "register"), std::invalid_argument);
}

TEST(CheckContract, EmptyHistoryIsLinearizable) {
  EXPECT_EQ(Check({}, "register").verdict, kOk);
  EXPECT_EQ(Check({}, "kv").verdict, kOk);
}

}  // namespace
}  // namespace synod::lincheck
