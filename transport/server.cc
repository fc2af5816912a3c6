// Server implementation: accept loop, per-connection handshake, dispatch.

#include "transport/server.h"

#include <kj/debug.h>

#include <algorithm>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <map>

#include "transport/codec.h"
#include "transport/exit_on_task_error.h"
#include "transport/internal_error.h"
#include "transport/logging.h"
#include "transport/rpc_connection.h"

namespace synod::transport {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

// Holds the fulfiller of one submit() call; shared by the SubmitDone callback.
struct PendingSubmit {
  kj::Own<kj::PromiseFulfiller<kj::Own<ClientReply>>>
      fulfiller;  // by pointer: see client_connection.cc
};

// Serves Base's methods. Cap'n Proto turns an exception thrown by a method
// into the call's error; that is right for a kj::Exception (the call's own
// failure: bad input, shutdown) and wrong for anything else (std::bad_alloc,
// a bug), which ends the process instead (internal_error.h).
template <typename Base>
class ExitOnInternalErrors : public Base {
 public:
  capnp::Capability::Server::DispatchCallResult dispatchCall(
      uint64_t interface_id, uint16_t method_id,
      capnp::CallContext<capnp::AnyPointer, capnp::AnyPointer> context) override {
    return CallOrExitUnlessKj("an RPC method",
                              [&] { return Base::dispatchCall(interface_id, method_id, context); });
  }
};

}  // namespace

struct Server::Impl {
  // One accepted connection.
  struct Conn {
    Conn(uint64_t conn_id, asio::io_context& io) : id(conn_id), timer(io) {}
    uint64_t id;
    std::string remote;
    kj::Own<RpcConnection> rpc;
    asio::steady_timer timer;  // handshake deadline, then refusal linger
    bool handshaken = false;
    bool refused = false;
  };

  class PeerImpl;
  class ClientImpl;
  class HandshakeImpl;

  Impl(EventLoop& l, ServerOptions o, PeerMessageHandler* p, ClientRequestHandler* c)
      : loop(l),
        options(std::move(o)),
        peer_handler(p),
        client_handler(c),
        log(LoggerOrDefault(options.logger)),
        acceptor(l.io()),
        alive(std::make_shared<bool>(true)) {}

  ~Impl() {
    *alive = false;
    boost::system::error_code ignored;
    acceptor.close(ignored);
    for (auto& [id, conn] : conns) conn->timer.cancel();
    conns.clear();  // RpcConnection teardown: RPC, then network, then stream
  }

  void Accept() {
    acceptor.async_accept([this, a = alive](const boost::system::error_code& ec, tcp::socket s) {
      if (!*a) return;
      if (ec == asio::error::operation_aborted) return;
      if (!ec) OnAccepted(std::move(s));
      Accept();
    });
  }

  void OnAccepted(tcp::socket socket) {
    ++stats.accepted;
    boost::system::error_code ec;
    auto endpoint = socket.remote_endpoint(ec);
    std::string remote =
        ec ? "?" : endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
    if (conns.size() >= options.max_connections) {
      ++stats.rejected_over_limit;
      log->warn("transport: closing connection from {}: {} connections open (limit)", remote,
                conns.size());
      socket.close(ec);
      return;
    }
    uint64_t id = next_id++;
    auto conn = std::make_unique<Conn>(id, loop.io());
    conn->remote = remote;
    conn->rpc =
        kj::heap<RpcConnection>(std::move(socket), options.limits, options.write_stall_timeout,
                                MakeHandshake(id), options.flow_limit_bytes);
    tasks.add(conn->rpc->OnDisconnect().then([this, id] { CloseLater(id); },
                                             [this, id](kj::Exception&&) { CloseLater(id); }));
    conn->timer.expires_after(options.handshake_timeout);
    conn->timer.async_wait([this, id, a = alive](const boost::system::error_code& wait_ec) {
      if (wait_ec || !*a) return;
      auto it = conns.find(id);
      if (it == conns.end() || it->second->handshaken) return;
      if (!it->second->refused) {
        ++stats.handshake_timeouts;
        log->warn("transport: closing connection from {}: no handshake within {} ms",
                  it->second->remote, options.handshake_timeout.count());
      }
      conns.erase(it);
    });
    conns.emplace(id, std::move(conn));
  }

