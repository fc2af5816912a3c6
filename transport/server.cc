// Server implementation: accept loop, admission budgets, per-connection
// handshake, dispatch.

#include "transport/server.h"

#include <kj/debug.h>
#include <sys/resource.h>

#include <algorithm>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <map>
#include <set>
#include <tuple>
#include <utility>

#include "transport/codec.h"
#include "transport/exit_on_task_error.h"
#include "transport/internal_error.h"
#include "transport/logging.h"
#include "transport/rate_limited_log.h"
#include "transport/rpc_connection.h"

namespace synod::transport {

namespace asio = boost::asio;
using asio::ip::tcp;

static_assert(kFeatureRuntimeMembership == wire::FEATURE_RUNTIME_MEMBERSHIP);
static_assert(kFeatureRetiredAddresses == wire::FEATURE_RETIRED_ADDRESSES);

namespace {

// Holds the fulfiller of one submit() call; shared by the SubmitDone callback.
struct PendingSubmit {
  kj::Own<kj::PromiseFulfiller<kj::Own<ClientReply>>>
      fulfiller;  // by pointer: see client_connection.cc
};

// Holds the fulfiller of one call answered later by a handler
// (transferLeader(), changeMembers()); shared by its done callback.
template <typename Reply>
struct PendingReply {
  kj::Own<kj::PromiseFulfiller<kj::Own<Reply>>> fulfiller;
};

// A done callback that fulfils `pending` once; later calls are no-ops.
template <typename Reply>
std::function<void(Reply)> FulfilOnce(std::shared_ptr<PendingReply<Reply>> pending) {
  return [pending](Reply reply) {
    if (pending->fulfiller.get() != nullptr && pending->fulfiller->isWaiting()) {
      pending->fulfiller->fulfill(kj::heap<Reply>(std::move(reply)));
    }
    pending->fulfiller = nullptr;
  };
}

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
  // Which admission budget a connection counts in.
  enum class Budget {
    kPending,  // waiting for hello, or refused and lingering
    kMember,   // said hello as member `Conn::member`
    kClient,   // said hello as a client
    kNone,     // being closed (evicted)
  };

  // One accepted connection.
  struct Conn {
    Conn(uint64_t conn_id, asio::io_context& io) : id(conn_id), timer(io) {}
    uint64_t id;
    std::string remote;   // "address:port"
    std::string address;  // remote IP address (max_pending_per_address)
    kj::Own<RpcConnection> rpc;
    asio::steady_timer timer;  // handshake deadline, then refusal linger
    Budget budget = Budget::kPending;
    paxos::ReplicaId member = paxos::kNoReplica;  // kMember only
    uint64_t last_active = 0;  // kClient, kMember: activity sequence number (0: none yet)
    uint32_t features = 0;     // kMember: the features its hello stated
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
        rate_log(l.io(), log, options.log_summary_period),
        acceptor(l.io()),
        accept_timer(l.io()),
        alive(std::make_shared<bool>(true)) {}

  ~Impl() {
    *alive = false;
    boost::system::error_code ignored;
    acceptor.close(ignored);
    accept_timer.cancel();
    for (auto& [id, conn] : conns) conn->timer.cancel();
    conns.clear();  // RpcConnection teardown: RPC, then network, then stream
  }

  void Accept() {
    acceptor.async_accept([this, a = alive](const boost::system::error_code& ec, tcp::socket s) {
      if (!*a) return;
      if (ec == asio::error::operation_aborted) return;
      if (!ec) {
        OnAccepted(std::move(s));
        Accept();
        return;
      }
      OnAcceptError(ec);
    });
  }

