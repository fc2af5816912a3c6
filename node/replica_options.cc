#include "node/replica_options.h"

#include <utility>

namespace synod::node {

Status ReplicaOptions::Validate() const {
  auto invalid = [](std::string problem) { return Status::InvalidArgument(std::move(problem)); };
  if (id == paxos::kNoReplica) return invalid("--id is required (a positive integer)");
  if (cluster.members.empty()) return invalid("--members is required");
  if (cluster.Find(id) == nullptr) {
    return invalid("--id " + std::to_string(id) + " is not among --members " + cluster.ToString());
  }
  if (data_dir.empty()) return invalid("--data is required");
  if (join && cluster.members.size() < 2) {
    return invalid("--join needs at least one current member in --members besides replica " +
                   std::to_string(id));
  }
  if (heartbeat_ms < 2) return invalid("--heartbeat-ms must be at least 2");
  if (election_timeout_ms < 3 * heartbeat_ms) {
    return invalid("--election-timeout-ms must be at least three heartbeat intervals");
  }
  if (window_slots == 0 || window_slots > 100000) return invalid("--window must be 1-100000");
  if (max_batch_commands == 0 || max_batch_commands > 100000) {
    return invalid("--batch must be 1-100000");
  }
  if (log_tail > 100000000) return invalid("--log-tail must be at most 100000000");
  if (max_sessions == 0) return invalid("--max-sessions must be at least 1");
  if (max_session_results == 0) return invalid("--max-session-results must be at least 1");
  if (max_session_result_bytes < (64u << 10)) {
    return invalid("--max-session-result-bytes must be at least 65536");
  }
  if (max_pending_bytes < (1u << 20))
    return invalid("--max-pending-bytes must be at least 1048576");
  if (session_expiry_ms == 0) return invalid("--session-expiry-ms must be positive");
  std::string core = ToCoreOptions().Validate();
  if (!core.empty()) return invalid("timeouts: " + core);
  return Status::Ok();
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
