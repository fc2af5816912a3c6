#include "tests/sim/scenario_steps.h"

namespace synod::sim {

using paxos::Message;
using paxos::ReplicaId;

namespace {

constexpr size_t kDeliveryLimit = 100000;  // stabilize gives up after this many deliveries

}  // namespace

std::vector<std::string> ScenarioSteps::Execute(const std::vector<std::string>& words) {
  const std::string& command = words[0];
  lines_.clear();
  if (command == "cluster") {
    Start(words);
    return {"ok"};
  }
  if (!cluster_) throw ScenarioError{"the first command must be 'cluster N'"};
  if (command == "expect") {
    Expect(words);
    return {};
  }
  if (command == "tick") {
    uint64_t count = Number(words, 2);
    for (uint64_t i = 0; i < count; ++i) {
      if (Arg(words, 1) == "all") {
        for (ReplicaId id : cluster_->ids()) Tick(id);
      } else {
        Tick(Replica(words, 1));
      }
    }
  } else if (command == "run") {
    Run(Number(words, 1), words.size() > 2 ? Replica(words, 2) : paxos::kNoReplica);
  } else if (command == "stabilize") {
    Stabilize();
  } else if (command == "deliver") {
    Deliver(MakeFilter(words, 1));
  } else if (command == "drop") {
    Filter match = MakeFilter(words, 1);
    ListMatching("dropped", match);
    cluster_->DropIf(match);
  } else if (command == "dup") {
    Filter match = MakeFilter(words, 1);
    ListMatching("duplicated", match);
    cluster_->DuplicateIf(match);
  } else if (command == "propose") {
    Propose(Replica(words, 1), Rest(words, 2));
  } else if (command == "crash") {
    cluster_->Crash(Replica(words, 1));
  } else if (command == "restart") {
    cluster_->Restart(Replica(words, 1));
  } else if (command == "pause") {
    cluster_->Pause(Replica(words, 1));
  } else if (command == "resume") {
    size_t before = cluster_->mailbox_size();
    cluster_->Resume(Replica(words, 1));
    Report(before, "requeued ");  // what it received while paused goes back to the mailbox
  } else if (command == "isolate") {
    ReplicaId isolated = Replica(words, 1);
    for (ReplicaId other : cluster_->ids()) {
      if (other == isolated) continue;
      cluster_->SetLink(isolated, other, false);
      cluster_->SetLink(other, isolated, false);
    }
  } else if (command == "heal") {
    cluster_->HealNetwork();
  } else {
    throw ScenarioError{"unknown command '" + command + "'"};
  }
  Report(cluster_->mailbox_size());  // state moved by the command itself (a restart)
  cluster_->CheckInvariants();
  if (lines_.empty()) return {"ok"};
  return lines_;
}

void ScenarioSteps::Start(const std::vector<std::string>& words) {
  SimOptions options;
  options.replicas = static_cast<int>(Number(words, 1));
  options.staggered_timeouts = true;
  paxos::CoreOptions core;
  core.heartbeat_ticks = 2;
  core.election_ticks = 10;
  for (size_t i = 2; i < words.size(); ++i) {
    size_t eq = words[i].find('=');
    std::string key = words[i].substr(0, eq);
    if (eq == std::string::npos) throw ScenarioError{"expected key=value, got '" + words[i] + "'"};
    uint64_t value = Number(words[i].substr(eq + 1));
    if (key != "max-page-entries") throw ScenarioError{"unknown cluster option '" + key + "'"};
    core.max_page_entries = static_cast<uint32_t>(value);
  }
  if (std::string error = core.Validate(); !error.empty()) throw ScenarioError{error};
  if (options.replicas < 1 || options.replicas > 9) throw ScenarioError{"1 to 9 replicas"};
  cluster_ = std::make_unique<SimCluster>(options, core, /*manual_network=*/true, nullptr);
  view_ = Observe(*cluster_);
}

void ScenarioSteps::Tick(ReplicaId id) {
  size_t before = cluster_->mailbox_size();
  cluster_->TickReplica(id);
  Report(before);
}

void ScenarioSteps::Run(uint64_t rounds, ReplicaId only) {
  ClusterView start = view_;
  summary_ = true;
  sent_.clear();
  for (uint64_t i = 0; i < rounds; ++i) {
    for (ReplicaId id : cluster_->ids()) {
      if (only == paxos::kNoReplica || id == only) Tick(id);
    }
    Stabilize();
  }
  summary_ = false;
  view_ = Observe(*cluster_);
  lines_ = DescribeChanges(*cluster_, start, view_);
  for (const auto& [key, sent] : sent_) {
    const auto& [from, to, index] = key;
    lines_.push_back(std::to_string(from) + "->" + std::to_string(to) + " " + sent.first + " x" +
                     std::to_string(sent.second));
  }
}

void ScenarioSteps::Stabilize() {
  for (size_t i = 0; cluster_->mailbox_size() > 0; ++i) {
    if (i == kDeliveryLimit) throw ScenarioError{"stabilize did not quiesce"};
    size_t before = cluster_->mailbox_size();
    DeliverFirst(before, [](const Message&) { return true; });
    Report(before - 1);
  }
}

void ScenarioSteps::Deliver(const Filter& match) {
  // Only the messages queued now, in queue order: those left in place stay at
  // the front of the mailbox, what the deliveries send queues behind them.
  size_t originals = cluster_->mailbox_size();
  size_t delivered = 0;
  for (;;) {
    size_t before = cluster_->mailbox_size();
    if (!DeliverFirst(originals - delivered, match)) break;
    ++delivered;
    Report(before - 1);
  }
  if (delivered == 0) lines_.push_back("no message matched");
}

bool ScenarioSteps::DeliverFirst(size_t limit, const Filter& match) {
  size_t index = 0;
  bool taken = false;
  // DeliverIf asks about every queued message once, in queue order.
  cluster_->DeliverIf([&](const Message& message) {
    bool pick = !taken && index < limit && match(message);
    ++index;
    taken = taken || pick;
    return pick;
  });
  return taken;
}

void ScenarioSteps::ListMatching(const std::string& label, const Filter& match) {
  size_t matched = 0;
  for (const Message& message : QueuedMessages(*cluster_)) {
    if (!match(message)) continue;
    lines_.push_back(label + " " + DescribeForTranscript(message));
    ++matched;
  }
  if (matched == 0) lines_.push_back("no message matched");
}

void ScenarioSteps::Propose(ReplicaId id, const std::string& command) {
  size_t before = cluster_->mailbox_size();
  paxos::ProposeResult result = cluster_->Propose(id, command);
  switch (result.status) {
    case paxos::ProposeResult::Status::kAccepted:
      lines_.push_back("accepted");
      break;
    case paxos::ProposeResult::Status::kBusy:
      lines_.push_back("busy");
      break;
    case paxos::ProposeResult::Status::kTransferring:
      lines_.push_back("transferring");
      break;
    default:
      lines_.push_back(result.leader_hint == paxos::kNoReplica
                           ? "not-leader"
                           : "not-leader hint=" + std::to_string(result.leader_hint));
      break;
  }
  Report(before);
}

void ScenarioSteps::Report(size_t kept, const std::string& label) {
  if (!summary_) {
    ClusterView now = Observe(*cluster_);
    for (std::string& line : DescribeChanges(*cluster_, view_, now)) {
      lines_.push_back(std::move(line));
    }
    view_ = std::move(now);
  }
  std::vector<Message> queued = QueuedMessages(*cluster_);
  for (size_t i = kept; i < queued.size(); ++i) {
    if (summary_) {
      auto& sent = sent_[{queued[i].from, queued[i].to, queued[i].body.index()}];
      sent.first = SimCluster::KindOf(queued[i]);
      ++sent.second;
    } else {
      lines_.push_back(label + DescribeForTranscript(queued[i]));
    }
  }
}

}  // namespace synod::sim

