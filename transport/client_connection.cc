// ClientConnection implementation: a Dialer for connect + hello, coalescing
// submit queue, per-call deadlines, failure fan-out. Callbacks are posted, never run from
// inside a ClientConnection method, so they may freely submit or destroy it.

#include "transport/client_connection.h"

#include <kj/debug.h>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <map>
#include <vector>

#include "transport/codec.h"
#include "transport/dialer.h"
#include "transport/exit_on_task_error.h"
#include "transport/logging.h"
#include "transport/rpc_connection.h"
#include "transport/timer.h"

namespace synod::transport {

namespace asio = boost::asio;

const char* CallStatusName(CallStatus status) {
  switch (status) {
    case CallStatus::kReplied:
      return "replied";
    case CallStatus::kTimeout:
      return "timeout";
    case CallStatus::kDisconnected:
      return "disconnected";
    case CallStatus::kRefused:
      return "refused";
    case CallStatus::kOverloaded:
      return "overloaded";
    case CallStatus::kError:
      return "error";
  }
  return "invalid";
}

struct ClientConnection::Impl {
  enum class Phase { kConnecting, kReady, kFailed };

  // One submitted command waiting for its result.
  struct Pending {
    std::string command;
    Clock::time_point deadline;
    SubmitCallback done;
  };

  // A status query waiting for the connection.
  struct PendingStatus {
    Clock::time_point deadline;
    StatusCallback done;
  };

  // A call the server answers when its work is over (transferLeader(),
  // changeMembers()), waiting for the connection or in flight.
  struct LeaderCall {
    Clock::time_point deadline;
    // Sends the request on `client`; the promise resolves to a function that
    // delivers the decoded reply (rejected: the call failed).
    std::function<kj::Promise<std::function<void()>>(wire::ClientService::Client& client)> send;
    // Delivers a failure (posted): whether the call may have reached the server, and why.
    std::function<void(bool maybe_sent, std::string error)> fail;
  };

  Impl(EventLoop& l, ClientConnectionOptions o)
      : loop(l),
        options(std::move(o)),
        log(LoggerOrDefault(options.logger)),
        dialer(l),
        sweep_timer(l.io()),
        alive(std::make_shared<bool>(true)) {
    Connect();
  }

  ~Impl() {
    Fail(CallStatus::kDisconnected, "connection closed by its owner");
    *alive = false;
  }

  void Connect() {
    DialOptions dial;
    dial.server = options.server;
    dial.role = wire::ConnectionRole::CLIENT;
    dial.cluster_id = options.cluster_id;
    dial.limits = options.limits;
    dial.connect_timeout = options.connect_timeout;
    dial.write_stall_timeout = options.write_stall_timeout;
    dialer.Dial(std::move(dial), [this](Result<Dialed> result) {
      if (!result.ok()) return Fail(CallStatus::kDisconnected, result.status().message());
      OnDialed(std::move(result.value()));
    });
  }

  void OnDialed(Dialed dialed) {
    handshake = dialed.info;
    hello_answered = true;
    NotifyHandshakeWaiters();
    if (!handshake.accepted) {
      // Debug only: a client learning the cluster id is refused routinely,
      // and the reason reaches the caller in the result (kRefused).
      log->debug("transport: replica at {}:{} refused the client: {}", options.server.host,
                 options.server.port, handshake.reason);
      Fail(CallStatus::kRefused, "refused: " + handshake.reason);
      return;
    }
    conn = kj::mv(dialed.conn);
    client = KJ_ASSERT_NONNULL(dialed.service).castAs<wire::ClientService>();
    tasks = kj::heap<kj::TaskSet>(task_errors);
    tasks->add(conn->OnDisconnect().then(
        [this] { FailLater(CallStatus::kDisconnected, "disconnected"); },
        [this](kj::Exception&& e) {
          FailLater(CallStatus::kDisconnected,
                    std::string("disconnected: ") + e.getDescription().cStr());
        }));
    phase = Phase::kReady;
    for (PendingStatus& s : pending_status) SendStatus(std::move(s));
    pending_status.clear();
    for (LeaderCall& c : pending_leader_calls) SendLeaderCall(std::move(c));
    pending_leader_calls.clear();
    ScheduleFlush();
  }

