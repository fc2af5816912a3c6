#include "tests/sim/lessons/two_leaders.h"

#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "lincheck/checker.h"
#include "tests/sim/random_run.h"
#include "tests/sim/sim_cluster.h"

namespace synod::sim::lessons {

namespace {

using paxos::Ballot;
using paxos::ReplicaId;
using paxos::Slot;

// The seed the lesson page narrates, with 5 replicas.
constexpr uint64_t kDefaultSeed = 188;

// What one ballot did during one overlap.
struct BallotStats {
  std::set<Slot> proposed;           // slots its leader opened then (its last slot grew)
  std::set<Slot> chosen;             // slots a true majority accepted in this ballot then
  uint64_t accepts_arrived = 0;      // its Accepts that reached an acceptor then
  uint64_t accepts_refused = 0;      // ... one that had promised a higher ballot
  uint64_t rejects = 0;              // Rejects of this ballot its leader received then
  std::vector<std::string> offered;  // client commands its leader took then
};

// A maximal interval in which two or more running replicas lead in different ballots.
struct Overlap {
  SimTime start = 0;
  SimTime end = 0;                        // last time unit of the interval
  std::map<ReplicaId, Ballot> leaders;    // every (replica, ballot) leading in it
  std::string links;                      // the network between them at the start
  std::string before;                     // the leaders' last crashes, pauses, ... before it
  std::string ending;                     // what the leaders that stopped leading became
  std::map<Ballot, BallotStats> ballots;  // what each leading ballot did in it
};

// Watches a random run step by step (RunRandomSchedule's observer) and
// parses its trace (deliveries, proposals) as it is written.
class Watcher {
 public:
  explicit Watcher(int replicas) : majority_(static_cast<size_t>(replicas) / 2 + 1) {}

  std::ostringstream& trace() { return trace_; }

  void OnStep(const SimCluster& cluster) {
    SimTime now = cluster.now();
    std::map<ReplicaId, Ballot> leaders;
    for (ReplicaId id : cluster.ids()) {
      if (!cluster.IsUp(id) || cluster.IsPaused(id)) continue;
      paxos::CoreStatus status = cluster.Status(id);
      if (status.role == paxos::Role::kLeader) leaders[id] = status.leader_ballot;
    }
    std::set<Ballot> ballots;
    for (const auto& [id, ballot] : leaders) ballots.insert(ballot);
    bool two = ballots.size() >= 2;
    bool fresh = false;  // this step opened an overlap
    if (two) {
      if (overlaps_.empty() || overlaps_.back().end + 1 != now) {
        overlaps_.push_back({now, now, {}, DescribeLinks(cluster, leaders), {}, {}, {}});
        fresh = true;
      }
      Overlap& overlap = overlaps_.back();
      overlap.end = now;
      for (const auto& [id, ballot] : leaders) {
        overlap.leaders[id] = ballot;
        BallotStats& stats = overlap.ballots[ballot];
        Slot last = cluster.Status(id).last_slot;
        auto before = leaders_.find(id);
        if (before != leaders_.end() && before->second == ballot) {
          for (Slot slot = last_slot_[id] + 1; slot <= last; ++slot) stats.proposed.insert(slot);
        }
      }
    }
    if (!two && !overlaps_.empty() && overlaps_.back().end + 1 == now) {
      Overlap& overlap = overlaps_.back();
      for (const auto& [id, ballot] : leaders_) {
        if (leaders.count(id) && leaders.at(id) == ballot) continue;
        std::string became = !cluster.IsUp(id)      ? "crashed"
                             : cluster.IsPaused(id) ? "paused"
                                                    : paxos::RoleName(cluster.Status(id).role);
        overlap.ending += (overlap.ending.empty() ? "r" : "; r") + std::to_string(id) +
                          " (b=" + ballot.ToString() + ") became " + became;
      }
    }
    ParseTrace(two);
    if (fresh) overlaps_.back().before = DescribeEvents(leaders);
    NoteChosen(cluster, two);
    if (!overlaps_.empty() && now <= overlaps_.back().end + kFollowUnits) CountAcceptors(cluster);
    promised_.clear();
    last_slot_.clear();
    for (ReplicaId id : cluster.ids()) {
      if (!cluster.IsUp(id)) continue;
      promised_[id] = cluster.Status(id).promised;
      last_slot_[id] = cluster.Status(id).last_slot;
    }
    leaders_ = leaders;
  }

