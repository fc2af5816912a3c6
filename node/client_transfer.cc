// Client::TransferLeader: asks the leader to hand leadership over, then
// waits until the target reports that it leads.
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "node/client.h"

namespace synod::node {

using Clock = std::chrono::steady_clock;

namespace {
// Pause before asking again when no leader is known or it is busy.
constexpr std::chrono::milliseconds kTransferRetry{50};
// Pause between status polls of the target while it takes over.
constexpr std::chrono::milliseconds kLeaderPoll{10};
}  // namespace

// One transfer request on its way through retries and the wait.
struct Client::Transfer {
  paxos::ReplicaId target = paxos::kNoReplica;
  Clock::time_point deadline;
  std::function<void(ClientResult)> done;
  bool maybe_started = false;  // some request may have started a transfer
  bool handed_over = false;    // a leader answered handedOver: waiting for the target
  bool finished = false;
  std::string last_error = "no member answered";
  std::unique_ptr<boost::asio::steady_timer> timer;
};

bool Client::Addressable(paxos::ReplicaId id) const {
  return options_.cluster.Find(id) != nullptr ||
         (cluster_members_ && cluster_members_->Find(id) != nullptr);
}

void Client::TransferLeader(paxos::ReplicaId target, std::function<void(ClientResult)> done) {
  auto transfer = std::make_shared<Transfer>();
  transfer->target = target;
  transfer->deadline = Clock::now() + options_.timeout;
  transfer->done = std::move(done);
  // Posted: `done` never runs inside TransferLeader.
  boost::asio::post(loop_.io(), [this, transfer, alive = std::weak_ptr<bool>(alive_)] {
    if (alive.lock() && !closing_) TransferAttempt(transfer);
  });
}

void Client::TransferAttempt(const std::shared_ptr<Transfer>& transfer) {
  if (transfer->finished || closing_) return;
  Clock::time_point now = Clock::now();
  if (now >= transfer->deadline) {
    ClientResult result;
    result.status =
        transfer->maybe_started ? ClientResult::Status::kUnknown : ClientResult::Status::kFailed;
    result.error = "timed out: " + transfer->last_error;
    return FinishTransfer(transfer, std::move(result));
  }
  if (!id_settled_) {
    if (!learn_error_.empty()) transfer->last_error = learn_error_;
    WithClusterId([this, transfer] { TransferAttempt(transfer); });
    return;
  }
  if (!Addressable(leader_guess_)) leader_guess_ = NextMember(leader_guess_);
  paxos::ReplicaId member = leader_guess_;
  Connection(member).TransferLeader(transfer->target, transfer->deadline - now,
                                    [this, transfer, member, alive = std::weak_ptr<bool>(alive_)](
                                        std::optional<transport::TransferReply> reply,
                                        bool maybe_sent, const std::string& error) {
                                      if (alive.lock() && !closing_) {
                                        OnTransferReply(transfer, member, std::move(reply),
                                                        maybe_sent, error);
                                      }
                                    });
}

void Client::OnTransferReply(const std::shared_ptr<Transfer>& transfer, paxos::ReplicaId member,
                             std::optional<transport::TransferReply> reply, bool maybe_sent,
                             const std::string& error) {
  if (transfer->finished) return;
  const std::string who = "member " + std::to_string(member);
  if (!reply) {
    // A member that got the request may have started the transfer.
    if (maybe_sent) transfer->maybe_started = true;
    transfer->last_error = who + ": " + (error.empty() ? "no answer" : error);
    // The cluster may have agreed on its random id since we learned the
    // member-list hash: learn again (from a majority) first.
    RelearnIfTheClusterAgreedSince(member);
    if (leader_guess_ == member) leader_guess_ = NextMember(member);
    return TransferLater(transfer, kTransferRetry, &Client::TransferAttempt);
  }
  ClientResult result;
  switch (reply->status) {
    case transport::TransferStatus::kHandedOver:
      transfer->maybe_started = true;
      transfer->handed_over = true;
      if (reply->leader_hint != paxos::kNoReplica && Addressable(reply->leader_hint)) {
        leader_guess_ = reply->leader_hint;
      }
      return AwaitLeader(transfer);
    case transport::TransferStatus::kNotLeader: {
      transfer->last_error = who + " is not the leader";
      bool known_hint = reply->leader_hint != paxos::kNoReplica && reply->leader_hint != member &&
                        Addressable(reply->leader_hint);
      leader_guess_ = known_hint ? reply->leader_hint : NextMember(member);
      return TransferLater(transfer, known_hint ? std::chrono::milliseconds(0) : kTransferRetry,
                           &Client::TransferAttempt);
    }
    case transport::TransferStatus::kBusy:
      transfer->last_error = who + " refused for now: " + reply->reason;
      return TransferLater(transfer, kTransferRetry, &Client::TransferAttempt);
    case transport::TransferStatus::kInvalid:
      result.status = ClientResult::Status::kFailed;
      result.error = who + " refused to transfer leadership to " +
                     std::to_string(transfer->target) + ": " + reply->reason;
      return FinishTransfer(transfer, std::move(result));
    case transport::TransferStatus::kResumed:
      result.status = ClientResult::Status::kFailed;
      result.error = "leadership transfer to " + std::to_string(transfer->target) +
                     " failed: " + reply->reason;
      return FinishTransfer(transfer, std::move(result));
  }
}

void Client::AwaitLeader(const std::shared_ptr<Transfer>& transfer) {
  if (transfer->finished || closing_) return;
  Clock::time_point now = Clock::now();
  if (now >= transfer->deadline) {
    ClientResult result;
    result.status = ClientResult::Status::kUnknown;
    result.error = "timed out waiting for replica " + std::to_string(transfer->target) +
                   " to lead: " + transfer->last_error;
    return FinishTransfer(transfer, std::move(result));
  }
  // Ask the target itself; a target this client cannot address is seen
  // leading through a member that follows it.
  paxos::ReplicaId asked = Addressable(transfer->target) ? transfer->target : leader_guess_;
  if (!Addressable(asked)) asked = NextMember(asked);
  auto timeout = std::min<Clock::duration>(options_.attempt_timeout, transfer->deadline - now);
  Connection(asked).QueryStatus(
      timeout, [this, transfer, asked, alive = std::weak_ptr<bool>(alive_)](
                   std::optional<transport::ReplicaStatus> status, const std::string& error) {
        if (!alive.lock() || closing_ || transfer->finished) return;
        if (status) {
          bool leads = status->id == transfer->target && status->role == transport::Role::kLeader;
          bool followed = status->id != transfer->target &&
                          status->role == transport::Role::kFollower &&
                          status->leader == transfer->target;
          if (leads || followed) {
            ClientResult result;
            result.status = ClientResult::Status::kOk;
            result.leader = transfer->target;
            return FinishTransfer(transfer, std::move(result));
          }
          transfer->last_error =
              "member " + std::to_string(asked) + " reports leader " +
              (status->leader == paxos::kNoReplica ? "unknown" : std::to_string(status->leader));
        } else {
          transfer->last_error = "member " + std::to_string(asked) + ": " + error;
        }
        TransferLater(transfer, kLeaderPoll, &Client::AwaitLeader);
      });
}

void Client::TransferLater(const std::shared_ptr<Transfer>& transfer,
                           std::chrono::milliseconds delay,
                           void (Client::*step)(const std::shared_ptr<Transfer>&)) {
  if (delay.count() == 0) return (this->*step)(transfer);
  transfer->timer = std::make_unique<boost::asio::steady_timer>(loop_.io(), delay);
  transfer->timer->async_wait([this, transfer, step, alive = std::weak_ptr<bool>(alive_)](
                                  const boost::system::error_code& error) {
    if (!error && alive.lock() && !closing_) (this->*step)(transfer);
  });
}

void Client::FinishTransfer(const std::shared_ptr<Transfer>& transfer, ClientResult result) {
  if (transfer->finished) return;
  transfer->finished = true;
  auto done = std::move(transfer->done);
  if (done) done(std::move(result));
}

}  // namespace synod::node
