// Proposer, membership change: proposing a configuration change (and the
// rules that refuse one), phase 1 across the configuration changes promisers
// report (a promise quorum of every configuration in the chain), the check
// that the promises still cover the configuration in effect, and the snapshot
// gap rule (the first slot promisers still hold; nothing proposed across a
// gap). The rules are in docs/protocol.md, "Membership change".
#include <algorithm>
#include <optional>
#include <string>

#include "paxos/proposer.h"

namespace synod::paxos {

ReconfigureResult Proposer::ProposeConfiguration(const Configuration& next, Slot base_slot) {
  ReconfigureResult result;
  if (state_.role != Role::kLeader) {
    result.status = ReconfigureResult::Status::kNotLeader;
    result.leader_hint = state_.role == Role::kFollower ? state_.leader : kNoReplica;
    return result;
  }
  result.leader_hint = state_.self();
  if (!PromisesCoverConfig()) {
    result.status = ReconfigureResult::Status::kNotLeader;
    result.leader_hint = kNoReplica;
    return result;
  }
  result.status = ReconfigureResult::Status::kBusy;
  if (!state_.RuleBroken(MembershipBreak::kConfigBeforeOwnValue) &&
      (!reproposals_.empty() || learner_.chosen_point() < reproposal_end_)) {
    result.reason = "this leader's recovered values are not all chosen yet";
    return result;
  }
  if (ConfigInFlight()) {
    result.reason = "a configuration change is in flight";
    return result;
  }
  if (transfer_target_ != kNoReplica) {
    result.reason = "a leadership transfer is in flight";
    return result;
  }
  if (votes_.size() >= state_.options().window_slots) {
    result.reason = "the window is full";
    return result;
  }
  ConfigAt base = state_.current_config();
  if (config_in_flight_ > learner_.chosen_point()) {
    // Only with rule 1 off: derive from the change still in flight.
    const Entry* entry = state_.Find(config_in_flight_);
    std::optional<ConfigurationChange> change =
        entry == nullptr ? std::nullopt : DecodeConfigurationValue(*entry->value);
    if (change) base = ConfigAt{config_in_flight_, change->config};
  }
  std::string problem = ValidateChange(base.config, next);
  if (base_slot != state_.config_slot()) {
    // Derived from a configuration no longer in effect: validated against
    // this one it could silently undo the changes chosen since.
    problem = "derived from the configuration set at slot " + std::to_string(base_slot) +
              ", but the one in effect was set at slot " + std::to_string(state_.config_slot());
  }
  if (!problem.empty()) {
    result.status = ReconfigureResult::Status::kInvalid;
    result.reason = problem;
    return result;
  }
  Slot slot = next_slot_++;
  ProposeAt(slot, MakeConfigurationValue(base.slot, next));
  config_in_flight_ = slot;
  result.status = ReconfigureResult::Status::kAccepted;
  result.slot = slot;
  return result;
}

bool Proposer::ConfigInFlight() const {
  if (state_.RuleBroken(MembershipBreak::kTwoConfigsInFlight)) return false;
  return config_in_flight_ > learner_.chosen_point();
}

bool Proposer::PromisesCoverConfig() {
  if (state_.RuleBroken(MembershipBreak::kKeepOldPromises)) return true;
  const Configuration& config = state_.config();
  // Every quorum meets the promisers iff the voters that did not promise
  // are fewer than a quorum.
  size_t promised = config.CountVoters(promisers_);
  if (config.voters().size() - promised < config.QuorumSize()) return true;
  // Under --break small-quorum every "quorum" of n/2 counts for phase 1 too,
  // as before configurations could change: the broken cores must be able to
  // choose with two disjoint quorums, or the break shows nothing.
  if (state_.quorums_shrunk_for_testing() && config.IsQuorum(promised)) return true;
  if (config.IsVoter(state_.self())) {
    StartPhase1();  // a higher ballot, from the chosen point, under `config`
  } else {
    StepDown();
  }
  return false;
}

std::vector<ConfigAt> Proposer::Phase1Chain() const {
  std::vector<ConfigAt> chain{state_.ConfigAtFor(phase1_from_)};
  if (state_.RuleBroken(MembershipBreak::kStaleConfigQuorum)) return chain;
  // A change reported at u with the highest ballot there is what this leader
  // re-proposes at u; if chosen (now or later), it governs every slot > u, so
  // a value chosen there was accepted by a quorum of it: ask that quorum too.
  for (const auto& [slot, report] : reports_) {
    if (report.value->kind != ValueKind::kConfiguration) continue;
    ConfigAt next = NextConfiguration(chain.back(), slot, *report.value);
    if (next.slot == slot) {
      next.config = state_.QuorumRule(std::move(next.config));
      chain.push_back(std::move(next));
    }
  }
  return chain;
}

void Proposer::PrepareChainMembers(const std::vector<ConfigAt>& chain) {
  for (size_t i = 1; i < chain.size(); ++i) {
    for (ReplicaId voter : chain[i].config.voters()) {
      if (voter == state_.self() || promises_.contains(voter)) continue;
      promises_[voter] = PromiseProgress{phase1_from_, false};
      state_.SendAfterPersist(voter, Prepare{ballot_, phase1_from_, transfer_from_});
    }
  }
}

bool Proposer::HasPromiseQuorums(const std::vector<ConfigAt>& chain) const {
  for (const ConfigAt& link : chain) {
    if (!link.config.IsQuorum(CompletePromises(link.config))) return false;
  }
  return true;
}

bool Proposer::AllPromised(const std::vector<ConfigAt>& chain) const {
  for (const ConfigAt& link : chain) {
    if (CompletePromises(link.config) < link.config.voters().size()) return false;
  }
  return true;
}

size_t Proposer::CompletePromises(const Configuration& config) const {
  size_t complete = self_promise_durable_ && config.IsVoter(state_.self()) ? 1 : 0;
  for (const auto& [id, progress] : promises_) {
    complete += progress.complete && config.IsVoter(id) ? 1 : 0;
  }
  return complete;
}

Slot Proposer::FirstRecoverableSlot(const std::vector<ConfigAt>& chain) const {
  // Per configuration of the chain: below this slot, some member of every
  // quorum of it may have deleted a chosen value. The highest bound counts.
  Slot first = 0;
  for (const ConfigAt& link : chain) {
    const Configuration& config = link.config;
    std::vector<Slot> points;
    if (config.IsVoter(state_.self())) points.push_back(state_.compacted());  // self
    for (const auto& [id, progress] : promises_) {
      if (!progress.complete || !config.IsVoter(id)) continue;
      auto it = compacted_by_.find(id);
      points.push_back(it == compacted_by_.end() ? 0 : it->second);
    }
    std::sort(points.begin(), points.end());
    size_t quorum = config.QuorumSize();
    if (points.size() < quorum) return SIZE_MAX;      // not a quorum (never asked then)
    first = std::max(first, points[quorum - 1] + 1);  // q promisers compacted below this slot
  }
  return first;
}

bool Proposer::GapBlocksProposals() const {
  if (state_.RuleBroken(MembershipBreak::kProposeOverGap)) return false;
  return gap_end_ > learner_.chosen_point();
}

}  // namespace synod::paxos