  const std::vector<Overlap>& overlaps() const { return overlaps_; }
  // The running leaders at the last step watched.
  const std::map<ReplicaId, Ballot>& leaders() const { return leaders_; }
  // How many replicas durably accepted `slot` in `ballot` (counted until
  // kFollowUnits after the last overlap; 0 if unknown).
  size_t Acceptors(Slot slot, Ballot ballot) const {
    auto it = acceptors_.find({slot, ballot});
    return it == acceptors_.end() ? 0 : it->second;
  }
  // The ballot whose majority chose `slot` (null ballot if unknown).
  Ballot ChosenBy(Slot slot) const {
    auto it = chosen_by_.find(slot);
    return it == chosen_by_.end() ? Ballot{} : it->second;
  }
  // The value chosen at `slot`, quoted ("noop" for a no-op, "?" if not chosen).
  std::string ChosenText(Slot slot) const {
    auto it = chosen_value_.find(slot);
    if (it == chosen_value_.end()) return "?";
    if (it->second->kind == paxos::ValueKind::kNoop) return "noop";
    std::string out;
    for (const std::string& command : it->second->commands) {
      out += (out.empty() ? "\"" : " \"") + command + "\"";
    }
    return out;
  }
  // The slot a command was chosen in (0: never chosen).
  Slot SlotOf(const std::string& command) const {
    auto it = command_slot_.find(command);
    return it == command_slot_.end() ? 0 : it->second;
  }

 private:
  static std::string DescribeLinks(const SimCluster& cluster,
                                   const std::map<ReplicaId, Ballot>& leaders) {
    std::string out;
    for (const auto& [id, ballot] : leaders) {
      std::string reach;
      for (ReplicaId other : cluster.ids()) {
        if (other == id) continue;
        if (cluster.LinkUp(id, other) && cluster.LinkUp(other, id)) {
          reach += " r" + std::to_string(other);
        }
      }
      if (!out.empty()) out += "; ";
      out += "r" + std::to_string(id) + " <->" + (reach.empty() ? " nobody" : reach);
    }
    return out;
  }

  // Each leader's last two process events (crash, restart, pause, resume).
  std::string DescribeEvents(const std::map<ReplicaId, Ballot>& leaders) const {
    std::string out;
    for (const auto& [id, ballot] : leaders) {
      auto it = events_.find(id);
      if (it == events_.end() || it->second.empty()) continue;
      const std::vector<std::string>& events = it->second;
      out += (out.empty() ? "r" : "; r") + std::to_string(id) + ":";
      for (size_t i = events.size() >= 2 ? events.size() - 2 : 0; i < events.size(); ++i) {
        out += " " + events[i];
      }
    }
    return out.empty() ? "none" : out;
  }

  static Ballot ParseBallot(const std::string& text) {
    Ballot ballot;
    size_t dot = text.find('.');
    if (dot == std::string::npos) return ballot;
    ballot.round = std::stoull(text.substr(0, dot));
    ballot.replica = static_cast<ReplicaId>(std::stoul(text.substr(dot + 1)));
    return ballot;
  }

  // Lines look like "t=12 deliver 1->2 Accept b=3.1 s=5 commit=4" and
  // "t=12 propose at 1: <command>".
  void ParseTrace(bool in_overlap) {
    std::string text = trace_.str();
    trace_.str("");
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line)) {
      std::istringstream words(line);
      std::string stamp, what;
      words >> stamp >> what;
      if (what == "crash" || what == "restart" || what == "pause" || what == "resume") {
        std::string replica;
        words >> replica;
        events_[static_cast<ReplicaId>(std::stoul(replica))].push_back(what + " " + stamp);
      }
      if (!in_overlap) continue;
      if (what == "propose") {
        std::string at, replica;
        words >> at >> replica;  // "at", "R:"
        ReplicaId id = static_cast<ReplicaId>(std::stoul(replica));
        auto it = leaders_.find(id);
        size_t colon = line.find(": ");
        if (it != leaders_.end() && colon != std::string::npos) {
          Stats(it->second).offered.push_back(line.substr(colon + 2));
        }
      } else if (what == "deliver") {
        std::string route, kind, ballot_field;
        words >> route >> kind >> ballot_field;
        if (ballot_field.rfind("b=", 0) != 0) continue;
        Ballot ballot = ParseBallot(ballot_field.substr(2));
        ReplicaId to = static_cast<ReplicaId>(std::stoul(route.substr(route.find('>') + 1)));
        if (kind == "Accept") {
          BallotStats& stats = Stats(ballot);
          ++stats.accepts_arrived;
          auto promised = promised_.find(to);
          if (promised != promised_.end() && ballot < promised->second) ++stats.accepts_refused;
        } else if (kind == "Reject") {
          ++Stats(ballot).rejects;
        }
      }
    }
  }

