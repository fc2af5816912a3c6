// Dialer and Backoff: an accepted and a refused hello from a real Server on
// 127.0.0.1, a refused TCP connect, a listener that never answers (deadline),
// one that hangs up at once (hello failure), cancel and destruction at each
// step of an attempt, and the back-off's growth and cap. No sleeps: the loop
// runs until a condition holds or a deadline passes.

#include "transport/dialer.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/null_sink.h>

#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <optional>
#include <vector>

#include "transport/rpc_connection.h"
#include "transport/server.h"
#include "transport/synod.capnp.h"

namespace synod::transport {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;
using asio::ip::tcp;

constexpr ClusterId kCluster = 0xD1u;
constexpr auto kWait = 10s;  // generous: sanitizer builds are slow

class NullPeerHandler : public PeerMessageHandler {
 public:
  void OnPeerMessage(paxos::Message) override {}
};

class NullClientHandler : public ClientRequestHandler {
 public:
  void OnSubmit(std::vector<std::string>, SubmitDone done) override { done(ClientReply{}); }
  ReplicaStatus OnStatus() override { return ReplicaStatus{}; }
};

// A TCP listener on 127.0.0.1 that accepts and then either holds every
// connection open without reading (a paused process) or closes it at once.
class RawListener {
 public:
  RawListener(asio::io_context& io, bool hang_up)
      : acceptor_(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)), hang_up_(hang_up) {
    Accept();
  }
  uint16_t port() const { return acceptor_.local_endpoint().port(); }
  size_t accepted() const { return accepted_; }

 private:
  void Accept() {
    acceptor_.async_accept([this](const boost::system::error_code& ec, tcp::socket socket) {
      if (ec) return;
      ++accepted_;
      if (!hang_up_) held_.push_back(std::move(socket));  // else closed here
      Accept();
    });
  }

  tcp::acceptor acceptor_;
  bool hang_up_;
  size_t accepted_ = 0;
  std::vector<tcp::socket> held_;
};

