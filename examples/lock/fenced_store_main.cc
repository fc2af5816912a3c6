// synod-fenced-store: a tiny fenced resource for the lock example.
//
//   synod-fenced-store serve [--port P]        (127.0.0.1; P=0 or absent: any free port)
//   synod-fenced-store write --port P --lock NAME --token T --data D
//   synod-fenced-store read --port P --lock NAME
//
// serve prints "ready port=P" on stdout and serves the line protocol of
// fenced_store.h, one connection at a time, until killed; state is in
// memory only. write prints "ok" (exit 0) or "rejected: token T is older than
// N" (exit 1); read prints "token=T data=D" or "empty" (exit 0). A store that
// cannot be reached is exit 1 (nothing was written); a connection lost after
// sending is exit 2 (unknown); bad usage is exit 64. Diagnostics go to stderr.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>

#include "examples/lock/fenced_store.h"
#include "examples/lock/fenced_store_client.h"
#include "examples/lock/lock_state_machine.h"
#include "node/cli.h"

namespace {

using namespace synod::node;

const char kProgram[] = "synod-fenced-store";

std::string Usage() {
  return "usage: synod-fenced-store serve [--port P]\n"
         "       synod-fenced-store write --port P --lock NAME --token T --data D\n"
         "       synod-fenced-store read --port P --lock NAME\n";
}

int Fail(const std::string& problem) { return UsageError(kProgram, problem, Usage()); }

sockaddr_in Loopback(uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

int Serve(const CliFlags& flags) {
  std::string unknown = flags.FirstUnknown({"--port"});
  if (!unknown.empty()) return Fail("unknown option " + unknown + " for serve");
  if (!flags.positional.empty()) return Fail("serve takes no argument");
  uint64_t port = 0;
  if (!flags.Get("--port").empty() && (!ParseU64(flags.Get("--port"), port) || port > 65535)) {
    return Fail("--port must be 0..65535");
  }
  signal(SIGPIPE, SIG_IGN);
  int listener = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in address = Loopback(static_cast<uint16_t>(port));
  if (listener < 0 || bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      listen(listener, 64) != 0) {
    std::cerr << kProgram << ": cannot listen on 127.0.0.1:" << port << ": " << std::strerror(errno)
              << "\n";
    return kExitFailed;
  }
  socklen_t length = sizeof(address);
  getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length);
  std::printf("ready port=%u\n", ntohs(address.sin_port));
  std::fflush(stdout);
  synod::examples::FencedStore store;
  while (true) {
    int fd = accept(listener, nullptr, nullptr);
    if (fd < 0) continue;
    timeval timeout{5, 0};  // one slow client cannot stall the store for long
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    std::string buffer, line;
    while (synod::examples::ReadStoreLine(fd, buffer, line)) {
      std::string reply = store.Handle(line);
      std::cerr << kProgram << ": " << line << " -> " << reply << "\n";
      if (!synod::examples::SendAllToStore(fd, reply + "\n")) break;
    }
    close(fd);
  }
}

// Sends one request and prints the outcome; returns the exit code.
int Request(const std::string& command, const CliFlags& flags) {
  std::set<std::string> known = {"--port", "--lock"};
  if (command == "write") known.insert({"--token", "--data"});
  std::string unknown = flags.FirstUnknown(known);
  if (!unknown.empty()) return Fail("unknown option " + unknown + " for " + command);
  if (!flags.positional.empty()) return Fail(command + " takes no positional argument");
  uint64_t port = 0;
  if (!ParseU64(flags.Get("--port"), port) || port == 0 || port > 65535) {
    return Fail("--port must be 1..65535");
  }
  std::string lock = flags.Get("--lock");
  if (!synod::examples::LockStateMachine::ValidName(lock)) return Fail("--lock NAME is required");
  std::string request;
  uint64_t token = 0;
  if (command == "write") {
    if (!ParseU64(flags.Get("--token"), token) || token == 0) {
      return Fail("--token must be a positive integer");
    }
    if (flags.values.count("--data") == 0) return Fail("--data is required");
    std::string data = flags.Get("--data");
    if (data.find('\n') != std::string::npos) return Fail("--data must be one line");
    request = "WRITE " + lock + " " + std::to_string(token) + " " + data;
  } else {
    request = "READ " + lock;
  }
  std::string reply;
  synod::examples::StoreCall call =
      synod::examples::CallStore(static_cast<uint16_t>(port), request, reply, 10000);
  if (call == synod::examples::StoreCall::kNotConnected) {
    std::cerr << kProgram << ": cannot connect to 127.0.0.1:" << port << " (nothing written)\n";
    return kExitFailed;
  }
  if (call == synod::examples::StoreCall::kNoReply) {
    std::cerr << kProgram << ": no reply from the store (outcome unknown)\n";
    return kExitUnknown;
  }
  if (reply == "OK") {
    std::printf("ok\n");
    return kExitOk;
  }
  if (reply.rfind("REJECTED ", 0) == 0) {
    std::printf("rejected: token %llu is older than %s\n", static_cast<unsigned long long>(token),
                reply.substr(9).c_str());
    return kExitFailed;
  }
  if (reply == "EMPTY") {
    std::printf("empty\n");
    return kExitOk;
  }
  if (reply.rfind("VALUE ", 0) == 0) {
    std::string rest = reply.substr(6);
    size_t space = rest.find(' ');
    std::printf("token=%s data=%s\n", rest.substr(0, space).c_str(),
                space == std::string::npos ? "" : rest.substr(space + 1).c_str());
    return kExitOk;
  }
  std::cerr << kProgram << ": store refused the request: " << reply << "\n";
  return kExitFailed;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return Fail("missing command");
  std::string command = argv[1];
  synod::Result<CliFlags> flags = ParseCliFlags(argc, argv, 2);
  if (!flags.ok()) return Fail(flags.status().message());
  if (command == "serve") return Serve(*flags);
  if (command == "write" || command == "read") return Request(command, *flags);
  return Fail("unknown command '" + command + "'");
}
