#include "tests/sim/random_run.h"

#include <algorithm>
#include <map>
#include <optional>
#include <random>

#include "lincheck/checker.h"
#include "node/client_policy.h"
#include "paxos/invariant.h"
#include "tests/sim/sim_cluster.h"

namespace synod::sim {

using paxos::ReplicaId;

namespace {

// Client retry timeout and think time, in time units.
constexpr SimTime kClientTimeout = 40 * kUnitsPerTick;

// A closed-loop client: one command outstanding, retried with the same
// sequence number and session until answered. What it does with an answer is
// the runtime client's decision (node::DecideNextStep): when its session
// expired, a command that may have been proposed ends as unknown, and the
// next command opens a new session.
struct SimClient {
  uint32_t id = 0;
  uint64_t seq = 0;
  uint64_t session = 1;
  bool session_ended = false;
  // An attempt the client stopped waiting for was accepted for proposal (the
  // one it waits for is answered by its own application).
  bool maybe_proposed = false;
  bool outstanding = false;
  ClientCommand command;
  ReplicaId target = 0;       // where the command waits, 0 = not placed
  ReplicaId next_target = 1;  // where to try next
  SimTime deadline = 0;
  SimTime next_attempt = 0;
};

class RandomSchedule {
 public:
  RandomSchedule(const SimOptions& options, std::ostream* trace, StepObserver observer)
      : options_(WithSessionExpiry(options)),
        observer_(std::move(observer)),
        cluster_(options_, CoreOptionsFor(options), false, trace) {
    cluster_.set_apply_observer(
        [this](ReplicaId replica, paxos::Slot, const std::string& command,
               const SimCounterApp::Result& result) { OnApplied(replica, command, result); });
    for (int i = 0; i < options.clients; ++i) {
      SimClient client;
      client.id = static_cast<uint32_t>(i + 1);
      client.next_target = static_cast<ReplicaId>(1 + i % options.replicas);
      clients_.push_back(client);
    }
    scripted_depose_ = Rand(3) == 0;
  }

  // Sessions expire after 3-20 applied commands without one of theirs, per
  // seed, unless the options set a value: short enough that expiries are
  // common (most at 3-6, hardly any at 20).
  static SimOptions WithSessionExpiry(SimOptions options) {
    if (options.session_expiry_commands == 0) {
      options.session_expiry_commands = 3 + (options.seed * 0x9E3779B97F4A7C15ull >> 32) % 18;
    }
    return options;
  }

  static paxos::CoreOptions CoreOptionsFor(const SimOptions&) {
    paxos::CoreOptions core;
    core.heartbeat_ticks = 2;
    core.election_ticks = 10;
    core.window_slots = 8;
    core.max_batch_commands = 4;
    core.max_page_entries = 16;
    return core;
  }

  RunResult Run() {
    RunResult result;
    result.seed = options_.seed;
    try {
      RunChaos();
      RunHealed();
    } catch (const SimViolation& violation) {
      result.violation = violation.what();
    } catch (const InvariantViolation& violation) {
      result.violation = violation.what();
    }
    if (result.violation) result.trace = cluster_.RecentTrace();
    result.steps = cluster_.now();
    result.chosen_slots = cluster_.checker().chosen_slots();
    result.faults = cluster_.faults();
    result.snapshots_installed = cluster_.snapshots_installed();
    result.commands_answered = answered_;
    result.config_changes = cluster_.checker().config_changes();
    result.transfers_started = transfers_started_;
    result.transfers_completed = transfers_completed_;
    for (SimClient& client : clients_) {
      if (client.outstanding) {
        history_.push_back({client.id, HistoryEvent::Type::kInfo, client.command.op,
                            client.command.value, cluster_.now()});
      }
    }
    if (!result.violation) {
      std::string problem = CheckLinearizable(history_);
      if (!problem.empty()) result.violation = problem;
    }
    result.history = std::move(history_);
    return result;
  }

