// Client tests.
//
// Lifetime: results and status answers that its connections deliver after
// the Client is gone (they are posted to the loop) must not reach it. The use
// after free this guards against shows in the sanitizer build, which is the
// one the test suite runs.
//
// Sessions and limits: the real Client talks over the real transport to a
// fake leader (FakeLeader below) that applies what it receives through the
// real statemachine::Applier at a log time the test sets, and holds or
// refuses answers as the test says. Tests wait on conditions, never on sleeps.
#include "node/client.h"

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include "node/client_policy.h"
#include "statemachine/applier.h"
#include "statemachine/envelope.h"
#include "transport/server.h"

namespace synod::node {
namespace {

using namespace std::chrono_literals;

// Port 1 on 127.0.0.1: nothing listens there, and the connection attempt is
// still pending when the Client is destroyed (the loop has not run yet).
ClientOptions UnreachableCluster() {
  ClientOptions options;
  options.cluster.members = {{1, "127.0.0.1", 1}, {2, "127.0.0.1", 1}, {3, "127.0.0.1", 1}};
  return options;
}

TEST(Client, DestroyedWithACommandInFlightIgnoresItsLateResult) {
  transport::EventLoop loop;
  bool called = false;
  auto client = std::make_unique<Client>(loop, UnreachableCluster());
  client->Execute("x", [&](ClientResult) { called = true; });
  client.reset();  // its connections post their failed calls' results
  loop.RunFor(50ms);
  EXPECT_FALSE(called) << "a destroyed client reports nothing";
}

TEST(Client, DestroyedWithAStatusQueryInFlightIgnoresItsLateAnswer) {
  transport::EventLoop loop;
  bool called = false;
  auto client = std::make_unique<Client>(loop, UnreachableCluster());
  client->QueryStatuses([&](Client::Statuses) { called = true; });
  client.reset();
  loop.RunFor(50ms);
  EXPECT_FALSE(called);
}

// A fake member: answers a session registration with session 7 and a
// command with `name` if it plays the leader, else "not leader" with
// `leader_hint`. As the leader, it can instead refuse registrations, answer
// them "session expired", or answer a command's first attempt "unknown" and
// later ones "refused". Its status names its role and `leader_hint`.
class FakeMember final : public transport::ClientRequestHandler {
 public:
  FakeMember(std::string name, bool leader, paxos::ReplicaId leader_hint)
      : name_(std::move(name)), leader_(leader), hint_(leader_hint) {}
  void OnSubmit(std::vector<std::string> commands, transport::SubmitDone done) override {
    transport::ClientReply reply;
    reply.leader_hint = hint_;
    for (const std::string& command : commands) {
      auto envelope = statemachine::DecodeEnvelope(command);
      bool registration =
          envelope && envelope->kind == statemachine::EnvelopeKind::kRegisterSession;
      if (!leader_) {
        reply.outcomes.push_back({transport::OutcomeStatus::kNotLeader, "", 0});
      } else if (registration && refuse_registrations) {
        reply.outcomes.push_back({transport::OutcomeStatus::kRefused, "too many sessions", 1});
      } else if (registration && expire_registrations) {
        reply.outcomes.push_back({transport::OutcomeStatus::kSessionExpired, "", 0});
      } else if (!registration && refuse_commands) {
        reply.outcomes.push_back(
            attempts++ == 0
                ? transport::Outcome{transport::OutcomeStatus::kUnknown, "", 0}
                : transport::Outcome{transport::OutcomeStatus::kRefused,
                                     "session holds too many unacknowledged results", 1});
      } else {
        reply.outcomes.push_back(
            {transport::OutcomeStatus::kOk, registration ? registration_answer : name_, 1});
      }
    }
    done(std::move(reply));
  }
  transport::ReplicaStatus OnStatus() override {
    transport::ReplicaStatus status;
    status.role = leader_ ? transport::Role::kLeader : transport::Role::kFollower;
    status.leader = hint_;
    return status;
  }

  bool refuse_registrations = false;
  bool expire_registrations = false;  // answer a registration "session expired" (no replica does)
  bool refuse_commands = false;
  std::string registration_answer = "7";  // the session id an ok registration names
  int attempts = 0;                       // commands answered while refuse_commands

