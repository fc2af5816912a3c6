// Transport tests through the real stack (TCP on 127.0.0.1, Cap'n Proto RPC,
// Asio): round trips, handshake refusals, bad input, limits, disconnects and
// a peer that never answers. No sleeps: the loop runs until a condition holds
// or a deadline passes.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <sys/resource.h>
#include <unistd.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <filesystem>
#include <optional>
#include <sstream>

#include "transport/client_connection.h"
#include "transport/codec.h"
#include "transport/peer_network.h"
#include "transport/server.h"
#include "transport/test_messages.h"

namespace synod::transport {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;
using asio::ip::tcp;

constexpr ClusterId kCluster = 0xC1u;
constexpr auto kWait = 10s;  // generous: sanitizer builds are slow

// Records peer messages (or throws an int, when `throw_int` is set).
class RecordingPeerHandler : public PeerMessageHandler {
 public:
  void OnPeerMessage(paxos::Message message) override {
    if (throw_int) throw 42;
    messages.push_back(std::move(message));
  }
  std::vector<paxos::Message> messages;
  bool throw_int = false;
};

// Answers "r:<command>" at once, or holds the answers when `hold` is set.
class EchoClientHandler : public ClientRequestHandler {
 public:
  void OnSubmit(std::vector<std::string> commands, SubmitDone done) override {
    if (throw_bad_alloc) throw std::bad_alloc();
    ++calls;
    if (hold) {
      held.push_back(std::move(done));
      held_commands.push_back(std::move(commands));
      return;
    }
    done(Answer(commands));
  }
  ReplicaStatus OnStatus() override { return ReplicaStatus{1, Role::kLeader, {3, 1}, 20, 19, 1}; }

  static ClientReply Answer(const std::vector<std::string>& commands) {
    ClientReply reply;
    reply.leader_hint = 1;
    paxos::Slot slot = 100;
    for (const std::string& c : commands) {
      reply.outcomes.push_back(Outcome{OutcomeStatus::kOk, "r:" + c, slot++});
    }
    return reply;
  }

  bool hold = false;
  bool throw_bad_alloc = false;
  int calls = 0;
  std::vector<SubmitDone> held;
  std::vector<std::vector<std::string>> held_commands;
};

class RpcTest : public ::testing::Test {
 protected:
  RpcTest() : log_sink_(std::make_shared<spdlog::sinks::ostream_sink_mt>(log_text_)) {
    logger_ = std::make_shared<spdlog::logger>("test", log_sink_);
  }

  // Starts a server for replica `self` accepting peers `peers`.
  std::unique_ptr<Server> StartServer(paxos::ReplicaId self, std::vector<paxos::ReplicaId> peers,
                                      const std::function<void(ServerOptions&)>& tweak = {}) {
    ServerOptions options;
    options.cluster_id = kCluster;
    options.self = self;
    options.peers = std::move(peers);
    options.logger = logger_;
    options.has_history = [] { return true; };
    if (tweak) tweak(options);
    auto server = std::make_unique<Server>(loop_, options, &peer_handler_, &client_handler_);
    EXPECT_EQ(server->Listen(), Status::Ok());
    return server;
  }

  ClientConnectionOptions ClientOptions(uint16_t port, ClusterId cluster = kCluster) {
    ClientConnectionOptions options;
    options.cluster_id = cluster;
    options.server = PeerEndpoint{paxos::kNoReplica, "127.0.0.1", port};
    options.logger = logger_;
    return options;
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

  // Submits `command` and runs the loop until its result arrives.
  std::optional<SubmitResult> SubmitAndWait(ClientConnection& client, std::string command,
                                            Clock::duration timeout = kWait) {
    std::optional<SubmitResult> result;
    client.Submit(std::move(command), timeout, [&](SubmitResult r) { result = std::move(r); });
    loop_.RunUntil([&] { return result.has_value(); }, kWait + timeout);
    return result;
  }

  std::string Logged() {
    logger_->flush();
    return log_text_.str();
  }

  std::ostringstream log_text_;
  std::shared_ptr<spdlog::sinks::ostream_sink_mt> log_sink_;
  std::shared_ptr<spdlog::logger> logger_;
  RecordingPeerHandler peer_handler_;
  EchoClientHandler client_handler_;
  EventLoop loop_;  // transport objects are test-body locals, destroyed before it
};

TEST_F(RpcTest, EveryMessageTypeRoundTripsBetweenPeers) {
  auto server = StartServer(1, {2});
  PeerNetwork net(loop_, NetOptions(2, {{1, "127.0.0.1", server->port()}}));
  std::vector<paxos::Message> sent = testing::OneOfEachMessage(2, 1);
  for (const paxos::Message& m : sent) EXPECT_TRUE(net.Send(m));
  ASSERT_TRUE(loop_.RunUntil([&] { return peer_handler_.messages.size() == sent.size(); }, kWait));
  for (size_t i = 0; i < sent.size(); ++i) {
    EXPECT_EQ(EncodePeerBatchBytes({peer_handler_.messages[i]}), EncodePeerBatchBytes({sent[i]}))
        << paxos::DescribeMessage(sent[i]);
  }
  PeerLinkState link = net.LinkState(1);
  EXPECT_TRUE(link.connected);
  EXPECT_TRUE(link.last_handshake.accepted);
  EXPECT_EQ(link.last_handshake.server_replica, 1u);
  EXPECT_EQ(link.last_handshake.server_cluster, kCluster);
  EXPECT_TRUE(link.last_handshake.has_history);
  EXPECT_FALSE(net.Send(paxos::Message{2, 9, paxos::PreVoteRequest{1}}));  // unknown peer
}

// An exception from a handler is an internal failure: the process ends (exit
// 70, one line on stderr), the server does not turn it into a call error.
using RpcDeathTest = RpcTest;

TEST_F(RpcDeathTest, AnExceptionFromThePeerHandlerEndsTheProcess) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  peer_handler_.throw_int = true;
  EXPECT_EXIT(
      {
        auto server = StartServer(1, {2});
        PeerNetwork net(loop_, NetOptions(2, {{1, "127.0.0.1", server->port()}}));
        net.Send(paxos::Message{2, 1, paxos::Heartbeat{{1, 2}, 1}});
        loop_.RunFor(kWait);
      },
      ::testing::ExitedWithCode(70),
      "synod: fatal internal error in the peer message handler: an exception of a type not "
      "derived from std::exception");
}

TEST_F(RpcDeathTest, AnExceptionFromTheClientHandlerEndsTheProcess) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  client_handler_.throw_bad_alloc = true;
  EXPECT_EXIT(
      {
        auto server = StartServer(1, {});
        ClientConnection client(loop_, ClientOptions(server->port()));
        SubmitAndWait(client, "c");
      },
      ::testing::ExitedWithCode(70),
      "synod: fatal internal error in the client request handler: std::bad_alloc: std::bad_alloc");
}

