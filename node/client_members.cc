// Client::QueryLeaderStatus: the leader's status, for `members list`.
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "node/client.h"

namespace synod::node {

namespace {
using Clock = std::chrono::steady_clock;
// Pause after asking as many members as are listed without finding the
// leader (an election may be under way).
constexpr std::chrono::milliseconds kNoLeaderPause{50};
}  // namespace

// One QueryLeaderStatus call on its way through members and hints.
struct Client::LeaderQuery {
  LeaderStatusDone done;
  Clock::time_point deadline;
  paxos::ReplicaId target = paxos::kNoReplica;
  size_t asked = 0;  // members asked since the last pause
  std::string last_error = "no member answered";
  std::unique_ptr<boost::asio::steady_timer> timer;
};

void Client::QueryLeaderStatus(LeaderStatusDone done) {
  auto query = std::make_shared<LeaderQuery>();
  query->done = std::move(done);
  query->deadline = Clock::now() + options_.timeout;
  query->target = leader_guess_;
  boost::asio::post(loop_.io(), [this, query, alive = std::weak_ptr<bool>(alive_)] {
    if (alive.lock() && !closing_) AskForLeader(query);
  });
}

std::optional<transport::ClusterId> Client::AgreedClusterId() const {
  if (!id_settled_ || settled_on_hash_) return std::nullopt;
  return cluster_id_;
}

void Client::AskForLeader(const std::shared_ptr<LeaderQuery>& query) {
  const Clock::time_point now = Clock::now();
  if (now >= query->deadline) {
    LeaderStatusDone done = std::move(query->done);
    done(std::nullopt, "no leader answered within the timeout (last: " + query->last_error + ")");
    return;
  }
  if (!id_settled_) {
    if (!learn_error_.empty()) query->last_error = learn_error_;
    // Runs at once when settled, else after a learning round.
    WithClusterId([this, query] {
      if (!closing_) AskForLeader(query);
    });
    return;
  }
  auto known = [this](paxos::ReplicaId id) {
    return options_.cluster.Find(id) != nullptr ||
           (cluster_members_ && cluster_members_->Find(id) != nullptr);
  };
  if (!known(query->target)) query->target = NextMember(query->target);
  const paxos::ReplicaId target = query->target;
  auto timeout = std::min<Clock::duration>(options_.attempt_timeout, query->deadline - now);
  // The connection posts the answer: it may arrive after this Client is gone.
  Connection(target).QueryStatus(
      timeout, [this, query, target, known, alive = std::weak_ptr<bool>(alive_)](
                   std::optional<transport::ReplicaStatus> status, const std::string& error) {
        if (!alive.lock() || closing_) return;
        if (status && status->role == transport::Role::kLeader) {
          leader_guess_ = target;
          LeaderStatusDone done = std::move(query->done);
          done(std::move(status), "");
          return;
        }
        const paxos::ReplicaId hint = status ? status->leader : paxos::kNoReplica;
        if (status && hint != paxos::kNoReplica) {
          query->last_error = "member " + std::to_string(target) + " names leader " +
                              std::to_string(hint) + ", not answering as leader";
        } else if (status) {
          query->last_error = "member " + std::to_string(target) + " knows no leader";
        } else {
          query->last_error = "member " + std::to_string(target) + ": " +
                              (error.empty() ? std::string("no answer") : error);
          // The cluster may have agreed on its random id since we learned
          // the member-list hash: learn again (from a majority) first.
          RelearnIfTheClusterAgreedSince(target);
        }
        query->target =
            hint != paxos::kNoReplica && hint != target && known(hint) ? hint : NextMember(target);
        if (++query->asked < options_.cluster.members.size()) return AskForLeader(query);
        query->asked = 0;
        query->timer = std::make_unique<boost::asio::steady_timer>(loop_.io(), kNoLeaderPause);
        query->timer->async_wait([this, query, alive](const boost::system::error_code& failed) {
          if (!failed && alive.lock() && !closing_) AskForLeader(query);
        });
      });
}

}  // namespace synod::node
