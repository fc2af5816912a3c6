#include "tests/sim/safety_checker.h"

namespace synod::sim {

using paxos::Ballot;
using paxos::ReplicaId;
using paxos::Slot;
using paxos::ValuePtr;

namespace {

std::string Where(ReplicaId replica, Slot slot) {
  return "replica " + std::to_string(replica) + " slot " + std::to_string(slot);
}

}  // namespace

SafetyChecker::SafetyChecker(int replicas, bool membership) : membership_(membership) {
  std::vector<ReplicaId> voters;
  for (int i = 1; i <= replicas; ++i) voters.push_back(static_cast<ReplicaId>(i));
  history_.emplace(0, paxos::Configuration(voters));
}

const paxos::Configuration* SafetyChecker::Governing(Slot slot) const {
  // Without membership changes one configuration governs every slot. With
  // them, a slot's is known once every slot below it is chosen (a change
  // accepted later below it could still be chosen there).
  if (membership_ && slot > contiguous_ + 1) return nullptr;
  auto it = history_.lower_bound(slot);  // set at >= slot: governs later slots only
  return &std::prev(it)->second;
}

void SafetyChecker::Evaluate(Slot slot) {
  const paxos::Configuration* config = Governing(slot);
  if (config == nullptr) {
    undecided_.insert(slot);
    return;
  }
  for (auto it = accepts_.lower_bound({slot, Ballot{}});
       it != accepts_.end() && it->first.first == slot; ++it) {
    std::vector<ReplicaId> acceptors(it->second.acceptors.begin(), it->second.acceptors.end());
    if (config->IsQuorum(config->CountVoters(acceptors))) Chose(slot, it->second.value);
  }
}

void SafetyChecker::CheckSnapshotConfig(ReplicaId replica, Slot slot,
                                        const paxos::ConfigAt& config) const {
  if (slot > contiguous_) return;  // not decided yet in ground truth (cannot happen when correct)
  auto it = std::prev(history_.upper_bound(slot));
  if (it->first != config.slot || !(it->second == config.config)) {
    throw SimViolation(Where(replica, slot) + " installed a snapshot with configuration [" +
                       config.config.ToString() + "] set at slot " + std::to_string(config.slot) +
                       " but ground truth has [" + it->second.ToString() + "] set at slot " +
                       std::to_string(it->first));
  }
}

void SafetyChecker::OnProposed(const std::string& command) { proposed_.insert(command); }

void SafetyChecker::OnDurable(ReplicaId replica, const std::optional<Ballot>& promised,
                              const std::vector<paxos::SlotEntry>& entries) {
  if (promised) {
    Ballot& floor = promise_floor_[replica];
    if (*promised < floor) {
      throw SimViolation("replica " + std::to_string(replica) + " persisted promise " +
                         promised->ToString() + " below its earlier " + floor.ToString());
    }
    floor = *promised;
  }
  for (const paxos::SlotEntry& se : entries) {
    if (se.entry.chosen) {
      auto [it, inserted] = durable_chosen_[replica].emplace(se.slot, se.entry.value);
      if (!inserted && !paxos::SameValue(it->second, se.entry.value)) {
        throw SimViolation(Where(replica, se.slot) + " changed a durable chosen value");
      }
    }
    if (se.entry.ballot.IsNull()) continue;  // a learned value, not an accept
    BallotAccepts& accepts = accepts_[{se.slot, se.entry.ballot}];
    if (accepts.value == nullptr) {
      accepts.value = se.entry.value;
    } else if (!paxos::SameValue(accepts.value, se.entry.value)) {
      throw SimViolation("ballot " + se.entry.ballot.ToString() + " carried two values at " +
                         Where(replica, se.slot));
    }
    accepts.acceptors.insert(replica);
    Evaluate(se.slot);
  }
}

void SafetyChecker::Chose(Slot slot, const ValuePtr& value) {
  auto [it, inserted] = chosen_.emplace(slot, value);
  if (!inserted) {
    if (!paxos::SameValue(it->second, value)) {
      throw SimViolation("two different values chosen for slot " + std::to_string(slot) +
                         " (by a majority of the voters of [" + Governing(slot)->ToString() + "])");
    }
    return;
  }
  // The chosen prefix grows: changes chosen in it take effect in slot order,
  // and slots that waited for their governing configuration are decided.
  bool grew = false;
  for (auto next = chosen_.find(contiguous_ + 1); next != chosen_.end();
       next = chosen_.find(contiguous_ + 1)) {
    ++contiguous_;
    grew = true;
    paxos::ConfigAt current{history_.rbegin()->first, history_.rbegin()->second};
    paxos::ConfigAt after = paxos::NextConfiguration(current, contiguous_, *next->second);
    if (after.slot == contiguous_) history_.emplace(after.slot, std::move(after.config));
  }
  if (grew && !undecided_.empty()) {
    std::set<Slot> waiting = std::move(undecided_);
    undecided_.clear();
    for (Slot waiting_slot : waiting) Evaluate(waiting_slot);
  }
  if (value->kind == paxos::ValueKind::kConfiguration) return;  // not a client command
  for (const std::string& command : value->commands) {
    if (!proposed_.count(command)) {
      throw SimViolation("slot " + std::to_string(slot) + " chose a command never proposed: '" +
                         command + "'");
    }
  }
}

void SafetyChecker::OnRestart(ReplicaId replica, const paxos::DurableState& recovered) {
  CheckPromise(replica, recovered.promised);
  std::map<Slot, ValuePtr> recovered_chosen;
  for (const paxos::SlotEntry& se : recovered.entries) {
    if (se.entry.chosen) recovered_chosen.emplace(se.slot, se.entry.value);
  }
  // Entries at or below the compaction point were deleted on purpose (a
  // snapshot covers them; StartCore checks that one does).
  std::map<Slot, ValuePtr>& marks = durable_chosen_[replica];
  marks.erase(marks.begin(), marks.upper_bound(recovered.compacted));
  for (const auto& [slot, value] : marks) {
    auto it = recovered_chosen.find(slot);
    if (it == recovered_chosen.end()) {
      throw SimViolation(Where(replica, slot) + " lost a durable chosen mark across a restart");
    }
    if (!paxos::SameValue(it->second, value)) {
      throw SimViolation(Where(replica, slot) + " recovered a different chosen value");
    }
  }
}

void SafetyChecker::OnDeliver(ReplicaId replica, const paxos::CommittedEntry& entry) {
  auto it = chosen_.find(entry.slot);
  if (it == chosen_.end()) {
    throw SimViolation(Where(replica, entry.slot) +
                       " applied a value that no majority had accepted (not chosen)");
  }
  if (!paxos::SameValue(it->second, entry.value)) {
    throw SimViolation(Where(replica, entry.slot) + " applied a value other than the chosen one");
  }
}

void SafetyChecker::CheckPromise(ReplicaId replica, Ballot promised) const {
  auto it = promise_floor_.find(replica);
  if (it != promise_floor_.end() && promised < it->second) {
    throw SimViolation("replica " + std::to_string(replica) + " promise went backwards from " +
                       it->second.ToString() + " to " + promised.ToString());
  }
}

Ballot SafetyChecker::DurablePromise(ReplicaId replica) const {
  auto it = promise_floor_.find(replica);
  return it == promise_floor_.end() ? Ballot{} : it->second;
}

std::set<std::pair<Slot, Ballot>> SafetyChecker::DurableAccepts(ReplicaId replica) const {
  std::set<std::pair<Slot, Ballot>> out;
  for (const auto& [key, accepts] : accepts_) {
    if (accepts.acceptors.count(replica)) out.insert(key);
  }
  return out;
}

std::set<Slot> SafetyChecker::DurableChosenMarks(ReplicaId replica) const {
  std::set<Slot> out;
  auto it = durable_chosen_.find(replica);
  if (it == durable_chosen_.end()) return out;
  for (const auto& [slot, value] : it->second) out.insert(slot);
  return out;
}

void SafetyChecker::OnAppState(ReplicaId replica, Slot slot, const std::string& fingerprint) {
  auto [it, inserted] = app_states_.emplace(slot, std::make_pair(replica, fingerprint));
  if (!inserted && it->second.second != fingerprint) {
    throw SimViolation("replica " + std::to_string(replica) + " has state [" + fingerprint +
                       "] after slot " + std::to_string(slot) + " but replica " +
                       std::to_string(it->second.first) + " had [" + it->second.second + "]");
  }
}

}  // namespace synod::sim