  // Attributes each newly chosen slot to the ballot whose majority chose it.
  void NoteChosen(const SimCluster& cluster, bool in_overlap) {
    const SafetyChecker& checker = cluster.checker();
    if (checker.chosen_slots() == chosen_by_.size()) return;
    std::set<Slot> fresh;
    for (const auto& [slot, value] : checker.chosen()) {
      if (!chosen_by_.count(slot)) fresh.insert(slot);
    }
    std::map<std::pair<Slot, Ballot>, size_t> votes;
    for (ReplicaId id : cluster.ids()) {
      for (const auto& [slot, ballot] : checker.DurableAccepts(id)) {
        if (fresh.count(slot)) ++votes[{slot, ballot}];
      }
    }
    for (Slot slot : fresh) chosen_by_[slot] = Ballot{};
    for (const auto& [key, count] : votes) {
      if (count < majority_ || !chosen_by_[key.first].IsNull()) continue;
      chosen_by_[key.first] = key.second;
      if (in_overlap) Stats(key.second).chosen.insert(key.first);
    }
    for (Slot slot : fresh) {
      const paxos::ValuePtr& value = checker.chosen().at(slot);
      chosen_value_[slot] = value;
      for (const std::string& command : value->commands) command_slot_.emplace(command, slot);
    }
  }

  // Time after an overlap during which its ballots' accepts are still counted.
  static constexpr SimTime kFollowUnits = 1000;

  void CountAcceptors(const SimCluster& cluster) {
    std::map<std::pair<Slot, Ballot>, size_t> counts;
    for (const Overlap& overlap : overlaps_) {
      for (const auto& [ballot, stats] : overlap.ballots) {
        for (Slot slot : stats.proposed) counts[{slot, ballot}] = 0;
      }
    }
    for (ReplicaId id : cluster.ids()) {
      for (const auto& key : cluster.checker().DurableAccepts(id)) {
        auto it = counts.find(key);
        if (it != counts.end()) ++it->second;
      }
    }
    acceptors_ = std::move(counts);
  }

  // The current overlap's record of `ballot`.
  BallotStats& Stats(Ballot ballot) { return overlaps_.back().ballots[ballot]; }

  size_t majority_;
  std::ostringstream trace_;
  std::vector<Overlap> overlaps_;
  std::map<ReplicaId, Ballot> leaders_;   // leading at the previous step
  std::map<ReplicaId, Ballot> promised_;  // promises at the previous step
  std::map<ReplicaId, Slot> last_slot_;   // last slots at the previous step
  std::map<std::pair<Slot, Ballot>, size_t> acceptors_;
  std::map<ReplicaId, std::vector<std::string>> events_;  // "pause t=12", ...
  std::map<Slot, Ballot> chosen_by_;
  std::map<std::string, Slot> command_slot_;
  std::map<Slot, paxos::ValuePtr> chosen_value_;
};

// The clients' history checked as a counter by synod-lincheck.
lincheck::CheckResult CheckHistory(const std::vector<HistoryEvent>& history, size_t& operations) {
  std::vector<lincheck::Operation> ops;
  std::map<uint32_t, size_t> open;
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
      open[event.process] = ops.size();
      ops.push_back(op);
    } else {
      lincheck::Operation& op = ops[open.at(event.process)];
      op.complete_line = static_cast<int>(i + 1);
      if (event.type == HistoryEvent::Type::kOk) {
        op.known = true;
        op.ret = i + 1;
        if (event.f == "get") op.value = event.value;
      }
    }
  }
  operations = ops.size();
  lincheck::CheckLimits limits;
  limits.max_steps = 50'000'000;
  return lincheck::Check(ops, "counter", limits);
}

std::string SlotList(const std::set<Slot>& slots) {
  if (slots.empty()) return "";
  std::string out;
  for (Slot slot : slots) out += (out.empty() ? "" : ",") + std::to_string(slot);
  return " (slot" + std::string(slots.size() > 1 ? "s " : " ") + out + ")";
}