  void Submit(std::string command, Clock::duration timeout, SubmitCallback done) {
    if (phase == Phase::kFailed) {
      return Deliver(std::move(done), Failure(CallStatus::kDisconnected, false, fail_reason));
    }
    if (queue.size() >= options.max_queued_commands) {
      return Deliver(std::move(done),
                     Failure(CallStatus::kOverloaded, false, "too many commands queued"));
    }
    queue.push_back(Pending{std::move(command), Clock::now() + timeout, std::move(done)});
    ArmSweep();
    if (phase == Phase::kReady) ScheduleFlush();
  }

  void ScheduleFlush() {
    if (flush_scheduled) return;
    flush_scheduled = true;
    asio::post(loop.io(), [this, a = alive] {
      if (!*a) return;
      flush_scheduled = false;
      Flush();
    });
  }

  // Sends queued commands, coalesced into as few calls as the limits allow.
  void Flush() {
    Clock::time_point now = Clock::now();
    while (phase == Phase::kReady && in_flight < options.max_calls_in_flight && !queue.empty()) {
      std::vector<Pending> batch;
      size_t bytes = 0;
      Clock::time_point deadline = Clock::time_point::max();
      while (!queue.empty() && batch.size() < options.max_commands_per_call) {
        Pending& next = queue.front();
        if (!batch.empty() && bytes + next.command.size() + 16 > options.limits.max_batch_bytes) {
          break;
        }
        bytes += next.command.size() + 16;
        deadline = std::min(deadline, next.deadline);
        batch.push_back(std::move(next));
        queue.pop_front();
      }
      auto request = KJ_ASSERT_NONNULL(client).submitRequest();
      auto list = request.initCommands(static_cast<unsigned>(batch.size()));
      for (unsigned i = 0; i < batch.size(); ++i) {
        const std::string& c = batch[i].command;
        list.set(i, capnp::Data::Reader(reinterpret_cast<const kj::byte*>(c.data()), c.size()));
      }
      uint64_t id = next_call++;
      size_t count = batch.size();
      calls.emplace(id, std::move(batch));
      ++in_flight;
      Clock::duration left = deadline > now ? deadline - now : Clock::duration::zero();
      // The reply travels by pointer: GCC's -Wmaybe-uninitialized misfires on
      // vectors held inside kj::ExceptionOr in sanitizer builds.
      using ReplyPtr = kj::Own<ClientReply>;
      auto call =
          request.send()
              .then([this, count](capnp::Response<wire::ClientService::SubmitResults>&& response)
                        -> kj::Promise<ReplyPtr> {
                return CallOrExitUnlessKj("a submit reply", [&]() -> kj::Promise<ReplyPtr> {
                  auto reply = kj::heap<ClientReply>();
                  std::string error = DecodeClientReply(response, count, reply.get());
                  if (!error.empty())
                    return KJ_EXCEPTION(FAILED, "bad submit reply", error.c_str());
                  held_responses.push_back(kj::mv(response));
                  return kj::mv(reply);
                });
              })
              .exclusiveJoin(FailAfter<ReplyPtr>(loop.io(), left, "submit deadline"));
      tasks->add(call.then([this, id](ReplyPtr reply) { OnReply(id, std::move(*reply)); },
                           [this, id](kj::Exception&& e) { OnCallFailed(id, e); }));
    }
  }

  void OnReply(uint64_t id, ClientReply reply) {
    --in_flight;
    auto it = calls.find(id);
    if (it != calls.end()) {
      std::vector<Pending> batch = std::move(it->second);
      calls.erase(it);
      for (size_t i = 0; i < batch.size(); ++i) {
        SubmitResult result;
        result.call = CallStatus::kReplied;
        result.maybe_sent = true;
        result.outcome = std::move(reply.outcomes[i]);
        result.leader_hint = reply.leader_hint;
        Deliver(std::move(batch[i].done), std::move(result));
      }
      ScheduleFlush();
    }
    ReleaseHeldResponsesLater();
  }

  // Sends the Finish of every held response once the callbacks posted so far
  // and the flush they feed have run: a call submitted from a result callback
  // leaves before the Finish of the call it answers.
  void ReleaseHeldResponsesLater() {
    asio::post(loop.io(), [this, a = alive] {
      if (*a) held_responses.clear();
    });
  }

