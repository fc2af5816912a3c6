#include "paxos/learner.h"

#include <algorithm>

#include "paxos/invariant.h"

namespace synod::paxos {

Learner::Learner(ReplicaState& state, Slot applied) : state_(state) {
  // Slots the application already applied are chosen by definition (they were
  // applied from chosen values) and covered by its durable state (snapshot).
  chosen_point_ = applied;
  state_.NoteSnapshot(applied);
  delivered_ = applied;
  AdvanceChosenPoint();
}

bool Learner::IsChosen(Slot slot) const {
  if (slot <= chosen_point_) return true;
  const Entry* entry = state_.Find(slot);
  return entry != nullptr && entry->chosen;
}

void Learner::MarkChosen(Slot slot) {
  const Entry* entry = state_.Find(slot);
  SYNOD_INVARIANT(entry != nullptr, "a chosen slot holds a value");
  if (!entry->chosen) {
    Entry updated = *entry;
    updated.chosen = true;
    state_.PutEntry(slot, std::move(updated));
  }
  AdvanceChosenPoint();
}

void Learner::AdvanceChosenPoint() {
  while (true) {
    const Entry* next = state_.Find(chosen_point_ + 1);
    if (next == nullptr || !next->chosen) break;
    ++chosen_point_;
    // In slot order: a change chosen here governs the slots after it.
    state_.ApplyChosen(chosen_point_, *next->value);
  }
  while (delivered_ < chosen_point_) {
    ++delivered_;
    const Entry* entry = state_.Find(delivered_);
    SYNOD_INVARIANT(entry != nullptr && entry->chosen, "delivering an unchosen slot");
    state_.Deliver(CommittedEntry{delivered_, entry->value});
  }
}

void Learner::OnCommitInfo(ReplicaId leader, Ballot ballot, Slot commit) {
  LearnCommitPoint(ballot, commit);
  RequestMissing(leader, commit);
}

void Learner::RequestMissing(ReplicaId leader, Slot commit) {
  if (chosen_point_ < commit) RequestCatchup(leader, commit);
}

void Learner::LearnCommitPoint(Ballot ballot, Slot commit) {
  if (commit <= chosen_point_) return;
  // Only a value accepted in the leader's own ballot is the value the leader
  // had chosen there; anything else must be fetched.
  const auto& log = state_.log();
  for (auto it = log.upper_bound(chosen_point_); it != log.end() && it->first <= commit; ++it) {
    if (!it->second.chosen && it->second.ballot == ballot) {
      Entry updated = it->second;
      updated.chosen = true;
      state_.PutEntry(it->first, std::move(updated));
    }
  }
  AdvanceChosenPoint();
}

void Learner::RequestCatchup(ReplicaId from, Slot upto) {
  if (catchup_cooldown_ > 0 || from == state_.self()) return;
  catchup_cooldown_ = state_.options().heartbeat_ticks * 2;
  state_.Send(from, CatchupRequest{chosen_point_ + 1, upto});
}

void Learner::OnCatchupRequest(ReplicaId from, const CatchupRequest& request) {
  CatchupReply reply;
  const Entry* first = state_.Find(request.from_slot);
  if (request.from_slot <= state_.snapshot_slot() && (first == nullptr || !first->chosen)) {
    // This replica holds that slot's chosen value only inside its snapshot
    // (deleted by compaction, or kept unmarked below the snapshot it
    // restarted from): the requester must install the snapshot.
    reply.compacted = state_.snapshot_slot();
    state_.Send(from, std::move(reply));
    return;
  }
  size_t bytes = 0;
  Slot last = std::min(request.to_slot, chosen_point_);
  for (Slot slot = request.from_slot; slot <= last && slot > 0; ++slot) {
    const Entry* entry = state_.Find(slot);
    if (entry == nullptr || !entry->chosen) break;  // compacted or unknown: serve nothing more
    reply.entries.push_back(CommittedEntry{slot, entry->value});
    bytes += entry->value->ByteSize();
    if (reply.entries.size() >= state_.options().max_page_entries ||
        bytes >= state_.options().max_page_bytes) {
      break;
    }
  }
  if (!reply.entries.empty()) state_.Send(from, std::move(reply));
}

void Learner::OnCatchupReply(ReplicaId from, const CatchupReply& reply) {
  if (reply.compacted > chosen_point_ || !reply.entries.empty()) {
    // Someone can serve what is missing (as values or as its snapshot).
    helped_since_request_ = true;
    ticks_without_help_ = 0;
  }
  if (reply.compacted > chosen_point_) {
    // The sender deleted slots this replica still lacks: only its snapshot has them.
    state_.RequestSnapshot(from, reply.compacted);
  }
  for (const CommittedEntry& chosen : reply.entries) {
    if (chosen.slot == 0 || chosen.value == nullptr) continue;
    const Entry* entry = state_.Find(chosen.slot);
    if (chosen.slot <= delivered_) {
      SYNOD_INVARIANT(entry == nullptr || !entry->chosen || SameValue(entry->value, chosen.value),
                      "two different values learned as chosen for one slot");
      continue;
    }
    if (entry != nullptr && entry->chosen) {
      SYNOD_INVARIANT(SameValue(entry->value, chosen.value),
                      "two different values learned as chosen for one slot");
      continue;
    }
    Entry updated;
    if (entry != nullptr && SameValue(entry->value, chosen.value)) {
      updated = *entry;
    } else {
      // This acceptor's own accept here (if any) was in a ballot below the one
      // that chose the value, so it is not needed for safety: keep the chosen
      // value with a null ballot (it never outranks a real accept in phase 1).
      updated.ballot = Ballot{};
      updated.value = chosen.value;
    }
    updated.chosen = true;
    state_.PutEntry(chosen.slot, std::move(updated));
  }
  AdvanceChosenPoint();
  catchup_cooldown_ = 0;  // more may be needed: ask again on the next commit info
}

void Learner::NeedUpTo(ReplicaId from, Slot upto) {
  if (upto <= chosen_point_) return;
  want_from_ = from;
  want_upto_ = upto;
  helped_since_request_ = true;  // ask `from` again before trying others
  RequestCatchup(from, upto);
}

void Learner::InstallSnapshot(Slot slot) {
  SYNOD_INVARIANT(slot > delivered_, "a snapshot older than the local state is never installed");
  chosen_point_ = std::max(chosen_point_, slot);
  delivered_ = slot;
  state_.NoteSnapshot(slot);
  AdvanceChosenPoint();
}

void Learner::Tick() {
  if (catchup_cooldown_ > 0) --catchup_cooldown_;
  const Configuration& config = state_.config();
  if (!config.IsVoter(state_.self()) && !config.IsRetired(state_.self()) &&
      state_.ticks_since_leader_contact >= state_.options().election_ticks &&
      ++probe_elapsed_ >= state_.options().election_ticks) {
    // A learner, or a replica not (yet) named by the configuration it knows,
    // never campaigns, so no phase 1 tells it what it missed: without a
    // leader it may be the voter a later change made it (the only one, even).
    // Ask the members in turn for what follows its chosen point.
    probe_elapsed_ = 0;
    probe_peer_ = NextPeer(probe_peer_);
    if (probe_peer_ != state_.self()) {
      state_.Send(probe_peer_, CatchupRequest{chosen_point_ + 1,
                                              chosen_point_ + state_.options().max_page_entries});
    }
  }
  if (want_upto_ <= chosen_point_) {
    ticks_without_help_ = 0;
    return;
  }
  ++ticks_without_help_;
  if (catchup_cooldown_ > 0) return;
  // A member that did not help since the last request may be gone for good
  // while others can serve the slots: ask the next one.
  if (!helped_since_request_) want_from_ = NextPeer(want_from_);
  helped_since_request_ = false;
  RequestCatchup(want_from_, want_upto_);
}

ReplicaId Learner::NextPeer(ReplicaId after) const {
  const std::vector<ReplicaId>& members = state_.config().members();
  auto it = std::find(members.begin(), members.end(), after);
  for (size_t step = 1; step <= members.size(); ++step) {
    size_t index = (it == members.end() ? 0 : static_cast<size_t>(it - members.begin())) + step;
    ReplicaId candidate = members[index % members.size()];
    if (candidate != state_.self()) return candidate;
  }
  return after;
}

}  // namespace synod::paxos
