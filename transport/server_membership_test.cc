// Server::SetPeers / SetRetired / SetMembers and the hello fields that go with
// them (removed, configSlot, features), and the agreed-id rule for peers whose
// static member list differs, through the real stack (TCP on 127.0.0.1). No
// sleeps: the loop runs until a condition holds or a deadline passes.

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <memory>
#include <optional>
#include <sstream>

#include "transport/peer_network.h"
#include "transport/server.h"

namespace synod::transport {
namespace {

using namespace std::chrono_literals;

constexpr ClusterId kHash = 0xC1u;    // the server's member-list hash
constexpr ClusterId kAgreed = 0xA6u;  // the cluster's agreed id
constexpr auto kWait = 10s;           // generous: sanitizer builds are slow

class RecordingPeerHandler : public PeerMessageHandler {
 public:
  void OnPeerMessage(paxos::Message message) override { messages.push_back(std::move(message)); }
  std::vector<paxos::Message> messages;
};

class ServerMembershipTest : public ::testing::Test {
 protected:
  ServerMembershipTest() {
    logger_ = std::make_shared<spdlog::logger>(
        "test", std::make_shared<spdlog::sinks::ostream_sink_mt>(log_text_));
  }

  // Replica 1's server, accepting `peers`; `cluster_id` and `member_list_id` as given.
  std::unique_ptr<Server> StartServer(std::vector<paxos::ReplicaId> peers,
                                      ClusterId cluster_id = kHash,
                                      ClusterId member_list_id = kHash) {
    ServerOptions options;
    options.cluster_id = cluster_id;
    options.member_list_id = member_list_id;
    options.members = "1=127.0.0.1:1,2=127.0.0.1:2";
    options.self = 1;
    options.peers = std::move(peers);
    options.logger = logger_;
    options.refusal_linger = 10ms;
    auto server = std::make_unique<Server>(loop_, options, &handler_, nullptr);
    EXPECT_EQ(server->Listen(), Status::Ok());
    return server;
  }

  // Options of replica `self`'s network, greeting replica 1 at `port`.
  PeerNetworkOptions NetOptions(paxos::ReplicaId self, uint16_t port, ClusterId cluster_id = kHash,
                                ClusterId member_list_id = kHash) {
    PeerNetworkOptions options;
    options.cluster_id = cluster_id;
    options.member_list_id = member_list_id;
    options.self = self;
    options.peers = {{1, "127.0.0.1", port}};
    options.logger = logger_;
    options.backoff_initial = 10ms;
    options.backoff_max = 50ms;
    return options;
  }

  // The reply to the first hello of a network with `options`.
  HandshakeInfo FirstHello(PeerNetworkOptions options) {
    PeerNetwork net(loop_, std::move(options));
    EXPECT_TRUE(loop_.RunUntil([&] { return net.LinkState(1).handshakes > 0; }, kWait));
    return net.LinkState(1).last_handshake;
  }

  std::string Logged() {
    logger_->flush();
    return log_text_.str();
  }