  // accept() failed. Out of descriptors or memory, the failure would repeat at
  // once (the connection stays in the backlog): close one waiting connection
  // (none waiting: the least recently active client connection) and try
  // again after accept_retry_delay instead of spinning. Other errors
  // concern one connection only: accept again at once.
  void OnAcceptError(const boost::system::error_code& ec) {
    ++stats.accept_errors;
    int value = ec.value();
    bool out_of_resources =
        ec.category() == boost::system::system_category() &&
        (value == EMFILE || value == ENFILE || value == ENOBUFS || value == ENOMEM);
    Warn("accept-error", "transport: accept failed: " + ec.message() +
                             (out_of_resources ? " (retrying shortly)" : ""));
    if (!out_of_resources) {
      Accept();
      return;
    }
    if (pending > 0) {
      EvictOnePending(
          "transport: closing the oldest connection waiting for hello from {} ({} "
          "waiting from that address): out of file descriptors");
    } else if (!clients_by_activity.empty()) {
      ++stats.evicted_clients;
      uint64_t victim = clients_by_activity.begin()->second;
      Warn("client-limit",
           fmt::format("transport: closing the least recently active client connection ({}): "
                       "out of file descriptors",
                       conns.at(victim)->remote));
      Erase(victim);
    }
    accept_timer.expires_after(options.accept_retry_delay);
    accept_timer.async_wait([this, a = alive](const boost::system::error_code& wait_ec) {
      if (wait_ec || !*a) return;
      Accept();
    });
  }

  // Logs `text` at warn level, or counts it into the periodic summary of `kind`.
  void Warn(const std::string& kind, const std::string& text) { rate_log.Warn(kind, text); }

  // Decides whether a new connection from `address` (`remote`) may wait for
  // its hello. No if its address already has max_pending_per_address waiting,
  // or if the pool (max_pending_connections) is full and its address holds as
  // many as any: then it is closed at once, which costs the server almost
  // nothing, so a flood that reconnects as fast as it is closed cannot keep
  // the accept queue deep. Otherwise, with the pool full, the oldest waiting
  // connection of the address holding the most makes room: a connection from
  // an address outside the flood always gets its chance to say hello.
  bool AdmitPending(const std::string& address, const std::string& remote) {
    auto mine = pending_by_address.find(address);
    size_t count = mine == pending_by_address.end() ? 0 : mine->second.size();
    if (count >= std::max<size_t>(1, options.max_pending_per_address)) {
      ++stats.closed_at_accept;
      Warn("pending-per-address",
           fmt::format("transport: closing connection from {} at accept: {} from that address "
                       "waiting for hello (limit)",
                       remote, count));
      return false;
    }
    if (pending < std::max<size_t>(1, options.max_pending_connections)) return true;
    if (count >= MostPending()->second.size()) {
      ++stats.closed_at_accept;
      Warn("pending-limit",
           fmt::format("transport: closing connection from {} at accept: {} connections "
                       "waiting for hello (limit), {} of them from that address",
                       remote, pending, count));
      return false;
    }
    EvictOnePending(
        "transport: closing the oldest connection waiting for hello from {} ({} waiting from "
        "that address): too many connections waiting for hello (limit)");
    return true;
  }

  // The address with the most pending connections; among addresses holding
  // as many, the one with the oldest connection (end() if none).
  std::map<std::string, std::set<uint64_t>>::iterator MostPending() {
    auto most = pending_by_address.end();
    for (auto it = pending_by_address.begin(); it != pending_by_address.end(); ++it) {
      if (most == pending_by_address.end() || it->second.size() > most->second.size() ||
          (it->second.size() == most->second.size() &&
           *it->second.begin() < *most->second.begin())) {
        most = it;
      }
    }
    return most;
  }

  // Closes (now) the oldest pending connection of the address with the most
  // pending connections, logging `format` (remote, count). Asio handlers only.
  void EvictOnePending(const char* format) {
    auto most = MostPending();
    if (most == pending_by_address.end()) return;
    ++stats.evicted_pending;
    uint64_t victim = *most->second.begin();
    Warn("pending-limit",
         fmt::format(fmt::runtime(format), conns.at(victim)->remote, most->second.size()));
    Erase(victim);
  }