TEST_F(RpcTest, ManySendsAreBatchedIntoFewCalls) {
  auto server = StartServer(1, {2});
  PeerNetwork net(loop_, NetOptions(2, {{1, "127.0.0.1", server->port()}}));
  ASSERT_TRUE(loop_.RunUntil([&] { return net.LinkState(1).connected; }, kWait));
  for (uint64_t i = 1; i <= 1000; ++i) {
    net.Send(paxos::Message{2, 1, paxos::Heartbeat{{1, 2}, i}});
  }
  ASSERT_TRUE(loop_.RunUntil([&] { return peer_handler_.messages.size() == 1000; }, kWait));
  for (uint64_t i = 0; i < 1000; ++i) {  // in order
    EXPECT_EQ(std::get<paxos::Heartbeat>(peer_handler_.messages[i].body).commit, i + 1);
  }
  ASSERT_TRUE(loop_.RunUntil([&] { return net.LinkState(1).sent_messages == 1000; }, kWait));
  EXPECT_EQ(net.LinkState(1).dropped_messages, 0u);
  EXPECT_LE(net.LinkState(1).calls, 8u);  // 1000 sends queued at once: a handful of calls
}

TEST_F(RpcTest, ClientSubmitsAreCoalescedAndAnsweredInOrder) {
  auto server = StartServer(1, {});
  ClientConnection client(loop_, ClientOptions(server->port()));
  std::vector<SubmitResult> results(100);
  int done = 0;
  for (int i = 0; i < 100; ++i) {
    client.Submit("c" + std::to_string(i), kWait, [&, i](SubmitResult r) {
      results[i] = std::move(r);
      ++done;
    });
  }
  ASSERT_TRUE(loop_.RunUntil([&] { return done == 100; }, kWait));
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(results[i].call, CallStatus::kReplied) << results[i].error;
    EXPECT_EQ(results[i].outcome.status, OutcomeStatus::kOk);
    EXPECT_EQ(results[i].outcome.result, "r:c" + std::to_string(i));
    EXPECT_EQ(results[i].leader_hint, 1u);
  }
  EXPECT_LE(client_handler_.calls, 2);  // 100 concurrent submits, one or two calls
  EXPECT_TRUE(client.handshake().accepted);
  EXPECT_EQ(client.handshake().server_replica, 1u);

  std::optional<ReplicaStatus> status;
  client.QueryStatus(kWait,
                     [&](std::optional<ReplicaStatus> s, const std::string&) { status = s; });
  ASSERT_TRUE(loop_.RunUntil([&] { return status.has_value(); }, kWait));
  EXPECT_EQ(status->role, Role::kLeader);
  EXPECT_EQ(status->chosen_point, 20u);
}

TEST_F(RpcTest, WrongClusterIdIsRefusedAndLoggedServerKeepsServing) {
  auto server = StartServer(1, {2});
  ClientConnection stranger(loop_, ClientOptions(server->port(), 0xBAD));
  std::optional<SubmitResult> refused = SubmitAndWait(stranger, "x");
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->call, CallStatus::kRefused);
  EXPECT_FALSE(refused->maybe_sent);
  EXPECT_FALSE(stranger.handshake().accepted);
  EXPECT_NE(stranger.handshake().reason.find("wrong cluster id"), std::string::npos);
  EXPECT_EQ(stranger.handshake().server_cluster, kCluster);  // reported even on refusal
  EXPECT_EQ(server->stats().refused_handshakes, 1u);
  EXPECT_NE(Logged().find("refused connection"), std::string::npos);
  EXPECT_TRUE(loop_.RunUntil([&] { return server->connection_count() == 0; }, kWait));

  ClientConnection good(loop_, ClientOptions(server->port()));
  std::optional<SubmitResult> ok = SubmitAndWait(good, "y");
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->call, CallStatus::kReplied);
}

// Hello of a peer `self` stating `cluster` and `member_list` to `port`.
HandshakeInfo PeerHelloInfo(EventLoop& loop, PeerNetworkOptions options, ClusterId cluster,
                            ClusterId member_list) {
  options.cluster_id = cluster;
  options.member_list_id = member_list;
  PeerNetwork net(loop, options);
  loop.RunUntil([&] { return net.LinkState(1).handshakes > 0; }, kWait);
  return net.LinkState(1).last_handshake;
}