  // Checks the clients' history against a counter with synod-lincheck's
  // search; returns "" if linearizable.
  static std::string CheckLinearizable(const std::vector<HistoryEvent>& history) {
    std::vector<lincheck::Operation> operations;
    std::map<uint32_t, size_t> open;  // process -> index in operations
    for (size_t i = 0; i < history.size(); ++i) {
      const HistoryEvent& event = history[i];
      if (event.type == HistoryEvent::Type::kInvoke) {
        lincheck::Operation op;
        op.process = event.process;
        op.f = event.f == "add" ? lincheck::Function::kAdd : lincheck::Function::kGet;
        if (event.f == "add") op.value = event.value;
        op.call = i + 1;
        op.ret = SIZE_MAX;
        op.known = false;
        op.invoke_line = static_cast<int>(i + 1);
        open[event.process] = operations.size();
        operations.push_back(op);
      } else {
        lincheck::Operation& op = operations[open.at(event.process)];
        op.complete_line = static_cast<int>(i + 1);
        if (event.type == HistoryEvent::Type::kOk) {
          op.known = true;
          op.ret = i + 1;
          if (event.f == "get") op.value = event.value;
        }
      }
    }
    lincheck::CheckLimits limits;
    limits.max_steps = 50'000'000;
    lincheck::CheckResult result = lincheck::Check(operations, "counter", limits);
    switch (result.verdict) {
      case lincheck::Verdict::kLinearizable:
        return "";
      case lincheck::Verdict::kNotLinearizable:
        return "client history is not linearizable (counter): " + result.explanation;
      case lincheck::Verdict::kUndecided:
        return "linearizability check undecided within its step budget";
    }
    return "";
  }

 private:
  uint64_t Rand(uint64_t n) { return cluster_.rng()() % n; }
  ReplicaId RandomReplica() { return static_cast<ReplicaId>(1 + Rand(cluster_.ids().size())); }

  void StepOnce(bool chaos) {
    cluster_.Step();
    if (chaos) InjectFaults();
    if (chaos && cluster_.membership()) MaybeChangeMembership();
    if (chaos && options_.transfers) MaybeTransferLeadership();
    WatchTransfer();
    DriveClients(chaos);
    cluster_.CheckInvariants();
    if (observer_) observer_(cluster_);
  }

  void RunChaos() {
    // Every run crashes the leader (or someone) at least once, so the broken
    // "skip-persist" variant always meets a restart.
    SimTime forced_crash = options_.steps / 4 + Rand(options_.steps / 4 + 1);
    while (cluster_.now() < options_.steps) {
      StepOnce(true);
      if (cluster_.now() == forced_crash) {
        ReplicaId victim = cluster_.Leader() != 0 ? cluster_.Leader() : RandomReplica();
        CrashFor(victim, 50 + Rand(300));
      }
    }
  }

  void RunHealed() {
    cluster_.HealNetwork();
    // One run in four heals everything but one replica, which stays down for
    // good: the others (still a quorum) must settle without it, e.g. fetch
    // what they miss from someone other than the member that reported it.
    gone_ = Rand(4) == 0 ? RandomReplica() : 0;
    // With membership changes the voters left may be too few to spare one.
    if (cluster_.membership()) gone_ = 0;
    for (ReplicaId id : cluster_.ids()) {
      cluster_.Resume(id);
      if (id == gone_) {
        cluster_.Crash(id);
      } else {
        cluster_.Restart(id);
      }
    }
    restart_at_.clear();
    resume_at_.clear();
    fetch_at_.clear();
    SimTime deadline = cluster_.now() + options_.liveness_bound;
    while (cluster_.now() < deadline) {
      StepOnce(false);
      if (Settled()) return;
    }
    throw SimViolation("liveness: not settled " + std::to_string(options_.liveness_bound) +
                       " units after every fault healed (" + SettleReport() + ")");
  }

  bool Settled() {
    ReplicaId leader = cluster_.Leader();
    if (leader == 0) return false;
    for (const SimClient& client : clients_) {
      if (client.outstanding) return false;
    }
    paxos::Slot point = cluster_.Status(leader).chosen_point;
    if (point < cluster_.checker().highest_chosen()) return false;
    const paxos::Configuration& config = cluster_.checker().current_config();
    if (!config.IsVoter(leader)) return false;
    for (ReplicaId id : cluster_.ids()) {
      if (id == gone_ || !config.Contains(id)) continue;  // removed, or never added
      paxos::CoreStatus status = cluster_.Status(id);
      if (status.chosen_point != point || status.leader != leader) return false;
    }
    return true;
  }

