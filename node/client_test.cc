// Client lifetime: results and status answers that its connections deliver
// after the Client is gone (they are posted to the loop) must not reach it.
// The use after free this guards against shows in the sanitizer build, which
// is the one the test suite runs.
#include "node/client.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <optional>

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
// `leader_hint`. As the leader, it can instead refuse registrations, or
// answer a command's first attempt "unknown" and later ones "refused".
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
      } else if (!registration && refuse_commands) {
        reply.outcomes.push_back(
            attempts++ == 0
                ? transport::Outcome{transport::OutcomeStatus::kUnknown, "", 0}
                : transport::Outcome{transport::OutcomeStatus::kRefused,
                                     "session holds too many unacknowledged results", 1});
      } else {
        reply.outcomes.push_back({transport::OutcomeStatus::kOk, registration ? "7" : name_, 1});
      }
    }
    done(std::move(reply));
  }
  transport::ReplicaStatus OnStatus() override { return {}; }

  bool refuse_registrations = false;
  bool refuse_commands = false;
  int attempts = 0;  // commands answered while refuse_commands

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
      EXPECT_EQ(probe.Listen(), "");
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
      EXPECT_EQ(servers.back()->Listen(), "");
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
  ASSERT_EQ(cluster.servers[1]->Listen(), "");
  ClientResult second = run("b");
  EXPECT_EQ(second.status, ClientResult::Status::kOk) << second.error;
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