TEST_F(RpcTest, AgreedClusterIdIsRequiredExceptFromMembersThatHaveNotAppliedIt) {
  constexpr ClusterId kAgreed = 0xA6, kEarlier = 0xE4;
  auto server = StartServer(1, {2}, [](ServerOptions& o) {
    o.cluster_id = kAgreed;
    o.member_list_id = kCluster;
    o.members = "1=127.0.0.1:1,2=127.0.0.1:2";
  });
  PeerNetworkOptions peer = NetOptions(2, {{1, "127.0.0.1", server->port()}});
  EXPECT_TRUE(PeerHelloInfo(loop_, peer, kAgreed, kCluster).accepted);
  EXPECT_TRUE(PeerHelloInfo(loop_, peer, kCluster, kCluster).accepted);  // not applied it yet
  EXPECT_TRUE(PeerHelloInfo(loop_, peer, kCluster, 0).accepted);         // older peer
  HandshakeInfo earlier = PeerHelloInfo(loop_, peer, kEarlier, kCluster);
  EXPECT_FALSE(earlier.accepted);
  EXPECT_NE(earlier.reason.find("wrong cluster id"), std::string::npos);
  EXPECT_EQ(earlier.server_cluster, kAgreed);
  HandshakeInfo other_list = PeerHelloInfo(loop_, peer, kAgreed, 0xBAD);
  EXPECT_FALSE(other_list.accepted);
  EXPECT_NE(other_list.reason.find("wrong member list (this replica's is 1=127.0.0.1:1,"),
            std::string::npos);

  // Clients must state the agreed id; the refusal tells them the id and members.
  ClientConnection unlearned(loop_, ClientOptions(server->port(), kCluster));
  std::optional<SubmitResult> refused = SubmitAndWait(unlearned, "x");
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->call, CallStatus::kRefused);
  EXPECT_EQ(unlearned.handshake().server_cluster, kAgreed);
  EXPECT_EQ(unlearned.handshake().server_members, "1=127.0.0.1:1,2=127.0.0.1:2");
  ClientConnection learned(loop_, ClientOptions(server->port(), kAgreed));
  std::optional<HandshakeInfo> seen;
  learned.WhenHandshaken([&](const HandshakeInfo& info) { seen = info; });
  ASSERT_TRUE(loop_.RunUntil([&] { return seen.has_value(); }, kWait));
  EXPECT_TRUE(seen->accepted);
  std::optional<SubmitResult> ok = SubmitAndWait(learned, "y");
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->call, CallStatus::kReplied);
}

TEST_F(RpcTest, BeforeApplyingTheAgreedIdAPeerOfTheSameListStatingOneIsAccepted) {
  auto server = StartServer(1, {2}, [](ServerOptions& o) { o.member_list_id = kCluster; });
  PeerNetworkOptions peer = NetOptions(2, {{1, "127.0.0.1", server->port()}});
  EXPECT_TRUE(PeerHelloInfo(loop_, peer, 0xA6, kCluster).accepted);
  EXPECT_FALSE(PeerHelloInfo(loop_, peer, 0xA6, 0).accepted);
  EXPECT_FALSE(PeerHelloInfo(loop_, peer, 0xA6, 0xBAD).accepted);
}

TEST_F(RpcTest, APeerWithTheAgreedIdGreetsAnOlderBuildWithTheMemberListHash) {
  // An older build checks only the member-list hash (no member_list_id).
  auto older = StartServer(1, {2});
  PeerNetworkOptions options = NetOptions(2, {{1, "127.0.0.1", older->port()}});
  options.cluster_id = 0xA6;
  options.member_list_id = kCluster;
  PeerNetwork net(loop_, options);
  net.Send(paxos::Message{2, 1, paxos::PreVoteRequest{1}});
  EXPECT_TRUE(loop_.RunUntil([&] { return peer_handler_.messages.size() == 1; }, kWait));
  EXPECT_EQ(older->stats().refused_handshakes, 1u);
}

TEST_F(RpcTest, UnknownReplicaIsRefused) {
  auto server = StartServer(1, {2, 3});
  PeerNetwork intruder(loop_, NetOptions(7, {{1, "127.0.0.1", server->port()}}));
  ASSERT_TRUE(loop_.RunUntil([&] { return intruder.LinkState(1).handshakes > 0; }, kWait));
  PeerLinkState link = intruder.LinkState(1);
  EXPECT_FALSE(link.connected);
  EXPECT_FALSE(link.last_handshake.accepted);
  EXPECT_NE(link.last_handshake.reason.find("unknown replica 7"), std::string::npos);
  intruder.Send(paxos::Message{7, 1, paxos::PreVoteRequest{1}});
  loop_.RunFor(50ms);
  EXPECT_TRUE(peer_handler_.messages.empty());
  EXPECT_NE(Logged().find("unknown replica 7"), std::string::npos);

  PeerNetwork member(loop_, NetOptions(3, {{1, "127.0.0.1", server->port()}}));
  member.Send(paxos::Message{3, 1, paxos::PreVoteRequest{1}});
  EXPECT_TRUE(loop_.RunUntil([&] { return peer_handler_.messages.size() == 1; }, kWait));
}

TEST_F(RpcTest, HandshakeObserverSeesEveryHello) {
  auto server = StartServer(1, {2});
  PeerNetwork net(loop_, NetOptions(2, {{1, "127.0.0.1", server->port()}}));
  std::vector<std::pair<paxos::ReplicaId, HandshakeInfo>> seen;
  net.SetHandshakeObserver(
      [&](paxos::ReplicaId peer, const HandshakeInfo& info) { seen.emplace_back(peer, info); });
  ASSERT_TRUE(loop_.RunUntil([&] { return !seen.empty(); }, kWait));
  EXPECT_EQ(seen[0].first, 1u);
  EXPECT_TRUE(seen[0].second.accepted);
  EXPECT_TRUE(seen[0].second.has_history);
}

// Opens a raw TCP connection to the server.
tcp::socket RawConnect(EventLoop& loop, uint16_t port) {
  tcp::socket socket(loop.io());
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  return socket;
}