 private:
  std::string name_;
  bool leader_;
  paxos::ReplicaId hint_;
};

// Three members on 127.0.0.1 stating `ids[i]` as their cluster id and the
// members' list as theirs; member `leader` plays the leader.
struct FakeCluster {
  FakeCluster(transport::EventLoop& loop, std::vector<transport::ClusterId> ids,
              paxos::ReplicaId leader) {
    for (paxos::ReplicaId id = 1; id <= 3; ++id) {
      handlers.push_back(
          std::make_unique<FakeMember>("from " + std::to_string(id), id == leader, leader));
      // Free ports first: each server states the whole member list.
      transport::Server probe(loop, transport::ServerOptions{}, nullptr, handlers.back().get());
      EXPECT_EQ(probe.Listen(), Status::Ok());
      config.members.push_back({id, "127.0.0.1", probe.port()});
    }
    for (paxos::ReplicaId id = 1; id <= 3; ++id) {
      transport::ServerOptions options;
      options.port = config.members[id - 1].port;
      options.cluster_id = ids[id - 1];
      options.members = config.ToString();
      options.self = id;
      servers.push_back(
          std::make_unique<transport::Server>(loop, options, nullptr, handlers[id - 1].get()));
      EXPECT_EQ(servers.back()->Listen(), Status::Ok());
    }
  }
  std::vector<std::unique_ptr<FakeMember>> handlers;
  std::vector<std::unique_ptr<transport::Server>> servers;
  ClusterConfig config;
};

ClientResult ExecuteAndWait(transport::EventLoop& loop, const ClusterConfig& members) {
  ClientOptions options;
  options.cluster = members;
  options.timeout = 3s;
  options.attempt_timeout = 1s;
  Client client(loop, options);
  std::optional<ClientResult> result;
  client.Execute("x", [&](ClientResult r) { result = std::move(r); });
  loop.RunUntil([&] { return result.has_value(); }, 10s);
  return result.value_or(ClientResult{});
}

TEST(Client, OneMemberStatingAnotherClusterIdNeverMisleadsIt) {
  transport::EventLoop loop;
  FakeCluster cluster(loop, {0xA6, 0xA6, 0xBAD}, /*leader=*/1);
  for (int i = 0; i < 20; ++i) {  // each client starts at a random member
    ClientResult result = ExecuteAndWait(loop, cluster.config);
    ASSERT_EQ(result.status, ClientResult::Status::kOk) << i << ": " << result.error;
    EXPECT_EQ(result.result, "from 1");
  }
}

TEST(Client, FollowsALeaderHintToAMemberItDoesNotList) {
  transport::EventLoop loop;
  FakeCluster cluster(loop, {0xA6, 0xA6, 0xA6}, /*leader=*/1);
  ClusterConfig followers;
  followers.members = {cluster.config.members[1], cluster.config.members[2]};
  ClientResult result = ExecuteAndWait(loop, followers);
  ASSERT_EQ(result.status, ClientResult::Status::kOk) << result.error;
  EXPECT_EQ(result.result, "from 1");
}

TEST(Client, NoMajorityStatingOneClusterIdFailsSayingSo) {
  transport::EventLoop loop;
  FakeCluster cluster(loop, {0xA1, 0xA2, 0xA3}, /*leader=*/1);
  ClientResult result = ExecuteAndWait(loop, cluster.config);
  EXPECT_EQ(result.status, ClientResult::Status::kFailed);
  EXPECT_NE(result.error.find("no majority"), std::string::npos) << result.error;
}

// A refusal is definite even when an earlier attempt may have been proposed:
// a refused command is never applied, now or later.
TEST(Client, ARefusedCommandFailsEvenAfterAnAttemptThatMayHaveBeenProposed) {
  transport::EventLoop loop;
  FakeCluster cluster(loop, {0xA6, 0xA6, 0xA6}, /*leader=*/1);
  cluster.handlers[0]->refuse_commands = true;
  ClientResult result = ExecuteAndWait(loop, cluster.config);
  EXPECT_EQ(cluster.handlers[0]->attempts, 2);
  EXPECT_EQ(result.status, ClientResult::Status::kFailed) << result.error;
  EXPECT_NE(result.error.find("session holds too many unacknowledged results"), std::string::npos)
      << result.error;
}

TEST(Client, ARefusedRegistrationFailsTheCommandSayingWhy) {
  transport::EventLoop loop;
  FakeCluster cluster(loop, {0xA6, 0xA6, 0xA6}, /*leader=*/1);
  cluster.handlers[0]->refuse_registrations = true;
  ClientResult result = ExecuteAndWait(loop, cluster.config);
  EXPECT_EQ(result.status, ClientResult::Status::kFailed) << result.error;
  EXPECT_NE(result.error.find("too many sessions"), std::string::npos) << result.error;
}

// A registration belongs to no session: "session expired" for it makes no
// sense and ends it (the command was never sent: failed), rather than queueing
// the registration behind itself, which left the command waiting forever.
TEST(Client, ARegistrationAnsweredSessionExpiredFailsTheCommandSayingSo) {
  transport::EventLoop loop;
  FakeCluster cluster(loop, {0xA6, 0xA6, 0xA6}, /*leader=*/1);
  cluster.handlers[0]->expire_registrations = true;
  ClientResult result = ExecuteAndWait(loop, cluster.config);
  EXPECT_EQ(result.status, ClientResult::Status::kFailed) << result.error;
  EXPECT_NE(result.error.find("answered a session registration \"session expired\""),
            std::string::npos)
      << result.error;
}

// A broken or hostile member answering a registration "ok" with no session
// id fails the waiting command (never sent) instead of ending the client.
TEST(Client, ARegistrationAnsweredWithoutASessionIdFailsTheCommandSayingSo) {
  for (std::string answer : {"", "abc", "7x", "0", "99999999999999999999999"}) {
    transport::EventLoop loop;
    FakeCluster cluster(loop, {0xA6, 0xA6, 0xA6}, /*leader=*/1);
    cluster.handlers[0]->registration_answer = answer;
    ClientResult result = ExecuteAndWait(loop, cluster.config);
    EXPECT_EQ(result.status, ClientResult::Status::kFailed) << answer << ": " << result.error;
    EXPECT_NE(result.error.find("not a session id"), std::string::npos) << result.error;
  }
}

TEST(Client, StatusWithoutAMajorityAsksEachMemberWithTheIdItStates) {
  transport::EventLoop loop;
  FakeCluster cluster(loop, {0xA1, 0xA2, 0xA6}, /*leader=*/1);
  ClientOptions options;
  options.cluster = cluster.config;
  options.attempt_timeout = 1s;
  Client client(loop, options);
  std::optional<Client::Statuses> statuses;
  client.QueryStatuses([&](Client::Statuses s) { statuses = std::move(s); });
  ASSERT_TRUE(loop.RunUntil([&] { return statuses.has_value(); }, 10s));
  for (const auto& [id, status] : *statuses) EXPECT_TRUE(status.has_value()) << id;
}

// The decision table the Client and the simulator's clients share.
TEST(ClientPolicy, ACommandOfAnEndedSessionIsNeverSentAgainIfItMayHaveBeenProposed) {
  auto decide = [](AttemptEnd end, bool maybe_proposed, bool session_ended, bool deadline) {
    return DecideNextStep(end, CommandFacts{maybe_proposed, session_ended, deadline});
  };
  for (bool proposed : {false, true}) {
    for (bool ended : {false, true}) {
      for (bool deadline : {false, true}) {
        EXPECT_EQ(decide(AttemptEnd::kApplied, proposed, ended, deadline), NextStep::kReportOk);
        EXPECT_EQ(decide(AttemptEnd::kFailedForGood, proposed, ended, deadline),
                  NextStep::kReportFailed);
        EXPECT_EQ(decide(AttemptEnd::kRejected, proposed, ended, deadline),
                  proposed ? NextStep::kReportUnknown : NextStep::kReportFailed);
        for (AttemptEnd end : {AttemptEnd::kSessionExpired, AttemptEnd::kRetryable}) {
          bool session_over = ended || end == AttemptEnd::kSessionExpired;
          NextStep step = decide(end, proposed, ended, deadline);
          if (proposed && (session_over || deadline)) {
            EXPECT_EQ(step, NextStep::kReportUnknown);
          } else if (deadline) {
            EXPECT_EQ(step, NextStep::kReportFailed);
          } else {
            EXPECT_EQ(step, session_over ? NextStep::kResendOnNewSession : NextStep::kRetry);
          }
        }
      }
    }
  }
}

// A counter: every command adds 10 and returns the new value; counts how often
// each distinct payload was applied.
class CountingMachine : public statemachine::StateMachine {
 public:
  std::string Apply(std::string_view command, const statemachine::ApplyContext&) override {
    ++applied[std::string(command)];
    counter += 10;
    return std::to_string(counter);
  }
  void Snapshot(statemachine::SnapshotWriter&) const override {}
  bool Restore(statemachine::SnapshotReader&) override { return true; }

