// synod-election-worker: the election example. Run several; exactly one (the
// elected leader) runs a periodic job, and every job run writes to the fenced
// store with the leader's fencing token, so a deposed (e.g. paused) leader's
// late write is refused.
//
//   synod-election-worker --id W --members ... --store-port P
//                         [--election NAME] [--ttl MS] [--every MS] [--timeout MS]
//                         [--job-key K --counter-members ... [--work-ms MS]]
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
// pause delays past that check is what the store's fencing catches.
//
// With --job-key K the job is instead one idempotent job, run once per term:
// `every` ms after being elected the leader checks that it still leads, then
// works for --work-ms (not interrupted if leadership ends meanwhile, like a
// job that cannot stop halfway), then applies the job's effect, "add 1 key K"
// on the synod-counter cluster at --counter-members, through its own client
// session (exactly-once retries); the counter applies a key once, whoever
// sends it. Then it writes the outcome to the store with the term's token:
//   "job N token=T key=K started"           leadership checked, work begins
//   "job N token=T key=K counter=V applied" the effect was applied now
//   "job N token=T key=K counter=V duplicate"  key K had been applied before
//   "job N token=T key=K counter unknown|failed: ..."  no answer / refused
// followed by the store line as above. So two workers that both believe they
// lead (one paused past its lease) both run job K, and its effect lands once.
// SIGTERM
// or SIGINT resigns (releasing the lock, also one that an acquire in flight
// wins) and exits 0; usage errors exit 64.
#include <signal.h>

#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdio>
#include <iostream>
#include <memory>

#include "examples/counter/counter_state_machine.h"
#include "examples/lock/election.h"
#include "examples/lock/fenced_store_client.h"
#include "examples/lock/lock_state_machine.h"
#include "node/cli.h"
#include "node/client.h"
#include "transport/event_loop.h"

namespace {

using namespace synod::node;
using synod::examples::CounterStateMachine;
using synod::examples::LockStateMachine;

const char kProgram[] = "synod-election-worker";

std::string Usage() {
  return "usage: synod-election-worker --id W --members ID=HOST:PORT,... --store-port P\n"
         "           [--election NAME] [--ttl MS] [--every MS] [--timeout MS]\n"
         "           [--job-key K --counter-members ID=HOST:PORT,... [--work-ms MS]]\n";
}

int Fail(const std::string& problem) { return UsageError(kProgram, problem, Usage()); }

void Say(const std::string& line) {
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  synod::Result<CliFlags> flags = ParseCliFlags(argc, argv, 1);
  if (!flags.ok()) return Fail(flags.status().message());
  std::string unknown =
      flags->FirstUnknown({"--id", "--members", "--store-port", "--election", "--ttl", "--every",
                           "--timeout", "--job-key", "--counter-members", "--work-ms"});
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
  if (synod::Status s = ClientOptionsFromFlags(*flags, client_options); !s.ok()) {
    return Fail(s.message());
  }
  // The keyed job (--job-key): its key, the counter cluster, its work time.
  std::string job_key = flags->Get("--job-key");
  bool keyed = flags->values.count("--job-key") > 0;
  uint64_t work_ms = 0;
  ClientOptions counter_options;
  if (keyed != (flags->values.count("--counter-members") > 0)) {
    return Fail("--job-key and --counter-members go together");
  }
  if (!keyed && flags->values.count("--work-ms")) return Fail("--work-ms needs --job-key");
  if (keyed) {
    if (!CounterStateMachine::ValidKey(job_key)) {
      return Fail("--job-key takes 1.." + std::to_string(CounterStateMachine::kMaxKeyLength) +
                  " printable characters, no spaces");
    }
    if (!flags->Get("--work-ms").empty() &&
        (!ParseU64(flags->Get("--work-ms"), work_ms) || work_ms > 3600000)) {
      return Fail("--work-ms must be 0..3600000");
    }
    CliFlags counter_flags = *flags;
    counter_flags.values["--members"] = flags->Get("--counter-members");
    if (synod::Status s = ClientOptionsFromFlags(counter_flags, counter_options); !s.ok()) {
      return Fail("--counter-members: " + s.message());
    }
  }

  synod::transport::EventLoop loop;
  bool finished = false;
  {
    Client client(loop, client_options);
    // The counter cluster's client (--job-key only); one session for its life.
    std::unique_ptr<Client> counter_client;
    if (keyed) counter_client = std::make_unique<Client>(loop, counter_options);
    synod::examples::Election election(loop, client, options);
    boost::asio::steady_timer job_timer(loop.io());
    boost::asio::signal_set signals(loop.io(), SIGINT, SIGTERM);
    uint64_t runs = 0;
    // Writes `data` to the store with `token`; prints the outcome after `prefix`.
    auto write_store = [&](const std::string& prefix, uint64_t token, const std::string& data) {
      std::string reply;
      auto call = synod::examples::CallStore(
          static_cast<uint16_t>(port),
          "WRITE " + options.name + " " + std::to_string(token) + " " + data, reply, 2000);
      if (call != synod::examples::StoreCall::kReplied) {
        Say(prefix + " unknown");
      } else if (reply == "OK") {
        Say(prefix + " ok");
      } else if (reply.rfind("REJECTED ", 0) == 0) {
        Say(prefix + " rejected: older than " + reply.substr(9));
      } else {
        Say(prefix + " error: " + reply);
      }
    };
    // The keyed job's effect, after its work: "add 1 key K" on the counter
    // cluster, then the outcome to the store with the term's `token`.
    auto apply_keyed_job = [&](const std::string& prefix, uint64_t token, uint64_t run) {
      counter_client->Execute(
          CounterStateMachine::AddCommand(1, job_key),
          [&write_store, prefix, token, run, &options, &job_key](synod::node::ClientResult r) {
            std::string keyed_prefix = prefix + " key=" + job_key;
            if (r.status == synod::node::ClientResult::Status::kUnknown) {
              Say(keyed_prefix + " counter unknown: " + r.error);
              return;
            }
            if (r.status != synod::node::ClientResult::Status::kOk ||
                r.result.rfind("error", 0) == 0) {
              Say(keyed_prefix + " counter failed: " + (r.error.empty() ? r.result : r.error));
              return;
            }
            bool duplicate = r.result.find(" duplicate") != std::string::npos;
            std::string value = r.result.substr(0, r.result.find(' '));
            std::string outcome = "counter=" + value + (duplicate ? " duplicate" : " applied");
            Say(keyed_prefix + " " + outcome);
            write_store(prefix, token,
                        options.candidate + " run " + std::to_string(run) + " key=" + job_key +
                            " " + outcome);
          });
    };
    std::function<void()> schedule_job = [&] {
      job_timer.expires_after(std::chrono::milliseconds(every));
      job_timer.async_wait([&](const boost::system::error_code& error) {
        if (error) return;
        uint64_t token = election.token();
        if (token == 0) return;  // not leading any more: the job stops
        ++runs;
        std::string prefix = "job " + std::to_string(runs) + " token=" + std::to_string(token);
        if (keyed) {
          // Once per term; the work goes on even if the term ends meanwhile
          // (its own timer, kept alive by its handler, so a later term's job
          // does not cancel it).
          Say(prefix + " key=" + job_key + " started");
          auto work = std::make_shared<boost::asio::steady_timer>(
              loop.io(), std::chrono::milliseconds(work_ms));
          work->async_wait([&apply_keyed_job, work, prefix, token,
                            run = runs](const boost::system::error_code& e) {
            if (!e) apply_keyed_job(prefix, token, run);
          });
          return;
        }
        write_store(prefix, token, options.candidate + " run " + std::to_string(runs));
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
