// Answers that leave in the return of the asker's deliver() call
// (ReturnPath), through the real stack: two replicas on 127.0.0.1, each with
// a Server, a PeerNetwork and one ReturnPath shared by both. No sleeps: the
// loop runs until a condition holds or a deadline passes.

#include "transport/return_path.h"

#include <gtest/gtest.h>

#include <functional>

#include "transport/peer_network.h"
#include "transport/server.h"

namespace synod::transport {
namespace {

using namespace std::chrono_literals;

constexpr ClusterId kCluster = 0xC2u;
constexpr auto kWait = 10s;  // generous: sanitizer builds are slow

// Records messages and may answer each one (set `answer`).
class Handler : public PeerMessageHandler {
 public:
  void OnPeerMessage(paxos::Message message) override {
    messages.push_back(message);
    if (answer) answer(message);
  }
  std::vector<paxos::Message> messages;
  std::function<void(const paxos::Message&)> answer;
};

// One replica: a server, a peer network to the other replica, a return path.
// Messages arriving in calls go to `calls`, those in returns to `returns`.
struct Replica {
  Replica(EventLoop& loop, paxos::ReplicaId self, paxos::ReplicaId other,
          std::chrono::milliseconds max_hold = 20ms)
      : id(self), return_path(loop, max_hold) {
    ServerOptions options;
    options.cluster_id = kCluster;
    options.self = self;
    options.peers = {other};
    options.return_path = &return_path;
    options.has_history = [] { return true; };
    server = std::make_unique<Server>(loop, options, &calls, nullptr);
    EXPECT_EQ(server->Listen(), Status::Ok());
  }

  // Connects to `other_port` (0: an unreachable port, the link never comes up).
  void Connect(EventLoop& loop, paxos::ReplicaId other, uint16_t other_port) {
    PeerNetworkOptions options;
    options.cluster_id = kCluster;
    options.self = id;
    options.peers = {{other, "127.0.0.1", other_port == 0 ? uint16_t{1} : other_port}};
    options.backoff_initial = 10ms;
    options.backoff_max = 100ms;
    options.return_path = &return_path;
    options.reply_handler = &returns;
    net = std::make_unique<PeerNetwork>(loop, options);
  }

