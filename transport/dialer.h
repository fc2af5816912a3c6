// Dialer: opens one connection to a replica, as a client or as a peer:
// resolve the host, connect over TCP, say hello, all under one deadline. And
// Backoff, the delays between a link's attempts. Internal to transport/; the
// one copy of this logic, used by ClientConnection, PeerNetwork and
// SnapshotFetcher.
#pragma once

#include <capnp/capability.h>
#include <kj/async.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <memory>

#include "paxos/types.h"
#include "transport/event_loop.h"
#include "transport/exit_on_task_error.h"
#include "transport/rpc_connection.h"
#include "transport/synod.capnp.h"
#include "transport/types.h"
#include "util/status.h"

namespace synod::transport {

// What one connection attempt says in its hello, and to whom.
struct DialOptions {
  // The replica to reach. server.id, unless kNoReplica, must be the replica
  // that answers: another one's acceptance counts as a refusal.
  PeerEndpoint server;
  wire::ConnectionRole role = wire::ConnectionRole::PEER;
  ClusterId cluster_id = 0;
  ClusterId member_list_id = 0;               // stated in the hello; 0: none
  paxos::ReplicaId self = paxos::kNoReplica;  // kNoReplica for a client
  Limits limits;
  Clock::duration connect_timeout = std::chrono::milliseconds(2000);  // resolve + connect + hello
  Clock::duration write_stall_timeout = std::chrono::milliseconds(30000);
  // The kFeature* bits stated in the hello. Always kFeatures in production;
  // tests state fewer to play an older build.
  uint32_t features = kFeatures;
};

// An attempt whose hello was answered.
struct Dialed {
  // The answer. Counts as refused (accepted false, reason set) also when the
  // server accepted as another replica than DialOptions::server.id, or
  // without the capability of the role (PeerService / ClientService).
  HandshakeInfo info;
  // Set iff info.accepted: the open connection, and the capability the hello
  // granted (castAs<wire::PeerService> or <wire::ClientService> by role). The
  // new owner must drop `service` before `conn`.
  kj::Own<RpcConnection> conn;
  kj::Maybe<capnp::Capability::Client> service;
};

// One connection attempt at a time. Threading: network thread only
// (constructor, methods, destructor; `done` runs there). Destroy it or call
// Cancel from an Asio handler or the owner's code, never from inside a KJ
// callback of its own attempt (the Dialer never calls `done` from one).
class Dialer {
 public:
  // ok: the server answered the hello (accepted or not: see Dialed).
  // Not ok (Status::Code::kUnavailable): no answer; the message names the
  // step: "resolve <host>: ...", "connect: ...", "hello failed: ..." (the
  // connection was lost or closed during the hello) or "no handshake within
  // connect_timeout".
  using Done = std::function<void(Result<Dialed> result)>;

  explicit Dialer(EventLoop& loop);
  // Cancels an attempt in flight (its `done` is not called).
  ~Dialer();
  Dialer(const Dialer&) = delete;
  Dialer& operator=(const Dialer&) = delete;

  // Starts an attempt; cancels one in flight first (without calling its
  // `done`). `done` runs exactly once, from an Asio handler (never inside
  // Dial, never inside a KJ callback), unless Cancel or the destructor comes
  // first. It must not be empty; it may call Dial again or destroy the Dialer.
  void Dial(DialOptions options, Done done);

  // Stops the attempt in flight, if any (closing its socket or connection);
  // its `done` is not called.
  void Cancel();

  // An attempt is in flight.
  bool busy() const { return done_ != nullptr; }

 private:
  // The hello's answer, before the connection is handed over.
  struct Answer {
    HandshakeInfo info;
    kj::Maybe<capnp::Capability::Client> service;
  };

  void OnConnected(uint64_t gen);
  void AnswerLater(uint64_t gen, Answer answer);
  void FailLater(uint64_t gen, Status status);
  // Ends attempt `gen` (if still current) and calls its `done`.
  void Finish(uint64_t gen, Result<Answer> answer);
  void Reset();  // closes everything of the attempt; bumps the generation

  EventLoop& loop_;
  boost::asio::ip::tcp::resolver resolver_;
  boost::asio::steady_timer deadline_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  uint64_t generation_ = 0;  // bumped by every Reset; stale handlers compare it
  DialOptions options_;
  Done done_;
  std::shared_ptr<boost::asio::ip::tcp::socket> socket_;  // while connecting (co-owned)
  ExitOnTaskError task_errors_;
  kj::Own<RpcConnection> conn_;  // once connected, until handed over or closed
  kj::Own<kj::TaskSet> tasks_;   // the hello call
};

// Exponential back-off between a link's connection attempts: the first
// delay is `initial`, each next one twice the one before, never above `max`.
// Value type; one owner.
class Backoff {
 public:
  Backoff(Clock::duration initial, Clock::duration max);

  // The delay before the next attempt; doubles the delay after it (capped).
  Clock::duration Next();
  // The next delay is `initial` again (after an accepted hello).
  void Reset() { next_ = initial_; }
  // The next delay is `max` (the server answered and refused: no hurry).
  void ToMax() { next_ = max_; }

 private:
  Clock::duration initial_;
  Clock::duration max_;
  Clock::duration next_;
};

}  // namespace synod::transport
