#include "statemachine/session_table.h"

namespace synod::statemachine {

uint64_t SessionTable::Register(uint64_t log_time, uint64_t expiry_ms) {
  uint64_t id = next_id_++;
  sessions_[id] = Session{log_time, expiry_ms != 0 ? expiry_ms : options_.expiry_ms, 0, {}};
  return id;
}

SessionTable::Verdict SessionTable::Check(uint64_t id, uint64_t sequence,
                                          uint64_t lowest_unanswered, uint64_t log_time) {
  Verdict verdict;
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return verdict;  // unknown or swept: expired
  Session& session = it->second;
  if (Expired(session, log_time)) {
    sessions_.erase(it);
    return verdict;
  }
  session.last_active = std::max(session.last_active, log_time);
  if (lowest_unanswered > session.mark) {  // the client has seen every answer below it
    session.mark = lowest_unanswered;
    session.results.erase(session.results.begin(), session.results.lower_bound(session.mark));
  }
  if (sequence < session.mark) return verdict;  // already answered: never applied again
  auto stored = session.results.find(sequence);
  if (stored != session.results.end()) {
    verdict.kind = Verdict::Kind::kDuplicate;
    verdict.stored_result = stored->second;
    return verdict;
  }
  verdict.kind = Verdict::Kind::kApply;
  return verdict;
}

void SessionTable::Record(uint64_t id, uint64_t sequence, std::string result) {
  auto it = sessions_.find(id);
  if (it != sessions_.end()) it->second.results[sequence] = std::move(result);
}

void SessionTable::Sweep(uint64_t log_time) {
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    it = Expired(it->second, log_time) ? sessions_.erase(it) : std::next(it);
  }
}

namespace {

void PutU64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
bool GetU64(const std::string& in, size_t& pos, uint64_t& v) {
  if (in.size() - pos < 8) return false;
  v = 0;
  for (int i = 0; i < 8; ++i)
    v |= static_cast<uint64_t>(static_cast<uint8_t>(in[pos + i])) << (8 * i);
  pos += 8;
  return true;
}

}  // namespace

std::string SessionTable::Encode() const {
  std::string out;
  PutU64(out, next_id_);
  PutU64(out, sessions_.size());
  for (const auto& [id, session] : sessions_) {
    PutU64(out, id);
    PutU64(out, session.last_active);
    PutU64(out, session.expiry_ms);
    PutU64(out, session.mark);
    PutU64(out, session.results.size());
    for (const auto& [sequence, result] : session.results) {
      PutU64(out, sequence);
      PutU64(out, result.size());
      out += result;
    }
  }
  return out;
}

bool SessionTable::Decode(const std::string& in, bool with_expiry) {
  size_t pos = 0;
  uint64_t count = 0;
  std::map<uint64_t, Session> sessions;
  uint64_t next_id = 0;
  if (!GetU64(in, pos, next_id) || !GetU64(in, pos, count)) return false;
  for (uint64_t i = 0; i < count; ++i) {
    uint64_t id = 0, results = 0;
    Session session;
    session.expiry_ms = options_.expiry_ms;
    if (!GetU64(in, pos, id) || !GetU64(in, pos, session.last_active) ||
        (with_expiry && (!GetU64(in, pos, session.expiry_ms) || session.expiry_ms == 0)) ||
        !GetU64(in, pos, session.mark) || !GetU64(in, pos, results)) {
      return false;
    }
    // Ids are handed out in order from 1, and are stored in ascending order.
    if (id == 0 || id >= next_id || (!sessions.empty() && id <= sessions.rbegin()->first)) {
      return false;
    }
    for (uint64_t r = 0; r < results; ++r) {
      uint64_t sequence = 0, size = 0;
      if (!GetU64(in, pos, sequence) || !GetU64(in, pos, size) || in.size() - pos < size ||
          sequence < session.mark || session.results.count(sequence) != 0) {
        return false;
      }
      session.results[sequence] = in.substr(pos, size);
      pos += size;
    }
    sessions[id] = std::move(session);
  }
  if (pos != in.size()) return false;
  next_id_ = next_id;
  sessions_ = std::move(sessions);
  return true;
}

}  // namespace synod::statemachine
