// Proposer, leadership transfer: starting a transfer (and the reasons to
// refuse one), sending TimeoutNow to the target once it has caught up, and
// ending a transfer. The protocol is in docs/protocol.md, "Leadership
// transfer".
#include <string>

#include "paxos/proposer.h"

namespace synod::paxos {

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
  target_probed_at_ = learner_.chosen_point();
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

void Proposer::ProbeTransferTarget() {
  if (state_.role != Role::kLeader || transfer_target_ == kNoReplica || timeout_now_sent_) return;
  Slot last = next_slot_ - 1;
  Slot commit = learner_.chosen_point();
  if (!pending_.empty() || commit < last || target_chosen_point_ >= last ||
      commit <= target_probed_at_) {
    return;
  }
  target_probed_at_ = commit;
  state_.Send(transfer_target_, Heartbeat{ballot_, CommitPoint()});
}

void Proposer::EndTransferToNonVoter() {
  if (transfer_target_ != kNoReplica && !state_.config().IsVoter(transfer_target_)) EndTransfer();
}

void Proposer::EndTransfer() {
  transfer_target_ = kNoReplica;
  timeout_now_sent_ = false;
  transfer_elapsed_ = 0;
  target_chosen_point_ = 0;
  target_probed_at_ = 0;
}

}  // namespace synod::paxos