  int64_t counter = 0;
  std::map<std::string, int> applied;
};

// The one member of a cluster: a transport::Server whose client handler
// "chooses" every envelope it receives at once, in its own slot, and applies
// it through a real Applier at log time `log_time_ms`. What it answers is up
// to the test: `hold_answers` keeps every answer back (the commands are still
// applied; session registrations are answered), `busy` answers kBusy without proposing for the
// (session, sequence) pairs in it. Network thread only.
class FakeLeader : public transport::ClientRequestHandler {
 public:
  explicit FakeLeader(transport::EventLoop& loop, statemachine::SessionOptions sessions)
      : applier_(machine, sessions) {
    transport::ServerOptions options;
    options.self = 1;
    server_ = std::make_unique<transport::Server>(loop, options, nullptr, this);
    EXPECT_EQ(server_->Listen(), Status::Ok());
    server_->SetClusterId(transport::MemberListClusterId({{1, "127.0.0.1", server_->port()}}));
  }

  ClientOptions Options() const {
    ClientOptions options;
    options.cluster.members = {{1, "127.0.0.1", server_->port()}};
    return options;
  }

  void OnSubmit(std::vector<std::string> commands, transport::SubmitDone done) override {
    transport::ClientReply reply;
    reply.leader_hint = 1;
    bool has_command = false;
    for (const std::string& bytes : commands) {
      std::optional<statemachine::Envelope> envelope = statemachine::DecodeEnvelope(bytes);
      EXPECT_TRUE(envelope.has_value());
      if (!envelope) return;
      ++submitted;
      if (envelope->kind == statemachine::EnvelopeKind::kRegisterSession) ++registrations;
      has_command = has_command || envelope->kind == statemachine::EnvelopeKind::kCommand;
      if (envelope->kind == statemachine::EnvelopeKind::kCommand &&
          busy.count({envelope->session, envelope->sequence})) {
        reply.outcomes.push_back({transport::OutcomeStatus::kBusy, "", 0});
        continue;
      }
      auto value = std::make_shared<paxos::Value>();
      value->kind = paxos::ValueKind::kCommands;
      value->commands = {statemachine::RestampEnvelope(bytes, log_time_ms, paxos::Ballot{1, 1})};
      auto outcomes = applier_.Apply(paxos::CommittedEntry{applier_.applied() + 1, value});
      EXPECT_EQ(outcomes.size(), 1u);
      const statemachine::CommandOutcome& outcome = outcomes.at(0);
      if (outcome.kind == statemachine::EnvelopeKind::kCommand) {
        sessions_seen.insert(outcome.session);
        if (outcome.status == statemachine::CommandOutcome::Status::kOk && !outcome.duplicate) {
          first_result.emplace(envelope->payload, outcome.result);
        }
      }
      bool ok = outcome.status == statemachine::CommandOutcome::Status::kOk;
      if (!ok) ++expired_refusals;
      reply.outcomes.push_back(
          {ok ? transport::OutcomeStatus::kOk : transport::OutcomeStatus::kSessionExpired,
           outcome.result, outcome.slot});
    }
    if (hold_answers && has_command) {
      held_.push_back(std::move(done));
    } else {
      done(std::move(reply));
    }
  }
  transport::ReplicaStatus OnStatus() override { return {}; }

