// Dialer implementation: resolve, ConnectOwned, hello (with the checks of
// the answer), one deadline over all three; completion always posted.

#include "transport/dialer.h"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <string>

#include "transport/internal_error.h"
#include "transport/owned_connect.h"

namespace synod::transport {

namespace asio = boost::asio;
using asio::ip::tcp;

Dialer::Dialer(EventLoop& loop) : loop_(loop), resolver_(loop.io()), deadline_(loop.io()) {}

Dialer::~Dialer() {
  *alive_ = false;
  Reset();
}

void Dialer::Dial(DialOptions options, Done done) {
  Cancel();
  options_ = std::move(options);
  done_ = std::move(done);
  uint64_t gen = generation_;
  resolver_.async_resolve(
      options_.server.host, std::to_string(options_.server.port),
      [this, gen, a = alive_](const boost::system::error_code& ec,
                              tcp::resolver::results_type results) {
        if (!*a || gen != generation_) return;
        if (ec) {
          return Finish(
              gen, Status::Unavailable("resolve " + options_.server.host + ": " + ec.message()));
        }
        socket_ = std::make_shared<tcp::socket>(loop_.io());
        ConnectOwned(socket_, results, [this, gen, a](const boost::system::error_code& cec) {
          if (!*a || gen != generation_) return;
          if (cec) return Finish(gen, Status::Unavailable("connect: " + cec.message()));
          OnConnected(gen);
        });
      });
  deadline_.expires_after(options_.connect_timeout);
  deadline_.async_wait([this, gen, a = alive_](const boost::system::error_code& ec) {
    if (ec || !*a || gen != generation_) return;
    Finish(gen, Status::Unavailable("no handshake within connect_timeout"));
  });
}

void Dialer::OnConnected(uint64_t gen) {
  conn_ =
      kj::heap<RpcConnection>(std::move(*socket_), options_.limits, options_.write_stall_timeout);
  socket_.reset();
  tasks_ = kj::heap<kj::TaskSet>(task_errors_);
  auto request = conn_->Handshake().helloRequest();
  request.setClusterId(options_.cluster_id);
  request.setMemberListId(options_.member_list_id);
  request.setFromReplica(options_.self);
  request.setRole(options_.role);
  request.setFeatures(options_.features);
  const bool peer = options_.role == wire::ConnectionRole::PEER;
  const paxos::ReplicaId expected = options_.server.id;
  // A reply that cannot be read fails like a lost connection ("hello failed").
  auto answered = request.send().then(
      [peer, expected](capnp::Response<wire::Handshake::HelloResults>&& response) {
        return CallOrExitUnlessKj("a hello reply", [&] {
          Answer answer;
          HandshakeInfo& info = answer.info;
          info.accepted = response.getAccepted();
          info.reason = response.getReason().cStr();
          info.server_replica = response.getServerReplica();
          info.server_cluster = response.getServerCluster();
          info.has_history = response.getHasHistory();
          info.server_members = response.getServerMembers().cStr();
          info.removed = response.getRemoved();
          info.config_slot = response.getConfigSlot();
          info.features = response.getFeatures();
          if (info.accepted && expected != paxos::kNoReplica && info.server_replica != expected) {
            info.accepted = false;
            info.reason = "answered as replica " + std::to_string(info.server_replica) +
                          ", expected " + std::to_string(expected);
          }
          if (info.accepted && !(peer ? response.hasPeer() : response.hasClient())) {
            info.accepted = false;
            info.reason =
                std::string("accepted without a ") + (peer ? "peer" : "client") + " capability";
          }
          if (info.accepted) {
            answer.service = peer ? capnp::Capability::Client(response.getPeer())
                                  : capnp::Capability::Client(response.getClient());
          }
          return answer;
        });
      });
  tasks_->add(answered.then([this, gen](Answer&& answer) { AnswerLater(gen, kj::mv(answer)); },
                            [this, gen](kj::Exception&& e) {
                              FailLater(gen, Status::Unavailable(std::string("hello failed: ") +
                                                                 e.getDescription().cStr()));
                            }));
}

void Dialer::AnswerLater(uint64_t gen, Answer answer) {
  asio::post(loop_.io(), [this, gen, answer = kj::mv(answer), a = alive_]() mutable {
    if (*a) Finish(gen, Result<Answer>(kj::mv(answer)));
  });
}

void Dialer::FailLater(uint64_t gen, Status status) {
  asio::post(loop_.io(), [this, gen, status = std::move(status), a = alive_]() mutable {
    if (*a) Finish(gen, Result<Answer>(std::move(status)));
  });
}

void Dialer::Finish(uint64_t gen, Result<Answer> answer) {
  if (gen != generation_ || !done_) return;
  Done done = std::move(done_);
  done_ = nullptr;
  if (!answer.ok()) {
    Reset();
    return done(answer.status());
  }
  Dialed dialed;
  dialed.info = std::move(answer->info);
  tasks_ = nullptr;  // the hello task is over
  if (dialed.info.accepted) {
    dialed.service = kj::mv(answer->service);
    dialed.conn = kj::mv(conn_);
  }
  Reset();  // closes the connection of a refused hello
  done(Result<Dialed>(std::move(dialed)));
}

void Dialer::Cancel() {
  done_ = nullptr;
  Reset();
}

void Dialer::Reset() {
  ++generation_;
  boost::system::error_code ignored;
  deadline_.cancel();
  resolver_.cancel();
  if (socket_) socket_->close(ignored);
  socket_.reset();
  tasks_ = nullptr;  // cancels a hello in flight
  conn_ = nullptr;
}

Backoff::Backoff(Clock::duration initial, Clock::duration max)
    : initial_(initial), max_(max), next_(initial) {}

Clock::duration Backoff::Next() {
  Clock::duration delay = next_;
  next_ = std::min<Clock::duration>(next_ * 2, max_);
  return delay;
}

}  // namespace synod::transport
