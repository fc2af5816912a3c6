// synod-bench: closed-loop throughput and latency of a Synod cluster.
//
//   synod-bench serve ...        a replica of the benchmark state machine
//   synod-bench run [--replicas 3|5] [--members M] [--clients 1,16,64,256]
//                   [--size BYTES] [--duration-s S] [--warmup-s S]
//                   [--window N] [--batch N] [--data-root DIR]
//                   [--json FILE] [--csv FILE] [--plot FILE.svg]
//
// `run` starts a cluster of `synod-bench serve` processes on 127.0.0.1 (fsync
// on; or uses --members), then for each client count runs that many
// closed-loop clients (one command outstanding each) for the duration after a
// warm-up, printing progress each second and one result line per point:
// ops/s, p50/p99/p999 latency, replica CPU. Each point starts after one
// command has succeeded; a command counts if it succeeded, was sent after the
// warm-up and was answered by the end (as benchmarks/etcd/loadgen.go counts
// etcd's). Exit 1 if a point counted none. It stops every process it started.
//
//   synod-bench gap --event rolling-restart|kill-leader|transfer [--clients N] ...
//
// `gap` measures the longest time clients see no commit while the event runs
// (gap_command.h).
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "benchmarks/bench_cluster.h"
#include "benchmarks/bench_state_machine.h"
#include "benchmarks/gap_command.h"
#include "benchmarks/load_flags.h"
#include "node/cli.h"
#include "node/client.h"
#include "transport/event_loop.h"
#include "transport/types.h"

namespace {

using namespace synod::node;
using synod::Result;
using synod::benchmarks::BenchCluster;
using synod::benchmarks::LoadFlags;
using synod::benchmarks::ParseLoadFlags;
using Clock = std::chrono::steady_clock;

const char kProgram[] = "synod-bench";

std::string Usage() {
  return ServeUsage(kProgram) +
         "       synod-bench run [--replicas 3|5] [--members M] [--clients 1,16,64,256]\n"
         "                       [--size BYTES] [--duration-s S] [--warmup-s S] [--window N]\n"
         "                       [--batch N] [--data-root DIR] [--json FILE] [--csv FILE]\n"
         "                       [--plot FILE.svg]\n" +
         synod::benchmarks::GapUsage();
}

int Fail(const std::string& problem) { return UsageError(kProgram, problem, Usage()); }

struct Point {
  uint64_t clients = 0;
  uint64_t size = 0;
  double ops_per_s = 0;
  double p50_ms = 0, p99_ms = 0, p999_ms = 0;
  double replica_cpu_percent = 0;
  double cpu_us_per_command = 0;
  uint64_t errors = 0;
};

double Percentile(std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  size_t index = static_cast<size_t>(q * static_cast<double>(sorted.size() - 1));
  return sorted[index];
}

// Runs `clients` closed-loop clients against `members` for warmup + duration.
Point RunPoint(const ClusterConfig& cluster, uint64_t clients, uint64_t size, double warmup_s,
               double duration_s, const BenchCluster* local) {
  synod::transport::EventLoop loop;
  ClientOptions options;
  options.cluster = cluster;
  options.timeout = std::chrono::seconds(10);
  Client client(loop, options);
  std::string payload(size, 'x');
  Point point;
  point.clients = clients;
  point.size = size;
  // One command first, so the warm-up starts on a cluster that serves (a
  // leader, this client's session), not on its start.
  auto first = std::make_shared<std::optional<ClientResult>>();
  client.Execute(payload, [first](ClientResult result) { *first = std::move(result); });
  loop.RunUntil([&] { return first->has_value(); }, options.timeout + std::chrono::seconds(5));
  if (!first->has_value() || (*first)->status != ClientResult::Status::kOk) {
    std::fprintf(stderr, "%s: the first command failed: %s\n", kProgram,
                 first->has_value() ? (*first)->error.c_str() : "no answer");
    point.errors = 1;
    return point;
  }
  std::vector<double> latencies_ms;
  uint64_t completed = 0, errors = 0, window_count = 0;
  bool measuring = false, stopping = false;
  auto start = Clock::now();
  auto measure_start =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(warmup_s));
  auto end = measure_start +
             std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(duration_s));
  double cpu_before = 0;
  std::function<void()> issue = [&] {
    if (stopping) return;
    auto sent = Clock::now();
    client.Execute(payload, [&, sent](ClientResult result) {
      auto now = Clock::now();
      ++window_count;  // progress, warm-up included
      // Counted (throughput and latency) only if it succeeded, was sent
      // after the warm-up and answered by the end: the rule
      // benchmarks/etcd/loadgen.go applies to etcd. A command sent during
      // the warm-up may have waited for the cluster's start.
      if (result.status != ClientResult::Status::kOk) {
        ++errors;
      } else if (sent >= measure_start && now <= end) {
        ++completed;
        latencies_ms.push_back(std::chrono::duration<double, std::milli>(now - sent).count());
      }
      issue();
    });
  };
  for (uint64_t i = 0; i < clients; ++i) issue();
  auto next_report = start + std::chrono::seconds(1);
  loop.RunUntil(
      [&] {
        auto now = Clock::now();
        if (now >= next_report) {
          // The second just ended: counted (measuring) or not (warm-up).
          std::fprintf(stderr, "  clients=%llu t=%.0fs %s %llu ops/s\n",
                       static_cast<unsigned long long>(clients),
                       std::chrono::duration<double>(now - start).count(),
                       measuring ? "measuring" : "warm-up",
                       static_cast<unsigned long long>(window_count));
          window_count = 0;
          next_report += std::chrono::seconds(1);
        }
        if (!measuring && now >= measure_start) {
          measuring = true;
          if (local != nullptr) cpu_before = local->CpuSeconds();
        }
        return now >= end;
      },
      std::chrono::duration_cast<Clock::duration>(
          std::chrono::duration<double>(warmup_s + duration_s + 30)));
  stopping = true;
  point.ops_per_s = static_cast<double>(completed) / duration_s;
  point.errors = errors;
  std::sort(latencies_ms.begin(), latencies_ms.end());
  point.p50_ms = Percentile(latencies_ms, 0.50);
  point.p99_ms = Percentile(latencies_ms, 0.99);
  point.p999_ms = Percentile(latencies_ms, 0.999);
  if (local != nullptr) {
    double cpu = local->CpuSeconds() - cpu_before;
    point.replica_cpu_percent = 100.0 * cpu / duration_s;
    point.cpu_us_per_command = completed ? 1e6 * cpu / static_cast<double>(completed) : 0;
  }
  // Let in-flight commands drain so the next point starts clean.
  loop.RunUntil([&] { return false; }, std::chrono::milliseconds(300));
  return point;
}