  // Removes `conn` from its budget's index (it then counts nowhere).
  void Unbudget(Conn& conn) {
    switch (conn.budget) {
      case Budget::kPending: {
        auto it = pending_by_address.find(conn.address);
        if (it != pending_by_address.end()) {
          it->second.erase(conn.id);
          if (it->second.empty()) pending_by_address.erase(it);
        }
        --pending;
        break;
      }
      case Budget::kMember: {
        auto it = member_conns.find(conn.member);
        if (it != member_conns.end()) {
          it->second.erase(conn.id);
          if (it->second.empty()) member_conns.erase(it);
        }
        break;
      }
      case Budget::kClient:
        clients_by_activity.erase({conn.last_active, conn.id});
        break;
      case Budget::kNone:
        break;
    }
    conn.budget = Budget::kNone;
  }

  // Moves a connection whose hello was accepted as member `from` into that
  // member's budget. At the limit one of the member's other connections is
  // closed: first one from an address other than the member's configured
  // host (options.members), then the least recently active (oldest first
  // among those never active), so a hello that merely claims to be the member
  // does not cut its busy link.
  void AdmitMember(Conn& conn, paxos::ReplicaId from) {
    Unbudget(conn);
    std::string host = MemberHost(from);
    for (;;) {  // looked up again each time: an eviction may erase the entry
      auto it = member_conns.find(from);
      if (it == member_conns.end() ||
          it->second.size() < std::max<size_t>(1, options.max_connections_per_member)) {
        break;
      }
      ++stats.evicted_members;
      uint64_t victim = 0;
      std::tuple<bool, uint64_t, uint64_t> best{true, UINT64_MAX, UINT64_MAX};
      for (uint64_t id : it->second) {
        const Conn& c = *conns.at(id);
        std::tuple<bool, uint64_t, uint64_t> key{c.address == host, c.last_active, id};
        if (key < best) {
          best = key;
          victim = id;
        }
      }
      Warn(
          fmt::format("member-limit/{}", from),
          fmt::format("transport: closing a connection of replica {} ({}, {}): {} open "
                      "from it (limit)",
                      from, conns.at(victim)->remote,
                      conns.at(victim)->last_active == 0 ? "never active" : "least recently active",
                      it->second.size()));
      EvictLater(victim);  // takes it out of member_conns
    }
    member_conns[from].insert(conn.id);
    conn.budget = Budget::kMember;
    conn.member = from;
  }

  // Moves a connection whose hello was accepted as a client into the clients'
  // budget, closing the least recently active client connection at the limit.
  void AdmitClient(Conn& conn) {
    Unbudget(conn);
    while (clients_by_activity.size() >= std::max<size_t>(1, options.max_client_connections)) {
      ++stats.evicted_clients;
      uint64_t victim = clients_by_activity.begin()->second;
      Warn("client-limit",
           fmt::format("transport: closing the least recently active client connection ({}): "
                       "{} client connections (limit)",
                       conns.at(victim)->remote, clients_by_activity.size()));
      EvictLater(victim);  // erases it from clients_by_activity
    }
    conn.last_active = ++activity;
    clients_by_activity.insert({conn.last_active, conn.id});
    conn.budget = Budget::kClient;
  }

  // Notes a call on client connection `id` (for least-recently-active eviction).
  void TouchClient(uint64_t id) {
    Conn* conn = Find(id);
    if (conn == nullptr || conn->budget != Budget::kClient) return;
    clients_by_activity.erase({conn->last_active, id});
    conn->last_active = ++activity;
    clients_by_activity.insert({conn->last_active, id});
  }

  // Notes a call on member connection `id` (AdmitMember keeps active ones).
  void TouchMember(uint64_t id) {
    Conn* conn = Find(id);
    if (conn != nullptr && conn->budget == Budget::kMember) conn->last_active = ++activity;
  }

