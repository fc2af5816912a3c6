// synod-counter: a replicated counter on Synod.
//
//   synod-counter serve --id I --members 1=127.0.0.1:7001,... --data DIR
//                 [--election-timeout-ms MS] [--heartbeat-ms MS] [--window N]
//                 [--batch N] [--log-level debug|info|warn|error]
//   synod-counter add N --members ... [--timeout MS]
//   synod-counter get --members ... [--timeout MS]
//   synod-counter status --members ... [--timeout MS]
//
// serve prints "ready id=I" on stdout once it serves and exits 0 on SIGTERM.
// add/get print "VALUE slot=S leader=L"; status prints one line per member.
// Client exit codes: 0 ok, 1 definite failure, 2 unknown outcome, 64 usage.
// Diagnostics go to stderr.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <boost/asio/signal_set.hpp>
#include <charconv>
#include <cstdio>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "examples/counter/counter_state_machine.h"
#include "node/client.h"
#include "node/replica.h"
#include "transport/event_loop.h"

namespace {

using synod::node::ClusterConfig;

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUnknown = 2;
constexpr int kExitUsage = 64;

int Usage(const std::string& problem) {
  std::cerr << "synod-counter: " << problem << "\n"
            << "usage: synod-counter serve --id I --members ID=HOST:PORT,... --data DIR\n"
            << "                     [--election-timeout-ms MS] [--heartbeat-ms MS]\n"
            << "                     [--window N] [--batch N] [--log-level LEVEL]\n"
            << "       synod-counter add N --members ... [--timeout MS]\n"
            << "       synod-counter get --members ... [--timeout MS]\n"
            << "       synod-counter status --members ... [--timeout MS]\n";
  return kExitUsage;
}

bool ParseU64(const std::string& text, uint64_t& out) {
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), out);
  return error == std::errc() && end == text.data() + text.size() && !text.empty();
}

bool ParseI64(const std::string& text, int64_t& out) {
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), out);
  return error == std::errc() && end == text.data() + text.size() && !text.empty();
}

struct Flags {
  std::map<std::string, std::string> values;
  std::vector<std::string> positional;
};

// Parses "--name value" pairs and positional words; nullopt on a dangling flag.
std::optional<Flags> ParseFlags(int argc, char** argv, int from, std::string& problem) {
  Flags flags;
  for (int i = from; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--", 0) == 0) {
      if (i + 1 >= argc) {
        problem = arg + " needs a value";
        return std::nullopt;
      }
      flags.values[arg] = argv[++i];
    } else {
      flags.positional.push_back(arg);
    }
  }
  return flags;
}

std::shared_ptr<spdlog::logger> MakeLogger(const std::string& name, const std::string& level) {
  auto logger = std::make_shared<spdlog::logger>(
      name, std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  logger->set_level(spdlog::level::from_str(level));
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%n] %v");
  return logger;
}

int Serve(const Flags& flags) {
  static const std::set<std::string> known = {
      "--id",    "--members",   "--data", "--election-timeout-ms", "--heartbeat-ms", "--window",
      "--batch", "--log-level", "--seed"};
  for (const auto& [name, value] : flags.values) {
    if (!known.count(name)) return Usage("unknown option " + name + " for serve");
  }
  if (!flags.positional.empty()) return Usage("serve takes no positional arguments");
  synod::node::ReplicaOptions options;
  auto get = [&](const char* name) {
    auto it = flags.values.find(name);
    return it == flags.values.end() ? std::string() : it->second;
  };
  uint64_t number = 0;
  if (!ParseU64(get("--id"), number) || number == 0 || number > UINT32_MAX) {
    return Usage("--id must be a positive integer");
  }
  options.id = static_cast<synod::paxos::ReplicaId>(number);
  synod::node::ParsedClusterConfig cluster = synod::node::ParseClusterConfig(get("--members"));
  if (!cluster.config) return Usage(cluster.error);
  options.cluster = *cluster.config;
  options.data_dir = get("--data");
  struct NumberFlag {
    const char* name;
    uint32_t* target;
  };
  for (NumberFlag flag : {NumberFlag{"--election-timeout-ms", &options.election_timeout_ms},
                          NumberFlag{"--heartbeat-ms", &options.heartbeat_ms},
                          NumberFlag{"--window", &options.window_slots},
                          NumberFlag{"--batch", &options.max_batch_commands}}) {
    std::string text = get(flag.name);
    if (text.empty()) continue;
    if (!ParseU64(text, number) || number > UINT32_MAX) {
      return Usage(std::string(flag.name) + " must be a number");
    }
    *flag.target = static_cast<uint32_t>(number);
  }
  if (!get("--seed").empty() && !ParseU64(get("--seed"), options.seed)) {
    return Usage("--seed must be a number");
  }
  std::string level = get("--log-level").empty() ? "info" : get("--log-level");
  if (spdlog::level::from_str(level) == spdlog::level::off && level != "off") {
    return Usage("--log-level takes trace, debug, info, warn, error or off");
  }
  std::string problem = options.Validate();
  if (!problem.empty()) return Usage(problem);

  auto logger = MakeLogger("replica-" + std::to_string(options.id), level);
  int exit_code = kExitOk;
  {
    synod::transport::EventLoop loop;
    synod::examples::CounterStateMachine machine;
    synod::node::Replica replica(loop, options, machine, logger);
    boost::asio::signal_set signals(loop.io(), SIGTERM, SIGINT);
    signals.async_wait([&](const boost::system::error_code& error, int signal) {
      if (error) return;
      logger->info("signal {}: shutting down", signal);
      loop.Stop();
    });
    std::string error = replica.Start(
        [&] {
          std::printf("ready id=%u\n", options.id);
          std::fflush(stdout);
        },
        [&](const std::string& reason) {
          std::cerr << "synod-counter: refusing to start: " << reason << "\n";
          exit_code = kExitFailed;
          loop.Stop();
        });
    if (!error.empty()) {
      std::cerr << "synod-counter: " << error << "\n";
      return kExitFailed;
    }
    loop.Run();
    signals.cancel();
  }
  return exit_code;
}