// Runs the loop until the server closes `socket` (EOF or reset on read).
bool WaitForClose(EventLoop& loop, tcp::socket& socket) {
  bool closed = false;
  auto buffer = std::make_shared<std::array<char, 4096>>();
  std::function<void()> read = [&] {
    socket.async_read_some(asio::buffer(*buffer),
                           [&, buffer](const boost::system::error_code& ec, size_t) {
                             if (ec) {
                               closed = true;
                             } else {
                               read();
                             }
                           });
  };
  read();
  bool ok = loop.RunUntil([&] { return closed; }, kWait);
  if (!ok) socket.close();
  loop.RunUntil([&] { return closed; }, 1s);
  return ok;
}

TEST_F(RpcTest, GarbageBytesCloseThatConnectionOnly) {
  auto server = StartServer(1, {}, [](ServerOptions& o) { o.handshake_timeout = 60s; });
  ClientConnection good(loop_, ClientOptions(server->port()));
  ASSERT_TRUE(loop_.RunUntil([&] { return good.connected(); }, kWait));

  tcp::socket raw = RawConnect(loop_, server->port());
  std::string garbage(256, '\xff');
  asio::write(raw, asio::buffer(garbage));
  EXPECT_TRUE(WaitForClose(loop_, raw));  // closed long before the 60 s handshake timeout
  EXPECT_TRUE(loop_.RunUntil([&] { return server->connection_count() == 1; }, kWait));

  std::optional<SubmitResult> ok = SubmitAndWait(good, "still-here");
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->call, CallStatus::kReplied);
  EXPECT_EQ(ok->outcome.result, "r:still-here");
}

TEST_F(RpcTest, OversizeMessageClosesThatConnectionOnly) {
  auto server = StartServer(1, {2}, [](ServerOptions& o) { o.limits.max_message_bytes = 1 << 20; });
  ClientConnection good(loop_, ClientOptions(server->port()));
  ASSERT_TRUE(loop_.RunUntil([&] { return good.connected(); }, kWait));
  PeerNetwork net(loop_, NetOptions(2, {{1, "127.0.0.1", server->port()}}));
  ASSERT_TRUE(loop_.RunUntil([&] { return net.LinkState(1).connected; }, kWait));

  paxos::Message big{
      2, 1, paxos::Accept{{1, 2}, 1, paxos::MakeCommandsValue({std::string(2 << 20, 'x')}), 0}};
  net.Send(big);
  ASSERT_TRUE(loop_.RunUntil([&] { return net.LinkState(1).failed_calls == 1; }, kWait));
  EXPECT_TRUE(peer_handler_.messages.empty());

  // The peer reconnects and small messages flow again; the client never noticed.
  net.Send(paxos::Message{2, 1, paxos::Heartbeat{{1, 2}, 5}});
  ASSERT_TRUE(loop_.RunUntil([&] { return peer_handler_.messages.size() == 1; }, kWait));
  EXPECT_GE(net.LinkState(1).connects, 2u);
  std::optional<SubmitResult> ok = SubmitAndWait(good, "z");
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->call, CallStatus::kReplied);
}

TEST_F(RpcTest, SilentConnectionIsClosedAtHandshakeTimeout) {
  auto server = StartServer(1, {}, [](ServerOptions& o) { o.handshake_timeout = 100ms; });
  tcp::socket raw = RawConnect(loop_, server->port());
  EXPECT_TRUE(WaitForClose(loop_, raw));
  EXPECT_EQ(server->stats().handshake_timeouts, 1u);
  EXPECT_EQ(server->connection_count(), 0u);
}

// Opens a raw TCP connection to the server from local address `source`
// (any of 127.0.0.0/8 is loopback on Linux).
tcp::socket RawConnectFrom(EventLoop& loop, const char* source, uint16_t port) {
  tcp::socket socket(loop.io());
  socket.open(tcp::v4());
  socket.bind(tcp::endpoint(asio::ip::make_address(source), 0));
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  return socket;
}

// True if the server has not closed `socket` (nothing to read, no EOF).
bool StillOpen(tcp::socket& socket) {
  socket.non_blocking(true);
  std::array<char, 16> buffer{};
  boost::system::error_code ec;
  socket.read_some(asio::buffer(buffer), ec);
  return ec == asio::error::would_block;
}

TEST_F(RpcTest, FullPendingBudgetMakesRoomForAnotherAddress) {
  auto server = StartServer(1, {}, [](ServerOptions& o) {
    o.max_pending_connections = 4;
    o.handshake_timeout = 60s;
    o.handshake_timeout_under_pressure = 60s;
  });
  std::vector<tcp::socket> idle;
  for (int i = 0; i < 4; ++i) idle.push_back(RawConnectFrom(loop_, "127.0.0.2", server->port()));
  ASSERT_TRUE(loop_.RunUntil([&] { return server->stats().accepted == 4; }, kWait));
  // A real client from another address still gets in: the flood's oldest makes room.
  ClientConnection client(loop_, ClientOptions(server->port()));
  std::optional<SubmitResult> ok = SubmitAndWait(client, "in");
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->call, CallStatus::kReplied);
  EXPECT_EQ(server->stats().evicted_pending, 1u);
  EXPECT_TRUE(WaitForClose(loop_, idle[0]));
  for (int i = 1; i < 4; ++i) EXPECT_TRUE(StillOpen(idle[i])) << i;
  EXPECT_EQ(server->pending_count(), 3u);
  EXPECT_EQ(server->client_count(), 1u);
  EXPECT_NE(Logged().find("too many connections waiting for hello"), std::string::npos);
  // The pool is full again (3 + this one); more from the flood's address are closed at accept.
  idle.push_back(RawConnectFrom(loop_, "127.0.0.2", server->port()));
  idle.push_back(RawConnectFrom(loop_, "127.0.0.2", server->port()));
  EXPECT_TRUE(WaitForClose(loop_, idle.back()));
  EXPECT_EQ(server->stats().closed_at_accept, 1u);
  EXPECT_EQ(server->pending_count(), 4u);
}

