#include "node/cli.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/signal_set.hpp>
#include <charconv>
#include <csignal>
#include <cstdio>
#include <iostream>

#include "node/endpoint_key.h"
#include "node/replica.h"
#include "transport/event_loop.h"
#include "transport/fd_limit.h"

namespace synod::node {

std::string CliFlags::Get(const std::string& name) const {
  auto it = values.find(name);
  return it == values.end() ? std::string() : it->second;
}

std::string CliFlags::FirstUnknown(const std::set<std::string>& known) const {
  for (const auto& [name, value] : values) {
    if (!known.count(name)) return name;
  }
  return "";
}

const std::set<std::string>& BareFlags() {
  static const std::set<std::string> kBare = {"--join"};
  return kBare;
}

Result<CliFlags> ParseCliFlags(int argc, char** argv, int from, const std::set<std::string>& bare) {
  CliFlags flags;
  for (int i = from; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.size() > 2 && arg.rfind("--", 0) == 0) {
      if (bare.count(arg)) {
        flags.values[arg] = "yes";
        continue;
      }
      if (i + 1 >= argc) return Status::InvalidArgument(arg + " needs a value");
      flags.values[arg] = argv[++i];
    } else {
      flags.positional.push_back(arg);
    }
  }
  return flags;
}

bool ParseU64(const std::string& text, uint64_t& out) {
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), out);
  return error == std::errc() && end == text.data() + text.size() && !text.empty();
}

bool ParseI64(const std::string& text, int64_t& out) {
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), out);
  return error == std::errc() && end == text.data() + text.size() && !text.empty();
}

int UsageError(const std::string& program, const std::string& problem, const std::string& usage) {
  std::cerr << program << ": " << problem << "\n" << usage;
  return kExitUsage;
}

const std::set<std::string>& ServeFlags() {
  static const std::set<std::string> kFlags = {
      "--session-expiry-ms",   "--id",           "--members",        "--data",
      "--election-timeout-ms", "--heartbeat-ms", "--window",         "--batch",
      "--log-level",           "--seed",         "--snapshot-every", "--log-tail",
      "--preallocate-log",     "--join"};
  // With the limits (LimitsFromFlags).
  static const std::set<std::string> kWithLimits = [] {
    std::set<std::string> all = kFlags;
    all.insert({"--max-sessions", "--max-session-results", "--max-session-result-bytes",
                "--max-pending-bytes"});
    return all;
  }();
  return kWithLimits;
}

std::string ServeUsage(const std::string& program) {
  return "usage: " + program +
         " serve --id I --members ID=HOST:PORT,... --data DIR [--join]\n"
         "           [--election-timeout-ms MS] [--heartbeat-ms MS] [--window N] [--batch N]\n"
         "           [--log-level trace|debug|info|warn|error|off] [--seed N]\n"
         "           [--snapshot-every N (commands, default 10000; 0 = never)]\n"
         "           [--log-tail N (entries kept below a snapshot, default 1000)]\n"
         "           [--session-expiry-ms MS (idle log time after which a client session\n"
         "            this member opens as leader expires, default 600000)]\n"
         "           [--preallocate-log yes|no (preallocated write-ahead log files,\n"
         "            default yes; no on copy-on-write file systems)]\n"
         "           [--max-sessions N (live client sessions, default 4096)]\n"
         "           [--max-session-results N (unacknowledged results per session,\n"
         "            default 100000)]\n"
         "           [--max-session-result-bytes N (their bytes, +64 each, per session,\n"
         "            default 1048576)]\n"
         "           [--max-pending-bytes N (command bytes queued at the leader,\n"
         "            default 268435456)]\n"
         "           --join: join a running cluster instead of forming a new one: with a\n"
         "            --data directory without history, wait until 'members add' names\n"
         "            this replica, fetch a snapshot and serve from it; with history it has\n"
         "            no effect\n";
}

