// The TOY Ring election (see toy_ring.h). Teaching toy, not Synod code.
#include "tests/sim/lessons/toy_ring.h"

#include <algorithm>

namespace synod::sim::lessons {

void ToyRing::Tick(uint64_t now, std::vector<ToyMessage>& out) {
  // Hops whose ack did not come: skip that node.
  std::vector<Hop> late;
  for (auto it = hops_.begin(); it != hops_.end();) {
    if (now >= it->deadline) {
      late.push_back(*it);
      it = hops_.erase(it);
    } else {
      ++it;
    }
  }
  for (Hop& hop : late) Forward(hop.message, hop.message.to, now, out);

  if (leader_ == self_) {
    if (now >= next_heartbeat_) {
      for (NodeId id = 1; id <= nodes_; ++id) {
        if (id != self_) out.push_back({self_, id, ToyMessage::Kind::kHeartbeat});
      }
      next_heartbeat_ = now + timing_.heartbeat;
    }
    return;
  }
  if (now >= last_heard_ + timing_.leader_timeout) StartRound(now, out);
}

void ToyRing::Receive(const ToyMessage& message, uint64_t now, std::vector<ToyMessage>& out) {
  switch (message.kind) {
    case ToyMessage::Kind::kAck:
      std::erase_if(hops_, [&](const Hop& hop) { return hop.message.seq == message.seq; });
      return;
    case ToyMessage::Kind::kHeartbeat:
      if (message.from == leader_) {
        last_heard_ = now;
      } else if (now >= last_round_ + timing_.leader_timeout) {
        StartRound(now, out);  // another leader: elect again (at most once per timeout)
      }
      return;
    case ToyMessage::Kind::kElection: {
      ToyMessage ack{self_, message.from, ToyMessage::Kind::kAck};
      ack.seq = message.seq;
      out.push_back(ack);
      if (message.initiator == self_) {  // the round went around: announce its highest id
        NodeId winner = *std::max_element(message.ids.begin(), message.ids.end());
        Adopt(winner, now);
        ToyMessage coordinator{self_, 0, ToyMessage::Kind::kCoordinator};
        coordinator.leader = winner;
        coordinator.initiator = self_;
        coordinator.ids = {self_};
        Forward(coordinator, self_, now, out);
        return;
      }
      if (std::find(message.ids.begin(), message.ids.end(), self_) != message.ids.end()) {
        return;  // its initiator is gone: the round circles without it; drop it
      }
      ToyMessage next = message;
      next.ids.push_back(self_);
      Forward(next, self_, now, out);
      return;
    }
    case ToyMessage::Kind::kCoordinator: {
      ToyMessage ack{self_, message.from, ToyMessage::Kind::kAck};
      ack.seq = message.seq;
      out.push_back(ack);
      if (message.initiator == self_) return;  // went around
      Adopt(message.leader, now);
      if (std::find(message.ids.begin(), message.ids.end(), self_) != message.ids.end()) {
        return;  // its initiator is gone: stop the announcement circling
      }
      ToyMessage next = message;
      next.ids.push_back(self_);
      Forward(next, self_, now, out);
      return;
    }
    case ToyMessage::Kind::kAnswer:
      return;  // not used by Ring
  }
}

void ToyRing::StartRound(uint64_t now, std::vector<ToyMessage>& out) {
  last_round_ = now;
  last_heard_ = now;  // wait a full timeout before starting another round
  ToyMessage election{self_, 0, ToyMessage::Kind::kElection};
  election.initiator = self_;
  election.ids = {self_};
  Forward(election, self_, now, out);
}

void ToyRing::Forward(ToyMessage message, NodeId after, uint64_t now,
                      std::vector<ToyMessage>& out) {
  NodeId to = Next(after);
  if (to == self_) {  // every other node was skipped: the ring is this node alone
    if (message.kind == ToyMessage::Kind::kElection) {
      Adopt(*std::max_element(message.ids.begin(), message.ids.end()), now);
    }
    return;
  }
  message.from = self_;
  message.to = to;
  message.seq = (static_cast<uint64_t>(self_) << 40) | next_seq_++;
  hops_.push_back({message, now + timing_.ack_timeout});
  out.push_back(message);
}

void ToyRing::Adopt(NodeId leader, uint64_t now) {
  if (leader == self_) ++wins_;  // announced leader by a completed round
  leader_ = leader;
  last_heard_ = now;
}

}  // namespace synod::sim::lessons
