// Scenario runner: runs a transcript file of steps against a SimCluster in
// manual-network mode (in the style of etcd-raft's datadriven testdata).
//
// File format. '#' starts a comment (whole line or after a command). Each
// step is a command line, a line "----", then the expected output up to the
// next blank line (or a comment or `expect` line, or the end of the file):
//
//   propose 1 add 1 1 5
//   ----
//   accepted
//   1 persisted accepts b=1.1 slots 1
//   1->2 Accept b=1.1 slot=1 commit=0 "add 1 1 5"
//
// The output is what the step moved, printed by the runner (transcript.h,
// scenario_steps.h); it must match line for line. `expect` lines are
// assertions and take no output block: they fail the run at once, and a
// rewrite never changes them.
//
// Commands (replica arguments are ids; FROM / TO / KIND may be '*' for any):
//   cluster N [max-page-entries=K]
//                                first step: N replicas, staggered timeouts
//                                (replica r times out after 10 + 3(r-1) ticks),
//                                K entries per promise page (default 256)
//   tick R|all N                 tick replica R (or all, round-robin) N times
//   run N [R]                    N rounds of: tick all (or only R) once, then
//                                stabilize; prints the net effect and counts
//                                the messages sent ("1->2 Heartbeat x5")
//   stabilize                    deliver queued messages, oldest first, until
//                                none are left
//   deliver FROM TO KIND [slot=S]  deliver the matching messages queued now
//   drop FROM TO KIND [slot=S]   drop matching queued messages
//   dup FROM TO KIND [slot=S]    queue a copy of each matching message
//   propose R TEXT...            offer one command (e.g. "add 1 1 5"); prints
//                                accepted | busy | not-leader [hint=L]
//   crash R | restart R | pause R | resume R
//   isolate R                    cut every link to and from R
//   heal                         restore every link
//   expect leader R              R is the only live leader
//   expect role R ROLE           follower | pre-candidate | candidate | leader
//   expect promised R ROUND.ID   R's promised ballot
//   expect chosen R N            R's contiguous chosen point is N
//   expect value R S TEXT|noop|none   what R holds as chosen at slot S
//   expect counter R N           R's applied counter value
//   expect mailbox N             N messages queued
//   expect queued FROM TO KIND N N queued messages match
// Safety properties (SafetyChecker) are checked throughout.
#pragma once

#include <string>
#include <vector>

namespace synod::sim {

struct ScenarioResult {
  // "line N: what failed": a failed expectation, a malformed line or a safety
  // violation (the run stops there); empty if none.
  std::string error;
  // One entry per step whose output differs from its expected block (or has
  // none): the step's line, its command and a diff.
  std::vector<std::string> mismatches;
  // The text with every output block replaced by what the run printed
  // (comments, blank lines and expectations kept as they are). Complete only
  // if `error` is empty.
  std::string rewritten;
};

// Runs the scenario text.
ScenarioResult RunScenario(const std::string& text);

// A diff of two blocks of lines: every line, prefixed "  " (both), "- "
// (expected only) or "+ " (actual only).
std::string DiffLines(const std::vector<std::string>& expected,
                      const std::vector<std::string>& actual);

}  // namespace synod::sim
