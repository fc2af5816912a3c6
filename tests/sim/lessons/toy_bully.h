// ToyBully: a TOY of the Bully election algorithm (Garcia-Molina, 1982), for
// the election lessons only; not part of Synod.
//
// The highest live id wins: a node that misses its leader's heartbeats sends
// Election to every higher id; if none answers within answer_timeout it
// announces itself (Coordinator to all) and leads; if one answers it waits
// for that node's Coordinator (and elects again if none comes). A node that
// receives Election from a lower id answers it and elects itself; a node that
// hears a lower id claim leadership elects itself too (it bullies). The
// leader's periodic Coordinator is its heartbeat. Nothing here bounds how many
// nodes believe they lead: under a split each side elects its own highest id.
#pragma once

#include "tests/sim/lessons/toy_node.h"

namespace synod::sim::lessons {

class ToyBully final : public ToyNode {
 public:
  ToyBully(NodeId self, uint32_t nodes, ToyTiming timing)
      : self_(self), nodes_(nodes), timing_(timing) {}

  void Tick(uint64_t now, std::vector<ToyMessage>& out) override;
  void Receive(const ToyMessage& message, uint64_t now, std::vector<ToyMessage>& out) override;
  bool Leads() const override { return leader_ == self_; }
  uint64_t wins() const override { return wins_; }
  NodeId leader() const { return leader_; }

 private:
  void StartElection(uint64_t now, std::vector<ToyMessage>& out);
  void BecomeLeader(uint64_t now, std::vector<ToyMessage>& out);
  void Announce(std::vector<ToyMessage>& out) const;

  NodeId self_;
  uint32_t nodes_;
  ToyTiming timing_;
  NodeId leader_ = 0;
  uint64_t wins_ = 0;
  uint64_t last_heard_ = 0;  // last tick the leader was heard (or an election began)
  uint64_t next_heartbeat_ = 0;
  bool electing_ = false;
  bool answered_ = false;  // a higher node answered this election
  uint64_t deadline_ = 0;  // answer or coordinator deadline of the election
};

}  // namespace synod::sim::lessons
