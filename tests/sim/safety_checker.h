// SafetyChecker: the simulator's ground truth and the properties checked
// after every step.
//
// Ground truth is built from what acceptors made durable (every accept and
// promise at the moment the simulated disk acknowledged it), not from what
// replicas believe. Properties:
//   - one ballot carries at most one value per slot;
//   - at most one value is chosen per slot (chosen = a true majority of the
//     voters of the configuration governing that slot accepted it in one
//     ballot, whatever quorum the cores were configured with; the governing
//     configuration comes from ground truth: the configuration changes chosen
//     at lower slots, never from what cores believe);
//   - every chosen value was proposed by a client (or is a no-op);
//   - a replica delivers (applies) only values already chosen, and every
//     replica delivers the same value for a slot (applied sequences are
//     prefixes of one another);
//   - a replica's promise never decreases, across restarts too;
//   - a durable chosen mark never disappears or changes across a restart;
//   - the application state after a slot is the same on every replica,
//     whether it applied the slots or restored a snapshot;
//   - a snapshot carries the configuration ground truth has after its slot.
// Each violated property throws SimViolation. Not thread-safe.
#pragma once

#include <map>
#include <set>
#include <string>
#include <unordered_set>
#include <vector>

#include "paxos/configuration.h"
#include "paxos/ready.h"
#include "paxos/types.h"
#include "tests/sim/sim_types.h"

namespace synod::sim {

class SafetyChecker {
 public:
  // Replicas 1..replicas are the initial voters; `membership`: the run may
  // change them.
  SafetyChecker(int replicas, bool membership);

  // A client offered this command to a leader that accepted it.
  void OnProposed(const std::string& command);
  // Replica `replica`'s disk made this Ready durable.
  void OnDurable(paxos::ReplicaId replica, const std::optional<paxos::Ballot>& promised,
                 const std::vector<paxos::SlotEntry>& entries);
  // A replica restarted from this durable state.
  void OnRestart(paxos::ReplicaId replica, const paxos::DurableState& recovered);
  // A replica's learner handed this chosen entry to its application.
  void OnDeliver(paxos::ReplicaId replica, const paxos::CommittedEntry& entry);
  // A replica's application state after slot `slot` (applied one by one or
  // restored from a snapshot) must equal every other replica's there.
  void OnAppState(paxos::ReplicaId replica, paxos::Slot slot, const std::string& fingerprint);
  // Checks a live replica's in-memory promise against what it made durable.
  void CheckPromise(paxos::ReplicaId replica, paxos::Ballot promised) const;
  // A snapshot through `slot` that `replica` installed holds `config`: it
  // must be ground truth's configuration after that slot.
  void CheckSnapshotConfig(paxos::ReplicaId replica, paxos::Slot slot,
                           const paxos::ConfigAt& config) const;
  // Ground truth's configuration after its contiguous chosen prefix.
  const paxos::Configuration& current_config() const { return history_.rbegin()->second; }
  // How many configuration changes took effect in that prefix.
  size_t config_changes() const { return history_.size() - 1; }

  size_t chosen_slots() const { return chosen_.size(); }
  // Highest slot known chosen in ground truth (0 if none).
  paxos::Slot highest_chosen() const { return chosen_.empty() ? 0 : chosen_.rbegin()->first; }
  const std::map<paxos::Slot, paxos::ValuePtr>& chosen() const { return chosen_; }

  // What `replica` made durable so far (scenario transcripts read these):
  // its promise (null before the first), every (slot, ballot) it accepted,
  // and the slots it holds a durable chosen mark for.
  paxos::Ballot DurablePromise(paxos::ReplicaId replica) const;
  std::set<std::pair<paxos::Slot, paxos::Ballot>> DurableAccepts(paxos::ReplicaId replica) const;
  std::set<paxos::Slot> DurableChosenMarks(paxos::ReplicaId replica) const;

 private:
  struct BallotAccepts {
    paxos::ValuePtr value;
    std::set<paxos::ReplicaId> acceptors;
  };

  void Chose(paxos::Slot slot, const paxos::ValuePtr& value);
  // Decides `slot` if the configuration governing it is known (else it waits
  // in undecided_ until the lower slots are chosen).
  void Evaluate(paxos::Slot slot);
  // The configuration governing `slot` in ground truth, or null while not
  // known (a slot below it is not chosen yet, in a membership run).
  const paxos::Configuration* Governing(paxos::Slot slot) const;

  std::map<paxos::Slot, paxos::Configuration> history_;  // slot that set it -> configuration
  paxos::Slot contiguous_ = 0;                           // every slot <= this is chosen
  bool membership_ = false;
  std::set<paxos::Slot> undecided_;  // slots waiting for their governing configuration
  std::unordered_set<std::string> proposed_;
  std::map<std::pair<paxos::Slot, paxos::Ballot>, BallotAccepts> accepts_;
  std::map<paxos::Slot, paxos::ValuePtr> chosen_;
  std::map<paxos::ReplicaId, paxos::Ballot> promise_floor_;
  std::map<paxos::ReplicaId, std::map<paxos::Slot, paxos::ValuePtr>> durable_chosen_;
  std::map<paxos::Slot, std::pair<paxos::ReplicaId, std::string>> app_states_;
};

}  // namespace synod::sim
