// Proposer, core: phase 1 (Prepare/Promise, paged; recovery of the reported
// values) and phase 2 (Accept/Accepted with a window of slots in flight, votes
// counted and chosen in slot order), stepping down, check-quorum, heartbeats
// and retransmits. Membership change is in proposer_membership.cc, leadership
// transfer in proposer_transfer.cc.
#include "paxos/proposer.h"

#include <algorithm>

#include "paxos/invariant.h"

namespace synod::paxos {

Proposer::Proposer(ReplicaState& state, Learner& learner) : state_(state), learner_(learner) {}

void Proposer::StartPhase1(Ballot transfer_from) {
  if (!state_.config().IsVoter(state_.self())) return;  // only voters campaign
  transfer_from_ = transfer_from;
  EndTransfer();
  uint64_t round = std::max(state_.promised().round, state_.max_seen_round()) + 1;
  ballot_ = Ballot{round, state_.self()};
  state_.SetPromised(ballot_);  // a ballot is used only once it is durable (no reuse)
  state_.role = Role::kCandidate;
  state_.leader = kNoReplica;
  phase1_from_ = learner_.chosen_point() + 1;
  self_promise_durable_ = false;
  promises_.clear();
  reports_.clear();
  compacted_by_.clear();
  gap_wait_ticks_ = 0;
  votes_.clear();
  counted_.clear();
  reproposals_.clear();
  reproposal_end_ = 0;
  config_in_flight_ = 0;
  promisers_.clear();
  heartbeat_elapsed_ = 0;
  for (ReplicaId voter : state_.config().voters()) {
    if (voter == state_.self()) continue;
    promises_[voter] = PromiseProgress{phase1_from_, false};
  }
  // Prepare leaves only after the raised promise is durable.
  for (const auto& [voter, progress] : promises_) {
    state_.SendAfterPersist(voter, Prepare{ballot_, phase1_from_, transfer_from_});
  }
}

void Proposer::StepDown() {
  if (state_.role == Role::kLeader || state_.role == Role::kCandidate) {
    if (state_.leader == state_.self()) state_.leader = kNoReplica;
    state_.role = Role::kFollower;
  }
  ballot_ = Ballot{};
  transfer_from_ = Ballot{};
  EndTransfer();
  promises_.clear();
  reports_.clear();
  votes_.clear();
  counted_.clear();
  reproposals_.clear();
  config_in_flight_ = 0;
  promisers_.clear();
  pending_.clear();
  pending_bytes_ = 0;
  active_peers_.clear();
}

void Proposer::MergeReport(Slot slot, const Entry& entry) {
  if (slot < phase1_from_ || entry.value == nullptr) return;
  SYNOD_INVARIANT(entry.ballot < ballot_, "a promise reports only lower ballots");
  Report& report = reports_[slot];
  if (report.value == nullptr || entry.ballot > report.ballot) {
    report.ballot = entry.ballot;
    report.value = entry.value;
  } else if (entry.ballot == report.ballot && !entry.ballot.IsNull()) {
    SYNOD_INVARIANT(SameValue(entry.value, report.value),
                    "one ballot reported with two values for one slot");
  }
  if (entry.chosen) {
    SYNOD_INVARIANT(report.chosen == nullptr || SameValue(entry.value, report.chosen),
                    "two different values reported chosen for one slot");
    report.chosen = entry.value;
  }
}

void Proposer::OnPromise(ReplicaId from, const Promise& promise) {
  if (state_.role != Role::kCandidate || promise.ballot != ballot_) return;
  auto progress = promises_.find(from);
  if (progress == promises_.end() || progress->second.complete) return;
  if (promise.from_slot != progress->second.next_slot) return;  // stale or duplicate page
  active_peers_.insert(from);
  compacted_by_[from] = std::max(compacted_by_[from], promise.compacted);
  for (const SlotEntry& se : promise.entries) {
    if (se.slot < promise.from_slot || (promise.more && se.slot >= promise.next_slot)) continue;
    MergeReport(se.slot, se.entry);
  }
  if (promise.more && promise.next_slot > promise.from_slot) {
    progress->second.next_slot = promise.next_slot;
    state_.Send(from, Prepare{ballot_, promise.next_slot, transfer_from_});
    return;
  }
  progress->second.complete = true;
  MaybeBecomeLeader();
}

void Proposer::OnPersisted(const PersistedSummary& persisted) {
  if (state_.role == Role::kCandidate && persisted.promised == ballot_) {
    self_promise_durable_ = true;
    MaybeBecomeLeader();
  }
  if (state_.role != Role::kLeader) return;
  for (const auto& [slot, ballot] : persisted.accepted) {
    if (ballot == ballot_) CountVote(slot, state_.self());
  }
}

void Proposer::MaybeBecomeLeader() {
  if (state_.role != Role::kCandidate || !self_promise_durable_) return;
  // Our own acceptor's record is one of the reports (promised == ballot_);
  // merging it again is harmless (same ballots, same values).
  for (auto it = state_.log().lower_bound(phase1_from_); it != state_.log().end(); ++it) {
    MergeReport(it->first, it->second);
  }
  std::vector<ConfigAt> chain = Phase1Chain();
  PrepareChainMembers(chain);
  if (!HasPromiseQuorums(chain)) return;
  // Slots between what this replica knows and what the quorum still holds
  // can only come from a snapshot. More promises may close that gap (the
  // member that compacted them may be gone for good): wait for them a while.
  Slot first_recoverable = FirstRecoverableSlot(chain);
  bool gap = first_recoverable - 1 > learner_.chosen_point();
  if (gap && !AllPromised(chain) && gap_wait_ticks_ < state_.options().election_ticks / 2) {
    return;
  }

  state_.role = Role::kLeader;
  state_.leader = state_.self();
  state_.leader_ballot = ballot_;
  state_.ticks_since_leader_contact = 0;
  heartbeat_elapsed_ = 0;
  check_quorum_elapsed_ = 0;
  active_peers_.clear();

  // A slot is recovered the usual way (highest-ballot report, or a no-op if
  // none) only if a quorum of complete promisers still holds its accepts:
  // below FirstRecoverableSlot() some acceptor of every quorum may have
  // deleted the chosen value (compaction), so never propose there, not even
  // a no-op; those slots are chosen and come from a snapshot. Nor at slots
  // this replica knows are chosen: its own accepts there may be gone (a
  // snapshot installed or taken during the candidacy deleted them).
  Slot first = std::max(
      {phase1_from_, first_recoverable, state_.compacted() + 1, learner_.chosen_point() + 1});
  gap_end_ = 0;
  if (first - 1 > learner_.chosen_point()) {
    // The promiser that compacted furthest holds the gap in its snapshot
    // (a gap means some promiser compacted beyond this replica's chosen point).
    SYNOD_INVARIANT(!compacted_by_.empty(), "a compaction gap without a compacting promiser");
    auto holder =
        std::max_element(compacted_by_.begin(), compacted_by_.end(),
                         [](const auto& a, const auto& b) { return a.second < b.second; });
    learner_.NeedUpTo(holder->first, first - 1);
    gap_end_ = first - 1;
  }
  Slot highest = reports_.empty() ? first - 1 : std::max(first - 1, reports_.rbegin()->first);
  for (Slot slot = first; slot <= highest; ++slot) {
    auto it = reports_.find(slot);
    ValuePtr value = it == reports_.end() ? NoopValue() : it->second.value;
    // A value some promiser holds marked chosen is chosen (marks are set only
    // for chosen values): the highest-ballot report carries it, and this
    // leader learns it chosen at once, so a snapshot or catch-up reply later
    // covering the slot confirms its proposal there.
    bool known_chosen = it != reports_.end() && it->second.chosen != nullptr;
    SYNOD_INVARIANT(!known_chosen || SameValue(it->second.chosen, value),
                    "recovery picked a value other than the chosen one");
    reproposals_[slot] = Reproposal{value, known_chosen};
  }
  reports_.clear();
  promisers_ = {state_.self()};
  for (const auto& [id, progress] : promises_) {
    if (progress.complete) promisers_.push_back(id);
  }
  promises_.clear();
  reproposal_end_ = highest;
  next_slot_ = highest + 1;
  ContinueReproposals();
  // A configuration that took effect during the candidacy (a snapshot) may
  // have sent it back to phase 1 under a new ballot, or made it step down.
  if (state_.role != Role::kLeader) return;
  // Announce leadership at once so followers stop their election timers.
  for (ReplicaId member : Targets()) state_.Send(member, Heartbeat{ballot_, CommitPoint()});
}

void Proposer::ContinueReproposals() {
  if (state_.role != Role::kLeader || GapBlocksProposals() || !PromisesCoverConfig()) return;
  while (!reproposals_.empty() && !ConfigInFlight()) {
    auto it = reproposals_.begin();
    Slot slot = it->first;
    Reproposal reproposal = std::move(it->second);
    reproposals_.erase(it);
    const Entry* local = state_.Find(slot);
    if (local != nullptr && local->chosen) {
      SYNOD_INVARIANT(SameValue(local->value, reproposal.value),
                      "recovery picked a value other than the chosen one");
    }
    // Learned meanwhile (a snapshot or a catch-up reply): nothing to propose.
    if (slot <= state_.compacted() || slot <= learner_.chosen_point()) continue;
    ProposeAt(slot, reproposal.value, reproposal.known_chosen);
    if (reproposal.known_chosen) learner_.MarkChosen(slot);
    if (reproposal.value->kind == ValueKind::kConfiguration) config_in_flight_ = slot;
  }
}

std::vector<ReplicaId> Proposer::Targets() const {
  std::vector<ReplicaId> targets = state_.config().members();
  for (ReplicaId id : state_.previous_config().members()) {
    if (!state_.config().Contains(id)) targets.push_back(id);
  }
  std::erase(targets, state_.self());
  return targets;
}

void Proposer::ChooseInOrder() {
  while (true) {
    Slot slot = learner_.chosen_point() + 1;
    auto it = counted_.find(slot);
    if (it == counted_.end()) break;
    std::vector<ReplicaId> voters = std::move(it->second);
    counted_.erase(it);
    // Every slot below is chosen: config() is the one governing `slot`.
    if (!state_.config().IsQuorum(state_.config().CountVoters(voters))) {
      votes_[slot] = std::move(voters);  // counted under a configuration that does not govern it
      break;
    }
    learner_.MarkChosen(slot);  // may put a change chosen at `slot` in effect
  }
  ProbeTransferTarget();
}

void Proposer::ResumeAfterChosen() {
  if (state_.role != Role::kLeader) return;
  EndTransferToNonVoter();
  ChooseInOrder();
  ContinueReproposals();
  FillWindow();
}

void Proposer::ProposeAt(Slot slot, ValuePtr value, bool known_chosen) {
  SYNOD_INVARIANT(slot > state_.compacted(), "proposing in a slot deleted below a snapshot");
  const Entry* local = state_.Find(slot);
  SYNOD_INVARIANT(local == nullptr || !local->chosen || SameValue(local->value, value),
                  "proposing a value other than the one known chosen in that slot");
  Entry entry{ballot_, value, known_chosen || (local != nullptr && local->chosen)};
  state_.PutEntry(slot, std::move(entry));
  votes_[slot] = {};
  counted_.erase(slot);
  for (ReplicaId member : Targets()) SendAcceptTo(member, slot, value);
}

void Proposer::SendAcceptTo(ReplicaId to, Slot slot, const ValuePtr& value) {
  state_.Send(to, Accept{ballot_, slot, value, CommitPoint()});
}

void Proposer::ForgetThrough(Slot slot) {
  votes_.erase(votes_.begin(), votes_.upper_bound(slot));
  counted_.erase(counted_.begin(), counted_.upper_bound(slot));
  reproposals_.erase(reproposals_.begin(), reproposals_.upper_bound(slot));
  if (state_.role == Role::kLeader && next_slot_ <= slot) next_slot_ = slot + 1;
  FillWindow();  // room may have opened for queued commands
}

bool Proposer::StepDownIfChosenElsewhere(Slot covered) {
  if (state_.role != Role::kLeader || !guard_commit_point_) return false;
  // Phase 1 set next_slot_ above every slot a promiser reported (this
  // replica's own log included), and the leader proposes only below
  // next_slot_: an entry at or above it can only be a chosen value a catch-up
  // reply brought, chosen by a newer leader. Proposing there in ballot_ would
  // overwrite it.
  if (state_.log().lower_bound(next_slot_) != state_.log().end()) {
    StepDown();
    return true;
  }
  // votes_ holds the slots this leader proposed in ballot_ and has not seen
  // chosen through its own quorum (Tick erases those its chosen point passed).
  // Some may be marked chosen already: a catch-up reply brought the same
  // value, or a promiser reported that value chosen in phase 1.
  for (const auto& [slot, voters] : votes_) {
    const Entry* entry = state_.Find(slot);
    bool own = entry != nullptr && entry->ballot == ballot_;
    // At or below `covered`, a slot whose entry holds this ballot's value
    // marked chosen is confirmed; any other may hold another chosen value.
    if (!own || (slot <= covered && !entry->chosen)) {
      StepDown();
      return true;
    }
  }
  // Counted slots reached a quorum of this leader's ballot; they are chosen
  // with its value once the lower slots are (ChooseInOrder).
  for (const auto& [slot, voters] : counted_) {
    const Entry* entry = state_.Find(slot);
    if (entry == nullptr || entry->ballot != ballot_) {
      StepDown();
      return true;
    }
  }
  return false;
}

Slot Proposer::CommitPoint() const {
  Slot point = learner_.chosen_point();
  if (!guard_commit_point_) return point;
  for (auto it = votes_.begin(); it != votes_.end() && it->first <= point; ++it) {
    const Entry* entry = state_.Find(it->first);
    SYNOD_INVARIANT(entry != nullptr && entry->ballot == ballot_ && entry->chosen,
                    "a leader's commit point covers a slot where it proposed a value it did not "
                    "learn chosen");
  }
  return point;
}

void Proposer::CountVote(Slot slot, ReplicaId voter) {
  auto it = votes_.find(slot);
  if (it == votes_.end()) return;
  if (std::find(it->second.begin(), it->second.end(), voter) == it->second.end()) {
    it->second.push_back(voter);
  }
  // Counted with the current configuration; confirmed in slot order by the
  // one that governs the slot (ChooseInOrder).
  if (!state_.config().IsQuorum(state_.config().CountVoters(it->second))) return;
  std::vector<ReplicaId> voters = std::move(it->second);
  votes_.erase(it);
  if (state_.RuleBroken(MembershipBreak::kCountAhead)) {
    learner_.MarkChosen(slot);  // broken: out of order, before the governing one is known
  } else {
    counted_[slot] = std::move(voters);
    ChooseInOrder();
  }
  ContinueReproposals();
  FillWindow();
}

void Proposer::OnAccepted(ReplicaId from, const Accepted& accepted) {
  if (state_.role != Role::kLeader || accepted.ballot != ballot_) return;
  active_peers_.insert(from);
  CountVote(accepted.slot, from);
}

void Proposer::OnReject(ReplicaId, const Reject& reject) {
  state_.NoteBallot(reject.promised);
  if (ballot_.IsNull() || reject.ballot != ballot_ || reject.promised <= ballot_) return;
  StepDown();
}

void Proposer::OnHeartbeatReply(ReplicaId from, const HeartbeatReply& reply) {
  if (state_.role != Role::kLeader || reply.ballot != ballot_) return;
  active_peers_.insert(from);
  if (from == transfer_target_) {
    target_chosen_point_ = std::max(target_chosen_point_, reply.chosen_point);
    MaybeSendTimeoutNow();
  }
}

ProposeResult Proposer::Propose(std::vector<std::string> commands) {
  ProposeResult result;
  if (state_.role != Role::kLeader) {
    result.status = ProposeResult::Status::kNotLeader;
    // A replica outside the configuration it knows (removed, or not added
    // yet) hears no leader: what it remembers is no hint.
    result.leader_hint = state_.role == Role::kFollower && state_.config().Contains(state_.self())
                             ? state_.leader
                             : kNoReplica;
    return result;
  }
  result.leader_hint = state_.self();
  if (transfer_target_ != kNoReplica) {
    result.status = ProposeResult::Status::kTransferring;
    return result;
  }
  size_t bytes = 0;
  for (const std::string& command : commands) bytes += command.size();
  const CoreOptions& options = state_.options();
  if (pending_.size() + commands.size() > options.max_pending_commands ||
      (!pending_.empty() && pending_bytes_ + bytes > options.max_pending_bytes)) {
    result.status = ProposeResult::Status::kBusy;
    return result;
  }
  for (std::string& command : commands) {
    pending_bytes_ += command.size();
    pending_.push_back(std::move(command));
  }
  result.status = ProposeResult::Status::kAccepted;
  FillWindow();
  return result;
}

void Proposer::FillWindow() {
  if (state_.role != Role::kLeader) return;
  // Nothing above a recovered value not yet proposed, or above an unchosen
  // configuration change: the slots above are governed by what it becomes.
  if (!reproposals_.empty() || ConfigInFlight() || GapBlocksProposals() || !PromisesCoverConfig()) {
    return;
  }
  const CoreOptions& options = state_.options();
  while (!pending_.empty() && votes_.size() < options.window_slots) {
    std::vector<std::string> batch;
    size_t bytes = 0;
    while (!pending_.empty() && batch.size() < options.max_batch_commands &&
           (batch.empty() || bytes + pending_.front().size() <= options.max_batch_bytes)) {
      bytes += pending_.front().size();
      batch.push_back(std::move(pending_.front()));
      pending_.pop_front();
    }
    pending_bytes_ -= bytes;
    ProposeAt(next_slot_++, MakeCommandsValue(std::move(batch)));
  }
}

void Proposer::Tick() {
  const CoreOptions& options = state_.options();
  if (state_.role == Role::kCandidate) {
    // The wait for promises that close a gap runs from when a quorum is in.
    if (self_promise_durable_ && HasPromiseQuorums(Phase1Chain())) ++gap_wait_ticks_;
    MaybeBecomeLeader();
    if (state_.role != Role::kCandidate) return;
    if (++heartbeat_elapsed_ < options.heartbeat_ticks) return;
    heartbeat_elapsed_ = 0;
    for (const auto& [id, progress] : promises_) {
      if (!progress.complete) {
        state_.SendAfterPersist(id, Prepare{ballot_, progress.next_slot, transfer_from_});
      }
    }
    return;
  }
  if (state_.role != Role::kLeader) return;
  if (!state_.config().IsVoter(state_.self())) {
    StepDown();  // removed (or never a voter of the configuration now in effect)
    return;
  }
  if (gap_end_ > learner_.chosen_point()) {
    // Nobody has offered the gap's slots for a while (the snapshot holder may
    // be gone for good): a new phase 1 with the members up now may find a
    // quorum that still holds them. A fetch in progress keeps being offered.
    if (learner_.ticks_without_help() >= 2 * options.election_ticks) {
      StartPhase1();
      return;
    }
  } else {
    gap_end_ = 0;
  }
  EndTransferToNonVoter();
  if (transfer_target_ != kNoReplica && ++transfer_elapsed_ >= options.election_ticks &&
      !keep_failed_transfer_) {
    EndTransfer();  // no new leader deposed this one in time: take commands again
  }
  if (++check_quorum_elapsed_ >= options.election_ticks) {
    check_quorum_elapsed_ = 0;
    const Configuration& config = state_.config();
    size_t active = config.IsVoter(state_.self()) ? 1 : 0;
    for (ReplicaId peer : active_peers_) active += config.IsVoter(peer) ? 1 : 0;
    bool quorum_active = config.IsQuorum(active);
    active_peers_.clear();
    if (!quorum_active) {
      StepDown();
      return;
    }
  }
  if (++heartbeat_elapsed_ < options.heartbeat_ticks) return;
  heartbeat_elapsed_ = 0;
  for (ReplicaId member : Targets()) state_.Send(member, Heartbeat{ballot_, CommitPoint()});
  ChooseInOrder();  // the chosen point may have moved by catch-up
  // Slots learned chosen some other way (catch-up) need no votes: waiting for
  // acceptors that compacted them would hold the window forever.
  votes_.erase(votes_.begin(), votes_.upper_bound(learner_.chosen_point()));
  counted_.erase(counted_.begin(), counted_.upper_bound(learner_.chosen_point()));
  for (const auto& [slot, voters] : votes_) {
    const Entry* entry = state_.Find(slot);
    SYNOD_INVARIANT(entry != nullptr && entry->ballot == ballot_, "in-flight slot lost its value");
    for (ReplicaId member : Targets()) {
      if (std::find(voters.begin(), voters.end(), member) != voters.end()) continue;
      SendAcceptTo(member, slot, entry->value);
    }
  }
  ContinueReproposals();
  FillWindow();  // room may have opened above
}

}  // namespace synod::paxos
