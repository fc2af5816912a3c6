// Client::TransferLeader over the real transport against fake members: it
// follows leader hints, waits until the target reports that it leads, and
// turns refusals into definite failures. Tests wait on conditions, never on
// sleeps.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>

#include "node/client.h"
#include "transport/server.h"

namespace synod::node {
namespace {

using namespace std::chrono_literals;

// What the fake cluster believes: who leads, and how the leader answers.
struct FakeState {
  paxos::ReplicaId leader = 1;
  transport::TransferStatus answer = transport::TransferStatus::kHandedOver;
  std::string reason;
  // Status answers the target gives as a candidate before it reports leading.
  int candidate_polls = 2;
  std::map<paxos::ReplicaId, int> transfer_calls;  // by member asked
  paxos::ReplicaId requested = paxos::kNoReplica;  // the target the leader was asked for
  bool use_default = false;                        // members keep the default (refusing) handler
};

class TransferMember final : public transport::ClientRequestHandler {
 public:
  TransferMember(paxos::ReplicaId id, FakeState& state) : id_(id), state_(state) {}
  void OnSubmit(std::vector<std::string> commands, transport::SubmitDone done) override {
    transport::ClientReply reply;
    reply.outcomes.assign(commands.size(), {transport::OutcomeStatus::kNotLeader, "", 0});
    done(std::move(reply));
  }
  transport::ReplicaStatus OnStatus() override {
    transport::ReplicaStatus status;
    status.id = id_;
    status.leader = state_.leader;
    if (state_.leader == id_) {
      status.role = transport::Role::kLeader;
    } else if (state_.requested == id_ && state_.candidate_polls-- > 0) {
      status.role = transport::Role::kCandidate;
      status.leader = paxos::kNoReplica;
    } else if (state_.requested == id_) {
      state_.leader = id_;  // won its phase 1
      status.role = transport::Role::kLeader;
      status.leader = id_;
    }
    return status;
  }
  void OnTransferLeader(paxos::ReplicaId target, transport::TransferDone done) override {
    if (state_.use_default) return ClientRequestHandler::OnTransferLeader(target, std::move(done));
    ++state_.transfer_calls[id_];
    if (state_.leader != id_) {
      done({transport::TransferStatus::kNotLeader, state_.leader, "not the leader"});
      return;
    }
    state_.requested = target;
    if (state_.answer == transport::TransferStatus::kHandedOver) state_.leader = paxos::kNoReplica;
    done({state_.answer, target, state_.reason});
  }

