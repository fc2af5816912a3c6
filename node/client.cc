#include "node/client.h"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cassert>
#include <charconv>
#include <cstdio>

#include "node/client_outcome.h"
#include "node/client_policy.h"
#include "node/os_random.h"
#include "statemachine/envelope.h"

namespace synod::node {

using Clock = std::chrono::steady_clock;

namespace {
constexpr std::chrono::milliseconds kNoLeaderBackoff{50};
// Room left in one message for the submit call's framing around a command.
constexpr size_t kSubmitFramingBytes = 1024;
}  // namespace

// One command (or the session registration) on its way through retries.
struct Client::Operation {
  bool is_registration = false;
  uint64_t nonce = 0;    // registration
  uint64_t session = 0;  // the session it was first sent on (0: not yet sent)
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
  probes_.clear();
  status_connections_.clear();
}

paxos::ReplicaId Client::NextMember(paxos::ReplicaId after) const {
  const auto& members = options_.cluster.members;
  auto dissents = [this](paxos::ReplicaId id) {
    return std::find(dissenters_.begin(), dissenters_.end(), id) != dissenters_.end();
  };
  size_t start = members.size() - 1;  // `after` unlisted: from the first member
  for (size_t i = 0; i < members.size(); ++i) {
    if (members[i].id == after) start = i;
  }
  for (size_t step = 1; step <= members.size(); ++step) {
    const MemberAddress& next = members[(start + step) % members.size()];
    if (!dissents(next.id)) return next.id;
  }
  return members.front().id;
}

transport::ClientConnection& Client::Connection(paxos::ReplicaId id) {
  auto it = connections_.find(id);
  if (it == connections_.end() || it->second->failed()) {
    const MemberAddress* member = options_.cluster.Find(id);
    if (member == nullptr && cluster_members_) member = cluster_members_->Find(id);
    assert(member != nullptr);  // callers pass listed or learned members only
    transport::ClientConnectionOptions connection_options;
    connection_options.cluster_id = cluster_id_;
    connection_options.server = {member->id, member->host, member->port};
    connection_options.limits = options_.limits;
    connection_options.connect_timeout = options_.attempt_timeout;
    auto connection = std::make_unique<transport::ClientConnection>(loop_, connection_options);
    it = connections_.insert_or_assign(id, std::move(connection)).first;
  }
  return *it->second;
}

void Client::WithClusterId(std::function<void()> next) {
  if (id_settled_) return next();
  waiting_for_id_.push_back(std::move(next));
  if (!learning_ && !learn_timer_) StartLearning();
}

// One round: every listed member is asked on a new connection (a hello; its
// reply states the member's cluster id and member list, also when it refuses
// us). Open connections are left alone: commands in flight on them go on.
void Client::StartLearning() {
  learning_ = true;
  ++learn_round_;
  statements_.clear();
  probes_.clear();  // an earlier round's; their late replies are ignored (round)
  probed_at_.clear();
  for (const MemberAddress& member : options_.cluster.members) Probe(member);
}

void Client::Probe(const MemberAddress& member) {
  uint64_t round = learn_round_;
  paxos::ReplicaId id = member.id;
  transport::ClientConnectionOptions probe_options;
  probe_options.cluster_id = cluster_id_;
  probe_options.server = {member.id, member.host, member.port};
  probe_options.connect_timeout = options_.attempt_timeout;
  probed_at_[id] = member.Endpoint();
  auto& probe = probes_[id];
  probe = std::make_unique<transport::ClientConnection>(loop_, probe_options);
  probe->WhenHandshaken(
      [this, round, id, alive = std::weak_ptr<bool>(alive_)](const transport::HandshakeInfo& info) {
        if (alive.lock() && !closing_) OnStatement(round, id, info);
      });
}

// The member list `text` if it names every listed member at its listed
// address, else nullopt (it cannot be the cluster this client lists).
std::optional<ClusterConfig> Client::ListIncludingOurs(const std::string& text) const {
  if (text.empty()) return std::nullopt;
  Result<ClusterConfig> stated = ParseClusterConfig(text);
  if (!stated.ok()) return std::nullopt;
  for (const MemberAddress& member : options_.cluster.members) {
    const MemberAddress* there = stated->Find(member.id);
    if (there == nullptr || there->Endpoint() != member.Endpoint()) return std::nullopt;
  }
  return std::move(*stated);
}

void Client::RelearnIfTheClusterAgreedSince(paxos::ReplicaId target) {
  auto it = connections_.find(target);
  if (settled_on_hash_ && it != connections_.end() && it->second->handshake().server_cluster != 0 &&
      it->second->handshake().server_cluster != cluster_id_) {
    id_settled_ = false;  // learn again (from a majority) before the retry
  }
}

void Client::OnStatement(uint64_t round, paxos::ReplicaId id,
                         const transport::HandshakeInfo& info) {
  if (!learning_ || round != learn_round_) return;
  statements_[id] = info;
  // A member list that names every listed member may name members this
  // client does not list: ask them too (at the stated addresses), so a
  // majority of the stated list can agree although listed members are down.
  if (std::optional<ClusterConfig> stated = ListIncludingOurs(info.server_members)) {
    for (const MemberAddress& member : stated->members) {
      if (probed_at_.count(member.id) == 0) Probe(member);
    }
  }
  // Count the statements (cluster id, member list); a reply without an id
  // (no answer) counts for nothing. A statement is adopted once more than
  // half of the listed members make it, or more than half of the member list
  // it names, if that list includes ours (members asked at the addresses it
  // gives): so listed members that are down do not block a client that lists
  // only some members, as long as a majority of the cluster agrees.
  std::map<std::pair<transport::ClusterId, std::string>, std::vector<paxos::ReplicaId>> votes;
  for (const auto& [member, stated] : statements_) {
    if (stated.server_cluster != 0) {
      votes[{stated.server_cluster, stated.server_members}].push_back(member);
    }
  }
  const size_t listed = options_.cluster.members.size();
  for (const auto& [statement, voters] : votes) {
    std::optional<ClusterConfig> stated = ListIncludingOurs(statement.second);
    size_t of_listed = 0;
    size_t of_stated = 0;
    for (paxos::ReplicaId voter : voters) {
      if (options_.cluster.Find(voter) != nullptr) ++of_listed;
      const MemberAddress* member = stated ? stated->Find(voter) : nullptr;
      if (member != nullptr && probed_at_[voter] == member->Endpoint()) ++of_stated;
    }
    if (of_listed * 2 <= listed && !(stated && of_stated * 2 > stated->members.size())) continue;
    // A majority agrees (of the stated cluster, or of the listed members).
    learning_ = false;
    id_settled_ = true;
    learn_error_.clear();
    cluster_members_.reset();
    if (!statement.second.empty()) {
      Result<ClusterConfig> agreed = ParseClusterConfig(statement.second);
      if (agreed.ok()) cluster_members_ = std::move(*agreed);
    }
    dissenters_.clear();
    for (const MemberAddress& member : options_.cluster.members) {
      auto it = statements_.find(member.id);
      if (it != statements_.end() && it->second.server_cluster != 0 &&
          std::make_pair(it->second.server_cluster, it->second.server_members) != statement) {
        dissenters_.push_back(member.id);
      }
    }
    if (std::find(dissenters_.begin(), dissenters_.end(), leader_guess_) != dissenters_.end()) {
      leader_guess_ = NextMember(leader_guess_);
    }
    // Whether the id is the stated list's hash (the cluster has no agreed
    // id yet). An older member states no list: its id cannot be told from
    // a hash, so it counts as one (learning again after a refusal, as before).
    settled_on_hash_ = true;
    if (cluster_members_) {
      std::vector<transport::PeerEndpoint> endpoints;
      for (const MemberAddress& m : cluster_members_->members)
        endpoints.push_back({m.id, m.host, m.port});
      settled_on_hash_ = statement.first == transport::MemberListClusterId(endpoints);
    }
    if (statement.first != cluster_id_) {
      cluster_id_ = statement.first;
      connections_.clear();  // reconnect with the agreed id
    }
    // A probe the member accepted, stating what the majority stated, serves
    // commands from now on where no usable connection is open; the rest close.
    for (auto& [member, probe] : probes_) {
      auto open = connections_.find(member);
      const transport::HandshakeInfo& probed = probe->handshake();
      if (probed.accepted &&
          std::make_pair(probed.server_cluster, probed.server_members) == statement &&
          (open == connections_.end() || open->second->failed())) {
        connections_[member] = std::move(probe);
      }
    }
    probes_.clear();
    break;
  }
  if (learning_ && statements_.size() < probes_.size()) return;  // more answers to come
  if (learning_) {
    // Everyone answered; no majority. Try again after a pause.
    learning_ = false;
    learn_error_ = "no majority of the listed members states one cluster id (";
    for (const auto& [member, stated] : statements_) {
      if (learn_error_.back() != '(') learn_error_ += "; ";
      learn_error_ += "member " + std::to_string(member) + ": ";
      if (stated.server_cluster == 0) {
        learn_error_ += "no answer";
      } else {
        char hex[17];
        std::snprintf(hex, sizeof hex, "%016llx",
                      static_cast<unsigned long long>(stated.server_cluster));
        learn_error_ += std::string("cluster ") + hex;
        if (!stated.server_members.empty()) learn_error_ += " of " + stated.server_members;
      }
    }
    learn_error_ += ")";
    probes_.clear();
    learn_timer_ = std::make_unique<boost::asio::steady_timer>(loop_.io(), kNoLeaderBackoff);
    learn_timer_->async_wait(
        [this, alive = std::weak_ptr<bool>(alive_)](const boost::system::error_code& error) {
          if (error || !alive.lock() || closing_) return;
          learn_timer_.reset();
          std::vector<std::function<void()>> waiting = std::move(waiting_for_id_);
          waiting_for_id_.clear();
          for (auto& next : waiting) next();
        });
    return;
  }
  std::vector<std::function<void()>> waiting = std::move(waiting_for_id_);
  waiting_for_id_.clear();
  for (auto& next : waiting) next();
}

uint64_t Client::LowestUnanswered() const {
  return in_flight_.empty() ? next_sequence_ : in_flight_.begin()->first;
}

size_t Client::MaxCommandBytes() const {
  size_t limit = options_.limits.max_message_bytes;
  size_t envelope = statemachine::EncodeEnvelope(statemachine::Envelope{}).size();
  return limit > kSubmitFramingBytes + envelope ? limit - kSubmitFramingBytes - envelope : 0;
}

void Client::Execute(std::string payload, std::function<void(ClientResult)> done) {
  auto op = std::make_shared<Operation>();
  op->deadline = Clock::now() + options_.timeout;
  op->done = std::move(done);
  if (payload.size() > MaxCommandBytes()) {
    // It can never leave: fail at once (posted, so `done` never runs inside Execute).
    ClientResult result;
    result.status = ClientResult::Status::kFailed;
    result.error = "command of " + std::to_string(payload.size()) +
                   " bytes exceeds the largest the client can send, " +
                   std::to_string(MaxCommandBytes()) + " bytes (message limit " +
                   std::to_string(options_.limits.max_message_bytes) + " bytes)";
    boost::asio::post(loop_.io(), [this, op, result, alive = std::weak_ptr<bool>(alive_)] {
      if (alive.lock()) Finish(op, result);
    });
    return;
  }
  op->payload = std::move(payload);
  Start(op);
}

void Client::Start(const std::shared_ptr<Operation>& op) {
  if (session_state_ == SessionState::kReady) {
    op->session = session_;
    op->sequence = next_sequence_++;
    in_flight_[op->sequence] = op;
    Attempt(op);
    return;
  }
  waiting_for_session_.push_back(op);
  EnsureSession();
}

bool Client::SessionEnded(const Operation& op) const {
  return !op.is_registration && (op.session != session_ || session_state_ != SessionState::kReady);
}

CommandFacts Client::FactsNow(const Operation& op) const {
  CommandFacts facts;
  facts.maybe_proposed = op.maybe_proposed;
  facts.session_ended = SessionEnded(op);
  facts.deadline_passed = Clock::now() >= op.deadline;
  return facts;
}

void Client::Proceed(const std::shared_ptr<Operation>& op, NextStep step, ClientResult answer,
                     std::chrono::milliseconds retry_delay) {
  switch (step) {
    case NextStep::kReportOk:
      answer.status = ClientResult::Status::kOk;
      Finish(op, std::move(answer));
      return;
    case NextStep::kReportFailed:
    case NextStep::kReportUnknown: {
      bool failed = step == NextStep::kReportFailed;
      answer.status = failed ? ClientResult::Status::kFailed : ClientResult::Status::kUnknown;
      if (answer.error.empty()) {
        answer.error = Clock::now() >= op->deadline ? "timed out: " + op->last_error
                       : failed
                           ? op->last_error
                           : "its session " + std::to_string(op->session) +
                                 " ended after it may have been proposed (" + op->last_error + ")";
      }
      Finish(op, std::move(answer));
      return;
    }
    case NextStep::kRetry:
      RetryLater(op, retry_delay);
      return;
    case NextStep::kResendOnNewSession:
      // Never proposed: a new command (new sequence number) of the next session.
      in_flight_.erase(op->sequence);
      op->session = 0;
      op->sequence = 0;
      Start(op);
      return;
  }
}

void Client::EnsureSession() {
  if (session_state_ != SessionState::kNone) return;
  session_state_ = SessionState::kRegistering;
  auto op = std::make_shared<Operation>();
  op->is_registration = true;
  op->nonce = random_() | 1;
  op->deadline = Clock::now() + options_.timeout;
  op->done = [this](ClientResult result) {
    uint64_t session = 0;
    if (result.status == ClientResult::Status::kOk) {
      const char* end = result.result.data() + result.result.size();
      auto [parsed_end, error] = std::from_chars(result.result.data(), end, session);
      if (error != std::errc() || parsed_end != end || session == 0) {
        // A member that answers a registration with no session id is broken
        // or hostile: the commands waiting for it were never sent.
        result.status = ClientResult::Status::kFailed;
        result.error = "a member answered a session registration with \"" +
                       result.result.substr(0, 64) + "\", not a session id";
      }
    }
    if (result.status == ClientResult::Status::kOk) {
      OnSessionReady(session);
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
  for (auto& op : waiting) Start(op);
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
  if (now >= op->deadline || SessionEnded(*op)) {
    // No attempt: reports or re-sends, never retries.
    Proceed(op, DecideNextStep(AttemptEnd::kRetryable, FactsNow(*op)), {}, kNoLeaderBackoff);
    return;
  }
  if (!id_settled_) {
    if (!learn_error_.empty()) op->last_error = learn_error_;
    WithClusterId([this, op] { Attempt(op); });
    return;
  }
  statemachine::Envelope envelope;
  if (op->is_registration) {
    envelope.kind = statemachine::EnvelopeKind::kRegisterSession;
    envelope.session = op->nonce;
  } else {
    envelope.kind = statemachine::EnvelopeKind::kCommand;
    envelope.session = op->session;  // never another session's: see client_policy.h
    envelope.sequence = op->sequence;
    envelope.lowest_unanswered = LowestUnanswered();
    envelope.payload = op->payload;
  }
  if (options_.cluster.Find(leader_guess_) == nullptr &&
      !(cluster_members_ && cluster_members_->Find(leader_guess_))) {
    leader_guess_ = NextMember(leader_guess_);  // a hinted member no longer in the learned list
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
  // First what the answer tells about the cluster (leader, cluster id,
  // session), then what it means for the command: DecideAfterAttempt.
  const std::string member = "member " + std::to_string(target);
  const transport::Outcome& outcome = result.outcome;
  std::chrono::milliseconds retry_delay = kNoLeaderBackoff;
  ClientResult answer;  // what a report carries; Proceed sets its status
  if (result.call != transport::CallStatus::kReplied) {
    if (result.call == transport::CallStatus::kRefused) RelearnIfTheClusterAgreedSince(target);
    op->last_error = member + ": " + transport::CallStatusName(result.call) +
                     (result.error.empty() ? "" : " (" + result.error + ")");
    if (leader_guess_ == target) leader_guess_ = NextMember(target);
  } else {
    switch (outcome.status) {
      case transport::OutcomeStatus::kOk:
        leader_guess_ = target;
        answer.result = outcome.result;
        answer.slot = outcome.slot;
        answer.leader = target;
        break;
      case transport::OutcomeStatus::kNotLeader: {
        // Follow the hint if it is a member (listed, or in the member list
        // the majority stated).
        op->last_error = member + " is not the leader";
        bool known_hint = result.leader_hint != paxos::kNoReplica && result.leader_hint != target &&
                          (options_.cluster.Find(result.leader_hint) != nullptr ||
                           (cluster_members_ && cluster_members_->Find(result.leader_hint)));
        leader_guess_ = known_hint ? result.leader_hint : NextMember(target);
        if (known_hint) retry_delay = std::chrono::milliseconds(0);
        break;
      }
      case transport::OutcomeStatus::kBusy:
        op->last_error = member + (outcome.result.empty() ? " is busy" : ": " + outcome.result);
        break;
      case transport::OutcomeStatus::kUnknown:
        op->last_error = member + " lost track of the command";
        break;
      case transport::OutcomeStatus::kSessionExpired:
        if (op->is_registration) {
          answer.error = member + " answered a session registration \"session expired\"";
          break;
        }
        // The session is gone for good (ids are never reused): no command of
        // it is applied from now on. Its commands still in flight learn it on
        // their next answer or retry (SessionEnded).
        op->last_error = "session " + std::to_string(op->session) + " expired (" + member + ")";
        if (op->session == session_ && session_state_ == SessionState::kReady) {
          session_state_ = SessionState::kNone;
        }
        break;
      case transport::OutcomeStatus::kApplyFailed:
        leader_guess_ = target;
        answer.error = "the state machine failed the command: " + outcome.result;
        answer.slot = outcome.slot;
        break;
      case transport::OutcomeStatus::kRefused:
        leader_guess_ = target;
        answer.error = "refused by " + member + ": " + outcome.result;
        break;
      case transport::OutcomeStatus::kError:
        answer.error = "rejected by " + member + ": " + outcome.result;
        break;
    }
  }
  AttemptDecision decision = DecideAfterAttempt({result.call, result.maybe_sent, outcome.status},
                                                op->is_registration, FactsNow(*op));
  op->maybe_proposed = decision.maybe_proposed;
  Proceed(op, decision.step, std::move(answer), retry_delay);
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
  // Members that state another cluster id than the majority's answer as
  // unreachable; without a majority, each is asked with the id it states.
  WithClusterId([this, statuses, remaining, finish] {
    for (size_t i = 0; i < options_.cluster.members.size(); ++i) {
      QueryOne(i, [statuses, remaining, finish, i](std::optional<transport::ReplicaStatus> status) {
        (*statuses)[i].second = status;
        if (--*remaining == 0) (*finish)(std::move(*statuses));
      });
    }
  });
}

void Client::QueryOne(size_t index,
                      std::function<void(std::optional<transport::ReplicaStatus>)> done) {
  paxos::ReplicaId id = options_.cluster.members[index].id;
  Connection(id).QueryStatus(
      options_.attempt_timeout,
      [this, id, done, alive = std::weak_ptr<bool>(alive_)](
          std::optional<transport::ReplicaStatus> status, const std::string&) {
        if (!alive.lock() || closing_) return;  // posted: may arrive after the Client is gone
        auto it = connections_.find(id);
        if (status || id_settled_ || it == connections_.end()) return done(status);
        const transport::HandshakeInfo& info = it->second->handshake();
        if (info.accepted || info.server_cluster == 0) return done(status);
        // No majority stated one id: a status is no command, so ask this
        // member once more with the id it states itself.
        transport::ClientConnectionOptions own;
        own.cluster_id = info.server_cluster;
        const MemberAddress* member = options_.cluster.Find(id);
        own.server = {member->id, member->host, member->port};
        own.connect_timeout = options_.attempt_timeout;
        auto& connection = status_connections_[id];
        connection = std::make_unique<transport::ClientConnection>(loop_, own);
        connection->QueryStatus(
            options_.attempt_timeout,
            [done, alive](std::optional<transport::ReplicaStatus> second, const std::string&) {
              if (alive.lock()) done(second);
            });
      });
}

}  // namespace synod::node
