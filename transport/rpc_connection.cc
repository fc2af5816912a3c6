// RpcConnection implementation.

#include "transport/rpc_connection.h"

#include <capnp/message.h>
#include <kj/debug.h>

namespace synod::transport {

namespace {
// Write backlog above which write() waits for the socket to drain.
constexpr size_t kWriteHighWater = 1u << 20;
}  // namespace

capnp::ReaderOptions ReaderOptionsFor(const Limits& limits) {
  capnp::ReaderOptions options;
  options.traversalLimitInWords = limits.max_message_bytes / sizeof(capnp::word);
  return options;
}

RpcConnection::RpcConnection(boost::asio::ip::tcp::socket socket, const Limits& limits,
                             Clock::duration write_stall_timeout,
                             capnp::Capability::Client bootstrap, size_t flow_limit_bytes)
    : stream_(kj::heap<AsioStream>(std::move(socket), kWriteHighWater, write_stall_timeout)),
      network_(kj::heap<capnp::TwoPartyVatNetwork>(*stream_, capnp::rpc::twoparty::Side::SERVER,
                                                   ReaderOptionsFor(limits))),
      rpc_(kj::heap(capnp::makeRpcServer(*network_, kj::mv(bootstrap)))) {
  rpc_->setFlowLimit(flow_limit_bytes / sizeof(capnp::word));
}

RpcConnection::RpcConnection(boost::asio::ip::tcp::socket socket, const Limits& limits,
                             Clock::duration write_stall_timeout)
    : stream_(kj::heap<AsioStream>(std::move(socket), kWriteHighWater, write_stall_timeout)),
      network_(kj::heap<capnp::TwoPartyVatNetwork>(*stream_, capnp::rpc::twoparty::Side::CLIENT,
                                                   ReaderOptionsFor(limits))),
      rpc_(kj::heap(capnp::makeRpcClient(*network_))) {}

RpcConnection::~RpcConnection() {
  // Stop RPC before the stream goes; the stream's destructor closes the socket.
  rpc_ = nullptr;
  network_ = nullptr;
  stream_->Close();
}

wire::Handshake::Client RpcConnection::Handshake() {
  capnp::word scratch[4] = {};
  capnp::MallocMessageBuilder message(scratch);
  auto vat_id = message.getRoot<capnp::rpc::twoparty::VatId>();
  vat_id.setSide(capnp::rpc::twoparty::Side::SERVER);
  return rpc_->bootstrap(vat_id).castAs<wire::Handshake>();
}

kj::Promise<void> RpcConnection::OnDisconnect() { return network_->onDisconnect(); }

}  // namespace synod::transport
