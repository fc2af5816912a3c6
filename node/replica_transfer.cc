// Replica's leadership transfer: transferLeader() calls, submits parked while
// a transfer runs, and the hand-over before a shutdown (docs/runtime.md,
// "Leadership transfer").
#include <spdlog/logger.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <chrono>

#include "node/replica.h"

namespace synod::node {

void Replica::OnTransferLeader(paxos::ReplicaId target, transport::TransferDone done) {
  using transport::TransferReply;
  using transport::TransferStatus;
  if (!core_) {
    done(TransferReply{TransferStatus::kNotLeader, paxos::kNoReplica, "not serving yet"});
    return;
  }
  paxos::CoreStatus status = core_->Status();
  if (status.role == paxos::Role::kLeader && target == options_.id &&
      status.transfer_target == paxos::kNoReplica) {
    done(TransferReply{TransferStatus::kHandedOver, options_.id, ""});
    return;
  }
  if (status.role == paxos::Role::kLeader && status.transfer_target != paxos::kNoReplica &&
      status.transfer_target == target) {
    transfer_waiters_.push_back(std::move(done));  // the same transfer runs: wait for it
    return;
  }
  paxos::TransferResult result = core_->TransferLeadership(target);
  switch (result.status) {
    case paxos::TransferResult::Status::kAccepted:
      logger_->info("transferring leadership to {}", target);
      transfer_target_ = target;
      transfer_timeout_now_sent_ = false;
      transfer_waiters_.push_back(std::move(done));
      AfterInput();
      return;
    case paxos::TransferResult::Status::kNotLeader:
      done(TransferReply{TransferStatus::kNotLeader, result.leader_hint,
                         "replica " + std::to_string(options_.id) + " is not the leader"});
      return;
    case paxos::TransferResult::Status::kInvalid:
      done(TransferReply{TransferStatus::kInvalid, options_.id, result.reason});
      return;
    case paxos::TransferResult::Status::kBusy:
      done(TransferReply{TransferStatus::kBusy, options_.id, result.reason});
      return;
  }
}

bool Replica::ParkWhileTransferring(std::vector<std::string>& commands,
                                    transport::SubmitDone& done) {
  if (!core_) return false;
  paxos::CoreStatus status = core_->Status();
  bool taking_over = taking_over_until_ && status.role == paxos::Role::kCandidate;
  if (!taking_over &&
      (status.role != paxos::Role::kLeader || status.transfer_target == paxos::kNoReplica)) {
    return false;
  }
  // Parked commands are held to the leader's own queue limits: beyond them
  // the submit takes the ordinary path (busy: transfer in progress, or not
  // leader from a campaigning target), so a flood during a transfer cannot
  // grow memory without bound.
  paxos::CoreOptions limits = options_.ToCoreOptions();
  size_t bytes = 0;
  for (const std::string& command : commands) bytes += command.size();
  if (parked_commands_ + commands.size() > limits.max_pending_commands ||
      (parked_commands_ > 0 && parked_bytes_ + bytes > limits.max_pending_bytes)) {
    return false;
  }
  if (!taking_over) transfer_target_ = status.transfer_target;
  parked_commands_ += commands.size();
  parked_bytes_ += bytes;
  parked_submits_.emplace_back(std::move(commands), std::move(done));
  return true;
}

void Replica::NoteTransferMessage(const paxos::Message& message) {
  if (const auto* reply = std::get_if<paxos::HeartbeatReply>(&message.body)) {
    paxos::Slot& known = peer_chosen_[message.from];
    known = std::max(known, reply->chosen_point);
    peer_chosen_at_[message.from] = std::chrono::steady_clock::now();
  } else if (std::holds_alternative<paxos::TimeoutNow>(message.body)) {
    taking_over_until_ =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.election_timeout_ms);
  }
}

