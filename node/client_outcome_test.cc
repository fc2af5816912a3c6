// The client's outcome rule (client_outcome.h) as tables: every attempt
// result the wire can give, in every state the command can be in, maps to
// exactly one row, and no row reports failed once the command may have been
// proposed (unless the state machine answered it applied as a failure or
// refused for good).
#include "node/client_outcome.h"

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <vector>

namespace synod::node {
namespace {

using transport::CallStatus;
using transport::OutcomeStatus;

constexpr CallStatus kNoAnswers[] = {CallStatus::kTimeout, CallStatus::kDisconnected,
                                     CallStatus::kRefused, CallStatus::kOverloaded,
                                     CallStatus::kError};
constexpr OutcomeStatus kAnswers[] = {OutcomeStatus::kOk,          OutcomeStatus::kNotLeader,
                                      OutcomeStatus::kBusy,        OutcomeStatus::kSessionExpired,
                                      OutcomeStatus::kUnknown,     OutcomeStatus::kError,
                                      OutcomeStatus::kApplyFailed, OutcomeStatus::kRefused};
static_assert(static_cast<int>(OutcomeStatus::kRefused) == 7 && std::size(kAnswers) == 8,
              "a new wire status needs its rows here");
static_assert(static_cast<int>(CallStatus::kError) == 5 && std::size(kNoAnswers) == 5,
              "a new call status needs its rows here");

// What an attempt saw, one name per kind of wire result.
enum class Seen {
  kOk,              // answer ok
  kApplyFailed,     // answer applyFailed
  kRefused,         // answer refused (a session limit)
  kNotLeader,       // answer notLeader
  kBusy,            // answer busy
  kUnknown,         // answer unknown (the member lost track of it)
  kSessionExpired,  // answer sessionExpired
  kError,           // answer error (malformed)
  kUnsent,          // no answer; the transport says it never left
  kMaybeSent,       // no answer (timeout, connection lost, ...) after it may have left
};

const char* Name(Seen seen) {
  switch (seen) {
    case Seen::kOk:
      return "ok";
    case Seen::kApplyFailed:
      return "applyFailed";
    case Seen::kRefused:
      return "refused";
    case Seen::kNotLeader:
      return "notLeader";
    case Seen::kBusy:
      return "busy";
    case Seen::kUnknown:
      return "unknown";
    case Seen::kSessionExpired:
      return "sessionExpired";
    case Seen::kError:
      return "error";
    case Seen::kUnsent:
      return "no answer, unsent";
    case Seen::kMaybeSent:
      return "no answer, maybe sent";
  }
  return "?";
}

// Every wire result of one kind.
std::vector<AttemptResult> WireResults(Seen seen) {
  std::vector<AttemptResult> results;
  if (seen == Seen::kUnsent || seen == Seen::kMaybeSent) {
    for (CallStatus call : kNoAnswers) {
      results.push_back({call, seen == Seen::kMaybeSent, OutcomeStatus::kOk});
    }
    return results;
  }
  OutcomeStatus status = OutcomeStatus::kOk;
  switch (seen) {
    case Seen::kApplyFailed:
      status = OutcomeStatus::kApplyFailed;
      break;
    case Seen::kRefused:
      status = OutcomeStatus::kRefused;
      break;
    case Seen::kNotLeader:
      status = OutcomeStatus::kNotLeader;
      break;
    case Seen::kBusy:
      status = OutcomeStatus::kBusy;
      break;
    case Seen::kUnknown:
      status = OutcomeStatus::kUnknown;
      break;
    case Seen::kSessionExpired:
      status = OutcomeStatus::kSessionExpired;
      break;
    case Seen::kError:
      status = OutcomeStatus::kError;
      break;
    default:
      break;
  }
  for (bool sent : {false, true}) results.push_back({CallStatus::kReplied, sent, status});
  return results;
}

constexpr Seen kAllSeen[] = {
    Seen::kOk,      Seen::kApplyFailed,    Seen::kRefused, Seen::kNotLeader, Seen::kBusy,
    Seen::kUnknown, Seen::kSessionExpired, Seen::kError,   Seen::kUnsent,    Seen::kMaybeSent};

// Every wire result is of exactly one kind.
TEST(ClientOutcome, TheKindsCoverEveryWireResultOnce) {
  int replies = 0, no_answers = 0;
  for (Seen seen : kAllSeen) {
    for (const AttemptResult& r : WireResults(seen)) {
      (r.call == CallStatus::kReplied ? replies : no_answers)++;
    }
  }
  EXPECT_EQ(replies, 2 * 8);     // each answer, with either maybe_sent
  EXPECT_EQ(no_answers, 2 * 5);  // each call status, unsent or maybe sent
}

enum Is { N, Y, _ };  // no, yes, either

bool Matches(Is is, bool value) { return is == _ || (is == Y) == value; }

constexpr NextStep kOk = NextStep::kReportOk;
constexpr NextStep kFailed = NextStep::kReportFailed;
constexpr NextStep kUnknown = NextStep::kReportUnknown;
constexpr NextStep kRetry = NextStep::kRetry;
constexpr NextStep kResend = NextStep::kResendOnNewSession;

const char* Name(NextStep step) {
  switch (step) {
    case NextStep::kReportOk:
      return "ok";
    case NextStep::kReportFailed:
      return "failed";
    case NextStep::kReportUnknown:
      return "unknown";
    case NextStep::kRetry:
      return "retry";
    case NextStep::kResendOnNewSession:
      return "resend on a new session";
  }
  return "?";
}

// inputs -> expected step. `proposed`: an earlier attempt may have been
// proposed; `ended`: the command's session ended; `deadline`: it passed.
struct Row {
  std::vector<Seen> seen;
  Is registration, proposed, ended, deadline;
  NextStep step;
};

using S = Seen;
const std::vector<Row>& Table() {
  // clang-format off
  static const std::vector<Row> rows = {
      // seen                                 reg proposed ended deadline  step
      // Answers that settle it, whatever came before.
      {{S::kOk},                              _,  _,       _,    _,          kOk},
      {{S::kApplyFailed},                     _,  _,       _,    _,          kFailed},  // applied
      {{S::kRefused},                         _,  _,       _,    _,          kFailed},  // for good
      // Rejected before it was proposed: failed only if no attempt may have been.
      {{S::kError},                           _,  N,       _,    _,          kFailed},
      {{S::kError},                           _,  Y,       _,    _,          kUnknown},
      // Its session is gone: nothing of it applies from now on.
      {{S::kSessionExpired},                  N,  N,       _,    N,          kResend},
      {{S::kSessionExpired},                  N,  N,       _,    Y,          kFailed},
      {{S::kSessionExpired},                  N,  Y,       _,    _,          kUnknown},
      // A registration belongs to no session: the answer makes no sense.
      {{S::kSessionExpired},                  Y,  N,       _,    _,          kFailed},
      {{S::kSessionExpired},                  Y,  Y,       _,    _,          kUnknown},
      // This attempt was not proposed: earlier ones decide.
      {{S::kNotLeader, S::kBusy, S::kUnsent}, N,  N,       N,    N,          kRetry},
      {{S::kNotLeader, S::kBusy, S::kUnsent}, N,  N,       Y,    N,          kResend},
      {{S::kNotLeader, S::kBusy, S::kUnsent}, N,  N,       _,    Y,          kFailed},
      {{S::kNotLeader, S::kBusy, S::kUnsent}, N,  Y,       N,    N,          kRetry},
      {{S::kNotLeader, S::kBusy, S::kUnsent}, N,  Y,       Y,    _,          kUnknown},
      {{S::kNotLeader, S::kBusy, S::kUnsent}, N,  Y,       N,    Y,          kUnknown},
      // (a registration: no session of its can end)
      {{S::kNotLeader, S::kBusy, S::kUnsent}, Y,  N,       _,    N,          kRetry},
      {{S::kNotLeader, S::kBusy, S::kUnsent}, Y,  N,       _,    Y,          kFailed},
      {{S::kNotLeader, S::kBusy, S::kUnsent}, Y,  Y,       _,    N,          kRetry},
      {{S::kNotLeader, S::kBusy, S::kUnsent}, Y,  Y,       _,    Y,          kUnknown},
      // This attempt may have been proposed: never failed from here on.
      {{S::kUnknown, S::kMaybeSent},          N,  _,       N,    N,          kRetry},
      {{S::kUnknown, S::kMaybeSent},          N,  _,       Y,    _,          kUnknown},
      {{S::kUnknown, S::kMaybeSent},          N,  _,       N,    Y,          kUnknown},
      {{S::kUnknown, S::kMaybeSent},          Y,  _,       _,    N,          kRetry},
      {{S::kUnknown, S::kMaybeSent},          Y,  _,       _,    Y,          kUnknown},
  };
  // clang-format on
  return rows;
}

bool RowMatches(const Row& row, Seen seen, bool registration, CommandFacts before) {
  bool seen_matches = false;
  for (Seen s : row.seen) seen_matches = seen_matches || s == seen;
  return seen_matches && Matches(row.registration, registration) &&
         Matches(row.proposed, before.maybe_proposed) && Matches(row.ended, before.session_ended) &&
         Matches(row.deadline, before.deadline_passed);
}

// Runs `check` on every input the rule can get.
template <typename Check>
void ForEveryCase(Check check) {
  for (Seen seen : kAllSeen) {
    for (const AttemptResult& result : WireResults(seen)) {
      for (bool registration : {false, true}) {
        for (bool proposed : {false, true}) {
          for (bool ended : {false, true}) {
            for (bool deadline : {false, true}) {
              check(seen, result, registration, CommandFacts{proposed, ended, deadline});
            }
          }
        }
      }
    }
  }
}

std::string Describe(Seen seen, const AttemptResult& r, bool registration, CommandFacts f) {
  return std::string(Name(seen)) + " (call " + transport::CallStatusName(r.call) + ", maybe_sent " +
         std::to_string(r.maybe_sent) + ")" + (registration ? ", registration" : ", command") +
         ", proposed before " + std::to_string(f.maybe_proposed) + ", session ended " +
         std::to_string(f.session_ended) + ", deadline passed " + std::to_string(f.deadline_passed);
}

TEST(ClientOutcome, EveryCaseMatchesExactlyOneRowAndDecidesAsItSays) {
  int cases = 0;
  std::vector<int> used(Table().size(), 0);
  ForEveryCase([&](Seen seen, const AttemptResult& result, bool registration, CommandFacts before) {
    ++cases;
    std::vector<size_t> matching;
    for (size_t i = 0; i < Table().size(); ++i) {
      if (RowMatches(Table()[i], seen, registration, before)) matching.push_back(i);
    }
    std::string what = Describe(seen, result, registration, before);
    ASSERT_EQ(matching.size(), 1u) << what;
    ++used[matching[0]];
    NextStep step = DecideAfterAttempt(result, registration, before).step;
    EXPECT_EQ(step, Table()[matching[0]].step)
        << what << ": decided " << Name(step) << ", row " << matching[0] << " says "
        << Name(Table()[matching[0]].step);
  });
  EXPECT_EQ(cases, (16 + 10) * 2 * 2 * 2 * 2);
  for (size_t i = 0; i < used.size(); ++i) EXPECT_GT(used[i], 0) << "row " << i << " never used";
}

// The promise, checked on every case apart from the table: once some attempt
// may have been proposed, the command is never reported failed unless the
// state machine said it failed for good; and a command is never reported ok
// without the state machine's answer.
TEST(ClientOutcome, NeverFailedOnceItMayHaveBeenProposed) {
  ForEveryCase([&](Seen seen, const AttemptResult& result, bool registration, CommandFacts before) {
    AttemptDecision decision = DecideAfterAttempt(result, registration, before);
    std::string what = Describe(seen, result, registration, before);
    bool failed_for_good = seen == Seen::kApplyFailed || seen == Seen::kRefused;
    if (decision.maybe_proposed && !failed_for_good) {
      EXPECT_NE(decision.step, NextStep::kReportFailed) << what;
      // Re-sent under another sequence number, it could be applied twice.
      EXPECT_NE(decision.step, NextStep::kResendOnNewSession) << what;
    }
    EXPECT_EQ(decision.step == NextStep::kReportOk, seen == Seen::kOk) << what;
    if (registration) {
      EXPECT_NE(decision.step, NextStep::kResendOnNewSession) << what;
    }
  });
}

// What the client carries on knowing: an attempt may have been proposed when
// it may have left and its answer (if any) does not say it was not.
TEST(ClientOutcome, RemembersWhenAnAttemptMayHaveBeenProposed) {
  struct Case {
    Seen seen;
    bool proposed;  // this attempt may have been proposed
  };
  const Case cases[] = {
      {Seen::kOk, true},
      {Seen::kApplyFailed, true},
      {Seen::kRefused, true},
      {Seen::kNotLeader, false},
      {Seen::kBusy, false},
      {Seen::kUnknown, true},
      {Seen::kSessionExpired, false},
      {Seen::kError, false},
      {Seen::kUnsent, false},
      {Seen::kMaybeSent, true},
  };
  for (const Case& c : cases) {
    ForEveryCase(
        [&](Seen seen, const AttemptResult& result, bool registration, CommandFacts before) {
          if (seen != c.seen) return;
          EXPECT_EQ(DecideAfterAttempt(result, registration, before).maybe_proposed,
                    before.maybe_proposed || c.proposed)
              << Describe(seen, result, registration, before);
        });
  }
}

}  // namespace
}  // namespace synod::node