  std::string SettleReport() {
    std::string out = "leader=" + std::to_string(cluster_.Leader());
    if (gone_ != 0) out += " gone=" + std::to_string(gone_);
    for (ReplicaId id : cluster_.ids()) {
      paxos::CoreStatus status = cluster_.Status(id);
      out += " r" + std::to_string(id) + ":" + paxos::RoleName(status.role) +
             ",chosen=" + std::to_string(status.chosen_point) +
             ",leader=" + std::to_string(status.leader);
      if (cluster_.membership()) {
        out += std::string(",") + paxos::MembershipName(status.membership) + ",config@" +
               std::to_string(status.config_slot);
      }
    }
    if (cluster_.membership()) {
      out += " truth-config=[" + cluster_.checker().current_config().ToString() + "]";
    }
    for (const SimClient& client : clients_) {
      if (client.outstanding) out += " client" + std::to_string(client.id) + "-waiting";
    }
    return out;
  }

  void CrashFor(ReplicaId id, SimTime duration) {
    if (!cluster_.IsUp(id)) return;
    cluster_.Crash(id);
    cluster_.CountFault();
    restart_at_.push_back({cluster_.now() + duration, id});
  }

  void InjectFaults() {
    SimTime now = cluster_.now();
    for (auto it = restart_at_.begin(); it != restart_at_.end();) {
      if (it->first <= now) {
        cluster_.Restart(it->second);
        it = restart_at_.erase(it);
      } else {
        ++it;
      }
    }
    for (auto it = resume_at_.begin(); it != resume_at_.end();) {
      if (it->first <= now) {
        cluster_.Resume(it->second);
        it = resume_at_.erase(it);
      } else {
        ++it;
      }
    }
    for (auto it = fetch_at_.begin(); it != fetch_at_.end();) {
      if (it->when <= now) {
        // From whichever of the others holds the latest snapshot.
        ReplicaId from = it->from.front();
        for (ReplicaId id : it->from) {
          if (cluster_.SnapshotSlot(id) > cluster_.SnapshotSlot(from)) from = id;
        }
        cluster_.FetchSnapshotUnasked(it->replica, from);
        it = fetch_at_.erase(it);
      } else {
        ++it;
      }
    }
    if (now < quiet_until_) return;  // a scripted fault plays out undisturbed
    if (Rand(120) != 0) return;
    cluster_.CountFault();
    // The scripted fault (case 9) is drawn only in the runs picked for it,
    // and only until it is armed.
    bool depose_drawable = scripted_depose_ && !depose_armed_ && !deposed_;
    switch (Rand(depose_drawable ? 10 : 9)) {
      case 0:
        CrashFor(RandomReplica(), 20 + Rand(400));
        break;
      case 1: {  // crash the leader
        ReplicaId leader = cluster_.Leader();
        CrashFor(leader != 0 ? leader : RandomReplica(), 20 + Rand(400));
        break;
      }
      case 2: {  // symmetric partition into two random sides
        std::vector<bool> side(cluster_.ids().size() + 1);
        for (ReplicaId id : cluster_.ids()) side[id] = Rand(2) == 0;
        for (ReplicaId a : cluster_.ids()) {
          for (ReplicaId b : cluster_.ids()) {
            if (a != b) cluster_.SetLink(a, b, side[a] == side[b]);
          }
        }
        break;
      }
      case 3: {  // asymmetric: cut one direction of a random link
        ReplicaId a = RandomReplica();
        ReplicaId b = RandomReplica();
        if (a == b) break;
        if (Rand(2) == 0) {
          cluster_.SetLink(a, b, false);
        } else {
          cluster_.CutMessagesOnly(a, b);  // snapshot transfers still pass
        }
        break;
      }
      case 4: {  // isolate the leader
        ReplicaId leader = cluster_.Leader();
        if (leader == 0) break;
        for (ReplicaId other : cluster_.ids()) {
          if (other == leader) continue;
          cluster_.SetLink(leader, other, false);
          cluster_.SetLink(other, leader, false);
        }
        break;
      }
      case 5:
        cluster_.HealNetwork();
        break;
      case 6: {  // pause a replica (the leader half the time) past election timeouts
        ReplicaId victim =
            Rand(2) == 0 && cluster_.Leader() != 0 ? cluster_.Leader() : RandomReplica();
        if (!cluster_.IsUp(victim) || cluster_.IsPaused(victim)) break;
        cluster_.Pause(victim);
        resume_at_.push_back({now + 50 + Rand(500), victim});
        break;
      }
      case 7: {
        static constexpr double kDrops[] = {0.0, 0.05, 0.2};
        static constexpr double kDups[] = {0.0, 0.05, 0.2};
        cluster_.SetLoss(kDrops[Rand(3)], kDups[Rand(3)]);
        break;
      }
      case 8: {  // restart someone early
        for (auto& [when, id] : restart_at_) when = std::min(when, now + 1);
        break;
      }
      case 9:                  // once per run (it quiets the other faults for a while)
        depose_armed_ = true;  // at the leader's next proposal (see DriveClients)
        break;
    }
  }

