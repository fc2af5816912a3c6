// The `run` supervisor (see lock_run.h): one EventLoop thread drives the
// client, a 10 ms watch timer (child exit, lease deadline) and the renew timer.
#include "examples/lock/lock_run.h"

#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <optional>

#include "examples/lock/lock_result.h"
#include "examples/lock/lock_state_machine.h"
#include "node/cli.h"
#include "transport/event_loop.h"

namespace synod::examples {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// One `run`: owns the client, timers and the child process id. Loop thread only.
class Runner {
 public:
  Runner(const LockRunOptions& options, std::ostream& log, transport::EventLoop& loop)
      : options_(options),
        log_(log),
        client_(loop, options.client),
        ttl_(milliseconds(options.ttl_ms)),
        margin_(std::max<milliseconds>(ttl_ / 5, milliseconds(20))),
        watch_(loop.io()),
        renew_(loop.io()),
        retry_(loop.io()),
        signals_(loop.io(), SIGINT, SIGTERM) {}

  // Starts acquiring; the loop then runs until done().
  void Start() {
    WaitForSignal();
    Acquire();
  }

  // True once the exit code is decided.
  bool done() const { return exit_code_.has_value(); }
  // The decided exit code (only when done()).
  int exit_code() const { return *exit_code_; }

 private:
  // Arms the SIGINT/SIGTERM handler (again after each signal until done()).
  // The first signal stops the command or the acquiring and lets the release
  // finish; a second one exits at once with 128 + its number, killing the
  // command's process group, possibly leaving the lock held until its TTL.
  void WaitForSignal() {
    signals_.async_wait(
        [this, alive = Alive()](const boost::system::error_code& error, int signal) {
          if (error || !alive.lock() || done()) return;
          if (interrupted_by_) {
            log_ << "synod-lock: signal " << signal
                 << " again: exiting now; the lock may stay held until its TTL\n";
            if (child_ > 0) kill(-child_, SIGKILL);
            Finish(128 + signal);
            return;
          }
          log_ << "synod-lock: signal " << signal << ": stopping\n";
          interrupted_by_ = signal;
          if (child_ > 0) {
            StopChild();
          } else if (!releasing_) {
            // Still acquiring: no new attempt, but an acquire already sent may
            // yet be granted; that grant must be released, not left to its TTL.
            retry_.cancel();
            if (!acquiring_) StopAcquiring();
          }
          // While releasing: Release finishes once the lock has answered.
          if (!done()) WaitForSignal();
        });
  }

  // Sends one acquire; starts the child on a grant, otherwise retries. After
  // a signal, releases a grant instead, or gives up (StopAcquiring).
  void Acquire() {
    Clock::time_point sent = Clock::now();
    acquiring_ = true;
    client_.Execute(
        LockStateMachine::AcquireCommand(options_.name, options_.owner, options_.ttl_ms),
        [this, sent](node::ClientResult result) {
          acquiring_ = false;
          if (done()) return;
          bool ok = result.status == node::ClientResult::Status::kOk;
          if (result.status == node::ClientResult::Status::kUnknown) acquire_unknown_ = true;
          if (ok && ResultIs(result.result, "granted")) {
            token_ = ResultNumber(result.result, "token").value_or(0);
            if (interrupted_by_) {
              log_ << "synod-lock: acquired " << options_.name << " token=" << token_
                   << " after the signal; releasing it\n";
              Release(128 + interrupted_by_);
              return;
            }
            last_ok_send_ = sent;
            StartChild();
            return;
          }
          if (interrupted_by_) {
            StopAcquiring();
            return;
          }
          if (ok && !ResultIs(result.result, "held")) {
            log_ << "synod-lock: " << result.result << "\n";
            Finish(node::kExitFailed);
            return;
          }
          if (ok && !said_waiting_) {
            said_waiting_ = true;
            log_ << "synod-lock: " << options_.name << " " << result.result << "; waiting\n";
          }
          // Held by someone else, or no answer (an unknown acquire
          // is simply retried: the same owner re-acquiring gets
          // the same grant back).
          RetryAcquire();
        });
  }

  // After a signal, with no acquire in flight and no grant in hand: exits
  // 128 + N, first releasing the lock if an acquire whose outcome stayed
  // unknown turns out to have been granted (asked with `status`).
  void StopAcquiring() {
    if (!acquire_unknown_) {
      Finish(128 + interrupted_by_);
      return;
    }
    log_ << "synod-lock: an acquire's outcome is unknown; asking whether we hold " << options_.name
         << "\n";
    client_.Execute(
        LockStateMachine::StatusCommand(options_.name), [this](node::ClientResult result) {
          if (done()) return;
          if (result.status != node::ClientResult::Status::kOk) {
            log_ << "synod-lock: no answer (" << result.error
                 << "); a lease we may hold ends by itself\n";
          } else if (ResultIs(result.result, "held") &&
                     result.result.find(" owner=" + options_.owner + " ") != std::string::npos) {
            token_ = ResultNumber(result.result, "token").value_or(0);
            Release(128 + interrupted_by_);
            return;
          }
          Finish(128 + interrupted_by_);
        });
  }

  // Acquires again after clamp(ttl/4, 50 ms, 1 s).
  void RetryAcquire() {
    milliseconds pause = std::clamp<milliseconds>(ttl_ / 4, milliseconds(50), milliseconds(1000));
    retry_.expires_after(pause);
    retry_.async_wait([this, alive = Alive()](const boost::system::error_code& error) {
      if (!error && alive.lock() && !done() && !interrupted_by_) Acquire();
    });
  }

