// SayPeerHello implementation.

#include "transport/peer_hello.h"

#include <string>

#include "transport/internal_error.h"

namespace synod::transport {

kj::Promise<PeerHello> SayPeerHello(RpcConnection& conn, ClusterId cluster_id,
                                    paxos::ReplicaId self, paxos::ReplicaId expected_server,
                                    ClusterId member_list_id) {
  auto request = conn.Handshake().helloRequest();
  request.setClusterId(cluster_id);
  request.setMemberListId(member_list_id);
  request.setFromReplica(self);
  request.setRole(wire::ConnectionRole::PEER);
  return request.send().then(
      [expected_server](capnp::Response<wire::Handshake::HelloResults>&& response) {
        return CallOrExitUnlessKj("a peer hello", [&] {
          PeerHello hello;
          HandshakeInfo& info = hello.info;
          info.accepted = response.getAccepted();
          info.reason = response.getReason().cStr();
          info.server_replica = response.getServerReplica();
          info.server_cluster = response.getServerCluster();
          info.has_history = response.getHasHistory();
          info.server_members = response.getServerMembers().cStr();
          if (info.accepted && expected_server != paxos::kNoReplica &&
              info.server_replica != expected_server) {
            info.accepted = false;
            info.reason = "answered as replica " + std::to_string(info.server_replica) +
                          ", expected " + std::to_string(expected_server);
          }
          if (info.accepted && !response.hasPeer()) {
            info.accepted = false;
            info.reason = "accepted without a peer capability";
          }
          if (info.accepted) hello.peer = response.getPeer();
          return hello;
        });
      });
}

}  // namespace synod::transport
