#include "tests/sim/scenario_runner.h"

#include <memory>
#include <sstream>
#include <vector>

#include "paxos/invariant.h"
#include "tests/sim/sim_cluster.h"

namespace synod::sim {

using paxos::ReplicaId;

namespace {

constexpr int kStabilizeLimit = 10000;

// Thrown for a failed expectation or a malformed line.
struct ScenarioError {
  std::string message;
};

class Scenario {
 public:
  void Execute(const std::vector<std::string>& words) {
    const std::string& command = words[0];
    if (command == "cluster") {
      SimOptions options;
      options.replicas = static_cast<int>(Number(words, 1));
      options.staggered_timeouts = true;
      paxos::CoreOptions core;
      core.heartbeat_ticks = 2;
      core.election_ticks = 10;
      cluster_ = std::make_unique<SimCluster>(options, core, /*manual_network=*/true, nullptr);
      return;
    }
    if (!cluster_) throw ScenarioError{"the first command must be 'cluster N'"};
    if (command == "tick") {
      uint64_t count = Number(words, 2);
      for (uint64_t i = 0; i < count; ++i) {
        if (Arg(words, 1) == "all") {
          for (ReplicaId id : cluster_->ids()) cluster_->TickReplica(id);
        } else {
          cluster_->TickReplica(Replica(words, 1));
        }
      }
    } else if (command == "run") {
      uint64_t rounds = Number(words, 1);
      for (uint64_t i = 0; i < rounds; ++i) {
        for (ReplicaId id : cluster_->ids()) cluster_->TickReplica(id);
        Stabilize();
      }
    } else if (command == "stabilize") {
      Stabilize();
    } else if (command == "deliver") {
      cluster_->DeliverIf(Filter(words));
    } else if (command == "drop") {
      cluster_->DropIf(Filter(words));
    } else if (command == "dup") {
      cluster_->DuplicateIf(Filter(words));
    } else if (command == "propose") {
      last_propose_ = cluster_->Propose(Replica(words, 1), Rest(words, 2));
    } else if (command == "crash") {
      cluster_->Crash(Replica(words, 1));
    } else if (command == "restart") {
      cluster_->Restart(Replica(words, 1));
    } else if (command == "pause") {
      cluster_->Pause(Replica(words, 1));
    } else if (command == "resume") {
      cluster_->Resume(Replica(words, 1));
    } else if (command == "isolate") {
      ReplicaId isolated = Replica(words, 1);
      for (ReplicaId other : cluster_->ids()) {
        if (other == isolated) continue;
        cluster_->SetLink(isolated, other, false);
        cluster_->SetLink(other, isolated, false);
      }
    } else if (command == "heal") {
      cluster_->HealNetwork();
    } else if (command == "expect") {
      Expect(words);
    } else {
      throw ScenarioError{"unknown command '" + command + "'"};
    }
    cluster_->CheckInvariants();
  }

 private:
  static const std::string& Arg(const std::vector<std::string>& words, size_t i) {
    if (i >= words.size()) throw ScenarioError{"missing argument " + std::to_string(i)};
    return words[i];
  }
  static uint64_t Number(const std::vector<std::string>& words, size_t i) {
    const std::string& text = Arg(words, i);
    if (text.find_first_not_of("0123456789") != std::string::npos) {
      throw ScenarioError{"'" + text + "' is not a number"};
    }
    return std::stoull(text);
  }
  ReplicaId Replica(const std::vector<std::string>& words, size_t i) const {
    uint64_t id = Number(words, i);
    if (id < 1 || id > cluster_->ids().size()) throw ScenarioError{"no replica " + words[i]};
    return static_cast<ReplicaId>(id);
  }
  static std::string Rest(const std::vector<std::string>& words, size_t from) {
    std::string out;
    for (size_t i = from; i < words.size(); ++i) out += (out.empty() ? "" : " ") + words[i];
    if (out.empty()) throw ScenarioError{"missing text"};
    return out;
  }

  SimCluster::MessageFilter Filter(const std::vector<std::string>& words) const {
    ReplicaId from = Arg(words, 1) == "*" ? 0 : Replica(words, 1);
    ReplicaId to = Arg(words, 2) == "*" ? 0 : Replica(words, 2);
    std::string kind = Arg(words, 3) == "*" ? "" : words[3];
    paxos::Slot slot = 0;
    if (words.size() > 4) {
      if (words[4].rfind("slot=", 0) != 0) throw ScenarioError{"expected slot=S"};
      slot = std::stoull(words[4].substr(5));
    }
    return [=](const paxos::Message& m) {
      if ((from != 0 && m.from != from) || (to != 0 && m.to != to)) return false;
      if (!kind.empty() && SimCluster::KindOf(m) != kind) return false;
      if (slot == 0) return true;
      if (auto* accept = std::get_if<paxos::Accept>(&m.body)) return accept->slot == slot;
      if (auto* accepted = std::get_if<paxos::Accepted>(&m.body)) return accepted->slot == slot;
      return false;
    };
  }