  void OnCallFailed(uint64_t id, const kj::Exception& e) {
    --in_flight;
    auto it = calls.find(id);
    if (it == calls.end()) return;
    std::vector<Pending> batch = std::move(it->second);
    calls.erase(it);
    bool timeout = e.getType() == kj::Exception::Type::OVERLOADED;
    bool disconnected = e.getType() == kj::Exception::Type::DISCONNECTED;
    CallStatus status = timeout ? CallStatus::kTimeout
                                : (disconnected ? CallStatus::kDisconnected : CallStatus::kError);
    for (Pending& p : batch) {
      Deliver(std::move(p.done), Failure(status, true, e.getDescription().cStr()));
    }
    // A deadline can win after the answer was already held: let it go too.
    ReleaseHeldResponsesLater();
    ScheduleFlush();
  }

  void QueryStatus(Clock::duration timeout, StatusCallback done) {
    PendingStatus s{Clock::now() + timeout, std::move(done)};
    if (phase == Phase::kReady) return SendStatus(std::move(s));
    if (phase == Phase::kFailed) return DeliverStatus(std::move(s.done), fail_reason);
    pending_status.push_back(std::move(s));
  }

  void SendStatus(PendingStatus s) {
    Clock::time_point now = Clock::now();
    Clock::duration left = s.deadline > now ? s.deadline - now : Clock::duration::zero();
    auto call =
        KJ_ASSERT_NONNULL(client)
            .statusRequest()
            .send()
            .then([](capnp::Response<wire::ClientService::StatusResults>&& response)
                      -> kj::Promise<ReplicaStatus> {
              return CallOrExitUnlessKj("a status reply", [&]() -> kj::Promise<ReplicaStatus> {
                ReplicaStatus status;
                std::string error = DecodeStatus(response.getStatus(), &status);
                if (!error.empty()) {
                  return KJ_EXCEPTION(FAILED, "bad status reply", error.c_str());
                }
                return status;
              });
            })
            .exclusiveJoin(FailAfter<ReplicaStatus>(loop.io(), left, "status deadline"));
    auto done = std::make_shared<StatusCallback>(std::move(s.done));
    tasks->add(call.then(
        [this, done](ReplicaStatus status) {
          asio::post(loop.io(), [done, status] { (*done)(status, ""); });
        },
        [this, done](kj::Exception&& e) {
          DeliverStatus(std::move(*done), e.getDescription().cStr());
        }));
  }

  void TransferLeader(paxos::ReplicaId target, Clock::duration timeout, TransferCallback done) {
    auto shared = std::make_shared<TransferCallback>(std::move(done));
    LeaderCall call;
    call.deadline = Clock::now() + timeout;
    call.send = [target, shared](wire::ClientService::Client& client) {
      auto request = client.transferLeaderRequest();
      request.setTarget(target);
      return request.send().then(
          [shared](capnp::Response<wire::ClientService::TransferLeaderResults>&& response) {
            return DecodedOrFailure<TransferReply>(
                "a transfer reply",
                [&](TransferReply* reply) { return DecodeTransferReply(response, reply); },
                [shared](TransferReply reply) { (*shared)(reply, true, ""); });
          });
    };
    call.fail = [this, shared](bool maybe_sent, std::string error) {
      asio::post(loop.io(), [shared, maybe_sent, error = std::move(error)] {
        (*shared)(std::nullopt, maybe_sent, error);
      });
    };
    StartLeaderCall(std::move(call));
  }

  void ChangeMembers(const MemberChange& change, Clock::duration timeout, ChangeCallback done) {
    auto shared = std::make_shared<ChangeCallback>(std::move(done));
    LeaderCall call;
    call.deadline = Clock::now() + timeout;
    call.send = [change, shared](wire::ClientService::Client& client) {
      auto request = client.changeMembersRequest();
      EncodeMemberChange(change, request.initChange());
      return request.send().then(
          [shared](capnp::Response<wire::ClientService::ChangeMembersResults>&& response) {
            return DecodedOrFailure<ChangeReply>(
                "a membership change reply",
                [&](ChangeReply* reply) { return DecodeChangeReply(response, reply); },
                [shared](ChangeReply reply) { (*shared)(reply, true, ""); });
          });
    };
    call.fail = [this, shared](bool maybe_sent, std::string error) {
      asio::post(loop.io(), [shared, maybe_sent, error = std::move(error)] {
        (*shared)(std::nullopt, maybe_sent, error);
      });
    };
    StartLeaderCall(std::move(call));
  }