TEST_F(RpcTest, PendingFloodFromOneAddressDisplacesOnlyItself) {
  auto server = StartServer(1, {}, [](ServerOptions& o) {
    o.max_pending_connections = 6;
    o.max_pending_per_address = 4;
    o.handshake_timeout = 60s;
    o.handshake_timeout_under_pressure = 60s;
  });
  tcp::socket bystander = RawConnect(loop_, server->port());  // the oldest, from 127.0.0.1
  std::vector<tcp::socket> flood;
  for (int i = 0; i < 10; ++i) flood.push_back(RawConnectFrom(loop_, "127.0.0.2", server->port()));
  ASSERT_TRUE(loop_.RunUntil([&] { return server->stats().accepted == 11; }, kWait));
  EXPECT_EQ(server->stats().closed_at_accept, 6u);  // 127.0.0.2 keeps its first 4
  EXPECT_EQ(server->stats().evicted_pending, 0u);
  for (int i = 4; i < 10; ++i) EXPECT_TRUE(WaitForClose(loop_, flood[i])) << i;
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(StillOpen(flood[i])) << i;
  // The pool (6) fills from a third address: the address holding the most
  // pays, never the bystander's single connection.
  std::vector<tcp::socket> more;
  for (int i = 0; i < 3; ++i) more.push_back(RawConnectFrom(loop_, "127.0.0.3", server->port()));
  ASSERT_TRUE(loop_.RunUntil([&] { return server->stats().accepted == 14; }, kWait));
  EXPECT_EQ(server->stats().evicted_pending, 2u);
  EXPECT_TRUE(WaitForClose(loop_, flood[0]));
  EXPECT_TRUE(WaitForClose(loop_, flood[1]));
  EXPECT_TRUE(StillOpen(bystander));
  for (tcp::socket& s : more) EXPECT_TRUE(StillOpen(s));
  EXPECT_EQ(server->pending_count(), 6u);
}

TEST_F(RpcTest, MembersGetInWhenTheClientBudgetIsFull) {
  auto server = StartServer(1, {2}, [](ServerOptions& o) { o.max_client_connections = 2; });
  ClientConnection first(loop_, ClientOptions(server->port()));
  ClientConnection second(loop_, ClientOptions(server->port()));
  ASSERT_TRUE(loop_.RunUntil([&] { return first.connected() && second.connected(); }, kWait));
  ASSERT_TRUE(SubmitAndWait(first, "active").has_value());  // `second` is now the least active
  PeerNetwork net(loop_, NetOptions(2, {{1, "127.0.0.1", server->port()}}));
  net.Send(paxos::Message{2, 1, paxos::Heartbeat{{1, 2}, 1}});
  ASSERT_TRUE(loop_.RunUntil([&] { return peer_handler_.messages.size() == 1; }, kWait));
  EXPECT_EQ(server->stats().evicted_clients, 0u);  // members do not count as clients

  ClientConnection third(loop_, ClientOptions(server->port()));
  std::optional<SubmitResult> ok = SubmitAndWait(third, "new");
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->call, CallStatus::kReplied);
  ASSERT_TRUE(loop_.RunUntil([&] { return second.failed(); }, kWait));
  EXPECT_FALSE(first.failed());
  EXPECT_EQ(server->stats().evicted_clients, 1u);
  EXPECT_EQ(server->client_count(), 2u);
  EXPECT_TRUE(net.LinkState(1).connected);
}

TEST_F(RpcTest, MemberBudgetClosesThatMembersOldestConnection) {
  auto server = StartServer(1, {2}, [](ServerOptions& o) { o.max_connections_per_member = 1; });
  auto old_link =
      std::make_unique<PeerNetwork>(loop_, NetOptions(2, {{1, "127.0.0.1", server->port()}}));
  ASSERT_TRUE(loop_.RunUntil([&] { return old_link->LinkState(1).connected; }, kWait));
  PeerNetwork new_link(loop_, NetOptions(2, {{1, "127.0.0.1", server->port()}}));
  ASSERT_TRUE(loop_.RunUntil([&] { return new_link.LinkState(1).connected; }, kWait));
  EXPECT_GE(server->stats().evicted_members, 1u);
  old_link.reset();  // it would reconnect and take the budget back in turn
  new_link.Send(paxos::Message{2, 1, paxos::Heartbeat{{1, 2}, 7}});
  ASSERT_TRUE(loop_.RunUntil([&] { return !peer_handler_.messages.empty(); }, kWait));
}

TEST_F(RpcTest, RepeatedWarningsAreRateLimited) {
  auto server = StartServer(1, {}, [](ServerOptions& o) {
    o.handshake_timeout = 20ms;
    o.log_summary_period = 60s;  // no summary line within this test
  });
  std::vector<tcp::socket> silent;
  for (int i = 0; i < 20; ++i) silent.push_back(RawConnect(loop_, server->port()));
  ASSERT_TRUE(loop_.RunUntil([&] { return server->stats().handshake_timeouts == 20; }, kWait));
  std::string logged = Logged();
  size_t lines = 0;
  for (size_t at = logged.find("no hello within"); at != std::string::npos;
       at = logged.find("no hello within", at + 1)) {
    ++lines;
  }
  EXPECT_EQ(lines, 1u) << logged;
  EXPECT_EQ(server->stats().suppressed_warnings, 19u);
}

// Lowers the soft RLIMIT_NOFILE for one scope; restores it after.
class FileLimitScope {
 public:
  explicit FileLimitScope(rlim_t soft) {
    getrlimit(RLIMIT_NOFILE, &saved_);
    rlimit lowered = saved_;
    lowered.rlim_cur = soft;
    ok_ = setrlimit(RLIMIT_NOFILE, &lowered) == 0;
  }
  ~FileLimitScope() { setrlimit(RLIMIT_NOFILE, &saved_); }
  bool ok() const { return ok_; }