Status LimitsFromFlags(const CliFlags& flags, ReplicaOptions& options) {
  struct LimitFlag {
    const char* name;
    uint64_t* target;
  };
  for (LimitFlag flag : {LimitFlag{"--max-sessions", &options.max_sessions},
                         LimitFlag{"--max-session-results", &options.max_session_results},
                         LimitFlag{"--max-session-result-bytes", &options.max_session_result_bytes},
                         LimitFlag{"--max-pending-bytes", &options.max_pending_bytes}}) {
    std::string text = flags.Get(flag.name);
    if (text.empty()) continue;
    uint64_t number = 0;
    if (!ParseU64(text, number)) {
      return Status::InvalidArgument(std::string(flag.name) + " must be a number");
    }
    *flag.target = number;
  }
  return Status::Ok();
}

namespace {

std::shared_ptr<spdlog::logger> MakeLogger(const std::string& name, const std::string& level) {
  auto logger = std::make_shared<spdlog::logger>(
      name, std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  logger->set_level(spdlog::level::from_str(level));
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%n] %v");
  return logger;
}

}  // namespace

int RunServe(const std::string& program, const CliFlags& flags, statemachine::StateMachine& machine,
             const std::string& usage) {
  auto fail = [&](const std::string& problem) { return UsageError(program, problem, usage); };
  std::string unknown = flags.FirstUnknown(ServeFlags());
  if (!unknown.empty()) return fail("unknown option " + unknown + " for serve");
  if (!flags.positional.empty()) return fail("serve takes no positional arguments");
  ReplicaOptions options;
  uint64_t number = 0;
  if (!ParseU64(flags.Get("--id"), number) || number == 0 || number > UINT32_MAX) {
    return fail("--id must be a positive integer");
  }
  options.id = static_cast<paxos::ReplicaId>(number);
  Result<ClusterConfig> cluster = ParseClusterConfig(flags.Get("--members"));
  if (!cluster.ok()) return fail(cluster.status().message());
  if (std::string repeated = RepeatedSocket(*cluster); !repeated.empty()) {
    return fail("--members: " + repeated);
  }
  options.cluster = *cluster;
  options.data_dir = flags.Get("--data");
  options.join = flags.values.count("--join") != 0;
  struct NumberFlag {
    const char* name;
    uint32_t* target;
  };
  for (NumberFlag flag : {NumberFlag{"--election-timeout-ms", &options.election_timeout_ms},
                          NumberFlag{"--heartbeat-ms", &options.heartbeat_ms},
                          NumberFlag{"--window", &options.window_slots},
                          NumberFlag{"--batch", &options.max_batch_commands},
                          NumberFlag{"--snapshot-every", &options.snapshot_every},
                          NumberFlag{"--log-tail", &options.log_tail}}) {
    std::string text = flags.Get(flag.name);
    if (text.empty()) continue;
    if (!ParseU64(text, number) || number > UINT32_MAX) {
      return fail(std::string(flag.name) + " must be a number");
    }
    *flag.target = static_cast<uint32_t>(number);
  }
  if (!flags.Get("--seed").empty() && !ParseU64(flags.Get("--seed"), options.seed)) {
    return fail("--seed must be a number");
  }
  if (!flags.Get("--session-expiry-ms").empty() &&
      !ParseU64(flags.Get("--session-expiry-ms"), options.session_expiry_ms)) {
    return fail("--session-expiry-ms must be a number");
  }
  std::string preallocate = flags.Get("--preallocate-log");
  if (preallocate == "no") {
    options.preallocate_log = false;
  } else if (!preallocate.empty() && preallocate != "yes") {
    return fail("--preallocate-log takes yes or no");
  }
  if (Status limits = LimitsFromFlags(flags, options); !limits.ok()) return fail(limits.message());
  std::string level = flags.Get("--log-level").empty() ? "info" : flags.Get("--log-level");
  if (spdlog::level::from_str(level) == spdlog::level::off && level != "off") {
    return fail("--log-level takes trace, debug, info, warn, error or off");
  }
  if (Status valid = options.Validate(); !valid.ok()) return fail(valid.message());

  auto logger = MakeLogger("replica-" + std::to_string(options.id), level);
  // Every connection is a descriptor: serve with the hard limit, not the soft one.
  transport::OpenFileLimit files = transport::RaiseOpenFileLimit();
  if (!files.status.ok()) {
    logger->warn("open file limit {}: {}", files.before, files.status.message());
  } else if (files.after != files.before) {
    logger->info("open file limit raised from {} to {}", files.before, files.after);
  }
  int exit_code = kExitOk;
  transport::EventLoop loop;
  Replica replica(loop, options, machine, logger);
  boost::asio::signal_set signals(loop.io(), SIGTERM, SIGINT);
  signals.async_wait([&](const boost::system::error_code& error, int signal) {
    if (error) return;
    logger->info("signal {}: shutting down", signal);
    // A leader hands leadership over first (bounded); a second signal stops at once.
    signals.async_wait([&](const boost::system::error_code& again, int) {
      if (!again) loop.Stop();
    });
    replica.HandOverLeadership([&] { loop.Stop(); });
  });
  // SIGUSR1: take a snapshot now (on demand), then keep serving.
  boost::asio::signal_set snapshot_signal(loop.io(), SIGUSR1);
  std::function<void()> await_snapshot_signal = [&] {
    snapshot_signal.async_wait([&](const boost::system::error_code& error, int) {
      if (error) return;
      replica.TakeSnapshotNow();
      await_snapshot_signal();
    });
  };
  await_snapshot_signal();
  Status started = replica.Start(
      [&] {
        std::printf("ready id=%u\n", options.id);
        std::fflush(stdout);
      },
      [&](const std::string& reason) {
        std::cerr << program << ": stopping: " << reason << "\n";
        exit_code = kExitFailed;
        loop.Stop();
      });
  if (!started.ok()) {
    std::cerr << program << ": " << started.message() << "\n";
    return kExitFailed;
  }
  // A stop inside Start (e.g. a replay that must not run) came before the
  // loop ran: Run would clear it and serve on.
  if (exit_code != kExitOk) return exit_code;
  loop.Run();
  signals.cancel();
  snapshot_signal.cancel();
  return exit_code;
}