  // Decodes a reply with `decode` (returns "" or what is wrong) into a
  // function that hands it to `deliver`; a bad reply rejects the promise.
  template <typename Reply, typename Decode, typename DeliverFn>
  static kj::Promise<std::function<void()>> DecodedOrFailure(const char* what, Decode&& decode,
                                                             DeliverFn deliver) {
    return CallOrExitUnlessKj(what, [&]() -> kj::Promise<std::function<void()>> {
      Reply reply;
      std::string error = decode(&reply);
      if (!error.empty()) return KJ_EXCEPTION(FAILED, "bad reply", what, error.c_str());
      return std::function<void()>(
          [deliver = std::move(deliver), reply = std::move(reply)] { deliver(reply); });
    });
  }

  void StartLeaderCall(LeaderCall call) {
    if (phase == Phase::kReady) return SendLeaderCall(std::move(call));
    if (phase == Phase::kFailed) return call.fail(false, fail_reason);
    pending_leader_calls.push_back(std::move(call));
  }

  void SendLeaderCall(LeaderCall call) {
    Clock::time_point now = Clock::now();
    // Never sent once the deadline passed: the caller may then say so for sure.
    if (call.deadline <= now) return call.fail(false, "deadline passed before sending");
    Clock::duration left = call.deadline - now;
    auto sent =
        call.send(KJ_ASSERT_NONNULL(client))
            .exclusiveJoin(FailAfter<std::function<void()>>(loop.io(), left, "call deadline"));
    uint64_t id = next_leader_call++;
    leader_calls_in_flight[id] = std::move(call.fail);
    tasks->add(sent.then(
        [this, id](std::function<void()> deliver) {
          auto it = leader_calls_in_flight.find(id);
          if (it == leader_calls_in_flight.end()) return;
          leader_calls_in_flight.erase(it);
          asio::post(loop.io(), std::move(deliver));
        },
        [this, id](kj::Exception&& e) {
          auto it = leader_calls_in_flight.find(id);
          if (it == leader_calls_in_flight.end()) return;
          it->second(true, e.getDescription().cStr());
          leader_calls_in_flight.erase(it);
        }));
  }

  // Fails queued commands whose deadline passed; re-arms for the next one.
  void ArmSweep() {
    if (queue.empty()) return;
    Clock::time_point earliest = Clock::time_point::max();
    for (const Pending& p : queue) earliest = std::min(earliest, p.deadline);
    if (sweep_armed && earliest >= sweep_at) return;
    sweep_armed = true;
    sweep_at = earliest;
    sweep_timer.expires_at(earliest);
    sweep_timer.async_wait([this, a = alive](const boost::system::error_code& ec) {
      if (ec || !*a) return;
      sweep_armed = false;
      Clock::time_point now = Clock::now();
      std::deque<Pending> keep;
      for (Pending& p : queue) {
        if (p.deadline <= now) {
          Deliver(std::move(p.done),
                  Failure(CallStatus::kTimeout, false, "deadline passed before sending"));
        } else {
          keep.push_back(std::move(p));
        }
      }
      queue.swap(keep);
      ArmSweep();
    });
  }

  void FailLater(CallStatus status, std::string why) {
    asio::post(loop.io(), [this, status, why = std::move(why), a = alive] {
      if (*a) Fail(status, why);
    });
  }

  // Closes the connection and fails everything pending. Not from KJ callbacks.
  void Fail(CallStatus status, const std::string& why) {
    if (phase == Phase::kFailed) return;
    phase = Phase::kFailed;
    fail_reason = why;
    dialer.Cancel();
    sweep_timer.cancel();
    held_responses.clear();
    tasks = nullptr;
    client = nullptr;
    conn = nullptr;
    for (auto& [id, batch] : calls) {
      for (Pending& p : batch) Deliver(std::move(p.done), Failure(status, true, why));
    }
    calls.clear();
    in_flight = 0;
    for (Pending& p : queue) Deliver(std::move(p.done), Failure(status, false, why));
    queue.clear();
    for (PendingStatus& s : pending_status) DeliverStatus(std::move(s.done), why);
    pending_status.clear();
    for (LeaderCall& c : pending_leader_calls) c.fail(false, why);
    pending_leader_calls.clear();
    for (auto& [id, fail] : leader_calls_in_flight) fail(true, why);
    leader_calls_in_flight.clear();
    NotifyHandshakeWaiters();
  }

