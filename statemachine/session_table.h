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
// at least its max_sessions. A session keeps at most its max_results
// unacknowledged results: a command that would store one more is refused, and
// so is every sequence number from the lowest to the highest refused one that
// has no stored result, until the client acknowledges past them (the mark
// passes the highest). A refused command is therefore never applied, whatever
// copies of it arrive later. 0 means no limit (registrations written before
// limits existed).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace synod::statemachine {

// Encodings of a table (see SessionTable::Encode/Decode).
enum class SessionEncoding : uint8_t {
  kResultsOnly,  // each stored result is its bytes only (every one an answer)
  kWithStatus,   // each stored result is a status byte (0 answer, 1 failure), then its bytes
  kWithLimits,   // kWithStatus, and each session's result limit and refused range
  kWithExpiry,   // kWithLimits, and each session's expiry
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
  uint64_t max_sessions = 0;  // live sessions at which a registration is refused
  uint64_t max_results = 0;   // unacknowledged results the new session may hold
};

class SessionTable {
 public:
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
  // least limits.max_sessions sessions are live.
  uint64_t Register(uint64_t log_time, SessionLimits limits = {}, uint64_t expiry_ms = 0);
  // Decides about (session, sequence) at `log_time`; touches the session and
  // forgets its results below `lowest_unanswered`.
  Verdict Check(uint64_t session, uint64_t sequence, uint64_t lowest_unanswered, uint64_t log_time);
  // Records the result of an applied command (after Check said kApply);
  // `failed`: it is a failure (Apply threw) whose message is `result`.
  void Record(uint64_t session, uint64_t sequence, std::string result, bool failed = false);
  // Drops sessions idle past the expiry (memory only: Check already treats
  // them as expired).
  void Sweep(uint64_t log_time);

  // Sessions held in memory (live ones and expired ones not yet swept).
  size_t size() const { return sessions_.size(); }

  // Serialization for snapshots: Encode is deterministic (same table, same
  // bytes) and writes SessionEncoding::kWithExpiry. Decode replaces the table
  // and returns true, or returns false and leaves it unchanged if `bytes` are
  // not a valid table in `encoding` (kResultsOnly, kWithStatus, kWithLimits:
  // what older snapshots hold; their sessions get options' expiry_ms, and
  // those of the first two no limits).
  std::string Encode() const;
  bool Decode(const std::string& bytes, SessionEncoding encoding = SessionEncoding::kWithExpiry);

 private:
  struct StoredResult {
    std::string bytes;
    bool failed = false;
  };
  struct Session {
    uint64_t last_active = 0;
    uint64_t expiry_ms = 0;    // idle log time after which it expires
    uint64_t mark = 0;         // results below it are forgotten
    uint64_t max_results = 0;  // 0: no limit
    // Refused sequence numbers lie in [refused_from, refused_to]; empty when
    // refused_from > refused_to (canonically 1, 0). Cleared once the mark
    // passes refused_to.
    uint64_t refused_from = 1;
    uint64_t refused_to = 0;
    std::map<uint64_t, StoredResult> results;
  };
  bool Expired(const Session& session, uint64_t log_time) const {
    return log_time > session.last_active && log_time - session.last_active > session.expiry_ms;
  }

  SessionOptions options_;
  uint64_t next_id_ = 1;
  std::map<uint64_t, Session> sessions_;
  // Log time of the last Sweep (memory only, not encoded): sweeping again at
  // the same time cannot drop anything, so a full table refusing a flood of
  // registrations is swept once per log-time step.
  uint64_t swept_at_ = 0;
  bool swept_ = false;
};

}  // namespace synod::statemachine
