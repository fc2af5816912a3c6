// PeerNetwork implementation: one Link per peer (a Dialer for connect and
// hello, batched deliver() calls, backoff).

#include "transport/peer_network.h"

#include <kj/debug.h>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <map>

#include "transport/codec.h"
#include "transport/dialer.h"
#include "transport/exit_on_task_error.h"
#include "transport/internal_error.h"
#include "transport/logging.h"
#include "transport/rate_limited_log.h"
#include "transport/rpc_connection.h"
#include "transport/timer.h"

namespace synod::transport {

namespace asio = boost::asio;

namespace {

// Room left for the RPC envelope when checking a message against the limit.
constexpr size_t kEnvelopeSlack = 4096;

}  // namespace

struct PeerNetwork::Impl {
  // Connection state machine of one peer.
  struct Link {
    enum class Phase { kDialing, kReady, kBackoff };

    Link(Impl& i, PeerEndpoint e)
        : impl(i),
          endpoint(std::move(e)),
          dialer(i.loop),
          timer(i.loop.io()),
          backoff(i.options.backoff_initial, i.options.backoff_max) {}
    ~Link() { *alive = false; }

    Impl& impl;
    PeerEndpoint endpoint;
    // False once the link is destroyed or removed by SetPeers: handlers
    // posted for it (flush, retry, deferred failure) then do nothing.
    std::shared_ptr<bool> alive = std::make_shared<bool>(true);
    struct Queued {
      paxos::Message message;
      size_t bytes = 0;  // EstimateWireBytes
      Clock::time_point queued_at;
    };
    std::deque<Queued> queue;
    size_t queue_bytes = 0;
    PeerLinkState state;
    Phase phase = Phase::kBackoff;
    uint64_t generation = 0;   // bumped by every teardown; stale callbacks compare it
    Dialer dialer;             // connect + hello
    asio::steady_timer timer;  // backoff
    Backoff backoff;
    kj::Own<RpcConnection> conn;
    kj::Maybe<wire::PeerService::Client> peer;
    kj::Own<kj::TaskSet> tasks;  // deliver calls, disconnect watch
    // The latest call's response, kept until the next flush so that its
    // Finish message leaves after what that flush sends (the answer the
    // response asked for), not on its own just before it.
    kj::Maybe<capnp::Response<wire::PeerService::DeliverResults>> last_response;
    size_t in_flight = 0;
    bool flush_scheduled = false;
    // The peer refused our agreed id and states our member-list hash as its
    // own: it runs a build that predates agreed ids on the wire. Say hello
    // with the hash to it (what it checks) until it states something else.
    bool state_list_hash = false;
  };

  Impl(EventLoop& l, PeerNetworkOptions o)
      : loop(l),
        options(std::move(o)),
        log(LoggerOrDefault(options.logger)),
        alive(std::make_shared<bool>(true)) {
    for (const PeerEndpoint& e : options.peers) {
      if (e.id == options.self || e.id == paxos::kNoReplica) continue;
      links.emplace(e.id, std::make_unique<Link>(*this, e));
    }
    for (auto& [id, link] : links) Connect(*link);
    if (options.return_path != nullptr) {
      options.return_path->SetHeldObserver([this, a = alive](paxos::ReplicaId peer) {
        if (!*a) return;
        auto it = links.find(peer);
        if (it != links.end() && !it->second->queue.empty()) ScheduleFlush(*it->second);
      });
    }
  }

  ~Impl() {
    *alive = false;
    if (options.return_path != nullptr) options.return_path->SetHeldObserver(nullptr);
    for (auto& [id, link] : links) Teardown(*link);
    links.clear();
    for (auto& link : removed) Teardown(*link);
    removed.clear();
  }

