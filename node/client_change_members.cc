// Client::ChangeMembers: asks the leader for one configuration step and
// turns its answer into ok / failed / unknown.
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "node/client.h"

namespace synod::node {

using Clock = std::chrono::steady_clock;

namespace {
// Pause before asking again when no leader is known or it is busy.
constexpr std::chrono::milliseconds kChangeRetry{50};

// What the leader's "already in effect" means to a caller whose own
// attempts cannot have made it so.
std::string AlreadyReason(const transport::MemberChange& change) {
  const std::string id = std::to_string(change.replica);
  switch (change.kind) {
    case transport::MemberChangeKind::kAddLearner:
      return "replica " + id + " is already a member (learner at " + change.address + ")";
    case transport::MemberChangeKind::kPromote:
      return "replica " + id + " is already a voter";
    case transport::MemberChangeKind::kRemove:
      return "replica " + id + " was already removed";
  }
  return "already in effect";
}
}  // namespace

// One change request on its way through retries.
struct Client::Change {
  transport::MemberChange change;
  Clock::time_point deadline;
  std::function<void(ClientResult)> done;
  bool maybe_proposed = false;  // some attempt may have proposed the change
  bool finished = false;
  std::string last_error = "no member answered";
  std::unique_ptr<boost::asio::steady_timer> timer;
};

void Client::ChangeMembers(transport::MemberChange change, std::function<void(ClientResult)> done) {
  auto request = std::make_shared<Change>();
  request->change = std::move(change);
  request->deadline = Clock::now() + options_.timeout;
  request->done = std::move(done);
  // Posted: `done` never runs inside ChangeMembers.
  boost::asio::post(loop_.io(), [this, request, alive = std::weak_ptr<bool>(alive_)] {
    if (alive.lock() && !closing_) ChangeAttempt(request);
  });
}

void Client::ChangeAttempt(const std::shared_ptr<Change>& change) {
  if (change->finished || closing_) return;
  Clock::time_point now = Clock::now();
  if (now >= change->deadline) {
    ClientResult result;
    result.status =
        change->maybe_proposed ? ClientResult::Status::kUnknown : ClientResult::Status::kFailed;
    result.error = "timed out: " + change->last_error;
    return FinishChange(change, std::move(result));
  }
  if (!id_settled_) {
    if (!learn_error_.empty()) change->last_error = learn_error_;
    WithClusterId([this, change] { ChangeAttempt(change); });
    return;
  }
  if (!Addressable(leader_guess_)) leader_guess_ = NextMember(leader_guess_);
  paxos::ReplicaId member = leader_guess_;
  transport::MemberChange request = change->change;
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(change->deadline - now);
  if (request.kind == transport::MemberChangeKind::kPromote) {
    // Most of what is left, so the leader answers "behind" before we give up.
    request.wait_ms = static_cast<uint32_t>(std::min<int64_t>(left.count() * 3 / 4, 60000));
  }
  // One attempt waits for what the leader may take (its promotion wait) and
  // one attempt's time more, then asks elsewhere: a leader that hangs (paused,
  // its disk stalled) must not hold the whole timeout. A retry is safe: the
  // leader answers a change already in effect as such.
  auto attempt = std::min<Clock::duration>(
      change->deadline - now,
      options_.attempt_timeout + std::chrono::milliseconds(request.wait_ms));
  Connection(member).ChangeMembers(
      request, attempt,
      [this, change, member, alive = std::weak_ptr<bool>(alive_)](
          std::optional<transport::ChangeReply> reply, bool maybe_sent, const std::string& error) {
        if (alive.lock() && !closing_) {
          OnChangeReply(change, member, std::move(reply), maybe_sent, error);
        }
      });
}

void Client::OnChangeReply(const std::shared_ptr<Change>& change, paxos::ReplicaId member,
                           std::optional<transport::ChangeReply> reply, bool maybe_sent,
                           const std::string& error) {
  if (change->finished) return;
  const std::string who = "member " + std::to_string(member);
  if (!reply) {
    // A member that got the request may have proposed the change.
    if (maybe_sent) change->maybe_proposed = true;
    change->last_error = who + ": " + (error.empty() ? "no answer" : error);
    // The cluster may have agreed on its random id since we learned the
    // member-list hash: learn again (from a majority) first.
    RelearnIfTheClusterAgreedSince(member);
    if (leader_guess_ == member) leader_guess_ = NextMember(member);
    return ChangeLater(change, kChangeRetry);
  }
  ClientResult result;
  result.leader = member;
  switch (reply->status) {
    case transport::ChangeStatus::kDone:
      if (reply->already && !change->maybe_proposed) {
        result.status = ClientResult::Status::kFailed;
        result.error = AlreadyReason(change->change);
      } else {
        result.status = ClientResult::Status::kOk;
        result.slot = reply->config_slot;
      }
      return FinishChange(change, std::move(result));
    case transport::ChangeStatus::kNotLeader: {
      change->last_error = who + " is not the leader";
      bool known_hint = reply->leader_hint != paxos::kNoReplica && reply->leader_hint != member &&
                        Addressable(reply->leader_hint);
      leader_guess_ = known_hint ? reply->leader_hint : NextMember(member);
      return ChangeLater(change, known_hint ? std::chrono::milliseconds(0) : kChangeRetry);
    }
    case transport::ChangeStatus::kBusy:
      change->last_error = who + " refused for now: " + reply->reason;
      return ChangeLater(change, kChangeRetry);
    case transport::ChangeStatus::kUnknown:
      change->maybe_proposed = true;
      change->last_error = who + ": " + reply->reason;
      return ChangeLater(change, kChangeRetry);
    case transport::ChangeStatus::kSuperseded:
      if (change->maybe_proposed) {
        // An earlier attempt may be the change that took effect: ask again.
        change->last_error = who + ": " + reply->reason;
        return ChangeLater(change, kChangeRetry);
      }
      result.status = ClientResult::Status::kFailed;
      result.error = "the change was void: " + reply->reason;
      return FinishChange(change, std::move(result));
    case transport::ChangeStatus::kBehind:
      if (change->maybe_proposed) {
        // An earlier attempt's promotion may be in effect: ask again.
        change->last_error = who + ": " + reply->reason;
        return ChangeLater(change, kChangeRetry);
      }
      [[fallthrough]];
    case transport::ChangeStatus::kInvalid:
      result.status = ClientResult::Status::kFailed;
      result.error = reply->reason;
      return FinishChange(change, std::move(result));
  }
}

void Client::ChangeLater(const std::shared_ptr<Change>& change, std::chrono::milliseconds delay) {
  if (delay.count() == 0) return ChangeAttempt(change);
  change->timer = std::make_unique<boost::asio::steady_timer>(loop_.io(), delay);
  change->timer->async_wait(
      [this, change, alive = std::weak_ptr<bool>(alive_)](const boost::system::error_code& error) {
        if (!error && alive.lock() && !closing_) ChangeAttempt(change);
      });
}

void Client::FinishChange(const std::shared_ptr<Change>& change, ClientResult result) {
  if (change->finished) return;
  change->finished = true;
  auto done = std::move(change->done);
  if (done) done(std::move(result));
}

}  // namespace synod::node