 private:
  rlimit saved_{};
  bool ok_ = false;
};

// Opens /dev/null until every descriptor number below the highest open one
// is taken; closes them when destroyed (also when a test assertion fails).
// Afterwards a limit of back() + 1 + n leaves exactly n descriptors free.
class DescriptorHoles {
 public:
  DescriptorHoles() {
    int highest = 0;
    for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
      highest = std::max(highest, std::stoi(entry.path().filename().string()));
    }
    for (;;) {
      int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (fd < 0) break;
      fds_.push_back(fd);
      if (fd >= highest) break;
    }
  }
  ~DescriptorHoles() { Release(); }
  DescriptorHoles(const DescriptorHoles&) = delete;
  DescriptorHoles& operator=(const DescriptorHoles&) = delete;
  void Release() {
    for (int fd : fds_) close(fd);
    fds_.clear();
  }
  bool empty() const { return fds_.empty(); }
  int back() const { return fds_.back(); }

 private:
  std::vector<int> fds_;
};

TEST_F(RpcTest, AcceptOutOfDescriptorsNeitherSpinsNorStops) {
#ifdef SYNOD_SANITIZED
  // The sanitizers' runtime opens a pipe to check memory it reports on, so
  // with every descriptor in use it reports false "invalid vptr" errors
  // inside fmt. The normal build runs this test (make test).
  GTEST_SKIP() << "needs free descriptors for the sanitizer runtime";
#endif
  auto server = StartServer(1, {}, [](ServerOptions& o) {
    o.handshake_timeout = 60s;
    o.accept_retry_delay = 50ms;
  });
  // Client sockets are opened before the limit drops; only the server's
  // accepts need new descriptors.
  std::vector<tcp::socket> clients;
  for (int i = 0; i < 12; ++i) {
    clients.emplace_back(loop_.io());
    clients.back().open(tcp::v4());
  }
  DescriptorHoles fillers;
  ASSERT_FALSE(fillers.empty());
  {
    FileLimitScope limit(static_cast<rlim_t>(fillers.back() + 1 + 5));  // 5 free
    ASSERT_TRUE(limit.ok());
    for (tcp::socket& c : clients) {
      c.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server->port()));
    }
    // Each failed accept closes one waiting connection and retries 50 ms later.
    ASSERT_TRUE(loop_.RunUntil([&] { return server->stats().accepted == 12; }, kWait));
    ServerStats stats = server->stats();
    EXPECT_GE(stats.accept_errors, 1u);
    EXPECT_LE(stats.accept_errors, 20u);  // a spinning loop would fail thousands of times
    EXPECT_GE(stats.evicted_pending, 1u);
  }
  fillers.Release();
  // With descriptors back, the server serves as before.
  ClientConnection client(loop_, ClientOptions(server->port()));
  std::optional<SubmitResult> ok = SubmitAndWait(client, "after");
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->call, CallStatus::kReplied);
  EXPECT_NE(Logged().find("accept failed"), std::string::npos);
}

TEST_F(RpcTest, OutOfDescriptorsWithNoneWaitingClosesTheLeastActiveClient) {
#ifdef SYNOD_SANITIZED
  // The sanitizers' runtime opens a pipe to check memory it reports on, so
  // with every descriptor in use it reports false "invalid vptr" errors
  // inside fmt. The normal build runs this test (make test).
  GTEST_SKIP() << "needs free descriptors for the sanitizer runtime";
#endif
  auto server = StartServer(1, {}, [](ServerOptions& o) { o.accept_retry_delay = 50ms; });
  ClientConnection busy(loop_, ClientOptions(server->port()));
  ClientConnection idle(loop_, ClientOptions(server->port()));
  ASSERT_TRUE(loop_.RunUntil([&] { return busy.connected() && idle.connected(); }, kWait));
  ASSERT_TRUE(SubmitAndWait(busy, "active").has_value());  // `idle` is the least active
  tcp::socket newcomer(loop_.io());
  newcomer.open(tcp::v4());  // its descriptor is taken before the limit drops
  DescriptorHoles fillers;
  ASSERT_FALSE(fillers.empty());
  {
    FileLimitScope limit(static_cast<rlim_t>(fillers.back() + 1));  // none free
    ASSERT_TRUE(limit.ok());
    newcomer.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server->port()));
    // Nothing waits for hello: the least active client gives its descriptor.
    ASSERT_TRUE(loop_.RunUntil([&] { return server->stats().accepted == 3; }, kWait));
    EXPECT_EQ(server->stats().evicted_clients, 1u);
    EXPECT_GE(server->stats().accept_errors, 1u);
    EXPECT_TRUE(loop_.RunUntil([&] { return idle.failed(); }, kWait));
    EXPECT_FALSE(busy.failed());
  }
  fillers.Release();
  EXPECT_NE(Logged().find("out of file descriptors"), std::string::npos);
}

TEST_F(RpcTest, ListenShrinksTheBudgetsToFitTheFileLimit) {
  std::unique_ptr<Server> server;
  {
    FileLimitScope limit(300);
    ASSERT_TRUE(limit.ok());
    server = StartServer(1, {2, 3}, [](ServerOptions& o) { o.reserved_file_descriptors = 100; });
  }
  // 300 - 100 reserved - 2 members x 4 = 192: half for waiting, the rest for clients.
  ServerStats stats = server->stats();
  EXPECT_EQ(stats.pending_budget, 96u);
  EXPECT_EQ(stats.client_budget, 96u);
  EXPECT_NE(Logged().find("serving at most 96 client connections (configured 1024)"),
            std::string::npos)
      << Logged();
  // A limit that holds every budget changes nothing.
  auto roomy = StartServer(1, {2, 3});
  EXPECT_EQ(roomy->stats().client_budget, 1024u);
  EXPECT_EQ(roomy->stats().pending_budget, 256u);
}

