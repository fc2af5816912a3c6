// Directed tests of a leader that learns slots chosen without its own quorum
// (a snapshot install, a catch-up reply) while a newer leader it has not heard
// of yet chose other values there. Its commit point must never make an
// acceptor that holds the leader's own unchosen value mark it chosen.
//
// Sequence (5 replicas): leader A (ballot b1) proposes X at slot 1; only F
// accepts it. B, C, D elect B (b2 > b1) without A or F and choose Y at slot 1.
// A, not yet aware, learns slot 1 chosen from the B side (snapshot or
// catch-up), then speaks to F with ballot b1.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <variant>
#include <vector>

#include "paxos/core.h"

namespace synod::paxos {
namespace {

// Five cores with a hand-driven network: every Ready is durable at once, and
// each queued message is delivered or dropped by an explicit filter.
class Cluster {
 public:
  using Filter = std::function<bool(const Message&)>;

  Cluster() {
    for (ReplicaId id = 1; id <= 5; ++id) {
      randoms_[id] = std::make_unique<SplitMix64>(id);
      cores_[id] = std::make_unique<Core>(id, Configuration({1, 2, 3, 4, 5}), CoreOptions{},
                                          *randoms_[id], DurableState{}, 0);
    }
  }

  Core& core(ReplicaId id) { return *cores_.at(id); }

  void Process(ReplicaId id) {
    while (core(id).HasReady()) {
      Ready ready = core(id).TakeReady();
      for (Message& m : ready.messages) network_.push_back(std::move(m));
      for (Message& m : ready.messages_after_persist) network_.push_back(std::move(m));
      for (CommittedEntry& c : ready.committed) applied_[id].push_back(std::move(c));
      core(id).Advance();
    }
  }

  // Delivers queued messages that `deliver` accepts and drops the others,
  // until nothing is queued.
  void Run(const Filter& deliver) {
    for (int guard = 0; guard < 100000; ++guard) {
      for (auto& [id, core] : cores_) Process(id);
      if (network_.empty()) return;
      Message m = network_.front();
      network_.erase(network_.begin());
      if (deliver(m)) core(m.to).Step(m);
    }
    FAIL() << "network did not quiesce";
  }

  // Ticks `group` (delivering only within it) until one of them leads.
  ReplicaId ElectWithin(const std::vector<ReplicaId>& group) {
    auto inside = [&](const Message& m) {
      return std::count(group.begin(), group.end(), m.from) > 0 &&
             std::count(group.begin(), group.end(), m.to) > 0;
    };
    for (int i = 0; i < 500; ++i) {
      for (ReplicaId id : group) core(id).Tick();
      Run(inside);
      for (ReplicaId id : group) {
        if (core(id).Status().role == Role::kLeader) return id;
      }
    }
    ADD_FAILURE() << "no leader elected";
    return kNoReplica;
  }

  // What `id` applied at `slot`, or null.
  ValuePtr AppliedAt(ReplicaId id, Slot slot) const {
    auto it = applied_.find(id);
    if (it == applied_.end()) return nullptr;
    for (const CommittedEntry& c : it->second) {
      if (c.slot == slot) return c.value;
    }
    return nullptr;
  }

  std::map<ReplicaId, std::unique_ptr<SplitMix64>> randoms_;
  std::map<ReplicaId, std::unique_ptr<Core>> cores_;
  std::vector<Message> network_;
  std::map<ReplicaId, std::vector<CommittedEntry>> applied_;
};

Cluster::Filter Between(ReplicaId a, ReplicaId b) {
  return
      [a, b](const Message& m) { return (m.from == a && m.to == b) || (m.from == b && m.to == a); };
}

// Builds the sequence up to the point where A must learn slot 1 from the B
// side: A leads in b1 and holds X (accepted by F only) at slot 1; the others
// elected a leader in a higher ballot and chose Y at slot 1.
struct Deposed {
  Cluster cluster;
  ReplicaId a = kNoReplica;
  ReplicaId f = kNoReplica;
  ReplicaId b = kNoReplica;
  std::vector<ReplicaId> majority;  // b's side: never hears a or f
  ValuePtr x = MakeCommandsValue({"X"});
  ValuePtr y = MakeCommandsValue({"Y"});