void Replica::CheckTransfers() {
  if (transfer_waiters_.empty() && parked_submits_.empty() && !handover_done_ &&
      !taking_over_until_) {
    return;
  }
  paxos::CoreStatus status = core_->Status();
  if (taking_over_until_) {
    // Still campaigning after the TimeoutNow: the parked submits wait.
    if (status.role == paxos::Role::kCandidate &&
        std::chrono::steady_clock::now() < *taking_over_until_) {
      return;
    }
    taking_over_until_.reset();
  }
  if (status.role == paxos::Role::kLeader && status.transfer_target != paxos::kNoReplica) {
    // Noted before the transfer ends: a TimeoutNow sent may still start the
    // target's candidacy later (delayed, or the target was paused).
    transfer_timeout_now_sent_ |= status.transfer_timeout_now_sent;
    return;
  }
  const bool leads = status.role == paxos::Role::kLeader;
  // Still leading after the target was told to take over: the target may yet
  // do so, so the transfer is undecided, not failed.
  const bool undecided = leads && transfer_timeout_now_sent_;
  transfer_timeout_now_sent_ = false;
  // Whom this replica follows now; right after it stepped down it may not
  // know yet: the target it handed over to is the best guess.
  paxos::ReplicaId hint = leads ? options_.id
                          : status.leader != paxos::kNoReplica && status.leader != options_.id
                              ? status.leader
                              : transfer_target_;
  if (leads && !transfer_waiters_.empty()) {
    logger_->warn("leadership transfer to {} ended without a new leader; still leading{}",
                  transfer_target_, undecided ? " (it was told to take over and still may)" : "");
  }
  std::vector<transport::TransferDone> waiters = std::move(transfer_waiters_);
  transfer_waiters_.clear();
  for (transport::TransferDone& waiter : waiters) {
    if (undecided) {
      // handedOver: the client waits until the target leads, or its
      // timeout passes (outcome unknown); "resumed" would claim a failure.
      waiter(transport::TransferReply{transport::TransferStatus::kHandedOver, options_.id,
                                      "replica " + std::to_string(transfer_target_) +
                                          " was told to take over and has not yet; it still may"});
    } else if (leads) {
      waiter(
          transport::TransferReply{transport::TransferStatus::kResumed, options_.id,
                                   "replica " + std::to_string(transfer_target_) +
                                       " did not take over within an election timeout; replica " +
                                       std::to_string(options_.id) + " still leads"});
    } else {
      waiter(transport::TransferReply{transport::TransferStatus::kHandedOver, hint, ""});
    }
  }
  auto parked = std::move(parked_submits_);
  parked_submits_.clear();
  parked_commands_ = 0;
  parked_bytes_ = 0;
  for (auto& [commands, done] : parked) {
    if (leads) {
      OnSubmit(std::move(commands), std::move(done));  // the transfer failed: propose
      continue;
    }
    transport::ClientReply reply;
    reply.outcomes.assign(commands.size(),
                          transport::Outcome{transport::OutcomeStatus::kNotLeader, "", 0});
    reply.leader_hint = hint;
    done(std::move(reply));
  }
  if (handover_done_) {
    if (leads) {
      FinishHandOver("the transfer ended without a new leader");
    } else if (status.leader != paxos::kNoReplica && status.leader != options_.id) {
      FinishHandOver("another replica leads");  // it won phase 1: our promise reached it
    }
  }
}

void Replica::HandOverLeadership(std::function<void()> done) {
  handover_done_ = std::move(done);
  if (!core_ || core_->Status().role != paxos::Role::kLeader) {
    return FinishHandOver("not leading");
  }
  paxos::CoreStatus status = core_->Status();
  paxos::ReplicaId target = status.transfer_target;
  if (target == paxos::kNoReplica) {
    target = PickHandOverTarget(status);
    if (target == paxos::kNoReplica) return FinishHandOver("no connected voter to hand over to");
    paxos::TransferResult result = core_->TransferLeadership(target);
    if (result.status != paxos::TransferResult::Status::kAccepted) {
      logger_->warn("cannot hand leadership to {} before shutting down: {}", target,
                    result.reason.empty() ? "refused" : result.reason);
      return FinishHandOver("refused");
    }
    transfer_target_ = target;
    transfer_timeout_now_sent_ = false;
  }
  logger_->info("handing leadership to {} before shutting down", target);
  auto bound = std::chrono::milliseconds(options_.election_timeout_ms * 3 / 2);
  handover_timer_ = std::make_unique<boost::asio::steady_timer>(loop_.io(), bound);
  handover_timer_->async_wait(
      [this, alive = std::weak_ptr<bool>(alive_)](const boost::system::error_code& error) {
        if (!error && alive.lock()) FinishHandOver("timed out");
      });
  AfterInput();
}

paxos::ReplicaId Replica::PickHandOverTarget(const paxos::CoreStatus& status) {
  paxos::ReplicaId target = paxos::kNoReplica;
  paxos::Slot best = 0;
  for (paxos::ReplicaId id : status.config.voters()) {
    if (id == options_.id || !peers_->LinkState(id).connected || !HeardFromRecently(id)) {
      continue;
    }
    paxos::Slot chosen = peer_chosen_.count(id) ? peer_chosen_[id] : 0;
    if (target == paxos::kNoReplica || chosen > best) {
      target = id;
      best = chosen;
    }
  }
  return target;
}

void Replica::FinishHandOver(const char* how) {
  if (!handover_done_) return;
  logger_->info("shutdown hand-over finished: {}", how);
  if (handover_timer_) handover_timer_->cancel();
  auto done = std::move(handover_done_);
  handover_done_ = nullptr;
  boost::asio::post(loop_.io(), std::move(done));
}

}  // namespace synod::node
