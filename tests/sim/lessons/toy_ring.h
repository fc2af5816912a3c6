// ToyRing: a TOY of the Ring election algorithm (LeLann 1977, Chang and
// Roberts 1979, with the skip-a-dead-successor rule of the textbook version),
// for the election lessons only; not part of Synod.
//
// Nodes sit on a ring 1 -> 2 -> ... -> n -> 1. A node that misses its leader's
// heartbeats starts a round: an Election message travels the ring, each node
// adding its id; every hop waits ack_timeout for the receiver's Ack and
// otherwise skips to the next node. Back at its initiator the round's highest
// id is the leader; a Coordinator message then travels the ring the same way
// and every node it reaches adopts that leader. A node that hears heartbeats
// from a leader other than its own starts a round (so two rings merge after a
// partition heals). As with Bully, a split gives each side its own leader.
#pragma once

#include <optional>

#include "tests/sim/lessons/toy_node.h"

namespace synod::sim::lessons {

class ToyRing final : public ToyNode {
 public:
  ToyRing(NodeId self, uint32_t nodes, ToyTiming timing)
      : self_(self), nodes_(nodes), timing_(timing) {}

  void Tick(uint64_t now, std::vector<ToyMessage>& out) override;
  void Receive(const ToyMessage& message, uint64_t now, std::vector<ToyMessage>& out) override;
  bool Leads() const override { return leader_ == self_; }
  uint64_t wins() const override { return wins_; }
  NodeId leader() const { return leader_; }

 private:
  // A ring message waiting for its hop's ack.
  struct Hop {
    ToyMessage message;
    uint64_t deadline = 0;
  };
  void StartRound(uint64_t now, std::vector<ToyMessage>& out);
  // Sends `message` to the ring successor after `after` (skipping as acks fail).
  void Forward(ToyMessage message, NodeId after, uint64_t now, std::vector<ToyMessage>& out);
  void Adopt(NodeId leader, uint64_t now);
  NodeId Next(NodeId id) const { return id % nodes_ + 1; }

  NodeId self_;
  uint32_t nodes_;
  ToyTiming timing_;
  NodeId leader_ = 0;
  uint64_t wins_ = 0;
  uint64_t last_heard_ = 0;
  uint64_t last_round_ = 0;  // when this node last started a round
  uint64_t next_heartbeat_ = 0;
  uint64_t next_seq_ = 1;
  std::vector<Hop> hops_;  // sent, not yet acknowledged
};

}  // namespace synod::sim::lessons
