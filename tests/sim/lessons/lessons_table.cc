// Running, printing and checking the election lessons table (see
// lessons_table.h).
#include "tests/sim/lessons/lessons_table.h"

#include <exception>
#include <iomanip>
#include <sstream>

#include "tests/sim/lessons/synod_row.h"
#include "tests/sim/lessons/toy_run.h"

namespace synod::sim::lessons {

namespace {

std::vector<Protocol> AllProtocols() {
  return {Protocol::kToyBully, Protocol::kToyRing, Protocol::kSynod, Protocol::kSynodFenced};
}

bool ParseNumber(const std::string& text, uint64_t& out) {
  if (text.empty() || text.size() > 18 ||
      text.find_first_not_of("0123456789") != std::string::npos) {
    return false;
  }
  out = std::stoull(text);
  return true;
}

int Usage(const std::string& problem, std::ostream& err) {
  err << "synod-sim lessons: " << problem << "\n"
      << "usage: synod-sim lessons --seed S --runs N [--ticks T] [--tsv] [--check]\n";
  return 64;
}

}  // namespace

std::string ProtocolLabel(Protocol protocol) {
  switch (protocol) {
    case Protocol::kToyBully:
      return "toy Bully";
    case Protocol::kToyRing:
      return "toy Ring";
    case Protocol::kSynod:
      return "Synod Election";
    case Protocol::kSynodFenced:
      return "Synod Election + fencing";
  }
  return "?";
}

LessonsTable RunLessons(uint64_t seed, uint64_t runs, const LessonsSetup& setup) {
  LessonsTable table;
  for (uint64_t i = 0; i < runs; ++i) {
    uint64_t run_seed = seed + i;
    for (FaultKind kind : AllFaultKinds()) {
      FaultSchedule schedule = MakeFaultSchedule(kind, run_seed, setup.nodes, setup.ticks);
      table[{kind, Protocol::kToyBully}] += RunToy(ToyProtocol::kBully, schedule, run_seed, setup);
      table[{kind, Protocol::kToyRing}] += RunToy(ToyProtocol::kRing, schedule, run_seed, setup);
      SynodRowResult synod = RunSynod(schedule, run_seed, setup);
      table[{kind, Protocol::kSynod}] += synod.unfenced;
      table[{kind, Protocol::kSynodFenced}] += synod.fenced;
    }
  }
  return table;
}

void PrintTable(const LessonsTable& table, uint64_t seed, uint64_t runs, const LessonsSetup& setup,
                std::ostream& out) {
  out << "Leader election under faults: two TOY protocols (Bully, Ring) beside Synod's Election\n"
      << "recipe. " << setup.nodes << " nodes; " << runs << " runs (seeds " << seed << ".."
      << seed + runs - 1 << ") of " << setup.ticks
      << " ticks (10 ms each) per schedule; every row meets\n"
      << "the same fault windows; each leader writes to a shared register every "
      << setup.write_every << " ticks. Sums over the runs.\n\n";
  out << std::left << std::setw(15) << "schedule" << std::setw(26) << "protocol" << std::right
      << std::setw(12) << "two-leader" << std::setw(13) << "conflicting" << std::setw(12)
      << "leaderless" << std::setw(10) << "writes" << std::setw(10) << "writes"
      << "\n"
      << std::left << std::setw(15) << "" << std::setw(26) << "" << std::right << std::setw(12)
      << "ticks" << std::setw(13) << "writes" << std::setw(12) << "ticks" << std::setw(10)
      << "accepted" << std::setw(10) << "refused"
      << "\n";
  for (FaultKind kind : AllFaultKinds()) {
    for (Protocol protocol : AllProtocols()) {
      const RowMetrics& m = table.at({kind, protocol});
      out << std::left << std::setw(15) << FaultKindName(kind) << std::setw(26)
          << ProtocolLabel(protocol) << std::right << std::setw(12) << m.two_leader_ticks
          << std::setw(13) << m.conflicting << std::setw(12) << m.leaderless_ticks << std::setw(10)
          << m.accepted << std::setw(10) << m.refused << "\n";
    }
  }
  out << "\n"
      << "two-leader ticks: ticks at which two or more running (not paused) nodes each believe\n"
      << "  they lead. leaderless ticks: ticks at which no running node believes it leads.\n"
      << "conflicting writes: writes the register accepted from a leader elected before another\n"
      << "  leader whose write it had already accepted (a stale leader overwrote newer data).\n"
      << "  Election order: a toy's win of an election; Synod's lock grant order (its token).\n"
      << "writes refused: by the fencing check (token lower than the highest accepted).\n"
      << "schedules: split = the nodes split 2|3 for a while; asymmetric = 70-100% of the\n"
      << "  leader's messages to its peers are lost, it still hears them; paused-leader = the\n"
      << "  leader stops between deciding to write and writing (its write lands on resume).\n"
      << "  The register is reachable from every node throughout.\n"
      << "toy Bully / toy Ring: teaching toys in tests/sim/lessons/, not Synod code.\n"
      << "Synod rows: the real paxos::Core (5 replicas) and examples/lock's LockStateMachine;\n"
      << "  the Election recipe (600 ms lease, renew every 200 ms, leading until ttl - 120 ms\n"
      << "  after the last good renew was sent), the client, log-time stamps and the disk are\n"
      << "  modelled in tests/sim/lessons/synod_row.cc, not the examples/lock code itself.\n"
      << "  Both Synod rows are the same executions; only the register differs.\n";
}

void PrintTsv(const LessonsTable& table, std::ostream& out) {
  out << "schedule\tprotocol\ttwo_leader_ticks\tconflicting_writes\tleaderless_ticks\taccepted"
         "\trefused\n";
  for (FaultKind kind : AllFaultKinds()) {
    for (Protocol protocol : AllProtocols()) {
      const RowMetrics& m = table.at({kind, protocol});
      out << FaultKindName(kind) << "\t" << ProtocolLabel(protocol) << "\t" << m.two_leader_ticks
          << "\t" << m.conflicting << "\t" << m.leaderless_ticks << "\t" << m.accepted << "\t"
          << m.refused << "\n";
    }
  }
}

std::vector<std::string> CheckClaims(const LessonsTable& table) {
  std::vector<std::string> failed;
  auto claim = [&](bool holds, const std::string& what) {
    if (!holds) failed.push_back(what);
  };
  for (Protocol toy : {Protocol::kToyBully, Protocol::kToyRing}) {
    const RowMetrics& split = table.at({FaultKind::kSplit, toy});
    claim(split.two_leader_ticks > 0, ProtocolLabel(toy) + " shows two leaders under a split");
    claim(split.conflicting > 0,
          ProtocolLabel(toy) + " has conflicting writes accepted under a split");
  }
  for (FaultKind kind : AllFaultKinds()) {
    const RowMetrics& fenced = table.at({kind, Protocol::kSynodFenced});
    const RowMetrics& synod = table.at({kind, Protocol::kSynod});
    claim(fenced.conflicting == 0,
          "Synod Election + fencing accepts no conflicting write (" + FaultKindName(kind) + ")");
    claim(synod.two_leader_ticks == 0,
          "Synod Election never has two running leaders (" + FaultKindName(kind) + ")");
    claim(synod.accepted > 0, "Synod Election writes at all (" + FaultKindName(kind) + ")");
  }
  claim(table.at({FaultKind::kPausedLeader, Protocol::kSynod}).conflicting > 0,
        "without fencing a paused Synod leader's late write is accepted (leases alone are not "
        "enough)");
  return failed;
}

int LessonsMain(int argc, char** argv, std::ostream& out, std::ostream& err) {
  uint64_t seed = 1, runs = 1;
  LessonsSetup setup;
  bool tsv = false, check = false;
  for (int i = 0; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&](uint64_t& number) {
      if (i + 1 >= argc || !ParseNumber(argv[i + 1], number)) return false;
      ++i;
      return true;
    };
    if (arg == "--seed") {
      if (!value(seed)) return Usage("--seed takes a number", err);
    } else if (arg == "--runs") {
      if (!value(runs) || runs == 0) return Usage("--runs takes a positive number", err);
    } else if (arg == "--ticks") {
      if (!value(setup.ticks) || setup.ticks < 400 || setup.ticks > 1000000) {
        return Usage("--ticks takes a number from 400 to 1000000", err);
      }
    } else if (arg == "--tsv") {
      tsv = true;
    } else if (arg == "--check") {
      check = true;
    } else {
      return Usage("unknown argument '" + arg + "'", err);
    }
  }
  LessonsTable table;
  try {
    table = RunLessons(seed, runs, setup);
  } catch (const std::exception& e) {  // a core invariant or a broken model assumption
    err << "synod-sim lessons: run failed: " << e.what() << "\n";
    return 1;
  }
  if (tsv) {
    PrintTsv(table, out);
  } else {
    PrintTable(table, seed, runs, setup, out);
  }
  if (!check) return 0;
  std::vector<std::string> failed = CheckClaims(table);
  for (const std::string& claim : failed) err << "CLAIM FAILED: " << claim << "\n";
  if (!failed.empty()) return 1;
  out << "claims hold: toys show two leaders and conflicting writes under a split; Synod never\n"
      << "has two running leaders; without fencing a paused Synod leader's late write lands;\n"
      << "with fencing no conflicting write is accepted.\n";
  return 0;
}

}  // namespace synod::sim::lessons
