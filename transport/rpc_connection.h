// RpcConnection: one TCP connection running Cap'n Proto two-party RPC over an
// AsioStream, with the receive limits applied. Internal to transport/.
//
// Owns, in teardown order: the RpcSystem, the TwoPartyVatNetwork, the stream.
// Network thread only. Destroying it closes the connection and fails every
// call in flight on it.
#pragma once

#include <capnp/rpc-twoparty.h>
#include <kj/async.h>

#include <boost/asio/ip/tcp.hpp>

#include "transport/asio_stream.h"
#include "transport/synod.capnp.h"
#include "transport/types.h"

namespace synod::transport {

class RpcConnection {
 public:
  // Server side: serves `bootstrap` to the other end.
  RpcConnection(boost::asio::ip::tcp::socket socket, const Limits& limits,
                Clock::duration write_stall_timeout, capnp::Capability::Client bootstrap,
                size_t flow_limit_bytes);
  // Client side: call Handshake() to reach the other end's bootstrap.
  RpcConnection(boost::asio::ip::tcp::socket socket, const Limits& limits,
                Clock::duration write_stall_timeout);
  ~RpcConnection();
  RpcConnection(const RpcConnection&) = delete;
  RpcConnection& operator=(const RpcConnection&) = delete;

  // The server's Handshake capability (client side only).
  wire::Handshake::Client Handshake();

  // Resolves when the connection is lost (either side, any reason).
  kj::Promise<void> OnDisconnect();

  // Closes the socket at once; calls in flight fail.
  void Close() { stream_->Close(); }

  AsioStream& stream() { return *stream_; }

 private:
  kj::Own<AsioStream> stream_;
  kj::Own<capnp::TwoPartyVatNetwork> network_;
  kj::Own<capnp::RpcSystem<capnp::rpc::twoparty::VatId>> rpc_;
};

// Reader options for incoming messages under `limits`.
capnp::ReaderOptions ReaderOptionsFor(const Limits& limits);

}  // namespace synod::transport