  Deposed() {
    a = cluster.ElectWithin({1, 2, 3, 4, 5});
    for (ReplicaId id = 1; id <= 5; ++id) {
      if (id == a) continue;
      if (f == kNoReplica) {
        f = id;
      } else {
        majority.push_back(id);
      }
    }
    EXPECT_EQ(cluster.core(a).Propose({"X"}).status, ProposeResult::Status::kAccepted);
    cluster.Run(Between(a, f));  // only F hears the Accept of X
    EXPECT_EQ(cluster.core(a).Status().chosen_point, 0u) << "X is not chosen (2 of 5)";
    EXPECT_EQ(cluster.core(f).Status().last_slot, 1u);

    b = cluster.ElectWithin(majority);
    EXPECT_GT(cluster.core(b).Status().promised, cluster.core(a).Status().promised);
    EXPECT_EQ(cluster.core(b).Propose({"Y"}).status, ProposeResult::Status::kAccepted);
    auto inside = [this](const Message& m) {
      return std::count(majority.begin(), majority.end(), m.from) > 0 &&
             std::count(majority.begin(), majority.end(), m.to) > 0;
    };
    cluster.Run(inside);
    for (int i = 0; i < 4; ++i) {  // heartbeats spread the commit point
      for (ReplicaId id : majority) cluster.core(id).Tick();
      cluster.Run(inside);
    }
    for (ReplicaId id : majority) {
      EXPECT_TRUE(SameValue(cluster.AppliedAt(id, 1), y)) << "replica " << id;
    }
    EXPECT_EQ(cluster.core(a).Status().role, Role::kLeader) << "A has not noticed yet";
  }

  // A ticks (its heartbeats reach only F) for a few heartbeat periods, short
  // of a check-quorum period.
  void ATalksToF() {
    for (int i = 0; i < 6; ++i) {
      cluster.core(a).Tick();
      cluster.Run(Between(a, f));
    }
  }