bool ParseList(const std::string& text, std::vector<uint64_t>& out) {
  std::stringstream items(text);
  std::string item;
  while (std::getline(items, item, ',')) {
    uint64_t v = 0;
    if (!ParseU64(item, v) || v == 0) return false;
    out.push_back(v);
  }
  return !out.empty();
}

void WriteResults(const std::vector<Point>& points, const CliFlags& flags, int replicas) {
  if (!flags.Get("--json").empty()) {
    std::ofstream json(flags.Get("--json"));
    json << "{\"replicas\":" << replicas << ",\"points\":[";
    for (size_t i = 0; i < points.size(); ++i) {
      const Point& p = points[i];
      json << (i ? "," : "") << "{\"clients\":" << p.clients << ",\"size\":" << p.size
           << ",\"ops_per_s\":" << p.ops_per_s << ",\"p50_ms\":" << p.p50_ms
           << ",\"p99_ms\":" << p.p99_ms << ",\"p999_ms\":" << p.p999_ms
           << ",\"replica_cpu_percent\":" << p.replica_cpu_percent
           << ",\"cpu_us_per_command\":" << p.cpu_us_per_command << ",\"errors\":" << p.errors
           << "}";
    }
    json << "]}\n";
  }
  std::string csv_path = flags.Get("--csv");
  std::string plot_path = flags.Get("--plot");
  if (!plot_path.empty() && csv_path.empty()) csv_path = plot_path + ".csv";
  if (!csv_path.empty()) {
    std::ofstream csv(csv_path);
    csv << "clients,size,ops_per_s,p50_ms,p99_ms,p999_ms,replica_cpu_percent,cpu_us_per_command,"
           "errors\n";
    for (const Point& p : points) {
      csv << p.clients << "," << p.size << "," << p.ops_per_s << "," << p.p50_ms << "," << p.p99_ms
          << "," << p.p999_ms << "," << p.replica_cpu_percent << "," << p.cpu_us_per_command << ","
          << p.errors << "\n";
    }
  }
  if (!plot_path.empty()) {
    std::string script = plot_path + ".gp";
    std::ofstream gp(script);
    gp << "set terminal svg size 800,500\nset output '" << plot_path << "'\n"
       << "set datafile separator ','\nset logscale x 2\nset xlabel 'concurrent clients'\n"
       << "set ylabel 'committed commands/s'\nset y2label 'p99 latency (ms)'\n"
       << "set y2tics\nset key top left\n"
       << "plot '" << csv_path << "' every ::1 using 1:3 with linespoints title 'ops/s', '"
       << csv_path << "' every ::1 using 1:5 axes x1y2 with linespoints title 'p99 ms'\n";
    gp.close();
    if (std::system(("gnuplot " + script + " 2>/dev/null").c_str()) != 0) {
      std::cerr << kProgram << ": gnuplot failed or is not installed; wrote " << script << "\n";
    }
  }
}

