// Interfaces a Server dispatches to: Paxos messages from peers and client
// requests. Implemented by the replica runtime (node/).
//
// Threading: every method is called on the network thread (the EventLoop's),
// and every callback handed out must be invoked and destroyed there too.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "paxos/message.h"
#include "transport/types.h"

namespace synod::transport {

// Receives Paxos messages from authenticated peers: from the Server (in
// peers' deliver() calls) and, with a ReturnPath, from PeerNetwork (in the
// returns of our calls). Each of the two ways keeps a peer's order; together
// they may reorder (Paxos tolerates it). `message.from` is the handshaken
// peer and `message.to` this replica (both are checked).
class PeerMessageHandler {
 public:
  virtual ~PeerMessageHandler() = default;
  // Must not block and must not destroy the Server.
  virtual void OnPeerMessage(paxos::Message message) = 0;
};

// Completes one submit() call. Call it at most once, on the network thread,
// with one outcome per command. Calling it after the client went away is a
// harmless no-op; destroying it uncalled fails the client's call with an error.
using SubmitDone = std::function<void(ClientReply reply)>;

// Completes one transferLeader() call, as SubmitDone does a submit() call.
using TransferDone = std::function<void(TransferReply reply)>;

// Completes one changeMembers() call, as SubmitDone does a submit() call.
using ChangeDone = std::function<void(ChangeReply reply)>;

// Serves client requests. Answers are asynchronous: OnSubmit may return at
// once and call `done` later (e.g. once the commands are chosen and applied).
class ClientRequestHandler {
 public:
  virtual ~ClientRequestHandler() = default;
  // `commands` are opaque envelopes (at least one). If `done` gets a reply
  // with the wrong number of outcomes, the client receives kError outcomes.
  virtual void OnSubmit(std::vector<std::string> commands, SubmitDone done) = 0;
  // This replica's status, answered synchronously.
  virtual ReplicaStatus OnStatus() = 0;
  // Leadership transfer to `target` (transferLeader()): call `done` once,
  // when the transfer ended or was refused (TransferReply). The default
  // refuses: handlers that do not lead a Paxos core cannot transfer.
  virtual void OnTransferLeader(paxos::ReplicaId target, TransferDone done) {
    (void)target;
    done(TransferReply{TransferStatus::kBusy, paxos::kNoReplica,
                       "this server does not support leadership transfer"});
  }
  // One configuration change (changeMembers()): call `done` once, when the
  // change took effect, was refused, or its fate became unknown (ChangeReply).
  // The default refuses (kInvalid): handlers that do not lead a Paxos core
  // cannot change its configuration.
  virtual void OnChangeMembers(MemberChange change, ChangeDone done) {
    (void)change;
    ChangeReply reply;
    reply.status = ChangeStatus::kInvalid;
    reply.reason = "this server does not support membership changes";
    done(std::move(reply));
  }
};

}  // namespace synod::transport
