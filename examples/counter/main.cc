// synod-counter: a replicated counter on Synod.
//
//   synod-counter serve --id I --members 1=127.0.0.1:7001,... --data DIR [...]
//   synod-counter add N [--key K] --members ... [--timeout MS]
//   synod-counter get --members ... [--timeout MS]
//   synod-counter status --members ... [--timeout MS]
//   synod-counter members list --members ... [--timeout MS]
//   synod-counter members add ID=HOST:PORT | promote ID | remove ID --members ... [--timeout MS]
//   synod-counter transfer-leader ID --members ... [--timeout MS]
//
// serve prints "ready id=I" on stdout once it serves and exits 0 on SIGTERM.
// add/get print "VALUE slot=S leader=L"; status prints one line per member;
// transfer-leader prints "leader=ID" once replica ID leads.
// add --key K adds once per idempotency key K: a repeat (from any client)
// prints "VALUE duplicate slot=S leader=L" and changes nothing.
// Client exit codes: 0 ok, 1 definite failure, 2 unknown outcome, 64 usage.
// Diagnostics go to stderr.
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "examples/counter/counter_state_machine.h"
#include "node/cli.h"
#include "node/client.h"
#include "transport/event_loop.h"

namespace {

using namespace synod::node;

const char kProgram[] = "synod-counter";

std::string Usage() {
  return ServeUsage(kProgram) +
         "       synod-counter add N [--key K] --members ... [--timeout MS]\n"
         "       synod-counter get --members ... [--timeout MS]\n"
         "       synod-counter status --members ... [--timeout MS]\n" +
         MembersUsage(kProgram) +
         "       synod-counter transfer-leader ID --members ... [--timeout MS]\n"
         "       synod-counter shell --members ... [--timeout MS]   (add N / get lines on stdin)\n";
}

int Fail(const std::string& problem) { return UsageError(kProgram, problem, Usage()); }

// Runs `payload` through `client` (one command, waiting up to the client's
// timeout + 5 s); prints the outcome as the one-shot commands do (a result
// line on stdout; failures and unknown outcomes on stderr) and returns the
// exit code for it.
int ExecuteOne(synod::transport::EventLoop& loop, Client& client, const ClientOptions& options,
               const std::string& payload) {
  // Shared with the callback: in a shell the client lives on, so an answer
  // arriving after we gave up must neither touch this frame nor print a line
  // that would be taken for the next command's.
  struct Wait {
    int exit_code = kExitUnknown;
    bool finished = false;
    bool abandoned = false;
  };
  auto wait = std::make_shared<Wait>();
  client.Execute(payload, [wait](ClientResult result) {
    if (wait->abandoned) return;
    int& exit_code = wait->exit_code;
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
        std::cerr << kProgram << ": failed: " << result.error << "\n";
        exit_code = kExitFailed;
        break;
      case ClientResult::Status::kUnknown:
        std::cerr << kProgram << ": outcome unknown (may or may not be applied): " << result.error
                  << "\n";
        exit_code = kExitUnknown;
        break;
    }
    wait->finished = true;
  });
  loop.RunUntil([&] { return wait->finished; }, options.timeout + std::chrono::seconds(5));
  if (!wait->finished) {
    wait->abandoned = true;
    std::cerr << kProgram << ": no answer within the timeout\n";
  }
  std::fflush(stdout);
  return wait->exit_code;
}

// The payload for `verb` with its `arguments` ("add N" or "get"; a `key`
// makes an add idempotent), or nullopt with `problem` set.
std::optional<std::string> CounterPayload(const std::string& verb,
                                          const std::vector<std::string>& arguments,
                                          std::string& problem,
                                          const std::optional<std::string>& key = std::nullopt) {
  using synod::examples::CounterStateMachine;
  int64_t n = 0;
  if (verb == "add") {
    if (key && !CounterStateMachine::ValidKey(*key)) {
      problem = "--key takes 1.." + std::to_string(CounterStateMachine::kMaxKeyLength) +
                " printable characters, no spaces";
    } else if (arguments.size() == 1 && ParseI64(arguments[0], n)) {
      return key ? CounterStateMachine::AddCommand(n, *key) : CounterStateMachine::AddCommand(n);
    } else {
      problem = "add takes one integer";
    }
  } else if (verb == "get") {
    if (arguments.empty()) return synod::examples::CounterStateMachine::GetCommand();
    problem = "get takes no argument";
  } else {
    problem = "expected 'add N' or 'get'";
  }
  return std::nullopt;
}

// The payload for one shell line, or nullopt (with `problem` set).
std::optional<std::string> ShellPayload(const std::string& line, std::string& problem) {
  std::istringstream words(line);
  std::string verb, word;
  std::vector<std::string> arguments;
  words >> verb;
  while (words >> word) arguments.push_back(word);
  std::optional<std::string> payload = CounterPayload(verb, arguments, problem);
  if (!payload) problem += ", got '" + line + "'";
  return payload;
}

// `shell`: one client (one session) for many commands, read one per line
// from stdin until EOF. Each command gets one line of output: its result line
// on stdout, or on stdout "exit=1" (definite failure) / "exit=2" (unknown
// outcome) / "exit=64" (a bad line), with the reason on stderr. Exits 0 at EOF.
int RunShell(const ClientOptions& options) {
  synod::transport::EventLoop loop;
  Client client(loop, options);
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    std::string problem;
    std::optional<std::string> payload = ShellPayload(line, problem);
    int code = kExitUsage;
    if (!payload) {
      std::cerr << kProgram << ": " << problem << "\n";
    } else {
      code = ExecuteOne(loop, client, options, *payload);
    }
    if (code != kExitOk) std::printf("exit=%d\n", code);
    std::fflush(stdout);
  }
  return kExitOk;
}

int RunClient(const std::string& command, const CliFlags& flags) {
  std::string unknown = command == "add" ? flags.FirstUnknown({"--members", "--timeout", "--key"})
                                         : flags.FirstUnknown({"--members", "--timeout"});
  if (!unknown.empty()) return Fail("unknown option " + unknown + " for " + command);
  ClientOptions options;
  if (synod::Status s = ClientOptionsFromFlags(flags, options); !s.ok()) return Fail(s.message());
  if (command == "shell") {
    if (!flags.positional.empty()) return Fail("shell takes no argument");
    return RunShell(options);
  }
  if (command == "status") {
    if (!flags.positional.empty()) return Fail("status takes no argument");
    return RunMemberStatus(kProgram, options);
  }
  if (command == "transfer-leader") {
    if (flags.positional.size() != 1) return Fail("transfer-leader takes one replica id");
    return RunTransferLeader(kProgram, options, flags.positional[0], Usage());
  }
  std::optional<std::string> key;
  std::string problem;
  if (flags.values.count("--key")) key = flags.Get("--key");
  std::optional<std::string> payload = CounterPayload(command, flags.positional, problem, key);
  if (!payload) return Fail(problem);
  synod::transport::EventLoop loop;
  Client client(loop, options);
  return ExecuteOne(loop, client, options, *payload);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return Fail("missing command");
  std::string command = argv[1];
  synod::Result<CliFlags> flags = ParseCliFlags(argc, argv, 2);
  if (!flags.ok()) return Fail(flags.status().message());
  if (command == "serve") {
    synod::examples::CounterStateMachine machine;
    return RunServe(kProgram, *flags, machine, Usage());
  }
  if (command == "members") return RunMembers(kProgram, *flags, Usage());
  if (command == "add" || command == "get" || command == "status" || command == "shell" ||
      command == "transfer-leader")
    return RunClient(command, *flags);
  return Fail("unknown command '" + command + "'");
}
