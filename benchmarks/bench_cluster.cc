#include "benchmarks/bench_cluster.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>

extern char** environ;

namespace synod::benchmarks {

using Clock = std::chrono::steady_clock;

// All ports are held until the last is picked (a port bound and released at
// once may come back on the next bind), then released for the replicas.
std::vector<uint16_t> FreePorts(int count) {
  std::vector<int> fds;
  std::vector<uint16_t> ports;
  for (int i = 0; i < count; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      const int error = errno;
      if (fd >= 0) ::close(fd);
      for (int held : fds) ::close(held);
      errno = error;
      return {};  // the caller reports errno
    }
    fds.push_back(fd);
    ports.push_back(ntohs(addr.sin_port));
  }
  for (int fd : fds) ::close(fd);
  return ports;
}

double CpuSecondsOf(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string content((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  size_t close = content.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(content.substr(close + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14 || i == 15) ticks += std::stod(field);  // utime, stime
  }
  return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

std::string BenchCluster::Start(int replicas, const std::string& root,
                                const std::vector<std::string>& extra_args) {
  std::vector<uint16_t> ports = FreePorts(replicas);
  if (ports.size() != static_cast<size_t>(replicas)) {
    return "cannot find free ports on 127.0.0.1: " + std::string(std::strerror(errno));
  }
  std::string members;
  for (int i = 1; i <= replicas; ++i) {
    members += (i > 1 ? "," : "") + std::to_string(i) +
               "=127.0.0.1:" + std::to_string(ports[static_cast<size_t>(i - 1)]);
  }
  members_ = members;
  for (int i = 1; i <= replicas; ++i) {
    Child child;
    child.args = {"/proc/self/exe", "serve", "--id",   std::to_string(i),
                  "--members",      members, "--data", root + "/r" + std::to_string(i),
                  "--log-level",    "warn"};
    child.args.insert(child.args.end(), extra_args.begin(), extra_args.end());
    std::string error = Spawn(child);
    children_.push_back(child);
    if (!error.empty()) return error;
  }
  auto deadline = Clock::now() + std::chrono::seconds(30);
  for (const Child& child : children_) {
    if (!AwaitReady(child, deadline)) {
      return "a replica did not start (pid " + std::to_string(child.pid) + ")";
    }
  }
  return "";
}

void BenchCluster::Stop() {
  for (Child& child : children_) {
    if (child.pid > 0) {
      ::kill(child.pid, SIGTERM);
      int status = 0;
      for (int i = 0; i < 50 && ::waitpid(child.pid, &status, WNOHANG) == 0; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      ::kill(child.pid, SIGKILL);
      ::waitpid(child.pid, &status, 0);
      child.pid = -1;
    }
    if (child.out >= 0) ::close(child.out);
    child.out = -1;
  }
  children_.clear();
}

double BenchCluster::CpuSeconds() const {
  double total = 0;
  for (const Child& child : children_) {
    if (child.pid > 0) total += CpuSecondsOf(child.pid);
  }
  return total;
}

bool BenchCluster::Signal(int id, int signal) {
  if (id < 1 || id > size()) return false;
  Child& child = children_[static_cast<size_t>(id - 1)];
  return child.pid > 0 && ::kill(child.pid, signal) == 0;
}

bool BenchCluster::WaitExit(int id, std::chrono::milliseconds timeout, std::string& how) {
  if (id < 1 || id > size()) return false;
  Child& child = children_[static_cast<size_t>(id - 1)];
  if (child.pid <= 0) return true;
  auto deadline = Clock::now() + timeout;
  int status = 0;
  pid_t reaped = 0;
  while ((reaped = ::waitpid(child.pid, &status, WNOHANG)) == 0 && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  if (reaped != child.pid) return false;
  how = WIFEXITED(status)     ? "exit " + std::to_string(WEXITSTATUS(status))
        : WIFSIGNALED(status) ? "signal " + std::to_string(WTERMSIG(status))
                              : "stopped";
  child.pid = -1;
  return true;
}

std::string BenchCluster::Restart(int id, std::chrono::milliseconds timeout) {
  if (id < 1 || id > size()) return "no replica " + std::to_string(id);
  Child& child = children_[static_cast<size_t>(id - 1)];
  if (child.pid > 0) return "replica " + std::to_string(id) + " is still running";
  if (child.out >= 0) ::close(child.out);
  child.out = -1;
  std::string error = Spawn(child);
  if (!error.empty()) return error;
  if (!AwaitReady(child, Clock::now() + timeout)) {
    return "replica " + std::to_string(id) + " did not print ready within " +
           std::to_string(timeout.count()) + " ms after a restart";
  }
  return "";
}

std::string BenchCluster::Spawn(Child& child) {
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) return "pipe failed";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&actions, pipe_fds[0]);
  std::vector<char*> argv;
  for (const std::string& arg : child.args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, "/proc/self/exe", &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(pipe_fds[1]);
  if (rc != 0) {
    ::close(pipe_fds[0]);
    return "cannot start a replica";
  }
  child.pid = pid;
  child.out = pipe_fds[0];
  return "";
}

bool BenchCluster::AwaitReady(const Child& child, Clock::time_point deadline) {
  std::string line;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd fd{child.out, POLLIN, 0};
    int ready = ::poll(&fd, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return false;
    char c = 0;
    ssize_t n = ::read(child.out, &c, 1);  // byte by byte: nothing past the line is consumed
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;  // the replica closed its stdout (exited)
    if (c != '\n') {
      line += c;
      continue;
    }
    if (line.rfind("ready id=", 0) == 0) return true;
    line.clear();
  }
}

}  // namespace synod::benchmarks
