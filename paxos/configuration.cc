#include "paxos/configuration.h"

#include <algorithm>
#include <stdexcept>

namespace synod::paxos {

Configuration::Configuration(std::vector<ReplicaId> members) : members_(std::move(members)) {
  if (members_.empty()) throw std::invalid_argument("configuration has no members");
  std::vector<ReplicaId> sorted = members_;
  std::sort(sorted.begin(), sorted.end());
  if (sorted.front() == kNoReplica) throw std::invalid_argument("replica id 0 is reserved");
  if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) {
    throw std::invalid_argument("configuration lists a replica id twice");
  }
  members_ = sorted;
  quorum_size_ = members_.size() / 2 + 1;
}

bool Configuration::Contains(ReplicaId id) const {
  return std::binary_search(members_.begin(), members_.end(), id);
}

Configuration Configuration::WithQuorumSizeForTesting(size_t quorum_size) const {
  Configuration copy = *this;
  copy.quorum_size_ = quorum_size;
  return copy;
}

}  // namespace synod::paxos
