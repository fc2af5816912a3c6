// synod-sim: runs the real paxos core through many seeded random schedules.
//
//   synod-sim --seed S --runs N [--replicas R] [--steps K]
//             [--break skip-persist|small-quorum|no-dedup|hide-compaction|stale-snapshot|
//                      stale-commit-point|resend-expired|config-before-own-value|
//                      two-configs-in-flight|stale-config-quorum|count-ahead|
//                      keep-old-promises|propose-over-gap|transfer-never-ends] [--trace]
//             (--break again or --break A,B: several membership variants at once:
//              config-before-own-value, two-configs-in-flight, stale-config-quorum,
//              count-ahead, keep-old-promises, propose-over-gap)
//             [--membership]     (every run changes the membership; by default
//                                 one seed in four does)
//             [--no-transfers]   (no random leadership transfers, which runs
//                                 have by default)
//             [--history FILE]   (JSON Lines client history of the last run)
//             [--disk model|leveldb]  (leveldb: also persist through log/'s
//                                      LevelDB storage on a simulated disk)
//   synod-sim lessons --seed S --runs N [--ticks T] [--tsv] [--check]
//             (toy Bully and Ring elections beside Synod's Election recipe:
//              tests/sim/lessons/lessons_table.h)
//   synod-sim lessons two-leaders [--seed S] [--replicas R] [--break NAME] [--check]
//             (one random run replayed and narrated where two replicas both
//              lead: tests/sim/lessons/two_leaders.h)
//
// Run i uses seed S+i. Prints a one-line summary. On a violation prints
// "seed=X", the reason and the last events, and exits 1; "--seed X --runs 1"
// replays that run exactly. Exit 64 for a usage error.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "tests/sim/history_jsonl.h"
#include "tests/sim/lessons/lessons_table.h"
#include "tests/sim/lessons/two_leaders.h"
#include "tests/sim/random_run.h"