  // Closes connection `id` from outside any KJ callback stack.
  void CloseLater(uint64_t id) {
    asio::post(loop.io(), [this, id, a = alive] {
      if (*a) conns.erase(id);
    });
  }

  Conn* Find(uint64_t id) {
    auto it = conns.find(id);
    return it == conns.end() ? nullptr : it->second.get();
  }

  capnp::Capability::Client MakeHandshake(uint64_t id);

  EventLoop& loop;
  ServerOptions options;
  PeerMessageHandler* peer_handler;
  ClientRequestHandler* client_handler;
  std::shared_ptr<spdlog::logger> log;
  tcp::acceptor acceptor;
  std::shared_ptr<bool> alive;
  std::map<uint64_t, std::unique_ptr<Conn>> conns;
  uint64_t next_id = 1;
  ServerStats stats;
  std::string snapshot_buffer;  // readSnapshot's read buffer (copied into the reply)
  ExitOnTaskError task_errors;
  kj::TaskSet tasks{task_errors};
};

// Peer capability of one handshaken connection from replica `from`.
class Server::Impl::PeerImpl final : public ExitOnInternalErrors<wire::PeerService::Server> {
 public:
  PeerImpl(Impl& impl, uint64_t conn, paxos::ReplicaId from)
      : impl_(impl), conn_(conn), from_(from), alive_(impl.alive) {}

  kj::Promise<void> deliver(DeliverContext context) override {
    if (!*alive_) return KJ_EXCEPTION(DISCONNECTED, "server shut down");
    std::vector<paxos::Message> messages;
    std::string error =
        DecodeMessages(context.getParams().getMessages(), impl_.options.limits, &messages);
    for (const paxos::Message& m : messages) {
      if (!error.empty()) break;
      if (m.from != from_) {
        error = "message from " + std::to_string(m.from) + " on the connection of replica " +
                std::to_string(from_);
      } else if (m.to != impl_.options.self) {
        error = "message to " + std::to_string(m.to) + " delivered to replica " +
                std::to_string(impl_.options.self);
      }
    }
    if (!error.empty()) {
      ++impl_.stats.bad_batches;
      impl_.log->warn("transport: closing connection of replica {}: bad batch: {}", from_, error);
      impl_.CloseLater(conn_);
      return KJ_EXCEPTION(FAILED, "bad batch", error.c_str());
    }
    impl_.stats.peer_messages += messages.size();
    context.releaseParams();
    // The handler runs the replica (core, storage, state machine): an
    // exception from it is an internal failure, not this call's error.
    CallOrExit("the peer message handler", [&] {
      for (paxos::Message& m : messages) impl_.peer_handler->OnPeerMessage(std::move(m));
    });
    // Answers to these messages may leave in this call's return.
    if (*alive_ && impl_.options.return_path != nullptr) {
      // Lets a Finish or a disconnect drop the held promise, so the
      // ReturnPath sees the caller is gone (capnp 0.9 otherwise keeps it).
      context.allowCancellation();
      return impl_.options.return_path->Hold(from_, context);
    }
    return kj::READY_NOW;
  }

  kj::Promise<void> snapshotInfo(SnapshotInfoContext context) override {
    if (!*alive_) return KJ_EXCEPTION(DISCONNECTED, "server shut down");
    SnapshotProvider* provider = impl_.options.snapshot_provider;
    if (provider == nullptr) return KJ_EXCEPTION(FAILED, "this server serves no snapshots");
    auto results = context.getResults();
    std::optional<snapshot::SnapshotMeta> latest = provider->LatestSnapshot();
    results.setFound(latest.has_value());
    if (latest) {
      results.setAppliedSlot(latest->applied_slot);
      results.setSizeBytes(latest->size_bytes);
      results.setCrc32c(latest->crc32c);
    }
    return kj::READY_NOW;
  }

