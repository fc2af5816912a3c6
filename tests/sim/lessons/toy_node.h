// ToyNode: the interface of the TOY election protocols of the lessons (toy
// Bully, toy Ring). They are teaching toys, not part of Synod: they show how
// classic elections behave under partitions, beside Synod's Election recipe.
//
// A toy node is driven by its runner (toy_run.h), one tick at a time, and
// answers with messages to send; it has no clock, no I/O, no randomness.
// Not thread-safe.
#pragma once

#include <cstdint>
#include <vector>

#include "tests/sim/lessons/fault_schedule.h"

namespace synod::sim::lessons {

// One toy protocol message. Fields a kind does not use stay zero/empty.
struct ToyMessage {
  enum class Kind : uint8_t {
    kElection,     // Bully: "I am electing"; Ring: the circulating election (ids)
    kAnswer,       // Bully: "I am higher and alive, stand down"
    kCoordinator,  // both: "`leader` leads" (Bully: also the leader's heartbeat)
    kHeartbeat,    // Ring: the leader's heartbeat
    kAck,          // Ring: a hop's receipt (`seq` names the hop)
  };
  NodeId from = 0;
  NodeId to = 0;
  Kind kind = Kind::kElection;
  NodeId leader = 0;        // kCoordinator
  NodeId initiator = 0;     // Ring kElection/kCoordinator: who started the round
  std::vector<NodeId> ids;  // Ring kElection/kCoordinator: nodes the message has visited
  uint64_t seq = 0;         // Ring: hop number (echoed by kAck)
};

class ToyNode {
 public:
  virtual ~ToyNode() = default;
  // One tick of time at `now`; appends messages to send to `out`.
  virtual void Tick(uint64_t now, std::vector<ToyMessage>& out) = 0;
  // Handles one delivered message at `now`; appends messages to `out`.
  virtual void Receive(const ToyMessage& message, uint64_t now, std::vector<ToyMessage>& out) = 0;
  // True if this node currently believes it leads.
  virtual bool Leads() const = 0;
  // Counts the elections this node has won (announced itself leader); a
  // change tells the runner a new leadership began.
  virtual uint64_t wins() const = 0;
};

// Timing of the toys, in ticks (the runner's tick is 10 ms of simulated time).
struct ToyTiming {
  uint64_t heartbeat = 2;             // a leader announces itself this often
  uint64_t leader_timeout = 10;       // a follower that hears no leader this long elects
  uint64_t answer_timeout = 4;        // Bully: wait this long for a higher node's answer
  uint64_t coordinator_timeout = 10;  // Bully: after an answer, wait this long for a coordinator
  uint64_t ack_timeout = 4;           // Ring: wait this long for a hop's ack, then skip that node
};

}  // namespace synod::sim::lessons
