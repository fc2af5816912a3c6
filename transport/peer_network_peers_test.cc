// PeerNetwork::SetPeers through the real stack (TCP on 127.0.0.1, Cap'n
// Proto RPC): peers added, removed and moved while the network runs. No
// sleeps: the loop runs until a condition holds or a deadline passes.

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <memory>
#include <sstream>

#include "transport/peer_network.h"
#include "transport/server.h"

namespace synod::transport {
namespace {

using namespace std::chrono_literals;

constexpr ClusterId kCluster = 0xC1u;
constexpr auto kWait = 10s;  // generous: sanitizer builds are slow

class RecordingPeerHandler : public PeerMessageHandler {
 public:
  void OnPeerMessage(paxos::Message message) override { messages.push_back(std::move(message)); }
  std::vector<paxos::Message> messages;
};

class PeerNetworkPeersTest : public ::testing::Test {
 protected:
  PeerNetworkPeersTest() {
    logger_ = std::make_shared<spdlog::logger>(
        "test", std::make_shared<spdlog::sinks::ostream_sink_mt>(log_text_));
  }

  // A server of replica `self` that accepts peers `peers`, delivering to `handler`.
  // `features`: what it states in hello replies (fewer: an older build).
  std::unique_ptr<Server> StartServer(paxos::ReplicaId self, std::vector<paxos::ReplicaId> peers,
                                      RecordingPeerHandler& handler,
                                      uint32_t features = kFeatures) {
    ServerOptions options;
    options.features = features;
    options.cluster_id = kCluster;
    options.self = self;
    options.peers = std::move(peers);
    options.logger = logger_;
    auto server = std::make_unique<Server>(loop_, options, &handler, nullptr);
    EXPECT_EQ(server->Listen(), Status::Ok());
    return server;
  }

  PeerNetworkOptions NetOptions(paxos::ReplicaId self, std::vector<PeerEndpoint> peers) {
    PeerNetworkOptions options;
    options.cluster_id = kCluster;
    options.self = self;
    options.peers = std::move(peers);
    options.logger = logger_;
    options.backoff_initial = 10ms;
    options.backoff_max = 100ms;
    return options;
  }

