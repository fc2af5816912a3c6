// Implementation of the replicated lock: command parsing, lease decisions on
// log time, and the snapshot format ("synod-lock-v1" then one line per lock).
#include "examples/lock/lock_state_machine.h"

#include <charconv>
#include <vector>

namespace synod::examples {

namespace {

constexpr std::string_view kSnapshotMagic = "synod-lock-v1";

// Parses a whole decimal uint64 (no sign, no spaces).
bool ParseU64(std::string_view text, uint64_t& out) {
  if (text.empty()) return false;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), out);
  return error == std::errc() && end == text.data() + text.size();
}

// Splits on single spaces; empty fields are kept (and then rejected as names).
std::vector<std::string> Split(std::string_view text) {
  std::vector<std::string> fields;
  size_t start = 0;
  while (true) {
    size_t space = text.find(' ', start);
    if (space == std::string_view::npos) {
      fields.emplace_back(text.substr(start));
      return fields;
    }
    fields.emplace_back(text.substr(start, space - start));
    start = space + 1;
  }
}

std::string HeldResult(const LockStateMachine::Lock& lock, uint64_t now) {
  return "held owner=" + lock.owner + " token=" + std::to_string(lock.last_token) +
         " remaining=" + std::to_string(lock.expires_ms - now);
}

}  // namespace

bool LockStateMachine::ValidName(std::string_view text) {
  if (text.empty() || text.size() > kMaxNameLength) return false;
  for (char c : text) {
    if (c <= ' ' || c > '~') return false;
  }
  return true;
}

std::string LockStateMachine::AcquireCommand(const std::string& name, const std::string& owner,
                                             uint64_t ttl_ms) {
  return "acquire " + name + " " + owner + " " + std::to_string(ttl_ms);
}

std::string LockStateMachine::RenewCommand(const std::string& name, const std::string& owner,
                                           uint64_t token) {
  return "renew " + name + " " + owner + " " + std::to_string(token);
}

std::string LockStateMachine::ReleaseCommand(const std::string& name, const std::string& owner,
                                             uint64_t token) {
  return "release " + name + " " + owner + " " + std::to_string(token);
}

std::string LockStateMachine::StatusCommand(const std::string& name) { return "status " + name; }

std::string LockStateMachine::Apply(std::string_view command,
                                    const statemachine::ApplyContext& context) {
  std::vector<std::string> f = Split(command);
  const std::string& verb = f[0];
  const uint64_t now = context.log_time_ms;
  if (verb == "status") {
    if (f.size() != 2) return "error: status takes NAME";
    if (!ValidName(f[1])) return "error: bad lock name";
    return Status(f[1], now);
  }
  if (verb != "acquire" && verb != "renew" && verb != "release") {
    return "error: unknown command";
  }
  if (f.size() != 4)
    return "error: " + verb + " takes NAME OWNER " + (verb == "acquire" ? "TTL" : "TOKEN");
  if (!ValidName(f[1])) return "error: bad lock name";
  if (!ValidName(f[2])) return "error: bad owner name";
  uint64_t number = 0;
  if (!ParseU64(f[3], number)) return "error: bad number '" + f[3] + "'";
  if (verb == "acquire") {
    if (number == 0 || number > kMaxTtlMs) {
      return "error: ttl must be 1.." + std::to_string(kMaxTtlMs) + " ms";
    }
    return Acquire(f[1], f[2], number, now);
  }
  if (verb == "renew") return Renew(f[1], f[2], number, now);
  return Release(f[1], f[2], number, now);
}

std::string LockStateMachine::Acquire(const std::string& name, const std::string& owner,
                                      uint64_t ttl, uint64_t now) {
  Lock& lock = locks_[name];
  bool held = !lock.owner.empty() && now < lock.expires_ms;
  if (held && lock.owner != owner) return HeldResult(lock, now);
  if (!held) {
    ++lock.last_token;  // a new term of ownership: strictly higher token
    lock.owner = owner;
  }
  lock.expires_ms = now + ttl;
  lock.ttl_ms = ttl;
  return "granted token=" + std::to_string(lock.last_token) + " ttl=" + std::to_string(ttl);
}

std::string LockStateMachine::Renew(const std::string& name, const std::string& owner,
                                    uint64_t token, uint64_t now) {
  auto it = locks_.find(name);
  if (it == locks_.end() || it->second.owner.empty()) return "error: lock is free";
  Lock& lock = it->second;
  if (lock.owner != owner || lock.last_token != token) return "error: not the holder";
  if (now >= lock.expires_ms) {
    return "error: lease expired " + std::to_string(now - lock.expires_ms) + " ms ago";
  }
  lock.expires_ms = now + lock.ttl_ms;
  return "renewed token=" + std::to_string(token) + " ttl=" + std::to_string(lock.ttl_ms);
}

std::string LockStateMachine::Release(const std::string& name, const std::string& owner,
                                      uint64_t token, uint64_t now) {
  auto it = locks_.find(name);
  if (it == locks_.end() || it->second.owner.empty()) return "error: lock is free";
  Lock& lock = it->second;
  if (lock.owner != owner || lock.last_token != token) return "error: not the holder";
  // Too late: the lock is free already (status says so, any acquire gets the
  // next token), and the holder must learn that its lease ended before its
  // release, so this is a refusal, and a refusal changes nothing.
  if (now >= lock.expires_ms) return "error: lease had already expired";
  lock.owner.clear();
  lock.expires_ms = 0;
  lock.ttl_ms = 0;
  return "released token=" + std::to_string(token);
}

std::string LockStateMachine::Status(const std::string& name, uint64_t now) const {
  auto it = locks_.find(name);
  if (it == locks_.end() || it->second.owner.empty() || now >= it->second.expires_ms) {
    return "free";
  }
  return HeldResult(it->second, now);
}

void LockStateMachine::Snapshot(statemachine::SnapshotWriter& out) const {
  std::string text(kSnapshotMagic);
  text += "\n";
  for (const auto& [name, lock] : locks_) {
    text += name + " " + std::to_string(lock.last_token);
    if (!lock.owner.empty()) {
      text += " " + lock.owner + " " + std::to_string(lock.expires_ms) + " " +
              std::to_string(lock.ttl_ms);
    }
    text += "\n";
  }
  out.Write(text);
}

bool LockStateMachine::Restore(statemachine::SnapshotReader& in) {
  std::string text, chunk;
  while (in.Read(chunk)) text += chunk;
  std::map<std::string, Lock> locks;
  size_t pos = 0;
  bool first = true;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) return false;  // every line ends with '\n'
    std::string_view line(text.data() + pos, end - pos);
    pos = end + 1;
    if (first) {
      if (line != kSnapshotMagic) return false;
      first = false;
      continue;
    }
    std::vector<std::string> f = Split(line);
    if ((f.size() != 2 && f.size() != 5) || !ValidName(f[0]) || locks.count(f[0])) return false;
    Lock lock;
    if (!ParseU64(f[1], lock.last_token)) return false;
    if (f.size() == 5) {
      if (!ValidName(f[2]) || !ParseU64(f[3], lock.expires_ms) || !ParseU64(f[4], lock.ttl_ms) ||
          lock.last_token == 0 || lock.ttl_ms == 0 || lock.ttl_ms > kMaxTtlMs) {
        return false;
      }
      lock.owner = f[2];
    }
    locks.emplace(f[0], std::move(lock));
  }
  if (first) return false;  // no magic line
  locks_ = std::move(locks);
  return true;
}

}  // namespace synod::examples
