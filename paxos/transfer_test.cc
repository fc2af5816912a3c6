// Leadership transfer in the core (Core::TransferLeadership, TimeoutNow):
// the happy path, a lagging target brought up to date first, a dead target
// (the leader takes commands again after election_ticks), refused targets,
// the busy rules against configuration changes, and the one election a
// candidacy outliving a failed transfer costs.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <set>
#include <vector>

#include "paxos/core.h"

namespace synod::paxos {
namespace {

// N cores on a FIFO network that persists every Ready at once. Replicas in
// `down_` neither tick nor receive; messages to or from replicas in `cut_` are
// dropped.
class Cluster {
 public:
  explicit Cluster(Configuration config) : config_(std::move(config)) {
    for (ReplicaId id : config_.members()) {
      randoms_[id] = std::make_unique<SplitMix64>(id);
      cores_[id] = std::make_unique<Core>(id, ConfigAt{0, config_}, CoreOptions{}, *randoms_[id],
                                          DurableState{}, 0);
    }
  }

  Core& core(ReplicaId id) { return *cores_.at(id); }

  void Process(ReplicaId id) {
    while (core(id).HasReady()) {
      Ready ready = core(id).TakeReady();
      for (auto* list : {&ready.messages, &ready.messages_after_persist}) {
        for (Message& m : *list) {
          if (cut_.contains(m.from) || cut_.contains(m.to) || down_.contains(m.to)) continue;
          sent_.push_back(m);
          network_.push_back(std::move(m));
        }
      }
      for (CommittedEntry& c : ready.committed) applied_[id].push_back(std::move(c));
      core(id).Advance();
    }
  }

  void DeliverAll() {
    for (int guard = 0; guard < 100000; ++guard) {
      for (auto& [id, core] : cores_) {
        if (!down_.contains(id)) Process(id);
      }
      if (network_.empty()) return;
      Message m = std::move(network_.front());
      network_.erase(network_.begin());
      if (!down_.contains(m.to)) core(m.to).Step(m);
    }
    FAIL() << "network did not quiesce";
  }

  void TickAll() {
    for (auto& [id, core] : cores_) {
      if (!down_.contains(id)) core->Tick();
    }
    DeliverAll();
  }

  ReplicaId Leader() {
    for (auto& [id, core] : cores_) {
      if (!down_.contains(id) && core->Status().role == Role::kLeader) return id;
    }
    return kNoReplica;
  }

  ReplicaId ElectLeader() {
    for (int i = 0; i < 500 && Leader() == kNoReplica; ++i) TickAll();
    EXPECT_NE(Leader(), kNoReplica);
    return Leader();
  }

  // Ticks until `id` leads (at most `ticks`); true if it does.
  bool TickUntilLeader(ReplicaId id, int ticks) {
    for (int i = 0; i < ticks; ++i) {
      if (core(id).Status().role == Role::kLeader) return true;
      TickAll();
    }
    return core(id).Status().role == Role::kLeader;
  }

  // Every command applied at `id`, in order.
  std::vector<std::string> Commands(ReplicaId id) {
    std::vector<std::string> out;
    for (const CommittedEntry& c : applied_[id]) {
      for (const std::string& command : c.value->commands) out.push_back(command);
    }
    return out;
  }