  // Membership runs: now and then the leader is asked to add a learner (an
  // id never used), promote a learner, or remove a member (a voter only if
  // another voter stays) — or two of these at once, so that successive
  // configurations can differ in two voters and need not share a quorum
  // (what phase 1 across reported changes and in-order counting are for).
  // Replacing a member is these in turn. Drawn from their own generator, so
  // the faults' draws are those of other runs.
  void MaybeChangeMembership() {
    if (membership_rng_() % 100 != 0) return;
    ReplicaId leader = cluster_.Leader();
    if (leader == 0) return;
    paxos::CoreStatus status = cluster_.Status(leader);
    std::optional<paxos::Configuration> next = OneChange(status.config);
    if (next && membership_rng_() % 3 == 0) {
      std::optional<paxos::Configuration> second = OneChange(*next);
      if (second) next = second;
    }
    if (next) cluster_.ProposeConfiguration(leader, *next, status.config_slot);
  }

  // Now and then the leader is asked to hand leadership to a random hosted
  // replica: a voter (perhaps down, paused or cut off: the transfer then
  // fails and the leader must take commands again), or in membership runs a
  // learner, a removed or an unknown one, which must be refused. Drawn from
  // their own generator, so the faults' draws are those of other runs.
  void MaybeTransferLeadership() {
    if (transfer_rng_() % 150 != 0) return;
    ReplicaId leader = cluster_.Leader();
    if (leader == 0) return;
    std::vector<ReplicaId> others;
    for (ReplicaId id : cluster_.ids()) {
      if (id != leader) others.push_back(id);
    }
    ReplicaId target = others[transfer_rng_() % others.size()];
    paxos::Configuration config = cluster_.Status(leader).config;
    paxos::TransferResult result = cluster_.TransferLeadership(leader, target);
    if (result.status == paxos::TransferResult::Status::kAccepted) {
      if (!config.IsVoter(target)) {
        throw SimViolation("replica " + std::to_string(leader) + " accepted a transfer to " +
                           std::to_string(target) + ", not a voter");
      }
      ++transfers_started_;
      transfer_to_ = target;
      transfer_until_ =
          cluster_.now() + 2 * kUnitsPerTick * CoreOptionsFor(options_).election_ticks;
    } else if (!config.IsVoter(target) &&
               result.status != paxos::TransferResult::Status::kInvalid) {
      throw SimViolation("a transfer to non-voter " + std::to_string(target) + " was not refused");
    }
  }

  // Counts a transfer completed when its target leads before its time is up
  // (transfer_until_: 2 * election_ticks after the request, twice the base
  // election timeout).
  void WatchTransfer() {
    if (transfer_to_ == 0) return;
    if (cluster_.Leader() == transfer_to_) {
      ++transfers_completed_;
      transfer_to_ = 0;
    } else if (cluster_.now() > transfer_until_) {
      transfer_to_ = 0;
    }
  }

