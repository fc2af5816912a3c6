// ScenarioSteps: executes the commands of a scenario file against a
// SimCluster in manual-network mode and returns each step's transcript.
//
// Actions are reported one at a time (a tick of one replica, the delivery of
// one message, a proposal): first the state lines of what the action moved
// (transcript.h), then the messages it queued. `run` reports its net effect
// instead: the state that moved from its start to its end, then the messages
// sent, counted by sender, receiver and kind. The command set is documented
// in scenario_runner.h. Not thread-safe.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "tests/sim/sim_cluster.h"
#include "tests/sim/transcript.h"

namespace synod::sim {

// A failed expectation or a malformed command.
struct ScenarioError {
  std::string message;
};

class ScenarioSteps {
 public:
  // Runs one command given as its words (comment removed). Returns the step's
  // transcript lines ({"ok"} if nothing moved); an `expect` returns none.
  // Throws ScenarioError for a failed expectation or a bad command, and lets
  // SimViolation / InvariantViolation (safety failures) through.
  std::vector<std::string> Execute(const std::vector<std::string>& words);

 private:
  using Filter = SimCluster::MessageFilter;

  void Start(const std::vector<std::string>& words);
  void Tick(paxos::ReplicaId id);
  void Run(uint64_t rounds, paxos::ReplicaId only);
  void Stabilize();
  void Deliver(const Filter& match);
  // Lists the queued messages that match as "<label> <message>" lines.
  void ListMatching(const std::string& label, const Filter& match);
  void Propose(paxos::ReplicaId id, const std::string& command);
  // Delivers the first message among the first `limit` queued ones that
  // matches; false if none does.
  bool DeliverFirst(size_t limit, const Filter& match);
  // Reports the action just done: the state it moved, then the messages
  // queued behind the first `kept` mailbox entries (those it left in place),
  // each prefixed by `label`.
  void Report(size_t kept, const std::string& label = "");
  void Expect(const std::vector<std::string>& words);

  static const std::string& Arg(const std::vector<std::string>& words, size_t i);
  static uint64_t Number(const std::vector<std::string>& words, size_t i);
  static uint64_t Number(const std::string& text);
  static std::string Rest(const std::vector<std::string>& words, size_t from);
  paxos::ReplicaId Replica(const std::vector<std::string>& words, size_t i) const;
  Filter MakeFilter(const std::vector<std::string>& words, size_t first) const;

  std::unique_ptr<SimCluster> cluster_;
  ClusterView view_;                // the state as last reported
  std::vector<std::string> lines_;  // the current step's transcript
  bool summary_ = false;            // inside `run`: count messages, report state at the end
  // Inside `run`: messages sent, by (from, to, kind index): kind name, count.
  std::map<std::tuple<paxos::ReplicaId, paxos::ReplicaId, size_t>, std::pair<std::string, size_t>>
      sent_;
};

}  // namespace synod::sim
