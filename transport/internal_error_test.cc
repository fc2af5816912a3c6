// Tests of ExitOnInternalError: the fatal line is written whole, with one
// write(2), and the process exits 70. stderr is a SOCK_SEQPACKET socket in the
// child, so each write(2) arrives as its own record and the records count the
// writes.
#include "transport/internal_error.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

namespace synod::transport {
namespace {

struct ChildResult {
  int exit_status = -1;
  std::vector<std::string> writes;  // one element per write(2) on stderr
};

// Forks a child that runs `fn` with stderr on a SOCK_SEQPACKET socket.
template <typename Fn>
ChildResult RunInChild(Fn fn) {
  int sockets[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sockets), 0);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(sockets[0]);
    ::dup2(sockets[1], STDERR_FILENO);
    ::close(sockets[1]);
    fn();
    std::_Exit(0);
  }
  ::close(sockets[1]);
  ChildResult result;
  // Read until the child's end is closed (it exited), then reap it.
  std::vector<char> buffer(1 << 16);
  for (;;) {
    ssize_t n = ::recv(sockets[0], buffer.data(), buffer.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    result.writes.emplace_back(buffer.data(), static_cast<size_t>(n));
  }
  ::close(sockets[0]);
  int status = 0;
  EXPECT_EQ(::waitpid(pid, &status, 0), pid);
  if (WIFEXITED(status)) result.exit_status = WEXITSTATUS(status);
  return result;
}

TEST(InternalError, TheFatalLineIsOneWriteAndTheExitIs70) {
  ChildResult child = RunInChild([] { ExitOnInternalError("a test", "two\nlines"); });
  EXPECT_EQ(child.exit_status, kExitInternalError);
  ASSERT_EQ(child.writes.size(), 1u);
  EXPECT_EQ(child.writes[0], "synod: fatal internal error in a test: two lines\n");
}

TEST(InternalError, ALongMessageIsCutToOneBoundedLine) {
  ChildResult child =
      RunInChild([] { ExitOnInternalError("a test", std::string(3 * kMaxFatalLine, 'z')); });
  EXPECT_EQ(child.exit_status, kExitInternalError);
  ASSERT_EQ(child.writes.size(), 1u);
  EXPECT_EQ(child.writes[0].size(), kMaxFatalLine);
  EXPECT_EQ(child.writes[0].back(), '\n');
}

TEST(InternalError, CallOrExitDescribesTheException) {
  ChildResult child = RunInChild([] { CallOrExit("a test", [] { throw 42; }); });
  EXPECT_EQ(child.exit_status, kExitInternalError);
  ASSERT_EQ(child.writes.size(), 1u);
  EXPECT_EQ(child.writes[0],
            "synod: fatal internal error in a test: an exception of a type not derived from "
            "std::exception\n");
}

}  // namespace
}  // namespace synod::transport
