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

size_t Proposer::CompletePromises(const Configuration& config) const {
  size_t complete = self_promise_durable_ && config.IsVoter(state_.self()) ? 1 : 0;
  for (const auto& [id, progress] : promises_) {
    complete += progress.complete && config.IsVoter(id) ? 1 : 0;
  }
  return complete;
}

std::vector<ConfigAt> Proposer::Phase1Chain() const {
  std::vector<ConfigAt> chain{state_.ConfigAtFor(phase1_from_)};
  if (state_.broken_rule == MembershipBreak::kStaleConfigQuorum) return chain;
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

bool Proposer::GapBlocksProposals() const {
  if (state_.broken_rule == MembershipBreak::kProposeOverGap) return false;
  return gap_end_ > learner_.chosen_point();
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

bool Proposer::PromisesCoverConfig() {
  if (state_.broken_rule == MembershipBreak::kKeepOldPromises) return true;
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

bool Proposer::ConfigInFlight() const {
  if (state_.broken_rule == MembershipBreak::kTwoConfigsInFlight) return false;
  return config_in_flight_ > learner_.chosen_point();
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
    if (it == counted_.end()) return;
    std::vector<ReplicaId> voters = std::move(it->second);
    counted_.erase(it);
    // Every slot below is chosen: config() is the one governing `slot`.
    if (!state_.config().IsQuorum(state_.config().CountVoters(voters))) {
      votes_[slot] = std::move(voters);  // counted under a configuration that does not govern it
      return;
    }
    learner_.MarkChosen(slot);  // may put a change chosen at `slot` in effect
  }
}

void Proposer::ResumeAfterChosen() {
  if (state_.role != Role::kLeader) return;
  EndTransferToNonVoter();
  ChooseInOrder();
  ContinueReproposals();
  FillWindow();
}

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
  if (state_.broken_rule != MembershipBreak::kConfigBeforeOwnValue &&
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
  if (state_.broken_rule == MembershipBreak::kCountAhead) {
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

TransferResult Proposer::TransferLeadership(ReplicaId target) {
  TransferResult result;
  if (state_.role != Role::kLeader) {
    result.status = TransferResult::Status::kNotLeader;
    result.leader_hint = state_.role == Role::kFollower ? state_.leader : kNoReplica;
    return result;
  }
  result.leader_hint = state_.self();
  const Configuration& config = state_.config();
  result.status = TransferResult::Status::kInvalid;
  if (target == state_.self()) {
    result.reason = "replica " + std::to_string(target) + " already leads";
    return result;
  }
  if (!config.IsVoter(target)) {
    result.reason = "replica " + std::to_string(target) +
                    (config.Contains(target)    ? " is a learner, not a voter"
                     : config.IsRetired(target) ? " was removed from the configuration"
                                                : " is not a member of the configuration");
    return result;
  }
  result.status = TransferResult::Status::kBusy;
  if (transfer_target_ != kNoReplica) {
    result.reason = "a leadership transfer is in flight";
    return result;
  }
  if (ConfigInFlight() || !reproposals_.empty()) {
    // A recovered value not proposed yet may be a configuration change.
    result.reason = ConfigInFlight() ? "a configuration change is in flight"
                                     : "this leader's recovered values are not all proposed yet";
    return result;
  }
  if (GapBlocksProposals()) {
    // The slots of the gap may hold a configuration change, and this leader
    // cannot tell the target's catch-up point until it has them.
    result.reason = "this leader is still fetching a snapshot of slots below its own";
    return result;
  }
  transfer_target_ = target;
  transfer_elapsed_ = 0;
  target_chosen_point_ = 0;
  // Ask for the target's chosen point now (its reply may send TimeoutNow).
  state_.Send(target, Heartbeat{ballot_, CommitPoint()});
  result.status = TransferResult::Status::kAccepted;
  return result;
}

void Proposer::MaybeSendTimeoutNow() {
  if (state_.role != Role::kLeader || transfer_target_ == kNoReplica) return;
  Slot last = next_slot_ - 1;  // the highest slot this leader proposed (or recovered)
  if (!pending_.empty() || !reproposals_.empty() || GapBlocksProposals() ||
      learner_.chosen_point() < last || target_chosen_point_ < last) {
    return;
  }
  // Once per transfer: if it is lost, or the target cannot win, the
  // transfer fails after election_ticks and this leader takes commands again.
  if (timeout_now_sent_) return;
  timeout_now_sent_ = true;
  state_.Send(transfer_target_, TimeoutNow{ballot_});
}

void Proposer::EndTransferToNonVoter() {
  if (transfer_target_ != kNoReplica && !state_.config().IsVoter(transfer_target_)) EndTransfer();
}

void Proposer::EndTransfer() {
  transfer_target_ = kNoReplica;
  timeout_now_sent_ = false;
  transfer_elapsed_ = 0;
  target_chosen_point_ = 0;
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
