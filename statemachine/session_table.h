// SessionTable: exactly-once client sessions (Raft dissertation §6.3).
//
// A session is opened through the log and gets the next id. Each command
// carries (session, sequence, lowest unanswered sequence); the table keeps the
// session's results from that mark up, so a retried command gets its stored
// result instead of a second application, whatever order retries arrive in.
// A session expires after its expiry (recorded in the log with its
// registration, else SessionOptions::expiry_ms) of log time without
// activity; a command on
// an unknown or expired session, or below the mark, is refused as expired and
// never applied. Every decision depends only on the log: identical on every
// replica and across restarts.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace synod::statemachine {

struct SessionOptions {
  // Idle log time after which a session expires, for registrations that do
  // not carry their own (entries written before registrations carried one).
  uint64_t expiry_ms = 10 * 60 * 1000;
  // The applier drops expired sessions from memory at every slot that is a
  // multiple of this (> 0). Slots, unlike a local counter, survive snapshots,
  // so every replica sweeps at the same points and their tables stay identical.
  uint64_t sweep_every_slots = 1024;
};

class SessionTable {
 public:
  // An empty table; the next registered session gets id 1.
  explicit SessionTable(SessionOptions options) : options_(options) {}

  // What to do with a command.
  struct Verdict {
    enum class Kind { kApply, kDuplicate, kExpired } kind = Kind::kExpired;
    std::string stored_result;  // kDuplicate
  };

  // Opens a session at `log_time` that expires after `expiry_ms` of idle log
  // time (0: options' expiry_ms); returns its id (1, 2, ...).
  uint64_t Register(uint64_t log_time, uint64_t expiry_ms = 0);
  // Decides about (session, sequence) at `log_time`; touches the session and
  // forgets its results below `lowest_unanswered`.
  Verdict Check(uint64_t session, uint64_t sequence, uint64_t lowest_unanswered, uint64_t log_time);
  // Records the result of an applied command (after Check said kApply).
  void Record(uint64_t session, uint64_t sequence, std::string result);
  // Drops sessions idle past the expiry (memory only: Check already treats
  // them as expired).
  void Sweep(uint64_t log_time);

  // Sessions held in memory (live ones and expired ones not yet swept).
  size_t size() const { return sessions_.size(); }

  // Serialization for snapshots: Encode is deterministic (same table, same
  // bytes). Decode replaces the table and returns true, or returns false and
  // leaves it unchanged if `bytes` are not a valid encoding. Decode with
  // `with_expiry` false reads the older encoding without per-session expiry
  // (its sessions get options' expiry_ms).
  std::string Encode() const;
  bool Decode(const std::string& bytes, bool with_expiry = true);

 private:
  struct Session {
    uint64_t last_active = 0;
    uint64_t expiry_ms = 0;
    uint64_t mark = 0;  // results below it are forgotten
    std::map<uint64_t, std::string> results;
  };
  bool Expired(const Session& session, uint64_t log_time) const {
    return log_time > session.last_active && log_time - session.last_active > session.expiry_ms;
  }

  SessionOptions options_;
  uint64_t next_id_ = 1;
  std::map<uint64_t, Session> sessions_;
};

}  // namespace synod::statemachine
