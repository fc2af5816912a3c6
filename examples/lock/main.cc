// synod-lock: a replicated lock service with leases and fencing tokens.
//
//   synod-lock serve --id I --members 1=127.0.0.1:7001,... --data DIR [...]
//   synod-lock acquire NAME --owner O --ttl MS --members ... [--timeout MS]
//   synod-lock renew NAME --owner O --token T --members ... [--timeout MS]
//   synod-lock release NAME --owner O --token T --members ... [--timeout MS]
//   synod-lock status NAME --members ... [--timeout MS]
//   synod-lock status --members ... [--timeout MS]      (members, as synod-counter's)
//   synod-lock members list --members ... [--timeout MS]  (as synod-counter's)
//   synod-lock members add ID=HOST:PORT | promote ID | remove ID ...  (as synod-counter's)
//   synod-lock transfer-leader ID --members ... [--timeout MS]   (as synod-counter's)
//   synod-lock run NAME --ttl MS [--owner O] --members ... [--timeout MS] -- COMMAND [ARGS...]
//
// acquire prints "token=T" (exit 0) or, if another owner holds the lock,
// "held owner=O token=T remaining=MS" (exit 1). renew prints "token=T";
// release prints "released token=T"; status prints "held owner=O token=T
// remaining=MS" or "free". Exit codes: 0 ok, 1 definite failure (refused by
// the lock, e.g. held, expired, not the holder), 2 unknown outcome, 64 usage;
// `run` as documented in lock_run.h (its command's code, 3 = lock lost).
// Diagnostics go to stderr.
#include <cstdio>
#include <iostream>
#include <string>

#include "examples/lock/lock_result.h"
#include "examples/lock/lock_run.h"
#include "examples/lock/lock_state_machine.h"
#include "examples/lock/owner_name.h"
#include "node/cli.h"
#include "node/client.h"
#include "transport/event_loop.h"

