// Election: a leader-election recipe on the replicated lock.
//
// Candidates campaign for one lock name; the one holding the lock leads.
// Every term of leadership is one grant of the lock, so it comes with the
// lock's fencing token, strictly higher than every earlier term's: work done
// for the leader should carry it to a fenced resource (FencedStore), which
// then refuses a deposed leader's late writes. Each campaign uses a fresh
// owner name "CANDIDATE.TAG.N": TAG is a UniqueOwnerName (host, pid, random
// bits) drawn once per Election object and N counts this object's campaigns.
// So a candidate that lost leadership gets a new, higher token when it wins
// again, never its old term back, and a second Election under the same
// CANDIDATE (another process, e.g. a supervisor's replacement for a paused
// worker) is another owner to the lock: it waits for the term to end and then
// gets a higher token, never the current term's.
//
// Leadership is held on a lease renewed every ttl/3. It is lost (callback
// once per term) when a renew is refused, or when no renew has succeeded for
// ttl - margin since its send time on this process's monotonic clock
// (margin = max(ttl/5, 20 ms)): by then the lease may be about to end in log
// time, so the leader must stop acting. (A lease never ends in real time
// earlier than ttl / (1 + ρ) after its send, ρ the monotonic clocks' rate
// error, docs/protocol.md "Log time"; the margin covers ρ up to about 10%.)
// After a loss, campaigning continues.
//
// Threading: all methods and callbacks on the EventLoop's thread. The
// election and the client must outlive all callbacks; destroy the election
// before the client and the loop.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "node/client.h"
#include "transport/event_loop.h"

namespace synod::examples {

struct ElectionOptions {
  std::string name;       // lock name of the election (LockStateMachine::ValidName)
  std::string candidate;  // this candidate (ValidName, at most Election::kMaxCandidateLength)
  uint64_t ttl_ms = 0;    // lease length, 1..LockStateMachine::kMaxTtlMs
};

// Who leads, as the log says at the moment of the query.
struct ElectionLeader {
  std::string owner;  // "CANDIDATE.TAG.N" (see the file comment)
  uint64_t token = 0;
  uint64_t remaining_ms = 0;  // lease left, in log time
};

class Election {
 public:
  // Longest candidate name: leaves room in a lock owner name (at most
  // LockStateMachine::kMaxNameLength) for ".TAG.N" with a host part in TAG.
  static constexpr size_t kMaxCandidateLength = 64;

  // Why `options` cannot be used (a bad name, a candidate that is not a
  // ValidName or longer than kMaxCandidateLength, a ttl out of range), or ""
  // if they can. Thread: any.
  static std::string OptionsProblem(const ElectionOptions& options);

  // `loop` and `client` must outlive the election. Throws
  // std::invalid_argument (with OptionsProblem's text) for unusable options.
  Election(transport::EventLoop& loop, node::Client& client, ElectionOptions options);
  ~Election();
  Election(const Election&) = delete;
  Election& operator=(const Election&) = delete;

  // Starts campaigning (no-op if already). `elected(token)` is called at the
  // start of every term this candidate wins; `lost(reason)` when that term
  // ends other than by Resign.
  void Campaign(std::function<void(uint64_t token)> elected,
                std::function<void(const std::string& reason)> lost);
  // Stops campaigning and, if leading, releases the lock; `done` afterwards
  // (also if the release could not be confirmed: the lease then just ends).
  // Not leading, it first waits for an acquire in flight and releases the
  // grant it brings; if an acquire's outcome stayed unknown, it asks who
  // leads and releases the lock if one of this object's owner names holds it.
  // Call it once.
  void Resign(std::function<void()> done);
  // Asks the log who leads: the leader, or nullopt if nobody (or no answer:
  // `ok` false).
  void Observe(std::function<void(bool ok, std::optional<ElectionLeader> leader)> done);

  // True while this candidate leads by its own conservative view of the lease.
  bool leading() const;
  // The current term's fencing token (0 when not leading).
  uint64_t token() const { return leading() ? token_ : 0; }

 private:
  // Owner name of the current campaign/term: "CANDIDATE.TAG.N".
  std::string Owner() const;
  // Sends one acquire; on a grant starts the term, otherwise RetryAcquire.
  void Acquire();
  // Acquires again after clamp(ttl/4, 50 ms, 1 s).
  void RetryAcquire();
  // Sends a renew every ttl/3 while leading (they may overlap).
  void ScheduleRenew();
  // Every 10 ms while leading: ends the term once leading() turns false.
  void Watch();
  // Ends the current term, reports `reason`, and campaigns on if campaigning.
  void Lose(const std::string& reason);
  // Resigning with no term and no acquire in flight: releases a grant an
  // unknown acquire may have won (found with Observe), then FinishResign.
  void ReleaseStrayGrant();
  // Releases `owner`'s grant `token`, then FinishResign whatever the answer.
  void ReleaseThenFinishResign(const std::string& owner, uint64_t token);
  // Calls Resign's `done` (once).
  void FinishResign();

  node::Client& client_;
  ElectionOptions options_;
  std::string tag_;  // TAG in the owner name, drawn once by the constructor
  std::chrono::milliseconds ttl_;
  std::chrono::milliseconds margin_;
  boost::asio::steady_timer renew_;
  boost::asio::steady_timer watch_;
  boost::asio::steady_timer retry_;
  std::function<void(uint64_t)> elected_;
  std::function<void(const std::string&)> lost_;
  bool campaigning_ = false;
  bool leading_ = false;
  uint64_t campaign_ = 0;  // N in the owner name; bumped per campaign/term
  uint64_t token_ = 0;
  bool acquiring_ = false;             // an acquire is in flight
  bool acquire_unknown_ = false;       // some acquire's outcome stayed unknown
  bool resigning_ = false;             // Resign was called
  std::function<void()> resign_done_;  // Resign's callback until it is called (may be empty)
  std::chrono::steady_clock::time_point last_ok_send_;
  // Guards callbacks of the client that may outlive this object's interest.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace synod::examples
