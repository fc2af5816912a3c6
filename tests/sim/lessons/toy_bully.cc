// The TOY Bully election (see toy_bully.h). Teaching toy, not Synod code.
#include "tests/sim/lessons/toy_bully.h"

namespace synod::sim::lessons {

void ToyBully::Tick(uint64_t now, std::vector<ToyMessage>& out) {
  if (electing_) {
    if (!answered_ && now >= deadline_) {
      BecomeLeader(now, out);
    } else if (answered_ && now >= deadline_) {
      StartElection(now, out);  // the higher node never announced itself
    }
    return;
  }
  if (leader_ == self_) {
    if (now >= next_heartbeat_) {
      Announce(out);
      next_heartbeat_ = now + timing_.heartbeat;
    }
    return;
  }
  if (now >= last_heard_ + timing_.leader_timeout) StartElection(now, out);
}

void ToyBully::Receive(const ToyMessage& message, uint64_t now, std::vector<ToyMessage>& out) {
  switch (message.kind) {
    case ToyMessage::Kind::kElection:
      if (message.from < self_) {
        out.push_back({self_, message.from, ToyMessage::Kind::kAnswer});
        if (leader_ == self_ && !electing_) {
          Announce(out);  // still here and leading: say so again
        } else if (!electing_) {
          StartElection(now, out);
        }
      }
      return;
    case ToyMessage::Kind::kAnswer:
      if (electing_ && message.from > self_) {
        answered_ = true;
        if (leader_ == self_) leader_ = 0;  // a higher node lives: stand down
        deadline_ = now + timing_.coordinator_timeout;
      }
      return;
    case ToyMessage::Kind::kCoordinator:
      if (message.leader > self_) {
        leader_ = message.leader;
        electing_ = false;
        last_heard_ = now;
      } else if (message.leader < self_ && !electing_) {
        StartElection(now, out);  // a lower node claims to lead: bully it
      }
      return;
    case ToyMessage::Kind::kHeartbeat:
    case ToyMessage::Kind::kAck:
      return;  // not used by Bully
  }
}

void ToyBully::StartElection(uint64_t now, std::vector<ToyMessage>& out) {
  electing_ = true;
  answered_ = false;
  deadline_ = now + timing_.answer_timeout;
  last_heard_ = now;
  if (self_ == nodes_) {  // nobody is higher
    BecomeLeader(now, out);
    return;
  }
  for (NodeId id = self_ + 1; id <= nodes_; ++id) {
    out.push_back({self_, id, ToyMessage::Kind::kElection});
  }
}

void ToyBully::BecomeLeader(uint64_t now, std::vector<ToyMessage>& out) {
  electing_ = false;
  leader_ = self_;
  ++wins_;
  Announce(out);
  next_heartbeat_ = now + timing_.heartbeat;
}

void ToyBully::Announce(std::vector<ToyMessage>& out) const {
  for (NodeId id = 1; id <= nodes_; ++id) {
    if (id == self_) continue;
    ToyMessage message{self_, id, ToyMessage::Kind::kCoordinator};
    message.leader = self_;
    out.push_back(message);
  }
}

}  // namespace synod::sim::lessons