namespace {

using namespace synod::node;
using synod::examples::LockStateMachine;
using synod::examples::ResultIs;

const char kProgram[] = "synod-lock";

std::string Usage() {
  return ServeUsage(kProgram) +
         "       synod-lock acquire NAME --owner O --ttl MS --members ... [--timeout MS]\n"
         "       synod-lock renew NAME --owner O --token T --members ... [--timeout MS]\n"
         "       synod-lock release NAME --owner O --token T --members ... [--timeout MS]\n"
         "       synod-lock status [NAME] --members ... [--timeout MS]\n" +
         MembersUsage(kProgram) +
         "       synod-lock transfer-leader ID --members ... [--timeout MS]\n"
         "       synod-lock run NAME --ttl MS [--owner O] --members ... [--timeout MS] -- "
         "COMMAND [ARGS...]\n";
}

int Fail(const std::string& problem) { return UsageError(kProgram, problem, Usage()); }

// Validates the lock name (the one positional word).
std::string NameFrom(const CliFlags& flags, const std::string& command, std::string& problem) {
  if (flags.positional.size() != 1) {
    problem = command + " takes exactly one lock NAME";
    return "";
  }
  if (!LockStateMachine::ValidName(flags.positional[0])) {
    problem =
        "bad lock name '" + flags.positional[0] + "' (1..128 printable characters, no spaces)";
    return "";
  }
  return flags.positional[0];
}

// Reads a required owner flag.
bool OwnerFrom(const CliFlags& flags, std::string& owner, std::string& problem) {
  owner = flags.Get("--owner");
  if (owner.empty()) {
    problem = "--owner is required";
    return false;
  }
  if (!LockStateMachine::ValidName(owner)) {
    problem = "bad owner '" + owner + "' (1..128 printable characters, no spaces)";
    return false;
  }
  return true;
}

bool TtlFrom(const CliFlags& flags, uint64_t& ttl, std::string& problem) {
  if (!ParseU64(flags.Get("--ttl"), ttl) || ttl == 0 || ttl > LockStateMachine::kMaxTtlMs) {
    problem = "--ttl must be 1.." + std::to_string(LockStateMachine::kMaxTtlMs) + " (ms)";
    return false;
  }
  return true;
}

// Runs one lock command and prints what the user sees; returns the exit code.
int Execute(const ClientOptions& options, const std::string& payload) {
  synod::transport::EventLoop loop;
  int exit_code = kExitUnknown;
  bool finished = false;
  {
    Client client(loop, options);
    client.Execute(payload, [&](ClientResult result) {
      finished = true;
      if (result.status == ClientResult::Status::kFailed) {
        std::cerr << kProgram << ": failed: " << result.error << "\n";
        exit_code = kExitFailed;
        return;
      }
      if (result.status == ClientResult::Status::kUnknown) {
        std::cerr << kProgram << ": outcome unknown (may or may not be applied): " << result.error
                  << "\n";
        exit_code = kExitUnknown;
        return;
      }
      const std::string& r = result.result;
      exit_code = kExitOk;
      if (ResultIs(r, "granted") || ResultIs(r, "renewed")) {
        std::printf("token=%llu\n", static_cast<unsigned long long>(
                                        synod::examples::ResultNumber(r, "token").value_or(0)));
      } else if (ResultIs(r, "held") && payload.rfind("acquire ", 0) == 0) {
        std::printf("%s\n", r.c_str());
        exit_code = kExitFailed;  // held by another owner: nothing changed
      } else if (r.rfind("error:", 0) == 0) {
        std::cerr << kProgram << ": " << r << "\n";
        exit_code = kExitFailed;  // refused by the state machine: nothing changed
      } else {
        std::printf("%s\n", r.c_str());
      }
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

int RunClient(const std::string& command, const CliFlags& flags) {
  std::set<std::string> known = {"--members", "--timeout"};
  if (command == "acquire") known.insert({"--owner", "--ttl"});
  if (command == "renew" || command == "release") known.insert({"--owner", "--token"});
  std::string unknown = flags.FirstUnknown(known);
  if (!unknown.empty()) return Fail("unknown option " + unknown + " for " + command);
  ClientOptions options;
  if (synod::Status s = ClientOptionsFromFlags(flags, options); !s.ok()) return Fail(s.message());
  std::string problem;
  if (command == "status" && flags.positional.empty()) return RunMemberStatus(kProgram, options);
  if (command == "transfer-leader") {
    if (flags.positional.size() != 1) return Fail("transfer-leader takes one replica id");
    return RunTransferLeader(kProgram, options, flags.positional[0], Usage());
  }
  std::string name = NameFrom(flags, command, problem);
  if (name.empty()) return Fail(problem);
  std::string payload;
  if (command == "status") {
    payload = LockStateMachine::StatusCommand(name);
  } else {
    std::string owner;
    if (!OwnerFrom(flags, owner, problem)) return Fail(problem);
    if (command == "acquire") {
      uint64_t ttl = 0;
      if (!TtlFrom(flags, ttl, problem)) return Fail(problem);
      payload = LockStateMachine::AcquireCommand(name, owner, ttl);
    } else {
      uint64_t token = 0;
      if (!ParseU64(flags.Get("--token"), token) || token == 0) {
        return Fail("--token must be a positive integer");
      }
      payload = command == "renew" ? LockStateMachine::RenewCommand(name, owner, token)
                                   : LockStateMachine::ReleaseCommand(name, owner, token);
    }
  }
  return Execute(options, payload);
}

int RunCommand(int argc, char** argv) {
  int separator = -1;
  for (int i = 2; i < argc; ++i) {
    if (std::string(argv[i]) == "--") {
      separator = i;
      break;
    }
  }
  if (separator < 0 || separator + 1 >= argc) return Fail("run needs -- COMMAND [ARGS...]");
  std::string problem;
  synod::Result<CliFlags> flags = ParseCliFlags(separator, argv, 2);
  if (!flags.ok()) return Fail(flags.status().message());
  std::string unknown = flags->FirstUnknown({"--members", "--timeout", "--owner", "--ttl"});
  if (!unknown.empty()) return Fail("unknown option " + unknown + " for run");
  synod::examples::LockRunOptions options;
  options.name = NameFrom(*flags, "run", problem);
  if (options.name.empty()) return Fail(problem);
  if (!TtlFrom(*flags, options.ttl_ms, problem)) return Fail(problem);
  if (flags->Get("--owner").empty()) {
    options.owner = synod::examples::UniqueOwnerName();
  } else if (!OwnerFrom(*flags, options.owner, problem)) {
    return Fail(problem);
  }
  if (synod::Status s = ClientOptionsFromFlags(*flags, options.client); !s.ok()) {
    return Fail(s.message());
  }
  for (int i = separator + 1; i < argc; ++i) options.command.emplace_back(argv[i]);
  return synod::examples::RunUnderLock(options, std::cerr);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return Fail("missing command");
  std::string command = argv[1];
  if (command == "run") return RunCommand(argc, argv);
  synod::Result<CliFlags> flags = ParseCliFlags(argc, argv, 2);
  if (!flags.ok()) return Fail(flags.status().message());
  if (command == "serve") {
    LockStateMachine machine;
    return RunServe(kProgram, *flags, machine, Usage());
  }
  if (command == "members") return RunMembers(kProgram, *flags, Usage());
  if (command == "acquire" || command == "renew" || command == "release" || command == "status" ||
      command == "transfer-leader") {
    return RunClient(command, *flags);
  }
  return Fail("unknown command '" + command + "'");
}
