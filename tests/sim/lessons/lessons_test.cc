// Unit tests of the election lessons' parts: the TOY Bully and Ring
// protocols on a perfect and on a split network, the shared register's
// counts and fencing, and the determinism of schedules and the table.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <sstream>

#include "tests/sim/lessons/fault_schedule.h"
#include "tests/sim/lessons/lessons_table.h"
#include "tests/sim/lessons/shared_register.h"
#include "tests/sim/lessons/toy_bully.h"
#include "tests/sim/lessons/toy_ring.h"

namespace synod::sim::lessons {
namespace {

// Runs toy nodes for `ticks` with one-tick delivery; `cut(from, to)` drops a message.
template <class Toy>
std::vector<std::unique_ptr<Toy>> RunToys(uint32_t n, uint64_t ticks,
                                          std::function<bool(NodeId, NodeId)> cut) {
  std::vector<std::unique_ptr<Toy>> nodes(n + 1);
  for (NodeId id = 1; id <= n; ++id) nodes[id] = std::make_unique<Toy>(id, n, ToyTiming{});
  std::vector<ToyMessage> in_flight, out;
  for (uint64_t now = 0; now < ticks; ++now) {
    std::vector<ToyMessage> deliver = std::move(in_flight);
    in_flight.clear();
    for (const ToyMessage& message : deliver) nodes[message.to]->Receive(message, now, out);
    for (NodeId id = 1; id <= n; ++id) nodes[id]->Tick(now, out);
    for (ToyMessage& message : out) {
      if (!cut(message.from, message.to)) in_flight.push_back(std::move(message));
    }
    out.clear();
  }
  return nodes;
}

bool NoCut(NodeId, NodeId) { return false; }
// Sides {1, 2} and {3, 4, 5}.
bool Split(NodeId from, NodeId to) { return (from <= 2) != (to <= 2); }

template <class Toy>
std::vector<NodeId> Leaders(const std::vector<std::unique_ptr<Toy>>& nodes) {
  std::vector<NodeId> leaders;
  for (NodeId id = 1; id < nodes.size(); ++id) {
    if (nodes[id]->Leads()) leaders.push_back(id);
  }
  return leaders;
}

TEST(ToyBully, HighestIdLeadsOnAPerfectNetwork) {
  auto nodes = RunToys<ToyBully>(5, 100, NoCut);
  EXPECT_EQ(Leaders(nodes), std::vector<NodeId>{5});
  for (NodeId id = 1; id <= 5; ++id) EXPECT_EQ(nodes[id]->leader(), 5u) << id;
}

TEST(ToyBully, EachSideOfASplitElectsItsOwnLeader) {
  auto nodes = RunToys<ToyBully>(5, 100, Split);
  EXPECT_EQ(Leaders(nodes), (std::vector<NodeId>{2, 5}));
}

TEST(ToyRing, HighestIdLeadsOnAPerfectNetwork) {
  auto nodes = RunToys<ToyRing>(5, 100, NoCut);
  EXPECT_EQ(Leaders(nodes), std::vector<NodeId>{5});
  for (NodeId id = 1; id <= 5; ++id) EXPECT_EQ(nodes[id]->leader(), 5u) << id;
}

TEST(ToyRing, EachSideOfASplitElectsItsOwnLeader) {
  auto nodes = RunToys<ToyRing>(5, 200, Split);
  EXPECT_EQ(Leaders(nodes), (std::vector<NodeId>{2, 5}));
}

TEST(SharedRegister, CountsAStaleLeadersWriteAsConflicting) {
  SharedRegister shared(/*fencing=*/false);
  EXPECT_TRUE(shared.Write({1, 1, 0}));
  EXPECT_TRUE(shared.Write({2, 2, 0}));  // a newer leader: not a conflict
  EXPECT_TRUE(shared.Write({1, 1, 0}));  // the older one again: conflict
  EXPECT_TRUE(shared.Write({2, 2, 0}));
  EXPECT_EQ(shared.accepted(), 4u);
  EXPECT_EQ(shared.conflicting(), 1u);
  EXPECT_EQ(shared.refused(), 0u);
}

TEST(SharedRegister, FencingRefusesALowerToken) {
  SharedRegister shared(/*fencing=*/true);
  EXPECT_TRUE(shared.Write({1, 1, 1}));
  EXPECT_TRUE(shared.Write({2, 2, 2}));
  EXPECT_FALSE(shared.Write({1, 1, 1}));
  EXPECT_TRUE(shared.Write({2, 2, 2}));  // the same term writes on
  EXPECT_EQ(shared.accepted(), 3u);
  EXPECT_EQ(shared.refused(), 1u);
  EXPECT_EQ(shared.conflicting(), 0u);
}

TEST(FaultSchedule, IsDeterministicAndSplitsTwoAgainstThree) {
  for (uint64_t seed = 1; seed <= 50; ++seed) {
    FaultSchedule a = MakeFaultSchedule(FaultKind::kSplit, seed, 5, 800);
    FaultSchedule b = MakeFaultSchedule(FaultKind::kSplit, seed, 5, 800);
    EXPECT_EQ(a.start, b.start);
    EXPECT_EQ(a.side_a, b.side_a);
    EXPECT_EQ(std::count(a.side_a.begin(), a.side_a.end(), true), 2);
    EXPECT_GE(a.start, 150u);
    EXPECT_LT(a.end, 800u);
    EXPECT_GE(a.loss, 0.7);
    EXPECT_LE(a.loss, 1.0);
  }
}

TEST(LessonsTable, SameSeedsGiveTheSameTable) {
  LessonsSetup setup;
  std::ostringstream first, second;
  PrintTsv(RunLessons(7, 2, setup), first);
  PrintTsv(RunLessons(7, 2, setup), second);
  EXPECT_EQ(first.str(), second.str());
}

}  // namespace
}  // namespace synod::sim::lessons