  // The host of replica `id` in options.members ("1=host:port,..."), without
  // brackets; "" if not listed.
  std::string MemberHost(paxos::ReplicaId id) const {
    std::string prefix = std::to_string(id) + "=";
    const std::string& list = options.members;
    size_t at = 0;
    while (at < list.size()) {
      size_t end = list.find(',', at);
      if (end == std::string::npos) end = list.size();
      std::string entry = list.substr(at, end - at);
      at = end + 1;
      if (entry.rfind(prefix, 0) != 0) continue;
      std::string host = entry.substr(prefix.size());
      size_t colon = host.rfind(':');
      if (colon != std::string::npos) host.resize(colon);
      if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
      }
      return host;
    }
    return "";
  }

  // Takes connection `id` out of every budget now and closes it from an Asio
  // handler (safe inside KJ callbacks).
  void EvictLater(uint64_t id) {
    Conn* conn = Find(id);
    if (conn == nullptr) return;
    Unbudget(*conn);
    conn->timer.cancel();
    CloseLater(id);
  }

  // Closes connection `id` now. Asio handlers only (not inside KJ callbacks).
  void Erase(uint64_t id) {
    auto it = conns.find(id);
    if (it == conns.end()) return;
    Unbudget(*it->second);
    it->second->timer.cancel();
    conns.erase(it);  // RpcConnection teardown closes the socket
  }

  void OnAccepted(tcp::socket socket) {
    ++stats.accepted;
    boost::system::error_code ec;
    auto endpoint = socket.remote_endpoint(ec);
    std::string address = ec ? "?" : endpoint.address().to_string();
    std::string remote = ec ? "?" : address + ":" + std::to_string(endpoint.port());
    if (!AdmitPending(address, remote)) {
      socket.close(ec);
      return;
    }
    uint64_t id = next_id++;
    auto conn = std::make_unique<Conn>(id, loop.io());
    conn->address = address;
    conn->remote = remote;
    pending_by_address[address].insert(id);
    ++pending;
    conn->rpc =
        kj::heap<RpcConnection>(std::move(socket), options.limits, options.write_stall_timeout,
                                MakeHandshake(id), options.flow_limit_bytes);
    tasks.add(conn->rpc->OnDisconnect().then([this, id] { CloseLater(id); },
                                             [this, id](kj::Exception&&) { CloseLater(id); }));
    // Generous while the pool has room; short under a flood.
    std::chrono::milliseconds deadline = pending * 2 > options.max_pending_connections
                                             ? options.handshake_timeout_under_pressure
                                             : options.handshake_timeout;
    conn->timer.expires_after(deadline);
    conn->timer.async_wait(
        [this, id, a = alive, deadline](const boost::system::error_code& wait_ec) {
          if (wait_ec || !*a) return;
          auto it = conns.find(id);
          if (it == conns.end() || it->second->handshaken) return;
          if (!it->second->refused) {
            ++stats.handshake_timeouts;
            Warn("handshake-timeout",
                 fmt::format("transport: closing connection from {}: no hello within {} ms",
                             it->second->remote, deadline.count()));
          }
          Erase(id);
        });
    conns.emplace(id, std::move(conn));
  }

  // Closes connection `id` from outside any KJ callback stack.
  void CloseLater(uint64_t id) {
    asio::post(loop.io(), [this, id, a = alive] {
      if (*a) Erase(id);
    });
  }

  // If the open file limit cannot hold every budget at once, shrinks
  // max_client_connections, then max_pending_connections (to at most half of
  // what is left, at least 1 each), so that the members' budgets and
  // reserved_file_descriptors still fit; logs once. Accepts that still fail
  // with EMFILE are handled by OnAcceptError.
  void FitFileLimit() {
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return;
    uint64_t soft = limit.rlim_cur;
    uint64_t fixed = options.reserved_file_descriptors +
                     options.max_connections_per_member * options.peers.size();
    uint64_t needed = fixed + options.max_pending_connections + options.max_client_connections;
    if (soft >= needed) return;
    uint64_t room = soft > fixed ? soft - fixed : 0;
    size_t pending_max =
        std::max<uint64_t>(1, std::min<uint64_t>(options.max_pending_connections, room / 2));
    size_t clients_max =
        std::max<uint64_t>(1, std::min<uint64_t>(options.max_client_connections,
                                                 room > pending_max ? room - pending_max : 0));
    log->warn(
        "transport: open file limit {} is below the connection budgets ({} descriptors); "
        "serving at most {} client connections (configured {}) and {} waiting for hello "
        "(configured {})",
        soft, needed, clients_max, options.max_client_connections, pending_max,
        options.max_pending_connections);
    options.max_client_connections = clients_max;
    options.max_pending_connections = pending_max;
    options.max_pending_per_address = std::min(options.max_pending_per_address, pending_max);
  }

