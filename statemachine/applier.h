// Applier: applies chosen entries to the user's StateMachine in slot order,
// exactly once, through the session table.
//
// Each committed value is a batch of envelopes (envelope.h). The applied
// index, the state machine's effects and the session table move together:
// they are only ever saved together (Snapshot) and restored together, and
// with an in-memory StateMachine a restart rebuilds all three by replaying the
// chosen log from the last snapshot, so no command is applied twice or
// skipped. Thread: the replica's loop thread only.
//
// Exceptions from StateMachine::Apply: one derived from std::exception
// (other than std::bad_alloc and synod::InvariantViolation) becomes that
// command's result, a failure carrying its message (what(); for a
// kj::Exception its description only, without the throw site and stack
// trace, which differ per process; in both cases the first line, at most
// kMaxFailureBytes): recorded in the session
// table like any result (a retry gets the same failure, never a second
// Apply), so every replica, and every replay after a restart, reaches the
// same outcome as long as Apply is deterministic. std::bad_alloc,
// InvariantViolation and exceptions of other types are not results: they
// propagate out of Applier::Apply (the runtime stops the process, exit 70).
// So does UnknownRegistrationFormat.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "paxos/configuration.h"
#include "paxos/types.h"
#include "statemachine/envelope.h"
#include "statemachine/session_table.h"
#include "statemachine/state_machine.h"

namespace synod::statemachine {

// Thrown by Applier::Apply for a chosen session registration it cannot
// decode (written by a build with a newer registration format): skipping it
// would hand out different session ids than the replicas that understand it.
class UnknownRegistrationFormat : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// What happened to one client-visible envelope.
struct CommandOutcome {
  enum class Status : uint8_t {
    kOk,              // applied now, or a duplicate answered from the table
    kFailed,          // Apply threw (now, or a duplicate of one that did): result holds what()
    kSessionExpired,  // never applied: unknown/expired session or below the mark
    kInvalid,         // not an envelope: never applied (a registration throws instead)
    // A session limit (session_table.h): kRegisterSession refused ("too many
    // sessions") or kCommand refused ("session holds too many unacknowledged
    // results"); `result` says which. Never applied, now or later.
    kRefused,
  };
  Status status = Status::kOk;
  EnvelopeKind kind = EnvelopeKind::kCommand;
  uint64_t session = 0;   // kCommand: its session; kRegisterSession: the new id (0: refused);
                          // kClusterId: the cluster id (only the first one is reported)
  uint64_t sequence = 0;  // kCommand
  uint64_t nonce = 0;     // kRegisterSession: the caller's request id
  bool duplicate = false;
  std::string result;  // the StateMachine's result (kOk) or the exception's message (kFailed)
  paxos::Slot slot = 0;
};

class Applier {
 public:
  // `machine` must outlive the applier. options.sweep_every_slots must be > 0.
  // `initial` is the configuration set at slot 0 (the runtime's static member
  // list); Configuration::Empty() when the caller does not track membership.
  Applier(StateMachine& machine, SessionOptions options,
          paxos::Configuration initial = paxos::Configuration::Empty());

  // Applies the next chosen entry (its slot must be applied() + 1) and returns
  // one outcome per envelope that a client may be waiting for. Throws only
  // what must stop the process (see the exceptions rule above); the applier
  // is then unusable.
  std::vector<CommandOutcome> Apply(const paxos::CommittedEntry& entry);

  // Bound on a failure's stored text: the message's first line, cut to at
  // most this many bytes, so a huge or multi-line what() cannot bloat the
  // session table, snapshots or answers.
  static constexpr size_t kMaxFailureBytes = 1024;

  paxos::Slot applied() const { return applied_; }
  // The cluster id agreed through the log (0 until one was applied).
  uint64_t cluster_id() const { return cluster_id_; }
  uint64_t log_time_ms() const { return log_time_ms_; }
  // The stamp ballot of the last stamp that counted (null: none yet, or only
  // stamps without a ballot). A stamp counts toward log time only if its
  // ballot is >= this (envelope.h); replicated state, kept in snapshots.
  const paxos::Ballot& time_ballot() const { return time_ballot_; }
  const SessionTable& sessions() const { return sessions_; }
  // The configuration in effect after applied() and the slot whose chosen
  // kConfiguration value set it (paxos::NextConfiguration; {0, initial} until
  // a change takes effect). Replicated state, kept in snapshots: what
  // Core::InstallSnapshot and the Core's restart constructor need.
  const paxos::ConfigAt& config() const { return config_; }

  // Writes applied index, log time, time ballot, configuration, sessions and
  // the machine's state.
  void Snapshot(SnapshotWriter& out) const;
  // Restores all of them (a snapshot older than the configuration field
  // restores {0, initial}). Returns false if the snapshot is not valid; the
  // applier's own fields are then unchanged, but the machine may have been
  // partly restored, so the caller must not apply anything more (the replica
  // refuses to continue).
  bool Restore(SnapshotReader& in);

 private:
  // Runs machine_.Apply into `result`; false if it threw a std::exception
  // that is a command's failure (`result` is then its what()).
  bool ApplyCommand(std::string_view payload, const ApplyContext& context, std::string& result);
  // Advances log time by `envelope`'s stamp if it counts (time ballot rule).
  void CountStamp(const Envelope& envelope);

  StateMachine& machine_;
  SessionTable sessions_;
  SessionOptions options_;
  paxos::Slot applied_ = 0;
  uint64_t log_time_ms_ = 0;
  paxos::Ballot time_ballot_;
  uint64_t cluster_id_ = 0;
  paxos::Configuration initial_;
  paxos::ConfigAt config_;
};

}  // namespace synod::statemachine