  kj::Promise<void> readSnapshot(ReadSnapshotContext context) override {
    if (!*alive_) return KJ_EXCEPTION(DISCONNECTED, "server shut down");
    SnapshotProvider* provider = impl_.options.snapshot_provider;
    if (provider == nullptr) return KJ_EXCEPTION(FAILED, "this server serves no snapshots");
    auto params = context.getParams();
    snapshot::SnapshotMeta meta;
    meta.applied_slot = params.getAppliedSlot();
    meta.id = meta.applied_slot;
    meta.crc32c = params.getCrc32c();
    meta.size_bytes = params.getSizeBytes();
    size_t max = std::min<size_t>(params.getMaxBytes(), impl_.options.max_snapshot_chunk_bytes);
    bool gone = false;
    std::string error;
    std::string& data = impl_.snapshot_buffer;  // reused: one allocation per server
    if (!provider->ReadSnapshot(meta, params.getOffset(), max, data, &gone, &error)) {
      impl_.log->warn("transport: snapshot read for replica {} failed: {}", from_, error);
      return KJ_EXCEPTION(FAILED, "snapshot read failed", error.c_str());
    }
    auto results = context.getResults();
    results.setGone(gone);
    if (!gone) {
      ++impl_.stats.snapshot_reads;
      impl_.stats.snapshot_bytes_served += data.size();
      results.setData(
          capnp::Data::Reader(reinterpret_cast<const kj::byte*>(data.data()), data.size()));
    }
    return kj::READY_NOW;
  }

 private:
  Impl& impl_;
  uint64_t conn_;
  paxos::ReplicaId from_;
  std::shared_ptr<bool> alive_;
};

// Client capability of one handshaken connection.
class Server::Impl::ClientImpl final : public ExitOnInternalErrors<wire::ClientService::Server> {
 public:
  explicit ClientImpl(Impl& impl) : impl_(impl), alive_(impl.alive) {}

  kj::Promise<void> submit(SubmitContext context) override {
    if (!*alive_) return KJ_EXCEPTION(DISCONNECTED, "server shut down");
    auto list = context.getParams().getCommands();
    if (list.size() == 0) return KJ_EXCEPTION(FAILED, "submit with no commands");
    if (list.size() > impl_.options.limits.max_list_items) {
      return KJ_EXCEPTION(FAILED, "too many commands in one submit");
    }
    std::vector<std::string> commands;
    commands.reserve(list.size());
    for (capnp::Data::Reader c : list) {
      commands.emplace_back(reinterpret_cast<const char*>(c.begin()), c.size());
    }
    size_t count = commands.size();
    impl_.stats.client_commands += count;
    auto paf = kj::newPromiseAndFulfiller<kj::Own<ClientReply>>();
    auto pending = std::make_shared<PendingSubmit>();
    pending->fulfiller = kj::mv(paf.fulfiller);
    CallOrExit("the client request handler", [&] {
      impl_.client_handler->OnSubmit(std::move(commands), [pending](ClientReply reply) {
        if (pending->fulfiller.get() != nullptr && pending->fulfiller->isWaiting()) {
          pending->fulfiller->fulfill(kj::heap<ClientReply>(std::move(reply)));
        }
        pending->fulfiller = nullptr;
      });
    });
    return paf.promise.then([context, count](kj::Own<ClientReply> owned) mutable {
      CallOrExitUnlessKj("a submit reply", [&] {
        ClientReply& reply = *owned;
        if (reply.outcomes.size() != count) {
          std::string why = "handler answered " + std::to_string(reply.outcomes.size()) +
                            " outcomes for " + std::to_string(count) + " commands";
          reply.outcomes.assign(count, Outcome{OutcomeStatus::kError, why, 0});
        }
        EncodeClientReply(reply, context.getResults());
      });
    });
  }

  kj::Promise<void> status(StatusContext context) override {
    if (!*alive_) return KJ_EXCEPTION(DISCONNECTED, "server shut down");
    ReplicaStatus status =
        CallOrExit("the status handler", [&] { return impl_.client_handler->OnStatus(); });
    EncodeStatus(status, context.getResults().initStatus());
    return kj::READY_NOW;
  }

 private:
  Impl& impl_;
  std::shared_ptr<bool> alive_;
};

// Bootstrap capability of one connection.
class Server::Impl::HandshakeImpl final : public ExitOnInternalErrors<wire::Handshake::Server> {
 public:
  HandshakeImpl(Impl& impl, uint64_t conn) : impl_(impl), conn_(conn), alive_(impl.alive) {}

