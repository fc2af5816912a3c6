// Scenario runner: executes a small text file of steps and expectations
// against a SimCluster in manual-network mode (etcd-raft style scenario tests).
//
// One command per line; '#' starts a comment. Replica arguments are ids or
// '*' (any). Commands:
//   cluster N                    first line: N replicas, staggered timeouts
//                                (replica r times out after 10 + 3(r-1) ticks)
//   tick R|all N                 tick replica R (or all, round-robin) N times
//   run N                        N rounds of: tick all once, then stabilize
//   stabilize                    deliver queued messages until none are left
//   deliver FROM TO KIND [slot=S]  deliver matching queued messages (KIND or *)
//   drop FROM TO KIND [slot=S]   drop matching queued messages
//   dup FROM TO KIND [slot=S]    duplicate matching queued messages
//   propose R TEXT...            offer one command (e.g. "add 1 1 5")
//   crash R | restart R | pause R | resume R
//   isolate R                    cut every link to and from R
//   heal                         restore every link
//   expect leader R              R is the only live leader
//   expect role R ROLE           follower | pre-candidate | candidate | leader
//   expect promised R ROUND.ID   R's promised ballot
//   expect chosen R N            R's contiguous chosen point is N
//   expect value R S TEXT|noop|none   what R holds as chosen at slot S
//   expect counter R N           R's applied counter value
//   expect propose-result R RESULT TEXT...  accepted | not-leader
//   expect mailbox N             N messages queued
//   expect queued FROM TO KIND N N queued messages match
// Safety properties (SafetyChecker) are checked throughout.
#pragma once

#include <string>

namespace synod::sim {

// Runs the scenario text. Returns "" on success, else "line N: what failed".
std::string RunScenario(const std::string& text);

}  // namespace synod::sim
