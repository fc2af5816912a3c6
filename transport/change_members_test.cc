// changeMembers() end to end over the real transport: a ClientConnection asks
// a Server, whose handler answers now, later, never, or not at all (the
// default handler refuses). Tests wait on conditions, never on sleeps.
#include <gtest/gtest.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <optional>

#include "transport/client_connection.h"
#include "transport/codec.h"
#include "transport/server.h"

namespace synod::transport {
namespace {

using namespace std::chrono_literals;

constexpr ClusterId kCluster = 77;
constexpr auto kWait = 10s;

// Answers every change as configured; keeps the ones it is told to hold.
class ChangeHandler final : public ClientRequestHandler {
 public:
  void OnSubmit(std::vector<std::string> commands, SubmitDone done) override {
    done(ClientReply{std::vector<Outcome>(commands.size()), paxos::kNoReplica});
  }
  ReplicaStatus OnStatus() override { return ReplicaStatus{}; }
  void OnChangeMembers(MemberChange change, ChangeDone done) override {
    if (use_default)
      return ClientRequestHandler::OnChangeMembers(std::move(change), std::move(done));
    seen.push_back(change);
    if (hold) {
      held.push_back(std::move(done));
      return;
    }
    done(answer);
  }

  bool use_default = false;
  bool hold = false;
  ChangeReply answer;
  std::vector<MemberChange> seen;
  std::vector<ChangeDone> held;
};

// The outcome of one ChangeMembers call.
struct Answer {
  std::optional<ChangeReply> reply;
  bool maybe_sent = false;
  std::string error;
};

class ChangeMembersTest : public ::testing::Test {
 protected:
  ChangeMembersTest()
      : logger_(std::make_shared<spdlog::logger>("test",
                                                 std::make_shared<spdlog::sinks::null_sink_mt>())) {
    ServerOptions options;
    options.cluster_id = kCluster;
    options.self = 1;
    options.logger = logger_;
    options.has_history = [] { return true; };
    server_ = std::make_unique<Server>(loop_, options, nullptr, &handler_);
    EXPECT_EQ(server_->Listen(), Status::Ok());
  }

  std::unique_ptr<ClientConnection> Connect(uint16_t port) {
    ClientConnectionOptions options;
    options.cluster_id = kCluster;
    options.server = PeerEndpoint{paxos::kNoReplica, "127.0.0.1", port};
    options.logger = logger_;
    options.connect_timeout = 2000ms;
    return std::make_unique<ClientConnection>(loop_, options);
  }

  Answer Change(ClientConnection& client, const MemberChange& change,
                Clock::duration timeout = kWait) {
    std::optional<Answer> answer;
    client.ChangeMembers(
        change, timeout,
        [&](std::optional<ChangeReply> reply, bool maybe_sent, const std::string& error) {
          answer = Answer{std::move(reply), maybe_sent, error};
        });
    EXPECT_FALSE(answer.has_value()) << "answered from inside ChangeMembers";
    EXPECT_TRUE(loop_.RunUntil([&] { return answer.has_value(); }, kWait + timeout));
    return answer.value_or(Answer{});
  }

