// Replica's configuration changes: changeMembers() calls on the leader,
// checked by PlanMemberChange, proposed through the core, answered once their
// slot is applied here (docs/runtime.md, "Membership").
#include <spdlog/logger.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <chrono>

#include "node/member_change_plan.h"
#include "node/replica.h"

namespace synod::node {

namespace {

using Clock = std::chrono::steady_clock;
using transport::ChangeReply;
using transport::ChangeStatus;

// How long a proposed change waits to be applied here before its caller is
// told the outcome is unknown.
constexpr std::chrono::seconds kChangeApplyLimit{30};
// Longest catch-up wait a promotion may ask for.
constexpr std::chrono::milliseconds kMaxPromoteWait{60000};

// True if a learner with `lag` (Replica::LearnerLag) may be promoted.
bool CaughtUp(const std::optional<paxos::Slot>& lag, uint32_t window_slots) {
  return lag && *lag <= window_slots;
}

ChangeReply Reply(ChangeStatus status, paxos::ReplicaId hint, std::string reason) {
  ChangeReply reply;
  reply.status = status;
  reply.leader_hint = hint;
  reply.reason = std::move(reason);
  return reply;
}

std::string Describe(const transport::MemberChange& change) {
  switch (change.kind) {
    case transport::MemberChangeKind::kAddLearner:
      return "add learner " + std::to_string(change.replica) + " at " + change.address;
    case transport::MemberChangeKind::kPromote:
      return "promote " + std::to_string(change.replica);
    case transport::MemberChangeKind::kRemove:
      return "remove " + std::to_string(change.replica);
  }
  return "change";
}

}  // namespace

void Replica::OnChangeMembers(transport::MemberChange change, transport::ChangeDone done) {
  if (!core_) return done(Reply(ChangeStatus::kNotLeader, paxos::kNoReplica, "not serving yet"));
  paxos::CoreStatus status = core_->Status();
  if (status.role != paxos::Role::kLeader) {
    return done(Reply(ChangeStatus::kNotLeader, status.leader,
                      "replica " + std::to_string(options_.id) + " is not the leader"));
  }
  // A promotion is checked for a quorum once its learner caught up: until it
  // reports, the learner counts as unreachable among the voters it would join.
  const bool promotion_waits = change.kind == transport::MemberChangeKind::kPromote &&
                               !CaughtUp(LearnerLag(change.replica, status), options_.window_slots);
  ChangePlan plan = PlanCheckedChange(status, change, /*check_quorum=*/!promotion_waits);
  switch (plan.action) {
    case ChangePlan::Action::kRefuse:
      return done(Reply(ChangeStatus::kInvalid, options_.id, plan.reason));
    case ChangePlan::Action::kAlready: {
      ChangeReply reply = Reply(ChangeStatus::kDone, options_.id, "");
      reply.config_slot = status.config_slot;
      reply.already = true;
      return done(std::move(reply));
    }
    case ChangePlan::Action::kHandOver:
      return HandOverBeforeRemoval(std::move(done));
    case ChangePlan::Action::kPropose:
      break;
  }
  if (promotion_waits) {  // checked again, quorum included, when it is proposed
    auto wait = std::min<std::chrono::milliseconds>(std::chrono::milliseconds(change.wait_ms),
                                                    kMaxPromoteWait);
    change_waiters_.push_back(
        ChangeWaiter{change, 0, nullptr, Clock::now() + wait, std::move(done)});
    CheckMembership();  // a zero wait answers at once
    return;
  }
  ProposeChange(plan.next, status.config_slot, std::move(change), std::move(done));
}

ChangePlan Replica::PlanCheckedChange(const paxos::CoreStatus& status,
                                      const transport::MemberChange& change,
                                      bool check_quorum) const {
  ChangePlan plan = PlanMemberChange(status.config, change, options_.id, options_.cluster);
  if (plan.action != ChangePlan::Action::kPropose) return plan;
  // A member the change removes that is unreachable (down: its disk died) is
  // not checked, or an older-build one could never be removed; a running one
  // is, as it would not read its removal and would go on counting quorums of
  // the old voters with the replicas that did not apply it yet.
  auto features_of = [this, &plan](paxos::ReplicaId id) -> std::optional<uint32_t> {
    if (plan.next.IsRetired(id) && !peers_->LinkState(id).connected && !HeardFromRecently(id)) {
      return std::nullopt;
    }
    return KnownFeatures(id);
  };
  std::string why = OlderBuildMember(status.config, plan.next, options_.id, features_of);
  if (why.empty() && check_quorum) why = QuorumAfterChange(plan.next);
  if (!why.empty()) {
    plan.action = ChangePlan::Action::kRefuse;
    plan.reason = std::move(why);
  }
  return plan;
}

std::optional<uint32_t> Replica::KnownFeatures(paxos::ReplicaId id) const {
  std::optional<uint32_t> known = server_->PeerFeatures(id);
  transport::PeerLinkState link = peers_->LinkState(id);
  // A reply from another replica than `id` (a stale address) says nothing of `id`.
  if (link.handshakes > 0 && link.last_handshake.server_replica == id) {
    known = known.value_or(~0u) & link.last_handshake.features;
  }
  return known;
}

void Replica::ProposeChange(const paxos::Configuration& next, paxos::Slot base_slot,
                            transport::MemberChange change, transport::ChangeDone done) {
  paxos::ReconfigureResult result = core_->ProposeConfiguration(next, base_slot);
  switch (result.status) {
    case paxos::ReconfigureResult::Status::kAccepted:
      logger_->info("membership: proposed '{}' at slot {}: {}", Describe(change), result.slot,
                    next.ToString());
      change_waiters_.push_back(ChangeWaiter{std::move(change), result.slot,
                                             paxos::MakeConfigurationValue(base_slot, next),
                                             Clock::now() + kChangeApplyLimit, std::move(done)});
      pump_->Pump();
      return;
    case paxos::ReconfigureResult::Status::kNotLeader:
      return done(Reply(ChangeStatus::kNotLeader, result.leader_hint,
                        "replica " + std::to_string(options_.id) + " is not the leader"));
    case paxos::ReconfigureResult::Status::kBusy:
      return done(Reply(ChangeStatus::kBusy, options_.id, result.reason));
    case paxos::ReconfigureResult::Status::kInvalid:
      return done(Reply(ChangeStatus::kInvalid, options_.id, result.reason));
  }
}

void Replica::HandOverBeforeRemoval(transport::ChangeDone done) {
  paxos::CoreStatus status = core_->Status();
  const std::string why =
      "replica " + std::to_string(options_.id) + " leads: leadership moves before it is removed";
  if (status.transfer_target != paxos::kNoReplica) {
    return done(
        Reply(ChangeStatus::kBusy, options_.id,
              why + " (transfer to " + std::to_string(status.transfer_target) + " in progress)"));
  }
  if (std::string problem = QuorumAfterChange(status.config.WithRemoved(options_.id));
      !problem.empty()) {
    return done(Reply(ChangeStatus::kInvalid, options_.id, problem));
  }
  paxos::ReplicaId target = PickHandOverTarget(status);
  if (target == paxos::kNoReplica) {
    return done(Reply(ChangeStatus::kBusy, options_.id,
                      why + ", and no other voter is connected to take over"));
  }
  paxos::TransferResult result = core_->TransferLeadership(target);
  if (result.status != paxos::TransferResult::Status::kAccepted) {
    return done(
        Reply(ChangeStatus::kBusy, options_.id,
              why + ": transfer to " + std::to_string(target) + " refused: " + result.reason));
  }
  logger_->info("membership: transferring leadership to {} before removing replica {}", target,
                options_.id);
  transfer_target_ = target;
  transfer_timeout_now_sent_ = false;
  done(Reply(ChangeStatus::kBusy, options_.id,
             why + " (transferring to " + std::to_string(target) + ")"));
  AfterInput();
}

std::optional<paxos::Slot> Replica::LearnerLag(paxos::ReplicaId id,
                                               const paxos::CoreStatus& status) const {
  auto chosen = peer_chosen_.find(id);
  if (chosen == peer_chosen_.end() || !HeardFromRecently(id)) return std::nullopt;
  return status.chosen_point > chosen->second ? status.chosen_point - chosen->second : 0;
}

bool Replica::HeardFromRecently(paxos::ReplicaId id) const {
  auto at = peer_chosen_at_.find(id);
  return at != peer_chosen_at_.end() &&
         Clock::now() - at->second < std::chrono::milliseconds(options_.election_timeout_ms);
}

std::string Replica::QuorumAfterChange(const paxos::Configuration& next) const {
  size_t reachable = 0;
  for (paxos::ReplicaId id : next.voters()) {
    if (id == options_.id || HeardFromRecently(id)) ++reachable;
  }
  if (next.IsQuorum(reachable)) return "";
  return "after the change only " + std::to_string(reachable) + " of its " +
         std::to_string(next.voters().size()) + " voters would be reachable (a quorum is " +
         std::to_string(next.QuorumSize()) +
         "): the cluster could not choose anything, not even a change to undo it";
}

void Replica::AnswerChangeAt(const paxos::CommittedEntry& entry) {
  for (auto it = change_waiters_.begin(); it != change_waiters_.end();) {
    if (it->slot != entry.slot) {
      ++it;
      continue;
    }
    ChangeWaiter waiter = std::move(*it);
    it = change_waiters_.erase(it);
    ChangeReply reply;
    reply.leader_hint = options_.id;
    reply.proposed_slot = entry.slot;
    if (!paxos::SameValue(entry.value, waiter.value)) {
      reply.status = ChangeStatus::kBusy;
      reply.reason = "leadership changed before the change was chosen at slot " +
                     std::to_string(entry.slot) + "; nothing changed";
    } else if (applier_->config().slot == entry.slot) {
      reply.status = ChangeStatus::kDone;
      reply.config_slot = entry.slot;
      logger_->info("membership: '{}' in effect from slot {}", Describe(waiter.change),
                    entry.slot + 1);
    } else {
      reply.status = ChangeStatus::kSuperseded;
      reply.reason = "another change took effect first (config slot " +
                     std::to_string(applier_->config().slot) + ")";
    }
    waiter.done(std::move(reply));
  }
}

void Replica::CheckMembership() {
  if (change_waiters_.empty() || !core_) return;
  const Clock::time_point now = Clock::now();
  std::vector<ChangeWaiter> waiting = std::move(change_waiters_);
  change_waiters_.clear();
  for (ChangeWaiter& waiter : waiting) {
    if (waiter.slot > 0) {
      if (waiter.slot <= applier_->applied()) {
        // A snapshot covered the slot before this replica applied it.
        ChangeReply reply = Reply(ChangeStatus::kUnknown, core_->Status().leader,
                                  "a snapshot covered slot " + std::to_string(waiter.slot) +
                                      " before this replica applied it");
        reply.proposed_slot = waiter.slot;
        waiter.done(std::move(reply));
      } else if (now >= waiter.deadline) {
        ChangeReply reply =
            Reply(ChangeStatus::kUnknown, core_->Status().leader,
                  "slot " + std::to_string(waiter.slot) + " not applied here within " +
                      std::to_string(kChangeApplyLimit.count()) + " s");
        reply.proposed_slot = waiter.slot;
        waiter.done(std::move(reply));
      } else {
        change_waiters_.push_back(std::move(waiter));
      }
      continue;
    }
    // A promotion waiting for its learner.
    paxos::CoreStatus status = core_->Status();
    if (status.role != paxos::Role::kLeader) {
      waiter.done(Reply(ChangeStatus::kNotLeader, status.leader,
                        "replica " + std::to_string(options_.id) + " is not the leader"));
      continue;
    }
    std::optional<paxos::Slot> lag = LearnerLag(waiter.change.replica, status);
    if (CaughtUp(lag, options_.window_slots)) {
      ChangePlan plan = PlanCheckedChange(status, waiter.change, /*check_quorum=*/true);
      if (plan.action == ChangePlan::Action::kRefuse) {
        waiter.done(Reply(ChangeStatus::kInvalid, options_.id, plan.reason));
      } else if (plan.action == ChangePlan::Action::kPropose) {
        ProposeChange(plan.next, status.config_slot, std::move(waiter.change),
                      std::move(waiter.done));
      } else {
        OnChangeMembers(std::move(waiter.change), std::move(waiter.done));  // answers at once
      }
    } else if (now >= waiter.deadline &&
               PlanMemberChange(status.config, waiter.change, options_.id, options_.cluster)
                       .action != ChangePlan::Action::kPropose) {
      // The promotion took effect meanwhile (an earlier attempt), or no
      // longer can: answered as a new request would be.
      OnChangeMembers(std::move(waiter.change), std::move(waiter.done));
    } else if (now >= waiter.deadline) {
      // Without a recent report the learner is as far behind as it is known
      // to be: all of it.
      paxos::Slot behind = lag.value_or(status.chosen_point);
      ChangeReply reply =
          Reply(ChangeStatus::kBehind, options_.id,
                "learner " + std::to_string(waiter.change.replica) + " is " +
                    std::to_string(behind) + " slots behind" +
                    (lag ? "" : " (no progress report from it within an election timeout)"));
      reply.behind = behind;
      waiter.done(std::move(reply));
    } else {
      change_waiters_.push_back(std::move(waiter));
    }
  }
}

bool Replica::FollowConfiguration() {
  const paxos::ConfigAt& config = applier_->config();
  if (config.slot == followed_config_slot_ && config.slot != 0) return !removed_;
  followed_config_slot_ = config.slot;
  book_ = AddressBook::From(config, options_.cluster);
  // Where the core sends (Proposer::Targets): the members of this
  // configuration and of the previous one, so a member just removed still
  // learns its removal from the log.
  std::vector<transport::PeerEndpoint> endpoints = book_.Endpoints(options_.id);
  std::vector<paxos::ReplicaId> ids = config.config.members();
  if (previous_config_) {
    AddressBook previous = AddressBook::From(*previous_config_, options_.cluster);
    for (const transport::PeerEndpoint& peer : previous.Endpoints(options_.id)) {
      if (book_.Find(peer.id) == nullptr) endpoints.push_back(peer);
    }
    for (paxos::ReplicaId id : previous_config_->config.members()) {
      if (!config.config.Contains(id)) ids.push_back(id);
    }
  }
  std::erase(ids, options_.id);
  // Handshake-only links to the --members entries this configuration does
  // not know (neither members nor retired): a replica removed while down,
  // whose whole configuration was removed after it, hears no member it
  // knows; a current member it lists refuses its hello saying it was removed
  // (the handshake observer stops it). Nothing is sent on these links: the
  // core sends only to its configurations' members (Proposer::Targets), and
  // the NetworkSink is its only sender.
  stale_links_.clear();
  for (const MemberAddress& listed : options_.cluster.members) {
    const paxos::ReplicaId id = listed.id;
    if (id == options_.id || config.config.Contains(id) || config.config.IsRetired(id)) continue;
    if (std::any_of(endpoints.begin(), endpoints.end(),
                    [id](const transport::PeerEndpoint& peer) { return peer.id == id; })) {
      continue;  // a member of the previous configuration
    }
    endpoints.push_back({id, listed.host, listed.port});
    stale_links_.insert(id);
  }
  peers_->SetPeers(std::move(endpoints));
  server_->SetPeers(std::move(ids));
  // Until the first change the static list is the book, stated as given.
  if (config.slot > 0) server_->SetMembers(book_.ToString());
  server_->SetRetired(config.config.retired(), config.slot);
  // A build that cannot read this configuration would void it and follow
  // other voters: from now on no peer messages with such a build, either way.
  const uint32_t required =
      RecordsRemovedAddress(config.config) ? transport::kFeatureRetiredAddresses : 0;
  server_->SetRequiredPeerFeatures(required);
  peers_->SetRequiredFeatures(required);
  if (config.config.IsRetired(options_.id)) {
    StopRemoved("configuration slot " + std::to_string(config.slot));
    return false;
  }
  if (config.slot > 0) RecordConfigurationFile(config);
  return true;
}

void Replica::RecordConfigurationFile(const paxos::ConfigAt& config) {
  // Off the loop (temporary file, fsync, rename); jobs run in order, so the
  // file ends with the newest configuration. A failed write leaves the
  // previous content, which is still consistent: the founding list never
  // changes and a member's address never changes.
  writer_->Submit(
      [dir = options_.data_dir, slot = config.slot,
       book = AddressBook::From(config, options_.cluster).ToString(), log = logger_] {
        Result<bool> written = RecordConfiguration(dir, slot, book);
        if (written.ok() && *written) {
          log->info("recorded the configuration set at slot {} (members {}) in {}/members", slot,
                    book, dir);
        } else if (!written.ok() && written.status().IsNotFound()) {
          log->warn(
              "configuration slot {} not recorded: {}; restarts keep needing the exact "
              "--members this replica started with",
              slot, written.status().message());
        } else if (!written.ok()) {
          log->error("cannot record the configuration set at slot {} in {}/members: {}", slot, dir,
                     written.status().message());
        }
      },
      nullptr);
}

void Replica::StopRemoved(const std::string& evidence) {
  if (removed_) return;
  removed_ = true;
  std::string reason = "replica " + std::to_string(options_.id) +
                       " was removed from the cluster (" + evidence +
                       "); it cannot rejoin under this id: start a replica under a new id and "
                       "add it with 'members add'";
  // Posted: StartCore may run inside Start, before the loop runs, where a
  // stop would be lost.
  boost::asio::post(loop_.io(), [this, alive = std::weak_ptr<bool>(alive_), reason] {
    if (alive.lock()) Fatal(reason);
  });
}

}  // namespace synod::node