  void SetPeers(std::vector<PeerEndpoint> peers) {
    std::map<paxos::ReplicaId, PeerEndpoint> wanted;
    for (PeerEndpoint& e : peers) {
      if (e.id == options.self || e.id == paxos::kNoReplica) continue;
      wanted.emplace(e.id, std::move(e));
    }
    for (auto it = links.begin(); it != links.end();) {
      auto want = wanted.find(it->first);
      if (want == wanted.end()) {
        Remove(std::move(it->second));
        it = links.erase(it);
        continue;
      }
      Link& link = *it->second;
      if (link.endpoint.host != want->second.host || link.endpoint.port != want->second.port) {
        log->info("transport: replica {} moved from {}:{} to {}:{}; reconnecting", link.endpoint.id,
                  link.endpoint.host, link.endpoint.port, want->second.host, want->second.port);
        link.endpoint = want->second;
        // A new generation now: whatever the old connection still reports is
        // stale, and no answer from the old endpoint lands (Cancel is safe
        // here: the Dialer never runs our code inside its KJ callbacks).
        ++link.generation;
        link.dialer.Cancel();
        link.phase = Link::Phase::kBackoff;
        link.state.connected = false;
        asio::post(loop.io(), [this, &link, a = link.alive] {
          if (!*a) return;
          Teardown(link);
          link.phase = Link::Phase::kBackoff;
          link.backoff.Reset();
          link.state_list_hash = false;
          Connect(link);
        });
      }
      ++it;
    }
    for (auto& [id, endpoint] : wanted) {
      if (links.count(id) != 0) continue;
      log->info("transport: replica {} ({}:{}) added to the peers", id, endpoint.host,
                endpoint.port);
      Link& link = *links.emplace(id, std::make_unique<Link>(*this, endpoint)).first->second;
      Connect(link);
    }
  }

  // Takes a link out of service now (its queue dropped and counted, its
  // posted handlers disarmed) and closes its connection from an Asio handler.
  void Remove(std::unique_ptr<Link> link) {
    size_t dropped = link->queue.size();
    link->state.dropped_messages += dropped;
    link->queue.clear();
    link->queue_bytes = 0;
    link->state.queued_messages = 0;
    *link->alive = false;
    ++link->generation;
    link->dialer.Cancel();  // no hello answer from a removed peer reaches the observer
    link->timer.cancel();
    link->phase = Link::Phase::kBackoff;
    log->info("transport: replica {} ({}:{}) removed from the peers ({} queued messages dropped)",
              link->endpoint.id, link->endpoint.host, link->endpoint.port, dropped);
    removed.push_back(std::move(link));
    if (removed.size() > 1) return;  // a cleanup is already posted
    asio::post(loop.io(), [this, a = alive] {
      if (!*a) return;
      for (auto& l : removed) Teardown(*l);
      removed.clear();
    });
  }

  void Connect(Link& link) {
    link.phase = Link::Phase::kDialing;
    ++link.state.connects;
    uint64_t gen = link.generation;
    DialOptions dial;
    dial.server = link.endpoint;
    dial.role = wire::ConnectionRole::PEER;
    dial.cluster_id = link.state_list_hash ? options.member_list_id : options.cluster_id;
    dial.member_list_id = options.member_list_id;
    dial.self = options.self;
    dial.limits = options.limits;
    dial.connect_timeout = options.connect_timeout;
    dial.write_stall_timeout = options.write_stall_timeout;
    dial.features = options.features;
    link.dialer.Dial(std::move(dial), [this, &link, gen](Result<Dialed> result) {
      if (!result.ok()) return Fail(link, gen, result.status().message());
      OnDialed(link, gen, std::move(result.value()));
    });
  }