namespace {

int Usage(const std::string& problem) {
  std::cerr << "synod-sim: " << problem << "\n"
            << "usage: synod-sim --seed S --runs N [--replicas 3|5|7] [--steps K]\n"
            << "                 [--break skip-persist|small-quorum|no-dedup|hide-compaction|\n"
            << "                          stale-snapshot|stale-commit-point|resend-expired|\n"
            << "                          config-before-own-value|two-configs-in-flight|\n"
            << "                          stale-config-quorum|count-ahead|keep-old-promises|\n"
            << "                          propose-over-gap|transfer-never-ends]\n"
            << "                 (several membership variants: --break A --break B or A,B)\n"
            << "                 [--membership] [--no-transfers] [--trace] [--history FILE]\n";
  return 64;
}

bool ParseNumber(const std::string& text, uint64_t& out) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) return false;
  try {
    out = std::stoull(text);
  } catch (...) {
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 3 && std::string(argv[1]) == "lessons" && std::string(argv[2]) == "two-leaders") {
    return synod::sim::lessons::TwoLeadersMain(argc - 3, argv + 3, std::cout, std::cerr);
  }
  if (argc >= 2 && std::string(argv[1]) == "lessons") {
    return synod::sim::lessons::LessonsMain(argc - 2, argv + 2, std::cout, std::cerr);
  }
  synod::sim::SimOptions options;
  uint64_t runs = 1;
  std::string history_path;
  std::vector<synod::sim::Break> breaks;  // every --break, in order
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&](uint64_t& out) {
      if (i + 1 >= argc || !ParseNumber(argv[i + 1], out)) return false;
      ++i;
      return true;
    };
    uint64_t number = 0;
    if (arg == "--seed") {
      if (!value(options.seed)) return Usage("--seed takes a number");
    } else if (arg == "--runs") {
      if (!value(runs) || runs == 0) return Usage("--runs takes a positive number");
    } else if (arg == "--replicas") {
      if (!value(number) || (number != 3 && number != 5 && number != 7)) {
        return Usage("--replicas takes 3, 5 or 7");
      }
      options.replicas = static_cast<int>(number);
    } else if (arg == "--steps") {
      if (!value(number) || number < 100) return Usage("--steps takes a number >= 100");
      options.steps = number;
    } else if (arg == "--break") {
      if (i + 1 >= argc) return Usage("--break takes the name of a broken variant");
      std::string names = argv[++i];
      for (size_t start = 0; start <= names.size();) {
        size_t comma = std::min(names.find(',', start), names.size());
        try {
          breaks.push_back(synod::sim::ParseBreak(names.substr(start, comma - start)));
        } catch (const std::invalid_argument& e) {
          return Usage(e.what());
        }
        start = comma + 1;
      }
    } else if (arg == "--disk") {
      std::string disk = i + 1 < argc ? argv[++i] : "";
      if (disk != "model" && disk != "leveldb") return Usage("--disk takes model or leveldb");
      options.leveldb_disk = disk == "leveldb";
    } else if (arg == "--membership") {
      options.force_membership = true;
    } else if (arg == "--no-transfers") {
      options.transfers = false;
    } else if (arg == "--trace") {
      options.trace = true;
    } else if (arg == "--history") {
      if (i + 1 >= argc) return Usage("--history takes a file name");
      history_path = argv[++i];
    } else {
      return Usage("unknown argument '" + arg + "'");
    }
  }

  if (breaks.size() == 1) options.broken = breaks.front();
  if (breaks.size() > 1) {
    for (size_t b = 0; b < breaks.size(); ++b) {
      if (synod::sim::MembershipRuleBroken(breaks[b]) == synod::paxos::MembershipBreak::kNone) {
        return Usage("--break combines only membership variants, not '" +
                     synod::sim::BreakName(breaks[b]) + "'");
      }
      if (std::find(breaks.begin(), breaks.begin() + static_cast<std::ptrdiff_t>(b), breaks[b]) !=
          breaks.begin() + static_cast<std::ptrdiff_t>(b)) {
        return Usage("--break names '" + synod::sim::BreakName(breaks[b]) + "' twice");
      }
    }
    options.broken = breaks.front();
    options.also_broken.assign(breaks.begin() + 1, breaks.end());
  }
  std::string break_flag;  // for the replay line
  for (size_t b = 0; b < breaks.size(); ++b) {
    break_flag += (b == 0 ? " --break " : ",") + synod::sim::BreakName(breaks[b]);
  }

  auto start = std::chrono::steady_clock::now();
  uint64_t base_seed = options.seed;
  uint64_t total_steps = 0, total_chosen = 0, total_faults = 0, total_answered = 0;
  uint64_t total_installed = 0, membership_runs = 0, total_changes = 0;
  uint64_t total_transfers = 0, total_transfers_completed = 0;
  for (uint64_t i = 0; i < runs; ++i) {
    options.seed = base_seed + i;
    synod::sim::RunResult result = synod::sim::RunRandomSchedule(options, &std::cout);
    total_steps += result.steps;
    total_chosen += result.chosen_slots;
    total_faults += result.faults;
    total_installed += result.snapshots_installed;
    total_answered += result.commands_answered;
    membership_runs += synod::sim::MembershipRun(options) ? 1 : 0;
    total_changes += result.config_changes;
    total_transfers += result.transfers_started;
    total_transfers_completed += result.transfers_completed;
    if (!history_path.empty() && (i + 1 == runs || result.violation)) {
      std::ofstream out(history_path);
      synod::sim::WriteHistoryJsonl(result.history, out);
      if (!out) {
        std::cerr << "synod-sim: cannot write " << history_path << "\n";
        return 2;
      }
    }
    if (result.violation) {
      std::cout << "VIOLATION seed=" << result.seed << "\n"
                << *result.violation << "\n"
                << "last events:\n"
                << result.trace << "replay: synod-sim --seed " << result.seed
                << " --runs 1 --replicas " << options.replicas << " --steps " << options.steps
                << (options.broken == synod::sim::Break::kNone ? "" : break_flag)
                << (options.leveldb_disk ? " --disk leveldb" : "")
                << (options.force_membership ? " --membership" : "")
                << (options.transfers ? "" : " --no-transfers") << " --trace\n";
      return 1;
    }
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "runs=" << runs << " replicas=" << options.replicas << " steps=" << total_steps
            << " chosen_slots=" << total_chosen << " faults=" << total_faults
            << " snapshots_installed=" << total_installed << " commands_answered=" << total_answered
            << " membership_runs=" << membership_runs << " config_changes=" << total_changes
            << " transfers=" << total_transfers
            << " transfers_completed=" << total_transfers_completed << " violations=0"
            << " seconds=" << seconds << " schedules_per_s=" << (runs / seconds)
            << " steps_per_s=" << static_cast<uint64_t>(total_steps / seconds) << "\n";
  return 0;
}
