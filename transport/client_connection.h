// ClientConnection: a client's connection to one replica.
//
// Submit() queues one command; everything queued when the network thread
// next gets to run is coalesced into few submit() calls (bounded by bytes and
// count), with up to max_calls_in_flight calls outstanding. Each command has
// its own deadline. The connection is opened once, at construction; after it
// fails every pending command fails and the owner makes a new one (the client
// library layers leader hints, retries and sessions on top).
//
// Threading: network thread only. Callbacks run on the network thread, each
// exactly once (also when the ClientConnection is destroyed: kDisconnected).
#pragma once

#include <spdlog/logger.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "transport/event_loop.h"
#include "transport/types.h"

namespace synod::transport {

struct ClientConnectionOptions {
  ClusterId cluster_id = 0;
  PeerEndpoint server;  // server.id may be kNoReplica (accept any replica id)
  Limits limits;
  size_t max_calls_in_flight = 16;
  size_t max_commands_per_call = 4096;
  size_t max_queued_commands = 1u << 16;            // Submit() beyond this fails at once
  std::chrono::milliseconds connect_timeout{2000};  // TCP connect + hello
  std::chrono::milliseconds write_stall_timeout{30000};
  std::shared_ptr<spdlog::logger> logger;  // null: a private stderr logger
};

// How a submitted command ended, as far as the transport knows.
enum class CallStatus : uint8_t {
  kReplied,       // the replica answered; see SubmitResult::outcome
  kTimeout,       // the deadline passed
  kDisconnected,  // the connection failed or was closed
  kRefused,       // the handshake was refused (see ClientConnection::handshake())
  kOverloaded,    // too many commands queued locally; not sent
  kError,         // the call failed otherwise (e.g. a malformed reply)
};

// Short name of a call status, e.g. "timeout".
const char* CallStatusName(CallStatus status);

struct SubmitResult {
  CallStatus call = CallStatus::kError;
  // False only when the command certainly never reached the replica (so a
  // retry cannot apply it twice); true once it may have been sent.
  bool maybe_sent = false;
  Outcome outcome;  // valid when call == kReplied
  paxos::ReplicaId leader_hint = paxos::kNoReplica;
  std::string error;  // details when call != kReplied
};

class ClientConnection {
 public:
  using SubmitCallback = std::function<void(SubmitResult result)>;
  // `status` is set on success; otherwise `error` says why.
  using StatusCallback =
      std::function<void(std::optional<ReplicaStatus> status, const std::string& error)>;

  // Starts connecting to options.server.
  ClientConnection(EventLoop& loop, ClientConnectionOptions options);
  // Fails every pending command with kDisconnected.
  ~ClientConnection();
  ClientConnection(const ClientConnection&) = delete;
  ClientConnection& operator=(const ClientConnection&) = delete;

  // Queues `command`; `done` gets its result within about `timeout`.
  void Submit(std::string command, Clock::duration timeout, SubmitCallback done);

  // Asks the replica for its status.
  void QueryStatus(Clock::duration timeout, StatusCallback done);

  // `reply` is set when the replica answered; otherwise `error` says why
  // (`maybe_sent`: the call may have reached the replica, which may have
  // started the transfer).
  using TransferCallback = std::function<void(std::optional<TransferReply> reply, bool maybe_sent,
                                              const std::string& error)>;
  // Asks the replica to transfer leadership to `target` (transferLeader());
  // `done` runs once, when it answered (after the transfer ended) or within
  // about `timeout`.
  void TransferLeader(paxos::ReplicaId target, Clock::duration timeout, TransferCallback done);

  // `reply` is set when the replica answered; otherwise `error` says why
  // (`maybe_sent`: the call may have reached the replica, which may have
  // proposed the change).
  using ChangeCallback = std::function<void(std::optional<ChangeReply> reply, bool maybe_sent,
                                            const std::string& error)>;
  // Asks the replica for one configuration change (changeMembers()); `done`
  // runs once, when it answered (after the change took effect, was refused or
  // was lost) or within about `timeout`.
  void ChangeMembers(const MemberChange& change, Clock::duration timeout, ChangeCallback done);

  // True once the hello was accepted, until the connection fails.
  bool connected() const;
  // True once the connection failed or was closed (it is never reopened).
  bool failed() const;
  // The hello reply (default until one arrived).
  const HandshakeInfo& handshake() const;

  // Calls `done` (posted, once) with the hello reply when it arrives, accepted
  // or refused, or with what is known (default: no reply) if the connection
  // fails first or is destroyed; at once (posted) if either already happened.
  using HandshakeCallback = std::function<void(const HandshakeInfo& info)>;
  void WhenHandshaken(HandshakeCallback done);

  // Closes the connection; pending commands fail with kDisconnected.
  void Close();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace synod::transport
