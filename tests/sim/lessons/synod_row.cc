// The Synod rows of the election lessons (see synod_row.h): real cores and
// lock state machines, a modelled runtime, disk, client and Election recipe.
#include "tests/sim/lessons/synod_row.h"

#include <algorithm>
#include <charconv>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "examples/lock/lock_state_machine.h"
#include "paxos/core.h"
#include "paxos/random.h"
#include "tests/sim/lessons/fault_state.h"
#include "tests/sim/lessons/shared_register.h"

namespace synod::sim::lessons {

namespace {

constexpr uint64_t kMsPerTick = 10;
// The Election recipe's timing for a 600 ms lease (examples/lock/election.h).
constexpr uint64_t kTtlMs = 600;
constexpr uint64_t kMarginMs = std::max<uint64_t>(kTtlMs / 5, 20);
constexpr uint64_t kRenewTicks = kTtlMs / 3 / kMsPerTick;
constexpr uint64_t kRetryTicks = std::clamp<uint64_t>(kTtlMs / 4, 50, 1000) / kMsPerTick;
// The modelled client.
constexpr uint64_t kAttemptTicks = 10;
constexpr uint64_t kGiveUpTicks = 30;
// The leader proposes a stamped tick once a second, as the runtime does.
constexpr uint64_t kStampTickEvery = 100;
constexpr char kLockName[] = "lessons";

uint64_t ParseU64(std::string_view text) {
  uint64_t value = 0;
  std::from_chars(text.data(), text.data() + text.size(), value);
  return value;
}

// Field `key` ("token") of a lock result like "granted token=3 ttl=600".
uint64_t ResultField(const std::string& result, const std::string& key) {
  size_t at = result.find(" " + key + "=");
  if (at == std::string::npos) return 0;
  size_t start = at + key.size() + 2;
  return ParseU64(std::string_view(result).substr(start, result.find(' ', start) - start));
}

// The leader's stamps (model of node::LeaderClock): from applied log time
// only, advancing with the monotonic clock (here: ticks, no drift).
class StampClock {
 public:
  void Applied(uint64_t log_time, uint64_t now_ms) {
    if (log_time <= applied_) return;
    applied_ = log_time;
    if (term_ && log_time > Projection(now_ms)) {
      base_ = log_time;
      start_ = now_ms;
    }
  }
  void Lead(paxos::Ballot ballot, uint64_t now_ms) {
    if (term_ && *term_ == ballot) return;
    term_ = ballot;
    base_ = applied_;
    start_ = now_ms;
    last_ = 0;
  }
  uint64_t Stamp(paxos::Ballot ballot, uint64_t now_ms) {
    Lead(ballot, now_ms);
    last_ = std::max(last_, Projection(now_ms));
    return last_;
  }