  // `config` with one member added as a learner, promoted or removed (at
  // least one voter stays), or nullopt if the drawn step is not possible.
  std::optional<paxos::Configuration> OneChange(const paxos::Configuration& config) {
    std::vector<ReplicaId> fresh, learners, members = config.members();
    for (ReplicaId id : cluster_.ids()) {
      if (!config.Contains(id) && !config.IsRetired(id)) fresh.push_back(id);
    }
    for (const paxos::Member& m : config.member_list()) {
      if (m.role == paxos::MemberRole::kLearner) learners.push_back(m.id);
    }
    switch (membership_rng_() % 3) {
      case 0:
        if (fresh.empty()) return std::nullopt;
        {
          ReplicaId id = fresh[membership_rng_() % fresh.size()];
          return config.WithLearner(id, "sim:" + std::to_string(id));
        }
      case 1:
        if (learners.empty()) return std::nullopt;
        return config.WithPromoted(learners[membership_rng_() % learners.size()]);
      default: {
        ReplicaId id = members[membership_rng_() % members.size()];
        if (config.IsVoter(id) && config.voters().size() == 1) return std::nullopt;
        return config.WithRemoved(id);
      }
    }
  }

  // Right after the leader sent Accepts, it and fewer than a quorum-1
  // followers lose their messages to and from the others (not snapshot
  // transfers), and the leader pauses long enough for the others to elect a
  // leader, choose other values in the slots its Accepts reached only its own
  // side at, and take snapshots. As it resumes, still leading in its old
  // ballot, its runtime installs one of the others' latest snapshots: its
  // commit point must not make its side learn its own unchosen values.
  void DeposeLeaderThenFeedItASnapshot(SimTime now) {
    ReplicaId leader = cluster_.Leader();
    if (leader == 0) return;
    cluster_.HealLinks();  // a fresh partition: the others can elect a leader
    std::vector<ReplicaId> others;
    for (ReplicaId id : cluster_.ids()) {
      if (id != leader) others.push_back(id);
    }
    for (size_t i = others.size(); i > 1; --i) std::swap(others[i - 1], others[Rand(i)]);
    // Followers that stay with the leader: none with 3 replicas, one with 5,
    // one or two with 7 (the rest keep a quorum).
    size_t minority = static_cast<size_t>(options_.replicas - 1) / 2;
    size_t with_leader = minority < 2 ? 0 : 1 + Rand(minority - 1);
    std::vector<ReplicaId> side(others.begin(), others.begin() + with_leader);
    side.push_back(leader);
    for (ReplicaId a : side) {
      for (size_t i = with_leader; i < others.size(); ++i) {
        cluster_.CutMessagesOnly(a, others[i]);
        cluster_.CutMessagesOnly(others[i], a);
      }
    }
    cluster_.Pause(leader);
    SimTime resume = now + 200 + Rand(600);
    resume_at_.push_back({resume, leader});
    std::vector<ReplicaId> rest(others.begin() + with_leader, others.end());
    // The transfer (5-65 units) ends about when the leader resumes.
    fetch_at_.push_back({resume - 40 + Rand(50), leader, std::move(rest)});
    quiet_until_ = resume + 150;
  }

  void DriveClients(bool chaos) {
    SimTime now = cluster_.now();
    for (SimClient& client : clients_) {
      if (!client.outstanding) {
        if (!chaos || Rand(30) != 0) continue;
        client.outstanding = true;
        if (client.session_ended) {  // the next command opens a new session
          ++client.session;
          client.session_ended = false;
        }
        client.maybe_proposed = false;
        client.command.session = client.session;
        client.command.client = client.id;
        client.command.seq = ++client.seq;
        client.command.op = Rand(3) == 0 ? "get" : "add";
        client.command.value = client.command.op == "add" ? static_cast<int64_t>(Rand(100)) : 0;
        client.target = 0;
        client.next_attempt = now;
        history_.push_back(
            {client.id, HistoryEvent::Type::kInvoke, client.command.op, client.command.value, now});
      }
      if (client.target != 0 && now < client.deadline) continue;  // waiting for an answer
      if (now < client.next_attempt) continue;
      if (client.target != 0) {        // timed out: the outcome is unknown; retry elsewhere
        client.maybe_proposed = true;  // as the runtime client's timed-out attempt
        client.next_target = static_cast<ReplicaId>(1 + (client.target % cluster_.ids().size()));
        client.target = 0;
      }
      ReplicaId target = client.next_target;
      paxos::ProposeResult result = cluster_.Propose(target, client.command.Encode());
      if (result.status == paxos::ProposeResult::Status::kAccepted && depose_armed_ && chaos &&
          target == cluster_.Leader()) {
        depose_armed_ = false;
        deposed_ = true;
        DeposeLeaderThenFeedItASnapshot(now);
      }
      if (result.status == paxos::ProposeResult::Status::kAccepted) {
        client.target = target;
        client.deadline = now + kClientTimeout;
      } else {
        client.next_target = result.leader_hint != paxos::kNoReplica
                                 ? result.leader_hint
                                 : static_cast<ReplicaId>(1 + (target % cluster_.ids().size()));
        client.next_attempt = now + kUnitsPerTick;
      }
    }
  }