  Conn* Find(uint64_t id) {
    auto it = conns.find(id);
    return it == conns.end() ? nullptr : it->second.get();
  }

  bool IsRetired(paxos::ReplicaId id) const {
    return std::find(retired.begin(), retired.end(), id) != retired.end();
  }

  // `id` may connect as a peer: listed, not removed, not self.
  bool IsPeer(paxos::ReplicaId id) const {
    const auto& peers = options.peers;
    return id != options.self && !IsRetired(id) &&
           std::find(peers.begin(), peers.end(), id) != peers.end();
  }

  // Closes (from Asio handlers) the accepted connections of members that may
  // no longer connect as peers, and those whose hello lacked a required feature.
  void EvictFormerPeers() {
    std::vector<uint64_t> victims;
    for (const auto& [member, ids] : member_conns) {
      if (!IsPeer(member)) {
        log->info("transport: closing {} connection(s) of replica {}: {}", ids.size(), member,
                  IsRetired(member) ? "removed from the cluster" : "no longer a peer");
        victims.insert(victims.end(), ids.begin(), ids.end());
        continue;
      }
      for (uint64_t id : ids) {
        std::string why = MissingFeaturesReason(member, conns.at(id)->features, required_features);
        if (why.empty()) continue;
        log->warn("transport: closing a connection of replica {} ({}): {}", member,
                  conns.at(id)->remote, why);
        victims.push_back(id);
      }
    }
    for (uint64_t id : victims) EvictLater(id);
  }

  capnp::Capability::Client MakeHandshake(uint64_t id);

