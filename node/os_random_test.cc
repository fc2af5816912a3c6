#include "node/os_random.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <set>

namespace synod::node {
namespace {

TEST(OsRandomTest, ValuesDoNotRepeatWithinAProcess) {
  std::set<uint64_t> seen;
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(seen.insert(OsRandom64()).second) << "call " << i;
}

// Two processes forked from one image (same memory, same clock): their values
// must still differ, as two client processes' session nonces must.
TEST(OsRandomTest, ForkedProcessesDrawDifferentValues) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t children[2];
  for (pid_t& child : children) {
    child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      uint64_t value = OsRandom64();
      _exit(write(fds[1], &value, sizeof value) == sizeof value ? 0 : 1);
    }
  }
  close(fds[1]);
  uint64_t values[2] = {0, 0};
  for (uint64_t& value : values) ASSERT_EQ(read(fds[0], &value, sizeof value), sizeof value);
  close(fds[0]);
  for (pid_t child : children) {
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  EXPECT_NE(values[0], values[1]);
}

}  // namespace
}  // namespace synod::node