 private:
  paxos::ReplicaId id_;
  FakeState& state_;
};

struct FakeCluster {
  FakeCluster(transport::EventLoop& loop, FakeState& state) {
    for (paxos::ReplicaId id = 1; id <= 3; ++id) {
      handlers.push_back(std::make_unique<TransferMember>(id, state));
      transport::Server probe(loop, transport::ServerOptions{}, nullptr, handlers.back().get());
      EXPECT_EQ(probe.Listen(), Status::Ok());
      config.members.push_back({id, "127.0.0.1", probe.port()});
    }
    for (paxos::ReplicaId id = 1; id <= 3; ++id) {
      transport::ServerOptions options;
      options.port = config.members[id - 1].port;
      options.cluster_id = 42;
      options.members = config.ToString();
      options.self = id;
      servers.push_back(
          std::make_unique<transport::Server>(loop, options, nullptr, handlers[id - 1].get()));
      EXPECT_EQ(servers.back()->Listen(), Status::Ok());
    }
  }
  std::vector<std::unique_ptr<TransferMember>> handlers;
  std::vector<std::unique_ptr<transport::Server>> servers;
  ClusterConfig config;
};

ClientResult TransferAndWait(transport::EventLoop& loop, ClusterConfig members,
                             paxos::ReplicaId target, std::chrono::milliseconds timeout = 5s) {
  ClientOptions options;
  options.cluster = std::move(members);
  options.timeout = timeout;
  options.attempt_timeout = std::min<std::chrono::milliseconds>(timeout, 1000ms);
  Client client(loop, options);
  std::optional<ClientResult> result;
  client.TransferLeader(target, [&](ClientResult r) { result = std::move(r); });
  EXPECT_FALSE(result.has_value()) << "never answered from inside TransferLeader";
  loop.RunUntil([&] { return result.has_value(); }, timeout + 5s);
  EXPECT_TRUE(result.has_value());
  return result.value_or(ClientResult{});
}

TEST(ClientTransfer, FollowsHintsAndWaitsUntilTheTargetLeads) {
  transport::EventLoop loop;
  FakeState state;
  FakeCluster cluster(loop, state);
  ClientResult result = TransferAndWait(loop, cluster.config, 3);
  EXPECT_EQ(result.status, ClientResult::Status::kOk) << result.error;
  EXPECT_EQ(result.leader, 3u);
  EXPECT_EQ(state.transfer_calls[1], 1) << "the leader is asked once";
  EXPECT_EQ(state.leader, 3u);
  EXPECT_LT(state.candidate_polls, 0) << "the client polled until the target led";
}

TEST(ClientTransfer, ListingOneFollowerIsEnough) {
  transport::EventLoop loop;
  FakeState state;
  state.leader = 2;
  FakeCluster cluster(loop, state);
  ClusterConfig only_three;
  only_three.members = {cluster.config.members[2]};
  ClientResult result = TransferAndWait(loop, only_three, 1);
  EXPECT_EQ(result.status, ClientResult::Status::kOk) << result.error;
  EXPECT_EQ(result.leader, 1u);
  EXPECT_EQ(state.transfer_calls[2], 1);
}

TEST(ClientTransfer, ATargetThatIsNoVoterFailsWithTheReason) {
  transport::EventLoop loop;
  FakeState state;
  state.answer = transport::TransferStatus::kInvalid;
  state.reason = "replica 9 is not a member of the configuration";
  FakeCluster cluster(loop, state);
  ClientResult result = TransferAndWait(loop, cluster.config, 9);
  EXPECT_EQ(result.status, ClientResult::Status::kFailed);
  EXPECT_NE(result.error.find("replica 9 is not a member of the configuration"), std::string::npos)
      << result.error;
}

TEST(ClientTransfer, ATransferTheOldLeaderSurvivedFails) {
  transport::EventLoop loop;
  FakeState state;
  state.answer = transport::TransferStatus::kResumed;
  state.reason = "replica 2 did not take over within an election timeout";
  FakeCluster cluster(loop, state);
  ClientResult result = TransferAndWait(loop, cluster.config, 2);
  EXPECT_EQ(result.status, ClientResult::Status::kFailed);
  EXPECT_NE(result.error.find("did not take over"), std::string::npos) << result.error;
}

TEST(ClientTransfer, ServersThatCannotTransferFailAtTheTimeout) {
  transport::EventLoop loop;
  FakeState state;
  state.use_default = true;  // every member refuses for now ("busy")
  FakeCluster cluster(loop, state);
  ClientResult result = TransferAndWait(loop, cluster.config, 2, 300ms);
  EXPECT_EQ(result.status, ClientResult::Status::kFailed) << "nothing could have started";
  EXPECT_NE(result.error.find("does not support leadership transfer"), std::string::npos)
      << result.error;
}

TEST(ClientTransfer, DestroyedWhileTransferringReportsNothing) {
  transport::EventLoop loop;
  ClientOptions options;
  options.cluster.members = {{1, "127.0.0.1", 1}};
  bool called = false;
  auto client = std::make_unique<Client>(loop, options);
  client->TransferLeader(1, [&](ClientResult) { called = true; });
  client.reset();
  loop.RunFor(50ms);
  EXPECT_FALSE(called);
}

}  // namespace
}  // namespace synod::node