TEST_F(RpcTest, HelloDeadlineIsGenerousUnlessThePoolIsOverHalfFull) {
  auto server = StartServer(1, {}, [](ServerOptions& o) {
    o.max_pending_connections = 4;
    o.handshake_timeout = 60s;
    o.handshake_timeout_under_pressure = 50ms;
  });
  std::vector<tcp::socket> idle;
  for (int i = 0; i < 3; ++i) idle.push_back(RawConnect(loop_, server->port()));
  // The third arrives with the pool over half full: only it gets the short deadline.
  EXPECT_TRUE(WaitForClose(loop_, idle[2]));
  EXPECT_EQ(server->stats().handshake_timeouts, 1u);
  EXPECT_TRUE(StillOpen(idle[0]));
  EXPECT_TRUE(StillOpen(idle[1]));
  EXPECT_NE(Logged().find("no hello within 50 ms"), std::string::npos);
}

TEST_F(RpcTest, AHelloAsAMemberDoesNotCloseThatMembersActiveLink) {
  auto server = StartServer(1, {2}, [](ServerOptions& o) {
    o.max_connections_per_member = 2;
    o.members = "1=127.0.0.1:1,2=127.0.0.1:2";
  });
  PeerNetwork real(loop_, NetOptions(2, {{1, "127.0.0.1", server->port()}}));
  real.Send(paxos::Message{2, 1, paxos::Heartbeat{{1, 2}, 1}});
  ASSERT_TRUE(loop_.RunUntil([&] { return peer_handler_.messages.size() == 1; }, kWait));
  // Impostors say hello as replica 2 and stay idle; each new one closes an idle one.
  std::vector<std::unique_ptr<PeerNetwork>> impostors;
  for (int i = 0; i < 3; ++i) {
    impostors.push_back(
        std::make_unique<PeerNetwork>(loop_, NetOptions(2, {{1, "127.0.0.1", server->port()}})));
    ASSERT_TRUE(loop_.RunUntil([&] { return impostors.back()->LinkState(1).connected; }, kWait));
  }
  EXPECT_GE(server->stats().evicted_members, 2u);
  EXPECT_TRUE(real.LinkState(1).connected);
  EXPECT_EQ(real.LinkState(1).handshakes, 1u);  // never reconnected
  impostors.clear();
  real.Send(paxos::Message{2, 1, paxos::Heartbeat{{1, 2}, 2}});
  ASSERT_TRUE(loop_.RunUntil([&] { return peer_handler_.messages.size() == 2; }, kWait));
  EXPECT_EQ(real.LinkState(1).handshakes, 1u);
}

TEST_F(RpcTest, LostLinkLinesAreRateLimitedPerPeer) {
  auto server = StartServer(1, {2}, [](ServerOptions& o) { o.max_connections_per_member = 1; });
  // Two links of replica 2 take the one place from each other over and over.
  PeerNetworkOptions options = NetOptions(2, {{1, "127.0.0.1", server->port()}});
  options.log_summary_period = 60s;
  PeerNetwork a(loop_, options);
  PeerNetwork b(loop_, options);
  ASSERT_TRUE(loop_.RunUntil([&] { return server->stats().evicted_members >= 8; }, kWait));
  std::string logged = Logged();
  size_t lines = 0;
  for (size_t at = logged.find("link to replica 1 lost"); at != std::string::npos;
       at = logged.find("link to replica 1 lost", at + 1)) {
    ++lines;
  }
  EXPECT_LE(lines, 2u) << logged;  // one per PeerNetwork
}

TEST_F(RpcTest, RefusalsOfAnotherKindAreNotHiddenBehindAFlood) {
  auto server = StartServer(1, {2}, [](ServerOptions& o) { o.log_summary_period = 60s; });
  for (int i = 0; i < 3; ++i) {
    ClientConnection wrong(loop_, ClientOptions(server->port(), 0xBAD));
    std::optional<SubmitResult> refused = SubmitAndWait(wrong, "x");
    ASSERT_TRUE(refused.has_value());
    EXPECT_EQ(refused->call, CallStatus::kRefused);
  }
  PeerNetwork intruder(loop_, NetOptions(7, {{1, "127.0.0.1", server->port()}}));
  ASSERT_TRUE(loop_.RunUntil([&] { return intruder.LinkState(1).handshakes > 0; }, kWait));
  ASSERT_TRUE(loop_.RunUntil([&] { return server->stats().refused_handshakes >= 4; }, kWait));
  EXPECT_NE(Logged().find("(replica 7, cluster"), std::string::npos) << Logged();
}

TEST_F(RpcTest, AFullPoolEvictsTheOldestAmongAddressesHoldingAsMany) {
  auto server = StartServer(1, {}, [](ServerOptions& o) {
    o.max_pending_connections = 2;
    o.handshake_timeout = 60s;
    o.handshake_timeout_under_pressure = 60s;
  });
  tcp::socket older = RawConnectFrom(loop_, "127.0.0.3", server->port());
  ASSERT_TRUE(loop_.RunUntil([&] { return server->stats().accepted == 1; }, kWait));
  tcp::socket newer = RawConnectFrom(loop_, "127.0.0.2", server->port());
  ASSERT_TRUE(loop_.RunUntil([&] { return server->stats().accepted == 2; }, kWait));
  tcp::socket third = RawConnectFrom(loop_, "127.0.0.4", server->port());
  ASSERT_TRUE(loop_.RunUntil([&] { return server->stats().accepted == 3; }, kWait));
  EXPECT_EQ(server->stats().evicted_pending, 1u);
  EXPECT_TRUE(WaitForClose(loop_, older));
  EXPECT_TRUE(StillOpen(newer));
  EXPECT_TRUE(StillOpen(third));
}

