// `synod-lock run`: runs a command while holding a replicated lock, like
// `consul lock`.
//
// It acquires the lock (retrying while another owner holds it, which it logs
// once: "synod-lock: NAME held owner=O ...; waiting"), starts the
// command in its own process group with the fencing token in the environment
// variable SYNOD_FENCING_TOKEN, and renews every ttl/3. Its own view of the
// lease is measured on its monotonic clock from the *send* time of the last
// successful acquire/renew. What the cluster guarantees (docs/protocol.md,
// "Log time"): a lease never ends, in real time, earlier than ttl / (1 + ρ)
// after the holder sent its acquire/renew, where every host's monotonic clock
// runs at real rate within a factor 1 ± ρ (ppm on a sane host); the one
// exception is a command a deposed leader stamped after its successor took
// over (see there). If renewal fails, or no renew succeeds for long enough,
// it sends SIGTERM to the command's process group at send + ttl - margin
// (margin = max(ttl/5, 20 ms)) and SIGKILL at send + ttl - margin/2 on its
// own clock, and then exits kExitLockLost. The SIGKILL comes before the lease
// can end as long as (ttl - margin/2) / (1 - ρ) <= ttl / (1 + ρ), i.e. for
// rate errors ρ up to about 5% (1/19 with margin ttl/5); the 20 ms floor
// leaves room for signal delivery with short TTLs. If the command ends on
// its own, it releases the lock and returns the command's exit code (128 + N
// if it died of signal N). SIGINT/SIGTERM to `run` stop the command the same
// way, release the lock and exit 128 + N. A signal that comes while `run` is
// still waiting for the lock stops its retries; an acquire already sent is
// waited for (up to the client timeout) and a grant it brings is released at
// once; if an acquire's outcome stayed unknown, `run` asks the lock's status
// and releases the lock if it holds it. (Without that, a grant that arrived
// after the signal would stay held for its whole TTL.) So after a signal
// while acquiring, `run` exits within 3 client timeouts (acquire, status,
// release); with the command running, once the command has ended plus one
// client timeout (the release). A second signal stops waiting and exits at
// once with 128 + its number, SIGKILLing the command's process group, possibly
// leaving the lock held until its TTL.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "node/client.h"

namespace synod::examples {

// Exit code of `run` when the lock was lost and the command was stopped.
inline constexpr int kExitLockLost = 3;
// Exit code of `run` when the command could not be started (as a shell's).
inline constexpr int kExitCannotRun = 127;

struct LockRunOptions {
  std::string name;                  // lock name (LockStateMachine::ValidName)
  std::string owner;                 // owner name (ValidName); unique per run
  uint64_t ttl_ms = 0;               // lease length, 1..LockStateMachine::kMaxTtlMs
  std::vector<std::string> command;  // argv of the command, non-empty
  node::ClientOptions client;        // members and per-command timeout
};

// Runs the whole `run` command on the calling thread (which must not already
// own an EventLoop) and returns the process exit code described above.
// Progress and problems go to `log` (stderr in the binary).
int RunUnderLock(const LockRunOptions& options, std::ostream& log);

}  // namespace synod::examples
