// What a scenario step prints: messages and the state that moved, observed
// from outside a SimCluster through its public interface (and its
// SafetyChecker's record of what each replica made durable).
//
// Lines are short, deterministic (sorted by replica, no pointers, no time)
// and look like:
//   1->2 Accept b=1.1 slot=3 commit=2 "add 1 1 5"
//   2 persisted promised=1.1
//   2 persisted accepts b=1.1 slots 3
//   2 chosen 1..3
//   2 applied 3 "add 1 1 5"
// Not thread-safe; views are plain copies.
#pragma once

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "paxos/core.h"
#include "tests/sim/sim_cluster.h"

namespace synod::sim {

// One replica as a transcript sees it between two actions.
struct ReplicaView {
  bool up = false;
  paxos::Role role = paxos::Role::kFollower;
  paxos::Ballot leader_ballot;
  paxos::ReplicaId leader = paxos::kNoReplica;
  paxos::Slot chosen_point = 0;
  paxos::Slot last_slot = 0;
  paxos::Ballot promised;            // in memory (the durable one is below)
  std::vector<paxos::Slot> applied;  // SimCluster::AppliedSlots: since the last start
  paxos::Ballot durable_promise;
  std::set<std::pair<paxos::Slot, paxos::Ballot>> durable_accepts;
  std::set<paxos::Slot> durable_marks;
};

// Every replica of a cluster, indexed by id - 1.
using ClusterView = std::vector<ReplicaView>;

// Copies what a transcript reports of every replica of `cluster`.
ClusterView Observe(const SimCluster& cluster);

// Lines for what changed from `before` to `after` (both observed from
// `cluster`, `after` being its current state), replica by replica: restart,
// role, persisted promise / accepts / chosen marks, chosen point, applied
// slots with their values.
std::vector<std::string> DescribeChanges(const SimCluster& cluster, const ClusterView& before,
                                         const ClusterView& after);

// "1->2 Accept b=1.1 slot=3 commit=2 \"add 1 1 5\"": the message with its values.
std::string DescribeForTranscript(const paxos::Message& message);

// "noop" or the commands, each quoted: "\"add 1 1 5\"".
std::string DescribeValue(const paxos::ValuePtr& value);

// Every message queued in the manual-network mailbox, in queue order.
std::vector<paxos::Message> QueuedMessages(const SimCluster& cluster);

}  // namespace synod::sim
