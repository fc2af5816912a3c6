// The one place synod-bench asks a cluster to hand leadership to a chosen
// replica (`synod-bench gap --event transfer`). Builds whose client cannot
// ask for a transfer say so through LeaderTransferAvailable().
#pragma once

#include <string>

#include "node/client.h"
#include "paxos/types.h"

namespace synod::benchmarks {

// True if this build's client can ask for a leadership transfer. While it is
// false, `gap --event transfer` exits 2 before starting a cluster.
bool LeaderTransferAvailable();

// Asks the cluster in `options` to make `target` its leader, as the
// `transfer-leader ID --members LIST` client command does, and blocks until
// the cluster answers or options.timeout passes. Returns "" once the answer
// names `target` as the leader ("leader=ID"), else why not. Called on the
// disruption driver's thread, which runs no EventLoop of its own while it
// waits: the function creates and destroys whatever loop and Client it needs.
std::string TransferLeader(const node::ClientOptions& options, paxos::ReplicaId target);

}  // namespace synod::benchmarks