  EventLoop& loop;
  ServerOptions options;
  std::vector<paxos::ReplicaId> retired;  // SetRetired: hellos refused with removed = true
  paxos::Slot config_slot = 0;            // SetRetired's; stated in hello replies
  uint32_t required_features = 0;         // SetRequiredPeerFeatures
  // Per replica id: features of its latest peer hello past the cluster checks.
  std::map<paxos::ReplicaId, uint32_t> peer_features;
  PeerMessageHandler* peer_handler;
  ClientRequestHandler* client_handler;
  std::shared_ptr<spdlog::logger> log;
  RateLimitedLog rate_log;  // admission and refusal warnings
  tcp::acceptor acceptor;
  asio::steady_timer accept_timer;  // accept_retry_delay
  std::shared_ptr<bool> alive;
  std::map<uint64_t, std::unique_ptr<Conn>> conns;
  // Budget indexes (ids grow with accept order, so begin() is the oldest).
  std::map<std::string, std::set<uint64_t>> pending_by_address;
  size_t pending = 0;
  std::map<paxos::ReplicaId, std::set<uint64_t>> member_conns;
  std::set<std::pair<uint64_t, uint64_t>> clients_by_activity;  // (last_active, id)
  uint64_t activity = 0;
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
    Status decoded =
        DecodeMessages(context.getParams().getMessages(), impl_.options.limits, &messages);
    std::string error = decoded.message();
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
    impl_.TouchMember(conn_);
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
    impl_.TouchMember(conn_);
    SnapshotProvider* provider = impl_.options.snapshot_provider;
    if (provider == nullptr) return KJ_EXCEPTION(FAILED, "this server serves no snapshots");
    auto params = context.getParams();
    snapshot::SnapshotMeta meta;
    meta.applied_slot = params.getAppliedSlot();
    meta.id = meta.applied_slot;
    meta.crc32c = params.getCrc32c();
    meta.size_bytes = params.getSizeBytes();
    size_t max = std::min<size_t>(params.getMaxBytes(), impl_.options.max_snapshot_chunk_bytes);
    std::string& data = impl_.snapshot_buffer;  // reused: one allocation per server
    Status read = provider->ReadSnapshot(meta, params.getOffset(), max, data);
    const bool gone = read.IsNotFound();
    if (!read.ok() && !gone) {
      impl_.log->warn("transport: snapshot read for replica {} failed: {}", from_, read.message());
      return KJ_EXCEPTION(FAILED, "snapshot read failed", read.message().c_str());
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
  ClientImpl(Impl& impl, uint64_t conn) : impl_(impl), conn_(conn), alive_(impl.alive) {}

  kj::Promise<void> submit(SubmitContext context) override {
    if (!*alive_) return KJ_EXCEPTION(DISCONNECTED, "server shut down");
    impl_.TouchClient(conn_);
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
    impl_.TouchClient(conn_);
    ReplicaStatus status =
        CallOrExit("the status handler", [&] { return impl_.client_handler->OnStatus(); });
    EncodeStatus(status, context.getResults().initStatus());
    return kj::READY_NOW;
  }

  kj::Promise<void> transferLeader(TransferLeaderContext context) override {
    if (!*alive_) return KJ_EXCEPTION(DISCONNECTED, "server shut down");
    impl_.TouchClient(conn_);
    paxos::ReplicaId target = context.getParams().getTarget();
    auto paf = kj::newPromiseAndFulfiller<kj::Own<TransferReply>>();
    auto pending = std::make_shared<PendingReply<TransferReply>>();
    pending->fulfiller = kj::mv(paf.fulfiller);
    CallOrExit("the transfer handler",
               [&] { impl_.client_handler->OnTransferLeader(target, FulfilOnce(pending)); });
    return paf.promise.then([context](kj::Own<TransferReply> reply) mutable {
      CallOrExitUnlessKj("a transfer reply",
                         [&] { EncodeTransferReply(*reply, context.getResults()); });
    });
  }

  kj::Promise<void> changeMembers(ChangeMembersContext context) override {
    if (!*alive_) return KJ_EXCEPTION(DISCONNECTED, "server shut down");
    impl_.TouchClient(conn_);
    MemberChange change;
    std::string error = DecodeMemberChange(context.getParams().getChange(), &change);
    if (!error.empty()) {
      ChangeReply reply;
      reply.status = ChangeStatus::kInvalid;
      reply.reason = "bad member change: " + error;
      EncodeChangeReply(reply, context.getResults());
      return kj::READY_NOW;
    }
    auto paf = kj::newPromiseAndFulfiller<kj::Own<ChangeReply>>();
    auto pending = std::make_shared<PendingReply<ChangeReply>>();
    pending->fulfiller = kj::mv(paf.fulfiller);
    CallOrExit("the membership change handler", [&] {
      impl_.client_handler->OnChangeMembers(std::move(change), FulfilOnce(pending));
    });
    return paf.promise.then([context](kj::Own<ChangeReply> reply) mutable {
      CallOrExitUnlessKj("a membership change reply",
                         [&] { EncodeChangeReply(*reply, context.getResults()); });
    });
  }

 private:
  Impl& impl_;
  uint64_t conn_;
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
    results.setServerMembers(impl_.options.members);
    results.setHasHistory(impl_.options.has_history &&
                          CallOrExit("has_history", [&] { return impl_.options.has_history(); }));
    results.setConfigSlot(impl_.config_slot);
    results.setFeatures(impl_.options.features);

    bool removed = false;
    std::string reason = Check(*conn, params, removed);
    if (!reason.empty()) {
      ++impl_.stats.refused_handshakes;
      // A client stating this member list's hash has not learned the agreed
      // id yet: it learns it from this reply, which is routine, not a fault.
      bool learning_client = params.getRole() == wire::ConnectionRole::CLIENT &&
                             impl_.options.member_list_id != 0 &&
                             params.getClusterId() == impl_.options.member_list_id;
      std::string line =
          fmt::format("transport: refused connection from {} (replica {}, cluster {:016x}): {}",
                      conn->remote, params.getFromReplica(), params.getClusterId(), reason);
      if (learning_client) {
        impl_.log->debug("{}", line);
      } else {
        impl_.Warn(RefusalKind(params, reason), line);
      }
      conn->refused = true;
      results.setAccepted(false);
      results.setReason(reason);
      results.setRemoved(removed);
      // Keep the connection just long enough for the reply to leave.
      conn->timer.cancel();
      conn->timer.expires_after(impl_.options.refusal_linger);
      conn->timer.async_wait(
          [&impl = impl_, id = conn_, a = alive_](const boost::system::error_code& ec) {
            if (!ec && *a) impl.Erase(id);
          });
      return kj::READY_NOW;
    }
    conn->handshaken = true;
    conn->timer.cancel();
    results.setAccepted(true);
    if (params.getRole() == wire::ConnectionRole::PEER) {
      conn->features = params.getFeatures();
      impl_.AdmitMember(*conn, params.getFromReplica());
      results.setPeer(kj::heap<PeerImpl>(impl_, conn_, params.getFromReplica()));
    } else {
      impl_.AdmitClient(*conn);
      results.setClient(kj::heap<ClientImpl>(impl_, conn_));
    }
    return kj::READY_NOW;
  }

