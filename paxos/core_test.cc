// Unit tests of the paxos core's contract: what a Ready holds and when, own
// votes counted only once durable, backpressure, compaction and snapshots,
// and refusal of bad configuration. Longer protocol sequences (pre-vote
// without a quorum, ballots after a restart of everyone, paged promises) are
// transcripts in tests/scenarios/.
#include "paxos/core.h"

#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <memory>
#include <set>

#include "paxos/invariant.h"

namespace synod::paxos {
namespace {

// A tiny synchronous harness: N cores, a FIFO network, durable state kept per
// replica, and explicit control over when a Ready becomes durable.
class Harness {
 public:
  explicit Harness(int n, CoreOptions options = CoreOptions{}) : options_(options) {
    for (int i = 1; i <= n; ++i) members_.push_back(static_cast<ReplicaId>(i));
    for (ReplicaId id : members_) Start(id);
  }

  void Start(ReplicaId id) {
    randoms_[id] = std::make_unique<SplitMix64>(id);
    DurableState durable{disks_[id].promised, {}};
    for (const auto& [slot, entry] : disks_[id].entries) durable.entries.push_back({slot, entry});
    cores_[id] = std::make_unique<Core>(id, Configuration(members_), options_, *randoms_[id],
                                        std::move(durable), 0);
  }

  Core& core(ReplicaId id) { return *cores_.at(id); }

  // Takes the Ready, makes it durable at once, sends everything, advances.
  void Process(ReplicaId id) {
    while (core(id).HasReady()) {
      Ready ready = core(id).TakeReady();
      Persist(id, ready);
      for (auto& m : ready.messages) network_.push_back(m);
      for (auto& m : ready.messages_after_persist) network_.push_back(m);
      for (auto& c : ready.committed) applied_[id].push_back(c);
      core(id).Advance();
    }
  }

  void Persist(ReplicaId id, const Ready& ready) {
    if (ready.promised) disks_[id].promised = *ready.promised;
    for (const SlotEntry& se : ready.entries) disks_[id].entries[se.slot] = se.entry;
  }

  void DeliverAll() {
    for (int guard = 0; guard < 100000; ++guard) {
      for (ReplicaId id : members_) {
        if (cores_.count(id)) Process(id);
      }
      if (network_.empty()) return;
      Message m = network_.front();
      network_.erase(network_.begin());
      if (cores_.count(m.to)) core(m.to).Step(m);
    }
    FAIL() << "network did not quiesce";
  }

  // Ticks everyone (delivering in between) until some replica leads; returns it.
  ReplicaId ElectLeader() {
    for (int i = 0; i < 500; ++i) {
      for (ReplicaId id : members_) {
        if (cores_.count(id)) core(id).Tick();
      }
      DeliverAll();
      for (ReplicaId id : members_) {
        if (cores_.count(id) && core(id).Status().role == Role::kLeader) return id;
      }
    }
    ADD_FAILURE() << "no leader elected";
    return kNoReplica;
  }

  ReplicaId AnyOtherThan(ReplicaId id) const { return id == 1 ? 2 : 1; }