  void Stabilize() {
    for (int i = 0; i < kStabilizeLimit && cluster_->mailbox_size() > 0; ++i) {
      cluster_->DeliverIf([](const paxos::Message&) { return true; });
    }
    if (cluster_->mailbox_size() > 0) throw ScenarioError{"stabilize did not quiesce"};
  }

  static std::string Describe(const paxos::ValuePtr& value) {
    if (value == nullptr) return "none";
    if (value->kind == paxos::ValueKind::kNoop) return "noop";
    std::string out;
    for (const std::string& c : value->commands) out += (out.empty() ? "" : "; ") + c;
    return out;
  }

  void Check(bool ok, const std::string& expected, const std::string& actual) {
    if (!ok) throw ScenarioError{"expected " + expected + ", got " + actual};
  }

  void Expect(const std::vector<std::string>& words) {
    const std::string& what = Arg(words, 1);
    if (what == "leader") {
      ReplicaId id = Replica(words, 2);
      Check(cluster_->Leader() == id, "leader " + std::to_string(id),
            "leader " + std::to_string(cluster_->Leader()));
    } else if (what == "role") {
      ReplicaId id = Replica(words, 2);
      std::string actual = paxos::RoleName(cluster_->Status(id).role);
      Check(actual == Arg(words, 3), "role " + words[3], actual);
    } else if (what == "promised") {
      std::string actual = cluster_->Status(Replica(words, 2)).promised.ToString();
      Check(actual == Arg(words, 3), "promised " + words[3], actual);
    } else if (what == "chosen") {
      uint64_t actual = cluster_->Status(Replica(words, 2)).chosen_point;
      Check(actual == Number(words, 3), "chosen point " + words[3], std::to_string(actual));
    } else if (what == "value") {
      std::string actual = Describe(cluster_->ChosenValue(Replica(words, 2), Number(words, 3)));
      std::string expected = Rest(words, 4);
      Check(actual == expected, "value '" + expected + "'", "'" + actual + "'");
    } else if (what == "counter") {
      int64_t actual = cluster_->Counter(Replica(words, 2));
      Check(std::to_string(actual) == Arg(words, 3), "counter " + words[3], std::to_string(actual));
    } else if (what == "propose-result") {
      ReplicaId id = Replica(words, 2);
      paxos::ProposeResult result = cluster_->Propose(id, Rest(words, 4));
      std::string actual = result.status == paxos::ProposeResult::Status::kAccepted ? "accepted"
                           : result.status == paxos::ProposeResult::Status::kBusy   ? "busy"
                                                                                    : "not-leader";
      Check(actual == Arg(words, 3), "propose result " + words[3], actual);
    } else if (what == "queued") {
      std::vector<std::string> filter_words = {"queued", Arg(words, 2), Arg(words, 3),
                                               Arg(words, 4)};
      size_t count = cluster_->CountIf(Filter(filter_words));
      Check(count == Number(words, 5), std::to_string(Number(words, 5)) + " queued",
            std::to_string(count));
    } else if (what == "mailbox") {
      Check(cluster_->mailbox_size() == Number(words, 2), "mailbox " + words[2],
            std::to_string(cluster_->mailbox_size()));
    } else {
      throw ScenarioError{"unknown expectation '" + what + "'"};
    }
  }

  std::unique_ptr<SimCluster> cluster_;
  paxos::ProposeResult last_propose_;
};

}  // namespace

std::string RunScenario(const std::string& text) {
  Scenario scenario;
  std::istringstream lines(text);
  std::string line;
  int number = 0;
  while (std::getline(lines, line)) {
    ++number;
    size_t hash = line.find('#');
    if (hash != std::string::npos) line.resize(hash);
    std::istringstream in(line);
    std::vector<std::string> words;
    for (std::string word; in >> word;) words.push_back(word);
    if (words.empty()) continue;
    try {
      scenario.Execute(words);
    } catch (const ScenarioError& error) {
      return "line " + std::to_string(number) + ": " + error.message;
    } catch (const SimViolation& violation) {
      return "line " + std::to_string(number) + ": safety violation: " + violation.what();
    } catch (const InvariantViolation& violation) {
      return "line " + std::to_string(number) + ": " + violation.what();
    }
  }
  return "";
}

}  // namespace synod::sim