  void OnDialed(Link& link, uint64_t gen, Dialed dialed) {
    HandshakeInfo& info = dialed.info;
    const bool older_build =
        info.accepted && !MissingFeaturesReason(link.endpoint.id, info.features, required).empty();
    if (older_build) {
      // Refused here: `dialed` closes the connection (service first) when it goes.
      info.accepted = false;
      info.reason = MissingFeaturesReason(link.endpoint.id, info.features, required);
      link_log.Warn(
          "older-build/" + std::to_string(link.endpoint.id),
          fmt::format("transport: not talking to replica {} ({}:{}): {}", link.endpoint.id,
                      link.endpoint.host, link.endpoint.port, info.reason));
      link.backoff.ToMax();
    }
    link.state.last_handshake = info;
    ++link.state.handshakes;
    if (info.accepted) {
      link.conn = kj::mv(dialed.conn);
      link.peer = KJ_ASSERT_NONNULL(dialed.service).castAs<wire::PeerService>();
      link.tasks = kj::heap<kj::TaskSet>(task_errors);
      link.tasks->add(link.conn->OnDisconnect().then(
          [this, &link, gen] { FailLater(link, gen, "disconnected"); },
          [this, &link, gen](kj::Exception&& e) {
            FailLater(link, gen, std::string("disconnected: ") + e.getDescription().cStr());
          }));
      link.phase = Link::Phase::kReady;
      link.state.connected = true;
      link.backoff.Reset();
      ScheduleFlush(link);
    } else if (!older_build) {
      // Rate-limited: a refusing peer is asked again every backoff_max.
      link_log.Log(spdlog::level::warn, "refused/" + std::to_string(link.endpoint.id),
                   fmt::format("transport: replica {} ({}:{}) refused us: {}", link.endpoint.id,
                               link.endpoint.host, link.endpoint.port, info.reason));
      link.backoff.ToMax();
      bool states_hash =
          options.member_list_id != 0 && info.server_cluster == options.member_list_id;
      if (states_hash && !link.state_list_hash && options.cluster_id != options.member_list_id) {
        link.backoff.Reset();  // retry at once, stating the hash
      }
      link.state_list_hash = states_hash;
    }
    if (observer) {
      std::shared_ptr<bool> a = link.alive;  // the observer may remove this link
      CallOrExit("the handshake observer", [&] { observer(link.endpoint.id, info); });
      if (!*a) return;
    }
    if (!info.accepted) Fail(link, gen, "refused: " + info.reason);
  }

  // Tears the link down from outside any KJ callback stack, then backs off.
  void FailLater(Link& link, uint64_t gen, std::string why) {
    asio::post(loop.io(), [this, &link, gen, why = std::move(why), a = link.alive] {
      if (*a && gen == link.generation) Fail(link, gen, why);
    });
  }

  // Asio handlers only (never inside a KJ callback of this link).
  void Fail(Link& link, uint64_t gen, const std::string& why) {
    if (gen != link.generation) return;
    if (link.state.connected) {
      link_log.Log(spdlog::level::info, "link-lost/" + std::to_string(link.endpoint.id),
                   fmt::format("transport: link to replica {} lost: {}", link.endpoint.id, why));
    } else {
      log->debug("transport: link to replica {} failed: {}", link.endpoint.id, why);
    }
    Teardown(link);
    link.phase = Link::Phase::kBackoff;
    Clock::duration delay = link.backoff.Next();
    uint64_t next_gen = link.generation;
    link.timer.expires_after(delay);
    link.timer.async_wait(
        [this, &link, next_gen, a = link.alive](const boost::system::error_code& ec) {
          if (ec || !*a || next_gen != link.generation) return;
          Connect(link);
        });
  }

  void Teardown(Link& link) {
    ++link.generation;
    link.timer.cancel();
    link.dialer.Cancel();
    link.tasks = nullptr;  // cancels calls in flight
    link.peer = nullptr;
    link.last_response = nullptr;
    link.conn = nullptr;
    link.in_flight = 0;
    link.state.connected = false;
  }

  void ScheduleFlush(Link& link) {
    if (link.flush_scheduled) return;
    link.flush_scheduled = true;
    asio::post(loop.io(), [this, &link, a = link.alive] {
      if (!*a) return;
      link.flush_scheduled = false;
      Flush(link);
    });
  }