namespace {

const char* RoleName(transport::Role role) {
  switch (role) {
    case transport::Role::kLeader:
      return "leader";
    case transport::Role::kCandidate:
      return "candidate";
    case transport::Role::kFollower:
      break;
  }
  return "follower";
}

}  // namespace

int RunMemberStatus(const std::string& program, const ClientOptions& options) {
  transport::EventLoop loop;
  int exit_code = kExitFailed;
  bool finished = false;
  {
    Client client(loop, options);
    client.QueryStatuses([&](Client::Statuses statuses) {
      size_t reachable = 0;
      for (const auto& [id, status] : statuses) {
        if (!status) {
          std::printf("%u unreachable\n", id);
          continue;
        }
        ++reachable;
        std::printf(
            "%u %s ballot=%s chosen=%llu applied=%llu leader=%u digest=%08x member=%s "
            "config_slot=%llu\n",
            id, RoleName(status->role), status->ballot.ToString().c_str(),
            static_cast<unsigned long long>(status->chosen_point),
            static_cast<unsigned long long>(status->applied), status->leader, status->state_digest,
            transport::MembershipName(status->membership),
            static_cast<unsigned long long>(status->config_slot));
      }
      exit_code = reachable > 0 ? kExitOk : kExitFailed;
      finished = true;
    });
    loop.RunUntil([&] { return finished; }, options.timeout + std::chrono::seconds(5));
  }
  std::fflush(stdout);
  if (!finished) std::cerr << program << ": no answer within the timeout\n";
  return exit_code;
}