  Configuration config_;
  std::map<ReplicaId, std::unique_ptr<SplitMix64>> randoms_;
  std::map<ReplicaId, std::unique_ptr<Core>> cores_;
  std::vector<Message> network_;
  std::vector<Message> sent_;
  std::set<ReplicaId> down_;
  std::set<ReplicaId> cut_;
  std::map<ReplicaId, std::vector<CommittedEntry>> applied_;
};

ReplicaId OtherThan(ReplicaId a, ReplicaId b = kNoReplica) {
  for (ReplicaId id = 1;; ++id) {
    if (id != a && id != b) return id;
  }
}

TEST(Transfer, TargetLeadsWithAHigherBallotAndNoSlotIsLost) {
  Cluster c(Configuration({1, 2, 3, 4, 5}));
  ReplicaId old_leader = c.ElectLeader();
  ReplicaId target = OtherThan(old_leader);
  Ballot old_ballot = c.core(old_leader).Status().leader_ballot;
  ASSERT_EQ(c.core(old_leader).Propose({"a", "b"}).status, ProposeResult::Status::kAccepted);
  c.DeliverAll();
  // In flight (Accepts not delivered yet) when the transfer starts.
  ASSERT_EQ(c.core(old_leader).Propose({"c"}).status, ProposeResult::Status::kAccepted);
  c.Process(old_leader);

  TransferResult result = c.core(old_leader).TransferLeadership(target);
  ASSERT_EQ(result.status, TransferResult::Status::kAccepted) << result.reason;
  EXPECT_EQ(c.core(old_leader).Status().transfer_target, target);
  ProposeResult refused = c.core(old_leader).Propose({"late"});
  EXPECT_EQ(refused.status, ProposeResult::Status::kTransferring);
  EXPECT_EQ(refused.leader_hint, old_leader);

  // Within the transfer's time (election_ticks), not an election timeout plus pre-vote.
  ASSERT_TRUE(c.TickUntilLeader(target, static_cast<int>(CoreOptions{}.election_ticks)));
  CoreStatus status = c.core(target).Status();
  EXPECT_GT(status.leader_ballot, old_ballot);
  EXPECT_EQ(c.core(old_leader).Status().role, Role::kFollower);
  EXPECT_EQ(c.core(old_leader).Status().transfer_target, kNoReplica);
  EXPECT_EQ(c.core(old_leader).Propose({"x"}).leader_hint, target);
  // The target campaigned without pre-vote, with stickiness overridden: its
  // Prepares name the ballot of the leader that handed over.
  bool flagged_prepare = false;
  for (const Message& m : c.sent_) {
    if (m.from != target) continue;
    EXPECT_FALSE(std::holds_alternative<PreVoteRequest>(m.body)) << DescribeMessage(m);
    if (const auto* p = std::get_if<Prepare>(&m.body)) {
      EXPECT_EQ(p->transfer_from, old_ballot) << DescribeMessage(m);
      flagged_prepare = true;
    }
  }
  EXPECT_TRUE(flagged_prepare);

  ASSERT_EQ(c.core(target).Propose({"d"}).status, ProposeResult::Status::kAccepted);
  for (int i = 0; i < 5; ++i) c.TickAll();
  std::vector<std::string> expected{"a", "b", "c", "d"};
  for (auto& [id, core] : c.cores_) EXPECT_EQ(c.Commands(id), expected) << "replica " << id;
}

TEST(Transfer, ALaggingTargetIsBroughtUpToDateBeforeTimeoutNow) {
  Cluster c(Configuration({1, 2, 3}));
  ReplicaId leader = c.ElectLeader();
  ReplicaId target = OtherThan(leader);
  c.cut_.insert(target);
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(c.core(leader).Propose({"v" + std::to_string(i)}).status,
              ProposeResult::Status::kAccepted);
    c.DeliverAll();
  }
  Slot last = c.core(leader).Status().chosen_point;
  ASSERT_GE(last, 20u);
  ASSERT_LT(c.core(target).Status().chosen_point, last);
  c.cut_.clear();
  c.sent_.clear();
  ASSERT_EQ(c.core(leader).TransferLeadership(target).status, TransferResult::Status::kAccepted);
  // Deliver one message at a time: when TimeoutNow leaves, the target knows
  // every slot the leader proposed chosen.
  bool timeout_sent = false;
  for (int tick = 0; tick < 20 && !timeout_sent; ++tick) {
    for (auto& [id, core] : c.cores_) core->Tick();
    for (int guard = 0; guard < 10000 && !timeout_sent; ++guard) {
      for (auto& [id, core] : c.cores_) c.Process(id);
      for (const Message& m : c.sent_) {
        if (std::holds_alternative<TimeoutNow>(m.body)) timeout_sent = true;
      }
      if (timeout_sent || c.network_.empty()) break;
      Message m = std::move(c.network_.front());
      c.network_.erase(c.network_.begin());
      c.core(m.to).Step(m);
    }
  }
  ASSERT_TRUE(timeout_sent);
  EXPECT_GE(c.core(target).Status().chosen_point, last);
  EXPECT_EQ(c.core(target).ChosenValue(last)->commands, std::vector<std::string>{"v19"});
  ASSERT_TRUE(c.TickUntilLeader(target, 10));
  EXPECT_EQ(c.Commands(target), c.Commands(leader));
}

TEST(Transfer, ADeadTargetLetsTheLeaderResumeAfterElectionTicks) {
  Cluster c(Configuration({1, 2, 3}));
  ReplicaId leader = c.ElectLeader();
  ReplicaId target = OtherThan(leader);
  c.down_.insert(target);
  ASSERT_EQ(c.core(leader).TransferLeadership(target).status, TransferResult::Status::kAccepted);
  uint32_t ticks = 0;
  while (c.core(leader).Status().transfer_target != kNoReplica) {
    EXPECT_EQ(c.core(leader).Propose({"x"}).status, ProposeResult::Status::kTransferring);
    c.TickAll();
    ASSERT_LE(++ticks, CoreOptions{}.election_ticks);
  }
  EXPECT_EQ(ticks, CoreOptions{}.election_ticks);
  EXPECT_EQ(c.Leader(), leader);
  ASSERT_EQ(c.core(leader).Propose({"y"}).status, ProposeResult::Status::kAccepted);
  c.DeliverAll();
  EXPECT_EQ(c.Commands(leader), std::vector<std::string>{"y"});
}

TEST(Transfer, RefusedTargetsAndCallers) {
  Configuration config = Configuration({1, 2, 3}).WithLearner(4, "learner");
  Cluster c(config.WithLearner(5, "gone").WithRemoved(5));
  c.down_.insert(5);
  ReplicaId leader = c.ElectLeader();
  ASSERT_NE(leader, 4u);
  auto refused = [&](ReplicaId target) {
    TransferResult r = c.core(leader).TransferLeadership(target);
    EXPECT_EQ(r.status, TransferResult::Status::kInvalid) << target;
    EXPECT_FALSE(r.reason.empty());
    return r.reason;
  };
  EXPECT_NE(refused(4).find("learner"), std::string::npos);
  EXPECT_NE(refused(5).find("removed"), std::string::npos);
  EXPECT_NE(refused(9).find("not a member"), std::string::npos);
  refused(leader);
  EXPECT_EQ(c.core(leader).Status().transfer_target, kNoReplica);
  ReplicaId follower = OtherThan(leader, 4);
  TransferResult r = c.core(follower).TransferLeadership(leader);
  EXPECT_EQ(r.status, TransferResult::Status::kNotLeader);
  EXPECT_EQ(r.leader_hint, leader);
}

TEST(Transfer, TransfersAndConfigurationChangesExcludeEachOther) {
  Cluster c(Configuration({1, 2, 3}));
  ReplicaId leader = c.ElectLeader();
  ReplicaId target = OtherThan(leader);
  // A change in flight (not delivered): a transfer is busy.
  CoreStatus status = c.core(leader).Status();
  Configuration next = status.config.WithLearner(7, "new");
  ASSERT_EQ(c.core(leader).ProposeConfiguration(next, status.config_slot).status,
            ReconfigureResult::Status::kAccepted);
  TransferResult busy = c.core(leader).TransferLeadership(target);
  EXPECT_EQ(busy.status, TransferResult::Status::kBusy);
  EXPECT_NE(busy.reason.find("configuration change"), std::string::npos);
  c.DeliverAll();
  // A transfer in flight: a change and a second transfer are busy.
  c.down_.insert(target);
  ASSERT_EQ(c.core(leader).TransferLeadership(target).status, TransferResult::Status::kAccepted);
  status = c.core(leader).Status();
  ReconfigureResult change =
      c.core(leader).ProposeConfiguration(status.config.WithPromoted(7), status.config_slot);
  EXPECT_EQ(change.status, ReconfigureResult::Status::kBusy);
  EXPECT_NE(change.reason.find("leadership transfer"), std::string::npos);
  EXPECT_EQ(c.core(leader).TransferLeadership(OtherThan(leader, target)).status,
            TransferResult::Status::kBusy);
}

// A TimeoutNow that is not from the leader this replica follows, or not in
// that leader's ballot, starts nothing. The earlier ballot is a real one: the
// first leader's, deposed by an election while it was down.
TEST(Transfer, TimeoutNowFromAnyoneButTheCurrentLeaderIsIgnored) {
  Cluster c(Configuration({1, 2, 3}));
  ReplicaId first = c.ElectLeader();
  Ballot earlier = c.core(first).Status().leader_ballot;
  c.down_.insert(first);
  ReplicaId leader = c.ElectLeader();
  ASSERT_NE(leader, first);
  ReplicaId a = OtherThan(leader, first);
  Ballot ballot = c.core(a).Status().leader_ballot;
  ASSERT_EQ(c.core(a).Status().leader, leader);
  ASSERT_GT(ballot, earlier);
  ASSERT_FALSE(earlier.IsNull());
  c.core(a).Step(Message{first, a, TimeoutNow{ballot}});  // not its leader
  EXPECT_EQ(c.core(a).Status().role, Role::kFollower);
  c.core(a).Step(Message{first, a, TimeoutNow{earlier}});  // the deposed leader, late
  EXPECT_EQ(c.core(a).Status().role, Role::kFollower);
  c.core(a).Step(Message{leader, a, TimeoutNow{earlier}});  // its leader, another ballot
  EXPECT_EQ(c.core(a).Status().role, Role::kFollower);
  c.core(a).Step(Message{leader, a, TimeoutNow{ballot}});
  EXPECT_EQ(c.core(a).Status().role, Role::kCandidate);
}

// A follower that promised a ballot above its leader's (here: to a rival
// whose Prepare that leader's handover let through) ignores the leader's
// TimeoutNow: campaigning now would only race the ballot it promised.
TEST(Transfer, TimeoutNowBelowTheBallotPromisedIsIgnored) {
  Cluster c(Configuration({1, 2, 3}));
  ReplicaId leader = c.ElectLeader();
  ReplicaId a = OtherThan(leader);
  ReplicaId b = OtherThan(leader, a);
  Ballot ballot = c.core(a).Status().leader_ballot;
  Ballot higher{ballot.round + 1, b};
  c.core(a).Step(Message{b, a, Prepare{higher, 1, ballot}});
  ASSERT_EQ(c.core(a).Status().promised, higher);
  ASSERT_EQ(c.core(a).Status().leader_ballot, ballot);
  c.core(a).Step(Message{leader, a, TimeoutNow{ballot}});
  EXPECT_EQ(c.core(a).Status().role, Role::kFollower);
  EXPECT_EQ(c.core(a).Status().promised, higher);
}

// A TimeoutNow from a leader this replica has not heard for election_ticks
// (it may have been deposed meanwhile) starts nothing.
TEST(Transfer, TimeoutNowFromALeaderNotHeardLatelyIsIgnored) {
  Cluster c(Configuration({1, 2, 3}));
  ReplicaId leader = c.ElectLeader();
  ReplicaId a = OtherThan(leader);
  Ballot ballot = c.core(a).Status().leader_ballot;
  // `a` ticks alone (its messages are dropped): it stops hearing the leader.
  for (uint32_t i = 0; i < CoreOptions{}.election_ticks; ++i) {
    c.core(a).Tick();
    while (c.core(a).HasReady()) {
      c.core(a).TakeReady();
      c.core(a).Advance();
    }
  }
  ASSERT_EQ(c.core(a).Status().leader, leader);
  ASSERT_NE(c.core(a).Status().role, Role::kCandidate);
  c.core(a).Step(Message{leader, a, TimeoutNow{ballot}});
  EXPECT_NE(c.core(a).Status().role, Role::kCandidate);
  EXPECT_EQ(c.core(a).Status().promised, ballot);
}

// Leader stickiness is skipped only for a Prepare whose transfer_from names
// the ballot of the leader the acceptor follows, sent by a voter: a learner
// (which never campaigns) cannot use the flag, nor can a Prepare naming
// another ballot depose the leader that is heard.
TEST(Transfer, AFlaggedPrepareFromALearnerIsIgnoredWhileALeaderIsHeard) {
  Cluster c(Configuration({1, 2, 3}).WithLearner(4, "learner"));
  ReplicaId leader = c.ElectLeader();
  ASSERT_NE(leader, 4u);
  for (ReplicaId id : {1u, 2u, 3u}) {
    Ballot ballot = c.core(id).Status().leader_ballot;
    ASSERT_EQ(ballot, c.core(leader).Status().leader_ballot);
    c.core(id).Step(Message{4, id, Prepare{Ballot{ballot.round + 1, 4}, 1, ballot}});
    EXPECT_EQ(c.core(id).Status().promised, ballot) << "replica " << id;
  }
  EXPECT_EQ(c.core(leader).Status().role, Role::kLeader);
}

TEST(Transfer, AFlaggedPrepareNamingAnotherBallotIsIgnored) {
  Cluster c(Configuration({1, 2, 3}));
  ReplicaId first = c.ElectLeader();
  Ballot earlier = c.core(first).Status().leader_ballot;
  c.down_.insert(first);
  ReplicaId leader = c.ElectLeader();
  c.down_.clear();
  for (uint32_t i = 0; i < 2 * CoreOptions{}.heartbeat_ticks; ++i) c.TickAll();  // all hear it
  Ballot ballot = c.core(leader).Status().leader_ballot;
  ASSERT_GT(ballot, earlier);
  ReplicaId rival = OtherThan(leader);
  for (ReplicaId id : {1u, 2u, 3u}) {
    if (id == rival) continue;
    ASSERT_EQ(c.core(id).Status().leader_ballot, ballot) << "replica " << id;
    Ballot promised = c.core(id).Status().promised;
    // A late Prepare of a candidacy the earlier leader started.
    c.core(id).Step(Message{rival, id, Prepare{Ballot{ballot.round + 1, rival}, 1, earlier}});
    EXPECT_EQ(c.core(id).Status().promised, promised) << "replica " << id;
    // A ballot of the current leader other than the one it leads in.
    Ballot other{ballot.round + 1, leader};
    c.core(id).Step(Message{rival, id, Prepare{Ballot{ballot.round + 2, rival}, 1, other}});
    EXPECT_EQ(c.core(id).Status().promised, promised) << "replica " << id;
  }
  EXPECT_EQ(c.core(leader).Status().role, Role::kLeader);
}

// A snapshot install replaces the configuration with one in which the
// target is a learner: it can never campaign, so the transfer ends at once
// and the leader takes commands again.
TEST(Transfer, ATransferEndsWhenASnapshotMakesTheTargetALearner) {
  Cluster c(Configuration({1, 2, 3}));
  ReplicaId leader = c.ElectLeader();
  ReplicaId target = OtherThan(leader);
  ReplicaId other = OtherThan(leader, target);
  c.down_.insert(target);
  ASSERT_EQ(c.core(leader).TransferLeadership(target).status, TransferResult::Status::kAccepted);
  c.DeliverAll();
  Slot slot = c.core(leader).Status().delivered + 3;
  Configuration demoted(
      {Member{leader, MemberRole::kVoter, ""}, Member{other, MemberRole::kVoter, ""},
       Member{target, MemberRole::kLearner, "t"}},
      {});
  ASSERT_TRUE(c.core(leader).InstallSnapshot(slot, ConfigAt{slot, demoted}));
  c.Process(leader);
  ASSERT_EQ(c.core(leader).Status().role, Role::kLeader);
  EXPECT_EQ(c.core(leader).Status().transfer_target, kNoReplica);
  EXPECT_EQ(c.core(leader).Propose({"y"}).status, ProposeResult::Status::kAccepted);
}

// A leader that skipped a gap only a snapshot holds (its promisers compacted
// slots it never learned) refuses a transfer until it has fetched it.
TEST(Transfer, RefusedWhileTheLeaderFetchesASnapshotOfAGap) {
  SplitMix64 random(1);
  Core core(1, Configuration({1, 2, 3}), CoreOptions{}, random, {}, 0);
  auto drain = [&] {
    while (core.HasReady()) {
      core.TakeReady();
      core.Advance();
    }
  };
  for (int t = 0; t < 1000 && core.Status().role == Role::kFollower; ++t) {
    core.Tick();
    drain();
  }
  core.Step(Message{2, 1, PreVoteReply{true, Ballot{}}});
  drain();
  ASSERT_EQ(core.Status().role, Role::kCandidate);
  Ballot ballot = core.Status().promised;
  core.Step(Message{3, 1, Promise{ballot, 1, 1, false, 5, 5, {}}});  // compacted through 5
  drain();
  for (int t = 0; t < 100 && core.Status().role == Role::kCandidate; ++t) {
    core.Tick();
    drain();
  }
  ASSERT_EQ(core.Status().role, Role::kLeader);
  ASSERT_LT(core.Status().chosen_point, 5u);
  TransferResult busy = core.TransferLeadership(2);
  EXPECT_EQ(busy.status, TransferResult::Status::kBusy);
  EXPECT_NE(busy.reason.find("snapshot"), std::string::npos) << busy.reason;
  EXPECT_EQ(core.Status().transfer_target, kNoReplica);
  ASSERT_TRUE(core.InstallSnapshot(5));
  drain();
  ASSERT_EQ(core.Status().role, Role::kLeader);
  EXPECT_EQ(core.TransferLeadership(2).status, TransferResult::Status::kAccepted);
}

// A leader deposed while its transfer runs forgets it (StepDown): when it
// leads again it takes commands.
TEST(Transfer, ALeaderDeposedMidTransferTakesCommandsWhenItLeadsAgain) {
  Cluster c(Configuration({1, 2, 3}));
  ReplicaId leader = c.ElectLeader();
  ReplicaId target = OtherThan(leader);
  ReplicaId other = OtherThan(leader, target);
  c.down_.insert(target);
  ASSERT_EQ(c.core(leader).TransferLeadership(target).status, TransferResult::Status::kAccepted);
  Ballot ballot = c.core(leader).Status().leader_ballot;
  c.core(leader).Step(Message{other, leader, Reject{ballot, Ballot{ballot.round + 1, other}}});
  ASSERT_NE(c.core(leader).Status().role, Role::kLeader);
  EXPECT_EQ(c.core(leader).Status().transfer_target, kNoReplica);
  c.DeliverAll();
  ReplicaId next = c.ElectLeader();
  if (next != leader) {
    ASSERT_EQ(c.core(next).TransferLeadership(leader).status, TransferResult::Status::kAccepted);
  }
  ASSERT_TRUE(c.TickUntilLeader(leader, static_cast<int>(CoreOptions{}.election_ticks)));
  EXPECT_EQ(c.core(leader).Status().transfer_target, kNoReplica);
  EXPECT_EQ(c.core(leader).Propose({"y"}).status, ProposeResult::Status::kAccepted);
}

// TimeoutNow waits for every slot the leader proposed to be chosen, not
// merely for the target to reach the leader's chosen point: here the target
// holds the leader's last slot accepted and knows all that is chosen, but no
// quorum accepted that slot yet.
TEST(Transfer, NoTimeoutNowWhileTheLeadersOwnSlotsAreUnchosen) {
  Cluster c(Configuration({1, 2, 3, 4, 5}));
  ReplicaId leader = c.ElectLeader();
  ReplicaId target = OtherThan(leader);
  std::vector<ReplicaId> others;
  for (ReplicaId id : {1u, 2u, 3u, 4u, 5u}) {
    if (id != leader && id != target) others.push_back(id);
  }
  c.down_.insert(others.begin(), others.end());
  ASSERT_EQ(c.core(leader).Propose({"a"}).status, ProposeResult::Status::kAccepted);
  ASSERT_EQ(c.core(leader).TransferLeadership(target).status, TransferResult::Status::kAccepted);
  c.sent_.clear();
  for (uint32_t i = 0; i < 2 * CoreOptions{}.heartbeat_ticks; ++i) c.TickAll();
  ASSERT_LT(c.core(leader).Status().chosen_point, c.core(leader).Status().last_slot);
  EXPECT_EQ(c.core(target).Status().chosen_point, c.core(leader).Status().chosen_point);
  EXPECT_EQ(c.core(target).Status().last_slot, c.core(leader).Status().last_slot);
  for (const Message& m : c.sent_) {
    EXPECT_FALSE(std::holds_alternative<TimeoutNow>(m.body)) << DescribeMessage(m);
  }
  EXPECT_EQ(c.core(target).Status().role, Role::kFollower);
  EXPECT_EQ(c.Leader(), leader);
}

// The residual protocol.md names: a transfer candidacy that outlives a
// failed transfer costs one election (its Prepares still name the old
// leader's ballot, and its raised promise alone would depose the old leader
// through a Reject of its heartbeats), and only one: the target leads at once.
TEST(Transfer, ACandidacyOutlivingAFailedTransferCostsOneElection) {
  Cluster c(Configuration({1, 2, 3, 4, 5}));
  ReplicaId old_leader = c.ElectLeader();
  ReplicaId target = OtherThan(old_leader);
  Ballot old_ballot = c.core(old_leader).Status().leader_ballot;
  ASSERT_EQ(c.core(old_leader).TransferLeadership(target).status,
            TransferResult::Status::kAccepted);
  // Deliver until the target takes the TimeoutNow, then cut it off: its
  // Prepares are lost until the transfer has failed.
  for (int guard = 0; guard < 1000 && c.core(target).Status().role != Role::kCandidate; ++guard) {
    for (auto& [id, core] : c.cores_) c.Process(id);
    ASSERT_FALSE(c.network_.empty());
    Message m = std::move(c.network_.front());
    c.network_.erase(c.network_.begin());
    c.core(m.to).Step(m);
  }
  ASSERT_EQ(c.core(target).Status().role, Role::kCandidate);
  c.cut_ = {target};
  for (uint32_t i = 0; i < CoreOptions{}.election_ticks; ++i) c.TickAll();
  ASSERT_EQ(c.core(old_leader).Status().transfer_target, kNoReplica);
  ASSERT_EQ(c.core(old_leader).Status().role, Role::kLeader);
  ASSERT_EQ(c.core(target).Status().role, Role::kCandidate);
  c.cut_.clear();
  ASSERT_TRUE(c.TickUntilLeader(target, static_cast<int>(2 * CoreOptions{}.heartbeat_ticks)));
  EXPECT_GT(c.core(target).Status().leader_ballot, old_ballot);
  EXPECT_EQ(c.core(old_leader).Status().role, Role::kFollower);
  EXPECT_EQ(c.core(old_leader).Status().leader, target);
}

// CoreStatus::transfer_timeout_now_sent: false until the TimeoutNow went
// out, true from then while the transfer runs, false once it ended. The
// runtime answers a transfer that ended with its leader still leading as
// undecided rather than failed when it was true.
TEST(Transfer, StatusSaysWhetherTheTimeoutNowWentOut) {
  Cluster c(Configuration({1, 2, 3, 4, 5}));
  ReplicaId old_leader = c.ElectLeader();
  ReplicaId target = OtherThan(old_leader);
  ASSERT_EQ(c.core(old_leader).TransferLeadership(target).status,
            TransferResult::Status::kAccepted);
  EXPECT_FALSE(c.core(old_leader).Status().transfer_timeout_now_sent);
  for (int guard = 0; guard < 1000 && c.core(target).Status().role != Role::kCandidate; ++guard) {
    for (auto& [id, core] : c.cores_) c.Process(id);
    ASSERT_FALSE(c.network_.empty());
    Message m = std::move(c.network_.front());
    c.network_.erase(c.network_.begin());
    c.core(m.to).Step(m);
  }
  ASSERT_EQ(c.core(target).Status().role, Role::kCandidate);
  EXPECT_TRUE(c.core(old_leader).Status().transfer_timeout_now_sent);
  c.cut_ = {target};
  for (uint32_t i = 0; i < CoreOptions{}.election_ticks; ++i) c.TickAll();
  ASSERT_EQ(c.core(old_leader).Status().transfer_target, kNoReplica);
  ASSERT_EQ(c.core(old_leader).Status().role, Role::kLeader);
  EXPECT_FALSE(c.core(old_leader).Status().transfer_timeout_now_sent);
}

// A transfer requested while the leader's slots are still in flight hands
// over as soon as they are chosen: the leader tells the target the new
// commit point at once and the target's reply reports it learned, so no
// heartbeat tick passes between the request and the target's candidacy.
TEST(Transfer, HandsOverOnceItsSlotsAreChosenWithoutWaitingForATick) {
  Cluster c(Configuration({1, 2, 3}));
  ReplicaId old_leader = c.ElectLeader();
  ReplicaId target = OtherThan(old_leader);
  ASSERT_EQ(c.core(old_leader).Propose({"a", "b"}).status, ProposeResult::Status::kAccepted);
  c.Process(old_leader);  // the Accepts are on the wire, not delivered yet
  ASSERT_EQ(c.core(old_leader).TransferLeadership(target).status,
            TransferResult::Status::kAccepted);
  c.DeliverAll();  // no tick
  EXPECT_EQ(c.core(target).Status().role, Role::kLeader);
  EXPECT_EQ(c.core(old_leader).Status().role, Role::kFollower);
  EXPECT_EQ(c.Commands(target), (std::vector<std::string>{"a", "b"}));
}

}  // namespace

}  // namespace synod::paxos
