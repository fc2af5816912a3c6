#include "node/replica_options.h"

namespace synod::node {

std::string ReplicaOptions::Validate() const {
  if (id == paxos::kNoReplica) return "--id is required (a positive integer)";
  if (cluster.members.empty()) return "--members is required";
  if (cluster.Find(id) == nullptr) {
    return "--id " + std::to_string(id) + " is not among --members " + cluster.ToString();
  }
  if (data_dir.empty()) return "--data is required";
  if (heartbeat_ms < 2) return "--heartbeat-ms must be at least 2";
  if (election_timeout_ms < 3 * heartbeat_ms) {
    return "--election-timeout-ms must be at least three heartbeat intervals";
  }
  if (window_slots == 0 || window_slots > 100000) return "--window must be 1-100000";
  if (max_batch_commands == 0 || max_batch_commands > 100000) return "--batch must be 1-100000";
  if (log_tail > 100000000) return "--log-tail must be at most 100000000";
  if (max_sessions == 0) return "--max-sessions must be at least 1";
  if (max_session_results == 0) return "--max-session-results must be at least 1";
  if (max_session_result_bytes < (64u << 10)) {
    return "--max-session-result-bytes must be at least 65536";
  }
  if (max_pending_bytes < (1u << 20)) return "--max-pending-bytes must be at least 1048576";
  if (session_expiry_ms == 0) return "--session-expiry-ms must be positive";
  std::string core = ToCoreOptions().Validate();
  if (!core.empty()) return "timeouts: " + core;
  return "";
}

paxos::CoreOptions ReplicaOptions::ToCoreOptions() const {
  paxos::CoreOptions core;
  core.heartbeat_ticks = 2;
  core.election_ticks = election_timeout_ms / TickMs();
  core.window_slots = window_slots;
  core.max_batch_commands = max_batch_commands;
  core.max_pending_bytes = static_cast<size_t>(max_pending_bytes);
  return core;
}

}  // namespace synod::node