namespace synod::sim {

const std::string& ScenarioSteps::Arg(const std::vector<std::string>& words, size_t i) {
  if (i >= words.size()) throw ScenarioError{"missing argument " + std::to_string(i)};
  return words[i];
}

uint64_t ScenarioSteps::Number(const std::string& text) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) {
    throw ScenarioError{"'" + text + "' is not a number"};
  }
  return std::stoull(text);
}

uint64_t ScenarioSteps::Number(const std::vector<std::string>& words, size_t i) {
  return Number(Arg(words, i));
}

ReplicaId ScenarioSteps::Replica(const std::vector<std::string>& words, size_t i) const {
  uint64_t id = Number(words, i);
  if (id < 1 || id > cluster_->ids().size()) throw ScenarioError{"no replica " + words[i]};
  return static_cast<ReplicaId>(id);
}

std::string ScenarioSteps::Rest(const std::vector<std::string>& words, size_t from) {
  std::string out;
  for (size_t i = from; i < words.size(); ++i) out += (out.empty() ? "" : " ") + words[i];
  if (out.empty()) throw ScenarioError{"missing text"};
  return out;
}

// FROM TO KIND [slot=S] starting at words[first]; FROM, TO, KIND may be '*'.
ScenarioSteps::Filter ScenarioSteps::MakeFilter(const std::vector<std::string>& words,
                                                size_t first) const {
  ReplicaId from = Arg(words, first) == "*" ? 0 : Replica(words, first);
  ReplicaId to = Arg(words, first + 1) == "*" ? 0 : Replica(words, first + 1);
  std::string kind = Arg(words, first + 2) == "*" ? "" : words[first + 2];
  paxos::Slot slot = 0;
  if (words.size() > first + 3) {
    if (words[first + 3].rfind("slot=", 0) != 0) throw ScenarioError{"expected slot=S"};
    slot = Number(words[first + 3].substr(5));
  }
  return [=](const Message& m) {
    if ((from != 0 && m.from != from) || (to != 0 && m.to != to)) return false;
    if (!kind.empty() && SimCluster::KindOf(m) != kind) return false;
    if (slot == 0) return true;
    if (auto* accept = std::get_if<paxos::Accept>(&m.body)) return accept->slot == slot;
    if (auto* accepted = std::get_if<paxos::Accepted>(&m.body)) return accepted->slot == slot;
    return false;
  };
}