  // Number of queued messages (from the front) that fit in one batch.
  size_t BatchCount(const Link& link) const {
    size_t count = 0;
    size_t bytes = 0;
    for (const Link::Queued& queued : link.queue) {
      if (count > 0 && bytes + queued.bytes > options.limits.max_batch_bytes) break;
      bytes += queued.bytes;
      ++count;
    }
    return count;
  }

  // Moves the first `count` queued messages into `list`.
  void EncodeBatch(Link& link, size_t count, capnp::List<wire::Message>::Builder list) {
    for (unsigned i = 0; i < count; ++i) {
      EncodeMessage(link.queue.front().message, list[i]);
      link.queue_bytes -= link.queue.front().bytes;
      link.queue.pop_front();
    }
    link.state.queued_messages = link.queue.size();
  }

  // Sends queued messages: first in the return of the peer's held call (if
  // any), then in calls that each take as many as fit in max_batch_bytes.
  void Flush(Link& link) {
    DropStale(link);
    const bool had_messages = !link.queue.empty();
    if (options.return_path != nullptr && !link.queue.empty()) {
      if (std::optional<ReturnPath::HeldCall> held = options.return_path->Take(link.endpoint.id)) {
        size_t count = BatchCount(link);
        EncodeBatch(link, count,
                    held->context.getResults().initReplies(static_cast<unsigned>(count)));
        held->fulfiller->fulfill();
        link.state.sent_messages += count;
        link.state.returned_messages += count;
      }
    }
    while (link.phase == Link::Phase::kReady && link.in_flight < options.max_calls_in_flight &&
           !link.queue.empty()) {
      size_t count = BatchCount(link);
      wire::PeerService::Client& peer = KJ_ASSERT_NONNULL(link.peer);
      auto request = peer.deliverRequest();
      EncodeBatch(link, count, request.initMessages(static_cast<unsigned>(count)));
      ++link.in_flight;
      ++link.state.calls;
      uint64_t gen = link.generation;
      // Set once the peer has answered the call: its messages were delivered
      // even if the replies in the answer turn out to be bad.
      auto delivered = std::make_shared<bool>(false);
      auto call = request.send()
                      .then([this, &link, delivered](
                                capnp::Response<wire::PeerService::DeliverResults>&& response) {
                        *delivered = true;
                        CallOrExitUnlessKj("a deliver() return",
                                           [&] { HandleReplies(link, response.getReplies()); });
                        link.last_response = kj::mv(response);
                      })
                      .exclusiveJoin(FailAfter<void>(loop.io(), options.call_timeout,
                                                     "deliver() deadline exceeded"));
      link.tasks->add(call.then(
          [this, &link, count] {
            --link.in_flight;
            link.state.sent_messages += count;
            ScheduleFlush(link);
          },
          [this, &link, gen, count, delivered](kj::Exception&& e) {
            ++link.state.failed_calls;
            if (*delivered) {
              link.state.sent_messages += count;
            } else {
              link.state.dropped_messages += count;
            }
            FailLater(link, gen, std::string("deliver failed: ") + e.getDescription().cStr());
          }));
    }
    // What this flush sent leaves before the previous call's Finish.
    if (had_messages) link.last_response = nullptr;
  }

  // Hands the messages `link`'s peer put in a call's return to reply_handler.
  // A malformed batch or a message not from that peer to us throws (the call
  // then fails and the link is torn down, as the Server does for a call).
  void HandleReplies(Link& link, capnp::List<wire::Message>::Reader replies) {
    if (replies.size() == 0) return;
    std::vector<paxos::Message> messages;
    std::string error = DecodeMessages(replies, options.limits, &messages).message();
    for (const paxos::Message& m : messages) {
      if (!error.empty()) break;
      if (m.from != link.endpoint.id || m.to != options.self) {
        error = "reply " + std::to_string(m.from) + "->" + std::to_string(m.to) +
                " in a return from replica " + std::to_string(link.endpoint.id);
      }
    }
    if (!error.empty()) KJ_FAIL_REQUIRE("bad replies", error);
    link.state.reply_messages += messages.size();
    if (options.reply_handler == nullptr) return;
    // An exception from the handler is an internal failure, not a bad reply.
    CallOrExit("the peer message handler", [&] {
      for (paxos::Message& m : messages) options.reply_handler->OnPeerMessage(std::move(m));
    });
  }

