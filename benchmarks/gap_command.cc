#include "benchmarks/gap_command.h"

#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "benchmarks/bench_cluster.h"
#include "benchmarks/commit_gap.h"
#include "benchmarks/disruption.h"
#include "benchmarks/leader_transfer.h"
#include "benchmarks/load_flags.h"
#include "node/client.h"
#include "transport/event_loop.h"

namespace synod::benchmarks {
namespace {

using node::ClientResult;
using Clock = std::chrono::steady_clock;
using Seconds = std::chrono::duration<double>;

const char kProgram[] = "synod-bench";

Clock::duration FromSeconds(double s) {
  return std::chrono::duration_cast<Clock::duration>(Seconds(s));
}
double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }
double Sec(Clock::duration d) { return Seconds(d).count(); }

// The 1-minute load average, or -1.
double LoadAverage() {
  std::ifstream in("/proc/loadavg");
  double load = -1;
  in >> load;
  return load;
}

// A data directory this run created (mkdtemp) and removes when done.
struct OwnedDirectory {
  std::string path;
  ~OwnedDirectory() {
    std::error_code ignored;
    if (!path.empty()) std::filesystem::remove_all(path, ignored);
  }
};

// A command that did not succeed.
struct Loss {
  Clock::time_point at;
  ClientResult::Status status;
  std::string error;
};

}  // namespace

std::string GapUsage() {
  return "       synod-bench gap --event rolling-restart|kill-leader|transfer [--clients N]\n"
         "                       [--replicas 3|5] [--duration-s S] [--warmup-s S] [--size BYTES]\n"
         "                       [--window N] [--batch N] [--data-root DIR]\n";
}