 private:
  uint64_t Projection(uint64_t now_ms) const { return base_ + (now_ms - start_); }
  uint64_t applied_ = 0;
  std::optional<paxos::Ballot> term_;
  uint64_t base_ = 0;
  uint64_t start_ = 0;
  uint64_t last_ = 0;
};

// Everything that travels between nodes.
struct Envelope {
  enum class Kind : uint8_t { kPaxos, kRequest, kReply } kind = Kind::kPaxos;
  NodeId from = 0;
  NodeId to = 0;
  paxos::Message paxos;     // kPaxos
  uint64_t request = 0;     // kRequest, kReply
  std::string text;         // kRequest: lock command; kReply: its result
  bool not_leader = false;  // kReply
  NodeId hint = 0;          // kReply with not_leader
};

struct Replica {
  explicit Replica(uint64_t seed) : random(seed) {}
  paxos::SplitMix64 random;
  std::unique_ptr<paxos::Core> core;
  // The in-memory disk: what Readies persisted (kept to honour ready.h; no
  // crash reads it back here).
  paxos::Ballot promised;
  std::map<paxos::Slot, paxos::Entry> entries;
  examples::LockStateMachine lock;
  uint64_t log_time_ms = 0;
  paxos::Ballot time_ballot;
  StampClock clock;
  uint64_t next_stamp_tick = kStampTickEvery;
};

// A command of the modelled client, until answered or given up.
struct Pending {
  NodeId client = 0;
  std::string command;
  NodeId target = 0;
  uint64_t attempt_deadline = 0;
  uint64_t deadline = 0;
  std::function<void(bool ok, const std::string& result)> done;
};

// The Election recipe's state for one candidate (model of examples::Election).
struct Candidate {
  uint64_t campaign = 1;
  bool leading_flag = false;
  bool acquiring = false;
  uint64_t token = 0;
  uint64_t last_ok_send_ms = 0;
  uint64_t retry_at = 0;
  uint64_t next_renew = 0;
  NodeId leader_hint = 0;
  bool Leading(uint64_t now) const {
    return leading_flag && now * kMsPerTick + kMarginMs < last_ok_send_ms + kTtlMs;
  }
};

class SynodWorld {
 public:
  SynodWorld(const FaultSchedule& schedule, uint64_t seed, const LessonsSetup& setup)
      : setup_(setup),
        random_(seed ^ 0x5E0Dull),
        faults_(schedule),
        unfenced_(false),
        fenced_(true),
        held_(setup.nodes + 1) {
    std::vector<paxos::ReplicaId> members;
    for (NodeId id = 1; id <= setup.nodes; ++id) members.push_back(id);
    replicas_.push_back(nullptr);
    candidates_.resize(setup.nodes + 1);
    for (NodeId id = 1; id <= setup.nodes; ++id) {
      auto replica = std::make_unique<Replica>(seed * 31 + id);
      replica->core =
          std::make_unique<paxos::Core>(id, paxos::Configuration(members), paxos::CoreOptions{},
                                        replica->random, paxos::DurableState{}, 0);
      replicas_.push_back(std::move(replica));
      candidates_[id].leader_hint = id;
    }
  }

  SynodRowResult Run() {
    for (now_ = 0; now_ < setup_.ticks; ++now_) Step();
    result_.unfenced.conflicting = unfenced_.conflicting();
    result_.unfenced.accepted = unfenced_.accepted();
    result_.unfenced.refused = unfenced_.refused();
    result_.fenced.conflicting = fenced_.conflicting();
    result_.fenced.accepted = fenced_.accepted();
    result_.fenced.refused = fenced_.refused();
    return result_;
  }

 private:
  void Step() {
    FaultState::Change change = faults_.Advance(now_, CurrentLeader());
    if (change.paused != 0) {  // caught between checking its lease and writing
      const Candidate& c = candidates_[change.paused];
      held_write_.push_back({change.paused, c.token, c.token});
    }
    if (change.resumed != 0) {
      for (const RegisterWrite& write : held_write_) Write(write);
      held_write_.clear();
      std::vector<Envelope> held = std::move(held_[change.resumed]);
      held_[change.resumed].clear();
      for (const Envelope& envelope : held) Deliver(envelope);
    }
    while (!network_.empty() && network_.begin()->first <= now_) {
      Envelope envelope = std::move(network_.begin()->second);
      network_.erase(network_.begin());
      if (faults_.Paused(envelope.to)) {
        held_[envelope.to].push_back(std::move(envelope));
      } else {
        Deliver(envelope);
      }
    }
    for (NodeId id = 1; id <= setup_.nodes; ++id) {
      if (faults_.Paused(id)) continue;
      TickReplica(id);
      TickClient(id);
      TickCandidate(id);
    }
    size_t leaders = 0;
    for (NodeId id = 1; id <= setup_.nodes; ++id) {
      const Candidate& c = candidates_[id];
      if (faults_.Paused(id) || !c.Leading(now_)) continue;
      ++leaders;
      if (now_ % setup_.write_every == 0) {
        to_register_.emplace(now_ + random_.Uniform(1, 4), RegisterWrite{id, c.token, c.token});
      }
    }
    for (RowMetrics* metrics : {&result_.unfenced, &result_.fenced}) {
      if (leaders >= 2) ++metrics->two_leader_ticks;
      if (leaders == 0) ++metrics->leaderless_ticks;
    }
    while (!to_register_.empty() && to_register_.begin()->first <= now_) {
      Write(to_register_.begin()->second);
      to_register_.erase(to_register_.begin());
    }
  }

