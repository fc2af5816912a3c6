// BenchCluster: the `synod-bench serve` replicas a benchmark starts on
// 127.0.0.1 (fsync on), and the process control the disruption benchmarks
// need: signal one replica, wait for it to exit, restart it with the same
// data directory and flags.
//
// Threading: not thread-safe; one thread at a time (synod-bench's main
// thread, or the disruption driver's while it runs). Every process it starts
// is stopped by Stop() or the destructor (SIGTERM, then SIGKILL after 5 s).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace synod::benchmarks {

// `count` distinct ports the kernel hands out for 127.0.0.1, all released on
// return. Empty, with errno set, if a socket cannot be bound.
std::vector<uint16_t> FreePorts(int count);

// User + system CPU seconds of process `pid` (0 if it cannot be read).
double CpuSecondsOf(pid_t pid);

class BenchCluster {
 public:
  BenchCluster() = default;
  ~BenchCluster() { Stop(); }
  BenchCluster(const BenchCluster&) = delete;
  BenchCluster& operator=(const BenchCluster&) = delete;

  // Starts replicas 1..`replicas` of `program serve` (this executable) with
  // data under `root`/rI, `extra_args` appended to each command line, and
  // waits up to 30 s for each to print "ready id=". Returns "" or what failed.
  std::string Start(int replicas, const std::string& root,
                    const std::vector<std::string>& extra_args);

  // Stops every replica (SIGTERM, SIGKILL after 5 s) and reaps it.
  void Stop();

  // Total CPU seconds of the running replicas.
  double CpuSeconds() const;

  // "1=127.0.0.1:P1,2=..." for clients.
  const std::string& members() const { return members_; }
  int size() const { return static_cast<int>(children_.size()); }

  // Sends `signal` to replica `id` (1-based). False if it is not running.
  bool Signal(int id, int signal);
  // Waits up to `timeout` for replica `id` to exit and reaps it. True once it
  // exited; `how` says how ("exit 0", "signal 9").
  bool WaitExit(int id, std::chrono::milliseconds timeout, std::string& how);
  // Starts replica `id` again (it must have exited) with its first command
  // line, and waits up to `timeout` for "ready id=". Returns "" or why not.
  std::string Restart(int id, std::chrono::milliseconds timeout);

 private:
  struct Child {
    pid_t pid = -1;
    int out = -1;  // read end of the replica's stdout
    std::vector<std::string> args;
  };
  std::string Spawn(Child& child);
  // Reads `child`'s stdout until a "ready id=" line or `deadline`.
  static bool AwaitReady(const Child& child, std::chrono::steady_clock::time_point deadline);

  std::vector<Child> children_;
  std::string members_;
};

}  // namespace synod::benchmarks