// A port on 127.0.0.1 where nothing listens (bound once, then released).
uint16_t ClosedPort(asio::io_context& io) {
  tcp::acceptor probe(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return probe.local_endpoint().port();
}

class DialerTest : public ::testing::Test {
 protected:
  std::unique_ptr<Server> StartServer() {
    ServerOptions options;
    options.cluster_id = kCluster;
    options.self = 1;
    options.peers = {2};
    options.logger =
        std::make_shared<spdlog::logger>("test", std::make_shared<spdlog::sinks::null_sink_mt>());
    auto server = std::make_unique<Server>(loop_, options, &peer_handler_, &client_handler_);
    EXPECT_EQ(server->Listen(), Status::Ok());
    return server;
  }

  static DialOptions PeerDial(uint16_t port) {
    DialOptions options;
    options.server = PeerEndpoint{1, "127.0.0.1", port};
    options.role = wire::ConnectionRole::PEER;
    options.cluster_id = kCluster;
    options.self = 2;
    return options;
  }

  // Dials and runs the loop until the result arrives.
  std::optional<Result<Dialed>> DialAndWait(Dialer& dialer, DialOptions options) {
    std::optional<Result<Dialed>> result;
    dialer.Dial(std::move(options), [&](Result<Dialed> r) { result.emplace(std::move(r)); });
    EXPECT_TRUE(dialer.busy());
    EXPECT_FALSE(result.has_value()) << "done ran inside Dial";
    loop_.RunUntil([&] { return result.has_value(); }, kWait);
    return result;
  }

  NullPeerHandler peer_handler_;
  NullClientHandler client_handler_;
  EventLoop loop_;  // transport objects are test-body locals, destroyed before it
};

TEST_F(DialerTest, ConnectsAndHandsOverAnAcceptedConnection) {
  auto server = StartServer();
  Dialer dialer(loop_);
  std::optional<Result<Dialed>> result = DialAndWait(dialer, PeerDial(server->port()));
  ASSERT_TRUE(result.has_value());
  ASSERT_TRUE(result->ok()) << result->status().ToString();
  EXPECT_FALSE(dialer.busy());
  Dialed& dialed = result->value();
  EXPECT_TRUE(dialed.info.accepted) << dialed.info.reason;
  EXPECT_EQ(dialed.info.server_replica, 1u);
  EXPECT_EQ(dialed.info.server_cluster, kCluster);
  ASSERT_NE(dialed.conn.get(), nullptr);
  ASSERT_TRUE(dialed.service != nullptr);

  // The handed-over capability works: a call on it is answered.
  auto peer = KJ_ASSERT_NONNULL(dialed.service).castAs<wire::PeerService>();
  bool answered = false;
  auto call =
      peer.snapshotInfoRequest()
          .send()
          .then([&](capnp::Response<wire::PeerService::SnapshotInfoResults>&&) { answered = true; },
                [&](kj::Exception&&) { answered = true; })
          .eagerlyEvaluate(nullptr);
  ASSERT_TRUE(loop_.RunUntil([&] { return answered; }, kWait));

  // A client dial gets the client capability.
  DialOptions client = PeerDial(server->port());
  client.role = wire::ConnectionRole::CLIENT;
  client.self = paxos::kNoReplica;
  client.server.id = paxos::kNoReplica;
  std::optional<Result<Dialed>> as_client = DialAndWait(dialer, client);
  ASSERT_TRUE(as_client.has_value() && as_client->ok());
  EXPECT_TRUE(as_client->value().info.accepted) << as_client->value().info.reason;
}

TEST_F(DialerTest, ARefusedHelloIsAnAnswerWithTheReason) {
  auto server = StartServer();
  Dialer dialer(loop_);

  DialOptions stranger = PeerDial(server->port());
  stranger.cluster_id = kCluster + 1;
  std::optional<Result<Dialed>> refused = DialAndWait(dialer, stranger);
  ASSERT_TRUE(refused.has_value());
  ASSERT_TRUE(refused->ok()) << refused->status().ToString();
  EXPECT_FALSE(refused->value().info.accepted);
  EXPECT_FALSE(refused->value().info.reason.empty());
  EXPECT_EQ(refused->value().info.server_cluster, kCluster);
  EXPECT_EQ(refused->value().conn.get(), nullptr);
  EXPECT_TRUE(refused->value().service == nullptr);

  DialOptions wrong_replica = PeerDial(server->port());
  wrong_replica.server.id = 3;  // replica 1 answers
  std::optional<Result<Dialed>> other = DialAndWait(dialer, wrong_replica);
  ASSERT_TRUE(other.has_value() && other->ok());
  EXPECT_FALSE(other->value().info.accepted);
  EXPECT_EQ(other->value().info.reason, "answered as replica 1, expected 3");
  EXPECT_EQ(other->value().conn.get(), nullptr);
}

TEST_F(DialerTest, ARefusedConnectFails) {
  Dialer dialer(loop_);
  std::optional<Result<Dialed>> result = DialAndWait(dialer, PeerDial(ClosedPort(loop_.io())));
  ASSERT_TRUE(result.has_value());
  ASSERT_FALSE(result->ok());
  EXPECT_EQ(result->status().code(), Status::Code::kUnavailable);
  EXPECT_EQ(result->status().message().rfind("connect: ", 0), 0u) << result->status().message();
  EXPECT_FALSE(dialer.busy());
}

TEST_F(DialerTest, AnUnknownHostFailsAtResolve) {
  Dialer dialer(loop_);
  DialOptions options = PeerDial(1);
  options.server.host = "no-such-host.invalid";
  std::optional<Result<Dialed>> result = DialAndWait(dialer, options);
  ASSERT_TRUE(result.has_value());
  ASSERT_FALSE(result->ok());
  EXPECT_EQ(result->status().message().rfind("resolve no-such-host.invalid: ", 0), 0u)
      << result->status().message();
}

TEST_F(DialerTest, AServerThatNeverAnswersMissesTheDeadline) {
  RawListener silent(loop_.io(), /*hang_up=*/false);
  Dialer dialer(loop_);
  DialOptions options = PeerDial(silent.port());
  options.connect_timeout = 100ms;
  Clock::time_point start = Clock::now();
  std::optional<Result<Dialed>> result = DialAndWait(dialer, options);
  ASSERT_TRUE(result.has_value());
  ASSERT_FALSE(result->ok());
  EXPECT_EQ(result->status().message(), "no handshake within connect_timeout");
  EXPECT_GE(Clock::now() - start, 100ms);
  EXPECT_EQ(silent.accepted(), 1u);  // the TCP connect itself succeeded
}

TEST_F(DialerTest, AConnectionLostDuringTheHelloFails) {
  RawListener hangs_up(loop_.io(), /*hang_up=*/true);
  Dialer dialer(loop_);
  std::optional<Result<Dialed>> result = DialAndWait(dialer, PeerDial(hangs_up.port()));
  ASSERT_TRUE(result.has_value());
  ASSERT_FALSE(result->ok());
  EXPECT_EQ(result->status().message().rfind("hello failed: ", 0), 0u)
      << result->status().message();
}

TEST_F(DialerTest, CancelAndDestructionAtEveryStepDropTheCallback) {
  RawListener silent(loop_.io(), /*hang_up=*/false);
  int calls = 0;
  auto count = [&](Result<Dialed>) { ++calls; };
  DialOptions options = PeerDial(silent.port());
  options.connect_timeout = 200ms;

  // Cancelled while resolving, and while the hello is pending.
  Dialer dialer(loop_);
  dialer.Dial(options, count);
  dialer.Cancel();
  EXPECT_FALSE(dialer.busy());
  dialer.Dial(options, count);
  size_t accepted = silent.accepted();
  ASSERT_TRUE(loop_.RunUntil([&] { return silent.accepted() > accepted; }, kWait));
  dialer.Cancel();

  // Destroyed while resolving, and while the hello is pending.
  auto doomed = std::make_unique<Dialer>(loop_);
  doomed->Dial(options, count);
  doomed.reset();
  doomed = std::make_unique<Dialer>(loop_);
  doomed->Dial(options, count);
  accepted = silent.accepted();
  ASSERT_TRUE(loop_.RunUntil([&] { return silent.accepted() > accepted; }, kWait));
  doomed.reset();

  // A new Dial replaces the one in flight: only the second reports.
  std::optional<Result<Dialed>> second;
  dialer.Dial(options, count);
  dialer.Dial(options, [&](Result<Dialed> r) { second.emplace(std::move(r)); });
  loop_.RunFor(400ms);  // past every deadline above
  EXPECT_EQ(calls, 0);
  ASSERT_TRUE(second.has_value());
  EXPECT_FALSE(second->ok());
}

TEST_F(DialerTest, DoneMayDestroyTheDialerOrDialAgain) {
  auto server = StartServer();
  auto dialer = std::make_unique<Dialer>(loop_);
  int results = 0;
  dialer->Dial(PeerDial(server->port()), [&](Result<Dialed> first) {
    ++results;
    EXPECT_TRUE(first.ok());
    dialer->Dial(PeerDial(ClosedPort(loop_.io())), [&](Result<Dialed> second) {
      ++results;
      EXPECT_FALSE(second.ok());
      dialer.reset();
    });
  });
  ASSERT_TRUE(loop_.RunUntil([&] { return results == 2; }, kWait));
  EXPECT_EQ(dialer, nullptr);
}

TEST(BackoffTest, DoublesUpToTheCapAndResets) {
  Backoff backoff(50ms, 2000ms);
  std::vector<Clock::duration> delays;
  for (int i = 0; i < 8; ++i) delays.push_back(backoff.Next());
  std::vector<Clock::duration> expected = {50ms,  100ms,  200ms,  400ms,
                                           800ms, 1600ms, 2000ms, 2000ms};
  EXPECT_EQ(delays, expected);

  backoff.Reset();
  EXPECT_EQ(backoff.Next(), 50ms);
  EXPECT_EQ(backoff.Next(), 100ms);
  backoff.ToMax();
  EXPECT_EQ(backoff.Next(), 2000ms);
  EXPECT_EQ(backoff.Next(), 2000ms);
}

// A Handshake that records the hello's features and refuses as a server
// that removed the caller would (removed, configSlot, features set).
class RemovedHandshake final : public wire::Handshake::Server {
 public:
  explicit RemovedHandshake(uint32_t* features) : features_(features) {}
  kj::Promise<void> hello(HelloContext context) override {
    *features_ = context.getParams().getFeatures();
    auto results = context.getResults();
    results.setAccepted(false);
    results.setReason("replica 2 was removed from the cluster (configuration slot 9)");
    results.setServerReplica(1);
    results.setRemoved(true);
    results.setConfigSlot(9);
    results.setFeatures(0x80000001u);
    return kj::READY_NOW;
  }

 private:
  uint32_t* features_;
};

TEST_F(DialerTest, TheHelloCarriesFeaturesAndTheReplyRemovedAndConfigSlot) {
  tcp::acceptor acceptor(loop_.io(), tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  uint32_t stated_features = 0;
  kj::Own<RpcConnection> served;
  acceptor.async_accept([&](const boost::system::error_code& ec, tcp::socket socket) {
    if (ec) return;
    served = kj::heap<RpcConnection>(std::move(socket), Limits{}, 30s,
                                     kj::heap<RemovedHandshake>(&stated_features), 1u << 20);
  });
  Dialer dialer(loop_);
  std::optional<Result<Dialed>> result =
      DialAndWait(dialer, PeerDial(acceptor.local_endpoint().port()));
  ASSERT_TRUE(result.has_value());
  ASSERT_TRUE(result->ok()) << result->status().ToString();
  const HandshakeInfo& info = result->value().info;
  EXPECT_FALSE(info.accepted);
  EXPECT_TRUE(info.removed);
  EXPECT_EQ(info.config_slot, 9u);
  EXPECT_EQ(info.features, 0x80000001u);
  EXPECT_EQ(info.reason, "replica 2 was removed from the cluster (configuration slot 9)");
  EXPECT_EQ(stated_features, kFeatures);
  EXPECT_EQ(kFeatures & kFeatureRuntimeMembership, kFeatureRuntimeMembership);
}

}  // namespace
}  // namespace synod::transport