  void Write(const RegisterWrite& write) {
    unfenced_.Write(write);
    fenced_.Write(write);
  }

  // The running candidate that leads with the highest token, or 0.
  NodeId CurrentLeader() const {
    NodeId leader = 0;
    for (NodeId id = 1; id <= setup_.nodes; ++id) {
      const Candidate& c = candidates_[id];
      if (!faults_.Paused(id) && c.Leading(now_) &&
          (leader == 0 || c.token > candidates_[leader].token)) {
        leader = id;
      }
    }
    return leader;
  }

  void Send(Envelope envelope) {
    if (!faults_.Passes(envelope.from, envelope.to, random_)) return;
    network_.emplace(now_ + random_.Uniform(1, 4), std::move(envelope));
  }

  void Deliver(const Envelope& envelope) {
    Replica& replica = *replicas_[envelope.to];
    switch (envelope.kind) {
      case Envelope::Kind::kPaxos:
        replica.core->Step(envelope.paxos);
        Drain(envelope.to);
        return;
      case Envelope::Kind::kRequest:
        HandleRequest(envelope);
        return;
      case Envelope::Kind::kReply:
        HandleReply(envelope);
        return;
    }
  }

  // --- replica side ---

  void TickReplica(NodeId id) {
    Replica& replica = *replicas_[id];
    replica.core->Tick();
    Drain(id);
    paxos::CoreStatus status = replica.core->Status();
    if (status.role != paxos::Role::kLeader) return;
    replica.clock.Lead(status.leader_ballot, now_ * kMsPerTick);
    if (now_ >= replica.next_stamp_tick) {
      replica.next_stamp_tick = now_ + kStampTickEvery;
      Propose(id, 0, 0, "tick");
    }
  }

  // Stamps and proposes `command` at replica `id`; returns the core's answer.
  paxos::ProposeResult Propose(NodeId id, NodeId client, uint64_t request,
                               const std::string& command) {
    Replica& replica = *replicas_[id];
    paxos::CoreStatus status = replica.core->Status();
    if (status.role != paxos::Role::kLeader) {
      return {paxos::ProposeResult::Status::kNotLeader, status.leader};
    }
    uint64_t stamp = replica.clock.Stamp(status.leader_ballot, now_ * kMsPerTick);
    std::string value = std::to_string(stamp) + " " + std::to_string(status.leader_ballot.round) +
                        " " + std::to_string(status.leader_ballot.replica) + " " +
                        std::to_string(client) + " " + std::to_string(request) + " " +
                        std::to_string(id) + "|" + command;
    paxos::ProposeResult result = replica.core->Propose({value});
    Drain(id);
    return result;
  }

  void HandleRequest(const Envelope& request) {
    paxos::ProposeResult result = Propose(request.to, request.from, request.request, request.text);
    if (result.status == paxos::ProposeResult::Status::kAccepted) return;  // answered on apply
    Envelope reply;
    reply.kind = Envelope::Kind::kReply;
    reply.from = request.to;
    reply.to = request.from;
    reply.request = request.request;
    reply.not_leader = true;
    reply.hint = result.leader_hint;
    Send(std::move(reply));
  }