int Usage(std::ostream& err, const std::string& problem) {
  err << "synod-sim lessons two-leaders: " << problem << "\n"
      << "usage: synod-sim lessons two-leaders [--seed S] [--replicas 3|5|7] [--break NAME]"
         " [--check]\n";
  return 64;
}

}  // namespace

int TwoLeadersMain(int argc, char** argv, std::ostream& out, std::ostream& err) {
  SimOptions options;
  options.seed = kDefaultSeed;
  options.replicas = 5;
  // The narrated schedule was recorded before random runs made leadership
  // transfers: replay it without them.
  options.transfers = false;
  bool check = false;
  for (int i = 0; i < argc; ++i) {
    std::string arg = argv[i];
    std::string next = i + 1 < argc ? argv[i + 1] : "";
    bool numeric = !next.empty() && next.find_first_not_of("0123456789") == std::string::npos;
    if (arg == "--seed") {
      if (!numeric || next.size() > 19) return Usage(err, "--seed takes a number");
      options.seed = std::stoull(next);
      ++i;
    } else if (arg == "--replicas") {
      if (next != "3" && next != "5" && next != "7")
        return Usage(err, "--replicas takes 3, 5 or 7");
      options.replicas = std::stoi(next);
      ++i;
    } else if (arg == "--break") {
      try {
        options.broken = ParseBreak(next);
      } catch (const std::invalid_argument& e) {
        return Usage(err, e.what());
      }
      ++i;
    } else if (arg == "--check") {
      check = true;
    } else {
      return Usage(err, "unknown argument '" + arg + "'");
    }
  }

  Watcher watcher(options.replicas);
  options.trace = true;  // the watcher reads deliveries and proposals from it
  RunResult result =
      RunRandomSchedule(options, &watcher.trace(), [&](const SimCluster& c) { watcher.OnStep(c); });
  std::string replay =
      "synod-sim --seed " + std::to_string(options.seed) + " --runs 1 --replicas " +
      std::to_string(options.replicas) +
      (options.broken == Break::kNone ? "" : " --break " + BreakName(options.broken));

  out << "Two leaders, no harm: random run seed " << options.seed << ", " << options.replicas
      << " replicas"
      << (options.broken == Break::kNone ? "" : ", BROKEN " + BreakName(options.broken))
      << " (replay with trace: " << replay << " --trace)\n";
  const std::vector<Overlap>& overlaps = watcher.overlaps();
  if (result.violation) {
    out << "\nVIOLATION (the run stopped at t=" << result.steps << "; leading then:";
    for (const auto& [id, ballot] : watcher.leaders()) {
      out << " r" << id << " b=" << ballot.ToString();
    }
    out << "): " << *result.violation << "\n";
    if (overlaps.empty()) {
      if (check) out << "\nCHECK FAILED: the run is safe (it had a violation)\n";
      return 1;
    }
  }
  if (overlaps.empty()) {
    err << "synod-sim lessons two-leaders: seed " << options.seed
        << " shows no moment with two running leaders; try another seed\n";
    return result.violation ? 1 : 2;
  }

  SimTime total = 0;
  const Overlap* longest = &overlaps.front();
  for (const Overlap& overlap : overlaps) {
    total += overlap.end - overlap.start + 1;
    if (overlap.end - overlap.start > longest->end - longest->start) longest = &overlap;
  }
  out << "\nTwo running replicas believed they led, in different ballots, during "
      << overlaps.size() << " interval" << (overlaps.size() > 1 ? "s" : "") << " (" << total
      << " time units in all; a replica ticks every " << kUnitsPerTick << "):\n";
  for (const Overlap& overlap : overlaps) {
    out << "  t=" << overlap.start << ".." << overlap.end << ":";
    for (const auto& [id, ballot] : overlap.leaders) {
      out << " r" << id << " leads b=" << ballot.ToString() << ";";
    }
    out << " reachable both ways at the start: " << overlap.links << "\n";
  }

  out << "\nThe longest, t=" << longest->start << ".." << longest->end << " ("
      << longest->end - longest->start + 1
      << " units).\n  Before it, the leaders' last process events: " << longest->before
      << ".\n  At t=" << longest->end + 1 << ": "
      << (longest->ending.empty() ? "the run ended" : longest->ending) << ".\n"
      << "  Ballot by ballot:\n";
  size_t majority = static_cast<size_t>(options.replicas) / 2 + 1;
  size_t with_chosen = 0;
  bool others_refused = true;
  for (const auto& [ballot, stats] : longest->ballots) {
    if (!stats.chosen.empty()) ++with_chosen;
    out << "  b=" << ballot.ToString() << " (r" << ballot.replica << "): opened "
        << stats.proposed.size() << " slot" << (stats.proposed.size() == 1 ? "" : "s")
        << SlotList(stats.proposed) << "; chosen in b=" << ballot.ToString() << ": "
        << stats.chosen.size() << SlotList(stats.chosen) << "\n"
        << "      its Accepts that reached an acceptor: " << stats.accepts_arrived
        << ", refused there (a higher ballot promised): " << stats.accepts_refused
        << "; Rejects it received: " << stats.rejects << "\n";
    if (!stats.offered.empty()) {
      uint64_t here = 0, elsewhere = 0, never = 0;
      std::string lines;
      for (const std::string& command : stats.offered) {
        Slot slot = watcher.SlotOf(command);
        if (stats.chosen.empty()) {
          lines += "      command \"" + command + "\": " +
                   (slot == 0 ? std::string("never chosen")
                              : "chosen at slot " + std::to_string(slot) +
                                    " in b=" + watcher.ChosenBy(slot).ToString()) +
                   "\n";
        }
        if (slot == 0) {
          ++never;
        } else if (watcher.ChosenBy(slot) == ballot) {
          ++here;
        } else {
          ++elsewhere;
        }
      }
      out << "      client commands it took: " << stats.offered.size()
          << "; chosen in b=" << ballot.ToString() << ": " << here
          << ", chosen in another ballot: " << elsewhere << ", never chosen: " << never << "\n"
          << lines;
    }
    if (stats.chosen.empty()) {
      if (stats.proposed.empty()) others_refused = false;
      size_t superseded = 0;
      for (Slot slot : stats.proposed) {
        Ballot by = watcher.ChosenBy(slot);
        if (!by.IsNull() && by != ballot) ++superseded;
      }
      out << "      its slots decided by another ballot instead (superseded): " << superseded
          << " of " << stats.proposed.size() << "\n";
      for (Slot slot : stats.proposed) {
        Ballot by = watcher.ChosenBy(slot);
        out << "      slot " << slot << ": accepted in b=" << ballot.ToString() << " by "
            << watcher.Acceptors(slot, ballot) << " of " << options.replicas << " (a majority is "
            << majority << "); "
            << (by.IsNull() ? std::string("not chosen by the end")
                            : "chosen in b=" + by.ToString() + ": " + watcher.ChosenText(slot))
            << "\n";
      }
    }
  }

  size_t operations = 0;
  lincheck::CheckResult verdict = CheckHistory(result.history, operations);
  const char* verdict_name = verdict.verdict == lincheck::Verdict::kLinearizable ? "linearizable"
                             : verdict.verdict == lincheck::Verdict::kNotLinearizable
                                 ? "NOT linearizable"
                                 : "undecided";
  out << "\nWhole run: " << result.chosen_slots << " slots chosen; "
      << (result.violation ? "a safety VIOLATION (above)" : "no safety violation") << ".\n"
      << "Clients: " << operations << " operations, " << verdict_name
      << " as a counter (synod-lincheck).\n";
  if (verdict.verdict == lincheck::Verdict::kNotLinearizable) {
    out << "  " << verdict.explanation << "\n";
  }

  std::vector<std::string> failed;
  if (result.violation) failed.push_back("the run is safe (it had a violation)");
  if (with_chosen != 1) {
    failed.push_back("exactly one ballot had values chosen while two led (" +
                     std::to_string(with_chosen) + " did)");
  }
  if (with_chosen == 1 && !others_refused) {
    failed.push_back("the other leader proposed and was refused (it opened no slot)");
  }
  if (verdict.verdict != lincheck::Verdict::kLinearizable) {
    failed.push_back("the clients' history is linearizable");
  }
  if (check) {
    out << "\n";
    if (failed.empty()) {
      out << "CHECK PASSED: two leaders overlapped; one ballot had values chosen; the other's "
             "proposals were refused; the history is linearizable\n";
    } else {
      for (const std::string& claim : failed) out << "CHECK FAILED: " << claim << "\n";
      return 1;
    }
  }
  return result.violation ? 1 : 0;
}

}  // namespace synod::sim::lessons
