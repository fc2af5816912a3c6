// The set of replicas that vote, and the quorum rule over them.
//
// Quorums are always computed from a Configuration, never from a constant, so
// that membership change can later put a new configuration in the log.
#pragma once

#include <string>
#include <vector>

#include "paxos/types.h"

namespace synod::paxos {

// An immutable list of voting members (distinct, non-zero ids) with majority quorums.
class Configuration {
 public:
  // Requires: members non-empty, ids distinct and non-zero (checked: throws
  // std::invalid_argument naming the problem).
  explicit Configuration(std::vector<ReplicaId> members);

  const std::vector<ReplicaId>& members() const { return members_; }
  bool Contains(ReplicaId id) const;
  // Smallest number of members that forms a quorum (a strict majority).
  size_t QuorumSize() const { return quorum_size_; }
  bool IsQuorum(size_t votes) const { return votes >= quorum_size_; }

  // Test-only hook for deliberately broken variants: overrides the quorum size.
  // Used by the simulator's --break small-quorum to prove it catches the bug.
  Configuration WithQuorumSizeForTesting(size_t quorum_size) const;

 private:
  std::vector<ReplicaId> members_;
  size_t quorum_size_;
};

}  // namespace synod::paxos