  void OnApplied(ReplicaId replica, const std::string& text, const SimCounterApp::Result& result) {
    ClientCommand command = ClientCommand::Decode(text);
    if (command.client == 0 || command.client > clients_.size()) return;
    SimClient& client = clients_[command.client - 1];
    if (!client.outstanding || client.seq != command.seq || client.target != replica) return;
    if (command.session != client.command.session) return;  // another session's copy
    client.target = 0;
    if (result.expired) {
      client.session_ended = true;
      if (options_.broken == Break::kResendExpired) {
        // Broken: the same command again on a new session (applies it twice
        // if its first copy was applied before the session expired).
        client.command.session = ++client.session;
        client.session_ended = false;
        client.next_attempt = cluster_.now();
        return;
      }
    }
    node::CommandFacts facts;
    facts.maybe_proposed = client.maybe_proposed;
    facts.session_ended = client.session_ended;
    node::AttemptEnd end =
        result.expired ? node::AttemptEnd::kSessionExpired : node::AttemptEnd::kApplied;
    switch (node::DecideNextStep(end, facts)) {
      case node::NextStep::kReportOk:
        break;
      case node::NextStep::kReportUnknown:
      case node::NextStep::kReportFailed:  // no deadline here: failed is unreachable
        client.outstanding = false;
        history_.push_back(
            {client.id, HistoryEvent::Type::kInfo, command.op, command.value, cluster_.now()});
        return;
      case node::NextStep::kRetry:
        return;
      case node::NextStep::kResendOnNewSession:  // a new command of the next session
        client.command.session = ++client.session;
        client.command.seq = ++client.seq;
        client.session_ended = false;
        client.maybe_proposed = false;
        client.next_attempt = cluster_.now();
        return;
    }
    client.outstanding = false;
    ++answered_;
    int64_t value = command.op == "get" ? result.value : command.value;
    history_.push_back({client.id, HistoryEvent::Type::kOk, command.op, value, cluster_.now()});
  }

  SimOptions options_;
  ReplicaId gone_ = 0;            // RunHealed: the replica left down for good (0: none)
  bool scripted_depose_ = false;  // this run may draw DeposeLeaderThenFeedItASnapshot (1 in 3)
  bool depose_armed_ = false;     // DeposeLeaderThenFeedItASnapshot at the next proposal
  bool deposed_ = false;          // it ran (once per run)
  SimTime quiet_until_ = 0;       // no random faults before this time
  std::mt19937_64 membership_rng_{options_.seed ^ 0x6d656d62657273ULL};  // MaybeChangeMembership
  std::mt19937_64 transfer_rng_{options_.seed ^ 0x7472616e73666572ULL};  // MaybeTransferLeadership
  ReplicaId transfer_to_ = 0;  // target of the transfer being watched (0: none)
  SimTime transfer_until_ = 0;
  uint64_t transfers_started_ = 0;
  uint64_t transfers_completed_ = 0;
  StepObserver observer_;
  SimCluster cluster_;
  std::vector<SimClient> clients_;
  std::vector<std::pair<SimTime, ReplicaId>> restart_at_;
  std::vector<std::pair<SimTime, ReplicaId>> resume_at_;
  struct Fetch {
    SimTime when = 0;
    ReplicaId replica = 0;        // whose runtime fetches
    std::vector<ReplicaId> from;  // the latest snapshot among these
  };
  std::vector<Fetch> fetch_at_;  // FetchSnapshotUnasked, when due
  std::vector<HistoryEvent> history_;
  uint64_t answered_ = 0;
};

}  // namespace

RunResult RunRandomSchedule(const SimOptions& options, std::ostream* trace_out,
                            const StepObserver& observer) {
  RandomSchedule schedule(options, trace_out, observer);
  return schedule.Run();
}

}  // namespace synod::sim
