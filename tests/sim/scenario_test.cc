// Runs every scenario file in tests/scenarios/ (etcd-raft style text tests).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
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

class ScenarioTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ScenarioTest, Passes) {
  std::filesystem::path path = std::filesystem::path(SYNOD_SCENARIO_DIR) / GetParam();
  ASSERT_TRUE(std::filesystem::exists(path)) << path;
  EXPECT_EQ(RunScenario(ReadFile(path)), "") << "scenario " << GetParam();
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
  std::string result = RunScenario("cluster 3\ntick all 10\nstabilize\nexpect leader 2\n");
  EXPECT_EQ(result.rfind("line 4:", 0), 0u) << result;
}

TEST(ScenarioRunner, RejectsUnknownCommands) {
  EXPECT_NE(RunScenario("cluster 3\nfrobnicate\n"), "");
  EXPECT_NE(RunScenario("tick all 3\n"), "");
}

}  // namespace
}  // namespace synod::sim