  CountingMachine machine;
  uint64_t log_time_ms = 1;
  bool hold_answers = false;
  std::set<std::pair<uint64_t, uint64_t>> busy;
  size_t submitted = 0;                             // envelopes received
  size_t expired_refusals = 0;                      // commands refused: session expired
  size_t registrations = 0;                         // session registrations received
  std::set<uint64_t> sessions_seen;                 // sessions of the commands applied or refused
  std::map<std::string, std::string> first_result;  // payload -> result of its first application

 private:
  statemachine::Applier applier_;
  std::unique_ptr<transport::Server> server_;
  std::vector<transport::SubmitDone> held_;  // answers never sent (dropped with the fake)
};

// Collects the outcomes the client reports, and how often each was reported.
struct Outcomes {
  std::function<void(ClientResult)> For(const std::string& payload) {
    return [this, payload](ClientResult result) {
      ++reports[payload];
      results[payload] = std::move(result);
    };
  }
  std::map<std::string, int> reports;
  std::map<std::string, ClientResult> results;
};

// Six commands are applied but their answers are held past the attempt
// timeout; their retries are refused as busy (never proposed); log time moves
// past the session expiry; a seventh command is answered "session expired";
// an eighth opens a new session. The six are never re-sent under the new
// session: each is applied once and reported unknown (or ok with the result
// of its one application), and the never-proposed seventh is re-sent on the
// new session and applied once.
TEST(Client, CommandsInFlightAcrossASessionExpiryAreNeverAppliedTwice) {
  transport::EventLoop loop;
  statemachine::SessionOptions sessions;
  sessions.expiry_ms = 3000;
  FakeLeader leader(loop, sessions);
  ClientOptions options = leader.Options();
  options.attempt_timeout = 300ms;
  options.timeout = 20s;
  Client client(loop, options);
  Outcomes outcomes;

  leader.hold_answers = true;
  for (int i = 1; i <= 6; ++i) {
    std::string payload = "add10#" + std::to_string(i);
    client.Execute(payload, outcomes.For(payload));
  }
  ASSERT_TRUE(loop.RunUntil([&] { return leader.machine.applied.size() == 6; }, 10s));
  // Session 1 holds the six at sequences 1-6: refuse their retries as busy.
  for (uint64_t sequence = 1; sequence <= 6; ++sequence) leader.busy.insert({1, sequence});
  leader.hold_answers = false;
  leader.log_time_ms += 3001;  // a partition, or a jump of log time, past the expiry
  // Let every one of the six time out once and be refused on a retry.
  size_t before = leader.submitted;
  ASSERT_TRUE(loop.RunUntil([&] { return leader.submitted >= before + 6; }, 10s));

  // The seventh goes out on session 1 and is refused: the session expired.
  client.Execute("add10#7", outcomes.For("add10#7"));
  // Once the client has the answer it reports the seventh (and ends the
  // session) or opens a new session to re-send it.
  ASSERT_TRUE(loop.RunUntil(
      [&] { return outcomes.reports.count("add10#7") == 1 || leader.registrations >= 2; }, 10s));
  // The eighth needs a new session.
  client.Execute("add10#8", outcomes.For("add10#8"));
  ASSERT_TRUE(loop.RunUntil([&] { return outcomes.reports.size() == 8; }, 25s))
      << outcomes.reports.size() << " of 8 commands reported";
  loop.RunFor(200ms);  // nothing more is reported or applied afterwards

  for (const auto& [payload, count] : leader.machine.applied) {
    EXPECT_EQ(count, 1) << payload << " applied " << count << " times";
  }
  for (const auto& [payload, count] : outcomes.reports) {
    EXPECT_EQ(count, 1) << payload << " reported " << count << " times";
  }
  for (int i = 1; i <= 6; ++i) {
    std::string payload = "add10#" + std::to_string(i);
    const ClientResult& result = outcomes.results[payload];
    if (result.status == ClientResult::Status::kOk) {
      EXPECT_EQ(result.result, leader.first_result[payload])
          << payload << " reported ok with the result of a second application";
    } else {
      EXPECT_EQ(result.status, ClientResult::Status::kUnknown) << payload << ": " << result.error;
    }
  }
  // The seventh was refused (its session had expired) and never proposed
  // before: re-sent on the new session, applied once.
  EXPECT_EQ(outcomes.results["add10#7"].status, ClientResult::Status::kOk)
      << outcomes.results["add10#7"].error;
  EXPECT_EQ(outcomes.results["add10#8"].status, ClientResult::Status::kOk)
      << outcomes.results["add10#8"].error;
  EXPECT_GE(leader.expired_refusals, 1u);
  EXPECT_EQ(leader.machine.counter, 80);
}

// A command that cannot fit one message of the client's transport can never
// leave: it fails at once, definitely, naming the limit, instead of being
// retried until the timeout and reported unknown. The largest the client
// accepts (MaxCommandBytes: the limit less the envelope and 1 KiB for the
// call's framing) goes through.
TEST(Client, ACommandTooLargeForOneMessageFailsAtOnceNamingTheLimit) {
  transport::EventLoop loop;
  FakeLeader leader(loop, statemachine::SessionOptions{});
  ClientOptions options = leader.Options();
  options.limits.max_message_bytes = 1 << 20;
  options.timeout = 5s;
  Client client(loop, options);
  ASSERT_GT(client.MaxCommandBytes(), (1u << 20) - 2048);
  ASSERT_LT(client.MaxCommandBytes(), 1u << 20);

  Outcomes outcomes;
  for (size_t size : {size_t{1} << 20, client.MaxCommandBytes() + 1}) {
    std::string name = "size " + std::to_string(size);
    auto start = std::chrono::steady_clock::now();
    client.Execute(std::string(size, 'x'), outcomes.For(name));
    ASSERT_TRUE(loop.RunUntil([&] { return outcomes.reports.count(name) == 1; }, 10s));
    EXPECT_LT(std::chrono::steady_clock::now() - start, 1s) << name << ": reported late";
    const ClientResult& result = outcomes.results[name];
    EXPECT_EQ(result.status, ClientResult::Status::kFailed) << name << ": " << result.error;
    EXPECT_NE(result.error.find(std::to_string(1 << 20)), std::string::npos) << result.error;
  }
  EXPECT_EQ(leader.machine.applied.size(), 0u);

  client.Execute(std::string(client.MaxCommandBytes(), 'y'), outcomes.For("largest"));
  ASSERT_TRUE(loop.RunUntil([&] { return outcomes.reports.count("largest") == 1; }, 10s));
  EXPECT_EQ(outcomes.results["largest"].status, ClientResult::Status::kOk)
      << outcomes.results["largest"].error;
  EXPECT_EQ(leader.machine.applied.size(), 1u);
}

// A client that learned the member-list hash before the cluster agreed its id
// relearns from fresh hello replies: connections opened under the hash must
// not keep stating it and outvote the member that was restarted with the id.
TEST(Client, RelearnsAfterTheAgreedIdDespiteConnectionsOpenedUnderTheHash) {
  transport::EventLoop loop;
  FakeCluster cluster(loop, {1, 1, 1}, /*leader=*/2);
  std::vector<transport::PeerEndpoint> endpoints;
  for (const MemberAddress& m : cluster.config.members) endpoints.push_back({m.id, m.host, m.port});
  const transport::ClusterId hash = transport::MemberListClusterId(endpoints);
  for (auto& server : cluster.servers) server->SetClusterId(hash);
  ClientOptions options;
  options.cluster = cluster.config;
  options.timeout = 3s;
  options.attempt_timeout = 1s;
  Client client(loop, options);
  auto run = [&](const std::string& cmd) {
    std::optional<ClientResult> result;
    client.Execute(cmd, [&](ClientResult r) { result = std::move(r); });
    loop.RunUntil([&] { return result.has_value(); }, 10s);
    return result.value_or(ClientResult{});
  };
  ASSERT_EQ(run("a").status, ClientResult::Status::kOk);
  constexpr transport::ClusterId kAgreed = 0xA6;
  cluster.servers[0]->SetClusterId(kAgreed);
  cluster.servers[2]->SetClusterId(kAgreed);
  cluster.servers[1].reset();
  transport::ServerOptions restarted;
  restarted.port = cluster.config.members[1].port;
  restarted.cluster_id = kAgreed;
  restarted.members = cluster.config.ToString();
  restarted.self = 2;
  cluster.servers[1] =
      std::make_unique<transport::Server>(loop, restarted, nullptr, cluster.handlers[1].get());
  ASSERT_EQ(cluster.servers[1]->Listen(), Status::Ok());
  ClientResult second = run("b");
  EXPECT_EQ(second.status, ClientResult::Status::kOk) << second.error;
}

// Another cluster now answers at the addresses of the one whose agreed id the
// client learned (every member replaced, all stating a new agreed id). A
// cluster's agreed id never changes, so the refusals mean another cluster:
// the client must not learn its id and submit there, nor report its members.
TEST(Client, NeverMovesToAnotherClusterOnItsAddressesOnceItLearnedAnAgreedId) {
  transport::EventLoop loop;
  FakeCluster cluster(loop, {0xA6, 0xA6, 0xA6}, /*leader=*/1);
  ClientOptions options;
  options.cluster = cluster.config;
  options.timeout = 1s;
  options.attempt_timeout = 300ms;
  Client client(loop, options);
  auto run = [&](const std::string& cmd) {
    std::optional<ClientResult> result;
    client.Execute(cmd, [&](ClientResult r) { result = std::move(r); });
    loop.RunUntil([&] { return result.has_value(); }, 10s);
    return result.value_or(ClientResult{});
  };
  ASSERT_EQ(run("a").status, ClientResult::Status::kOk);
  for (paxos::ReplicaId id = 1; id <= 3; ++id) {
    cluster.servers[id - 1].reset();
    transport::ServerOptions other;
    other.port = cluster.config.members[id - 1].port;
    other.cluster_id = 0xB7;
    other.members = cluster.config.ToString();
    other.self = id;
    cluster.servers[id - 1] =
        std::make_unique<transport::Server>(loop, other, nullptr, cluster.handlers[id - 1].get());
    ASSERT_EQ(cluster.servers[id - 1]->Listen(), Status::Ok());
  }
  ClientResult second = run("b");
  EXPECT_NE(second.status, ClientResult::Status::kOk) << "submitted to another cluster";
  EXPECT_NE(second.error.find("wrong cluster id"), std::string::npos) << second.error;
  std::optional<std::optional<transport::ReplicaStatus>> leader;
  client.QueryLeaderStatus(
      [&](std::optional<transport::ReplicaStatus> status, std::string) { leader = status; });
  loop.RunUntil([&] { return leader.has_value(); }, 10s);
  ASSERT_TRUE(leader.has_value());
  EXPECT_FALSE(leader->has_value()) << "answered by another cluster";
}

// A client listing two of three members still settles the id when one of
// them is down: the member that answers states the whole list, the client
// asks the member it does not list, and two of the three agree.
TEST(Client, LearnsFromAMajorityOfTheStatedListWhenAListedMemberIsDown) {
  transport::EventLoop loop;
  FakeCluster cluster(loop, {0xA6, 0xA6, 0xA6}, /*leader=*/1);
  cluster.servers[1].reset();  // member 2 is down
  ClusterConfig listed;
  listed.members = {cluster.config.members[0], cluster.config.members[1]};
  ClientResult result = ExecuteAndWait(loop, listed);
  ASSERT_EQ(result.status, ClientResult::Status::kOk) << result.error;
  EXPECT_EQ(result.result, "from 1");
}

// A stated list that does not name the listed members where the client lists
// them is no majority for the client's cluster, however many state it.
TEST(Client, AStatedListThatMovesAListedMemberCountsOnlyAgainstTheListedMembers) {
  transport::EventLoop loop;
  FakeCluster cluster(loop, {0xA6, 0xA6, 0xA6}, /*leader=*/1);
  cluster.servers[1].reset();  // member 2 is down
  ClusterConfig listed;
  listed.members = {cluster.config.members[0], cluster.config.members[1]};
  listed.members[1].port = 1;  // nobody listens there
  ClientResult result = ExecuteAndWait(loop, listed);
  EXPECT_EQ(result.status, ClientResult::Status::kFailed);
  EXPECT_NE(result.error.find("no majority"), std::string::npos) << result.error;
}

}  // namespace
}  // namespace synod::node