  EventLoop loop_;
  std::shared_ptr<spdlog::logger> logger_;
  ChangeHandler handler_;
  std::unique_ptr<Server> server_;
};

MemberChange AddLearner(paxos::ReplicaId id, std::string address) {
  return MemberChange{MemberChangeKind::kAddLearner, id, std::move(address), 0};
}

TEST_F(ChangeMembersTest, TheHandlerGetsTheChangeAndTheClientItsWholeReply) {
  handler_.answer = ChangeReply{ChangeStatus::kDone, 1, "", 42, 0, 41, true};
  auto client = Connect(server_->port());
  Answer answer = Change(*client, MemberChange{MemberChangeKind::kPromote, 4, "", 2500});
  ASSERT_TRUE(answer.reply.has_value()) << answer.error;
  EXPECT_EQ(answer.reply->status, ChangeStatus::kDone);
  EXPECT_EQ(answer.reply->leader_hint, 1u);
  EXPECT_EQ(answer.reply->config_slot, 42u);
  EXPECT_EQ(answer.reply->proposed_slot, 41u);
  EXPECT_TRUE(answer.reply->already);
  ASSERT_EQ(handler_.seen.size(), 1u);
  EXPECT_EQ(handler_.seen[0].kind, MemberChangeKind::kPromote);
  EXPECT_EQ(handler_.seen[0].replica, 4u);
  EXPECT_EQ(handler_.seen[0].wait_ms, 2500u);

  handler_.answer =
      ChangeReply{ChangeStatus::kBehind, 1, "learner 4 is 9 slots behind", 0, 9, 0, false};
  answer = Change(*client, AddLearner(4, "127.0.0.1:7004"));
  ASSERT_TRUE(answer.reply.has_value()) << answer.error;
  EXPECT_EQ(answer.reply->status, ChangeStatus::kBehind);
  EXPECT_EQ(answer.reply->behind, 9u);
  EXPECT_EQ(answer.reply->reason, "learner 4 is 9 slots behind");
  EXPECT_EQ(handler_.seen[1].address, "127.0.0.1:7004");
}

TEST_F(ChangeMembersTest, TheDefaultHandlerRefusesDefinitely) {
  handler_.use_default = true;
  auto client = Connect(server_->port());
  Answer answer = Change(*client, AddLearner(4, "127.0.0.1:7004"));
  ASSERT_TRUE(answer.reply.has_value()) << answer.error;
  EXPECT_EQ(answer.reply->status, ChangeStatus::kInvalid);
  EXPECT_EQ(answer.reply->reason, "this server does not support membership changes");
}

TEST_F(ChangeMembersTest, AnAddressBeyondTheBoundIsRefusedWithoutReachingTheHandler) {
  auto client = Connect(server_->port());
  Answer answer = Change(*client, AddLearner(4, std::string(kMaxMemberChangeAddress + 1, 'a')));
  ASSERT_TRUE(answer.reply.has_value()) << answer.error;
  EXPECT_EQ(answer.reply->status, ChangeStatus::kInvalid);
  EXPECT_NE(answer.reply->reason.find("bad member change"), std::string::npos)
      << answer.reply->reason;
  EXPECT_TRUE(handler_.seen.empty());
}

TEST_F(ChangeMembersTest, AnAnswerLaterThanTheDeadlineIsAFailureThatMayHaveBeenSent) {
  handler_.hold = true;
  auto client = Connect(server_->port());
  Answer answer = Change(*client, AddLearner(4, "127.0.0.1:7004"), 300ms);
  EXPECT_FALSE(answer.reply.has_value());
  EXPECT_TRUE(answer.maybe_sent) << "the handler had the change: it may have proposed it";
  EXPECT_EQ(handler_.held.size(), 1u);
  // The late answer is harmless: the client's callback ran once already.
  handler_.held[0](ChangeReply{ChangeStatus::kDone, 1, "", 9, 0, 9, false});
  EXPECT_TRUE(loop_.RunUntil([&] { return true; }, 100ms));
}

TEST_F(ChangeMembersTest, AHandlerThatDropsTheCallFailsItThatMayHaveBeenSent) {
  handler_.hold = true;
  auto client = Connect(server_->port());
  std::optional<Answer> answer;
  client->ChangeMembers(
      AddLearner(4, "127.0.0.1:7004"), kWait,
      [&](std::optional<ChangeReply> reply, bool maybe_sent, const std::string& error) {
        answer = Answer{std::move(reply), maybe_sent, error};
      });
  ASSERT_TRUE(loop_.RunUntil([&] { return handler_.held.size() == 1; }, kWait));
  handler_.held.clear();  // destroyed uncalled: the call fails
  ASSERT_TRUE(loop_.RunUntil([&] { return answer.has_value(); }, kWait));
  EXPECT_FALSE(answer->reply.has_value());
  EXPECT_TRUE(answer->maybe_sent);
  EXPECT_FALSE(answer->error.empty());
}

TEST_F(ChangeMembersTest, NoServerMeansTheCallWasNeverSent) {
  uint16_t port = server_->port();
  server_.reset();  // nothing listens there any more
  auto client = Connect(port);
  Answer answer = Change(*client, AddLearner(4, "127.0.0.1:7004"));
  EXPECT_FALSE(answer.reply.has_value());
  EXPECT_FALSE(answer.maybe_sent) << answer.error;
  EXPECT_FALSE(answer.error.empty());
}

}  // namespace
}  // namespace synod::transport