int RunGapCommand(const node::CliFlags& flags, const std::string& usage) {
  auto fail = [&](const std::string& problem) {
    return node::UsageError(kProgram, problem, usage);
  };
  std::string unknown =
      flags.FirstUnknown({"--event", "--clients", "--replicas", "--duration-s", "--warmup-s",
                          "--size", "--window", "--batch", "--data-root"});
  if (!unknown.empty()) return fail("unknown option " + unknown + " for gap");
  if (!flags.positional.empty()) return fail("gap takes no positional arguments");
  std::optional<DisruptionKind> kind = ParseDisruptionKind(flags.Get("--event"));
  if (!kind) return fail("--event takes rolling-restart, kill-leader or transfer");
  uint64_t clients = 16;
  if (!flags.Get("--clients").empty() &&
      (!node::ParseU64(flags.Get("--clients"), clients) || clients == 0 || clients > 4096)) {
    return fail("--clients takes 1 to 4096");
  }
  Result<LoadFlags> load = ParseLoadFlags(flags);
  if (!load.ok()) return fail(load.status().message());
  uint64_t replicas = load->replicas, size = load->size;
  double duration_s = load->duration_s, warmup_s = load->warmup_s;
  if (*kind == DisruptionKind::kTransfer && !LeaderTransferAvailable()) {
    std::cerr << kProgram << ": leadership transfer is not available in this build\n";
    return node::kExitUnknown;
  }

  std::string root = flags.Get("--data-root");
  OwnedDirectory temporary;  // declared before the cluster: removed after it stopped
  if (root.empty()) {
    std::string templ = "/tmp/synod-bench-" + std::string(6, 'X');  // mkdtemp's pattern
    if (::mkdtemp(templ.data()) == nullptr) return fail("cannot create a temporary directory");
    root = temporary.path = templ;
  }
  std::vector<std::string> extra;
  for (const char* name : {"--window", "--batch"}) {
    if (!flags.Get(name).empty()) extra.insert(extra.end(), {name, flags.Get(name)});
  }
  std::cerr << kProgram << ": starting " << replicas << " replicas (data under " << root
            << ", fsync on; removed at the end if created here)\n";
  BenchCluster cluster;
  std::string error = cluster.Start(static_cast<int>(replicas), root, extra);
  if (!error.empty()) {
    std::cerr << kProgram << ": " << error << "\n";
    return node::kExitFailed;
  }
  Result<node::ClusterConfig> parsed = node::ParseClusterConfig(cluster.members());
  if (!parsed.ok()) return fail(parsed.status().message());
  node::ClientOptions options;
  options.cluster = *parsed;
  options.timeout = std::chrono::seconds(10);
  const double load_before = LoadAverage();

  CommitTimeline timeline;
  std::vector<Loss> losses;
  uint64_t outstanding = 0, second_count = 0;
  bool stopping = false;
  // The disruption's thread and what it hands back (read after join).
  std::thread driver;
  bool driver_started = false;
  std::atomic<bool> driver_done{false};
  DisruptionResult event;
  {
    transport::EventLoop loop;
    node::Client client(loop, options);
    std::string payload(size, 'x');
    // One command first, so the warm-up starts on a cluster that serves.
    std::optional<ClientResult> first;
    client.Execute(payload, [&](ClientResult result) { first = std::move(result); });
    loop.RunUntil([&] { return first.has_value(); }, options.timeout + std::chrono::seconds(5));
    if (!first || first->status != ClientResult::Status::kOk) {
      std::cerr << kProgram << ": the first command failed: "
                << (first ? first->error : std::string("no answer")) << "\n";
      return node::kExitFailed;
    }
    std::function<void()> issue = [&] {
      if (stopping) return;
      ++outstanding;
      client.Execute(payload, [&](ClientResult result) {
        --outstanding;
        auto now = Clock::now();
        if (result.status == ClientResult::Status::kOk) {
          timeline.Record(now);
          ++second_count;
        } else {
          losses.push_back(Loss{now, result.status, result.error});
        }
        issue();
      });
    };
    for (uint64_t i = 0; i < clients; ++i) issue();

    const auto start = Clock::now();
    const auto event_due = start + FromSeconds(warmup_s + duration_s);
    std::optional<Clock::time_point> end;  // known once the disruption finished
    auto next_report = start + std::chrono::seconds(1);
    const char* phase = "warm-up";
    loop.RunUntil(
        [&] {
          auto now = Clock::now();
          if (now >= next_report) {
            std::fprintf(stderr, "  clients=%llu t=%.0fs %s %llu ops/s\n",
                         static_cast<unsigned long long>(clients), Sec(now - start), phase,
                         static_cast<unsigned long long>(second_count));
            second_count = 0;
            next_report += std::chrono::seconds(1);
          }
          if (!driver_started && now >= event_due) {
            driver_started = true;
            phase = "event";
            driver = std::thread([&] {
              event = RunDisruption(*kind, cluster, options);
              driver_done = true;
            });
          } else if (!driver_started && now >= start + FromSeconds(warmup_s)) {
            phase = "before";
          }
          if (!end && driver_done) {
            driver.join();
            const auto length = event.finished - event.started;
            end = event.finished + std::max(length, FromSeconds(duration_s));
            phase = "after";
          }
          return end && now >= *end;
        },
        FromSeconds(warmup_s + duration_s) + std::chrono::minutes(10));
    if (!end) {
      // The loop timed out with the disruption still running: wait for it
      // (its own waits are bounded) so nothing touches the cluster after.
      if (driver.joinable()) driver.join();
      std::cerr << kProgram << ": the measurement did not finish in time\n";
    }
    stopping = true;
    // Let every command in flight finish, so none is left unaccounted.
    loop.RunUntil([&] { return outstanding == 0; }, options.timeout + std::chrono::seconds(5));
  }
  const double load_after = LoadAverage();
  cluster.Stop();

  // Windows: before [warm-up end, event due) is quiet; event [started,
  // finished); after [finished, finished + max(S, event length)).
  const auto event_length = event.finished - event.started;
  const auto s = FromSeconds(duration_s);
  const auto after_length = std::max(s, event_length);
  // The baseline: a quiet window as long as the event's, right before it if
  // the quiet window before holds one, else at the start of the window after;
  // only gaps between two commits inside it count (the stall the event
  // caused may begin just before the event or end just after it).
  const bool baseline_before = event_length <= s;
  const auto baseline_from = baseline_before ? event.started - event_length : event.finished;
  const auto baseline_to = baseline_from + event_length;
  auto rate = [&](Clock::time_point from, Clock::duration length) {
    return Sec(length) > 0
               ? static_cast<double>(timeline.CountIn(from, from + length)) / Sec(length)
               : 0.0;
  };
  const bool event_ran = event.started != Clock::time_point{} && event_length.count() > 0;
  CommitTimeline::Gap gap{}, baseline{};
  if (event_ran) {
    gap = timeline.LongestGap(event.started, event.finished);
    baseline = timeline.LongestGapInside(baseline_from, baseline_to);
  }
  uint64_t failed = 0, unknown_outcomes = 0;
  for (const Loss& loss : losses) {
    (loss.status == ClientResult::Status::kFailed ? failed : unknown_outcomes) += 1;
  }
  const auto before_from = event.started - s;  // the quiet window of length S before it
  std::printf(
      "event=%s clients=%llu replicas=%llu event_s=%.3f longest_gap_ms=%.1f%s gap_from_ms=%.1f "
      "gap_to_ms=%.1f baseline_gap_ms=%.1f baseline=%s ops_before=%.0f ops_during=%.0f "
      "ops_after=%.0f ok=%llu failed=%llu unknown=%llu unanswered=%llu load=%.2f/%.2f\n",
      DisruptionName(*kind), static_cast<unsigned long long>(clients),
      static_cast<unsigned long long>(replicas), Sec(event_length), gap.Ms(),
      gap.open ? "(open)" : "", Ms(gap.start - event.started), Ms(gap.end - event.started),
      baseline.Ms(), baseline_before ? "before" : "after", rate(before_from, s),
      rate(event.started, event_length), rate(event.finished, after_length),
      static_cast<unsigned long long>(timeline.size()), static_cast<unsigned long long>(failed),
      static_cast<unsigned long long>(unknown_outcomes),
      static_cast<unsigned long long>(outstanding), load_before, load_after);
  std::fflush(stdout);

  int exit_code = node::kExitOk;
  if (!event.error.empty() || !event_ran) {
    std::cerr << kProgram << ": THE DISRUPTION DID NOT FINISH: "
              << (event.error.empty() ? "it did not run" : event.error) << "\n";
    exit_code = node::kExitFailed;
  }
  if (failed + unknown_outcomes + outstanding > 0) {
    std::cerr << kProgram << ": COMMANDS LOST: failed=" << failed << " unknown=" << unknown_outcomes
              << " unanswered=" << outstanding << "\n";
    for (size_t i = 0; i < losses.size() && i < 5; ++i) {
      std::cerr << "  "
                << (losses[i].status == ClientResult::Status::kFailed ? "failed" : "unknown")
                << " at event +" << Sec(losses[i].at - event.started) << "s: " << losses[i].error
                << "\n";
    }
    exit_code = node::kExitFailed;
  }
  if (event_ran && timeline.CountIn(event.finished, event.finished + after_length) == 0) {
    std::cerr << kProgram << ": NO COMMIT after the disruption finished\n";
    exit_code = node::kExitFailed;
  }
  return exit_code;
}

}  // namespace synod::benchmarks