int RunCommand(const CliFlags& flags) {
  std::string unknown = flags.FirstUnknown({"--replicas", "--members", "--clients", "--size",
                                            "--duration-s", "--warmup-s", "--window", "--batch",
                                            "--data-root", "--json", "--csv", "--plot"});
  if (!unknown.empty()) return Fail("unknown option " + unknown + " for run");
  std::vector<uint64_t> client_counts;
  Result<LoadFlags> load = ParseLoadFlags(flags);
  if (!load.ok()) return Fail(load.status().message());
  uint64_t replicas = load->replicas, size = load->size;
  double duration_s = load->duration_s, warmup_s = load->warmup_s;
  if (!ParseList(flags.Get("--clients").empty() ? "1,16,64,256" : flags.Get("--clients"),
                 client_counts)) {
    return Fail("--clients takes a comma-separated list of positive numbers");
  }

  BenchCluster local;
  std::string members = flags.Get("--members");
  if (members.empty()) {
    std::string root = flags.Get("--data-root");
    if (root.empty()) {
      std::string templ = "/tmp/synod-bench-" + std::string(6, 'X');  // mkdtemp's pattern
      if (::mkdtemp(templ.data()) == nullptr) return Fail("cannot create a temporary directory");
      root = templ;
    }
    std::cerr << kProgram << ": starting " << replicas << " replicas (data under " << root
              << ", fsync on)\n";
    std::vector<std::string> extra;
    for (const char* name : {"--window", "--batch"}) {
      if (!flags.Get(name).empty()) extra.insert(extra.end(), {name, flags.Get(name)});
    }
    std::string error = local.Start(static_cast<int>(replicas), root, extra);
    if (!error.empty()) {
      std::cerr << kProgram << ": " << error << "\n";
      return kExitFailed;
    }
    members = local.members();
  }
  synod::Result<ClusterConfig> cluster = ParseClusterConfig(members);
  if (!cluster.ok()) return Fail(cluster.status().message());

  std::vector<Point> points;
  for (uint64_t clients : client_counts) {
    Point point = RunPoint(*cluster, clients, size, warmup_s, duration_s,
                           flags.Get("--members").empty() ? &local : nullptr);
    std::printf(
        "clients=%llu size=%llu ops/s=%.0f p50=%.2fms p99=%.2fms p999=%.2fms "
        "replica_cpu=%.0f%% cpu_per_cmd=%.1fus errors=%llu\n",
        static_cast<unsigned long long>(point.clients), static_cast<unsigned long long>(point.size),
        point.ops_per_s, point.p50_ms, point.p99_ms, point.p999_ms, point.replica_cpu_percent,
        point.cpu_us_per_command, static_cast<unsigned long long>(point.errors));
    std::fflush(stdout);
    points.push_back(point);
  }
  WriteResults(points, flags, static_cast<int>(replicas));
  local.Stop();
  for (const Point& point : points) {
    if (point.ops_per_s == 0) {
      std::cerr << kProgram
                << ": no command succeeded in the measured window at clients=" << point.clients
                << "\n";
      return kExitFailed;
    }
  }
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return Fail("missing command (serve, run or gap)");
  std::string command = argv[1];
  synod::Result<CliFlags> flags = ParseCliFlags(argc, argv, 2);
  if (!flags.ok()) return Fail(flags.status().message());
  if (command == "serve") {
    synod::benchmarks::BenchStateMachine machine;
    return RunServe(kProgram, *flags, machine, Usage());
  }
  if (command == "run") return RunCommand(*flags);
  if (command == "gap") return synod::benchmarks::RunGapCommand(*flags, Usage());
  return Fail("unknown command '" + command + "'");
}
