#include "paxos/replica_state.h"

#include <stdexcept>

#include "paxos/invariant.h"

namespace synod::paxos {

ReplicaState::ReplicaState(ReplicaId self, ConfigAt config, bool require_member,
                           CoreOptions options, RandomSource& random, DurableState durable)
    : self_(self), options_(options), random_(random) {
  if (self_ == kNoReplica) throw std::invalid_argument("replica id 0 is reserved");
  if (config.config.voters().empty()) throw std::invalid_argument("configuration has no voters");
  if (require_member && !config.config.Contains(self_)) {
    throw std::invalid_argument("replica is not a member");
  }
  history_.emplace(config.slot, std::move(config.config));
  std::string problem = options_.Validate();
  if (!problem.empty()) throw std::invalid_argument("bad core options: " + problem);
  promised_ = durable.promised;
  NoteBallot(promised_);
  compacted_ = durable.compacted;
  for (SlotEntry& se : durable.entries) {
    if (se.slot <= compacted_) continue;  // a deletion that was not yet durable
    SYNOD_INVARIANT(se.slot > 0, "slot 0 is never used");
    SYNOD_INVARIANT(se.entry.value != nullptr, "a durable entry holds a value");
    SYNOD_INVARIANT(se.entry.ballot <= promised_, "an accepted ballot never exceeds the promise");
    NoteBallot(se.entry.ballot);
    log_[se.slot] = std::move(se.entry);
  }
}

ConfigAt ReplicaState::ConfigAtFor(Slot slot) const {
  auto it = history_.lower_bound(slot);  // first set at >= slot: governs later slots only
  if (it != history_.begin()) --it;
  return ConfigAt{it->first, it->second};
}

const Configuration& ReplicaState::previous_config() const {
  if (history_.size() < 2) return config();
  return std::prev(history_.end(), 2)->second;
}

void ReplicaState::ShrinkQuorumsForTesting() {
  shrink_quorums_ = true;
  for (auto& [slot, config] : history_) config = QuorumRule(std::move(config));
}

Configuration ReplicaState::QuorumRule(Configuration config) const {
  if (!shrink_quorums_) return config;
  return config.WithQuorumSizeForTesting(config.voters().size() / 2);
}

void ReplicaState::ApplyChosen(Slot slot, const Value& value) {
  if (value.kind != ValueKind::kConfiguration || slot <= config_slot()) return;
  ConfigAt next = NextConfiguration(current_config(), slot, value);
  if (next.slot == slot) history_.emplace(slot, QuorumRule(std::move(next.config)));
}

void ReplicaState::ResetConfiguration(const ConfigAt& config) {
  SYNOD_INVARIANT(!config.config.voters().empty(), "a snapshot's configuration has voters");
  history_.erase(history_.lower_bound(config.slot), history_.end());
  history_.insert_or_assign(config.slot, QuorumRule(config.config));
}

void ReplicaState::SetPromised(Ballot ballot) {
  SYNOD_INVARIANT(ballot >= promised_, "a promise never goes backwards");
  if (ballot == promised_) return;
  promised_ = ballot;
  promised_dirty_ = true;
  NoteBallot(ballot);
}

const Entry* ReplicaState::Find(Slot slot) const {
  auto it = log_.find(slot);
  return it == log_.end() ? nullptr : &it->second;
}

void ReplicaState::PutEntry(Slot slot, Entry entry) {
  SYNOD_INVARIANT(slot > 0, "slot 0 is never used");
  SYNOD_INVARIANT(entry.value != nullptr, "an entry holds a value");
  SYNOD_INVARIANT(entry.ballot <= promised_, "never accept above the promise");
  auto it = log_.find(slot);
  bool only_marks_chosen = it != log_.end() && !it->second.chosen && entry.chosen &&
                           it->second.ballot == entry.ballot &&
                           SameValue(it->second.value, entry.value);
  if (only_marks_chosen && !dirty_slots_.contains(slot)) {
    // The accept itself is already durable (or in a pending synced write): a
    // lost chosen mark is re-learned, so it need not wait for a sync.
    unsynced_dirty_slots_.insert(slot);
  } else {
    dirty_slots_.insert(slot);
    unsynced_dirty_slots_.erase(slot);
  }
  log_[slot] = std::move(entry);
}

void ReplicaState::DropThrough(Slot upto) {
  if (upto <= compacted_) return;
  compacted_ = upto;
  compaction_dirty_ = true;
  log_.erase(log_.begin(), log_.upper_bound(upto));
  dirty_slots_.erase(dirty_slots_.begin(), dirty_slots_.upper_bound(upto));
  unsynced_dirty_slots_.erase(unsynced_dirty_slots_.begin(),
                              unsynced_dirty_slots_.upper_bound(upto));
  std::erase_if(committed_, [upto](const CommittedEntry& e) { return e.slot <= upto; });
  // An Accepted waiting for a write that no longer holds its entry would
  // report an accept that never became durable: withdraw it.
  std::erase_if(messages_after_persist_, [upto](const Message& m) {
    const Accepted* accepted = std::get_if<Accepted>(&m.body);
    return accepted != nullptr && accepted->slot <= upto;
  });
}

void ReplicaState::RequestSnapshot(ReplicaId from, Slot at_least) {
  fetch_snapshot_ = SnapshotFetch{from, at_least};
}

void ReplicaState::NoteBallot(Ballot ballot) {
  if (ballot.round > max_seen_round_) max_seen_round_ = ballot.round;
}

void ReplicaState::Send(ReplicaId to, MessageBody body) {
  messages_.push_back(Message{self_, to, std::move(body)});
}

void ReplicaState::SendAfterPersist(ReplicaId to, MessageBody body) {
  messages_after_persist_.push_back(Message{self_, to, std::move(body)});
}

void ReplicaState::Broadcast(const MessageBody& body) {
  for (ReplicaId member : config().members()) {
    if (member != self_) Send(member, body);
  }
}

void ReplicaState::BroadcastAfterPersist(const MessageBody& body) {
  for (ReplicaId member : config().members()) {
    if (member != self_) SendAfterPersist(member, body);
  }
}

void ReplicaState::Deliver(CommittedEntry entry) { committed_.push_back(std::move(entry)); }

bool ReplicaState::HasReady() const {
  if (ready_outstanding_) return false;
  return promised_dirty_ || !dirty_slots_.empty() || !unsynced_dirty_slots_.empty() ||
         !messages_.empty() || !messages_after_persist_.empty() || !committed_.empty() ||
         compaction_dirty_ || fetch_snapshot_.has_value();
}

Ready ReplicaState::TakeReady() {
  SYNOD_INVARIANT(!ready_outstanding_, "one Ready at a time: Advance() first");
  Ready ready;
  outstanding_ = PersistedSummary{};
  if (promised_dirty_) {
    ready.promised = promised_;
    outstanding_.promised = promised_;
    promised_dirty_ = false;
  }
  ready.entries.reserve(dirty_slots_.size());
  for (Slot slot : dirty_slots_) {
    const Entry& entry = log_.at(slot);
    ready.entries.push_back(SlotEntry{slot, entry});
    outstanding_.accepted.emplace_back(slot, entry.ballot);
  }
  dirty_slots_.clear();
  ready.unsynced_entries.reserve(unsynced_dirty_slots_.size());
  for (Slot slot : unsynced_dirty_slots_)
    ready.unsynced_entries.push_back(SlotEntry{slot, log_.at(slot)});
  unsynced_dirty_slots_.clear();
  ready.messages = std::move(messages_);
  ready.messages_after_persist = std::move(messages_after_persist_);
  ready.committed = std::move(committed_);
  if (compaction_dirty_) ready.compact_through = compacted_;
  compaction_dirty_ = false;
  ready.fetch_snapshot = fetch_snapshot_;
  fetch_snapshot_.reset();
  messages_.clear();
  messages_after_persist_.clear();
  committed_.clear();
  ready_outstanding_ = true;
  return ready;
}

PersistedSummary ReplicaState::Advance() {
  SYNOD_INVARIANT(ready_outstanding_, "Advance() without an outstanding Ready");
  ready_outstanding_ = false;
  return std::move(outstanding_);
}

}  // namespace synod::paxos
