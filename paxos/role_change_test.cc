// Role changes the proposer makes outside Step and Tick (Core::InstallSnapshot,
// Core::Propose, Core::Advance, ...) go through the same election bookkeeping
// as those inputs: a leader that a newly effective configuration sends back to
// phase 1 gets a full election timeout for its new candidacy.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <set>
#include <vector>

#include "paxos/core.h"

namespace synod::paxos {
namespace {

// Always the same value: Uniform(lo, hi) is lo + value % (hi - lo), so each
// replica's election timeout is fixed by the test.
class FixedRandom final : public RandomSource {
 public:
  explicit FixedRandom(uint64_t value) : value_(value) {}
  uint64_t Next() override { return value_; }

 private:
  uint64_t value_;
};

// Cores on a FIFO network that persists every Ready at once. Replicas in
// `down_` neither tick nor receive; Prepares are dropped while
// `drop_prepares_` is set.
class Cluster {
 public:
  // `timeout_offset[id]`: replica id's election timeout is election_ticks + it.
  Cluster(Configuration config, std::map<ReplicaId, uint64_t> timeout_offset) {
    for (ReplicaId id : config.members()) {
      randoms_[id] = std::make_unique<FixedRandom>(timeout_offset[id]);
      cores_[id] = std::make_unique<Core>(id, ConfigAt{0, config}, CoreOptions{}, *randoms_[id],
                                          DurableState{}, 0);
    }
  }

  Core& core(ReplicaId id) { return *cores_.at(id); }