namespace {

// `members list`: the leader's configuration, one line per member, then the
// slot that set it.
int RunMembersList(const std::string& program, const ClientOptions& options) {
  transport::EventLoop loop;
  int exit_code = kExitUnknown;
  bool finished = false;
  {
    Client client(loop, options);
    client.QueryLeaderStatus([&](std::optional<transport::ReplicaStatus> status, std::string why) {
      finished = true;
      if (!status) {
        std::cerr << program << ": " << why << "\n";
        return;
      }
      if (status->members.empty()) {
        std::cerr << program << ": the leader (replica " << status->id
                  << ") does not report its configuration (a build without membership)\n";
        exit_code = kExitFailed;
        return;
      }
      std::vector<paxos::Member> members = status->members;
      std::sort(members.begin(), members.end(),
                [](const paxos::Member& a, const paxos::Member& b) { return a.id < b.id; });
      for (const paxos::Member& member : members) {
        std::printf("%u %s %s\n", member.id, member.address.empty() ? "-" : member.address.c_str(),
                    paxos::MemberRoleName(member.role));
      }
      std::printf("config slot=%llu\n", static_cast<unsigned long long>(status->config_slot));
      exit_code = kExitOk;
    });
    loop.RunUntil([&] { return finished; }, options.timeout + std::chrono::seconds(5));
  }
  std::fflush(stdout);
  if (!finished) std::cerr << program << ": no answer within the timeout\n";
  return exit_code;
}

}  // namespace

// Runs one client call that ends in a ClientResult (`start` starts it on the
// client with the callback it must complete), waiting up to the client's
// timeout + 5 s: on kOk `print_ok` prints the result line and the exit code
// is kExitOk; otherwise "PROGRAM: failed: ..." (kExitFailed) or "PROGRAM:
// unknown outcome: ..." (kExitUnknown) on stderr.
int RunResultCall(const std::string& program, const ClientOptions& options,
                  const std::function<void(Client&, std::function<void(ClientResult)>)>& start,
                  const std::function<void(const ClientResult&)>& print_ok) {
  transport::EventLoop loop;
  int exit_code = kExitUnknown;
  bool finished = false;
  {
    Client client(loop, options);
    start(client, [&](ClientResult result) {
      finished = true;
      if (result.status == ClientResult::Status::kOk) {
        print_ok(result);
        exit_code = kExitOk;
        return;
      }
      bool failed = result.status == ClientResult::Status::kFailed;
      std::cerr << program << ": " << (failed ? "failed: " : "unknown outcome: ") << result.error
                << "\n";
      exit_code = failed ? kExitFailed : kExitUnknown;
    });
    loop.RunUntil([&] { return finished; }, options.timeout + std::chrono::seconds(5));
  }
  std::fflush(stdout);
  if (!finished) std::cerr << program << ": unknown outcome: no answer within the timeout\n";
  return exit_code;
}

// `members add|promote|remove`: one configuration step through the leader;
// prints `done_line` + " config=S" on success.
int RunMemberChange(const std::string& program, const ClientOptions& options,
                    const transport::MemberChange& change, const std::string& done_line) {
  return RunResultCall(
      program, options,
      [&](Client& client, std::function<void(ClientResult)> done) {
        client.ChangeMembers(change, std::move(done));
      },
      [&](const ClientResult& result) {
        std::printf("%s config=%llu\n", done_line.c_str(),
                    static_cast<unsigned long long>(result.slot));
      });
}

std::string MembersUsage(const std::string& program) {
  return "       " + program + " members list --members ... [--timeout MS]\n" + "       " +
         program + " members add ID=HOST:PORT --members ... [--timeout MS]\n" + "       " +
         program + " members promote ID --members ... [--timeout MS]\n" + "       " + program +
         " members remove ID --members ... [--timeout MS]\n";
}

