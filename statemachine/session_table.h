// SessionTable: exactly-once client sessions (Raft dissertation §6.3).
//
// A session is opened through the log and gets the next id. Each command
// carries (session, sequence, lowest unanswered sequence); the table keeps the
// session's results from that mark up, so a retried command gets its stored
// result instead of a second application, whatever order retries arrive in.
// A session expires after its expiry (recorded in the log with its
// registration, else SessionOptions::expiry_ms) of log time without
// activity; a command on an unknown or expired session, or below the mark, is
// refused as expired and never applied. A stored result is either the StateMachine's answer or a
// failure (its Apply threw; the text is the exception's message): a retry gets
// the same one. Every decision depends only on the log: identical on every
// replica and across restarts.
//
// Limits (SessionLimits) travel in the log, in each registration: the
// proposing leader writes its own, so replicas whose local settings differ
// still decide alike. A registration is refused while the live sessions number
// at least its max_sessions. A session keeps at most max_results
// unacknowledged results, and stops taking new ones once they weigh
// max_result_bytes or more (each weighs its size plus kResultWeight, so the
// session holds at most max_result_bytes plus one result): a command that
// would store one more is refused. A refused
// (session, sequence) is never applied, whatever copies of it arrive later:
// the session remembers its refused sequence numbers at or above the mark
// (up to kRefusedKept of them; beyond that, further refusals widen a range
// from the lowest to the highest of them, which is cleared only once the mark
// passes its top). 0 means no limit (registrations written before limits
// existed, or before the byte limit existed).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>

namespace synod::statemachine {

// Encodings of a table (see SessionTable::Encode/Decode).
enum class SessionEncoding : uint8_t {
  kResultsOnly,  // each stored result is its bytes only (every one an answer)
  kWithStatus,   // each stored result is a status byte (0 answer, 1 failure), then its bytes
  kWithLimits,   // kWithStatus, and each session's result limit and refused range
  kWithBytes,    // kWithLimits, and each session's byte limit and refused sequence numbers
  kWithExpiry,   // kWithBytes, and each session's expiry
};

struct SessionOptions {
  // Idle log time after which a session expires, for registrations that do
  // not carry their own (entries written before registrations carried one).
  uint64_t expiry_ms = 10 * 60 * 1000;
  // The applier drops expired sessions from memory at every slot that is a
  // multiple of this (> 0). Slots, unlike a local counter, survive snapshots,
  // so every replica sweeps at the same points and their tables stay identical.
  uint64_t sweep_every_slots = 1024;
};

// Limits a registration carries (0 = none).
struct SessionLimits {
  uint64_t max_sessions = 0;      // live sessions at which a registration is refused
  uint64_t max_results = 0;       // unacknowledged results the new session may hold
  uint64_t max_result_bytes = 0;  // their bytes at which the new session takes no more
};

class SessionTable {
 public:
  // Refused sequence numbers a session remembers one by one (part of every
  // replica's decisions: changing it changes which commands are refused).
  static constexpr size_t kRefusedKept = 256;
  // Bytes a stored result weighs beyond its own size (its bookkeeping), for
  // max_result_bytes; part of every replica's decisions like kRefusedKept.
  static constexpr uint64_t kResultWeight = 64;

  // An empty table; the next registered session gets id 1.
  explicit SessionTable(SessionOptions options) : options_(options) {}

  // What to do with a command.
  struct Verdict {
    // kTooManyResults: refused, never applied (see the limits above).
    enum class Kind { kApply, kDuplicate, kExpired, kTooManyResults } kind = Kind::kExpired;
    std::string stored_result;   // kDuplicate
    bool stored_failed = false;  // kDuplicate: the stored result is a failure
  };

  // Opens a session at `log_time` with `limits` that expires after
  // `expiry_ms` of idle log time (0: options' expiry_ms); returns its id
  // (1, 2, ...), or 0 (nothing changed but dropping expired sessions) if at
  // least limits.max_sessions sessions are live. O(log n) plus O(log n) per
  // expired session dropped.
  uint64_t Register(uint64_t log_time, SessionLimits limits = {}, uint64_t expiry_ms = 0);
  // Decides about (session, sequence) at `log_time`; touches the session and
  // forgets its results below `lowest_unanswered`.
  Verdict Check(uint64_t session, uint64_t sequence, uint64_t lowest_unanswered, uint64_t log_time);
  // Records the result of an applied command (after Check said kApply);
  // `failed`: it is a failure (Apply threw) whose message is `result`.
  void Record(uint64_t session, uint64_t sequence, std::string result, bool failed = false);
  // Drops sessions idle past the expiry (memory only: Check already treats
  // them as expired). Looks only at the expired sessions and one more.
  void Sweep(uint64_t log_time);

  // Sessions held in memory (live ones and expired ones not yet swept).
  size_t size() const { return sessions_.size(); }
  // Sessions expiry has looked at so far (memory only; for tests of its cost).
  uint64_t examined() const { return examined_; }

  // Serialization for snapshots: Encode is deterministic (same table, same
  // bytes) and writes SessionEncoding::kWithExpiry. Decode replaces the table
  // and returns true, or returns false and leaves it unchanged if `bytes` are
  // not a valid table in `encoding` (kResultsOnly, kWithStatus, kWithLimits,
  // kWithBytes: what older snapshots hold; their sessions get options'
  // expiry_ms, those of the first three no byte limit, the first two no
  // limits at all).
  std::string Encode() const;
  bool Decode(const std::string& bytes, SessionEncoding encoding = SessionEncoding::kWithExpiry);

 private:
  struct StoredResult {
    std::string bytes;
    bool failed = false;
  };
  struct Session {
    uint64_t last_active = 0;
    uint64_t expiry_ms = 0;         // idle log time after which it expires
    uint64_t mark = 0;              // results below it are forgotten
    uint64_t max_results = 0;       // 0: no limit
    uint64_t max_result_bytes = 0;  // 0: no limit
    uint64_t held_bytes = 0;        // weight of `results` (derived)
    // Refused sequence numbers: those in `refused` (each >= mark, at most
    // kRefusedKept), and those in [refused_from, refused_to] (the overflow;
    // empty when refused_from > refused_to, canonically 1, 0; cleared once
    // the mark passes refused_to).
    std::set<uint64_t> refused;
    uint64_t refused_from = 1;
    uint64_t refused_to = 0;
    std::map<uint64_t, StoredResult> results;
  };
  // The log time after which `session` is expired: last_active + expiry_ms,
  // saturating (a deadline past the largest log time never comes).
  static uint64_t Deadline(const Session& session) {
    return session.expiry_ms > UINT64_MAX - session.last_active
               ? UINT64_MAX
               : session.last_active + session.expiry_ms;
  }
  static bool Expired(const Session& session, uint64_t log_time) {
    return log_time > Deadline(session);
  }
  bool Full(const Session& session) const;
  void Refuse(Session& session, uint64_t sequence);
  // Erases a session from the table and from the deadline index.
  void Erase(std::map<uint64_t, Session>::iterator it);
  // Rebuilds by_deadline_ from sessions_.
  void Reindex();

  SessionOptions options_;
  uint64_t next_id_ = 1;
  std::map<uint64_t, Session> sessions_;
  // (Deadline, id) of every session in sessions_, earliest first (derived:
  // rebuilt on Decode), so expiry finds the expired sessions without a scan
  // whatever each session's own expiry.
  std::set<std::pair<uint64_t, uint64_t>> by_deadline_;
  uint64_t examined_ = 0;
};

}  // namespace synod::statemachine
