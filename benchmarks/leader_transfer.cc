#include "benchmarks/leader_transfer.h"

namespace synod::benchmarks {

// The client offers no leadership transfer yet.
bool LeaderTransferAvailable() { return false; }

std::string TransferLeader(const node::ClientOptions&, paxos::ReplicaId) {
  return "leadership transfer is not available in this build";
}

}  // namespace synod::benchmarks