  void Drain(NodeId id) {
    Replica& replica = *replicas_[id];
    while (replica.core->HasReady()) {
      paxos::Ready ready = replica.core->TakeReady();
      if (ready.compact_through || ready.fetch_snapshot) {
        throw std::logic_error("lessons: the core asked for compaction or a snapshot");
      }
      // Durable at once: both kinds of message may leave now.
      if (ready.promised) replica.promised = *ready.promised;
      for (const paxos::SlotEntry& e : ready.entries) replica.entries[e.slot] = e.entry;
      for (const paxos::SlotEntry& e : ready.unsynced_entries) replica.entries[e.slot] = e.entry;
      for (auto* messages : {&ready.messages, &ready.messages_after_persist}) {
        for (paxos::Message& message : *messages) {
          Envelope envelope;
          envelope.from = message.from;
          envelope.to = message.to;
          envelope.paxos = std::move(message);
          Send(std::move(envelope));
        }
      }
      for (const paxos::CommittedEntry& entry : ready.committed) Apply(id, entry);
      replica.core->Advance();
    }
  }

  // Applies one chosen slot: the stamp-ballot rule for log time, then the lock.
  void Apply(NodeId id, const paxos::CommittedEntry& entry) {
    Replica& replica = *replicas_[id];
    if (entry.value->kind != paxos::ValueKind::kCommands) return;
    for (const std::string& value : entry.value->commands) {
      size_t bar = value.find('|');
      std::vector<uint64_t> header;
      std::string_view head(value.data(), bar);
      for (size_t pos = 0; pos <= head.size();) {
        size_t space = std::min(head.find(' ', pos), head.size());
        header.push_back(ParseU64(head.substr(pos, space - pos)));
        pos = space + 1;
      }
      paxos::Ballot ballot{header[1], static_cast<paxos::ReplicaId>(header[2])};
      if (ballot >= replica.time_ballot) {
        replica.time_ballot = ballot;
        replica.log_time_ms = std::max(replica.log_time_ms, header[0]);
      }
      replica.clock.Applied(replica.log_time_ms, now_ * kMsPerTick);
      std::string command = value.substr(bar + 1);
      if (command == "tick") continue;
      std::string result =
          replica.lock.Apply(command, statemachine::ApplyContext{entry.slot, replica.log_time_ms});
      NodeId client = static_cast<NodeId>(header[3]);
      if (client != 0 && header[5] == id) {
        Envelope reply;
        reply.kind = Envelope::Kind::kReply;
        reply.from = id;
        reply.to = client;
        reply.request = header[4];
        reply.text = result;
        Send(std::move(reply));
      }
    }
  }

  // --- client side (model of node::Client) ---

  void Execute(NodeId client, std::string command,
               std::function<void(bool, const std::string&)> done) {
    uint64_t request = ++requests_;
    Pending& pending = pending_[request];
    pending.client = client;
    pending.command = std::move(command);
    pending.target = candidates_[client].leader_hint;
    pending.deadline = now_ + kGiveUpTicks;
    pending.done = std::move(done);
    SendRequest(request, pending);
  }

  void SendRequest(uint64_t request, Pending& pending) {
    pending.attempt_deadline = now_ + kAttemptTicks;
    Envelope envelope;
    envelope.kind = Envelope::Kind::kRequest;
    envelope.from = pending.client;
    envelope.to = pending.target;
    envelope.request = request;
    envelope.text = pending.command;
    Send(std::move(envelope));
  }

  NodeId NextTarget(NodeId target) const { return target % setup_.nodes + 1; }

  void TickClient(NodeId client) {
    std::vector<uint64_t> given_up;
    for (auto& [request, pending] : pending_) {
      if (pending.client != client) continue;
      if (now_ >= pending.deadline) {
        given_up.push_back(request);
      } else if (now_ >= pending.attempt_deadline) {
        pending.target = NextTarget(pending.target);
        SendRequest(request, pending);
      }
    }
    for (uint64_t request : given_up) {
      auto done = std::move(pending_[request].done);
      pending_.erase(request);
      done(false, "");  // unknown outcome
    }
  }