  kj::Promise<void> hello(HelloContext context) override {
    if (!*alive_) return KJ_EXCEPTION(DISCONNECTED, "server shut down");
    Conn* conn = impl_.Find(conn_);
    if (conn == nullptr) return KJ_EXCEPTION(DISCONNECTED, "connection closed");
    auto params = context.getParams();
    auto results = context.getResults();
    results.setServerReplica(impl_.options.self);
    results.setServerCluster(impl_.options.cluster_id);
    results.setHasHistory(impl_.options.has_history &&
                          CallOrExit("has_history", [&] { return impl_.options.has_history(); }));

    std::string reason = Check(*conn, params);
    if (!reason.empty()) {
      ++impl_.stats.refused_handshakes;
      impl_.log->warn("transport: refused connection from {} (replica {}, cluster {:016x}): {}",
                      conn->remote, params.getFromReplica(), params.getClusterId(), reason);
      conn->refused = true;
      results.setAccepted(false);
      results.setReason(reason);
      // Keep the connection just long enough for the reply to leave.
      conn->timer.cancel();
      conn->timer.expires_after(impl_.options.refusal_linger);
      conn->timer.async_wait(
          [&impl = impl_, id = conn_, a = alive_](const boost::system::error_code& ec) {
            if (!ec && *a) impl.conns.erase(id);
          });
      return kj::READY_NOW;
    }
    conn->handshaken = true;
    conn->timer.cancel();
    results.setAccepted(true);
    if (params.getRole() == wire::ConnectionRole::PEER) {
      results.setPeer(kj::heap<PeerImpl>(impl_, conn_, params.getFromReplica()));
    } else {
      results.setClient(kj::heap<ClientImpl>(impl_));
    }
    return kj::READY_NOW;
  }

 private:
  std::string Check(const Conn& conn, wire::Handshake::HelloParams::Reader params) {
    if (conn.handshaken) return "hello repeated on one connection";
    if (conn.refused) return "connection already refused";
    if (params.getClusterId() != impl_.options.cluster_id) {
      return "wrong cluster id (this cluster is " + std::to_string(impl_.options.cluster_id) + ")";
    }
    switch (params.getRole()) {
      case wire::ConnectionRole::PEER: {
        if (impl_.peer_handler == nullptr) return "this server takes no peers";
        paxos::ReplicaId from = params.getFromReplica();
        const auto& peers = impl_.options.peers;
        if (from == impl_.options.self ||
            std::find(peers.begin(), peers.end(), from) == peers.end()) {
          return "unknown replica " + std::to_string(from);
        }
        return "";
      }
      case wire::ConnectionRole::CLIENT:
        if (impl_.client_handler == nullptr) return "this server takes no clients";
        return "";
    }
    return "unknown role";
  }

  Impl& impl_;
  uint64_t conn_;
  std::shared_ptr<bool> alive_;
};

capnp::Capability::Client Server::Impl::MakeHandshake(uint64_t id) {
  return kj::heap<HandshakeImpl>(*this, id);
}

Server::Server(EventLoop& loop, ServerOptions options, PeerMessageHandler* peer_handler,
               ClientRequestHandler* client_handler)
    : impl_(std::make_unique<Impl>(loop, std::move(options), peer_handler, client_handler)) {}

Server::~Server() = default;

std::string Server::Listen() {
  boost::system::error_code ec;
  asio::ip::address address = asio::ip::make_address(impl_->options.host, ec);
  if (ec) return "bad listen host '" + impl_->options.host + "': " + ec.message();
  tcp::endpoint endpoint(address, impl_->options.port);
  tcp::acceptor& acceptor = impl_->acceptor;
  if (acceptor.open(endpoint.protocol(), ec)) return "socket: " + ec.message();
  acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  std::string where = impl_->options.host + ":" + std::to_string(impl_->options.port);
  if (acceptor.bind(endpoint, ec)) return "bind " + where + ": " + ec.message();
  if (acceptor.listen(asio::socket_base::max_listen_connections, ec)) {
    return "listen " + where + ": " + ec.message();
  }
  impl_->Accept();
  return "";
}

uint16_t Server::port() const {
  boost::system::error_code ec;
  auto endpoint = impl_->acceptor.local_endpoint(ec);
  return ec ? 0 : endpoint.port();
}

void Server::SetClusterId(ClusterId cluster_id) { impl_->options.cluster_id = cluster_id; }

size_t Server::connection_count() const { return impl_->conns.size(); }

ServerStats Server::stats() const { return impl_->stats; }

}  // namespace synod::transport
