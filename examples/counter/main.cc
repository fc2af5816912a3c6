// synod-counter: a replicated counter on Synod.
//
//   synod-counter serve --id I --members 1=127.0.0.1:7001,... --data DIR [...]
//   synod-counter add N --members ... [--timeout MS]
//   synod-counter get --members ... [--timeout MS]
//   synod-counter status --members ... [--timeout MS]
//
// serve prints "ready id=I" on stdout once it serves and exits 0 on SIGTERM.
// add/get print "VALUE slot=S leader=L"; status prints one line per member.
// Client exit codes: 0 ok, 1 definite failure, 2 unknown outcome, 64 usage.
// Diagnostics go to stderr.
#include <cstdio>
#include <iostream>
#include <string>

#include "examples/counter/counter_state_machine.h"
#include "node/cli.h"
#include "node/client.h"
#include "transport/event_loop.h"

namespace {

using namespace synod::node;

const char kProgram[] = "synod-counter";

std::string Usage() {
  return ServeUsage(kProgram) +
         "       synod-counter add N --members ... [--timeout MS]\n"
         "       synod-counter get --members ... [--timeout MS]\n"
         "       synod-counter status --members ... [--timeout MS]\n";
}

int Fail(const std::string& problem) { return UsageError(kProgram, problem, Usage()); }

int RunClient(const std::string& command, const CliFlags& flags) {
  std::string unknown = flags.FirstUnknown({"--members", "--timeout"});
  if (!unknown.empty()) return Fail("unknown option " + unknown + " for " + command);
  ClientOptions options;
  std::string problem = ClientOptionsFromFlags(flags, options);
  if (!problem.empty()) return Fail(problem);
  std::string payload;
  if (command == "add") {
    int64_t n = 0;
    if (flags.positional.size() != 1 || !ParseI64(flags.positional[0], n)) {
      return Fail("add takes one integer");
    }
    payload = synod::examples::CounterStateMachine::AddCommand(n);
  } else if (command == "get") {
    if (!flags.positional.empty()) return Fail("get takes no argument");
    payload = synod::examples::CounterStateMachine::GetCommand();
  } else {
    if (!flags.positional.empty()) return Fail("status takes no argument");
    return RunMemberStatus(kProgram, options);
  }

  synod::transport::EventLoop loop;
  int exit_code = kExitUnknown;
  bool finished = false;
  {
    Client client(loop, options);
    client.Execute(payload, [&](ClientResult result) {
      switch (result.status) {
        case ClientResult::Status::kOk:
          if (result.result.rfind("error:", 0) == 0) {
            std::cerr << kProgram << ": " << result.result << "\n";
            exit_code = kExitFailed;  // refused by the state machine: nothing changed
          } else {
            std::printf("%s slot=%llu leader=%u\n", result.result.c_str(),
                        static_cast<unsigned long long>(result.slot), result.leader);
            exit_code = kExitOk;
          }
          break;
        case ClientResult::Status::kFailed:
          std::cerr << kProgram << ": failed (not applied): " << result.error << "\n";
          exit_code = kExitFailed;
          break;
        case ClientResult::Status::kUnknown:
          std::cerr << kProgram << ": outcome unknown (may or may not be applied): " << result.error
                    << "\n";
          exit_code = kExitUnknown;
          break;
      }
      finished = true;
    });
    loop.RunUntil([&] { return finished; }, options.timeout + std::chrono::seconds(5));
  }
  std::fflush(stdout);
  if (!finished) {
    std::cerr << kProgram << ": no answer within the timeout\n";
    return kExitUnknown;
  }
  return exit_code;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return Fail("missing command");
  std::string command = argv[1];
  std::string problem;
  std::optional<CliFlags> flags = ParseCliFlags(argc, argv, 2, problem);
  if (!flags) return Fail(problem);
  if (command == "serve") {
    synod::examples::CounterStateMachine machine;
    return RunServe(kProgram, *flags, machine, Usage());
  }
  if (command == "add" || command == "get" || command == "status")
    return RunClient(command, *flags);
  return Fail("unknown command '" + command + "'");
}
