// EventLoop: one thread runs both Boost.Asio's io_context and the KJ event
// loop that Cap'n Proto needs (see docs/transport.md, "Threading model").
//
// The KJ loop is driven by a kj::EventPort whose work is posted into the
// io_context, so Asio timers, sockets, Cap'n Proto RPC and whatever the owner
// runs on this thread (the Paxos core) share one thread without locks.
//
// Errors: an exception escaping a handler (Asio's or KJ's) while Run,
// RunUntil, RunFor or the destructor runs them is an internal failure: the
// process ends there (transport/internal_error.h, exit 70), without unwinding
// the caller's objects.
//
// Threading: construct, run and destroy on one thread (the "network
// thread"); at most one EventLoop per thread (a KJ rule). Only Post() and
// Stop() may be called from other threads. Every transport object (Server,
// PeerNetwork, ClientConnection) takes an EventLoop& and must be destroyed
// before it.
#pragma once

#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>

#include "transport/types.h"

namespace synod::transport {

class EventLoop {
 public:
  // Creates the io_context and a KJ event loop bound to the calling thread.
  EventLoop();
  // Drains cancelled Asio handlers, then tears down the KJ loop, then the
  // io_context (the order Cap'n Proto objects need).
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // The io_context for the owner's own timers and sockets. Network thread only
  // (posting to it is fine from any thread).
  boost::asio::io_context& io();

  // Runs handlers until Stop() is called. Network thread only.
  void Run();
  // Makes Run() return soon. Any thread.
  void Stop();
  // Queues `fn` to run on the network thread. Any thread; never blocks.
  void Post(std::function<void()> fn);

  // Runs handlers until `done()` returns true (checked after each handler) or
  // `timeout` elapses. Returns done()'s last value. Network thread only; for
  // tests, tools and simple mains.
  bool RunUntil(const std::function<bool()>& done, Clock::duration timeout);
  // Runs handlers for `duration`, then returns. Network thread only.
  void RunFor(Clock::duration duration);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace synod::transport
