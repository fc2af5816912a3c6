#include "tests/sim/sim_cluster.h"

#include <algorithm>
#include <sstream>

#include "paxos/invariant.h"
#include "tests/sim/sim_replica.h"

namespace synod::sim {

namespace {
constexpr size_t kRecentEvents = 120;

// A "random" source that always returns the same value (scenario tests).
class ConstantRandom final : public paxos::RandomSource {
 public:
  explicit ConstantRandom(uint64_t value) : value_(value) {}
  uint64_t Next() override { return value_; }

 private:
  uint64_t value_;
};
}  // namespace

SimCluster::SimCluster(const SimOptions& options, paxos::CoreOptions core_options,
                       bool manual_network, std::ostream* trace)
    : options_(options),
      core_options_(core_options),
      manual_network_(manual_network),
      trace_(trace),
      rng_(options.seed),
      checker_(options.replicas,
               manual_network ? options.force_membership : MembershipRun(options)) {
  membership_ = manual_network_ ? options.force_membership : MembershipRun(options);
  if (!manual_network_ && options.snapshots) {
    // Snapshot cadence and log tail vary per seed (a quarter of runs take none).
    std::mt19937_64 pick(options.seed ^ 0x5eedULL);
    snapshot_every_ = pick() % 4 == 0 ? 0 : 2 + pick() % 25;
    log_tail_ = pick() % 4;
  }
  int hosted = membership_ ? std::max(kMaxSimReplicas, options.replicas) : options.replicas;
  for (int i = 1; i <= hosted; ++i) {
    ids_.push_back(static_cast<ReplicaId>(i));
    auto replica = std::make_unique<Replica>();
    replica->id = static_cast<ReplicaId>(i);
    if (options_.broken == Break::kSkipPersist) {
      replica->disk = std::make_unique<ForgetfulDisk>(*this, *replica);
    } else {
      replica->disk = std::make_unique<SimDisk>(*this, *replica);
    }
    replica->seams = std::make_unique<RuntimeSeams>(*this, *replica);
    replicas_.push_back(std::move(replica));
  }
  for (auto& replica : replicas_) StartCore(*replica);
}

SimCluster::~SimCluster() = default;

SimCluster::Replica& SimCluster::At(ReplicaId id) {
  SYNOD_INVARIANT(id >= 1 && id <= replicas_.size(), "no such simulated replica");
  return *replicas_[id - 1];
}

const SimCluster::Replica& SimCluster::At(ReplicaId id) const {
  SYNOD_INVARIANT(id >= 1 && id <= replicas_.size(), "no such simulated replica");
  return *replicas_[id - 1];
}

double SimCluster::Uniform() { return std::uniform_real_distribution<double>(0, 1)(rng_); }

void SimCluster::Note(const std::string& line) {
  std::string stamped = "t=" + std::to_string(now_) + " " + line;
  if (options_.trace && trace_ != nullptr) *trace_ << stamped << "\n";
  recent_.push_back(std::move(stamped));
  if (recent_.size() > kRecentEvents) recent_.pop_front();
}

std::string SimCluster::RecentTrace() const {
  std::string out;
  for (const std::string& line : recent_) out += "  " + line + "\n";
  return out;
}

std::string SimCluster::KindOf(const Message& message) {
  static const char* const kNames[] = {
      "PreVote", "PreVoteReply", "Prepare",        "Promise",        "Accept",       "Accepted",
      "Reject",  "Heartbeat",    "HeartbeatReply", "CatchupRequest", "CatchupReply", "TimeoutNow"};
  static_assert(std::size(kNames) == std::variant_size_v<paxos::MessageBody>);
  return kNames[message.body.index()];
}

namespace {

void ThrowStorageFailure(const std::string& message) {
  throw SimViolation("storage failure: " + message);
}

// The recovered state must equal what the disk model says was made durable.
// Entries above both compaction points (a deletion is unsynced, so LevelDB and
// the model may disagree on what was deleted; deleted entries are never used).
std::vector<paxos::SlotEntry> LiveEntries(const paxos::DurableState& state, Slot compacted) {
  std::vector<paxos::SlotEntry> out;
  for (const paxos::SlotEntry& se : state.entries) {
    if (se.slot > compacted) out.push_back(se);
  }
  return out;
}

void CheckSameDurableState(ReplicaId id, const paxos::DurableState& model_state,
                           const paxos::DurableState& stored_state) {
  Slot compacted = std::max(model_state.compacted, stored_state.compacted);
  std::vector<paxos::SlotEntry> model = LiveEntries(model_state, compacted);
  std::vector<paxos::SlotEntry> stored = LiveEntries(stored_state, compacted);
  bool same = model_state.promised == stored_state.promised && model.size() == stored.size();
  for (size_t i = 0; same && i < model.size(); ++i) {
    const paxos::SlotEntry& a = model[i];
    const paxos::SlotEntry& b = stored[i];
    // LevelDB may lose an unsynced chosen mark the model counts as synced (a
    // log file it switched away from is not synced); losing one is allowed.
    same = a.slot == b.slot && a.entry.ballot == b.entry.ballot &&
           (a.entry.chosen == b.entry.chosen || !b.entry.chosen) &&
           paxos::SameValue(a.entry.value, b.entry.value);
  }
  if (!same) {
    throw SimViolation("replica " + std::to_string(id) +
                       ": LevelDB storage recovered a state other than the one made durable");
  }
}

}  // namespace

void SimCluster::StartCore(Replica& replica) {
  paxos::DurableState durable;
  durable.promised = replica.disk_promised;
  durable.compacted = replica.disk_compacted;
  for (const auto& [slot, entry] : replica.disk_entries) {
    durable.entries.push_back(paxos::SlotEntry{slot, entry});
  }
  Slot snapshot_slot = replica.snapshot_disk ? replica.snapshot_disk->slot : 0;
  if (replica.disk_compacted > snapshot_slot) {
    throw SimViolation("replica " + std::to_string(replica.id) + " compacted its log through " +
                       std::to_string(replica.disk_compacted) +
                       " but its durable snapshot covers only " + std::to_string(snapshot_slot));
  }
  if (options_.leveldb_disk) {
    if (!replica.env) replica.env = std::make_unique<log::FaultInjectionEnv>();
    replica.storage.reset();
    replica.env->Crash();  // a restart sees only what was synced
    log::LevelDbOptions storage_options;
    storage_options.dir = "/replica" + std::to_string(replica.id);
    storage_options.replica_id = replica.id;
    storage_options.env = replica.env.get();
    storage_options.fatal = ThrowStorageFailure;
    auto opened = log::LevelDbLogStorage::Open(storage_options);
    if (!opened.ok()) throw SimViolation("storage refused to open: " + opened.status().message());
    replica.storage = std::move(*opened);
    log::RecoveredLog recovered = replica.storage->Load();
    CheckSameDurableState(replica.id, durable, recovered.paxos);
    durable = std::move(recovered.paxos);
  }
  checker_.OnRestart(replica.id, durable);
  std::vector<ReplicaId> members(ids_.begin(), ids_.begin() + options_.replicas);
  paxos::Configuration config(members);
  // The configuration after the snapshot slot: the snapshot's, or the initial one.
  paxos::ConfigAt start =
      replica.snapshot_disk ? replica.snapshot_disk->config : paxos::ConfigAt{0, config};
  if (options_.staggered_timeouts) {
    // Replica r waits election_ticks + 3 * (r - 1) ticks: scenarios know who times out first.
    replica.random = std::make_unique<ConstantRandom>(3 * (replica.id - 1));
  } else {
    replica.random = std::make_unique<paxos::SplitMix64>(options_.seed * 1000003 +
                                                         replica.id * 7919 + replica.restarts);
  }
  replica.core = std::make_unique<paxos::Core>(replica.id, start, core_options_, *replica.random,
                                               std::move(durable), snapshot_slot);
  if (options_.broken == Break::kStaleCommitPoint)
    replica.core->DisableCommitPointGuardForTesting();
  // Every configuration, also those changes and snapshots bring later.
  if (options_.broken == Break::kSmallQuorum) replica.core->ShrinkQuorumsForTesting();
  if (options_.broken == Break::kTransferNeverEnds) replica.core->KeepFailedTransferForTesting();
  if (MembershipRuleBroken(options_.broken) != paxos::MembershipBreak::kNone) {
    replica.core->BreakMembershipRuleForTesting(MembershipRuleBroken(options_.broken));
  }
  for (Break also : options_.also_broken) {
    replica.core->BreakMembershipRuleForTesting(MembershipRuleBroken(also));
  }
  replica.app_config = start;
  if (replica.snapshot_disk) {
    // Restored from its snapshot: the core must know the configuration that
    // governs the slot after its chosen point (ground truth's).
    paxos::CoreStatus status = replica.core->Status();
    checker_.CheckSnapshotConfig(replica.id, status.chosen_point,
                                 paxos::ConfigAt{status.config_slot, status.config});
  }
  replica.pump = std::make_unique<node::ReadyPump>(*replica.core, *replica.disk, *replica.seams,
                                                   *replica.seams, replica.seams.get());
  // The application restarts from its latest durable snapshot (or empty).
  replica.app = replica.snapshot_disk ? replica.snapshot_disk->app
                                      : SimCounterApp(options_.broken != Break::kNoDedup,
                                                      options_.session_expiry_commands);
  replica.applied_through = snapshot_slot;
  replica.applied_slots.clear();
}

void SimCluster::Step() {
  ++now_;
  while (!events_.empty() && events_.begin()->first <= now_) {
    Event event = std::move(events_.begin()->second);
    events_.erase(events_.begin());
    Dispatch(event);
  }
  for (auto& replica : replicas_) {
    if ((now_ + replica->id) % kUnitsPerTick == 0) TickReplica(replica->id);
  }
}

void SimCluster::TickReplica(ReplicaId id) {
  Replica& replica = At(id);
  if (!replica.up || replica.paused) return;
  replica.core->Tick();
  Drain(replica);
}

void SimCluster::CheckInvariants() const {
  for (const auto& replica : replicas_) {
    if (replica->up) checker_.CheckPromise(replica->id, replica->core->Status().promised);
  }
}

void SimCluster::Dispatch(const Event& event) {
  ReplicaId target = event.kind == Event::Kind::kDeliver ? event.message.to : event.replica;
  Replica& replica = At(target);
  if (!replica.up) return;  // lost with the crash
  if (replica.paused) {
    replica.held.push_back(event);
    return;
  }
  if (event.kind == Event::Kind::kDeliver) {
    Deliver(event.message);
    return;
  }
  if (event.kind == Event::Kind::kDiskDone) {
    replica.disk->Done(event.generation);
    return;
  }
  if (event.generation != replica.restarts) return;  // scheduled before a crash
  switch (event.kind) {
    case Event::Kind::kSnapshotTaken:
      OnSnapshotTaken(replica);
      break;
    case Event::Kind::kSnapshotArrived:
      OnSnapshotArrived(replica, event);
      break;
    case Event::Kind::kSnapshotInstalled:
      OnSnapshotInstalled(replica);
      break;
    default:
      break;
  }
}

void SimCluster::Drain(Replica& replica) {
  replica.pump->Pump();
  // Scenarios: the disk completes each write as soon as it is handed out.
  while (manual_network_ && replica.disk->writing()) {
    replica.disk->Done(replica.disk->generation());
  }
}

void SimCluster::CheckReportIsDurable(const Message& message) const {
  const Replica& sender = At(message.from);
  if (const auto* promise = std::get_if<paxos::Promise>(&message.body)) {
    if (sender.disk_promised < promise->ballot) {
      throw SimViolation("replica " + std::to_string(message.from) + " sent Promise " +
                         promise->ballot.ToString() + " before persisting it (disk has " +
                         sender.disk_promised.ToString() + ")");
    }
  } else if (const auto* accepted = std::get_if<paxos::Accepted>(&message.body)) {
    // The disk must hold this accept or a state that subsumes it: an accept
    // in a higher ballot made later, the slot's chosen value, or a compaction
    // past the slot (the accept was durable; the slot is chosen and in the
    // durable snapshot, so the entry was deleted on purpose).
    if (accepted->slot <= sender.disk_compacted) return;
    auto it = sender.disk_entries.find(accepted->slot);
    if (it == sender.disk_entries.end() ||
        (it->second.ballot < accepted->ballot && !it->second.chosen)) {
      throw SimViolation("replica " + std::to_string(message.from) + " sent Accepted " +
                         accepted->ballot.ToString() + " for slot " +
                         std::to_string(accepted->slot) + " before persisting the accept");
    }
  }
}

void SimCluster::Send(const Message& original) {
  CheckReportIsDurable(original);
  Message message = original;
  if (options_.broken == Break::kHideCompaction) {
    if (auto* promise = std::get_if<paxos::Promise>(&message.body)) promise->compacted = 0;
  }
  if (link_down_[{message.from, message.to}]) return;
  if (manual_network_) {
    mailbox_.push_back(message);
    return;
  }
  if (drop_ > 0 && Uniform() < drop_) return;
  int copies = (duplicate_ > 0 && Uniform() < duplicate_) ? 2 : 1;
  for (int i = 0; i < copies; ++i) {
    SimTime delay = 1 + rng_() % 10;
    if (rng_() % 10 == 0) delay += rng_() % 60;  // a slow path: reordering
    events_.emplace(now_ + delay, Event{Event::Kind::kDeliver, message, 0, 0});
  }
}

void SimCluster::Deliver(const Message& message) {
  if (!manual_network_ && link_down_[{message.from, message.to}]) return;
  Replica& replica = At(message.to);
  if (options_.trace) Note("deliver " + paxos::DescribeMessage(message));
  replica.core->Step(message);
  Drain(replica);
}

void SimCluster::Apply(Replica& replica, const paxos::CommittedEntry& entry) {
  Slot expected = replica.applied_through + 1;
  if (entry.slot != expected) {
    throw SimViolation("replica " + std::to_string(replica.id) + " applied slot " +
                       std::to_string(entry.slot) + " but expected " + std::to_string(expected));
  }
  checker_.OnDeliver(replica.id, entry);
  replica.applied_slots.push_back(entry.slot);
  replica.applied_through = entry.slot;
  if (entry.value->kind == paxos::ValueKind::kConfiguration) {
    // The runtime's member list, not the application's state.
    replica.app_config = paxos::NextConfiguration(replica.app_config, entry.slot, *entry.value);
    if (options_.trace) {
      Note("config " + std::to_string(replica.id) + " after " + std::to_string(entry.slot) + ": " +
           replica.app_config.config.ToString() + " (set at " +
           std::to_string(replica.app_config.slot) + ")");
    }
  } else {
    for (const std::string& command : entry.value->commands) {
      SimCounterApp::Result result = replica.app.Apply(command);
      if (apply_observer_) apply_observer_(replica.id, entry.slot, command, result);
    }
  }
  if (snapshot_every_ > 0) checker_.OnAppState(replica.id, entry.slot, AppFingerprint(replica));
}

void SimCluster::Crash(ReplicaId id) {
  Replica& replica = At(id);
  if (!replica.up) return;
  Note("crash " + std::to_string(id));
  replica.up = false;
  replica.paused = false;
  replica.disk->Crash();                // the write in flight and unsynced writes are lost
  replica.snapshot_taking.reset();      // a snapshot write cut short
  replica.snapshot_installing.reset();  // an install cut short
  replica.snapshot_fetching = false;    // a transfer cut short
  replica.held.clear();
  replica.pump.reset();
  replica.core.reset();
  replica.storage.reset();  // the process dies; unsynced data goes at restart
}

void SimCluster::Restart(ReplicaId id) {
  Replica& replica = At(id);
  if (replica.up) return;
  Note("restart " + std::to_string(id));
  ++replica.restarts;
  replica.up = true;
  StartCore(replica);
}

void SimCluster::Pause(ReplicaId id) {
  Replica& replica = At(id);
  if (!replica.up || replica.paused) return;
  Note("pause " + std::to_string(id));
  replica.paused = true;
}

void SimCluster::Resume(ReplicaId id) {
  Replica& replica = At(id);
  if (!replica.up || !replica.paused) return;
  Note("resume " + std::to_string(id));
  replica.paused = false;
  std::vector<Event> held = std::move(replica.held);
  replica.held.clear();
  for (Event& event : held) {
    if (manual_network_) {
      if (event.kind == Event::Kind::kDeliver) mailbox_.push_back(std::move(event.message));
    } else {
      events_.emplace(now_, std::move(event));
    }
  }
}

void SimCluster::SetLink(ReplicaId from, ReplicaId to, bool up) {
  link_down_[{from, to}] = !up;
  snapshot_path_open_.erase({from, to});
}

void SimCluster::CutMessagesOnly(ReplicaId from, ReplicaId to) {
  link_down_[{from, to}] = true;
  snapshot_path_open_.insert({from, to});
}

bool SimCluster::SnapshotPathDown(ReplicaId from, ReplicaId to) {
  return link_down_[{from, to}] && snapshot_path_open_.count({from, to}) == 0;
}

void SimCluster::HealNetwork() {
  HealLinks();
  drop_ = 0;
  duplicate_ = 0;
}

void SimCluster::HealLinks() {
  link_down_.clear();
  snapshot_path_open_.clear();
}

void SimCluster::SetLoss(double drop, double duplicate) {
  drop_ = drop;
  duplicate_ = duplicate;
}

std::string SimCluster::AppFingerprint(const Replica& replica) const {
  if (!membership_) return replica.app.Fingerprint();
  return replica.app.Fingerprint() + " config=" + replica.app_config.config.ToString() + "@" +
         std::to_string(replica.app_config.slot);
}

paxos::ReconfigureResult SimCluster::ProposeConfiguration(ReplicaId id,
                                                          const paxos::Configuration& next,
                                                          paxos::Slot base_slot) {
  Replica& replica = At(id);
  if (!replica.up || replica.paused) return paxos::ReconfigureResult{};
  paxos::ReconfigureResult result = replica.core->ProposeConfiguration(next, base_slot);
  Note("reconfigure at " + std::to_string(id) + " to [" + next.ToString() + "]: " +
       (result.status == paxos::ReconfigureResult::Status::kAccepted
            ? "proposed at slot " + std::to_string(result.slot)
            : "refused " + result.reason));
  Drain(replica);
  return result;
}

paxos::TransferResult SimCluster::TransferLeadership(ReplicaId id, ReplicaId target) {
  Replica& replica = At(id);
  if (!replica.up || replica.paused) return paxos::TransferResult{};
  paxos::TransferResult result = replica.core->TransferLeadership(target);
  Note("transfer leadership at " + std::to_string(id) + " to " + std::to_string(target) + ": " +
       (result.status == paxos::TransferResult::Status::kAccepted ? "started"
                                                                  : "refused " + result.reason));
  Drain(replica);
  return result;
}

paxos::ProposeResult SimCluster::Propose(ReplicaId id, const std::string& command) {
  Replica& replica = At(id);
  if (!replica.up || replica.paused) return paxos::ProposeResult{};
  paxos::ProposeResult result = replica.core->Propose({command});
  if (result.status == paxos::ProposeResult::Status::kAccepted) {
    checker_.OnProposed(command);
    if (options_.trace) Note("propose at " + std::to_string(id) + ": " + command);
  }
  Drain(replica);
  return result;
}

size_t SimCluster::DeliverIf(const MessageFilter& match) {
  std::deque<Message> keep;
  std::vector<Message> deliver;
  for (Message& message : mailbox_) {
    (match(message) ? deliver.push_back(std::move(message)) : keep.push_back(std::move(message)));
  }
  mailbox_ = std::move(keep);
  for (const Message& message : deliver) {
    Replica& replica = At(message.to);
    if (!replica.up) continue;
    if (replica.paused) {
      replica.held.push_back(Event{Event::Kind::kDeliver, message, 0, 0});
      continue;
    }
    Deliver(message);
  }
  return deliver.size();
}

size_t SimCluster::DropIf(const MessageFilter& match) {
  size_t before = mailbox_.size();
  std::erase_if(mailbox_, match);
  return before - mailbox_.size();
}

size_t SimCluster::DuplicateIf(const MessageFilter& match) {
  std::vector<Message> copies;
  for (const Message& message : mailbox_) {
    if (match(message)) copies.push_back(message);
  }
  for (Message& message : copies) mailbox_.push_back(std::move(message));
  return copies.size();
}

bool SimCluster::IsUp(ReplicaId id) const { return At(id).up; }
bool SimCluster::IsPaused(ReplicaId id) const { return At(id).paused; }

paxos::CoreStatus SimCluster::Status(ReplicaId id) const {
  const Replica& replica = At(id);
  if (!replica.up) return paxos::CoreStatus{id};
  return replica.core->Status();
}

ReplicaId SimCluster::Leader() const {
  ReplicaId best = 0;
  Ballot best_ballot;
  for (const auto& replica : replicas_) {
    if (!replica->up || replica->paused) continue;
    paxos::CoreStatus status = replica->core->Status();
    if (status.role == paxos::Role::kLeader && status.leader_ballot > best_ballot) {
      best = replica->id;
      best_ballot = status.leader_ballot;
    }
  }
  return best;
}

int64_t SimCluster::Counter(ReplicaId id) const { return At(id).app.counter(); }

const std::vector<Slot>& SimCluster::AppliedSlots(ReplicaId id) const {
  return At(id).applied_slots;
}

}  // namespace synod::sim

namespace synod::sim {

paxos::ValuePtr SimCluster::ChosenValue(ReplicaId id, Slot slot) const {
  const Replica& replica = At(id);
  if (!replica.up) return nullptr;
  return replica.core->ChosenValue(slot);
}

}  // namespace synod::sim
