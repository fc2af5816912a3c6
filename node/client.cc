#include "node/client.h"

#include <boost/asio/steady_timer.hpp>

#include "node/os_random.h"
#include "statemachine/envelope.h"

namespace synod::node {

using Clock = std::chrono::steady_clock;

namespace {
constexpr std::chrono::milliseconds kNoLeaderBackoff{50};
}

// One command (or the session registration) on its way through retries.
struct Client::Operation {
  bool is_registration = false;
  uint64_t nonce = 0;  // registration
  uint64_t sequence = 0;
  std::string payload;
  Clock::time_point deadline;
  std::function<void(ClientResult)> done;
  bool maybe_proposed = false;  // some attempt may have been proposed
  bool finished = false;
  std::string last_error = "no member answered";
  std::unique_ptr<boost::asio::steady_timer> timer;
};

Client::Client(transport::EventLoop& loop, ClientOptions options)
    : loop_(loop), options_(std::move(options)), random_(OsRandom64()) {
  std::vector<transport::PeerEndpoint> endpoints;
  for (const MemberAddress& m : options_.cluster.members)
    endpoints.push_back({m.id, m.host, m.port});
  cluster_id_ = transport::MemberListClusterId(endpoints);
  const auto& members = options_.cluster.members;
  leader_guess_ = members[random_() % members.size()].id;
}

Client::~Client() {
  // Connections fail their pending calls as they close: ignore those results
  // rather than retrying on a client that is going away.
  closing_ = true;
  alive_.reset();
  connections_.clear();
}

paxos::ReplicaId Client::NextMember(paxos::ReplicaId after) const {
  const auto& members = options_.cluster.members;
  for (size_t i = 0; i < members.size(); ++i) {
    if (members[i].id == after) return members[(i + 1) % members.size()].id;
  }
  return members.front().id;
}

transport::ClientConnection& Client::Connection(paxos::ReplicaId id) {
  auto it = connections_.find(id);
  if (it == connections_.end() || it->second->failed()) {
    const MemberAddress* member = options_.cluster.Find(id);
    transport::ClientConnectionOptions connection_options;
    connection_options.cluster_id = cluster_id_;
    connection_options.server = {member->id, member->host, member->port};
    connection_options.connect_timeout = options_.attempt_timeout;
    auto connection = std::make_unique<transport::ClientConnection>(loop_, connection_options);
    it = connections_.insert_or_assign(id, std::move(connection)).first;
  }
  return *it->second;
}

bool Client::LearnClusterId(paxos::ReplicaId refused_by) {
  auto it = connections_.find(refused_by);
  if (cluster_id_learned_ || it == connections_.end()) return false;
  const transport::HandshakeInfo& info = it->second->handshake();
  if (info.accepted || info.server_cluster == 0 || info.server_cluster == cluster_id_) return false;
  cluster_id_ = info.server_cluster;
  cluster_id_learned_ = true;
  connections_.clear();  // reconnect everywhere with the learned id
  return true;
}

uint64_t Client::LowestUnanswered() const {
  return in_flight_.empty() ? next_sequence_ : in_flight_.begin()->first;
}

void Client::Execute(std::string payload, std::function<void(ClientResult)> done) {
  auto op = std::make_shared<Operation>();
  op->payload = std::move(payload);
  op->deadline = Clock::now() + options_.timeout;
  op->done = std::move(done);
  if (session_state_ == SessionState::kReady) {
    op->sequence = next_sequence_++;
    in_flight_[op->sequence] = op;
    Attempt(op);
    return;
  }
  waiting_for_session_.push_back(op);
  EnsureSession();
}

void Client::EnsureSession() {
  if (session_state_ != SessionState::kNone) return;
  session_state_ = SessionState::kRegistering;
  auto op = std::make_shared<Operation>();
  op->is_registration = true;
  op->nonce = random_() | 1;
  op->deadline = Clock::now() + options_.timeout;
  op->done = [this](ClientResult result) {
    if (result.status == ClientResult::Status::kOk) {
      OnSessionReady(std::stoull(result.result));
    } else {
      OnSessionFailed(result);
    }
  };
  Attempt(op);
}

void Client::OnSessionReady(uint64_t session) {
  session_ = session;
  session_state_ = SessionState::kReady;
  std::vector<std::shared_ptr<Operation>> waiting = std::move(waiting_for_session_);
  waiting_for_session_.clear();
  for (auto& op : waiting) {
    op->sequence = next_sequence_++;
    in_flight_[op->sequence] = op;
    Attempt(op);
  }
}

void Client::OnSessionFailed(const ClientResult& why) {
  session_state_ = SessionState::kNone;
  std::vector<std::shared_ptr<Operation>> waiting = std::move(waiting_for_session_);
  waiting_for_session_.clear();
  for (auto& op : waiting) {
    // The command itself was never sent: a definite failure.
    ClientResult result;
    result.status = ClientResult::Status::kFailed;
    result.error = "could not open a session: " + why.error;
    Finish(op, result);
  }
}

void Client::Attempt(const std::shared_ptr<Operation>& op) {
  if (op->finished || closing_) return;
  Clock::time_point now = Clock::now();
  if (now >= op->deadline) {
    ClientResult result;
    result.status =
        op->maybe_proposed ? ClientResult::Status::kUnknown : ClientResult::Status::kFailed;
    result.error = "timed out: " + op->last_error;
    Finish(op, result);
    return;
  }
  statemachine::Envelope envelope;
  if (op->is_registration) {
    envelope.kind = statemachine::EnvelopeKind::kRegisterSession;
    envelope.session = op->nonce;
  } else {
    envelope.kind = statemachine::EnvelopeKind::kCommand;
    envelope.session = session_;
    envelope.sequence = op->sequence;
    envelope.lowest_unanswered = LowestUnanswered();
    envelope.payload = op->payload;
  }
  paxos::ReplicaId target = leader_guess_;
  auto timeout = std::min<Clock::duration>(options_.attempt_timeout, op->deadline - now);
  // The connection posts the result: it may arrive after this Client is gone.
  Connection(target).Submit(
      statemachine::EncodeEnvelope(envelope), timeout,
      [this, op, target, alive = std::weak_ptr<bool>(alive_)](transport::SubmitResult result) {
        if (alive.lock()) OnResult(op, target, std::move(result));
      });
}

void Client::OnResult(const std::shared_ptr<Operation>& op, paxos::ReplicaId target,
                      transport::SubmitResult result) {
  if (op->finished || closing_) return;
  if (result.call == transport::CallStatus::kRefused) {
    // A client may know only some members, so its member-list hash can differ
    // from the cluster's: learn the id from the first member that states it,
    // then hold every other member to it.
    if (LearnClusterId(target)) {
      RetryLater(op, std::chrono::milliseconds(0));
      return;
    }
  }
  if (result.call != transport::CallStatus::kReplied) {
    if (result.maybe_sent) op->maybe_proposed = true;
    op->last_error = "member " + std::to_string(target) + ": " +
                     transport::CallStatusName(result.call) +
                     (result.error.empty() ? "" : " (" + result.error + ")");
    if (leader_guess_ == target) leader_guess_ = NextMember(target);
    RetryLater(op, kNoLeaderBackoff);
    return;
  }
  const transport::Outcome& outcome = result.outcome;
  switch (outcome.status) {
    case transport::OutcomeStatus::kOk: {
      leader_guess_ = target;
      ClientResult ok;
      ok.status = ClientResult::Status::kOk;
      ok.result = outcome.result;
      ok.slot = outcome.slot;
      ok.leader = target;
      Finish(op, ok);
      return;
    }
    case transport::OutcomeStatus::kNotLeader: {
      // This attempt was not proposed; follow the hint if it is a member.
      op->last_error = "member " + std::to_string(target) + " is not the leader";
      bool known_hint = result.leader_hint != paxos::kNoReplica && result.leader_hint != target &&
                        options_.cluster.Find(result.leader_hint) != nullptr;
      leader_guess_ = known_hint ? result.leader_hint : NextMember(target);
      RetryLater(op, known_hint ? std::chrono::milliseconds(0) : kNoLeaderBackoff);
      return;
    }
    case transport::OutcomeStatus::kBusy:
      op->last_error = "member " + std::to_string(target) + " is busy";
      RetryLater(op, kNoLeaderBackoff);
      return;
    case transport::OutcomeStatus::kUnknown:
      op->maybe_proposed = true;
      op->last_error = "member " + std::to_string(target) + " lost track of the command";
      RetryLater(op, kNoLeaderBackoff);
      return;
    case transport::OutcomeStatus::kSessionExpired: {
      ClientResult expired;
      expired.status =
          op->maybe_proposed ? ClientResult::Status::kUnknown : ClientResult::Status::kFailed;
      expired.error = "session expired";
      if (!op->is_registration) session_state_ = SessionState::kNone;
      Finish(op, expired);
      return;
    }
    case transport::OutcomeStatus::kApplyFailed: {
      // Applied as a failure: definite, whatever earlier attempts did.
      leader_guess_ = target;
      ClientResult failed;
      failed.status = ClientResult::Status::kFailed;
      failed.error = "the state machine failed the command: " + outcome.result;
      failed.slot = outcome.slot;
      Finish(op, failed);
      return;
    }
    case transport::OutcomeStatus::kError: {
      ClientResult error;
      error.status =
          op->maybe_proposed ? ClientResult::Status::kUnknown : ClientResult::Status::kFailed;
      error.error = "rejected by member " + std::to_string(target) + ": " + outcome.result;
      Finish(op, error);
      return;
    }
  }
}

void Client::RetryLater(const std::shared_ptr<Operation>& op, std::chrono::milliseconds delay) {
  if (delay.count() == 0) {
    Attempt(op);
    return;
  }
  op->timer = std::make_unique<boost::asio::steady_timer>(loop_.io(), delay);
  op->timer->async_wait(
      [this, op, alive = std::weak_ptr<bool>(alive_)](const boost::system::error_code& error) {
        if (!error && alive.lock()) Attempt(op);
      });
}

void Client::Finish(const std::shared_ptr<Operation>& op, ClientResult result) {
  if (op->finished) return;
  op->finished = true;
  if (!op->is_registration) in_flight_.erase(op->sequence);
  auto done = std::move(op->done);
  if (done) done(std::move(result));
}

void Client::QueryStatuses(std::function<void(Statuses)> done) {
  auto statuses = std::make_shared<Statuses>();
  auto remaining = std::make_shared<size_t>(options_.cluster.members.size());
  auto finish = std::make_shared<std::function<void(Statuses)>>(std::move(done));
  for (const MemberAddress& member : options_.cluster.members) {
    statuses->emplace_back(member.id, std::nullopt);
  }
  for (size_t i = 0; i < options_.cluster.members.size(); ++i) {
    QueryOne(i, /*may_learn=*/true,
             [statuses, remaining, finish, i](std::optional<transport::ReplicaStatus> status) {
               (*statuses)[i].second = status;
               if (--*remaining == 0) (*finish)(std::move(*statuses));
             });
  }
}

void Client::QueryOne(size_t index, bool may_learn,
                      std::function<void(std::optional<transport::ReplicaStatus>)> done) {
  paxos::ReplicaId id = options_.cluster.members[index].id;
  Connection(id).QueryStatus(
      options_.attempt_timeout,
      [this, index, may_learn, id, done, alive = std::weak_ptr<bool>(alive_)](
          std::optional<transport::ReplicaStatus> status, const std::string&) {
        if (!alive.lock() || closing_) return;  // posted: may arrive after the Client is gone
        // Retry once if this member refused us, or the id was learned from
        // another member meanwhile (which also closed this connection).
        if (!status && may_learn && (LearnClusterId(id) || cluster_id_learned_)) {
          QueryOne(index, false, done);
          return;
        }
        done(status);
      });
}

}  // namespace synod::node
