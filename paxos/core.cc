#include "paxos/core.h"

#include <stdexcept>
#include <type_traits>

#include "paxos/acceptor.h"
#include "paxos/election.h"
#include "paxos/invariant.h"
#include "paxos/learner.h"
#include "paxos/proposer.h"
#include "paxos/replica_state.h"

namespace synod::paxos {

const char* RoleName(Role role) {
  switch (role) {
    case Role::kFollower:
      return "follower";
    case Role::kPreCandidate:
      return "pre-candidate";
    case Role::kCandidate:
      return "candidate";
    case Role::kLeader:
      return "leader";
  }
  return "unknown";
}

Core::Core(ReplicaId self, Configuration config, CoreOptions options, RandomSource& random,
           DurableState durable, Slot applied)
    : state_(std::make_unique<ReplicaState>(self, ConfigAt{0, std::move(config)}, true, options,
                                            random, std::move(durable))),
      learner_(std::make_unique<Learner>(*state_, applied)),
      election_(std::make_unique<Election>(*state_)),
      acceptor_(std::make_unique<Acceptor>(*state_, *learner_, *election_)),
      proposer_(std::make_unique<Proposer>(*state_, *learner_)) {}

Core::Core(ReplicaId self, ConfigAt config, CoreOptions options, RandomSource& random,
           DurableState durable, Slot applied)
    : state_(config.slot > applied
                 ? throw std::invalid_argument("the configuration is newer than the applied slot")
                 : std::make_unique<ReplicaState>(self, std::move(config), false, options, random,
                                                  std::move(durable))),
      learner_(std::make_unique<Learner>(*state_, applied)),
      election_(std::make_unique<Election>(*state_)),
      acceptor_(std::make_unique<Acceptor>(*state_, *learner_, *election_)),
      proposer_(std::make_unique<Proposer>(*state_, *learner_)) {}

Core::~Core() = default;

namespace {

// The ballot a message speaks for, if any (to track the highest round seen).
Ballot BallotOf(const MessageBody& body) {
  return std::visit(
      [](const auto& m) -> Ballot {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, PreVoteReply>) {
          return m.promised;
        } else if constexpr (std::is_same_v<T, Reject>) {
          return m.promised;
        } else if constexpr (requires { m.ballot; }) {
          return m.ballot;
        } else {
          return Ballot{};
        }
      },
      body);
}

}  // namespace

void Core::Step(const Message& message) {
  if (message.to != state_->self() || message.from == state_->self() ||
      message.from == kNoReplica) {
    return;
  }
  // A removed member may not know it was removed: it must not raise ballots.
  if ((std::holds_alternative<PreVoteRequest>(message.body) ||
       std::holds_alternative<Prepare>(message.body)) &&
      state_->config().IsRetired(message.from)) {
    return;
  }
  Role before = state_->role;
  Ballot before_ballot = proposer_->ballot();
  state_->NoteBallot(BallotOf(message.body));
  ReplicaId from = message.from;
  std::visit(
      [&](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, PreVoteRequest>) {
          election_->OnPreVoteRequest(from, m);
        } else if constexpr (std::is_same_v<T, PreVoteReply>) {
          if (election_->OnPreVoteReply(from, m) == Election::Action::kStartPhase1) {
            proposer_->StartPhase1();
          }
        } else if constexpr (std::is_same_v<T, Prepare>) {
          acceptor_->OnPrepare(from, m);
        } else if constexpr (std::is_same_v<T, Promise>) {
          proposer_->OnPromise(from, m);
        } else if constexpr (std::is_same_v<T, Accept>) {
          acceptor_->OnAccept(from, m);
        } else if constexpr (std::is_same_v<T, Accepted>) {
          proposer_->OnAccepted(from, m);
        } else if constexpr (std::is_same_v<T, Reject>) {
          proposer_->OnReject(from, m);
        } else if constexpr (std::is_same_v<T, Heartbeat>) {
          acceptor_->OnHeartbeat(from, m);
        } else if constexpr (std::is_same_v<T, HeartbeatReply>) {
          proposer_->OnHeartbeatReply(from, m);
        } else if constexpr (std::is_same_v<T, CatchupRequest>) {
          learner_->OnCatchupRequest(from, m);
        } else if constexpr (std::is_same_v<T, CatchupReply>) {
          learner_->OnCatchupReply(from, m);
          proposer_->StepDownIfChosenElsewhere(0);
        } else if constexpr (std::is_same_v<T, TimeoutNow>) {
          if (election_->OnTimeoutNow(from, m)) {
            proposer_->StartPhase1(/*transfer_from=*/m.ballot);
          }
        }
      },
      message.body);
  // A higher promise or a leader with a higher ballot outranks our candidacy
  // or leadership: step down (two leaders are safe, but pointless).
  Role role = state_->role;
  if ((role == Role::kCandidate || role == Role::kLeader) &&
      (state_->promised() > proposer_->ballot() || state_->leader_ballot > proposer_->ballot())) {
    proposer_->StepDown();
  }
  SyncElection(before, before_ballot);
}

void Core::Tick() {
  Role before = state_->role;
  Ballot before_ballot = proposer_->ballot();
  learner_->Tick();
  proposer_->Tick();
  // A leader re-running phase 1 (a gap it cannot fill, a configuration that
  // took effect) or stepping down: its election timers start afresh.
  if (SyncElection(before, before_ballot)) return;
  Election::Action action = election_->Tick();
  before = state_->role;  // a follower may have become a pre-candidate
  switch (action) {
    case Election::Action::kNone:
      break;
    case Election::Action::kStartPhase1:
      proposer_->StartPhase1();
      break;
    case Election::Action::kAbandonCandidacy:
      proposer_->StepDown();
      break;
  }
  SyncElection(before, before_ballot);
}

