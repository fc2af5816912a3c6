// Shared definitions of the deterministic simulator: options, simulated time,
// the violation type and the small command format simulated clients use.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "paxos/core.h"
#include "paxos/types.h"

namespace synod::sim {

// Simulated time in abstract units; replicas tick every kUnitsPerTick units.
using SimTime = uint64_t;
inline constexpr SimTime kUnitsPerTick = 10;

// Deliberately broken variants that the checker must catch ("teeth").
enum class Break : uint8_t {
  kNone,
  kSkipPersist,     // the simulated disk acknowledges writes without keeping them
  kSmallQuorum,     // cores count n/2 votes as a quorum
  kNoDedup,         // the application applies a retried command again (caught by lincheck)
  kHideCompaction,  // promises and catch-up replies do not say where a log was compacted
  kStaleSnapshot,   // a received snapshot replaces the state even if it is older
  // A leader that learns slots chosen from a snapshot or a catch-up reply,
  // where it proposed values it never saw chosen, keeps leading and advertises
  // a commit point over them (Core::DisableCommitPointGuardForTesting).
  kStaleCommitPoint,
  kResendExpired,  // a client re-sends a command of an expired session on a new one
  // Membership rules switched off (paxos::MembershipBreak; these runs always
  // change the membership):
  kConfigBeforeOwnValue,  // a new leader proposes a change before its phase-1 values are chosen
  kTwoConfigsInFlight,    // a leader proposes past an unchosen configuration change
  kStaleConfigQuorum,     // phase 1 asks only the old configuration, ignoring reported changes
  kCountAhead,  // a leader counts votes out of slot order with the configuration it believes in
  kKeepOldPromises,  // a leader proposes under a new configuration its phase-1 promises miss
  kProposeOverGap,   // a leader proposes above a snapshot-only gap, configuration unknown
  // A leader whose leadership transfer failed never takes commands again
  // (Core::KeepFailedTransferForTesting; caught by the liveness check).
  kTransferNeverEnds,
};

// The core's rule a membership variant switches off (kNone for the others).
paxos::MembershipBreak MembershipRuleBroken(Break broken);

// Parses "skip-persist" / "small-quorum" / "no-dedup" / "hide-compaction" /
// "stale-snapshot" / "stale-commit-point" / "resend-expired" /
// "config-before-own-value" / "two-configs-in-flight" / "stale-config-quorum" /
// "count-ahead" / "keep-old-promises" / "propose-over-gap" /
// "transfer-never-ends"; throws
// std::invalid_argument otherwise.
Break ParseBreak(const std::string& name);
// The name ParseBreak accepts for `broken` ("none" for kNone).
std::string BreakName(Break broken);

struct SimOptions {
  uint64_t seed = 1;
  int replicas = 3;
  SimTime steps = 4000;           // length of the chaotic phase, in time units
  SimTime liveness_bound = 6000;  // after healing, everything must settle within this
  int clients = 3;
  Break broken = Break::kNone;
  // Membership variants switched off together with `broken` (itself one of
  // them then): synod-sim --break A --break B or --break A,B.
  std::vector<Break> also_broken;
  bool trace = false;  // print every event as it happens
  // Scenario tests: replica r's election timeout is exactly election_ticks + 3(r-1).
  bool staggered_timeouts = false;
  // Persist through the real LevelDB storage code on a simulated disk
  // (log::FaultInjectionEnv) as well as the model disk, and check they agree.
  bool leveldb_disk = false;
  // Random runs take snapshots and compact logs at a per-seed cadence (see
  // SimCluster::snapshot_every); scenario runs never do.
  bool snapshots = true;
  // Client sessions expire after this many applied commands without one of
  // theirs (0: never). Random runs pick one per seed (RandomSchedule).
  uint64_t session_expiry_commands = 0;
  // Membership changes during the chaotic phase (add a learner, promote,
  // remove; up to kMaxSimReplicas ids over a run): random runs pick them for
  // one seed in four unless forced on here (--membership).
  bool force_membership = false;
  // Random runs ask the leader now and then to hand leadership to a random
  // replica (Core::TransferLeadership) during the chaotic phase; false
  // (--no-transfers) replays schedules recorded before transfers existed.
  bool transfers = true;
};

// Membership runs host this many replicas (ids 1..7); those beyond
// SimOptions::replicas start empty and join when a change adds them.
inline constexpr int kMaxSimReplicas = 7;

// Whether random run `options` changes the membership (a pure function of the
// options: the seed picks one run in four).
bool MembershipRun(const SimOptions& options);

// A safety or liveness property failed. Carries a human-readable reason.
class SimViolation : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A simulated client command: "<op> <client> <seq> <value>[ <session>]", op is
// "add" or "get". Session 0 (not written): the client's one session, which
// never expires.
struct ClientCommand {
  std::string op;
  uint32_t client = 0;
  uint64_t seq = 0;
  int64_t value = 0;
  uint64_t session = 0;  // 1, 2, ...: a new one opens at its first command

  std::string Encode() const;
  // Parses Encode()'s output; throws SimViolation on garbage (a chosen command
  // nobody proposed).
  static ClientCommand Decode(const std::string& text);
};

}  // namespace synod::sim