  void WhenHandshaken(HandshakeCallback done) {
    handshake_waiters.push_back(std::move(done));
    if (hello_answered || phase == Phase::kFailed) NotifyHandshakeWaiters();
  }

  void NotifyHandshakeWaiters() {
    for (HandshakeCallback& done : handshake_waiters) {
      asio::post(loop.io(), [done = std::move(done), info = handshake] { done(info); });
    }
    handshake_waiters.clear();
  }

  static SubmitResult Failure(CallStatus status, bool maybe_sent, std::string why) {
    SubmitResult r;
    r.call = status;
    r.maybe_sent = maybe_sent;
    r.error = std::move(why);
    return r;
  }

  void Deliver(SubmitCallback done, SubmitResult result) {
    asio::post(loop.io(), [done = std::move(done), result = std::move(result)]() mutable {
      done(std::move(result));
    });
  }

  void DeliverStatus(StatusCallback done, std::string error) {
    asio::post(loop.io(),
               [done = std::move(done), error = std::move(error)] { done(std::nullopt, error); });
  }

  EventLoop& loop;
  ClientConnectionOptions options;
  std::shared_ptr<spdlog::logger> log;
  Dialer dialer;  // until the hello is answered
  asio::steady_timer sweep_timer;
  bool sweep_armed = false;
  Clock::time_point sweep_at;
  std::shared_ptr<bool> alive;
  Phase phase = Phase::kConnecting;
  std::string fail_reason;
  HandshakeInfo handshake;
  bool hello_answered = false;  // `handshake` holds a reply
  std::vector<HandshakeCallback> handshake_waiters;
  ExitOnTaskError task_errors;
  kj::Own<RpcConnection> conn;
  kj::Maybe<wire::ClientService::Client> client;
  kj::Own<kj::TaskSet> tasks;
  // Answered submit calls whose Finish (the message that lets the server
  // forget the answer) is held back until the calls their callbacks submit
  // have been sent (ReleaseHeldResponsesLater): in a closed loop the server
  // then reads the Finish with the next call instead of being woken for it
  // alone. Cleared before the connection goes.
  std::vector<capnp::Response<wire::ClientService::SubmitResults>> held_responses;
  std::deque<Pending> queue;
  std::map<uint64_t, std::vector<Pending>> calls;
  std::vector<PendingStatus> pending_status;
  std::vector<LeaderCall> pending_leader_calls;
  // Sent leader calls' failure paths by id, until answered or failed (Fail answers them).
  std::map<uint64_t, std::function<void(bool, std::string)>> leader_calls_in_flight;
  uint64_t next_leader_call = 1;
  uint64_t next_call = 1;
  size_t in_flight = 0;
  bool flush_scheduled = false;
};

ClientConnection::ClientConnection(EventLoop& loop, ClientConnectionOptions options)
    : impl_(std::make_unique<Impl>(loop, std::move(options))) {}

ClientConnection::~ClientConnection() = default;

void ClientConnection::Submit(std::string command, Clock::duration timeout, SubmitCallback done) {
  impl_->Submit(std::move(command), timeout, std::move(done));
}

void ClientConnection::QueryStatus(Clock::duration timeout, StatusCallback done) {
  impl_->QueryStatus(timeout, std::move(done));
}

void ClientConnection::TransferLeader(paxos::ReplicaId target, Clock::duration timeout,
                                      TransferCallback done) {
  impl_->TransferLeader(target, timeout, std::move(done));
}

void ClientConnection::ChangeMembers(const MemberChange& change, Clock::duration timeout,
                                     ChangeCallback done) {
  impl_->ChangeMembers(change, timeout, std::move(done));
}

bool ClientConnection::connected() const { return impl_->phase == Impl::Phase::kReady; }

bool ClientConnection::failed() const { return impl_->phase == Impl::Phase::kFailed; }

const HandshakeInfo& ClientConnection::handshake() const { return impl_->handshake; }

void ClientConnection::WhenHandshaken(HandshakeCallback done) {
  impl_->WhenHandshaken(std::move(done));
}

void ClientConnection::Close() { impl_->Fail(CallStatus::kDisconnected, "closed by its owner"); }

}  // namespace synod::transport
