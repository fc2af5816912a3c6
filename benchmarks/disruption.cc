#include "benchmarks/disruption.h"

#include <signal.h>

#include <cstdio>
#include <map>
#include <thread>

#include "benchmarks/leader_transfer.h"
#include "transport/event_loop.h"

namespace synod::benchmarks {
namespace {

using Clock = DisruptionResult::Clock;
using std::chrono::milliseconds;

constexpr milliseconds kWaitLimit{60000};
constexpr milliseconds kPollPause{20};

// What one status round showed: the leader (the answering replica that
// says it leads with the highest ballot) and what each answering replica
// has applied.
struct View {
  paxos::ReplicaId leader = paxos::kNoReplica;
  paxos::Slot leader_applied = 0;
  std::map<paxos::ReplicaId, paxos::Slot> applied;
};

View Look(const node::ClientOptions& options) {
  std::optional<node::Client::Statuses> statuses;
  {
    transport::EventLoop loop;  // one per round: TransferLeader may need the thread's loop
    {
      node::Client client(loop, options);
      client.QueryStatuses([&](node::Client::Statuses answer) { statuses = std::move(answer); });
      loop.RunUntil([&] { return statuses.has_value(); }, options.timeout);
    }
  }
  View view;
  if (!statuses) return view;
  paxos::Ballot best;
  for (const auto& [id, status] : *statuses) {
    if (!status) continue;
    view.applied[id] = status->applied;
    if (status->role == transport::Role::kLeader && (view.leader == 0 || best < status->ballot)) {
      best = status->ballot;
      view.leader = id;
      view.leader_applied = status->applied;
    }
  }
  return view;
}

class Driver {
 public:
  // `options` for status rounds (short timeouts), `client_options` as the
  // caller gave them (for the transfer request).
  Driver(BenchCluster& cluster, const node::ClientOptions& options,
         const node::ClientOptions& client_options)
      : cluster_(cluster), options_(options), client_options_(client_options) {}

  DisruptionResult Run(DisruptionKind kind) {
    switch (kind) {
      case DisruptionKind::kRollingRestart:
        RollingRestart();
        break;
      case DisruptionKind::kKillLeader:
        KillLeader();
        break;
      case DisruptionKind::kTransfer:
        Transfer();
        break;
    }
    result_.finished = Clock::now();
    if (result_.started == Clock::time_point{}) result_.started = result_.finished;
    return result_;
  }

 private:
  void Step(const std::string& what) {
    auto now = Clock::now();
    result_.steps.emplace_back(now, what);
    double since = result_.started == Clock::time_point{}
                       ? 0
                       : std::chrono::duration<double>(now - result_.started).count();
    std::fprintf(stderr, "  event +%.3fs: %s\n", since, what.c_str());
  }
  bool Fail(const std::string& why) {
    result_.error = why;
    Step("gave up: " + why);
    return false;
  }

  // Polls until some replica other than `not_this` leads (any, if 0).
  bool AwaitLeader(paxos::ReplicaId not_this, View& view) {
    auto deadline = Clock::now() + kWaitLimit;
    for (;;) {
      view = Look(options_);
      if (view.leader != 0 && view.leader != not_this) return true;
      if (Clock::now() >= deadline) return Fail("no leader within 60 s");
      std::this_thread::sleep_for(kPollPause);
    }
  }

  // Polls until replica `id` has applied what the leader had applied in the
  // first round where both answered.
  bool AwaitCaughtUp(paxos::ReplicaId id) {
    auto deadline = Clock::now() + kWaitLimit;
    std::optional<paxos::Slot> target;
    for (;;) {
      View view = Look(options_);
      auto mine = view.applied.find(id);
      if (view.leader != 0 && mine != view.applied.end()) {
        if (!target) target = view.leader_applied;
        if (mine->second >= *target) {
          Step("replica " + std::to_string(id) +
               " caught up: applied=" + std::to_string(mine->second) +
               " >= " + std::to_string(*target) + " (leader " + std::to_string(view.leader) + ")");
          return true;
        }
      }
      if (Clock::now() >= deadline) {
        return Fail("replica " + std::to_string(id) + " did not catch up within 60 s");
      }
      std::this_thread::sleep_for(kPollPause);
    }
  }