  void Process(ReplicaId id) {
    while (core(id).HasReady()) {
      Ready ready = core(id).TakeReady();
      for (auto* list : {&ready.messages, &ready.messages_after_persist}) {
        for (Message& m : *list) {
          if (!cores_.contains(m.to) || down_.contains(m.to)) continue;
          if (drop_prepares_ && std::holds_alternative<Prepare>(m.body)) continue;
          network_.push_back(std::move(m));
        }
      }
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

  std::map<ReplicaId, std::unique_ptr<FixedRandom>> randoms_;
  std::map<ReplicaId, std::unique_ptr<Core>> cores_;
  std::vector<Message> network_;
  std::set<ReplicaId> down_;
  bool drop_prepares_ = false;
};

// Replica 1 of {1, 2, 3} leads with the promises of {1, 2} (3 is down), after
// a candidacy that lasted `candidacy_ticks` ticks (its Prepares were lost
// until then).
void ElectOneAfterLongCandidacy(Cluster& c, uint32_t candidacy_ticks) {
  const uint32_t election_ticks = CoreOptions{}.election_ticks;
  c.down_ = {3};
  // Replica 1 times out first; its pre-vote succeeds at once, its Prepares are lost.
  c.drop_prepares_ = true;
  for (uint32_t i = 0; i < election_ticks; ++i) c.TickAll();
  ASSERT_EQ(c.core(1).Status().role, Role::kCandidate);
  for (uint32_t i = 1; i < candidacy_ticks; ++i) c.TickAll();
  ASSERT_EQ(c.core(1).Status().role, Role::kCandidate);
  c.drop_prepares_ = false;
  c.TickAll();  // the candidate retransmits its Prepares (candidacy_ticks is even)
  ASSERT_EQ(c.core(1).Status().role, Role::kLeader);
}

// The replica a newly effective configuration sends back to phase 1 must get
// a whole election timeout (>= election_ticks) to gather promises, as any
// candidacy does: whatever the path that sent it there.
void ExpectFullCandidacy(Cluster& c) {
  ASSERT_EQ(c.core(1).Status().role, Role::kCandidate);
  const uint32_t election_ticks = CoreOptions{}.election_ticks;
  for (uint32_t i = 1; i < election_ticks; ++i) {
    c.core(1).Tick();
    c.DeliverAll();
    ASSERT_EQ(c.core(1).Status().role, Role::kCandidate)
        << "candidacy abandoned after " << i << " ticks, before an election timeout ("
        << election_ticks << " ticks)";
  }
}

// Replica 1 times out after election_ticks, replicas 2 and 3 only after
// 2 * election_ticks - 1; replica 1's candidacy took 8 of its 10 ticks.
std::map<ReplicaId, uint64_t> Timeouts() { return {{1, 0}, {2, 9}, {3, 9}}; }

TEST(RoleChange, LeaderSentBackToPhase1ByInstallSnapshotGetsAFullElectionTimeout) {
  Cluster c(Configuration({1, 2, 3}), Timeouts());
  ElectOneAfterLongCandidacy(c, 8);
  // A snapshot (say, of a leader of a higher ballot this leader did not hear
  // of) holds a configuration in effect whose voters 3 and 4 never promised
  // to this leader: it must run phase 1 again under it.
  Slot snapshot = c.core(1).Status().delivered + 10;
  ASSERT_TRUE(
      c.core(1).InstallSnapshot(snapshot, ConfigAt{snapshot - 1, Configuration({1, 3, 4})}));
  ASSERT_EQ(c.core(1).Status().role, Role::kCandidate);
  c.DeliverAll();
  ExpectFullCandidacy(c);
}

// Voters {1, 3, 4}: two voters changed, so the promises of {1, 2} miss a quorum ({3, 4}).
Configuration TwoVotersChanged() {
  return Configuration({1, 2, 3}).WithRemoved(2).WithLearner(4, "r4").WithPromoted(4);
}

TEST(RoleChange, LeaderSentBackToPhase1ByProposeGetsAFullElectionTimeout) {
  Cluster c(Configuration({1, 2, 3}), Timeouts());
  ElectOneAfterLongCandidacy(c, 8);
  ReconfigureResult change =
      c.core(1).ProposeConfiguration(TwoVotersChanged(), c.core(1).Status().config_slot);
  ASSERT_EQ(change.status, ReconfigureResult::Status::kAccepted) << change.reason;
  // A catch-up reply says the change is chosen before this leader counted a
  // quorum for it: it takes effect, and nothing reacts until the next
  // proposal, which must send the leader back to phase 1.
  CatchupReply reply;
  reply.entries.push_back(
      CommittedEntry{change.slot, MakeConfigurationValue(0, TwoVotersChanged())});
  c.core(1).Step(Message{2, 1, reply});
  ASSERT_EQ(c.core(1).Status().config_slot, change.slot);
  ASSERT_EQ(c.core(1).Status().role, Role::kLeader);
  c.core(1).Propose({"x"});
  ASSERT_EQ(c.core(1).Status().role, Role::kCandidate);
  c.DeliverAll();
  ExpectFullCandidacy(c);
}

TEST(RoleChange, LeaderSentBackToPhase1ByAdvanceGetsAFullElectionTimeout) {
  Cluster c(Configuration({1, 2, 3}), Timeouts());
  ElectOneAfterLongCandidacy(c, 8);
  ReconfigureResult change =
      c.core(1).ProposeConfiguration(TwoVotersChanged(), c.core(1).Status().config_slot);
  ASSERT_EQ(change.status, ReconfigureResult::Status::kAccepted) << change.reason;
  // Replica 2 accepts before the leader's own accept is durable: the
  // leader's own vote (counted in Advance) completes the quorum, the change
  // takes effect and the leader must run phase 1 again.
  Ready ready = c.core(1).TakeReady();
  for (Message& m : ready.messages) {
    if (m.to == 2) c.core(2).Step(m);
  }
  Ready reply = c.core(2).TakeReady();
  for (Message& m : reply.messages_after_persist) {
    if (m.to == 1) c.core(1).Step(m);
  }
  c.core(2).Advance();
  ASSERT_EQ(c.core(1).Status().role, Role::kLeader);
  c.core(1).Advance();
  ASSERT_EQ(c.core(1).Status().config_slot, change.slot);
  ASSERT_EQ(c.core(1).Status().role, Role::kCandidate);
  c.DeliverAll();
  ExpectFullCandidacy(c);
}

}  // namespace
}  // namespace synod::paxos
