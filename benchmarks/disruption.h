// The disruptions `synod-bench gap` measures clients through: a rolling
// restart, a crashed leader, a leadership transfer. Each runs against a
// BenchCluster and finds the leader, and each replica's progress, through the
// status query the client offers.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "benchmarks/bench_cluster.h"
#include "node/client.h"

namespace synod::benchmarks {

enum class DisruptionKind {
  // Each replica in turn, followers first and the leader last: SIGTERM, wait
  // for its exit, start it again with the same data directory and flags,
  // wait until it has applied what the leader had when it was back.
  kRollingRestart,
  // SIGKILL the leader, wait until another replica leads, start the killed
  // one again and wait until it caught up (the crash baseline).
  kKillLeader,
  // Ask the cluster to hand leadership to the most advanced follower
  // (TransferLeader, leader_transfer.h), wait until that replica leads.
  kTransfer,
};

// "rolling-restart", "kill-leader", "transfer"; nullopt for anything else.
std::optional<DisruptionKind> ParseDisruptionKind(const std::string& name);
const char* DisruptionName(DisruptionKind kind);

struct DisruptionResult {
  using Clock = std::chrono::steady_clock;
  std::string error;  // "" if the disruption ran to its end
  // Just before the first disruptive act (a signal or the transfer request).
  Clock::time_point started;
  // Once every replica was back, caught up, and a leader known (or when it
  // gave up, with `error` set).
  Clock::time_point finished;
  // What was done when, for the report.
  std::vector<std::pair<Clock::time_point, std::string>> steps;
};

// Runs `kind` against `cluster`, whose members `options` lists (its timeout
// bounds each status query). Blocking: run it on a thread of its own (it
// creates and destroys its own EventLoops), and touch `cluster` from no other
// thread meanwhile. Each wait gives up after 60 s with `error` set.
DisruptionResult RunDisruption(DisruptionKind kind, BenchCluster& cluster,
                               const node::ClientOptions& options);

}  // namespace synod::benchmarks