int RunClient(const std::string& command, const Flags& flags) {
  for (const auto& [name, value] : flags.values) {
    if (name != "--members" && name != "--timeout") {
      return Usage("unknown option " + name + " for " + command);
    }
  }
  auto members = flags.values.find("--members");
  if (members == flags.values.end()) return Usage("--members is required");
  synod::node::ParsedClusterConfig cluster = synod::node::ParseClusterConfig(members->second);
  if (!cluster.config) return Usage(cluster.error);
  synod::node::ClientOptions options;
  options.cluster = *cluster.config;
  auto timeout = flags.values.find("--timeout");
  if (timeout != flags.values.end()) {
    uint64_t ms = 0;
    if (!ParseU64(timeout->second, ms) || ms == 0) return Usage("--timeout takes milliseconds");
    options.timeout = std::chrono::milliseconds(ms);
    options.attempt_timeout = std::min(options.attempt_timeout, options.timeout);
  }
  std::string payload;
  if (command == "add") {
    int64_t n = 0;
    if (flags.positional.size() != 1 || !ParseI64(flags.positional[0], n)) {
      return Usage("add takes one integer");
    }
    payload = synod::examples::CounterStateMachine::AddCommand(n);
  } else if (command == "get") {
    if (!flags.positional.empty()) return Usage("get takes no argument");
    payload = synod::examples::CounterStateMachine::GetCommand();
  } else if (!flags.positional.empty()) {
    return Usage("status takes no argument");
  }

  synod::transport::EventLoop loop;
  int exit_code = kExitUnknown;
  bool finished = false;
  {
    synod::node::Client client(loop, options);
    if (command == "status") {
      client.QueryStatuses([&](synod::node::Client::Statuses statuses) {
        size_t reachable = 0;
        for (const auto& [id, status] : statuses) {
          if (!status) {
            std::printf("%u unreachable\n", id);
            continue;
          }
          ++reachable;
          const char* role = status->role == synod::transport::Role::kLeader      ? "leader"
                             : status->role == synod::transport::Role::kCandidate ? "candidate"
                                                                                  : "follower";
          std::printf("%u %s ballot=%s chosen=%llu applied=%llu leader=%u\n", id, role,
                      status->ballot.ToString().c_str(),
                      static_cast<unsigned long long>(status->chosen_point),
                      static_cast<unsigned long long>(status->applied), status->leader);
        }
        exit_code = reachable > 0 ? kExitOk : kExitFailed;
        finished = true;
      });
    } else {
      client.Execute(payload, [&](synod::node::ClientResult result) {
        switch (result.status) {
          case synod::node::ClientResult::Status::kOk:
            if (result.result.rfind("error:", 0) == 0) {
              std::cerr << "synod-counter: " << result.result << "\n";
              exit_code = kExitFailed;
            } else {
              std::printf("%s slot=%llu leader=%u\n", result.result.c_str(),
                          static_cast<unsigned long long>(result.slot), result.leader);
              exit_code = kExitOk;
            }
            break;
          case synod::node::ClientResult::Status::kFailed:
            std::cerr << "synod-counter: failed (not applied): " << result.error << "\n";
            exit_code = kExitFailed;
            break;
          case synod::node::ClientResult::Status::kUnknown:
            std::cerr << "synod-counter: outcome unknown (may or may not be applied): "
                      << result.error << "\n";
            exit_code = kExitUnknown;
            break;
        }
        finished = true;
      });
    }
    loop.RunUntil([&] { return finished; }, options.timeout + std::chrono::seconds(5));
  }
  std::fflush(stdout);
  if (!finished) {
    std::cerr << "synod-counter: no answer within the timeout\n";
    return command == "status" ? kExitFailed : kExitUnknown;
  }
  return exit_code;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return Usage("missing command");
  std::string command = argv[1];
  std::string problem;
  std::optional<Flags> flags = ParseFlags(argc, argv, 2, problem);
  if (!flags) return Usage(problem);
  if (command == "serve") return Serve(*flags);
  if (command == "add" || command == "get" || command == "status")
    return RunClient(command, *flags);
  return Usage("unknown command '" + command + "'");
}