  // F applies Y at slot 1 once every link is healed.
  void HealAndExpectFAppliesY() {
    for (int i = 0; i < 200 && cluster.AppliedAt(f, 1) == nullptr; ++i) {
      for (ReplicaId id = 1; id <= 5; ++id) cluster.core(id).Tick();
      cluster.Run([](const Message&) { return true; });
    }
    ASSERT_NE(cluster.AppliedAt(f, 1), nullptr);
    EXPECT_TRUE(SameValue(cluster.AppliedAt(f, 1), y));
  }
};

TEST(DeposedLeader, SnapshotInstallDoesNotMakeAFollowerLearnItsUnchosenValue) {
  Deposed d;
  // The runtime fetched a B-side replica's latest snapshot (covering slot 1)
  // and installed it while A still leads in b1.
  ASSERT_TRUE(d.cluster.core(d.a).InstallSnapshot(1));
  d.cluster.Process(d.a);
  d.ATalksToF();
  ValuePtr at_f = d.cluster.AppliedAt(d.f, 1);
  EXPECT_TRUE(at_f == nullptr || SameValue(at_f, d.y))
      << "F applied " << (at_f && SameValue(at_f, d.x) ? "X" : "?")
      << " at slot 1, but Y was chosen there";
  EXPECT_STRNE(RoleName(d.cluster.core(d.a).Status().role), "leader")
      << "a snapshot covered a slot A proposed but never saw chosen: A steps down";
  d.HealAndExpectFAppliesY();
}

TEST(DeposedLeader, CatchupOfAnotherValueDoesNotMakeAFollowerLearnItsUnchosenValue) {
  Deposed d;
  // A B-side replica answers A (e.g. a catch-up request from before A led)
  // with Y at slot 1.
  d.cluster.core(d.a).Step(Message{d.majority[0], d.a, CatchupReply{{{1, d.y}}, 0}});
  d.cluster.Process(d.a);
  d.ATalksToF();
  ValuePtr at_f = d.cluster.AppliedAt(d.f, 1);
  EXPECT_TRUE(at_f == nullptr || SameValue(at_f, d.y))
      << "F applied " << (at_f && SameValue(at_f, d.x) ? "X" : "?")
      << " at slot 1, but Y was chosen there";
  EXPECT_STRNE(RoleName(d.cluster.core(d.a).Status().role), "leader")
      << "another value was chosen where A proposed: A was deposed and steps down";
  d.HealAndExpectFAppliesY();
}

// The guard costs nothing when the value learned from elsewhere is the
// leader's own: it keeps leading and its commit point covers the slot.
TEST(DeposedLeader, CatchupOfItsOwnValueKeepsTheLeader) {
  Cluster cluster;
  ReplicaId a = cluster.ElectWithin({1, 2, 3, 4, 5});
  ReplicaId f = a == 1 ? 2 : 1;
  ASSERT_EQ(cluster.core(a).Propose({"X"}).status, ProposeResult::Status::kAccepted);
  // Everyone accepts X (so it is chosen) but A hears none of the Accepted
  // replies; another replica that learned X chosen sends it to A.
  cluster.Run([a](const Message& m) { return m.from == a; });
  EXPECT_EQ(cluster.core(a).Status().chosen_point, 0u);
  ReplicaId other = f == 2 ? 3 : 2;
  if (other == a) other = 4;
  cluster.core(a).Step(Message{other, a, CatchupReply{{{1, MakeCommandsValue({"X"})}}, 0}});
  cluster.Process(a);
  EXPECT_EQ(cluster.core(a).Status().role, Role::kLeader);
  EXPECT_EQ(cluster.core(a).Status().chosen_point, 1u);
  for (int i = 0; i < 4; ++i) {
    cluster.core(a).Tick();
    cluster.Run(Between(a, f));
  }
  ASSERT_NE(cluster.AppliedAt(f, 1), nullptr);
  EXPECT_TRUE(SameValue(cluster.AppliedAt(f, 1), MakeCommandsValue({"X"})));
}

// An idle leader (nothing in flight) learns from a catch-up reply that a slot
// at its next proposal slot is chosen: a newer leader chose it. It must not
// propose over that slot in its old ballot (its entry would claim its own
// value chosen there, and its commit point would make a follower apply it).
TEST(DeposedLeader, IdleLeaderCatchupAtItsNextSlotThenPropose) {
  Cluster c;
  ReplicaId a = c.ElectWithin({1, 2, 3, 4, 5});
  std::vector<ReplicaId> others;
  for (ReplicaId id = 1; id <= 5; ++id) {
    if (id != a) others.push_back(id);
  }
  ReplicaId f = others[0];
  std::vector<ReplicaId> majority(others.begin() + 1, others.end());
  ReplicaId b = c.ElectWithin(majority);
  ASSERT_EQ(c.core(b).Propose({"Y"}).status, ProposeResult::Status::kAccepted);
  auto inside = [&](const Message& m) {
    return std::count(majority.begin(), majority.end(), m.from) > 0 &&
           std::count(majority.begin(), majority.end(), m.to) > 0;
  };
  c.Run(inside);
  for (int i = 0; i < 4; ++i) {
    for (ReplicaId id : majority) c.core(id).Tick();
    c.Run(inside);
  }
  ValuePtr y = MakeCommandsValue({"Y"});
  ASSERT_TRUE(SameValue(c.AppliedAt(b, 1), y));
  ASSERT_EQ(c.core(a).Status().role, Role::kLeader);
  c.core(a).Step(Message{majority[0], a, CatchupReply{{{1, y}}, 0}});
  c.Process(a);
  EXPECT_STRNE(RoleName(c.core(a).Status().role), "leader")
      << "a slot at or above A's next proposal slot is chosen: a newer leader chose it";
  if (c.core(a).Status().role == Role::kLeader) {
    EXPECT_EQ(c.core(a).Propose({"X"}).status, ProposeResult::Status::kAccepted);
    c.Process(a);
    EXPECT_TRUE(SameValue(c.core(a).ChosenValue(1), y))
        << "A's log now says slot 1 is chosen with X";
    for (int i = 0; i < 6; ++i) {
      c.core(a).Tick();
      c.Run(Between(a, f));
    }
    ValuePtr at_f = c.AppliedAt(f, 1);
    EXPECT_TRUE(at_f == nullptr || SameValue(at_f, y)) << "F applied X at slot 1; Y was chosen";
  }
}

// A new leader re-proposes a slot that a promiser reported marked chosen: it
// learns the slot chosen at once, so a peer's snapshot covering that slot,
// installed before its own Accepts are answered, does not make it step down.
TEST(DeposedLeader, ReportedChosenSlotCoveredBySnapshotKeepsTheNewLeader) {
  bool ran = false;
  std::vector<ReplicaId> ids{1, 2, 3, 4, 5};
  for (size_t pick = 0; pick < 4 && !ran; ++pick) {
    Cluster c;
    ReplicaId a = c.ElectWithin(ids);
    std::vector<ReplicaId> others;
    for (ReplicaId id : ids) {
      if (id != a) others.push_back(id);
    }
    ASSERT_EQ(c.core(a).Propose({"X"}).status, ProposeResult::Status::kAccepted);
    c.Run([](const Message&) { return true; });  // everyone accepts X; A learns it chosen
    ASSERT_EQ(c.core(a).Status().chosen_point, 1u);
    // Only `marked` hears A's commit point (and marks slot 1 chosen).
    ReplicaId marked = others[pick];
    for (int i = 0; i < 6; ++i) {
      c.core(a).Tick();
      c.Run(Between(a, marked));
    }
    ASSERT_EQ(c.core(marked).Status().chosen_point, 1u);
    // `marked` and two others (a quorum of 5, so every promise counts) elect
    // a leader; no Accept is delivered, so it gets no votes for slot 1.
    std::vector<ReplicaId> group{marked};
    for (ReplicaId id : others) {
      if (id != marked && group.size() < 3) group.push_back(id);
    }
    auto inside_no_accepts = [&](const Message& m) {
      return std::count(group.begin(), group.end(), m.from) > 0 &&
             std::count(group.begin(), group.end(), m.to) > 0 &&
             !std::holds_alternative<Accept>(m.body);
    };
    ReplicaId w = kNoReplica;
    for (int i = 0; i < 500 && w == kNoReplica; ++i) {
      for (ReplicaId id : group) c.core(id).Tick();
      c.Run(inside_no_accepts);
      for (ReplicaId id : group) {
        if (c.core(id).Status().role == Role::kLeader) w = id;
      }
    }
    ASSERT_NE(w, kNoReplica);
    if (w == marked) continue;  // the winner knew slot 1 chosen already: try another
    ran = true;
    EXPECT_EQ(c.core(w).Status().chosen_point, 1u) << "a promiser reported slot 1 chosen";
    ValuePtr at_1 = c.core(w).ChosenValue(1);
    EXPECT_TRUE(at_1 != nullptr && SameValue(at_1, MakeCommandsValue({"X"})));
    // The runtime installs `marked`'s snapshot covering slot 1 (ignored if
    // the leader delivered slot 1 already).
    c.core(w).InstallSnapshot(1);
    c.Process(w);
    EXPECT_EQ(c.core(w).Status().role, Role::kLeader)
        << "slot 1 was known chosen with the leader's value: nothing to step down for";
    ASSERT_EQ(c.core(w).Propose({"Z"}).status, ProposeResult::Status::kAccepted);
    auto inside = [&](const Message& m) {
      return std::count(group.begin(), group.end(), m.from) > 0 &&
             std::count(group.begin(), group.end(), m.to) > 0;
    };
    for (int i = 0; i < 4; ++i) {
      for (ReplicaId id : group) c.core(id).Tick();
      c.Run(inside);
    }
    EXPECT_EQ(c.core(w).Status().chosen_point, 2u);
  }
  EXPECT_TRUE(ran) << "the replica that knew slot 1 chosen won every election";
}

}  // namespace
}  // namespace synod::paxos
