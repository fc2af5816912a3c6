// Command-line plumbing shared by Synod's example binaries: flag parsing, the
// exit-code contract, and the `serve` command that runs any StateMachine as a
// replica (so every example serves the same way).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "node/client.h"
#include "node/replica_options.h"
#include "statemachine/state_machine.h"
#include "util/status.h"

namespace synod::node {

// Exit codes of client commands (a contract users' scripts depend on).
inline constexpr int kExitOk = 0;
// Definite failure: the command never took effect, or it was applied and
// Apply threw before changing anything (state_machine.h), so no effect.
inline constexpr int kExitFailed = 1;
inline constexpr int kExitUnknown = 2;  // may or may not have taken effect
inline constexpr int kExitUsage = 64;

// "--name value" pairs (a bare flag: "--name" with the value "yes") and
// positional words.
struct CliFlags {
  std::map<std::string, std::string> values;
  std::vector<std::string> positional;

  // The flag's value, or "" if absent.
  std::string Get(const std::string& name) const;
  // The first flag not in `known`, or "" if all are known.
  std::string FirstUnknown(const std::set<std::string>& known) const;
};

// Flags that never take a value, in every command line of Synod's programs:
// `--join` (serve). A command that does not accept one refuses it as an
// unknown option (CliFlags::FirstUnknown), like any other.
const std::set<std::string>& BareFlags();

// Parses argv[from..]: a flag named in `bare` takes no value (stored as
// "yes"; the next word is parsed on its own), every other "--x" takes the
// next word as its value. kInvalidArgument ("--x needs a value") for such a
// flag without a value.
Result<CliFlags> ParseCliFlags(int argc, char** argv, int from,
                               const std::set<std::string>& bare = BareFlags());

bool ParseU64(const std::string& text, uint64_t& out);
bool ParseI64(const std::string& text, int64_t& out);

// Prints "program: problem" and `usage` to stderr; returns kExitUsage.
int UsageError(const std::string& program, const std::string& problem, const std::string& usage);

// Flags `serve` accepts.
const std::set<std::string>& ServeFlags();
// Usage text of `serve`.
std::string ServeUsage(const std::string& program);

// Sets options' limits from --max-sessions, --max-session-results,
// --max-session-result-bytes and --max-pending-bytes (absent: unchanged).
// kInvalidArgument naming the flag if one is not a number; the ranges are
// checked by ReplicaOptions::Validate.
Status LimitsFromFlags(const CliFlags& flags, ReplicaOptions& options);

// Runs `program serve ...` with `machine`: validates flags (kExitUsage with a
// clear message), serves until SIGTERM/SIGINT (then kExitOk; a leader first
// hands leadership over, Replica::HandOverLeadership, unless a second signal
// comes), prints
// "ready id=I" on stdout once serving; kExitFailed if it cannot start. An
// internal failure (an exception out of the replica) exits 70 at once, where
// it is caught (EventLoop, Replica::Start), before anything is unwound.
int RunServe(const std::string& program, const CliFlags& flags, statemachine::StateMachine& machine,
             const std::string& usage);

// `PROGRAM status --members ...`: one line per member ("ID ROLE ballot=B
// chosen=C applied=A leader=L digest=D member=voter|learner|not-member|removed
// config_slot=S", or "ID unreachable"). Returns kExitOk if any member
// answered, else kExitFailed.
int RunMemberStatus(const std::string& program, const ClientOptions& options);

// `PROGRAM members list --members LIST [--timeout MS]`: asks the leader
// (following hints) for its configuration and prints "ID HOST:PORT
// voter|learner" per member, sorted by id ("-" for an address the leader
// does not know), then "config slot=S" (the slot whose chosen value set it;
// 0: the initial one). kExitOk; kExitFailed (reason on stderr) if the leader
// reports no configuration; kExitUnknown if no leader answered in time.
// `members add ID=HOST:PORT`, `members promote ID`, `members remove ID`: one
// configuration step through the leader (Client::ChangeMembers); print
// "added ID learner config=S", "promoted ID config=S", "removed ID config=S"
// (S: the slot whose chosen value made the change; if it was in effect
// already, the slot of the configuration in effect now) and kExitOk; kExitFailed
// with "PROGRAM: failed: REASON" on stderr when surely nothing changed;
// kExitUnknown ("PROGRAM: unknown outcome: ...") when the change may have
// been made. kExitUsage (with `usage`) for a bad command line.
int RunMembers(const std::string& program, const CliFlags& flags, const std::string& usage);

// The usage lines of the members commands, for a program's usage text.
std::string MembersUsage(const std::string& program);

// `PROGRAM transfer-leader ID --members ...`: hands leadership to replica
// `target_text` (Client::TransferLeader); prints "leader=ID" on stdout and
// returns kExitOk once it leads, kExitFailed (reason on stderr) when surely
// nothing moved (not a voter, or the old leader resumed), kExitUnknown on a
// timeout after a transfer may have started, kExitUsage for a bad ID.
int RunTransferLeader(const std::string& program, const ClientOptions& options,
                      const std::string& target_text, const std::string& usage);

// Builds ClientOptions from --members and --timeout (ms). kInvalidArgument
// saying what is wrong otherwise.
Status ClientOptionsFromFlags(const CliFlags& flags, ClientOptions& options);

}  // namespace synod::node
