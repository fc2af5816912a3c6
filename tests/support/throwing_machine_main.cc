// synod-test-machine: a test-only replicated counter whose Apply throws on
// request, for the multi-process tests of how Apply's exceptions are handled
// (tests/cluster/apply_errors_cluster_test.py). Not a user-facing example.
//
//   synod-test-machine serve --id I --members ... --data DIR [...]
//   synod-test-machine run COMMAND --members ... [--timeout MS]
//   synod-test-machine status --members ... [--timeout MS]
//
// COMMAND is one of the counter's ("add N", "get") or:
//   "throw MESSAGE"           throws std::runtime_error(MESSAGE), changing nothing
//   "add-then-throw N MESSAGE" adds N, then throws std::runtime_error(MESSAGE)
//   "throw-kj MESSAGE"        throws a kj::Exception (KJ_FAIL_REQUIRE) naming MESSAGE
//   "throw-int"               throws an int (not a std::exception)
//   "throw-bad-alloc"         throws std::bad_alloc
// With SYNOD_TEST_EMBED=1 in the environment, `serve` runs the replica the
// way a program embedding node::Replica does (its own EventLoop, Replica,
// Start and Run; no RunServe, no try/catch) and takes only --id, --members,
// --data, --election-timeout-ms and --heartbeat-ms.
// `run` prints "RESULT slot=S leader=L" and exits 0, or prints the failure on
// stderr and exits 1 (definite failure) or 2 (unknown outcome).
#include <kj/debug.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>

#include "examples/counter/counter_state_machine.h"
#include "node/cli.h"
#include "node/client.h"
#include "node/replica.h"
#include "transport/event_loop.h"

namespace {

using namespace synod::node;

const char kProgram[] = "synod-test-machine";

// The counter, plus commands whose Apply throws.
class ThrowingMachine final : public synod::statemachine::StateMachine {
 public:
  std::string Apply(std::string_view command,
                    const synod::statemachine::ApplyContext& context) override {
    if (command.rfind("throw ", 0) == 0) throw std::runtime_error(std::string(command.substr(6)));
    if (command.rfind("throw-kj ", 0) == 0) {
      KJ_FAIL_REQUIRE("refused", std::string(command.substr(9)).c_str());
    }
    if (command == "throw-int") throw 42;
    if (command == "throw-bad-alloc") throw std::bad_alloc();
    if (command.rfind("add-then-throw ", 0) == 0) {
      std::string_view rest = command.substr(15);
      size_t space = rest.find(' ');
      if (space == std::string_view::npos) return "error: add-then-throw N MESSAGE";
      std::string added = counter_.Apply("add " + std::string(rest.substr(0, space)), context);
      if (added.rfind("error:", 0) == 0) return added;
      throw std::runtime_error(std::string(rest.substr(space + 1)));
    }
    return counter_.Apply(command, context);
  }
  void Snapshot(synod::statemachine::SnapshotWriter& out) const override { counter_.Snapshot(out); }
  bool Restore(synod::statemachine::SnapshotReader& in) override { return counter_.Restore(in); }

 private:
  synod::examples::CounterStateMachine counter_;
};

std::string Usage();

// `serve` as a program embedding node::Replica would write it.
int ServeEmbedded(const CliFlags& flags, synod::statemachine::StateMachine& machine) {
  ReplicaOptions options;
  uint64_t number = 0;
  if (!ParseU64(flags.Get("--id"), number)) return UsageError(kProgram, "--id", Usage());
  options.id = static_cast<synod::paxos::ReplicaId>(number);
  synod::Result<ClusterConfig> cluster = ParseClusterConfig(flags.Get("--members"));
  if (!cluster.ok()) return UsageError(kProgram, cluster.status().message(), Usage());
  options.cluster = *cluster;
  options.data_dir = flags.Get("--data");
  if (ParseU64(flags.Get("--election-timeout-ms"), number)) {
    options.election_timeout_ms = static_cast<uint32_t>(number);
  }
  if (ParseU64(flags.Get("--heartbeat-ms"), number)) {
    options.heartbeat_ms = static_cast<uint32_t>(number);
  }
  synod::transport::EventLoop loop;
  Replica replica(loop, options, machine, spdlog::stderr_color_mt("embedded"));
  synod::Status started = replica.Start(
      [&] {
        std::printf("ready id=%u\n", options.id);
        std::fflush(stdout);
      },
      [&](const std::string&) { loop.Stop(); });
  if (!started.ok()) {
    std::cerr << kProgram << ": " << started.message() << "\n";
    return kExitFailed;
  }
  loop.Run();
  return kExitOk;
}

std::string Usage() {
  return ServeUsage(kProgram) + "       " + kProgram +
         " run COMMAND --members ... [--timeout MS]\n"
         "       " +
         kProgram + " status --members ... [--timeout MS]\n";
}

int Run(const std::string& payload, const ClientOptions& options) {
  synod::transport::EventLoop loop;
  Client client(loop, options);
  int exit_code = kExitUnknown;
  bool finished = false;
  client.Execute(payload, [&](ClientResult result) {
    switch (result.status) {
      case ClientResult::Status::kOk:
        std::printf("%s slot=%llu leader=%u\n", result.result.c_str(),
                    static_cast<unsigned long long>(result.slot), result.leader);
        exit_code = kExitOk;
        break;
      case ClientResult::Status::kFailed:
        std::cerr << kProgram << ": failed: " << result.error << "\n";
        exit_code = kExitFailed;
        break;
      case ClientResult::Status::kUnknown:
        std::cerr << kProgram << ": outcome unknown: " << result.error << "\n";
        exit_code = kExitUnknown;
        break;
    }
    finished = true;
  });
  loop.RunUntil([&] { return finished; }, options.timeout + std::chrono::seconds(5));
  if (!finished) std::cerr << kProgram << ": no answer within the timeout\n";
  std::fflush(stdout);
  return exit_code;
}

}  // namespace

int main(int argc, char** argv) {
  auto fail = [](const std::string& problem) { return UsageError(kProgram, problem, Usage()); };
  if (argc < 2) return fail("missing command");
  std::string command = argv[1];
  synod::Result<CliFlags> flags = ParseCliFlags(argc, argv, 2);
  if (!flags.ok()) return fail(flags.status().message());
  if (command == "serve") {
    ThrowingMachine machine;
    const char* embed = std::getenv("SYNOD_TEST_EMBED");
    if (embed != nullptr && std::string(embed) == "1") return ServeEmbedded(*flags, machine);
    return RunServe(kProgram, *flags, machine, Usage());
  }
  if (command != "run" && command != "status") return fail("unknown command '" + command + "'");
  std::string unknown = flags->FirstUnknown({"--members", "--timeout"});
  if (!unknown.empty()) return fail("unknown option " + unknown);
  ClientOptions options;
  if (synod::Status s = ClientOptionsFromFlags(*flags, options); !s.ok()) return fail(s.message());
  if (command == "status") return RunMemberStatus(kProgram, options);
  if (flags->positional.size() != 1) return fail("run takes one COMMAND");
  return Run(flags->positional[0], options);
}