bool Core::SyncElection(Role before, Ballot before_ballot) {
  Role role = state_->role;
  if (role == Role::kCandidate && proposer_->ballot() != before_ballot) {
    election_->ResetTimer();  // a new candidacy: a whole election timeout for its phase 1
    return true;
  }
  if ((before == Role::kCandidate || before == Role::kLeader) && role == Role::kFollower) {
    election_->BecomeFollower();
    return true;
  }
  return false;
}

ProposeResult Core::Propose(std::vector<std::string> commands) {
  if (commands.empty()) {
    ProposeResult result;
    result.status = state_->role == Role::kLeader ? ProposeResult::Status::kAccepted
                                                  : ProposeResult::Status::kNotLeader;
    result.leader_hint = state_->leader;
    return result;
  }
  Role before = state_->role;
  Ballot before_ballot = proposer_->ballot();
  ProposeResult result = proposer_->Propose(std::move(commands));
  SyncElection(before, before_ballot);  // a configuration in effect may send it to phase 1
  return result;
}

ReconfigureResult Core::ProposeConfiguration(const Configuration& next, Slot base_slot) {
  Role before = state_->role;
  Ballot before_ballot = proposer_->ballot();
  ReconfigureResult result = proposer_->ProposeConfiguration(next, base_slot);
  SyncElection(before, before_ballot);
  return result;
}

TransferResult Core::TransferLeadership(ReplicaId target) {
  Role before = state_->role;
  Ballot before_ballot = proposer_->ballot();
  TransferResult result = proposer_->TransferLeadership(target);
  SyncElection(before, before_ballot);
  return result;
}

bool Core::HasReady() const { return state_->HasReady(); }

Ready Core::TakeReady() { return state_->TakeReady(); }

void Core::Advance() {
  Role before = state_->role;
  Ballot before_ballot = proposer_->ballot();
  PersistedSummary persisted = state_->Advance();
  proposer_->OnPersisted(persisted);  // own votes may choose a configuration change
  SyncElection(before, before_ballot);
}

void Core::Compact(Slot snapshot_slot, Slot keep_tail) {
  SYNOD_INVARIANT(snapshot_slot <= learner_->delivered(), "a snapshot of slots not yet delivered");
  state_->NoteSnapshot(snapshot_slot);
  Slot upto = snapshot_slot > keep_tail ? snapshot_slot - keep_tail : 0;
  if (upto <= state_->compacted()) return;
  Role before = state_->role;
  Ballot before_ballot = proposer_->ballot();
  state_->DropThrough(upto);
  proposer_->ForgetThrough(upto);
  SyncElection(before, before_ballot);
}

bool Core::InstallSnapshot(Slot slot) { return InstallSnapshot(slot, state_->current_config()); }

bool Core::InstallSnapshot(Slot slot, const ConfigAt& config) {
  if (slot <= learner_->delivered()) return false;
  SYNOD_INVARIANT(config.slot <= slot, "a snapshot's configuration is set at or below its slot");
  // A leader whose own unconfirmed proposals the snapshot covers may have
  // been deposed by a leader that chose other values there.
  Role before = state_->role;
  Ballot before_ballot = proposer_->ballot();
  proposer_->StepDownIfChosenElsewhere(slot);
  state_->DropThrough(slot);
  proposer_->ForgetThrough(slot);
  state_->ResetConfiguration(config);
  learner_->InstallSnapshot(slot);
  // The configuration it holds may send a leader back to phase 1 (or make it step down).
  proposer_->ResumeAfterChosen();
  SyncElection(before, before_ballot);
  return true;
}

void Core::DisableCommitPointGuardForTesting() { proposer_->DisableCommitPointGuardForTesting(); }

void Core::BreakMembershipRuleForTesting(MembershipBreak rule) {
  if (rule == MembershipBreak::kNone) return;
  state_->broken_rules =
      static_cast<uint8_t>(state_->broken_rules | (1u << static_cast<unsigned>(rule)));
}

void Core::ShrinkQuorumsForTesting() { state_->ShrinkQuorumsForTesting(); }

void Core::KeepFailedTransferForTesting() { proposer_->KeepFailedTransferForTesting(); }

CoreStatus Core::Status() const {
  CoreStatus status;
  status.id = state_->self();
  status.role = state_->role;
  status.promised = state_->promised();
  status.leader_ballot = state_->leader_ballot;
  status.leader = state_->leader;
  status.chosen_point = learner_->chosen_point();
  status.delivered = learner_->delivered();
  status.last_slot = state_->LastSlot();
  status.compacted = state_->compacted();
  status.pending_commands = proposer_->pending_commands();
  status.transfer_target = proposer_->transfer_target();
  status.transfer_timeout_now_sent = proposer_->transfer_timeout_now_sent();
  status.config = state_->config();
  status.config_slot = state_->config_slot();
  const Configuration& config = state_->config();
  status.membership = config.IsVoter(state_->self())     ? Membership::kVoter
                      : config.Contains(state_->self())  ? Membership::kLearner
                      : config.IsRetired(state_->self()) ? Membership::kRemoved
                                                         : Membership::kNotMember;
  return status;
}

ValuePtr Core::ChosenValue(Slot slot) const {
  // Below the snapshot a restart began from, an entry may hold an old accept
  // that was never chosen (its mark is what says otherwise): only marked
  // entries are answered.
  const Entry* entry = state_->Find(slot);
  return entry == nullptr || !entry->chosen ? nullptr : entry->value;
}

}  // namespace synod::paxos
