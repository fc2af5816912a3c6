// ReplicaOptions: everything a replica process is configured with, validated
// up front so that a bad flag is a clear message, never a crash or a hang.
#pragma once

#include <cstdint>
#include <string>

#include "node/cluster_config.h"
#include "paxos/options.h"
#include "util/status.h"

namespace synod::node {

struct ReplicaOptions {
  paxos::ReplicaId id = paxos::kNoReplica;
  ClusterConfig cluster;
  std::string data_dir;
  // `serve --join`: this replica joins a running cluster instead of forming a
  // new one, so it never builds an initial configuration from `cluster` (a
  // joiner's list is not the cluster's founding list; it must name at least
  // one current member besides this replica). On a data_dir without history
  // Replica::Start marks the directory as a joiner's, waits until the
  // cluster's leader names this replica, fetches a snapshot and starts from
  // it. A marked directory without a complete snapshot resumes the join
  // with or without this flag. With history (and no mark) it has no effect
  // (Replica::Start logs so and recovers).
  bool join = false;
  uint32_t election_timeout_ms = 1000;  // base; actual is random in [1x, 2x)
  uint32_t heartbeat_ms = 100;
  uint32_t window_slots = 64;          // slots in flight at the leader
  uint32_t max_batch_commands = 1024;  // commands per slot
  uint64_t seed = 0;                   // election timing; 0: from the OS random source (OsRandom64)
  // A snapshot is taken after this many applied commands (0: never) ...
  uint32_t snapshot_every = 10000;
  // ... or after this many bytes of applied log, whichever comes first.
  uint64_t snapshot_log_bytes = 64ull << 20;
  // Entries kept below a snapshot for followers slightly behind (they catch
  // up from the log instead of fetching the snapshot).
  uint32_t log_tail = 1000;
  // LevelDB's write-ahead log files are preallocated (one disk write per
  // synced write instead of two; log/preallocated_log_env.h). Off: plain
  // appended files (e.g. on copy-on-write file systems, where it gains nothing).
  bool preallocate_log = true;
  // Limits (docs/runtime.md, "Limits"). The three session limits are written
  // by the leader into each registration it proposes, so every replica decides
  // with the same values even if members' flags differ. Worst-case result
  // memory: max_sessions x max_session_result_bytes (4 GiB by default).
  uint64_t max_sessions = 4096;                    // live client sessions
  uint64_t max_session_results = 100000;           // unacknowledged results per session
  uint64_t max_session_result_bytes = 1ull << 20;  // their weight (bytes + 64 each)
  uint64_t max_pending_bytes = 256ull << 20;       // command bytes queued at the leader
  // Idle log time after which a client session expires. Written into each
  // session's registration entry when this member proposes it as leader, so
  // every replica applies the same value whatever its own flag says.
  uint64_t session_expiry_ms = 600000;

  // Ok if usable, else kInvalidArgument saying what is wrong (naming the flag).
  Status Validate() const;
  // Tick length: half a heartbeat interval.
  uint32_t TickMs() const { return heartbeat_ms / 2 == 0 ? 1 : heartbeat_ms / 2; }
  // The core's options in ticks.
  paxos::CoreOptions ToCoreOptions() const;
};

}  // namespace synod::node
