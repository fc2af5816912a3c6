// The Election recipe (see election.h): campaign by acquiring, lead while
// renewals succeed in time, lose by refusal or by the monotonic deadline.
#include "examples/lock/election.h"

#include <algorithm>
#include <stdexcept>

#include "examples/lock/lock_result.h"
#include "examples/lock/lock_state_machine.h"
#include "examples/lock/owner_name.h"

namespace synod::examples {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

std::string Election::OptionsProblem(const ElectionOptions& options) {
  if (!LockStateMachine::ValidName(options.name)) {
    return "bad election name (printable characters, no spaces, at most " +
           std::to_string(LockStateMachine::kMaxNameLength) + ")";
  }
  if (options.candidate.size() > kMaxCandidateLength ||
      !LockStateMachine::ValidName(options.candidate)) {
    return "bad candidate name (1.." + std::to_string(kMaxCandidateLength) +
           " printable characters, no spaces)";
  }
  if (options.ttl_ms == 0 || options.ttl_ms > LockStateMachine::kMaxTtlMs) {
    return "election ttl must be 1.." + std::to_string(LockStateMachine::kMaxTtlMs) + " ms";
  }
  return "";
}

namespace {

// `options`, or std::invalid_argument before anything is built if unusable.
const ElectionOptions& Checked(const ElectionOptions& options) {
  std::string problem = Election::OptionsProblem(options);
  if (!problem.empty()) throw std::invalid_argument("Election: " + problem);
  return options;
}

}  // namespace

Election::Election(transport::EventLoop& loop, node::Client& client, ElectionOptions options)
    : client_(client),
      options_(Checked(options)),
      // Room left for TAG in an owner name: the candidate, two dots and N
      // (a uint64_t, at most 20 digits).
      tag_(UniqueOwnerName(LockStateMachine::kMaxNameLength -
                           std::min(options_.candidate.size(), kMaxCandidateLength) - 2 - 20)),
      ttl_(milliseconds(options_.ttl_ms)),
      margin_(std::max<milliseconds>(ttl_ / 5, milliseconds(20))),
      renew_(loop.io()),
      watch_(loop.io()),
      retry_(loop.io()) {}

Election::~Election() { *alive_ = false; }

std::string Election::Owner() const {
  return options_.candidate + "." + tag_ + "." + std::to_string(campaign_);
}

bool Election::leading() const { return leading_ && Clock::now() < last_ok_send_ + ttl_ - margin_; }

void Election::Campaign(std::function<void(uint64_t)> elected,
                        std::function<void(const std::string&)> lost) {
  if (campaigning_) return;
  campaigning_ = true;
  elected_ = std::move(elected);
  lost_ = std::move(lost);
  ++campaign_;
  Acquire();
}

void Election::Acquire() {
  Clock::time_point sent = Clock::now();
  uint64_t campaign = campaign_;
  std::weak_ptr<bool> alive = alive_;
  acquiring_ = true;
  client_.Execute(
      LockStateMachine::AcquireCommand(options_.name, Owner(), options_.ttl_ms),
      [this, alive, sent, campaign, owner = Owner()](node::ClientResult result) {
        if (alive.expired()) return;
        acquiring_ = false;
        bool granted =
            result.status == node::ClientResult::Status::kOk && ResultIs(result.result, "granted");
        if (result.status == node::ClientResult::Status::kUnknown) acquire_unknown_ = true;
        if (resigning_) {  // resigned while this acquire was in flight
          if (granted) {
            ReleaseThenFinishResign(owner, ResultNumber(result.result, "token").value_or(0));
          } else {
            ReleaseStrayGrant();
          }
          return;
        }
        if (!campaigning_ || leading_ || campaign != campaign_) return;
        if (granted) {
          token_ = ResultNumber(result.result, "token").value_or(0);
          last_ok_send_ = sent;
          leading_ = true;
          ScheduleRenew();
          Watch();
          if (elected_) elected_(token_);
          return;
        }
        // Held by another candidate, or no answer: try again (an unknown
        // acquire retried under the same owner name returns the same grant).
        RetryAcquire();
      });
}

void Election::RetryAcquire() {
  retry_.expires_after(std::clamp<milliseconds>(ttl_ / 4, milliseconds(50), milliseconds(1000)));
  // Timer handlers may run after the election is gone (the loop drains
  // handlers that fired just before): they check `alive` first.
  retry_.async_wait(
      [this, alive = std::weak_ptr<bool>(alive_)](const boost::system::error_code& error) {
        if (!error && !alive.expired() && campaigning_ && !leading_) Acquire();
      });
}

void Election::ScheduleRenew() {
  renew_.expires_after(std::max<milliseconds>(ttl_ / 3, milliseconds(1)));
  renew_.async_wait(
      [this, alive = std::weak_ptr<bool>(alive_)](const boost::system::error_code& error) {
        if (error || alive.expired() || !leading_) return;
        Clock::time_point sent = Clock::now();
        uint64_t campaign = campaign_;
        client_.Execute(LockStateMachine::RenewCommand(options_.name, Owner(), token_),
                        [this, alive, sent, campaign](node::ClientResult result) {
                          if (alive.expired() || !leading_ || campaign != campaign_) return;
                          if (result.status != node::ClientResult::Status::kOk) return;
                          if (ResultIs(result.result, "renewed")) {
                            last_ok_send_ = std::max(last_ok_send_, sent);
                          } else {
                            Lose("renew refused: " + result.result);
                          }
                        });
        ScheduleRenew();
      });
}

void Election::Watch() {
  watch_.expires_after(milliseconds(10));
  watch_.async_wait(
      [this, alive = std::weak_ptr<bool>(alive_)](const boost::system::error_code& error) {
        if (error || alive.expired() || !leading_) return;
        if (!leading()) {
          Lose("no successful renew before the lease deadline");
          return;
        }
        Watch();
      });
}

void Election::Lose(const std::string& reason) {
  leading_ = false;
  renew_.cancel();
  watch_.cancel();
  ++campaign_;  // the next term needs a new owner name, hence a new token
  if (lost_) lost_(reason);
  if (campaigning_) RetryAcquire();
}

void Election::Resign(std::function<void()> done) {
  campaigning_ = false;
  retry_.cancel();
  resigning_ = true;
  resign_done_ = std::move(done);
  if (!leading_) {
    ++campaign_;
    // An acquire in flight may still be granted: its answer decides (Acquire).
    if (!acquiring_) ReleaseStrayGrant();
    return;
  }
  leading_ = false;
  renew_.cancel();
  watch_.cancel();
  std::string owner = Owner();
  ++campaign_;
  ReleaseThenFinishResign(owner, token_);
}

void Election::ReleaseStrayGrant() {
  if (!acquire_unknown_) {
    FinishResign();
    return;
  }
  std::string ours = options_.candidate + "." + tag_ + ".";
  Observe([this, ours](bool ok, std::optional<ElectionLeader> leader) {
    if (ok && leader && leader->owner.rfind(ours, 0) == 0) {
      ReleaseThenFinishResign(leader->owner, leader->token);
    } else {
      FinishResign();
    }
  });
}

void Election::ReleaseThenFinishResign(const std::string& owner, uint64_t token) {
  std::weak_ptr<bool> alive = alive_;
  client_.Execute(LockStateMachine::ReleaseCommand(options_.name, owner, token),
                  [this, alive](node::ClientResult) {
                    if (!alive.expired()) FinishResign();
                  });
}

void Election::FinishResign() {
  std::function<void()> done = std::move(resign_done_);
  resign_done_ = nullptr;
  if (done) done();
}

void Election::Observe(std::function<void(bool, std::optional<ElectionLeader>)> done) {
  std::weak_ptr<bool> alive = alive_;
  client_.Execute(LockStateMachine::StatusCommand(options_.name),
                  [alive, done = std::move(done)](node::ClientResult result) {
                    if (alive.expired()) return;
                    if (result.status != node::ClientResult::Status::kOk) {
                      done(false, std::nullopt);
                      return;
                    }
                    if (!ResultIs(result.result, "held")) {
                      done(ResultIs(result.result, "free"), std::nullopt);
                      return;
                    }
                    ElectionLeader leader;
                    size_t at = result.result.find("owner=");
                    size_t end = result.result.find(' ', at);
                    leader.owner = result.result.substr(at + 6, end - at - 6);
                    leader.token = ResultNumber(result.result, "token").value_or(0);
                    leader.remaining_ms = ResultNumber(result.result, "remaining").value_or(0);
                    done(true, leader);
                  });
}

}  // namespace synod::examples