TEST_F(RpcTest, ClientDisconnectMidCallFailsOnlyThatCall) {
  auto server = StartServer(1, {});
  client_handler_.hold = true;
  auto first = std::make_unique<ClientConnection>(loop_, ClientOptions(server->port()));
  ClientConnection second(loop_, ClientOptions(server->port()));
  std::optional<SubmitResult> r1, r2;
  first->Submit("one", kWait, [&](SubmitResult r) { r1 = std::move(r); });
  second.Submit("two", kWait, [&](SubmitResult r) { r2 = std::move(r); });
  ASSERT_TRUE(loop_.RunUntil([&] { return client_handler_.held.size() == 2; }, kWait));

  first->Close();
  ASSERT_TRUE(loop_.RunUntil([&] { return r1.has_value(); }, kWait));
  EXPECT_EQ(r1->call, CallStatus::kDisconnected);
  EXPECT_TRUE(r1->maybe_sent);  // it reached the server: outcome unknown
  ASSERT_TRUE(loop_.RunUntil([&] { return server->connection_count() == 1; }, kWait));

  // Answering the dead call is a harmless no-op; the live one completes.
  for (size_t i = 0; i < 2; ++i) {
    client_handler_.held[i](EchoClientHandler::Answer(client_handler_.held_commands[i]));
  }
  ASSERT_TRUE(loop_.RunUntil([&] { return r2.has_value(); }, kWait));
  EXPECT_EQ(r2->call, CallStatus::kReplied);
  EXPECT_EQ(r2->outcome.result, "r:two");
  first.reset();
}

TEST_F(RpcTest, ServerGoingAwayMidCallFailsOnlyItsCalls) {
  auto doomed = StartServer(1, {});
  auto survivor = StartServer(2, {});
  client_handler_.hold = true;
  ClientConnection to_doomed(loop_, ClientOptions(doomed->port()));
  std::optional<SubmitResult> lost;
  to_doomed.Submit("lost", kWait, [&](SubmitResult r) { lost = std::move(r); });
  ASSERT_TRUE(loop_.RunUntil([&] { return client_handler_.held.size() == 1; }, kWait));
  doomed.reset();
  ASSERT_TRUE(loop_.RunUntil([&] { return lost.has_value(); }, kWait));
  EXPECT_EQ(lost->call, CallStatus::kDisconnected);
  client_handler_.held.clear();  // dropping a done callback after its server is gone is safe

  client_handler_.hold = false;
  ClientConnection to_survivor(loop_, ClientOptions(survivor->port()));
  std::optional<SubmitResult> ok = SubmitAndWait(to_survivor, "fine");
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->call, CallStatus::kReplied);
}

TEST_F(RpcTest, UnansweredSubmitTimesOut) {
  auto server = StartServer(1, {});
  client_handler_.hold = true;
  ClientConnection client(loop_, ClientOptions(server->port()));
  std::optional<SubmitResult> r = SubmitAndWait(client, "slow", 100ms);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->call, CallStatus::kTimeout);
  EXPECT_TRUE(r->maybe_sent);
  // A dropped SubmitDone fails nothing else: the connection still works.
  client_handler_.held.clear();
  client_handler_.hold = false;
  std::optional<SubmitResult> ok = SubmitAndWait(client, "next");
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->call, CallStatus::kReplied);
}

TEST_F(RpcTest, PeerThatNeverAnswersDoesNotBlockOthers) {
  auto server = StartServer(1, {2});
  // A listening socket that is never accepted from: TCP connects, nothing answers.
  tcp::acceptor paused(loop_.io(), tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  uint16_t paused_port = paused.local_endpoint().port();
  PeerNetworkOptions options =
      NetOptions(2, {{1, "127.0.0.1", server->port()}, {3, "127.0.0.1", paused_port}});
  options.connect_timeout = 200ms;
  options.call_timeout = 200ms;
  PeerNetwork net(loop_, options);
  for (uint64_t i = 1; i <= 200; ++i) {
    net.Send(paxos::Message{2, 3, paxos::Heartbeat{{1, 2}, i}});
    net.Send(paxos::Message{2, 1, paxos::Heartbeat{{1, 2}, i}});
  }
  ASSERT_TRUE(loop_.RunUntil([&] { return peer_handler_.messages.size() == 200; }, kWait));
  EXPECT_FALSE(net.LinkState(3).connected);
  // Keep going while the paused peer's handshakes time out and retry.
  ASSERT_TRUE(loop_.RunUntil([&] { return net.LinkState(3).connects >= 2; }, kWait));
  net.Send(paxos::Message{2, 1, paxos::Heartbeat{{1, 2}, 999}});
  ASSERT_TRUE(loop_.RunUntil([&] { return peer_handler_.messages.size() == 201; }, kWait));
  EXPECT_EQ(net.LinkState(3).handshakes, 0u);
}

TEST_F(RpcTest, QueueOverflowDropsOldestMessages) {
  // No server: nothing is ever sent, so the queue must stay bounded.
  tcp::acceptor paused(loop_.io(), tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  PeerNetworkOptions options = NetOptions(2, {{1, "127.0.0.1", paused.local_endpoint().port()}});
  options.max_queue_messages = 10;
  PeerNetwork net(loop_, options);
  for (uint64_t i = 1; i <= 25; ++i) net.Send(paxos::Message{2, 1, paxos::Heartbeat{{1, 2}, i}});
  EXPECT_EQ(net.LinkState(1).queued_messages, 10u);
  EXPECT_EQ(net.LinkState(1).dropped_messages, 15u);
}

TEST_F(RpcTest, ListenOnBadHostIsAClearError) {
  ServerOptions options;
  options.host = "not an address";
  options.logger = logger_;
  Server server(loop_, options, &peer_handler_, &client_handler_);
  EXPECT_NE(server.Listen().message().find("bad listen host"), std::string::npos);
}

}  // namespace
}  // namespace synod::transport