  bool Stop(paxos::ReplicaId id, int signal) {
    Step("signal " + std::to_string(signal) + " to replica " + std::to_string(id));
    if (!cluster_.Signal(static_cast<int>(id), signal)) {
      return Fail("replica " + std::to_string(id) + " is not running");
    }
    std::string how;
    if (!cluster_.WaitExit(static_cast<int>(id), kWaitLimit, how)) {
      cluster_.Signal(static_cast<int>(id), SIGKILL);
      cluster_.WaitExit(static_cast<int>(id), kWaitLimit, how);
      return Fail("replica " + std::to_string(id) + " did not exit within 60 s of signal " +
                  std::to_string(signal));
    }
    Step("replica " + std::to_string(id) + " exited (" + how + ")");
    return true;
  }

  bool Start(paxos::ReplicaId id) {
    std::string error = cluster_.Restart(static_cast<int>(id), kWaitLimit);
    if (!error.empty()) return Fail(error);
    Step("replica " + std::to_string(id) + " restarted, ready");
    return true;
  }

  void RollingRestart() {
    View view;
    if (!AwaitLeader(paxos::kNoReplica, view)) return;
    std::vector<paxos::ReplicaId> order;
    for (const node::MemberAddress& member : options_.cluster.members) {
      if (member.id != view.leader) order.push_back(member.id);
    }
    order.push_back(view.leader);
    result_.started = Clock::now();
    for (paxos::ReplicaId id : order) {
      if (!Stop(id, SIGTERM) || !Start(id) || !AwaitCaughtUp(id)) return;
    }
  }

  void KillLeader() {
    View view;
    if (!AwaitLeader(paxos::kNoReplica, view)) return;
    paxos::ReplicaId old = view.leader;
    result_.started = Clock::now();
    if (!Stop(old, SIGKILL)) return;
    if (!AwaitLeader(old, view)) return;
    Step("replica " + std::to_string(view.leader) + " leads");
    if (!Start(old)) return;
    AwaitCaughtUp(old);
  }

  void Transfer() {
    View view;
    if (!AwaitLeader(paxos::kNoReplica, view)) return;
    paxos::ReplicaId old = view.leader, target = paxos::kNoReplica;
    for (const auto& [id, applied] : view.applied) {
      if (id != old && (target == 0 || applied > view.applied[target])) target = id;
    }
    if (target == 0) {
      Fail("no follower answered to take over");
      return;
    }
    result_.started = Clock::now();
    Step("transfer leadership from replica " + std::to_string(old) + " to " +
         std::to_string(target));
    std::string error = TransferLeader(client_options_, target);
    if (!error.empty()) {
      Fail("transfer to replica " + std::to_string(target) + " failed: " + error);
      return;
    }
    Step("transfer answered leader=" + std::to_string(target));
    if (!AwaitLeader(old, view)) return;
    if (view.leader != target) {
      Fail("replica " + std::to_string(view.leader) + " leads, not the target " +
           std::to_string(target));
      return;
    }
    Step("replica " + std::to_string(target) + " leads");
  }

  BenchCluster& cluster_;
  node::ClientOptions options_;
  node::ClientOptions client_options_;
  DisruptionResult result_;
};

}  // namespace

std::optional<DisruptionKind> ParseDisruptionKind(const std::string& name) {
  if (name == "rolling-restart") return DisruptionKind::kRollingRestart;
  if (name == "kill-leader") return DisruptionKind::kKillLeader;
  if (name == "transfer") return DisruptionKind::kTransfer;
  return std::nullopt;
}

const char* DisruptionName(DisruptionKind kind) {
  switch (kind) {
    case DisruptionKind::kRollingRestart:
      return "rolling-restart";
    case DisruptionKind::kKillLeader:
      return "kill-leader";
    case DisruptionKind::kTransfer:
      return "transfer";
  }
  return "?";
}

DisruptionResult RunDisruption(DisruptionKind kind, BenchCluster& cluster,
                               const node::ClientOptions& options) {
  node::ClientOptions status_options = options;
  status_options.timeout = milliseconds(2000);
  status_options.attempt_timeout = milliseconds(500);
  return Driver(cluster, status_options, options).Run(kind);
}

}  // namespace synod::benchmarks
