// Tests of UniqueOwnerName: the `run` default format, a fresh random part on
// every call, and the length bound that never cuts the pid or random digits.
#include "examples/lock/owner_name.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <regex>
#include <set>
#include <string>

namespace synod::examples {
namespace {

const std::string kTail = std::to_string(getpid()) + "-[0-9a-f]{16}";

TEST(UniqueOwnerName, IsHostPidAndRandomDigits) {
  char host[64] = {};
  ASSERT_EQ(gethostname(host, sizeof(host) - 1), 0);
  std::string name = UniqueOwnerName();
  EXPECT_TRUE(LockStateMachine::ValidName(name)) << name;
  EXPECT_TRUE(std::regex_match(name, std::regex(".+-" + kTail))) << name;
  EXPECT_EQ(name.rfind(std::string(host).substr(0, 8), 0), 0u) << name << " vs host " << host;
}

TEST(UniqueOwnerName, EveryCallDiffers) {
  std::set<std::string> names;
  for (int i = 0; i < 100; ++i) names.insert(UniqueOwnerName());
  EXPECT_EQ(names.size(), 100u);
}

TEST(UniqueOwnerName, ShortensOnlyTheHostToFit) {
  for (size_t max = 0; max <= LockStateMachine::kMaxNameLength; ++max) {
    std::string name = UniqueOwnerName(max);
    SCOPED_TRACE(std::to_string(max) + ": " + name);
    EXPECT_TRUE(LockStateMachine::ValidName(name));
    EXPECT_LE(name.size(), std::max(max, kMinUniqueOwnerLength));
    EXPECT_TRUE(std::regex_match(name, std::regex("(.+-)?" + kTail)));
  }
}

}  // namespace
}  // namespace synod::examples
