// Runs every scenario file in tests/scenarios/ (etcd-raft style text tests).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "tests/sim/scenario_runner.h"

namespace synod::sim {
namespace {

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// SYNOD_REWRITE=1 (or any value but 0): write each scenario's output blocks
// back into its file in the source tree instead of failing on a difference.
bool Rewriting() {
  const char* value = std::getenv("SYNOD_REWRITE");
  return value != nullptr && std::string(value) != "" && std::string(value) != "0";
}

class ScenarioTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ScenarioTest, Passes) {
  std::filesystem::path path = std::filesystem::path(SYNOD_SCENARIO_DIR) / GetParam();
  ASSERT_TRUE(std::filesystem::exists(path)) << path;
  std::string text = ReadFile(path);
  ScenarioResult result = RunScenario(text);
  ASSERT_EQ(result.error, "") << path.string();
  if (Rewriting()) {
    if (result.rewritten != text) {
      std::ofstream(path, std::ios::trunc) << result.rewritten;
      std::cout << "rewrote " << path.string() << "\n";
    }
    return;
  }
  for (const std::string& mismatch : result.mismatches) {
    ADD_FAILURE() << path.string() << " " << mismatch
                  << "(SYNOD_REWRITE=1 writes the new output into the file)";
  }
}

std::vector<std::string> ScenarioFiles() {
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(SYNOD_SCENARIO_DIR)) {
    if (entry.path().extension() == ".txt") files.push_back(entry.path().filename().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

INSTANTIATE_TEST_SUITE_P(Files, ScenarioTest, ::testing::ValuesIn(ScenarioFiles()),
                         [](const ::testing::TestParamInfo<std::string>& param_info) {
                           std::string name =
                               param_info.param.substr(0, param_info.param.size() - 4);
                           return name;
                         });

// The runner itself must fail on a wrong expectation (it has teeth too).
TEST(ScenarioRunner, ReportsAFailedExpectationWithItsLine) {
  ScenarioResult result = RunScenario("cluster 3\ntick all 10\nstabilize\nexpect leader 2\n");
  EXPECT_EQ(result.error.rfind("line 4:", 0), 0u) << result.error;
}

TEST(ScenarioRunner, RejectsUnknownCommands) {
  EXPECT_NE(RunScenario("cluster 3\nfrobnicate\n").error, "");
  EXPECT_NE(RunScenario("tick all 3\n").error, "");
  EXPECT_NE(RunScenario("cluster 3\n----\nok\n\n----\n").error, "");
}

const char* const kElection =
    "# comment kept\n"
    "cluster 3\n"
    "----\n"
    "ok\n"
    "\n"
    "tick all 10   # replica 1 times out first\n"
    "----\n"
    "1 is pre-candidate\n"
    "1->2 PreVote\n"
    "1->3 PreVote\n"
    "expect mailbox 2\n";

TEST(ScenarioRunner, MatchingOutputPasses) {
  ScenarioResult result = RunScenario(kElection);
  EXPECT_EQ(result.error, "");
  EXPECT_TRUE(result.mismatches.empty()) << result.mismatches[0];
}

// A changed line fails with a diff naming the step; the rewrite restores it
// and keeps everything else (comments, expectations) as it was.
TEST(ScenarioRunner, ReportsADifferentOutputWithADiffAndRewritesIt) {
  std::string wrong = kElection;
  wrong.replace(wrong.find("1->3 PreVote"), 4, "1->4");
  ScenarioResult result = RunScenario(wrong);
  EXPECT_EQ(result.error, "");
  ASSERT_EQ(result.mismatches.size(), 1u);
  EXPECT_EQ(result.mismatches[0],
            "line 6: tick all 10   # replica 1 times out first\n"
            "output differs (- expected, + actual):\n"
            "  1 is pre-candidate\n"
            "  1->2 PreVote\n"
            "- 1->4 PreVote\n"
            "+ 1->3 PreVote\n");
  std::string fixed = kElection;
  fixed.insert(fixed.find("expect"), "\n");  // the rewrite ends each block with a blank line
  EXPECT_EQ(result.rewritten, fixed);
  EXPECT_TRUE(RunScenario(result.rewritten).mismatches.empty());
  EXPECT_EQ(RunScenario(fixed).rewritten, fixed);
}

TEST(ScenarioRunner, AStepWithoutOutputBlockIsAMismatchAndGetsOne) {
  ScenarioResult result = RunScenario("cluster 3\ntick 1 1\n");
  ASSERT_EQ(result.mismatches.size(), 2u);
  EXPECT_EQ(result.rewritten, "cluster 3\n----\nok\n\ntick 1 1\n----\nok\n");
}

TEST(ScenarioRunner, DiffMarksMissingAndExtraLines) {
  EXPECT_EQ(DiffLines({"a", "b", "c"}, {"a", "c", "d"}), "  a\n- b\n  c\n+ d\n");
  EXPECT_EQ(DiffLines({}, {"x"}), "+ x\n");
}

}  // namespace
}  // namespace synod::sim
