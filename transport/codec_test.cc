// Codec tests: every message type round-trips; malformed or out-of-limit
// input yields an error, never a crash.

#include "transport/codec.h"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <gtest/gtest.h>

#include "paxos/configuration.h"
#include "transport/test_messages.h"

namespace synod::transport {
namespace {

std::string Bytes(const paxos::Message& m) { return EncodePeerBatchBytes({m}); }

TEST(CodecTest, EveryMessageTypeRoundTrips) {
  std::vector<paxos::Message> in = testing::OneOfEachMessage(2, 1);
  ASSERT_EQ(in.size(), std::variant_size_v<paxos::MessageBody>);
  std::string bytes = EncodePeerBatchBytes(in);
  std::vector<paxos::Message> out;
  ASSERT_TRUE(DecodePeerBatchBytes(bytes.data(), bytes.size(), Limits{}, &out).ok());
  ASSERT_EQ(out.size(), in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    EXPECT_EQ(out[i].body.index(), in[i].body.index()) << i;
    EXPECT_EQ(out[i].from, 2u);
    EXPECT_EQ(out[i].to, 1u);
    EXPECT_EQ(Bytes(out[i]), Bytes(in[i])) << paxos::DescribeMessage(in[i]);
  }
  const auto& accept = std::get<paxos::Accept>(out[4].body);
  ASSERT_NE(accept.value, nullptr);
  EXPECT_EQ(accept.value->commands.at(1), std::string("\0bin\xff", 5));
  const auto& promise = std::get<paxos::Promise>(out[3].body);
  ASSERT_EQ(promise.entries.size(), 2u);
  EXPECT_EQ(promise.entries[1].entry.value->kind, paxos::ValueKind::kNoop);
  EXPECT_TRUE(promise.entries[1].entry.chosen);
  EXPECT_EQ(std::get<paxos::Prepare>(out[2].body).transfer_from, (paxos::Ballot{6, 1}));
}

// A Prepare of no transfer carries no transferFrom and decodes with a null one.
TEST(CodecTest, APrepareWithoutTransferFromDecodesWithANullOne) {
  paxos::Message in{2, 1, paxos::Prepare{paxos::Ballot{7, 2}, 5, paxos::Ballot{}}};
  std::string bytes = EncodePeerBatchBytes({in});
  std::vector<paxos::Message> out;
  ASSERT_TRUE(DecodePeerBatchBytes(bytes.data(), bytes.size(), Limits{}, &out).ok());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(std::get<paxos::Prepare>(out[0].body).transfer_from.IsNull());
}

// A configuration change travels as one (a follower must never take it for
// client commands and hand it to the state machine).
TEST(CodecTest, AConfigurationValueRoundTripsAsOne) {
  paxos::Configuration next = paxos::Configuration({1, 2, 3}).WithLearner(4, "127.0.0.1:7004");
  paxos::Accept accept{paxos::Ballot{3, 2}, 7, paxos::MakeConfigurationValue(5, next), 6};
  std::string bytes = Bytes(paxos::Message{2, 1, accept});
  std::vector<paxos::Message> out;
  ASSERT_TRUE(DecodePeerBatchBytes(bytes.data(), bytes.size(), Limits{}, &out).ok());
  ASSERT_EQ(out.size(), 1u);
  const auto& decoded = std::get<paxos::Accept>(out[0].body);
  ASSERT_NE(decoded.value, nullptr);
  EXPECT_EQ(decoded.value->kind, paxos::ValueKind::kConfiguration);
  EXPECT_TRUE(paxos::SameValue(decoded.value, accept.value));
}

// Builds a one-message batch with `fill` and returns the decode error.
template <typename Fill>
std::string DecodeBuilt(Fill fill, Limits limits = Limits{}) {
  capnp::MallocMessageBuilder builder;
  auto m = builder.initRoot<wire::PeerBatch>().initMessages(1)[0];
  m.setFrom(2);
  m.setTo(1);
  fill(m);
  kj::Array<capnp::word> words = capnp::messageToFlatArray(builder);
  std::vector<paxos::Message> out;
  Status decoded = DecodePeerBatchBytes(words.begin(), words.asBytes().size(), limits, &out);
  EXPECT_TRUE(decoded.ok() || decoded.IsCorruption()) << decoded.ToString();
  return decoded.message();
}

TEST(CodecTest, AcceptWithoutValueIsAnError) {
  std::string error = DecodeBuilt([](wire::Message::Builder m) {
    auto a = m.getBody().initAccept();
    a.initBallot().setRound(1);
    a.getBallot().setReplica(2);
    a.setSlot(3);
  });
  EXPECT_NE(error.find("missing value"), std::string::npos) << error;
}

TEST(CodecTest, UnknownValueKindIsAnError) {
  std::string error = DecodeBuilt([](wire::Message::Builder m) {
    auto a = m.getBody().initAccept();
    a.setSlot(3);
    a.initValue().setKind(static_cast<wire::ValueKind>(9));
  });
  EXPECT_NE(error.find("unknown value kind"), std::string::npos) << error;
}

TEST(CodecTest, CommandsValueWithoutCommandsIsAnError) {
  std::string error = DecodeBuilt([](wire::Message::Builder m) {
    auto a = m.getBody().initAccept();
    a.setSlot(3);
    a.initValue().setKind(wire::ValueKind::COMMANDS);
  });
  EXPECT_NE(error.find("has none"), std::string::npos) << error;
}

TEST(CodecTest, BallotWithRoundButNoReplicaIsAnError) {
  std::string error = DecodeBuilt(
      [](wire::Message::Builder m) { m.getBody().initPrepare().initBallot().setRound(4); });
  EXPECT_NE(error.find("no replica"), std::string::npos) << error;
}

TEST(CodecTest, ZeroSenderIsAnError) {
  std::string error = DecodeBuilt([](wire::Message::Builder m) {
    m.setFrom(0);
    m.getBody().initPreVoteRequest();
  });
  EXPECT_NE(error.find("from is 0"), std::string::npos) << error;
}

TEST(CodecTest, PromiseWithBackwardRangeIsAnError) {
  std::string error = DecodeBuilt([](wire::Message::Builder m) {
    auto p = m.getBody().initPromise();
    p.setFromSlot(9);
    p.setNextSlot(3);
  });
  EXPECT_NE(error.find("nextSlot below fromSlot"), std::string::npos) << error;
}

TEST(CodecTest, ListAboveLimitIsAnError) {
  Limits limits;
  limits.max_list_items = 2;
  std::string error = DecodeBuilt(
      [](wire::Message::Builder m) {
        auto a = m.getBody().initAccept();
        a.setSlot(1);
        auto v = a.initValue();
        v.setKind(wire::ValueKind::COMMANDS);
        v.initCommands(3);
      },
      limits);
  EXPECT_NE(error.find("exceed the limit"), std::string::npos) << error;
}

TEST(CodecTest, GarbageAndTruncatedInputAreErrors) {
  std::vector<paxos::Message> out;
  std::string garbage(64, '\xff');
  EXPECT_TRUE(DecodePeerBatchBytes(garbage.data(), garbage.size(), Limits{}, &out).IsCorruption());
  std::string odd(13, '\x01');
  EXPECT_EQ(DecodePeerBatchBytes(odd.data(), odd.size(), Limits{}, &out),
            Status::Corruption("batch size is not a whole number of words"));
  std::string good = EncodePeerBatchBytes(testing::OneOfEachMessage(2, 1));
  for (size_t cut = 8; cut < good.size(); cut += 8) {
    EXPECT_TRUE(DecodePeerBatchBytes(good.data(), cut, Limits{}, &out).IsCorruption()) << cut;
  }
  // Flip every byte of a valid batch: decoding may succeed or fail, never crash.
  for (size_t i = 0; i < good.size(); ++i) {
    std::string flipped = good;
    flipped[i] = static_cast<char>(flipped[i] ^ 0x5a);
    Status decoded = DecodePeerBatchBytes(flipped.data(), flipped.size(), Limits{}, &out);
    EXPECT_TRUE(decoded.ok() || decoded.IsCorruption()) << decoded.ToString();
  }
}

TEST(CodecTest, OversizeBatchIsAnError) {
  Limits limits;
  limits.max_message_bytes = 1024;
  paxos::Message m{2, 1,
                   paxos::Accept{{1, 2}, 1, paxos::MakeCommandsValue({std::string(4096, 'a')}), 0}};
  std::string bytes = EncodePeerBatchBytes({m});
  std::vector<paxos::Message> out;
  EXPECT_EQ(DecodePeerBatchBytes(bytes.data(), bytes.size(), limits, &out),
            Status::Corruption("batch larger than the message size limit"));
}

TEST(CodecTest, ClientReplyChecksCountAndStatus) {
  capnp::MallocMessageBuilder builder;
  auto results = builder.initRoot<wire::ClientService::SubmitResults>();
  ClientReply reply{
      {Outcome{OutcomeStatus::kOk, "r1", 4}, Outcome{OutcomeStatus::kNotLeader, "", 0}}, 3};
  EncodeClientReply(reply, results);
  ClientReply out;
  ASSERT_EQ(DecodeClientReply(results.asReader(), 2, &out), "");
  EXPECT_EQ(out.leader_hint, 3u);
  EXPECT_EQ(out.outcomes[0].result, "r1");
  EXPECT_EQ(out.outcomes[0].slot, 4u);
  EXPECT_EQ(out.outcomes[1].status, OutcomeStatus::kNotLeader);
  EXPECT_NE(DecodeClientReply(results.asReader(), 3, &out), "");
  results.getOutcomes()[1].setStatus(static_cast<wire::OutcomeStatus>(42));
  EXPECT_NE(DecodeClientReply(results.asReader(), 2, &out).find("unknown outcome status"),
            std::string::npos);
}

TEST(CodecTest, StatusRoundTripsAndChecksRole) {
  capnp::MallocMessageBuilder builder;
  auto s = builder.initRoot<wire::Status>();
  EncodeStatus(ReplicaStatus{3, Role::kLeader, {5, 3}, 10, 9, 3}, s);
  ReplicaStatus out;
  ASSERT_EQ(DecodeStatus(s.asReader(), &out), "");
  EXPECT_EQ(out.role, Role::kLeader);
  EXPECT_EQ(out.ballot, (paxos::Ballot{5, 3}));
  EXPECT_EQ(out.applied, 9u);
  s.setRole(static_cast<wire::Role>(7));
  EXPECT_NE(DecodeStatus(s.asReader(), &out), "");
}

TEST(CodecTest, StatusCarriesTheConfiguration) {
  capnp::MallocMessageBuilder builder;
  auto s = builder.initRoot<wire::Status>();
  ReplicaStatus in{4, Role::kFollower, {5, 3}, 10, 9, 3};
  in.config_slot = 7;
  in.members = {{1, paxos::MemberRole::kVoter, "127.0.0.1:7001"},
                {4, paxos::MemberRole::kLearner, "127.0.0.1:7004"}};
  in.membership = Membership::kLearner;
  EncodeStatus(in, s);
  ReplicaStatus out;
  ASSERT_EQ(DecodeStatus(s.asReader(), &out), "");
  EXPECT_EQ(out.config_slot, 7u);
  EXPECT_EQ(out.members, in.members);
  EXPECT_EQ(out.membership, Membership::kLearner);
  EXPECT_STREQ(MembershipName(out.membership), "learner");
  s.setMembership(static_cast<wire::Membership>(9));
  EXPECT_NE(DecodeStatus(s.asReader(), &out), "");

  // A status from a server that predates membership: initial, no members.
  capnp::MallocMessageBuilder old_builder;
  auto old = old_builder.initRoot<wire::Status>();
  old.setId(2);
  old.setApplied(5);
  ReplicaStatus decoded;
  ASSERT_EQ(DecodeStatus(old.asReader(), &decoded), "");
  EXPECT_EQ(decoded.config_slot, 0u);
  EXPECT_TRUE(decoded.members.empty());
  EXPECT_EQ(decoded.membership, Membership::kVoter);
}

TEST(CodecTest, MemberListClusterIdIsOrderIndependentAndNonZero) {
  std::vector<PeerEndpoint> a{{1, "127.0.0.1", 7001}, {2, "127.0.0.1", 7002}};
  std::vector<PeerEndpoint> b{{2, "127.0.0.1", 7002}, {1, "127.0.0.1", 7001}};
  std::vector<PeerEndpoint> c{{1, "127.0.0.1", 7001}, {2, "127.0.0.1", 7003}};
  EXPECT_EQ(MemberListClusterId(a), MemberListClusterId(b));
  EXPECT_NE(MemberListClusterId(a), MemberListClusterId(c));
  EXPECT_NE(MemberListClusterId({}), 0u);
}

TEST(CodecTest, TransferReplyRoundTripsAndChecksStatus) {
  capnp::MallocMessageBuilder builder;
  auto results = builder.initRoot<wire::ClientService::TransferLeaderResults>();
  EncodeTransferReply(TransferReply{TransferStatus::kInvalid, 2, "replica 9 is not a member"},
                      results);
  TransferReply out;
  ASSERT_EQ(DecodeTransferReply(results.asReader(), &out), "");
  EXPECT_EQ(out.status, TransferStatus::kInvalid);
  EXPECT_EQ(out.leader_hint, 2u);
  EXPECT_EQ(out.reason, "replica 9 is not a member");
  results.setStatus(static_cast<wire::TransferStatus>(9));
  EXPECT_NE(DecodeTransferReply(results.asReader(), &out).find("unknown transfer status"),
            std::string::npos);
}

TEST(CodecTest, MemberChangeRoundTripsAndChecksKindAndAddressBound) {
  capnp::MallocMessageBuilder builder;
  auto change = builder.initRoot<wire::MemberChange>();
  EncodeMemberChange(MemberChange{MemberChangeKind::kAddLearner, 4, "10.0.0.4:7004", 0}, change);
  MemberChange out;
  ASSERT_EQ(DecodeMemberChange(change.asReader(), &out), "");
  EXPECT_EQ(out.kind, MemberChangeKind::kAddLearner);
  EXPECT_EQ(out.replica, 4u);
  EXPECT_EQ(out.address, "10.0.0.4:7004");
  EncodeMemberChange(MemberChange{MemberChangeKind::kPromote, 5, "", 1500}, change);
  ASSERT_EQ(DecodeMemberChange(change.asReader(), &out), "");
  EXPECT_EQ(out.kind, MemberChangeKind::kPromote);
  EXPECT_EQ(out.wait_ms, 1500u);
  EXPECT_EQ(out.address, "");
  change.setKind(static_cast<wire::MemberChangeKind>(3));
  EXPECT_NE(DecodeMemberChange(change.asReader(), &out).find("unknown member change kind 3"),
            std::string::npos);
  EncodeMemberChange(MemberChange{MemberChangeKind::kAddLearner, 4,
                                  std::string(kMaxMemberChangeAddress + 1, 'h'), 0},
                     change);
  EXPECT_NE(DecodeMemberChange(change.asReader(), &out).find("at most 1024"), std::string::npos);
}

TEST(CodecTest, ChangeReplyRoundTripsAndChecksStatus) {
  capnp::MallocMessageBuilder builder;
  auto results = builder.initRoot<wire::ClientService::ChangeMembersResults>();
  EncodeChangeReply(
      ChangeReply{ChangeStatus::kSuperseded, 3, "another change first", 17, 5, 16, true}, results);
  ChangeReply out;
  ASSERT_EQ(DecodeChangeReply(results.asReader(), &out), "");
  EXPECT_EQ(out.status, ChangeStatus::kSuperseded);
  EXPECT_EQ(out.leader_hint, 3u);
  EXPECT_EQ(out.reason, "another change first");
  EXPECT_EQ(out.config_slot, 17u);
  EXPECT_EQ(out.behind, 5u);
  EXPECT_EQ(out.proposed_slot, 16u);
  EXPECT_TRUE(out.already);
  results.setStatus(static_cast<wire::ChangeStatus>(7));
  EXPECT_NE(DecodeChangeReply(results.asReader(), &out).find("unknown change status 7"),
            std::string::npos);
}

}  // namespace
}  // namespace synod::transport
