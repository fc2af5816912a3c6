// ReturnPath: answers a peer inside the return of that peer's latest
// deliver() call, instead of with a deliver() call of its own.
//
// Without it every Paxos message costs two TCP messages (the call and its
// empty return) and the answer to it two more: an Accept and its Accepted
// wake each side twice. The Server holds each peer's latest deliver() call
// open here (at most one per peer); when PeerNetwork has messages for that
// peer it puts them in that call's `replies` and completes it, and sends the
// rest in calls of its own. Paxos tolerates the reordering between the two
// ways.
//
// A held call is completed empty when a newer call from the same peer
// arrives, by the sweep after max_hold to 2 x max_hold (well under the
// caller's call deadline), or when the ReturnPath is destroyed. A call whose
// caller went away (Finish or disconnect: the Server allows cancellation of
// held calls) is skipped.
//
// Known limit: a process that says hello as replica N (a stale second
// instance of N, which the docs forbid) may be handed messages for N here,
// not only inject them as before.
//
// Threading: network thread only. Must outlive the Server and PeerNetwork
// that use it; destroy it before the EventLoop.
#pragma once

#include <kj/async.h>

#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>

#include "paxos/types.h"
#include "transport/event_loop.h"
#include "transport/synod.capnp.h"
#include "transport/types.h"

namespace synod::transport {

class ReturnPath {
 public:
  using DeliverContext =
      capnp::CallContext<wire::PeerService::DeliverParams, wire::PeerService::DeliverResults>;

  // One held call: fill `context.getResults()`, then fulfill.
  struct HeldCall {
    DeliverContext context;
    kj::Own<kj::PromiseFulfiller<void>> fulfiller;
  };

  explicit ReturnPath(EventLoop& loop,
                      std::chrono::milliseconds max_hold = std::chrono::milliseconds(20));
  ~ReturnPath();
  ReturnPath(const ReturnPath&) = delete;
  ReturnPath& operator=(const ReturnPath&) = delete;

  // Server side: holds `context` (a deliver() call from `from` whose messages
  // were handled) and returns the promise the call completes with. Completes
  // any call already held for `from` first, empty. Tells the observer.
  kj::Promise<void> Hold(paxos::ReplicaId from, DeliverContext context);

  // Sender side: the held call from `peer`, if one is live (no longer held
  // once returned). The caller must fill its results and fulfill it now.
  std::optional<HeldCall> Take(paxos::ReplicaId peer);

  // Called (network thread) after a call from `peer` is held, so queued
  // messages for it can leave in the return. Replaces any previous observer.
  void SetHeldObserver(std::function<void(paxos::ReplicaId peer)> observer);

  // Calls held right now (live or not yet found dead), for tests.
  size_t held_count() const { return held_.size(); }

 private:
  struct Held {
    HeldCall call;
    Clock::time_point since;
  };

  void ArmSweep();
  void Sweep();

  EventLoop& loop_;
  std::chrono::milliseconds max_hold_;
  std::map<paxos::ReplicaId, Held> held_;
  std::function<void(paxos::ReplicaId)> observer_;
  boost::asio::steady_timer sweep_timer_;
  bool sweep_armed_ = false;
  std::shared_ptr<bool> alive_;
};

}  // namespace synod::transport
