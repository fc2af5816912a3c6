// Client retry policy: what a client does with one command after an attempt
// ended (or before it retries), as a pure function of what it knows. The
// runtime Client (node/client.cc) and the simulator's clients
// (tests/sim/random_run.cc) both decide through it, so the simulator checks
// the rule the library follows. Header only, no dependencies.
//
// The rule: a command belongs to the session it was first sent on, for its
// whole life. A session that ended (a command of it was answered "session
// expired") never applies anything again, so a command of it that may have
// been proposed has already met its fate: it finishes as unknown, never
// re-sent under another session (which would apply it a second time). Only
// a command that surely was never proposed is re-sent, as a new command of
// the client's next session.
#pragma once

namespace synod::node {

// How the last attempt of a command ended.
enum class AttemptEnd {
  kApplied,         // the state machine answered (applied now or earlier): ok
  kFailedForGood,   // applied as a failure, or refused by a session limit: never
                    // applied, now or later, whatever earlier attempts did
  kRejected,        // refused for good (malformed, not a valid command)
  kSessionExpired,  // the state machine refused it: its session is gone
  kRetryable,       // no answer yet: not leader, busy, timed out, connection lost
};

// What the client knows about the command at that point.
struct CommandFacts {
  bool maybe_proposed = false;  // some attempt (this one included) may have been proposed
  bool session_ended = false;   // the session it was first sent on has ended
  bool deadline_passed = false;
};

enum class NextStep {
  kReportOk,
  kReportFailed,        // definitely never applied
  kReportUnknown,       // may have been applied
  kRetry,               // send again on its own session
  kResendOnNewSession,  // never proposed: a new command on the next session
};

// Pure and total: the same inputs always give the same step.
constexpr NextStep DecideNextStep(AttemptEnd end, CommandFacts facts) {
  if (end == AttemptEnd::kApplied) return NextStep::kReportOk;
  if (end == AttemptEnd::kFailedForGood) return NextStep::kReportFailed;
  if (end == AttemptEnd::kRejected) {
    return facts.maybe_proposed ? NextStep::kReportUnknown : NextStep::kReportFailed;
  }
  if (end == AttemptEnd::kSessionExpired) facts.session_ended = true;
  if (facts.maybe_proposed && (facts.session_ended || facts.deadline_passed)) {
    return NextStep::kReportUnknown;
  }
  if (facts.deadline_passed) return NextStep::kReportFailed;
  return facts.session_ended ? NextStep::kResendOnNewSession : NextStep::kRetry;
}

}  // namespace synod::node