 private:
  // "" if the hello is acceptable, else why not; sets `removed` when the
  // caller's replica id was removed from the cluster.
  std::string Check(const Conn& conn, wire::Handshake::HelloParams::Reader params, bool& removed) {
    if (conn.handshaken) return "hello repeated on one connection";
    if (conn.refused) return "connection already refused";
    std::string id_problem = CheckClusterId(params);
    if (!id_problem.empty()) return id_problem;
    switch (params.getRole()) {
      case wire::ConnectionRole::PEER: {
        if (impl_.peer_handler == nullptr) return "this server takes no peers";
        paxos::ReplicaId from = params.getFromReplica();
        if (impl_.IsRetired(from)) {
          removed = true;
          return "replica " + std::to_string(from) +
                 " was removed from the cluster (configuration slot " +
                 std::to_string(impl_.config_slot) + ")";
        }
        if (!impl_.IsPeer(from)) return "unknown replica " + std::to_string(from);
        impl_.peer_features[from] = params.getFeatures();
        return MissingFeaturesReason(from, params.getFeatures(), impl_.required_features);
      }
      case wire::ConnectionRole::CLIENT:
        if (impl_.client_handler == nullptr) return "this server takes no clients";
        return "";
    }
    return "unknown role";
  }

  // The rate-limit kind of a refusal: by role and reason class, so a real
  // member's refusal is not counted into a flood's summary.
  static std::string RefusalKind(wire::Handshake::HelloParams::Reader params,
                                 const std::string& reason) {
    const char* role = params.getRole() == wire::ConnectionRole::PEER     ? "peer"
                       : params.getRole() == wire::ConnectionRole::CLIENT ? "client"
                                                                          : "other";
    const char* what =
        reason.rfind("wrong cluster", 0) == 0                               ? "wrong-cluster"
        : reason.rfind("wrong member list", 0) == 0                         ? "wrong-member-list"
        : reason.rfind("unknown replica", 0) == 0                           ? "unknown-replica"
        : reason.find(" was removed from the cluster") != std::string::npos ? "removed"
        : reason.find(" runs an older build") != std::string::npos          ? "older-build"
        : reason.rfind("hello repeated", 0) == 0 || reason.rfind("connection already", 0) == 0
            ? "repeated"
            : "role";
    return fmt::format("refused-hello/{}/{}", role, what);
  }