  void HandleReply(const Envelope& reply) {
    auto it = pending_.find(reply.request);
    if (it == pending_.end()) return;  // answered or given up already
    Pending& pending = it->second;
    if (reply.not_leader) {
      pending.target = reply.hint != 0 ? reply.hint : NextTarget(pending.target);
      SendRequest(reply.request, pending);
      return;
    }
    candidates_[pending.client].leader_hint = reply.from;
    auto done = std::move(pending.done);
    pending_.erase(it);
    done(true, reply.text);
  }

  // --- the Election recipe (model of examples::Election) ---

  std::string Owner(NodeId id) const {
    return "n" + std::to_string(id) + "." + std::to_string(candidates_[id].campaign);
  }

  void TickCandidate(NodeId id) {
    Candidate& c = candidates_[id];
    if (c.leading_flag && !c.Leading(now_)) {
      Lose(id);  // no successful renew before the lease deadline
    }
    if (c.leading_flag && now_ >= c.next_renew) {
      c.next_renew = now_ + kRenewTicks;
      uint64_t sent_ms = now_ * kMsPerTick;
      uint64_t campaign = c.campaign;
      Execute(id, examples::LockStateMachine::RenewCommand(kLockName, Owner(id), c.token),
              [this, id, sent_ms, campaign](bool ok, const std::string& result) {
                Candidate& me = candidates_[id];
                if (!ok || !me.leading_flag || campaign != me.campaign) return;
                if (result.rfind("renewed", 0) == 0) {
                  me.last_ok_send_ms = std::max(me.last_ok_send_ms, sent_ms);
                } else {
                  Lose(id);  // renew refused
                }
              });
    }
    if (!c.leading_flag && !c.acquiring && now_ >= c.retry_at) {
      c.acquiring = true;
      uint64_t sent_ms = now_ * kMsPerTick;
      uint64_t campaign = c.campaign;
      Execute(id, examples::LockStateMachine::AcquireCommand(kLockName, Owner(id), kTtlMs),
              [this, id, sent_ms, campaign](bool ok, const std::string& result) {
                Candidate& me = candidates_[id];
                me.acquiring = false;
                if (me.leading_flag || campaign != me.campaign) return;
                if (ok && result.rfind("granted", 0) == 0) {
                  me.token = ResultField(result, "token");
                  me.last_ok_send_ms = sent_ms;
                  me.leading_flag = true;
                  me.next_renew = now_ + kRenewTicks;
                  return;
                }
                me.retry_at = now_ + kRetryTicks;  // held by another, or no answer
              });
    }
  }

  void Lose(NodeId id) {
    Candidate& c = candidates_[id];
    c.leading_flag = false;
    ++c.campaign;  // the next term needs a new owner name, hence a new token
    c.retry_at = now_ + kRetryTicks;
  }

  LessonsSetup setup_;
  paxos::SplitMix64 random_;
  FaultState faults_;
  SharedRegister unfenced_;
  SharedRegister fenced_;
  std::vector<std::unique_ptr<Replica>> replicas_;  // index = node id (0 unused)
  std::vector<Candidate> candidates_;               // index = node id
  std::multimap<uint64_t, Envelope> network_;       // by delivery tick
  std::multimap<uint64_t, RegisterWrite> to_register_;
  std::vector<std::vector<Envelope>> held_;  // messages waiting for a paused node
  std::vector<RegisterWrite> held_write_;    // the paused candidate's pending write
  std::map<uint64_t, Pending> pending_;      // by request id
  uint64_t requests_ = 0;
  uint64_t now_ = 0;
  SynodRowResult result_;
};

}  // namespace

SynodRowResult RunSynod(const FaultSchedule& schedule, uint64_t seed, const LessonsSetup& setup) {
  return SynodWorld(schedule, seed, setup).Run();
}

}  // namespace synod::sim::lessons