  std::vector<ReplicaId> members_;
  CoreOptions options_;
  struct Disk {
    Ballot promised;
    std::map<Slot, Entry> entries;
  };
  std::map<ReplicaId, Disk> disks_;
  std::map<ReplicaId, std::unique_ptr<SplitMix64>> randoms_;
  std::map<ReplicaId, std::unique_ptr<Core>> cores_;
  std::vector<Message> network_;
  std::map<ReplicaId, std::vector<CommittedEntry>> applied_;
};

TEST(Core, SingleReplicaElectsItselfAndCommits) {
  Harness h(1);
  ASSERT_EQ(h.ElectLeader(), 1u);
  ASSERT_EQ(h.core(1).Propose({"a", "b"}).status, ProposeResult::Status::kAccepted);
  h.Process(1);
  ASSERT_EQ(h.applied_[1].size(), 1u);
  EXPECT_EQ(h.applied_[1][0].slot, 1u);
  EXPECT_EQ(h.applied_[1][0].value->commands, (std::vector<std::string>{"a", "b"}));
}

TEST(Core, FollowerRefusesProposalsWithALeaderHint) {
  Harness h(3);
  ReplicaId leader = h.ElectLeader();
  ProposeResult result = h.core(h.AnyOtherThan(leader)).Propose({"x"});
  EXPECT_EQ(result.status, ProposeResult::Status::kNotLeader);
  EXPECT_EQ(result.leader_hint, leader);
}

TEST(Core, PrepareWaitsForThePersistedPromise) {
  Harness h(3);
  // Let 2 and 3 wait out one election timeout without campaigning themselves.
  for (int i = 0; i < 10; ++i) {
    h.core(2).Tick();
    h.core(3).Tick();
  }
  for (ReplicaId id : {2u, 3u}) {
    while (h.core(id).HasReady()) {  // their own pre-votes, if any, go nowhere
      h.core(id).TakeReady();
      h.core(id).Advance();
    }
  }
  Core& core = h.core(1);
  for (int i = 0; i < 100 && core.Status().role != Role::kPreCandidate; ++i) core.Tick();
  ASSERT_EQ(core.Status().role, Role::kPreCandidate);
  Ready prevote = core.TakeReady();
  core.Advance();
  for (const Message& m : prevote.messages) {
    h.core(m.to).Step(m);
    Ready reply = h.core(m.to).TakeReady();
    h.core(m.to).Advance();
    for (const Message& r : reply.messages) core.Step(r);
  }
  ASSERT_EQ(core.Status().role, Role::kCandidate);
  Ready ready = core.TakeReady();
  ASSERT_TRUE(ready.promised.has_value());
  EXPECT_EQ(ready.promised->replica, 1u);
  for (const Message& m : ready.messages) {
    EXPECT_FALSE(std::holds_alternative<Prepare>(m.body)) << "Prepare must wait for persistence";
  }
  size_t prepares = 0;
  for (const Message& m : ready.messages_after_persist) {
    prepares += std::holds_alternative<Prepare>(m.body) ? 1 : 0;
  }
  EXPECT_EQ(prepares, 2u);
}

TEST(Core, LeaderCountsItsOwnVoteOnlyOnceDurable) {
  Harness h(3);
  ReplicaId id = h.ElectLeader();
  ReplicaId follower_id = h.AnyOtherThan(id);
  Core& leader = h.core(id);
  ASSERT_EQ(leader.Propose({"x"}).status, ProposeResult::Status::kAccepted);
  Ready ready = leader.TakeReady();  // not yet durable
  ASSERT_EQ(ready.entries.size(), 1u);
  // Accept requests go out at once, without waiting for the leader's fsync.
  size_t accepts = 0;
  for (const Message& m : ready.messages) accepts += std::holds_alternative<Accept>(m.body);
  EXPECT_EQ(accepts, 2u);
  // One follower acknowledges: with only one durable vote there is no quorum.
  Message accept;
  for (const Message& m : ready.messages) {
    if (std::holds_alternative<Accept>(m.body) && m.to == follower_id) accept = m;
  }
  h.core(follower_id).Step(accept);
  Ready follower = h.core(follower_id).TakeReady();
  EXPECT_TRUE(follower.messages.empty()) << "Accepted must wait for the follower's persist";
  ASSERT_EQ(follower.messages_after_persist.size(), 1u);
  h.core(follower_id).Advance();
  leader.Step(follower.messages_after_persist[0]);
  EXPECT_EQ(leader.Status().chosen_point, 0u) << "own vote is not durable yet";
  leader.Advance();  // the leader's own write is durable now
  EXPECT_EQ(leader.Status().chosen_point, 1u);
}

TEST(Core, LeaderPushesBackWhenItsQueueIsFull) {
  CoreOptions options;
  options.window_slots = 1;
  options.max_batch_commands = 1;
  options.max_pending_commands = 3;
  Harness h(3, options);
  ReplicaId leader = h.ElectLeader();
  EXPECT_EQ(h.core(leader).Propose({"a", "b", "c"}).status, ProposeResult::Status::kAccepted);
  EXPECT_EQ(h.core(leader).Propose({"d", "e"}).status, ProposeResult::Status::kBusy);
}

// The queue's bytes are bounded too: a leader over max_pending_bytes refuses
// with kBusy (not proposed), and an empty queue takes any one call.
TEST(Core, LeaderPushesBackWhenItsQueuedBytesAreFull) {
  CoreOptions options;
  options.window_slots = 1;
  options.max_batch_commands = 1;
  options.max_pending_bytes = 10;
  Harness h(3, options);
  ReplicaId leader = h.ElectLeader();
  // The window holds one slot; what does not fit waits in the queue (4 or 8
  // bytes, depending on whether the window was free), so every refusal below
  // holds either way.
  EXPECT_EQ(h.core(leader).Propose({"xxxx"}).status, ProposeResult::Status::kAccepted);
  EXPECT_EQ(h.core(leader).Propose({"yyyy"}).status, ProposeResult::Status::kAccepted);
  EXPECT_EQ(h.core(leader).Propose({std::string(7, 'z')}).status, ProposeResult::Status::kBusy);
  EXPECT_EQ(h.core(leader).Propose({"w", "w"}).status, ProposeResult::Status::kAccepted);
  EXPECT_EQ(h.core(leader).Propose({std::string(5, 'v')}).status, ProposeResult::Status::kBusy);
  h.DeliverAll();  // everything queued is chosen: the queue is empty again
  EXPECT_EQ(h.core(leader).Status().pending_commands, 0u);
  EXPECT_EQ(h.core(leader).Propose({std::string(64, 'b')}).status,
            ProposeResult::Status::kAccepted);
  h.DeliverAll();
  for (Slot s = 1; s <= h.core(leader).Status().chosen_point; ++s) {
    ValuePtr value = h.core(leader).ChosenValue(s);
    ASSERT_NE(value, nullptr);
    for (const std::string& command : value->commands) {
      EXPECT_TRUE(command[0] != 'z' && command[0] != 'v') << "a refused command was proposed";
    }
  }
}

TEST(Core, RefusesBadConfiguration) {
  SplitMix64 random(1);
  EXPECT_THROW(Configuration({}), std::invalid_argument);
  EXPECT_THROW(Configuration({1, 1, 2}), std::invalid_argument);
  EXPECT_THROW(Configuration({0, 1, 2}), std::invalid_argument);
  EXPECT_THROW(Core(4, Configuration({1, 2, 3}), CoreOptions{}, random, {}, 0),
               std::invalid_argument);
  CoreOptions bad;
  bad.election_ticks = 2;
  EXPECT_THROW(Core(1, Configuration({1, 2, 3}), bad, random, {}, 0), std::invalid_argument);
}

TEST(Core, TakeReadyTwiceWithoutAdvanceIsAnInvariantViolation) {
  Harness h(1);
  h.ElectLeader();
  h.core(1).Propose({"a"});
  h.core(1).TakeReady();
  EXPECT_THROW(h.core(1).TakeReady(), InvariantViolation);
}

// Drains a lone core's Readies as if each were durable at once; returns them.
std::vector<Ready> DrainAll(Core& core) {
  std::vector<Ready> out;
  while (core.HasReady()) {
    out.push_back(core.TakeReady());
    core.Advance();
  }
  return out;
}

template <typename T>
std::vector<T> Sent(const std::vector<Ready>& readies) {
  std::vector<T> out;
  for (const Ready& ready : readies) {
    for (const auto* list : {&ready.messages, &ready.messages_after_persist}) {
      for (const Message& m : *list) {
        if (const T* body = std::get_if<T>(&m.body)) out.push_back(*body);
      }
    }
  }
  return out;
}

TEST(Core, CompactionIsReportedAndCompactedSlotsAreServedAsASnapshot) {
  SplitMix64 random(1);
  Core follower(2, Configuration({1, 2, 3}), CoreOptions{}, random, {}, 0);
  Ballot leader{1, 1};
  for (Slot slot = 1; slot <= 3; ++slot) {
    follower.Step(Message{1, 2, Accept{leader, slot, MakeCommandsValue({"c"}), 0}});
  }
  follower.Step(Message{1, 2, Heartbeat{leader, 3}});
  DrainAll(follower);
  ASSERT_EQ(follower.Status().delivered, 3u);

  follower.Compact(/*snapshot_slot=*/3, /*keep_tail=*/1);
  std::vector<Ready> readies = DrainAll(follower);
  ASSERT_EQ(readies.size(), 1u);
  EXPECT_EQ(readies[0].compact_through, std::optional<Slot>(2));
  EXPECT_EQ(follower.Status().compacted, 2u);
  EXPECT_EQ(follower.ChosenValue(1), nullptr) << "deleted";
  EXPECT_NE(follower.ChosenValue(3), nullptr) << "kept in the tail";

  // A lagging learner asking for deleted slots is told to take the snapshot.
  follower.Step(Message{3, 2, CatchupRequest{1, 3}});
  auto replies = Sent<CatchupReply>(DrainAll(follower));
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_TRUE(replies[0].entries.empty());
  EXPECT_EQ(replies[0].compacted, 3u) << "the snapshot covers slot 3";

  // A candidate learns where the log was compacted; it gets only live entries.
  Ballot candidate{2, 1};  // the live leader itself (stickiness refuses others)
  follower.Step(Message{1, 2, Prepare{candidate, 1}});
  auto promises = Sent<Promise>(DrainAll(follower));
  ASSERT_EQ(promises.size(), 1u);
  EXPECT_EQ(promises[0].compacted, 2u);
  ASSERT_EQ(promises[0].entries.size(), 1u);
  EXPECT_EQ(promises[0].entries[0].slot, 3u);

  // An Accept for a deleted slot is not acknowledged (nothing is stored); the
  // sender is told to install the snapshot instead.
  follower.Step(Message{1, 2, Accept{candidate, 1, NoopValue(), 0}});
  std::vector<Ready> after = DrainAll(follower);
  EXPECT_TRUE(Sent<Accepted>(after).empty());
  ASSERT_EQ(Sent<CatchupReply>(after).size(), 1u);
  for (const Ready& ready : after) EXPECT_TRUE(ready.entries.empty());
  EXPECT_THROW(follower.Compact(10, 0), InvariantViolation) << "not delivered yet";
}

TEST(Core, InstallsANewerSnapshotAndIgnoresAnOlderOne) {
  SplitMix64 random(1);
  Core follower(3, Configuration({1, 2, 3}), CoreOptions{}, random, {}, 0);
  follower.Step(Message{1, 3, CatchupReply{{}, 10}});
  std::vector<Ready> readies = DrainAll(follower);
  ASSERT_EQ(readies.size(), 1u);
  ASSERT_TRUE(readies[0].fetch_snapshot.has_value());
  EXPECT_EQ(readies[0].fetch_snapshot->from, 1u);
  EXPECT_EQ(readies[0].fetch_snapshot->at_least, 10u);

  ASSERT_TRUE(follower.InstallSnapshot(10));
  CoreStatus status = follower.Status();
  EXPECT_EQ(status.delivered, 10u);
  EXPECT_EQ(status.chosen_point, 10u);
  EXPECT_EQ(status.compacted, 10u);
  readies = DrainAll(follower);
  ASSERT_EQ(readies.size(), 1u);
  EXPECT_EQ(readies[0].compact_through, std::optional<Slot>(10));
  EXPECT_TRUE(readies[0].committed.empty()) << "the snapshot holds slots <= 10";

  EXPECT_FALSE(follower.InstallSnapshot(7)) << "older than the local state";
  EXPECT_FALSE(follower.InstallSnapshot(10));
  EXPECT_EQ(follower.Status().delivered, 10u);

  // The log continues after the snapshot.
  Ballot leader{1, 1};
  follower.Step(Message{1, 3, Accept{leader, 11, MakeCommandsValue({"x"}), 0}});
  follower.Step(Message{1, 3, Heartbeat{leader, 11}});
  readies = DrainAll(follower);
  std::vector<CommittedEntry> committed;
  for (const Ready& ready : readies) {
    committed.insert(committed.end(), ready.committed.begin(), ready.committed.end());
  }
  ASSERT_EQ(committed.size(), 1u);
  EXPECT_EQ(committed[0].slot, 11u);
}

// Found in review: a candidate that installs a snapshot (deleting its own
// accepts) before its phase 1 completes must not fill those chosen slots with
// no-ops when it becomes leader.
TEST(Core, SnapshotInstalledDuringCandidacyIsNotOverwrittenByNoops) {
  std::vector<ReplicaId> members{1, 2, 3};
  std::map<ReplicaId, std::unique_ptr<SplitMix64>> randoms;
  std::map<ReplicaId, std::unique_ptr<Core>> cores;
  std::map<ReplicaId, std::vector<CommittedEntry>> applied;
  for (ReplicaId id : {1u, 3u}) {
    randoms[id] = std::make_unique<SplitMix64>(id);
    cores[id] = std::make_unique<Core>(id, Configuration(members), CoreOptions{}, *randoms[id],
                                       DurableState{}, 0);
  }
  std::deque<Message> network;
  std::vector<Accept> new_leader_accepts;  // Accepts replica 1 sends in its own ballot
  auto process = [&](ReplicaId id) {
    Core& core = *cores[id];
    while (core.HasReady()) {
      Ready ready = core.TakeReady();
      for (auto& m : ready.messages) {
        const Accept* accept = std::get_if<Accept>(&m.body);
        if (id == 1 && accept != nullptr) new_leader_accepts.push_back(*accept);
        network.push_back(m);
      }
      for (auto& m : ready.messages_after_persist) network.push_back(m);
      for (auto& c : ready.committed) applied[id].push_back(c);
      core.Advance();
    }
  };
  // Leader 2 (ballot 1.2) gets v1 and v2 chosen with replica 1's votes;
  // replica 1 never hears the commit; replica 3 saw nothing.
  Ballot old_leader{1, 2};
  ValuePtr v1 = MakeCommandsValue({"v1"}), v2 = MakeCommandsValue({"v2"});
  ValuePtr v3 = MakeCommandsValue({"v3"});
  cores[1]->Step(Message{2, 1, Accept{old_leader, 1, v1, 0}});
  cores[1]->Step(Message{2, 1, Accept{old_leader, 2, v2, 0}});
  cores[1]->Step(Message{2, 1, Accept{old_leader, 3, v3, 0}});
  process(1);
  network.clear();
  for (int t = 0; t < 10; ++t) {
    cores[3]->Tick();
    process(3);
  }
  network.clear();
  bool installed = false;
  for (int t = 0; t < 2000 && cores[1]->Status().role != Role::kLeader; ++t) {
    cores[1]->Tick();
    process(1);
    for (int k = 0; k < 50 && !network.empty(); ++k) {
      Message m = network.front();
      network.pop_front();
      if (m.to == 2) continue;  // replica 2 is gone
      if (!installed && cores[1]->Status().role == Role::kCandidate) {
        // Replica 2's snapshot (slots <= 2) lands while replica 1 campaigns.
        ASSERT_TRUE(cores[1]->InstallSnapshot(2));
        installed = true;
        process(1);
      }
      cores[m.to]->Step(m);
      process(1);
      process(3);
    }
  }
  ASSERT_TRUE(installed);
  ASSERT_EQ(cores[1]->Status().role, Role::kLeader);
  for (int round = 0; round < 20; ++round) {
    while (!network.empty()) {
      Message m = network.front();
      network.pop_front();
      if (m.to != 2) cores[m.to]->Step(m);
      process(1);
      process(3);
    }
    cores[1]->Tick();
    process(1);
  }
  ASSERT_FALSE(new_leader_accepts.empty());
  for (const Accept& accept : new_leader_accepts) {
    EXPECT_GT(accept.slot, 2u) << "the new leader proposed in a slot chosen before (a no-op?)";
  }
  for (const CommittedEntry& entry : applied[3]) {
    EXPECT_GT(entry.slot, 2u) << "replica 3 gets slots 1-2 only from a snapshot";
  }
}

// Makes replica 1 of {1,2,3} a candidate (pre-vote granted by 2); returns its ballot.
Ballot MakeCandidate(Core& core) {
  for (int t = 0; t < 1000 && core.Status().role == Role::kFollower; ++t) {
    core.Tick();
    DrainAll(core);
  }
  core.Step(Message{2, 1, PreVoteReply{true, Ballot{}}});
  DrainAll(core);
  EXPECT_EQ(core.Status().role, Role::kCandidate);
  return core.Status().promised;
}

// With promises from {1, 3} and replica 3 compacted through 5, no quorum
// still holds slots 1-5: the candidate waits for replica 2, whose accepts
// there make them recoverable the usual way (found by the simulator with a
// replica left down for good: the leader otherwise waited for a snapshot
// only the dead replica had).
TEST(Core, CandidateWaitsForAPromiseThatClosesACompactionGap) {
  SplitMix64 random(1);
  Core candidate(1, Configuration({1, 2, 3}), CoreOptions{}, random, {}, 0);
  candidate.Step(Message{3, 1, Heartbeat{Ballot{1, 3}, 0}});  // an old leader: round 1
  DrainAll(candidate);
  Ballot ballot = MakeCandidate(candidate);
  ASSERT_GT(ballot, (Ballot{1, 3}));
  candidate.Step(Message{3, 1, Promise{ballot, 1, 1, false, 5, 5, {}}});
  DrainAll(candidate);
  EXPECT_EQ(candidate.Status().role, Role::kCandidate) << "slots 1-5 are held by no quorum yet";
  std::vector<SlotEntry> held;
  for (Slot slot = 1; slot <= 5; ++slot) {
    held.push_back(SlotEntry{slot, Entry{Ballot{1, 3}, MakeCommandsValue({"v"}), false}});
  }
  candidate.Step(Message{2, 1, Promise{ballot, 1, 6, false, 0, 0, held}});
  std::vector<Accept> accepts = Sent<Accept>(DrainAll(candidate));
  ASSERT_EQ(candidate.Status().role, Role::kLeader);
  std::set<Slot> slots;
  for (const Accept& accept : accepts) {
    slots.insert(accept.slot);
    EXPECT_FALSE(SameValue(accept.value, NoopValue())) << "slot " << accept.slot;
  }
  EXPECT_EQ(slots, (std::set<Slot>{1, 2, 3, 4, 5})) << "recovered from replica 2's reports";
}

TEST(Core, WithoutThatPromiseTheLeaderSkipsTheGapAndAsksForTheSnapshot) {
  SplitMix64 random(1);
  Core candidate(1, Configuration({1, 2, 3}), CoreOptions{}, random, {}, 0);
  Ballot ballot = MakeCandidate(candidate);
  candidate.Step(Message{3, 1, Promise{ballot, 1, 1, false, 5, 5, {}}});
  std::vector<Ready> readies = DrainAll(candidate);
  for (int t = 0; t < 100 && candidate.Status().role == Role::kCandidate; ++t) {
    candidate.Tick();
    for (Ready& ready : DrainAll(candidate)) readies.push_back(std::move(ready));
  }
  ASSERT_EQ(candidate.Status().role, Role::kLeader) << "waits a while, not forever";
  for (const Accept& accept : Sent<Accept>(readies)) EXPECT_GT(accept.slot, 5u);
  bool asked = false;
  for (const Message* m : [&] {
         std::vector<const Message*> all;
         for (const Ready& ready : readies)
           for (const Message& message : ready.messages) all.push_back(&message);
         return all;
       }()) {
    const CatchupRequest* request = std::get_if<CatchupRequest>(&m->body);
    if (request != nullptr && m->to == 3 && request->to_slot >= 5) asked = true;
  }
  EXPECT_TRUE(asked) << "asks replica 3 (which holds slots 1-5 in its snapshot)";
}

// Two operators read one configuration and derive changes from it: the
// second change, offered after the first was chosen, names the configuration
// it was derived from, so the leader refuses it instead of silently undoing
// the first (here: demoting the voter the first change promoted).
TEST(Core, RefusesAChangeDerivedFromAConfigurationNoLongerInEffect) {
  Harness h(3);
  ReplicaId leader = h.ElectLeader();
  ASSERT_NE(leader, kNoReplica);
  CoreStatus status = h.core(leader).Status();
  ReconfigureResult added = h.core(leader).ProposeConfiguration(
      status.config.WithLearner(4, "host4:1"), status.config_slot);
  ASSERT_EQ(added.status, ReconfigureResult::Status::kAccepted) << added.reason;
  h.DeliverAll();
  CoreStatus read = h.core(leader).Status();  // both operators read this one
  ASSERT_EQ(read.config_slot, added.slot);

  ReconfigureResult promoted =
      h.core(leader).ProposeConfiguration(read.config.WithPromoted(4), read.config_slot);
  ASSERT_EQ(promoted.status, ReconfigureResult::Status::kAccepted) << promoted.reason;
  h.DeliverAll();
  ASSERT_TRUE(h.core(leader).Status().config.IsVoter(4));

  ReconfigureResult stale =
      h.core(leader).ProposeConfiguration(read.config.WithLearner(5, "host5:1"), read.config_slot);
  EXPECT_EQ(stale.status, ReconfigureResult::Status::kInvalid);
  h.DeliverAll();
  EXPECT_TRUE(h.core(leader).Status().config.IsVoter(4)) << "the promotion was undone";
  EXPECT_FALSE(h.core(leader).Status().config.Contains(5));
}

// A snapshot installed during the candidacy brings a configuration in which
// two voters changed: the promises of {1, 2} meet a quorum of {1, 2, 3} but
// miss {4, 5} of {1, 4, 5}, so on winning phase 1 the candidate runs it
// again under the new configuration. It must not announce leadership in the
// ballot it only just raised (not durable yet, and it leads in no ballot).
TEST(Core, ACandidateThatMustRunPhase1AgainAnnouncesNoLeadership) {
  SplitMix64 random(1);
  Core candidate(1, Configuration({1, 2, 3}), CoreOptions{}, random, {}, 0);
  Ballot first = MakeCandidate(candidate);
  Configuration next({Member{1, MemberRole::kVoter, ""}, Member{4, MemberRole::kVoter, ""},
                      Member{5, MemberRole::kVoter, ""}},
                     {2, 3});
  ASSERT_TRUE(candidate.InstallSnapshot(5, ConfigAt{5, next}));
  DrainAll(candidate);
  ASSERT_EQ(candidate.Status().role, Role::kCandidate);
  candidate.Step(Message{2, 1, Promise{first, 1, 1, false, 0, 0, {}}});
  std::vector<Ready> readies = DrainAll(candidate);
  ASSERT_EQ(candidate.Status().role, Role::kCandidate) << "phase 1 again, under {1, 4, 5}";
  Ballot second = candidate.Status().promised;
  ASSERT_GT(second, first);
  for (const Heartbeat& heartbeat : Sent<Heartbeat>(readies)) {
    EXPECT_NE(heartbeat.ballot, second) << "announced leadership in a ballot still in phase 1";
  }
}

TEST(Configuration, MajorityQuorums) {
  EXPECT_EQ(Configuration({1, 2, 3}).QuorumSize(), 2u);
  EXPECT_EQ(Configuration({1, 2, 3, 4, 5}).QuorumSize(), 3u);
  EXPECT_EQ(Configuration({1, 2, 3, 4, 5, 6, 7}).QuorumSize(), 4u);
}

}  // namespace
}  // namespace synod::paxos