  std::ostringstream log_text_;
  std::shared_ptr<spdlog::logger> logger_;
  EventLoop loop_;  // transport objects are test-body locals, destroyed before it
};

paxos::Message PreVote(paxos::ReplicaId from, paxos::ReplicaId to, paxos::Slot slot) {
  return paxos::Message{from, to, paxos::PreVoteRequest{slot}};
}

TEST_F(PeerNetworkPeersTest, APeerAddedLaterGetsItsMessages) {
  RecordingPeerHandler handler;
  auto server = StartServer(1, {2}, handler);
  PeerNetwork net(loop_, NetOptions(2, {}));
  EXPECT_FALSE(net.Send(PreVote(2, 1, 1)));  // not a peer yet

  net.SetPeers({{1, "127.0.0.1", server->port()}, {2, "127.0.0.1", 1}});  // self ignored
  EXPECT_TRUE(net.Send(PreVote(2, 1, 2)));
  ASSERT_TRUE(loop_.RunUntil([&] { return handler.messages.size() == 1; }, kWait));
  EXPECT_EQ(std::get<paxos::PreVoteRequest>(handler.messages[0].body).first_unchosen, 2u);
  EXPECT_TRUE(net.LinkState(1).connected);
  EXPECT_EQ(net.LinkState(2).connects, 0u);  // no link to self
}

TEST_F(PeerNetworkPeersTest, ARemovedPeerIsRefusedBySendAndItsConnectionCloses) {
  RecordingPeerHandler handler;
  auto server = StartServer(1, {2}, handler);
  PeerNetwork net(loop_, NetOptions(2, {{1, "127.0.0.1", server->port()}}));
  ASSERT_TRUE(net.Send(PreVote(2, 1, 1)));
  ASSERT_TRUE(loop_.RunUntil([&] { return handler.messages.size() == 1; }, kWait));
  ASSERT_EQ(server->connection_count(), 1u);

  net.SetPeers({});
  EXPECT_FALSE(net.Send(PreVote(2, 1, 2)));
  EXPECT_EQ(net.LinkState(1).connects, 0u);  // the default state
  EXPECT_TRUE(loop_.RunUntil([&] { return server->connection_count() == 0; }, kWait));
  loop_.RunFor(50ms);
  EXPECT_EQ(handler.messages.size(), 1u);

  // Added back: a fresh link.
  net.SetPeers({{1, "127.0.0.1", server->port()}});
  EXPECT_TRUE(net.Send(PreVote(2, 1, 3)));
  EXPECT_TRUE(loop_.RunUntil([&] { return handler.messages.size() == 2; }, kWait));
}

TEST_F(PeerNetworkPeersTest, QueuedMessagesOfARemovedPeerAreDroppedAndLogged) {
  PeerNetwork net(loop_, NetOptions(2, {{1, "127.0.0.1", 1}}));  // nobody listens on port 1
  ASSERT_TRUE(net.Send(PreVote(2, 1, 1)));
  ASSERT_TRUE(net.Send(PreVote(2, 1, 2)));
  EXPECT_EQ(net.LinkState(1).queued_messages, 2u);
  net.SetPeers({});
  EXPECT_EQ(net.LinkState(1).queued_messages, 0u);
  loop_.RunFor(20ms);
  logger_->flush();
  EXPECT_NE(log_text_.str().find("replica 1 (127.0.0.1:1) removed from the peers (2 queued "
                                 "messages dropped)"),
            std::string::npos)
      << log_text_.str();
}

TEST_F(PeerNetworkPeersTest, AMovedPeerIsReachedAtItsNewEndpoint) {
  RecordingPeerHandler old_handler;
  RecordingPeerHandler new_handler;
  auto old_server = StartServer(1, {2}, old_handler);
  auto new_server = StartServer(1, {2}, new_handler);
  PeerNetwork net(loop_, NetOptions(2, {{1, "127.0.0.1", old_server->port()}}));
  ASSERT_TRUE(net.Send(PreVote(2, 1, 1)));
  ASSERT_TRUE(loop_.RunUntil([&] { return old_handler.messages.size() == 1; }, kWait));

  net.SetPeers({{1, "127.0.0.1", new_server->port()}});
  ASSERT_TRUE(net.Send(PreVote(2, 1, 2)));
  ASSERT_TRUE(loop_.RunUntil([&] { return new_handler.messages.size() == 1; }, kWait));
  EXPECT_EQ(std::get<paxos::PreVoteRequest>(new_handler.messages[0].body).first_unchosen, 2u);
  EXPECT_TRUE(loop_.RunUntil([&] { return old_server->connection_count() == 0; }, kWait));
  EXPECT_EQ(old_handler.messages.size(), 1u);
  EXPECT_EQ(net.LinkState(1).last_handshake.server_replica, 1u);
  EXPECT_GE(net.LinkState(1).connects, 2u);  // counters kept across the move
}

TEST_F(PeerNetworkPeersTest, TheHandshakeObserverMayRemoveThePeerItHearsFrom) {
  RecordingPeerHandler handler;
  auto server = StartServer(1, {2}, handler);
  PeerNetwork net(loop_, NetOptions(2, {{1, "127.0.0.1", server->port()}}));
  int hellos = 0;
  net.SetHandshakeObserver([&](paxos::ReplicaId, const HandshakeInfo&) {
    ++hellos;
    net.SetPeers({});
  });
  ASSERT_TRUE(loop_.RunUntil([&] { return hellos == 1; }, kWait));
  EXPECT_FALSE(net.Send(PreVote(2, 1, 1)));
  EXPECT_TRUE(loop_.RunUntil([&] { return server->connection_count() == 0; }, kWait));
  EXPECT_EQ(hellos, 1);
}

TEST_F(PeerNetworkPeersTest, PeersMayMoveAndGoWhileCallsAreInFlight) {
  RecordingPeerHandler first_handler;
  RecordingPeerHandler second_handler;
  auto first = StartServer(1, {2}, first_handler);
  auto second = StartServer(1, {2}, second_handler);
  PeerNetworkOptions options = NetOptions(2, {{1, "127.0.0.1", first->port()}});
  options.limits.max_batch_bytes = 1;  // one message per call: many in flight
  PeerNetwork net(loop_, options);
  ASSERT_TRUE(loop_.RunUntil([&] { return net.LinkState(1).connected; }, kWait));
  for (paxos::Slot i = 0; i < 100; ++i) ASSERT_TRUE(net.Send(PreVote(2, 1, i)));
  ASSERT_TRUE(loop_.RunUntil([&] { return !first_handler.messages.empty(); }, kWait));
  net.SetPeers({{1, "127.0.0.1", second->port()}});  // moved with calls in flight
  ASSERT_TRUE(loop_.RunUntil([&] { return !second_handler.messages.empty(); }, kWait));
  for (paxos::Slot i = 0; i < 100; ++i) ASSERT_TRUE(net.Send(PreVote(2, 1, i)));
  net.SetPeers({});  // removed with calls in flight and messages queued
  EXPECT_FALSE(net.Send(PreVote(2, 1, 0)));
  EXPECT_TRUE(loop_.RunUntil(
      [&] { return first->connection_count() == 0 && second->connection_count() == 0; }, kWait));
}

TEST_F(PeerNetworkPeersTest, TheHandshakeObserverMayMoveThePeerItHearsFrom) {
  RecordingPeerHandler old_handler;
  RecordingPeerHandler new_handler;
  auto old_server = StartServer(1, {2}, old_handler);
  auto new_server = StartServer(1, {2}, new_handler);
  PeerNetwork net(loop_, NetOptions(2, {{1, "127.0.0.1", old_server->port()}}));
  bool moved = false;
  net.SetHandshakeObserver([&](paxos::ReplicaId, const HandshakeInfo&) {
    if (moved) return;
    moved = true;
    net.SetPeers({{1, "127.0.0.1", new_server->port()}});
  });
  ASSERT_TRUE(net.Send(PreVote(2, 1, 1)));
  ASSERT_TRUE(loop_.RunUntil([&] { return new_handler.messages.size() == 1; }, kWait));
  EXPECT_TRUE(old_handler.messages.empty());
}

// A peer whose hello reply lacks a feature the network requires (its build
// cannot read removed members' addresses) is treated as refusing: a link up
// before the requirement closes, later replies count as refusals (logged
// once per period), and nothing more reaches it. A peer stating the feature
// is unaffected.
TEST_F(PeerNetworkPeersTest, AReplyWithoutARequiredFeatureCountsAsARefusal) {
  RecordingPeerHandler old_handler;
  RecordingPeerHandler new_handler;
  auto older = StartServer(1, {2}, old_handler, kFeatureRuntimeMembership);
  auto current = StartServer(3, {2}, new_handler);
  PeerNetwork net(
      loop_, NetOptions(2, {{1, "127.0.0.1", older->port()}, {3, "127.0.0.1", current->port()}}));
  ASSERT_TRUE(net.Send(PreVote(2, 1, 1)));
  ASSERT_TRUE(net.Send(PreVote(2, 3, 1)));
  ASSERT_TRUE(loop_.RunUntil(
      [&] { return old_handler.messages.size() == 1 && new_handler.messages.size() == 1; }, kWait));
  EXPECT_EQ(net.LinkState(1).last_handshake.features, kFeatureRuntimeMembership);

  net.SetRequiredFeatures(kFeatureRetiredAddresses);
  const std::string reason =
      "replica 1 runs an older build that cannot read removed members' addresses: upgrade it";
  ASSERT_TRUE(loop_.RunUntil([&] { return net.LinkState(1).handshakes >= 4; }, kWait));
  PeerLinkState refused = net.LinkState(1);
  EXPECT_FALSE(refused.connected);
  EXPECT_FALSE(refused.last_handshake.accepted);
  EXPECT_EQ(refused.last_handshake.reason, reason);
  EXPECT_TRUE(loop_.RunUntil([&] { return older->connection_count() == 0; }, kWait));

  ASSERT_TRUE(net.Send(PreVote(2, 1, 2)));
  ASSERT_TRUE(net.Send(PreVote(2, 3, 2)));
  ASSERT_TRUE(loop_.RunUntil([&] { return new_handler.messages.size() == 2; }, kWait));
  const uint64_t handshakes = net.LinkState(1).handshakes;
  ASSERT_TRUE(loop_.RunUntil([&] { return net.LinkState(1).handshakes > handshakes; }, kWait));
  EXPECT_EQ(old_handler.messages.size(), 1u);
  EXPECT_FALSE(net.LinkState(1).connected);
  EXPECT_TRUE(net.LinkState(3).connected);
  EXPECT_EQ(net.LinkState(3).handshakes, 1u);

  logger_->flush();
  const std::string text = log_text_.str();
  EXPECT_NE(text.find("closing the link to replica 1: " + reason), std::string::npos) << text;
  const std::string line =
      "not talking to replica 1 (127.0.0.1:" + std::to_string(older->port()) + "): " + reason;
  size_t at = text.find(line);
  EXPECT_NE(at, std::string::npos) << text;
  EXPECT_EQ(text.find(line, at + line.size()), std::string::npos) << "rate-limited:\n" << text;
  EXPECT_EQ(text.find("replica 3"), std::string::npos) << text;
}

}  // namespace
}  // namespace synod::transport