int RunMembers(const std::string& program, const CliFlags& flags, const std::string& usage) {
  auto fail = [&](const std::string& problem) { return UsageError(program, problem, usage); };
  const char kKnown[] = "(known: list, add, promote, remove)";
  if (flags.positional.empty()) return fail(std::string("members needs a subcommand ") + kKnown);
  const std::string& sub = flags.positional[0];
  if (sub != "list" && sub != "add" && sub != "promote" && sub != "remove") {
    return fail("unknown members subcommand '" + sub + "' " + kKnown);
  }
  std::string unknown = flags.FirstUnknown({"--members", "--timeout"});
  if (!unknown.empty()) return fail("unknown option " + unknown + " for members " + sub);
  if (sub == "list") {
    if (flags.positional.size() > 1) return fail("members list takes no argument");
  } else if (flags.positional.size() != 2) {
    return fail(sub == "add" ? "members add takes ID=HOST:PORT"
                             : "members " + sub + " takes a replica id");
  }
  ClientOptions options;
  if (Status s = ClientOptionsFromFlags(flags, options); !s.ok()) return fail(s.message());
  if (sub == "list") return RunMembersList(program, options);
  transport::MemberChange change;
  if (sub == "add") {
    // The same rules as a --members entry: a positive id, HOST:PORT.
    Result<ClusterConfig> entry = ParseClusterConfig(flags.positional[1]);
    if (!entry.ok() || entry.value().members.size() != 1) {
      return fail("members add takes ID=HOST:PORT" +
                  (entry.ok() ? std::string() : ": " + entry.status().message()));
    }
    change.kind = transport::MemberChangeKind::kAddLearner;
    change.replica = entry.value().members[0].id;
    change.address = entry.value().members[0].Endpoint();
    return RunMemberChange(program, options, change,
                           "added " + std::to_string(change.replica) + " learner");
  }
  uint64_t id = 0;
  if (!ParseU64(flags.positional[1], id) || id == 0 || id > UINT32_MAX) {
    return fail("members " + sub + " takes a replica id (a positive integer)");
  }
  change.replica = static_cast<paxos::ReplicaId>(id);
  change.kind = sub == "promote" ? transport::MemberChangeKind::kPromote
                                 : transport::MemberChangeKind::kRemove;
  return RunMemberChange(program, options, change,
                         (sub == "promote" ? "promoted " : "removed ") + std::to_string(id));
}

int RunTransferLeader(const std::string& program, const ClientOptions& options,
                      const std::string& target_text, const std::string& usage) {
  uint64_t target = 0;
  if (!ParseU64(target_text, target) || target == 0 || target > UINT32_MAX) {
    return UsageError(program, "transfer-leader takes a replica id (a positive integer)", usage);
  }
  return RunResultCall(
      program, options,
      [&](Client& client, std::function<void(ClientResult)> done) {
        client.TransferLeader(static_cast<paxos::ReplicaId>(target), std::move(done));
      },
      [](const ClientResult& result) { std::printf("leader=%u\n", result.leader); });
}

Status ClientOptionsFromFlags(const CliFlags& flags, ClientOptions& options) {
  Result<ClusterConfig> cluster = ParseClusterConfig(flags.Get("--members"));
  if (!cluster.ok()) {
    if (flags.Get("--members").empty()) return Status::InvalidArgument("--members is required");
    return cluster.status();
  }
  options.cluster = *cluster;
  // At most a day: deadlines are clock readings plus the timeout, which
  // overflow (and so expire at once) for huge values.
  constexpr uint64_t kMaxTimeoutMs = 24ull * 3600 * 1000;
  if (flags.values.count("--timeout") != 0) {
    uint64_t ms = 0;
    if (!ParseU64(flags.Get("--timeout"), ms) || ms == 0 || ms > kMaxTimeoutMs) {
      return Status::InvalidArgument("--timeout takes milliseconds, 1 to " +
                                     std::to_string(kMaxTimeoutMs));
    }
    options.timeout = std::chrono::milliseconds(ms);
    options.attempt_timeout = std::min(options.attempt_timeout, options.timeout);
  }
  return Status::Ok();
}

}  // namespace synod::node
