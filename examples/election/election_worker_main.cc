// synod-election-worker: the election example. Run several; exactly one (the
// elected leader) runs a periodic job, and every job run writes to the fenced
// store with the leader's fencing token, so a deposed (e.g. paused) leader's
// late write is refused.
//
//   synod-election-worker --id W --members ... --store-port P
//                         [--election NAME] [--ttl MS] [--every MS] [--timeout MS]
//
// Prints one line per event on stdout:
//   "leader OWNER token=T" | "leader none" | "leader unknown"
//                                           first: who led when it started
//                                           (then it campaigns)
//   "elected token=T"                       this worker leads, term T
//   "job N token=T ok"                      job run N written to the store
//   "job N token=T rejected: older than H"  the store fenced it off
//   "job N token=T unknown"                 no reply from the store
//   "lost: REASON"                          leadership ended (campaigns again)
//   "resigning"                             SIGTERM/SIGINT taken (see below)
// Before writing, the job checks that the lease is still ours; a write that a
// pause delays past that check is what the store's fencing catches. SIGTERM
// or SIGINT resigns (releasing the lock, also one that an acquire in flight
// wins) and exits 0; usage errors exit 64.
#include <signal.h>

#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdio>
#include <iostream>
#include <memory>

#include "examples/lock/election.h"
#include "examples/lock/fenced_store_client.h"
#include "examples/lock/lock_state_machine.h"
#include "node/cli.h"
#include "node/client.h"
#include "transport/event_loop.h"

namespace {

using namespace synod::node;
using synod::examples::LockStateMachine;

const char kProgram[] = "synod-election-worker";

std::string Usage() {
  return "usage: synod-election-worker --id W --members ID=HOST:PORT,... --store-port P\n"
         "           [--election NAME] [--ttl MS] [--every MS] [--timeout MS]\n";
}

int Fail(const std::string& problem) { return UsageError(kProgram, problem, Usage()); }

void Say(const std::string& line) {
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  std::string problem;
  std::optional<CliFlags> flags = ParseCliFlags(argc, argv, 1, problem);
  if (!flags) return Fail(problem);
  std::string unknown = flags->FirstUnknown(
      {"--id", "--members", "--store-port", "--election", "--ttl", "--every", "--timeout"});
  if (!unknown.empty()) return Fail("unknown option " + unknown);
  if (!flags->positional.empty()) return Fail("no positional arguments expected");
  synod::examples::ElectionOptions options;
  options.candidate = flags->Get("--id");
  if (options.candidate.size() > synod::examples::Election::kMaxCandidateLength ||
      !LockStateMachine::ValidName(options.candidate)) {
    return Fail("--id W is required (1.." +
                std::to_string(synod::examples::Election::kMaxCandidateLength) +
                " printable characters, no spaces)");
  }
  options.name = flags->Get("--election").empty() ? "leader" : flags->Get("--election");
  if (!LockStateMachine::ValidName(options.name)) return Fail("bad --election name");
  options.ttl_ms = 2000;
  if (!flags->Get("--ttl").empty() &&
      (!ParseU64(flags->Get("--ttl"), options.ttl_ms) || options.ttl_ms == 0 ||
       options.ttl_ms > LockStateMachine::kMaxTtlMs)) {
    return Fail("--ttl must be 1.." + std::to_string(LockStateMachine::kMaxTtlMs));
  }
  uint64_t every = 200, port = 0;
  if (!flags->Get("--every").empty() &&
      (!ParseU64(flags->Get("--every"), every) || every == 0 || every > 3600000)) {
    return Fail("--every must be 1..3600000 (ms)");
  }
  if (!ParseU64(flags->Get("--store-port"), port) || port == 0 || port > 65535) {
    return Fail("--store-port must be 1..65535");
  }
  ClientOptions client_options;
  problem = ClientOptionsFromFlags(*flags, client_options);
  if (!problem.empty()) return Fail(problem);

  synod::transport::EventLoop loop;
  bool finished = false;
  {
    Client client(loop, client_options);
    synod::examples::Election election(loop, client, options);
    boost::asio::steady_timer job_timer(loop.io());
    boost::asio::signal_set signals(loop.io(), SIGINT, SIGTERM);
    uint64_t runs = 0;
    std::function<void()> schedule_job = [&] {
      job_timer.expires_after(std::chrono::milliseconds(every));
      job_timer.async_wait([&](const boost::system::error_code& error) {
        if (error) return;
        uint64_t token = election.token();
        if (token == 0) return;  // not leading any more: the job stops
        ++runs;
        std::string reply;
        std::string prefix = "job " + std::to_string(runs) + " token=" + std::to_string(token);
        auto call =
            synod::examples::CallStore(static_cast<uint16_t>(port),
                                       "WRITE " + options.name + " " + std::to_string(token) + " " +
                                           options.candidate + " run " + std::to_string(runs),
                                       reply, 2000);
        if (call != synod::examples::StoreCall::kReplied) {
          Say(prefix + " unknown");
        } else if (reply == "OK") {
          Say(prefix + " ok");
        } else if (reply.rfind("REJECTED ", 0) == 0) {
          Say(prefix + " rejected: older than " + reply.substr(9));
        } else {
          Say(prefix + " error: " + reply);
        }
        schedule_job();
      });
    };
    bool resigning = false;
    election.Observe([&](bool ok, std::optional<synod::examples::ElectionLeader> leader) {
      Say(!ok      ? "leader unknown"
          : leader ? "leader " + leader->owner + " token=" + std::to_string(leader->token)
                   : "leader none");
      if (resigning) return;
      election.Campaign(
          [&](uint64_t token) {
            Say("elected token=" + std::to_string(token));
            schedule_job();
          },
          [&](const std::string& reason) {
            job_timer.cancel();
            Say("lost: " + reason);
          });
    });
    signals.async_wait([&](const boost::system::error_code& error, int) {
      if (error) return;
      resigning = true;
      Say("resigning");
      job_timer.cancel();
      election.Resign([&] { finished = true; });
    });
    loop.RunUntil([&] { return finished; }, std::chrono::hours(24 * 365));
  }
  return kExitOk;
}