  // Forks and execs the command in its own process group with the token.
  void StartChild() {
    std::vector<char*> argv;
    for (const std::string& word : options_.command)
      argv.push_back(const_cast<char*>(word.c_str()));
    argv.push_back(nullptr);
    std::string token = std::to_string(token_);
    pid_t pid = fork();
    if (pid < 0) {
      log_ << "synod-lock: fork failed\n";
      Release(kExitCannotRun);
      return;
    }
    if (pid == 0) {
      setpgid(0, 0);
      setenv("SYNOD_FENCING_TOKEN", token.c_str(), 1);
      execvp(argv[0], argv.data());
      _exit(kExitCannotRun);
    }
    setpgid(pid, pid);  // also here: no race with our first kill()
    child_ = pid;
    log_ << "synod-lock: acquired " << options_.name << " token=" << token_ << ", started pid "
         << pid << "\n";
    ScheduleRenew();
    Watch();
  }

  // Sends a renew every ttl/3; a refusal means the lock is lost.
  void ScheduleRenew() {
    renew_.expires_after(std::max<milliseconds>(ttl_ / 3, milliseconds(1)));
    renew_.async_wait([this, alive = Alive()](const boost::system::error_code& error) {
      if (error || !alive.lock() || done() || stopping_) return;
      Clock::time_point sent = Clock::now();
      client_.Execute(LockStateMachine::RenewCommand(options_.name, options_.owner, token_),
                      [this, sent](node::ClientResult result) {
                        if (done() || stopping_) return;
                        if (result.status != node::ClientResult::Status::kOk) return;
                        if (ResultIs(result.result, "renewed")) {
                          last_ok_send_ = std::max(last_ok_send_, sent);
                        } else {
                          log_ << "synod-lock: renew refused: " << result.result << "\n";
                          lost_ = true;
                          StopChild();
                        }
                      });
      ScheduleRenew();  // renewals overlap if one is slow; each has its own send time
    });
  }

  // Every 10 ms: has the child ended, has our view of the lease run out?
  void Watch() {
    watch_.expires_after(milliseconds(10));
    watch_.async_wait([this, alive = Alive()](const boost::system::error_code& error) {
      if (error || !alive.lock() || done()) return;
      int status = 0;
      pid_t ended = waitpid(child_, &status, WNOHANG);
      if (ended == child_) {
        child_ = -1;
        renew_.cancel();
        int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        if (lost_) {
          log_ << "synod-lock: lock " << options_.name << " lost; command stopped\n";
          Finish(kExitLockLost);
        } else {
          Release(interrupted_by_ ? 128 + interrupted_by_ : code);
        }
        return;
      }
      Clock::time_point now = Clock::now();
      if (!stopping_ && now >= last_ok_send_ + ttl_ - margin_) {
        log_ << "synod-lock: no successful renew in time; stopping the command\n";
        lost_ = true;
        StopChild();
      }
      if (stopping_ && !killed_ && now >= last_ok_send_ + ttl_ - margin_ / 2) {
        kill(-child_, SIGKILL);
        killed_ = true;
      }
      Watch();
    });
  }

  // SIGTERM to the command's process group (once); Watch escalates to SIGKILL.
  void StopChild() {
    if (stopping_ || child_ <= 0) return;
    stopping_ = true;
    renew_.cancel();
    kill(-child_, SIGTERM);
    // If the lease is still ours for long, give the command until the point
    // where SIGKILL is due anyway (Watch enforces it).
  }

  // Releases the lock, then finishes with `code` whatever the answer (with
  // 128 + N instead if signal N came meanwhile).
  void Release(int code) {
    releasing_ = true;
    client_.Execute(LockStateMachine::ReleaseCommand(options_.name, options_.owner, token_),
                    [this, code](node::ClientResult result) {
                      if (result.status != node::ClientResult::Status::kOk ||
                          !ResultIs(result.result, "released")) {
                        log_ << "synod-lock: release did not confirm ("
                             << (result.status == node::ClientResult::Status::kOk ? result.result
                                                                                  : result.error)
                             << "); the lease ends by itself\n";
                      }
                      Finish(interrupted_by_ ? 128 + interrupted_by_ : code);
                    });
  }

  // Decides the exit code and cancels every timer so the loop can stop.
  void Finish(int code) {
    if (done()) return;
    exit_code_ = code;
    watch_.cancel();
    renew_.cancel();
    retry_.cancel();
    signals_.cancel();
  }

  // For timer handlers: one that fired just before the Runner went away may
  // still be run by the loop (as it drains) after it is gone.
  std::weak_ptr<bool> Alive() const { return alive_; }

  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  const LockRunOptions& options_;
  std::ostream& log_;
  node::Client client_;
  milliseconds ttl_;
  milliseconds margin_;
  boost::asio::steady_timer watch_;
  boost::asio::steady_timer renew_;
  boost::asio::steady_timer retry_;
  boost::asio::signal_set signals_;
  uint64_t token_ = 0;
  pid_t child_ = -1;
  Clock::time_point last_ok_send_;
  bool stopping_ = false;
  bool killed_ = false;
  bool lost_ = false;
  bool acquiring_ = false;        // an acquire is in flight
  bool acquire_unknown_ = false;  // some acquire's outcome stayed unknown
  bool said_waiting_ = false;     // "held ...; waiting" was logged
  bool releasing_ = false;        // a release is in flight; Finish follows it
  int interrupted_by_ = 0;        // the SIGINT/SIGTERM received, 0 if none
  std::optional<int> exit_code_;
};

}  // namespace

int RunUnderLock(const LockRunOptions& options, std::ostream& log) {
  transport::EventLoop loop;
  int code = node::kExitUnknown;
  {
    Runner runner(options, log, loop);
    runner.Start();
    loop.RunUntil([&] { return runner.done(); }, std::chrono::hours(24 * 365));
    if (runner.done()) code = runner.exit_code();
  }
  return code;
}

}  // namespace synod::examples