namespace {

void Check(bool ok, const std::string& expected, const std::string& actual) {
  if (!ok) throw ScenarioError{"expected " + expected + ", got " + actual};
}

// The value as `expect value` names it: "none", "noop" or the commands joined by "; ".
std::string ExpectedForm(const paxos::ValuePtr& value) {
  if (value == nullptr) return "none";
  if (value->kind == paxos::ValueKind::kNoop) return "noop";
  std::string out;
  for (const std::string& c : value->commands) out += (out.empty() ? "" : "; ") + c;
  return out;
}

}  // namespace

void ScenarioSteps::Expect(const std::vector<std::string>& words) {
  const std::string& what = Arg(words, 1);
  if (what == "leader") {
    ReplicaId id = Replica(words, 2);
    Check(cluster_->Leader() == id, "leader " + std::to_string(id),
          "leader " + std::to_string(cluster_->Leader()));
  } else if (what == "role") {
    std::string actual = paxos::RoleName(cluster_->Status(Replica(words, 2)).role);
    Check(actual == Arg(words, 3), "role " + words[3], actual);
  } else if (what == "promised") {
    std::string actual = cluster_->Status(Replica(words, 2)).promised.ToString();
    Check(actual == Arg(words, 3), "promised " + words[3], actual);
  } else if (what == "chosen") {
    uint64_t actual = cluster_->Status(Replica(words, 2)).chosen_point;
    Check(actual == Number(words, 3), "chosen point " + words[3], std::to_string(actual));
  } else if (what == "value") {
    std::string actual = ExpectedForm(cluster_->ChosenValue(Replica(words, 2), Number(words, 3)));
    std::string expected = Rest(words, 4);
    Check(actual == expected, "value '" + expected + "'", "'" + actual + "'");
  } else if (what == "counter") {
    int64_t actual = cluster_->Counter(Replica(words, 2));
    Check(std::to_string(actual) == Arg(words, 3), "counter " + words[3], std::to_string(actual));
  } else if (what == "queued") {
    Arg(words, 5);
    std::vector<std::string> filter_words(words.begin() + 2, words.begin() + 5);
    size_t count = cluster_->CountIf(MakeFilter(filter_words, 0));
    Check(count == Number(words, 5), std::to_string(Number(words, 5)) + " queued",
          std::to_string(count));
  } else if (what == "mailbox") {
    Check(cluster_->mailbox_size() == Number(words, 2), "mailbox " + words[2],
          std::to_string(cluster_->mailbox_size()));
  } else {
    throw ScenarioError{"unknown expectation '" + what + "'"};
  }
}

}  // namespace synod::sim
