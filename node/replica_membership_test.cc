// A replica restarted on a data directory whose latest snapshot was taken
// after a configuration change runs with that configuration (not the static
// member list), and reports it in its status, with the configuration's
// addresses over the static list's. In-process: one Replica on 127.0.0.1 (a
// free port), its EventLoop on the test thread.
#include <gtest/gtest.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <boost/asio/ip/tcp.hpp>
#include <fstream>
#include <iterator>
#include <sstream>

#include "node/join_marker.h"
#include "node/replica.h"
#include "node/snapshotter.h"
#include "paxos/configuration.h"
#include "snapshot/snapshot_store.h"
#include "statemachine/envelope.h"
#include "tests/support/status_testing.h"
#include "tests/support/temp_dir.h"
#include "transport/peer_network.h"

namespace synod::node {
namespace {

class Counter : public statemachine::StateMachine {
 public:
  std::string Apply(std::string_view, const statemachine::ApplyContext&) override {
    return std::to_string(++value);
  }
  void Snapshot(statemachine::SnapshotWriter& out) const override {
    out.Write(std::to_string(value));
  }
  bool Restore(statemachine::SnapshotReader& in) override {
    std::string chunk;
    if (!in.Read(chunk)) return false;
    value = std::stoll(chunk);
    return true;
  }
  int64_t value = 0;
};

class Chunks : public statemachine::SnapshotWriter {
 public:
  void Write(std::string_view chunk) override { chunks.emplace_back(chunk); }
  std::vector<std::string> chunks;
};

uint16_t FreePort() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor acceptor(
      io, boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
  return acceptor.local_endpoint().port();
}

std::string Tick(uint64_t stamp) {
  statemachine::Envelope tick;
  tick.kind = statemachine::EnvelopeKind::kTick;
  tick.stamp_ms = stamp;
  return statemachine::EncodeEnvelope(tick);
}

// Writes into `data` what replica 1 of the initial configuration {1} would
// have after a change adding learner 2 at `address` was chosen at slot 2: a
// snapshot at slot 3 beside an empty log (of replica `owner`: 2 for the
// learner's own directory). Returns that configuration.
paxos::Configuration WriteSnapshotAfterAddingLearner(const std::string& data,
                                                     const std::string& address,
                                                     paxos::ReplicaId owner = 1) {
  const paxos::Configuration initial({1});
  const paxos::Configuration with_learner = initial.WithLearner(2, address);
  {
    // What the replica would have snapshotted after a change chosen at slot 2.
    Counter machine;
    statemachine::Applier applier(machine, statemachine::SessionOptions{}, initial);
    applier.Apply(paxos::CommittedEntry{1, paxos::MakeCommandsValue({Tick(1000)})});
    applier.Apply(paxos::CommittedEntry{2, paxos::MakeConfigurationValue(0, with_learner)});
    applier.Apply(paxos::CommittedEntry{3, paxos::MakeCommandsValue({Tick(2000)})});
    EXPECT_EQ(applier.config(), (paxos::ConfigAt{2, with_learner}));
    Chunks chunks;
    applier.Snapshot(chunks);
    // An empty log beside it (as a replica that compacted nothing yet).
    log::LevelDbOptions log_options;
    log_options.dir = data;
    log_options.replica_id = owner;
    EXPECT_NE(ValueOrFail(log::LevelDbLogStorage::Open(log_options)), nullptr);
    auto store = ValueOrFail(snapshot::SnapshotStore::Open(data + "/snapshots"));
    if (store == nullptr) {
      ADD_FAILURE() << "cannot open the snapshot store";
      return with_learner;
    }
    EXPECT_TRUE(WriteSnapshot(*store, 3, chunks.chunks).ok());
  }
  return with_learner;
}

// Writes into `data` what replica 1 of {1} would have after learner 2 (at
// `address`) was added at slot 2 and removed at slot 3: a snapshot at slot 4
// beside an empty log.
void WriteSnapshotAfterRemovingLearner(const std::string& data, const std::string& address) {
  const paxos::Configuration initial({1});
  const paxos::Configuration with_learner = initial.WithLearner(2, address);
  const paxos::Configuration removed = with_learner.WithRemoved(2);
  Counter machine;
  statemachine::Applier applier(machine, statemachine::SessionOptions{}, initial);
  applier.Apply(paxos::CommittedEntry{1, paxos::MakeCommandsValue({Tick(1000)})});
  applier.Apply(paxos::CommittedEntry{2, paxos::MakeConfigurationValue(0, with_learner)});
  applier.Apply(paxos::CommittedEntry{3, paxos::MakeConfigurationValue(2, removed)});
  applier.Apply(paxos::CommittedEntry{4, paxos::MakeCommandsValue({Tick(2000)})});
  ASSERT_EQ(applier.config(), (paxos::ConfigAt{3, removed}));
  Chunks chunks;
  applier.Snapshot(chunks);
  log::LevelDbOptions log_options;
  log_options.dir = data;
  log_options.replica_id = 1;
  ASSERT_NE(ValueOrFail(log::LevelDbLogStorage::Open(log_options)), nullptr);
  auto store = ValueOrFail(snapshot::SnapshotStore::Open(data + "/snapshots"));
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(WriteSnapshot(*store, 4, chunks.chunks).ok());
}

// Writes into `data` what replica 1 of {1} would have after learners 2 (at
// `address2`) and 3 (at `address3`) were added at slot 2 and learner 3
// removed at slot 3 (the configuration records its address): a snapshot at
// slot 4 beside an empty log.
void WriteSnapshotAfterRemovingOneOfTwoLearners(const std::string& data,
                                                const std::string& address2,
                                                const std::string& address3) {
  const paxos::Configuration initial({1});
  const paxos::Configuration with_learners =
      initial.WithLearner(2, address2).WithLearner(3, address3);
  const paxos::Configuration removed = with_learners.WithRemoved(3);
  ASSERT_EQ(*removed.RetiredAddress(3), address3);
  Counter machine;
  statemachine::Applier applier(machine, statemachine::SessionOptions{}, initial);
  applier.Apply(paxos::CommittedEntry{1, paxos::MakeCommandsValue({Tick(1000)})});
  applier.Apply(paxos::CommittedEntry{2, paxos::MakeConfigurationValue(0, with_learners)});
  applier.Apply(paxos::CommittedEntry{3, paxos::MakeConfigurationValue(2, removed)});
  applier.Apply(paxos::CommittedEntry{4, paxos::MakeCommandsValue({Tick(2000)})});
  ASSERT_EQ(applier.config(), (paxos::ConfigAt{3, removed}));
  Chunks chunks;
  applier.Snapshot(chunks);
  log::LevelDbOptions log_options;
  log_options.dir = data;
  log_options.replica_id = 1;
  ASSERT_NE(ValueOrFail(log::LevelDbLogStorage::Open(log_options)), nullptr);
  auto store = ValueOrFail(snapshot::SnapshotStore::Open(data + "/snapshots"));
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(WriteSnapshot(*store, 4, chunks.chunks).ok());
}

// A promotion that waited for its learner is checked, when it is finally
// proposed, like a new request: here learner 2 turns out (it dials the
// leader after the request) to run a build that cannot read the
// configuration in effect, which records removed replica 3's address. The
// leader's server refuses its hello and records its features; the promotion
// is refused instead of proposed, even though the learner reports it caught up.
TEST(ReplicaMembership, ADeferredPromotionIsRefusedWhenTheLearnerRunsAnOlderBuild) {
  test_support::TempDir tmp("synod-members-older");
  const std::string data = tmp / "r1";
  const std::string address2 = "127.0.0.1:" + std::to_string(FreePort());  // nobody listens
  ASSERT_NO_FATAL_FAILURE(
      WriteSnapshotAfterRemovingOneOfTwoLearners(data, address2, "127.0.0.1:9"));
  ReplicaOptions options;
  options.id = 1;
  const MemberAddress self{1, "127.0.0.1", FreePort()};
  options.cluster.members = {self};
  options.data_dir = data;
  options.seed = 7;
  options.heartbeat_ms = 10;
  options.election_timeout_ms = 50;
  auto logger = std::make_shared<spdlog::logger>("replica-1",
                                                 std::make_shared<spdlog::sinks::null_sink_mt>());
  transport::EventLoop loop;
  Counter machine;
  std::string fatal;
  std::optional<transport::ChangeReply> reply;
  {
    Replica replica(loop, options, machine, logger);
    Status started = replica.Start([] {}, [&](std::string reason) { fatal = reason; });
    ASSERT_TRUE(started.ok()) << started.message();
    ASSERT_TRUE(loop.RunUntil(
        [&] {
          transport::ReplicaStatus now = replica.OnStatus();
          return now.role == transport::Role::kLeader && now.applied > 4;
        },
        std::chrono::seconds(30)));
    // Nothing is known of learner 2's build yet, and it has not reported:
    // the promotion waits.
    transport::MemberChange promote;
    promote.kind = transport::MemberChangeKind::kPromote;
    promote.replica = 2;
    promote.wait_ms = 30000;
    replica.OnChangeMembers(promote, [&](transport::ChangeReply r) { reply = std::move(r); });
    loop.RunFor(std::chrono::milliseconds(20));
    ASSERT_FALSE(reply.has_value()) << reply->reason;

    // Learner 2, an older build, dials the leader and is refused.
    transport::PeerNetworkOptions net_options;
    net_options.cluster_id = transport::MemberListClusterId({{1, self.host, self.port}});
    net_options.member_list_id = net_options.cluster_id;
    net_options.self = 2;
    net_options.peers = {{1, self.host, self.port}};
    net_options.logger = logger;
    net_options.features = transport::kFeatureRuntimeMembership;
    transport::PeerNetwork learner(loop, net_options);
    ASSERT_TRUE(loop.RunUntil([&] { return learner.LinkState(1).handshakes > 0; },
                              std::chrono::seconds(30)));
    EXPECT_EQ(learner.LinkState(1).last_handshake.reason,
              "replica 2 runs an older build that cannot read removed members' addresses: "
              "upgrade it");
    ASSERT_FALSE(reply.has_value()) << reply->reason;

    // It reports itself caught up (past the transport, as if it had a way).
    const transport::ReplicaStatus now = replica.OnStatus();
    replica.OnPeerMessage(
        paxos::Message{2, 1, paxos::HeartbeatReply{now.ballot, now.chosen_point}});
    ASSERT_TRUE(loop.RunUntil([&] { return reply.has_value(); }, std::chrono::seconds(30)));
    EXPECT_EQ(reply->status, transport::ChangeStatus::kInvalid) << reply->reason;
    EXPECT_EQ(reply->reason,
              "replica 2 runs an older build that cannot read removed members' addresses: "
              "upgrade every member first");
    EXPECT_EQ(replica.OnStatus().config_slot, 3u);
  }
  EXPECT_EQ(fatal, "");
}

// Removing a member known to run an older build: refused while it is
// reachable (it would not read its removal and would go on counting quorums
// of the old voters), allowed once it is down (a dead disk cannot be
// upgraded). Learner 2 states an older build in its hello to the leader.
TEST(ReplicaMembership, AnOlderBuildMemberIsRemovedOnlyOnceItIsDown) {
  test_support::TempDir tmp("synod-members-older-remove");
  const std::string data = tmp / "r1";
  const std::string address2 = "127.0.0.1:" + std::to_string(FreePort());  // nobody listens
  ASSERT_NO_FATAL_FAILURE(
      WriteSnapshotAfterRemovingOneOfTwoLearners(data, address2, "127.0.0.1:9"));
  ReplicaOptions options;
  options.id = 1;
  const MemberAddress self{1, "127.0.0.1", FreePort()};
  options.cluster.members = {self};
  options.data_dir = data;
  options.seed = 7;
  options.heartbeat_ms = 10;
  options.election_timeout_ms = 200;
  auto logger = std::make_shared<spdlog::logger>("replica-1",
                                                 std::make_shared<spdlog::sinks::null_sink_mt>());
  transport::EventLoop loop;
  Counter machine;
  std::string fatal;
  {
    Replica replica(loop, options, machine, logger);
    Status started = replica.Start([] {}, [&](std::string reason) { fatal = reason; });
    ASSERT_TRUE(started.ok()) << started.message();
    ASSERT_TRUE(loop.RunUntil(
        [&] {
          transport::ReplicaStatus now = replica.OnStatus();
          return now.role == transport::Role::kLeader && now.applied > 4;
        },
        std::chrono::seconds(30)));
    transport::PeerNetworkOptions net_options;
    net_options.cluster_id = transport::MemberListClusterId({{1, self.host, self.port}});
    net_options.member_list_id = net_options.cluster_id;
    net_options.self = 2;
    net_options.peers = {{1, self.host, self.port}};
    net_options.logger = logger;
    net_options.features = transport::kFeatureRuntimeMembership;
    auto learner = std::make_unique<transport::PeerNetwork>(loop, net_options);
    ASSERT_TRUE(loop.RunUntil([&] { return learner->LinkState(1).handshakes > 0; },
                              std::chrono::seconds(30)));

    transport::MemberChange remove;
    remove.kind = transport::MemberChangeKind::kRemove;
    remove.replica = 2;
    std::optional<transport::ChangeReply> reply;
    // Reachable: it reports progress (past the transport, as if it had a way).
    const transport::ReplicaStatus now = replica.OnStatus();
    replica.OnPeerMessage(
        paxos::Message{2, 1, paxos::HeartbeatReply{now.ballot, now.chosen_point}});
    replica.OnChangeMembers(remove, [&](transport::ChangeReply r) { reply = std::move(r); });
    ASSERT_TRUE(loop.RunUntil([&] { return reply.has_value(); }, std::chrono::seconds(30)));
    EXPECT_EQ(reply->status, transport::ChangeStatus::kInvalid) << reply->reason;
    EXPECT_EQ(reply->reason,
              "replica 2 runs an older build that cannot read removed members' addresses: "
              "upgrade every member first");

    // Down: nothing heard from it within an election timeout.
    learner.reset();
    loop.RunFor(std::chrono::milliseconds(options.election_timeout_ms + 50));
    reply.reset();
    replica.OnChangeMembers(remove, [&](transport::ChangeReply r) { reply = std::move(r); });
    ASSERT_TRUE(loop.RunUntil([&] { return reply.has_value(); }, std::chrono::seconds(30)));
    EXPECT_EQ(reply->status, transport::ChangeStatus::kDone) << reply->reason;
    EXPECT_TRUE(replica.OnStatus().config_slot > 3u);
  }
  EXPECT_EQ(fatal, "");
}

// Writes into `data` what replica `owner` would have after the changes
// `changes` (from `initial`) were chosen at slots 2, 3, ...: a snapshot one
// slot past the last, beside an empty log that records the agreed cluster id
// `cluster_id` (hex; "" for none). Returns the configuration in effect.
paxos::ConfigAt WriteSnapshotAfterChanges(const std::string& data, paxos::ReplicaId owner,
                                          const paxos::Configuration& initial,
                                          const std::vector<paxos::Configuration>& changes,
                                          const std::string& cluster_id) {
  Counter machine;
  statemachine::Applier applier(machine, statemachine::SessionOptions{}, initial);
  paxos::Slot slot = 1;
  applier.Apply(paxos::CommittedEntry{slot, paxos::MakeCommandsValue({Tick(1000)})});
  for (const paxos::Configuration& next : changes) {
    const paxos::Slot base = applier.config().slot;
    ++slot;
    applier.Apply(paxos::CommittedEntry{slot, paxos::MakeConfigurationValue(base, next)});
  }
  ++slot;
  applier.Apply(paxos::CommittedEntry{slot, paxos::MakeCommandsValue({Tick(2000)})});
  Chunks chunks;
  applier.Snapshot(chunks);
  log::LevelDbOptions log_options;
  log_options.dir = data;
  log_options.replica_id = owner;
  std::unique_ptr<log::LevelDbLogStorage> storage =
      ValueOrFail(log::LevelDbLogStorage::Open(log_options));
  EXPECT_NE(storage, nullptr);
  if (storage != nullptr && !cluster_id.empty()) storage->SetClusterId(cluster_id);
  auto store = ValueOrFail(snapshot::SnapshotStore::Open(data + "/snapshots"));
  EXPECT_NE(store, nullptr);
  if (store != nullptr) {
    EXPECT_TRUE(WriteSnapshot(*store, slot, chunks.chunks).ok());
  }
  return applier.config();
}

// A removed member that still believes it leads answers the leader with its
// higher ballot (a Reject, a Heartbeat): such messages can arrive in the
// returns of the leader's own deliver() calls, past the handshake's refusal.
// The leader drops them: it keeps leading with its ballot.
TEST(ReplicaMembership, DropsEveryMessageFromARemovedMember) {
  test_support::TempDir tmp("synod-members-removed");
  const std::string data = tmp / "r1";
  ASSERT_NO_FATAL_FAILURE(WriteSnapshotAfterRemovingLearner(data, "127.0.0.1:9"));
  ReplicaOptions options;
  options.id = 1;
  options.cluster.members = {MemberAddress{1, "127.0.0.1", FreePort()}};
  options.data_dir = data;
  options.seed = 7;
  options.heartbeat_ms = 10;
  options.election_timeout_ms = 50;
  auto logger = std::make_shared<spdlog::logger>("replica-1",
                                                 std::make_shared<spdlog::sinks::null_sink_mt>());
  transport::EventLoop loop;
  Counter machine;
  std::string fatal;
  {
    Replica replica(loop, options, machine, logger);
    Status started = replica.Start([] {}, [&](std::string reason) { fatal = reason; });
    ASSERT_TRUE(started.ok()) << started.message();
    ASSERT_TRUE(loop.RunUntil(
        [&] {
          transport::ReplicaStatus now = replica.OnStatus();
          return now.role == transport::Role::kLeader && now.applied > 4;
        },
        std::chrono::seconds(30)));
    const transport::ReplicaStatus before = replica.OnStatus();
    ASSERT_EQ(before.config_slot, 3u);
    const paxos::Ballot high{before.ballot.round + 100, 2};
    replica.OnPeerMessage(paxos::Message{2, 1, paxos::Reject{before.ballot, high}});
    replica.OnPeerMessage(paxos::Message{2, 1, paxos::Heartbeat{high, before.chosen_point}});
    transport::ReplicaStatus after = replica.OnStatus();
    EXPECT_EQ(after.role, transport::Role::kLeader);
    EXPECT_EQ(after.ballot, before.ballot);
    EXPECT_EQ(after.leader, 1u);
    // And it goes on committing under that ballot.
    ASSERT_TRUE(loop.RunUntil([&] { return replica.OnStatus().applied > before.applied + 1; },
                              std::chrono::seconds(30)));
    after = replica.OnStatus();
    EXPECT_EQ(after.role, transport::Role::kLeader);
    EXPECT_EQ(after.ballot, before.ballot);
  }
  EXPECT_EQ(fatal, "");
}

// A replica joining starts from a snapshot that names it: every member
// takes one when it applies a change that adds a learner, even with periodic
// snapshots off.
TEST(ReplicaMembership, TakesASnapshotWhenAChangeAddsALearner) {
  test_support::TempDir tmp("synod-members-add");
  const std::string data = tmp / "r1";
  ReplicaOptions options;
  options.id = 1;
  options.cluster.members = {MemberAddress{1, "127.0.0.1", FreePort()}};
  options.data_dir = data;
  options.seed = 7;
  options.heartbeat_ms = 10;
  options.election_timeout_ms = 50;
  options.snapshot_every = 0;  // no periodic snapshots
  auto logger = std::make_shared<spdlog::logger>("replica-1",
                                                 std::make_shared<spdlog::sinks::null_sink_mt>());
  transport::EventLoop loop;
  Counter machine;
  std::string fatal;
  std::optional<transport::ChangeReply> reply;
  {
    Replica replica(loop, options, machine, logger);
    Status started = replica.Start([] {}, [&](std::string reason) { fatal = reason; });
    ASSERT_TRUE(started.ok()) << started.message();
    ASSERT_TRUE(loop.RunUntil(
        [&] {
          transport::ReplicaStatus now = replica.OnStatus();
          return now.role == transport::Role::kLeader && now.applied > 0;
        },
        std::chrono::seconds(30)));
    transport::MemberChange add;
    add.kind = transport::MemberChangeKind::kAddLearner;
    add.replica = 2;
    add.address = "127.0.0.1:9";
    replica.OnChangeMembers(add, [&](transport::ChangeReply r) { reply = std::move(r); });
    ASSERT_TRUE(loop.RunUntil([&] { return reply.has_value(); }, std::chrono::seconds(30)));
    ASSERT_EQ(reply->status, transport::ChangeStatus::kDone) << reply->reason;
  }  // the snapshot write in flight finishes
  EXPECT_EQ(fatal, "");
  auto store = ValueOrFail(snapshot::SnapshotStore::Open(data + "/snapshots"));
  ASSERT_NE(store, nullptr);
  std::optional<snapshot::SnapshotMeta> latest = store->Latest();
  ASSERT_TRUE(latest.has_value()) << "no snapshot after the change at slot " << reply->config_slot;
  EXPECT_GE(latest->applied_slot, reply->config_slot);
}

// A joiner killed while it received its first snapshot leaves a marked
// directory whose snapshots/ holds only a partial receive (which counts as
// history). Started again - here without --join, with a --members naming it
// and one other replica - it must resume the join: never start a core from
// --members (that list would make it a voter of a configuration nobody
// chose), so it is not ready and reports itself not a member.
// A joiner refused for a mistyped own address (nothing fetched, nothing
// promised) is corrected by restarting it with the right address: its marker
// records this start's entry again.
TEST(ReplicaMembership, AJoinerWithoutHistoryTakesTheAddressItIsRestartedWith) {
  test_support::TempDir tmp("synod-members-readdress");
  const std::string data = tmp / "r4";
  {
    log::LevelDbOptions log_options;
    log_options.dir = data;
    log_options.replica_id = 4;
    ASSERT_NE(ValueOrFail(log::LevelDbLogStorage::Open(log_options)), nullptr);
    ASSERT_TRUE(RecordJoinMarker(data, MemberAddress{4, "127.0.0.1", FreePort()}).ok());
  }
  ReplicaOptions options;
  options.id = 4;
  const MemberAddress corrected{4, "127.0.0.1", FreePort()};
  options.cluster.members = {MemberAddress{1, "127.0.0.1", FreePort()}, corrected};
  options.data_dir = data;
  options.seed = 7;
  auto logger = std::make_shared<spdlog::logger>("replica-4",
                                                 std::make_shared<spdlog::sinks::null_sink_mt>());
  transport::EventLoop loop;
  Counter machine;
  for (bool join : {true, false}) {
    options.join = join;
    Replica replica(loop, options, machine, logger);
    Status started = replica.Start([] {}, [](std::string) {});
    ASSERT_TRUE(started.ok()) << "join=" << join << ": " << started.message();
    EXPECT_EQ(replica.OnStatus().membership, transport::Membership::kNotMember);
    Result<std::optional<RecordedMembers>> recorded = ReadRecordedMembers(data);
    ASSERT_TRUE(recorded.ok() && recorded->has_value()) << recorded.status().message();
    EXPECT_TRUE((*recorded)->joined);
    EXPECT_EQ((*recorded)->book.ToString(), "4=" + corrected.Endpoint());
  }
}

TEST(ReplicaMembership, AJoinersDirectoryWithoutACompleteSnapshotResumesTheJoin) {
  test_support::TempDir tmp("synod-members-resume");
  const std::string data = tmp / "r4";
  ReplicaOptions options;
  options.id = 4;
  options.cluster.members = {MemberAddress{1, "127.0.0.1", FreePort()},
                             MemberAddress{4, "127.0.0.1", FreePort()}};
  options.data_dir = data;
  options.seed = 7;
  options.heartbeat_ms = 10;
  options.election_timeout_ms = 50;
  {
    // What the killed join left: an empty log, the marker and a partial
    // receive.
    log::LevelDbOptions log_options;
    log_options.dir = data;
    log_options.replica_id = 4;
    ASSERT_NE(ValueOrFail(log::LevelDbLogStorage::Open(log_options)), nullptr);
    ASSERT_TRUE(RecordJoinMarker(data, options.cluster.members[1]).ok());
    auto store = ValueOrFail(snapshot::SnapshotStore::Open(data + "/snapshots"));
    ASSERT_NE(store, nullptr);
    snapshot::SnapshotMeta meta{40, 1000, 0x1234, 40};
    auto receiver = ValueOrFail(store->BeginReceive(meta));
    ASSERT_NE(receiver, nullptr);
    ASSERT_TRUE(receiver->Append(0, std::string(100, 'x')).ok());
    ASSERT_TRUE(receiver->Sync().ok());
  }
  std::ostringstream log_text;
  auto logger = std::make_shared<spdlog::logger>(
      "replica-4", std::make_shared<spdlog::sinks::ostream_sink_mt>(log_text));
  transport::EventLoop loop;
  Counter machine;
  bool ready = false;
  std::string fatal;
  {
    Replica replica(loop, options, machine, logger);
    Status started =
        replica.Start([&] { ready = true; }, [&](std::string reason) { fatal = reason; });
    ASSERT_TRUE(started.ok()) << started.message();
    EXPECT_FALSE(ready) << "started a core from --members:\n" << log_text.str();
    EXPECT_EQ(replica.OnStatus().membership, transport::Membership::kNotMember);
    // It asks replica 1 (nobody listens there) for the leader, and waits.
    ASSERT_TRUE(
        loop.RunUntil([&] { return log_text.str().find("no leader of") != std::string::npos; },
                      std::chrono::seconds(30)))
        << log_text.str();
    EXPECT_FALSE(ready);
    EXPECT_EQ(replica.OnStatus().membership, transport::Membership::kNotMember);
  }
  EXPECT_EQ(fatal, "");
  EXPECT_NE(log_text.str().find("joining a running cluster: asking"), std::string::npos)
      << log_text.str();
}

TEST(ReplicaMembership, RestartsWithTheConfigurationOfItsLatestSnapshot) {
  test_support::TempDir tmp("synod-members");
  const std::string data = tmp / "r1";
  ASSERT_NO_FATAL_FAILURE(WriteSnapshotAfterAddingLearner(data, "127.0.0.1:9"));

  ReplicaOptions options;
  options.id = 1;
  options.cluster.members = {MemberAddress{1, "127.0.0.1", FreePort()}};
  options.data_dir = data;
  options.seed = 7;
  options.heartbeat_ms = 10;
  options.election_timeout_ms = 50;
  auto logger = std::make_shared<spdlog::logger>("replica-1",
                                                 std::make_shared<spdlog::sinks::null_sink_mt>());
  transport::EventLoop loop;
  Counter machine;
  bool ready = false;
  std::string fatal;
  {
    Replica replica(loop, options, machine, logger);
    Status started =
        replica.Start([&] { ready = true; }, [&](std::string reason) { fatal = reason; });
    ASSERT_TRUE(started.ok()) << started.message();
    ASSERT_TRUE(ready) << fatal;
    transport::ReplicaStatus status = replica.OnStatus();
    EXPECT_EQ(status.applied, 3u);
    EXPECT_EQ(status.config_slot, 2u);
    ASSERT_EQ(status.members.size(), 2u);
    EXPECT_EQ(status.members[0],
              (paxos::Member{1, paxos::MemberRole::kVoter,
                             "127.0.0.1:" + std::to_string(options.cluster.members[0].port)}));
    EXPECT_EQ(status.members[1], (paxos::Member{2, paxos::MemberRole::kLearner, "127.0.0.1:9"}));
    EXPECT_EQ(status.membership, transport::Membership::kVoter);
    // It serves under that configuration: the one voter leads and commits.
    ASSERT_TRUE(loop.RunUntil(
        [&] {
          transport::ReplicaStatus now = replica.OnStatus();
          return now.role == transport::Role::kLeader && now.applied > 3;
        },
        std::chrono::seconds(30)));
    EXPECT_EQ(replica.OnStatus().config_slot, 2u);
  }
  EXPECT_EQ(fatal, "");
}

// The static list names replica 2 at another address than the configuration
// records for it: status reports the configuration's address, and the start
// warns about the difference and logs the address book it serves with.
TEST(ReplicaMembership, StatusGivesTheConfigurationsAddressOverTheStaticOne) {
  test_support::TempDir tmp("synod-members-book");
  const std::string data = tmp / "r1";
  ASSERT_NO_FATAL_FAILURE(WriteSnapshotAfterAddingLearner(data, "127.0.0.1:9"));
  const uint16_t port = FreePort();
  const std::string stale = "127.0.0.1:" + std::to_string(FreePort());

  ReplicaOptions options;
  options.id = 1;
  options.cluster =
      ParseClusterConfig("1=127.0.0.1:" + std::to_string(port) + ",2=" + stale).value();
  options.data_dir = data;
  options.seed = 7;
  options.heartbeat_ms = 10;
  options.election_timeout_ms = 50;
  std::ostringstream log_text;
  auto logger = std::make_shared<spdlog::logger>(
      "replica-1", std::make_shared<spdlog::sinks::ostream_sink_mt>(log_text));
  transport::EventLoop loop;
  Counter machine;
  bool ready = false;
  std::string fatal;
  {
    Replica replica(loop, options, machine, logger);
    Status started =
        replica.Start([&] { ready = true; }, [&](std::string reason) { fatal = reason; });
    ASSERT_TRUE(started.ok()) << started.message();
    ASSERT_TRUE(ready) << fatal;
    transport::ReplicaStatus status = replica.OnStatus();
    EXPECT_EQ(status.config_slot, 2u);
    ASSERT_EQ(status.members.size(), 2u);
    // Replica 1: no configuration address, the static one fills the gap.
    EXPECT_EQ(status.members[0],
              (paxos::Member{1, paxos::MemberRole::kVoter, "127.0.0.1:" + std::to_string(port)}));
    EXPECT_EQ(status.members[1], (paxos::Member{2, paxos::MemberRole::kLearner, "127.0.0.1:9"}))
        << "the static list's " << stale << " must not win over the configuration's address";
  }
  EXPECT_EQ(fatal, "");
  const std::string text = log_text.str();
  EXPECT_NE(text.find("replica 2 is at 127.0.0.1:9 in the configuration (set at slot 2) but at " +
                      stale + " in --members: using the configuration's address"),
            std::string::npos)
      << text;
  EXPECT_NE(
      text.find("members 1=127.0.0.1:" + std::to_string(port) + ",2=127.0.0.1:9 set at slot 2)"),
      std::string::npos)
      << text;
}

// Snapshot fetches look peers up in the address book: a member only the
// configuration locates (learner 2, absent from --members) is fetched from;
// for an id nobody locates the replica warns (once per 10 s) instead of
// dropping the request without a word.
TEST(ReplicaMembership, FetchesFromAMemberOnlyTheConfigurationLocatesAndWarnsForAnUnknownOne) {
  test_support::TempDir tmp("synod-members-fetch");
  const std::string data = tmp / "r1";
  ASSERT_NO_FATAL_FAILURE(WriteSnapshotAfterAddingLearner(data, "127.0.0.1:9"));
  ReplicaOptions options;
  options.id = 1;
  options.cluster.members = {MemberAddress{1, "127.0.0.1", FreePort()}};
  options.data_dir = data;
  options.seed = 7;
  options.heartbeat_ms = 10;
  options.election_timeout_ms = 50;
  std::ostringstream log_text;
  auto logger = std::make_shared<spdlog::logger>(
      "replica-1", std::make_shared<spdlog::sinks::ostream_sink_mt>(log_text));
  transport::EventLoop loop;
  Counter machine;
  std::string fatal;
  {
    Replica replica(loop, options, machine, logger);
    Status started = replica.Start([] {}, [&](std::string reason) { fatal = reason; });
    ASSERT_TRUE(started.ok()) << started.message();
    // Peers report logs compacted beyond anything this replica has: the core
    // asks for their snapshots.
    replica.OnPeerMessage(paxos::Message{5, 1, paxos::CatchupReply{{}, 1000}});
    replica.OnPeerMessage(paxos::Message{5, 1, paxos::CatchupReply{{}, 1001}});
    replica.OnPeerMessage(paxos::Message{2, 1, paxos::CatchupReply{{}, 1000}});
  }
  EXPECT_EQ(fatal, "");
  const std::string text = log_text.str();
  const std::string warning =
      "behind replica 5's compacted log (needs slot 1000) but no address is known for replica 5 "
      "(members 1=127.0.0.1:" +
      std::to_string(options.cluster.members[0].port) +
      ",2=127.0.0.1:9): cannot fetch its snapshot";
  size_t at = text.find(warning);
  EXPECT_NE(at, std::string::npos) << text;
  EXPECT_EQ(text.find("no address is known for replica 5", at + warning.size()), std::string::npos)
      << "one line per 10 s:\n"
      << text;
  EXPECT_NE(text.find("behind replica 2's compacted log (needs slot 1000): fetching its snapshot"),
            std::string::npos)
      << text;
}

// A joined replica with a snapshot starts from the snapshot's configuration
// (it has no founding list) and records it in its members file, keeping the
// joined marker.
TEST(ReplicaMembership, AJoinedDirectoryStartsFromItsSnapshotAndRecordsItsConfiguration) {
  test_support::TempDir tmp("synod-members");
  const std::string data = tmp / "r2";
  const MemberAddress self{2, "127.0.0.1", FreePort()};
  const MemberAddress first{1, "127.0.0.1", FreePort()};
  ASSERT_NO_FATAL_FAILURE(WriteSnapshotAfterAddingLearner(data, self.Endpoint(), 2));
  ASSERT_TRUE(RecordJoined(data, self).ok());

  ReplicaOptions options;
  options.id = 2;
  options.cluster.members = {first, self};
  options.data_dir = data;
  options.seed = 7;
  auto logger = std::make_shared<spdlog::logger>("replica-2",
                                                 std::make_shared<spdlog::sinks::null_sink_mt>());
  transport::EventLoop loop;
  Counter machine;
  bool ready = false;
  std::string fatal;
  const std::string want = "# joined\n# config_slot=2\n1=" + first.Endpoint() + "," +
                           std::to_string(self.id) + "=" + self.Endpoint() + "\n";
  {
    Replica replica(loop, options, machine, logger);
    Status started =
        replica.Start([&] { ready = true; }, [&](std::string reason) { fatal = reason; });
    ASSERT_TRUE(started.ok()) << started.message();
    ASSERT_TRUE(ready) << fatal;
    transport::ReplicaStatus status = replica.OnStatus();
    EXPECT_EQ(status.config_slot, 2u);
    EXPECT_EQ(status.membership, transport::Membership::kLearner);
    auto file_text = [&] {
      std::ifstream in(data + "/members");
      return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    };
    EXPECT_TRUE(loop.RunUntil([&] { return file_text() == want; }, std::chrono::seconds(10)))
        << file_text();
  }
  EXPECT_EQ(fatal, "");
}

// A directory with history but no members file (deleted, or from before the
// file) whose log holds a membership change: --members cannot be trusted as
// the founding list (a replay from another one voids the change here only).
TEST(ReplicaMembership, ADirectoryWithoutAMembersFileRefusesALogWithAChange) {
  test_support::TempDir tmp("synod-members");
  const std::string data = tmp / "r1";
  const MemberAddress self{1, "127.0.0.1", FreePort()};
  {
    log::LevelDbOptions log_options;
    log_options.dir = data;
    log_options.replica_id = 1;
    std::unique_ptr<log::LevelDbLogStorage> storage =
        ValueOrFail(log::LevelDbLogStorage::Open(log_options));
    ASSERT_NE(storage, nullptr);
    const paxos::Ballot ballot{1, 1};
    const paxos::Configuration initial({1});
    std::vector<paxos::SlotEntry> entries;
    entries.push_back({1, paxos::Entry{ballot, paxos::MakeCommandsValue({Tick(1000)}), true}});
    entries.push_back(
        {2, paxos::Entry{ballot,
                         paxos::MakeConfigurationValue(0, initial.WithLearner(2, "127.0.0.1:1")),
                         true}});
    storage->Persist(ballot, entries);
  }
  ASSERT_FALSE(std::filesystem::exists(data + "/members"));

  ReplicaOptions options;
  options.id = 1;
  options.cluster.members = {self};
  options.data_dir = data;
  options.seed = 7;
  auto logger = std::make_shared<spdlog::logger>("replica-1",
                                                 std::make_shared<spdlog::sinks::null_sink_mt>());
  transport::EventLoop loop;
  Counter machine;
  bool ready = false;
  std::string fatal;
  Replica replica(loop, options, machine, logger);
  Status started =
      replica.Start([&] { ready = true; }, [&](std::string reason) { fatal = reason; });
  ASSERT_TRUE(started.ok()) << started.message();
  ASSERT_TRUE(loop.RunUntil([&] { return ready || !fatal.empty(); }, std::chrono::seconds(10)));
  EXPECT_FALSE(ready);
  EXPECT_NE(fatal.find("has no members file but its log holds a membership change (slot 2)"),
            std::string::npos)
      << fatal;
}

// A replica removed while it was down, whose whole configuration was removed
// after it, knows no current member: its configuration names none. It dials
// the --members entries its configuration does not know, for the handshake
// only; a current member refuses it as removed, and it stops, saying so.
TEST(ReplicaMembership, ARemovedReplicaThatKnowsNoCurrentMemberLearnsItFromItsList) {
  test_support::TempDir tmp("synod-members-stale");
  const std::string current_data = tmp / "r1";
  const std::string removed_data = tmp / "r2";
  const std::string cluster_id = "00000000000000ab";
  const MemberAddress current{1, "127.0.0.1", FreePort()};
  const MemberAddress removed{2, "127.0.0.1", FreePort()};
  // Replica 1's view: 2 was added and removed (its address is retired).
  const paxos::Configuration one({1});
  const paxos::Configuration with_two = one.WithLearner(2, removed.Endpoint());
  const paxos::ConfigAt current_config = WriteSnapshotAfterChanges(
      current_data, 1, one, {with_two, with_two.WithRemoved(2)}, cluster_id);
  ASSERT_TRUE(current_config.config.IsRetired(2));
  // Replica 2's view: a configuration that names neither 1 nor a retired 1.
  const paxos::Configuration two({2});
  const paxos::ConfigAt removed_config = WriteSnapshotAfterChanges(
      removed_data, 2, two, {two.WithLearner(5, "127.0.0.1:9")}, cluster_id);
  ASSERT_FALSE(removed_config.config.Contains(1) || removed_config.config.IsRetired(1));
  ASSERT_EQ(RecordMembers(removed_data, ClusterConfig{{removed}}), "");
  ASSERT_TRUE(RecordConfiguration(removed_data, removed_config.slot,
                                  "2=" + removed.Endpoint() + ",5=127.0.0.1:9")
                  .ok());

  auto logger = [](const std::string& name) {
    return std::make_shared<spdlog::logger>(name, std::make_shared<spdlog::sinks::null_sink_mt>());
  };
  ReplicaOptions current_options;
  current_options.id = 1;
  current_options.cluster.members = {current};
  current_options.data_dir = current_data;
  current_options.seed = 7;
  current_options.heartbeat_ms = 10;
  current_options.election_timeout_ms = 50;
  ReplicaOptions removed_options = current_options;
  removed_options.id = 2;
  removed_options.cluster.members = {current, removed};
  removed_options.data_dir = removed_data;
  transport::EventLoop loop;
  Counter current_machine;
  Counter removed_machine;
  std::string current_fatal;
  std::string removed_fatal;
  {
    Replica leader(loop, current_options, current_machine, logger("replica-1"));
    ASSERT_TRUE(leader.Start([] {}, [&](std::string reason) { current_fatal = reason; }).ok());
    ASSERT_TRUE(loop.RunUntil([&] { return leader.OnStatus().role == transport::Role::kLeader; },
                              std::chrono::seconds(30)));
    const transport::ReplicaStatus before = leader.OnStatus();
    Replica gone(loop, removed_options, removed_machine, logger("replica-2"));
    ASSERT_TRUE(gone.Start([] {}, [&](std::string reason) { removed_fatal = reason; }).ok());
    ASSERT_TRUE(loop.RunUntil([&] { return !removed_fatal.empty(); }, std::chrono::seconds(30)))
        << "replica 2 never learned it was removed";
    EXPECT_NE(removed_fatal.find("replica 2 was removed from the cluster (replica 1 says so"),
              std::string::npos)
        << removed_fatal;
    const transport::ReplicaStatus after = leader.OnStatus();
    EXPECT_EQ(after.role, transport::Role::kLeader);
    EXPECT_EQ(after.ballot, before.ballot);
  }
  EXPECT_EQ(current_fatal, "");
}

// A joined member's directory whose members file records a configuration
// (it served) but which lost its history: its data was lost. It is refused
// like a founder's, and the file is not replaced by a fresh join marker.
TEST(ReplicaMembership, AJoinedDirectoryThatRecordedAChangeButLostItsHistoryIsRefused) {
  test_support::TempDir tmp("synod-members-lost");
  const std::string data = tmp / "r4";
  const MemberAddress first{1, "127.0.0.1", FreePort()};
  const MemberAddress self{4, "127.0.0.1", FreePort()};
  {
    log::LevelDbOptions log_options;
    log_options.dir = data;
    log_options.replica_id = 4;
    ASSERT_NE(ValueOrFail(log::LevelDbLogStorage::Open(log_options)), nullptr);
  }
  ASSERT_TRUE(RecordJoined(data, self).ok());
  ASSERT_TRUE(RecordConfiguration(data, 7, "1=" + first.Endpoint() + ",4=" + self.Endpoint()).ok());
  auto file_text = [&] {
    std::ifstream in(data + "/members");
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  };
  const std::string recorded = file_text();
  ASSERT_NE(recorded.find("# config_slot=7"), std::string::npos) << recorded;

  ReplicaOptions options;
  options.id = 4;
  options.cluster.members = {first, self};
  options.data_dir = data;
  options.seed = 7;
  auto logger = std::make_shared<spdlog::logger>("replica-4",
                                                 std::make_shared<spdlog::sinks::null_sink_mt>());
  transport::EventLoop loop;
  Counter machine;
  for (bool join : {true, false}) {
    options.join = join;
    Replica replica(loop, options, machine, logger);
    Status started = replica.Start([] {}, [](std::string) {});
    EXPECT_FALSE(started.ok()) << "join=" << join;
    EXPECT_NE(started.message().find("records a configuration change (slot 7) but " + data +
                                     " holds no Paxos history"),
              std::string::npos)
        << started.message();
    EXPECT_NE(started.message().find("'members add' a new id"), std::string::npos)
        << started.message();
    EXPECT_EQ(file_text(), recorded);
  }
}

// The snapshot a join installs must make this replica a learner (it is
// added as one); one that makes it a voter is refused, never served.
TEST(ReplicaMembership, AJoinSnapshotThatMakesThisReplicaAVoterIsRefused) {
  test_support::TempDir tmp("synod-members-voter");
  const std::string data = tmp / "r2";
  const MemberAddress first{1, "127.0.0.1", FreePort()};
  const MemberAddress self{2, "127.0.0.1", FreePort()};
  const paxos::Configuration one({1});
  const paxos::Configuration with_learner = one.WithLearner(2, self.Endpoint());
  const paxos::ConfigAt config =
      WriteSnapshotAfterChanges(data, 2, one, {with_learner, with_learner.WithPromoted(2)}, "");
  ASSERT_TRUE(config.config.IsVoter(2));
  ASSERT_TRUE(RecordJoined(data, self).ok());

  ReplicaOptions options;
  options.id = 2;
  options.cluster.members = {first, self};
  options.data_dir = data;
  options.seed = 7;
  auto logger = std::make_shared<spdlog::logger>("replica-2",
                                                 std::make_shared<spdlog::sinks::null_sink_mt>());
  transport::EventLoop loop;
  Counter machine;
  bool ready = false;
  std::string fatal;
  {
    Replica replica(loop, options, machine, logger);
    Status started =
        replica.Start([&] { ready = true; }, [&](std::string reason) { fatal = reason; });
    ASSERT_TRUE(started.ok()) << started.message();
    EXPECT_FALSE(ready);
    EXPECT_NE(fatal.find("makes it a voter, but a joining replica is added as a learner"),
              std::string::npos)
        << fatal;
    EXPECT_NE(replica.OnStatus().membership, transport::Membership::kVoter);
  }
}

// The same snapshot in a joined directory whose log was compacted: this
// replica served after its join (it was promoted, then its members file could
// not be rewritten, as on a full disk). It is not refused: it restarts as the
// voter its snapshot says it is.
TEST(ReplicaMembership, AJoinedReplicaThatServedStartsFromASnapshotThatMakesItAVoter) {
  test_support::TempDir tmp("synod-members-served");
  const std::string data = tmp / "r2";
  const MemberAddress first{1, "127.0.0.1", FreePort()};
  const MemberAddress self{2, "127.0.0.1", FreePort()};
  const paxos::Configuration one({1});
  const paxos::Configuration with_learner = one.WithLearner(2, self.Endpoint());
  const paxos::ConfigAt config =
      WriteSnapshotAfterChanges(data, 2, one, {with_learner, with_learner.WithPromoted(2)}, "");
  ASSERT_TRUE(config.config.IsVoter(2));
  ASSERT_TRUE(RecordJoined(data, self).ok());
  {
    log::LevelDbOptions log_options;
    log_options.dir = data;
    log_options.replica_id = 2;
    std::unique_ptr<log::LevelDbLogStorage> storage =
        ValueOrFail(log::LevelDbLogStorage::Open(log_options));
    ASSERT_NE(storage, nullptr);
    storage->Compact(config.slot + 1);  // the snapshot's slot
  }

  ReplicaOptions options;
  options.id = 2;
  options.cluster.members = {first, self};
  options.data_dir = data;
  options.seed = 7;
  auto logger = std::make_shared<spdlog::logger>("replica-2",
                                                 std::make_shared<spdlog::sinks::null_sink_mt>());
  transport::EventLoop loop;
  Counter machine;
  std::string fatal;
  {
    Replica replica(loop, options, machine, logger);
    Status started = replica.Start([] {}, [&](std::string reason) { fatal = reason; });
    ASSERT_TRUE(started.ok()) << started.message();
    loop.RunFor(std::chrono::milliseconds(50));
    EXPECT_EQ(fatal, "");
    EXPECT_EQ(replica.OnStatus().membership, transport::Membership::kVoter);
  }
}

}  // namespace
}  // namespace synod::node
