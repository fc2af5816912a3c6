// The peer side of the handshake, shared by PeerNetwork and SnapshotFetcher.
// Internal to transport/.
#pragma once

#include <kj/async.h>

#include "paxos/types.h"
#include "transport/rpc_connection.h"
#include "transport/synod.capnp.h"
#include "transport/types.h"

namespace synod::transport {

// What a hello as a peer produced: the server's answer and, if it accepted us
// as the expected replica, its PeerService capability.
struct PeerHello {
  HandshakeInfo info;
  kj::Maybe<wire::PeerService::Client> peer;  // set iff info.accepted
};

// Says hello on `conn` as replica `self` of `cluster_id` in the PEER role,
// stating the member-list hash `member_list_id` (0: none).
// The answer counts as refused (info.accepted false, info.reason set) if the
// server refused, answered as another replica than `expected_server`
// (kNoReplica: any), or accepted without a peer capability. The promise fails
// only if the call itself fails (connection lost). Network thread only; `conn`
// must outlive the promise.
kj::Promise<PeerHello> SayPeerHello(RpcConnection& conn, ClusterId cluster_id,
                                    paxos::ReplicaId self, paxos::ReplicaId expected_server,
                                    ClusterId member_list_id = 0);

}  // namespace synod::transport
