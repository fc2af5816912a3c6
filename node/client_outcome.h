// The client's outcome rule: what one attempt's result means for its command
// (ok, failed, unknown, or try again), as a pure function of what the
// attempt observed and what the client knew before it. node/client.cc
// decides every command's fate through DecideAfterAttempt; the table in
// node/client_outcome_test.cc lists every case.
//
// The promise it keeps: a command is reported failed only when it surely
// never took effect — no attempt of it may have been proposed, or the state
// machine answered that it was applied as a failure or refused for good.
// Once it may have been proposed, it ends ok or unknown. Header only.
#pragma once

#include "node/client_policy.h"
#include "transport/client_connection.h"
#include "transport/types.h"

namespace synod::node {

// What one attempt at one member came back with.
struct AttemptResult {
  transport::CallStatus call = transport::CallStatus::kError;
  // From the transport: the command may have reached the member. Read only
  // when call != kReplied (a reply means it did).
  bool maybe_sent = false;
  // The member's answer for this command; read only when call == kReplied.
  transport::OutcomeStatus status = transport::OutcomeStatus::kError;
};

// What an attempt tells on its own.
struct AttemptMeaning {
  AttemptEnd end = AttemptEnd::kRetryable;
  bool maybe_proposed = false;  // this attempt may have been proposed
};

// Pure and total. `registration`: the attempt registers a session (it belongs
// to no session, so no session of its can expire).
constexpr AttemptMeaning InterpretAttempt(AttemptResult result, bool registration) {
  using transport::OutcomeStatus;
  if (result.call != transport::CallStatus::kReplied) {
    // No answer (timeout, connection lost, handshake refused, overloaded
    // locally, a failed call): proposed only if it may have left.
    return {AttemptEnd::kRetryable, result.maybe_sent};
  }
  switch (result.status) {
    case OutcomeStatus::kOk:
      return {AttemptEnd::kApplied, true};
    case OutcomeStatus::kApplyFailed:  // applied; Apply threw and changed nothing
    case OutcomeStatus::kRefused:      // a session limit: never applied, now or later
      return {AttemptEnd::kFailedForGood, true};
    case OutcomeStatus::kNotLeader:  // not proposed
    case OutcomeStatus::kBusy:       // not proposed
      return {AttemptEnd::kRetryable, false};
    case OutcomeStatus::kUnknown:  // proposed; the member lost track of it
      return {AttemptEnd::kRetryable, true};
    case OutcomeStatus::kSessionExpired:
      // Chosen and found its session gone: this copy never applies, nor will
      // any other. A registration cannot be answered so: a member that does
      // so makes no sense, and the registration ends as a rejected one.
      return {registration ? AttemptEnd::kRejected : AttemptEnd::kSessionExpired, false};
    case OutcomeStatus::kError:  // rejected before it was proposed (malformed)
      return {AttemptEnd::kRejected, false};
  }
  return {AttemptEnd::kRejected, false};  // a status this build does not know
}

// The decision after an attempt, and what the client knows afterwards.
struct AttemptDecision {
  NextStep step = NextStep::kRetry;
  bool maybe_proposed = false;  // some attempt (this one included) may have been proposed
};

// Pure and total. `before` holds what was known before this attempt's result:
// maybe_proposed by an earlier attempt, the command's session ended (ignored
// for a registration), its deadline passed (now).
constexpr AttemptDecision DecideAfterAttempt(AttemptResult result, bool registration,
                                             CommandFacts before) {
  AttemptMeaning meaning = InterpretAttempt(result, registration);
  CommandFacts facts = before;
  facts.maybe_proposed = before.maybe_proposed || meaning.maybe_proposed;
  if (registration) facts.session_ended = false;
  return {DecideNextStep(meaning.end, facts), facts.maybe_proposed};
}

}  // namespace synod::node