  std::ostringstream log_text_;
  std::shared_ptr<spdlog::logger> logger_;
  RecordingPeerHandler handler_;
  EventLoop loop_;  // transport objects are test-body locals, destroyed before it
};

paxos::Message PreVote(paxos::ReplicaId from) {
  return paxos::Message{from, 1, paxos::PreVoteRequest{1}};
}

TEST_F(ServerMembershipTest, APeerAddedBySetPeersIsAccepted) {
  auto server = StartServer({2});
  HandshakeInfo before = FirstHello(NetOptions(3, server->port()));
  EXPECT_FALSE(before.accepted);
  EXPECT_EQ(before.reason, "unknown replica 3");
  EXPECT_FALSE(before.removed);
  EXPECT_EQ(before.features, kFeatures);
  EXPECT_EQ(before.config_slot, 0u);

  server->SetPeers({2, 3});
  server->SetMembers("1=127.0.0.1:1,2=127.0.0.1:2,3=127.0.0.1:3");
  PeerNetwork net(loop_, NetOptions(3, server->port()));
  ASSERT_TRUE(net.Send(PreVote(3)));
  ASSERT_TRUE(loop_.RunUntil([&] { return handler_.messages.size() == 1; }, kWait));
  HandshakeInfo after = net.LinkState(1).last_handshake;
  EXPECT_TRUE(after.accepted);
  EXPECT_EQ(after.server_members, "1=127.0.0.1:1,2=127.0.0.1:2,3=127.0.0.1:3");
  EXPECT_EQ(after.features, kFeatures);
}

TEST_F(ServerMembershipTest, ARemovedIdIsRefusedAsRemovedAndItsOpenConnectionCloses) {
  auto server = StartServer({2, 3});
  PeerNetwork net(loop_, NetOptions(3, server->port()));
  ASSERT_TRUE(net.Send(PreVote(3)));
  ASSERT_TRUE(loop_.RunUntil([&] { return handler_.messages.size() == 1; }, kWait));
  ASSERT_EQ(server->connection_count(), 1u);
  const uint64_t handshakes = net.LinkState(1).handshakes;

  server->SetRetired({3}, 42);  // still in the peers: removal wins
  EXPECT_TRUE(loop_.RunUntil(
      [&] { return net.LinkState(1).handshakes > handshakes && !net.LinkState(1).connected; },
      kWait));
  HandshakeInfo refused = net.LinkState(1).last_handshake;
  EXPECT_FALSE(refused.accepted);
  EXPECT_TRUE(refused.removed);
  EXPECT_EQ(refused.reason, "replica 3 was removed from the cluster (configuration slot 42)");
  EXPECT_EQ(refused.config_slot, 42u);
  EXPECT_NE(Logged().find("closing 1 connection(s) of replica 3: removed from the cluster"),
            std::string::npos);
  EXPECT_NE(Logged().find("replica 3 was removed from the cluster"), std::string::npos);
  EXPECT_EQ(handler_.messages.size(), 1u);

  // Other peers are unaffected and are told the configuration slot.
  HandshakeInfo other = FirstHello(NetOptions(2, server->port()));
  EXPECT_TRUE(other.accepted);
  EXPECT_FALSE(other.removed);
  EXPECT_EQ(other.config_slot, 42u);
}

TEST_F(ServerMembershipTest, APeerDroppedBySetPeersLosesItsConnection) {
  auto server = StartServer({2, 3});
  PeerNetwork net(loop_, NetOptions(3, server->port()));
  ASSERT_TRUE(net.Send(PreVote(3)));
  ASSERT_TRUE(loop_.RunUntil([&] { return handler_.messages.size() == 1; }, kWait));
  const uint64_t handshakes = net.LinkState(1).handshakes;

  server->SetPeers({2});
  EXPECT_TRUE(loop_.RunUntil(
      [&] { return net.LinkState(1).handshakes > handshakes && !net.LinkState(1).connected; },
      kWait));
  EXPECT_EQ(net.LinkState(1).last_handshake.reason, "unknown replica 3");
  EXPECT_FALSE(net.LinkState(1).last_handshake.removed);
}

TEST_F(ServerMembershipTest, AfterAgreementAndAChangeAPeerWithAnotherListStatingTheAgreedIdIsIn) {
  auto agreed = StartServer({2}, kAgreed, kHash);
  // Before any configuration change the list must match (a member restarted
  // with a wrong --members list stays out).
  HandshakeInfo unchanged = FirstHello(NetOptions(2, agreed->port(), kAgreed, 0xBAD));
  EXPECT_FALSE(unchanged.accepted);
  EXPECT_NE(unchanged.reason.find("wrong member list"), std::string::npos);

  agreed->SetRetired({}, 7);
  HandshakeInfo accepted = FirstHello(NetOptions(2, agreed->port(), kAgreed, 0xBAD));
  EXPECT_TRUE(accepted.accepted) << accepted.reason;
  // Still refused: another list stating anything but the agreed id.
  HandshakeInfo hash_of_other = FirstHello(NetOptions(2, agreed->port(), 0xBAD, 0xBAD));
  EXPECT_FALSE(hash_of_other.accepted);
  EXPECT_NE(hash_of_other.reason.find("wrong member list"), std::string::npos);
  HandshakeInfo our_hash_other_list = FirstHello(NetOptions(2, agreed->port(), kHash, 0xBAD));
  EXPECT_FALSE(our_hash_other_list.accepted);
  EXPECT_NE(our_hash_other_list.reason.find("wrong member list"), std::string::npos);
}

TEST_F(ServerMembershipTest, BeforeAgreementAPeerWithAnotherListIsRefusedWhateverItStates) {
  auto hashed = StartServer({2}, kHash, kHash);
  hashed->SetRetired({}, 7);
  HandshakeInfo refused = FirstHello(NetOptions(2, hashed->port(), kAgreed, 0xBAD));
  EXPECT_FALSE(refused.accepted);
  EXPECT_NE(refused.reason.find("wrong member list"), std::string::npos);
}

constexpr char kOlderBuild3[] =
    "replica 3 runs an older build that cannot read removed members' addresses: upgrade it";

// A peer whose build cannot read removed members' addresses is accepted
// until the server requires the feature (the configuration in effect records
// such an address); then its hello is refused, saying why, and the server
// knows that build. Builds stating the feature, and builds from before
// features (0), are told apart.
TEST_F(ServerMembershipTest, APeerWithoutARequiredFeatureIsRefusedOnceItIsRequired) {
  auto server = StartServer({2, 3});
  PeerNetworkOptions older = NetOptions(3, server->port());
  older.features = kFeatureRuntimeMembership;
  HandshakeInfo before = FirstHello(older);
  EXPECT_TRUE(before.accepted) << before.reason;
  EXPECT_EQ(server->PeerFeatures(3), std::optional<uint32_t>(kFeatureRuntimeMembership));
  EXPECT_EQ(server->PeerFeatures(2), std::nullopt);

  server->SetRequiredPeerFeatures(kFeatureRetiredAddresses);
  HandshakeInfo after = FirstHello(older);
  EXPECT_FALSE(after.accepted);
  EXPECT_FALSE(after.removed);
  EXPECT_EQ(after.reason, kOlderBuild3);
  EXPECT_NE(Logged().find(kOlderBuild3), std::string::npos) << Logged();

  PeerNetworkOptions featureless = NetOptions(3, server->port());
  featureless.features = 0;  // a build from before hello features
  HandshakeInfo oldest = FirstHello(featureless);
  EXPECT_FALSE(oldest.accepted);
  EXPECT_EQ(oldest.reason, kOlderBuild3);
  EXPECT_EQ(server->PeerFeatures(3), std::optional<uint32_t>(0));

  HandshakeInfo current = FirstHello(NetOptions(3, server->port()));
  EXPECT_TRUE(current.accepted) << current.reason;
  EXPECT_EQ(server->PeerFeatures(3), std::optional<uint32_t>(kFeatures));

  // A refusal for another reason (unknown id) records nothing.
  PeerNetworkOptions stranger = NetOptions(4, server->port());
  stranger.features = 0;
  EXPECT_FALSE(FirstHello(stranger).accepted);
  EXPECT_EQ(server->PeerFeatures(4), std::nullopt);
}

// Connections accepted before the feature was required are closed when it
// becomes so, if their hello lacked it; others stay.
TEST_F(ServerMembershipTest, AnOpenConnectionWithoutARequiredFeatureClosesWhenItIsRequired) {
  auto server = StartServer({2, 3});
  PeerNetworkOptions older = NetOptions(3, server->port());
  older.features = kFeatureRuntimeMembership;
  PeerNetwork old_net(loop_, older);
  PeerNetwork new_net(loop_, NetOptions(2, server->port()));
  ASSERT_TRUE(old_net.Send(PreVote(3)));
  ASSERT_TRUE(new_net.Send(PreVote(2)));
  ASSERT_TRUE(loop_.RunUntil([&] { return handler_.messages.size() == 2; }, kWait));
  ASSERT_EQ(server->connection_count(), 2u);
  const uint64_t handshakes = old_net.LinkState(1).handshakes;

  server->SetRequiredPeerFeatures(kFeatureRetiredAddresses);
  EXPECT_TRUE(loop_.RunUntil(
      [&] {
        return old_net.LinkState(1).handshakes > handshakes && !old_net.LinkState(1).connected;
      },
      kWait));
  EXPECT_EQ(old_net.LinkState(1).last_handshake.reason, kOlderBuild3);
  EXPECT_NE(Logged().find("closing a connection of replica 3"), std::string::npos) << Logged();
  EXPECT_EQ(Logged().find("closing a connection of replica 2"), std::string::npos) << Logged();

  // The current build's link stays up and carries messages; the older one's
  // messages no longer arrive.
  EXPECT_TRUE(new_net.LinkState(1).connected);
  EXPECT_EQ(new_net.LinkState(1).handshakes, 1u);
  ASSERT_TRUE(old_net.Send(PreVote(3)));
  ASSERT_TRUE(new_net.Send(PreVote(2)));
  ASSERT_TRUE(loop_.RunUntil([&] { return handler_.messages.size() == 3; }, kWait));
  EXPECT_EQ(handler_.messages.back().from, 2u);
  const uint64_t refused = old_net.LinkState(1).handshakes;
  EXPECT_TRUE(loop_.RunUntil([&] { return old_net.LinkState(1).handshakes > refused; }, kWait));
  EXPECT_EQ(handler_.messages.size(), 3u);
}

}  // namespace
}  // namespace synod::transport