  // "" if the stated cluster id and member list are acceptable (see
  // ServerOptions::member_list_id), else why not.
  std::string CheckClusterId(wire::Handshake::HelloParams::Reader params) const {
    const ServerOptions& options = impl_.options;
    ClusterId stated = params.getClusterId();
    ClusterId list = params.getMemberListId();
    bool peer = params.getRole() == wire::ConnectionRole::PEER;
    // Applied the agreed id and a configuration change (SetRetired with a
    // slot > 0): the static list no longer defines the members, so whoever
    // states the agreed id belongs to this cluster, also a member added later
    // with another static list. Before a change the list must match, so a
    // member restarted with a wrong --members list stays refused.
    bool applied_agreed_id = options.member_list_id != 0 && options.cluster_id != 0 &&
                             options.cluster_id != options.member_list_id;
    if (applied_agreed_id && impl_.config_slot > 0 && stated == options.cluster_id) return "";
    if (options.member_list_id != 0 && list != 0 && list != options.member_list_id) {
      return "wrong member list (this replica's is " + options.members + ")";
    }
    if (stated == options.cluster_id) return "";
    if (peer && options.member_list_id != 0) {
      // A member that has not applied the agreed id yet.
      if (stated == options.member_list_id) return "";
      // A member that applied an agreed id this replica has not applied yet.
      if (options.cluster_id == options.member_list_id && list == options.member_list_id) {
        return "";
      }
    }
    return "wrong cluster id (this cluster is " + std::to_string(options.cluster_id) + ")";
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

Status Server::Listen() {
  boost::system::error_code ec;
  asio::ip::address address = asio::ip::make_address(impl_->options.host, ec);
  if (ec) {
    return Status::InvalidArgument("bad listen host '" + impl_->options.host +
                                   "': " + ec.message());
  }
  tcp::endpoint endpoint(address, impl_->options.port);
  tcp::acceptor& acceptor = impl_->acceptor;
  if (acceptor.open(endpoint.protocol(), ec)) return Status::IoError("socket: " + ec.message());
  acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  std::string where = impl_->options.host + ":" + std::to_string(impl_->options.port);
  if (acceptor.bind(endpoint, ec)) return Status::IoError("bind " + where + ": " + ec.message());
  if (acceptor.listen(asio::socket_base::max_listen_connections, ec)) {
    return Status::IoError("listen " + where + ": " + ec.message());
  }
  impl_->FitFileLimit();
  impl_->Accept();
  return Status::Ok();
}

uint16_t Server::port() const {
  boost::system::error_code ec;
  auto endpoint = impl_->acceptor.local_endpoint(ec);
  return ec ? 0 : endpoint.port();
}

void Server::SetClusterId(ClusterId cluster_id) { impl_->options.cluster_id = cluster_id; }

void Server::SetPeers(std::vector<paxos::ReplicaId> peers) {
  impl_->options.peers = std::move(peers);
  impl_->EvictFormerPeers();
}

void Server::SetRetired(std::vector<paxos::ReplicaId> retired, paxos::Slot config_slot) {
  impl_->retired = std::move(retired);
  impl_->config_slot = config_slot;
  impl_->EvictFormerPeers();
}

void Server::SetMembers(std::string members) { impl_->options.members = std::move(members); }

void Server::SetRequiredPeerFeatures(uint32_t features) {
  impl_->required_features = features;
  impl_->EvictFormerPeers();
}

std::optional<uint32_t> Server::PeerFeatures(paxos::ReplicaId id) const {
  auto it = impl_->peer_features.find(id);
  if (it == impl_->peer_features.end()) return std::nullopt;
  return it->second;
}

size_t Server::connection_count() const { return impl_->conns.size(); }

size_t Server::pending_count() const { return impl_->pending; }

size_t Server::client_count() const { return impl_->clients_by_activity.size(); }

ServerStats Server::stats() const {
  ServerStats stats = impl_->stats;
  stats.suppressed_warnings = impl_->rate_log.suppressed_total();
  stats.client_budget = impl_->options.max_client_connections;
  stats.pending_budget = impl_->options.max_pending_connections;
  return stats;
}

}  // namespace synod::transport