  paxos::ReplicaId id;
  Handler calls;
  Handler returns;
  ReturnPath return_path;
  std::unique_ptr<Server> server;
  std::unique_ptr<PeerNetwork> net;  // destroyed before return_path
};

paxos::Message HeartbeatTo(paxos::ReplicaId from, paxos::ReplicaId to, uint64_t commit) {
  return paxos::Message{from, to, paxos::Heartbeat{{1, from}, commit}};
}

paxos::Message ReplyTo(const paxos::Message& m) {
  auto commit = std::get<paxos::Heartbeat>(m.body).commit;
  return paxos::Message{m.to, m.from, paxos::HeartbeatReply{{1, m.from}, commit}};
}

class ReturnPathTest : public ::testing::Test {
 protected:
  EventLoop loop_;  // replicas are test-body locals, destroyed before it
};

TEST_F(ReturnPathTest, AnswerLeavesInTheReturnOfTheCallItAnswers) {
  Replica a(loop_, 1, 2);
  Replica b(loop_, 2, 1);
  a.Connect(loop_, 2, b.server->port());
  b.Connect(loop_, 1, a.server->port());
  b.calls.answer = [&](const paxos::Message& m) { b.net->Send(ReplyTo(m)); };
  ASSERT_TRUE(loop_.RunUntil(
      [&] { return a.net->LinkState(2).connected && b.net->LinkState(1).connected; }, kWait));

  for (uint64_t i = 1; i <= 50; ++i) {
    a.net->Send(HeartbeatTo(1, 2, i));
    ASSERT_TRUE(loop_.RunUntil([&] { return a.returns.messages.size() == i; }, kWait)) << i;
    const paxos::Message& answer = a.returns.messages.back();
    EXPECT_EQ(answer.from, 2u);
    EXPECT_EQ(answer.to, 1u);
    EXPECT_EQ(std::get<paxos::HeartbeatReply>(answer.body).chosen_point, i);
  }
  // Every answer rode on a return: b made no call of its own, a got none.
  EXPECT_EQ(b.net->LinkState(1).returned_messages, 50u);
  EXPECT_EQ(b.net->LinkState(1).calls, 0u);
  EXPECT_TRUE(a.calls.messages.empty());
  EXPECT_EQ(a.net->LinkState(2).reply_messages, 50u);
  EXPECT_EQ(a.net->LinkState(2).failed_calls, 0u);
}

TEST_F(ReturnPathTest, UnansweredCallIsReleasedAfterMaxHold) {
  Replica a(loop_, 1, 2);
  Replica b(loop_, 2, 1, 30ms);
  a.Connect(loop_, 2, b.server->port());
  b.Connect(loop_, 1, a.server->port());
  a.net->Send(HeartbeatTo(1, 2, 7));
  ASSERT_TRUE(loop_.RunUntil([&] { return b.return_path.held_count() == 1; }, kWait));
  // The call completes (empty) although b never answers.
  Clock::time_point held_at = Clock::now();
  ASSERT_TRUE(loop_.RunUntil([&] { return a.net->LinkState(2).sent_messages == 1; }, kWait));
  EXPECT_GE(Clock::now() - held_at, 20ms);  // it was held, not returned at once
  EXPECT_EQ(b.return_path.held_count(), 0u);
  EXPECT_EQ(a.net->LinkState(2).failed_calls, 0u);
  EXPECT_TRUE(a.returns.messages.empty());
}

TEST_F(ReturnPathTest, NewerCallReleasesTheHeldOne) {
  Replica a(loop_, 1, 2);
  Replica b(loop_, 2, 1, 10s);  // only a newer call can release a held one
  a.Connect(loop_, 2, b.server->port());
  b.Connect(loop_, 1, a.server->port());
  for (uint64_t i = 1; i <= 20; ++i) {
    a.net->Send(HeartbeatTo(1, 2, i));
    ASSERT_TRUE(loop_.RunUntil([&] { return b.calls.messages.size() == i; }, kWait));
  }
  EXPECT_EQ(b.return_path.held_count(), 1u);
  ASSERT_TRUE(loop_.RunUntil([&] { return a.net->LinkState(2).sent_messages == 19; }, kWait));
  EXPECT_EQ(a.net->LinkState(2).failed_calls, 0u);
}

TEST_F(ReturnPathTest, AnswerLeavesInTheReturnEvenWhileOurOwnLinkIsDown) {
  Replica a(loop_, 1, 2);
  Replica b(loop_, 2, 1);
  a.Connect(loop_, 2, b.server->port());
  b.Connect(loop_, 1, 0);  // b cannot reach a
  b.calls.answer = [&](const paxos::Message& m) { b.net->Send(ReplyTo(m)); };
  a.net->Send(HeartbeatTo(1, 2, 3));
  ASSERT_TRUE(loop_.RunUntil([&] { return a.returns.messages.size() == 1; }, kWait));
  EXPECT_FALSE(b.net->LinkState(1).connected);
  EXPECT_EQ(b.net->LinkState(1).returned_messages, 1u);
}

TEST_F(ReturnPathTest, ReplyNotFromTheCalledPeerFailsThatLink) {
  Replica a(loop_, 1, 2);
  Replica b(loop_, 2, 1);
  a.Connect(loop_, 2, b.server->port());
  b.Connect(loop_, 1, a.server->port());
  // b routes a message that claims to come from replica 3 into a's return.
  b.calls.answer = [&](const paxos::Message& m) {
    b.net->Send(paxos::Message{3, m.from, paxos::HeartbeatReply{{1, 1}, 1}});
  };
  a.net->Send(HeartbeatTo(1, 2, 1));
  ASSERT_TRUE(loop_.RunUntil([&] { return a.net->LinkState(2).failed_calls == 1; }, kWait));
  EXPECT_TRUE(a.returns.messages.empty());
  // a's own message reached b (b answered the call): sent, not dropped.
  EXPECT_EQ(b.calls.messages.size(), 1u);
  EXPECT_EQ(a.net->LinkState(2).sent_messages, 1u);
  EXPECT_EQ(a.net->LinkState(2).dropped_messages, 0u);
  // The link comes back and works.
  b.calls.answer = [&](const paxos::Message& m) { b.net->Send(ReplyTo(m)); };
  ASSERT_TRUE(loop_.RunUntil([&] { return a.net->LinkState(2).connected; }, kWait));
  a.net->Send(HeartbeatTo(1, 2, 2));
  ASSERT_TRUE(loop_.RunUntil([&] { return a.returns.messages.size() == 1; }, kWait));
}

TEST_F(ReturnPathTest, DestroyingTheReturnPathCompletesHeldCalls) {
  Replica a(loop_, 1, 2);
  auto b = std::make_unique<Replica>(loop_, 2, 1, 10s);
  a.Connect(loop_, 2, b->server->port());
  a.net->Send(HeartbeatTo(1, 2, 1));
  ASSERT_TRUE(loop_.RunUntil([&] { return b->return_path.held_count() == 1; }, kWait));
  b->server.reset();  // closes the connection; the held call's caller is gone
  b.reset();
  ASSERT_TRUE(loop_.RunUntil([&] { return !a.net->LinkState(2).connected; }, kWait));
}

// The peer's connection closes while its call is held: that call must not
// swallow the next message for the peer, which then leaves by our own link.
TEST_F(ReturnPathTest, CallOfAPeerThatWentAwayIsSkipped) {
  Replica a(loop_, 1, 2, 10s);  // only a newer call could release the held one
  Replica b(loop_, 2, 1);
  a.Connect(loop_, 2, b.server->port());
  b.Connect(loop_, 1, a.server->port());
  ASSERT_TRUE(loop_.RunUntil(
      [&] { return a.net->LinkState(2).connected && b.net->LinkState(1).connected; }, kWait));
  const size_t connections = a.server->connection_count();
  b.net->Send(HeartbeatTo(2, 1, 1));
  ASSERT_TRUE(loop_.RunUntil([&] { return a.return_path.held_count() == 1; }, kWait));
  b.net.reset();  // b's connection to a closes with its call held there
  ASSERT_TRUE(loop_.RunUntil([&] { return a.server->connection_count() < connections; }, kWait));
  a.net->Send(HeartbeatTo(1, 2, 42));
  ASSERT_TRUE(loop_.RunUntil([&] { return b.calls.messages.size() == 1; }, kWait));
  EXPECT_EQ(std::get<paxos::Heartbeat>(b.calls.messages[0].body).commit, 42u);
  EXPECT_EQ(a.net->LinkState(2).returned_messages, 0u);
}

}  // namespace
}  // namespace synod::transport