  // Drops messages that waited longer than max_queue_age (oldest first).
  void DropStale(Link& link) {
    Clock::time_point limit = Clock::now() - options.max_queue_age;
    while (!link.queue.empty() && link.queue.front().queued_at < limit) {
      link.queue_bytes -= link.queue.front().bytes;
      link.queue.pop_front();
      ++link.state.dropped_messages;
    }
    link.state.queued_messages = link.queue.size();
  }

  bool Send(paxos::Message message) {
    auto it = links.find(message.to);
    if (it == links.end()) return false;
    Link& link = *it->second;
    size_t size = EstimateWireBytes(message);
    if (size + kEnvelopeSlack > options.limits.max_message_bytes) {
      ++link.state.dropped_messages;
      log->error("transport: dropping a {}-byte message to replica {}: above the message limit",
                 size, message.to);
      return false;
    }
    DropStale(link);
    while (!link.queue.empty() && (link.queue.size() >= options.max_queue_messages ||
                                   link.queue_bytes + size > options.max_queue_bytes)) {
      link.queue_bytes -= link.queue.front().bytes;
      link.queue.pop_front();
      ++link.state.dropped_messages;
    }
    link.queue.push_back(Link::Queued{std::move(message), size, Clock::now()});
    link.queue_bytes += size;
    link.state.queued_messages = link.queue.size();
    // Even with the link down, the peer's held call may carry it.
    if (link.phase == Link::Phase::kReady || options.return_path != nullptr) ScheduleFlush(link);
    return true;
  }

  // SetRequiredFeatures: closes the links to peers whose hello reply lacked
  // one of `features`; later replies lacking one count as refusals.
  void SetRequiredFeatures(uint32_t features) {
    required = features;
    for (auto& [id, link] : links) {
      if (!link->state.connected) continue;
      std::string why = MissingFeaturesReason(id, link->state.last_handshake.features, required);
      if (why.empty()) continue;
      log->warn("transport: closing the link to replica {}: {}", id, why);
      link->backoff.ToMax();
      FailLater(*link, link->generation, why);
    }
  }

  EventLoop& loop;
  PeerNetworkOptions options;
  uint32_t required = 0;  // SetRequiredFeatures
  std::shared_ptr<spdlog::logger> log;
  RateLimitedLog link_log{loop.io(), log, options.log_summary_period};  // links lost
  std::shared_ptr<bool> alive;
  ExitOnTaskError task_errors;
  HandshakeObserver observer;
  std::map<paxos::ReplicaId, std::unique_ptr<Link>> links;
  // Links SetPeers took out of service, closed by a posted handler.
  std::vector<std::unique_ptr<Link>> removed;
};

PeerNetwork::PeerNetwork(EventLoop& loop, PeerNetworkOptions options)
    : impl_(std::make_unique<Impl>(loop, std::move(options))) {}

PeerNetwork::~PeerNetwork() = default;

bool PeerNetwork::Send(paxos::Message message) { return impl_->Send(std::move(message)); }

void PeerNetwork::SetClusterId(ClusterId cluster_id) { impl_->options.cluster_id = cluster_id; }

void PeerNetwork::SetPeers(std::vector<PeerEndpoint> peers) { impl_->SetPeers(std::move(peers)); }

void PeerNetwork::SetRequiredFeatures(uint32_t features) { impl_->SetRequiredFeatures(features); }

void PeerNetwork::SetHandshakeObserver(HandshakeObserver observer) {
  impl_->observer = std::move(observer);
}

PeerLinkState PeerNetwork::LinkState(paxos::ReplicaId peer) const {
  auto it = impl_->links.find(peer);
  return it == impl_->links.end() ? PeerLinkState{} : it->second->state;
}

}  // namespace synod::transport
