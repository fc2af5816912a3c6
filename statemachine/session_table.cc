#include "statemachine/session_table.h"

#include <algorithm>

#include "util/byte_order.h"

namespace synod::statemachine {

uint64_t SessionTable::Register(uint64_t log_time, SessionLimits limits, uint64_t expiry_ms) {
  if (limits.max_sessions != 0 && sessions_.size() >= limits.max_sessions) {
    // The decision counts live sessions only: drop the expired ones first.
    Sweep(log_time);
    if (sessions_.size() >= limits.max_sessions) return 0;
  }
  uint64_t id = next_id_++;
  Session session;
  session.last_active = log_time;
  session.expiry_ms = expiry_ms != 0 ? expiry_ms : options_.expiry_ms;
  session.max_results = limits.max_results;
  session.max_result_bytes = limits.max_result_bytes;
  by_deadline_.emplace(Deadline(session), id);
  sessions_[id] = std::move(session);
  return id;
}

bool SessionTable::Full(const Session& session) const {
  return (session.max_results != 0 && session.results.size() >= session.max_results) ||
         (session.max_result_bytes != 0 && session.held_bytes >= session.max_result_bytes);
}

void SessionTable::Refuse(Session& session, uint64_t sequence) {
  if (session.refused.count(sequence) != 0) return;
  if (session.refused.size() < kRefusedKept) {
    session.refused.insert(sequence);
  } else if (session.refused_from > session.refused_to) {
    session.refused_from = session.refused_to = sequence;
  } else {
    session.refused_from = std::min(session.refused_from, sequence);
    session.refused_to = std::max(session.refused_to, sequence);
  }
}

SessionTable::Verdict SessionTable::Check(uint64_t id, uint64_t sequence,
                                          uint64_t lowest_unanswered, uint64_t log_time) {
  Verdict verdict;
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return verdict;  // unknown or swept: expired
  Session& session = it->second;
  if (Expired(session, log_time)) {
    Erase(it);
    return verdict;
  }
  if (log_time > session.last_active) {
    by_deadline_.erase({Deadline(session), id});
    session.last_active = log_time;
    by_deadline_.emplace(Deadline(session), id);
  }
  if (lowest_unanswered > session.mark) {  // the client has seen every answer below it
    session.mark = lowest_unanswered;
    auto end = session.results.lower_bound(session.mark);
    for (auto r = session.results.begin(); r != end; ++r) {
      session.held_bytes -= r->second.bytes.size() + kResultWeight;
    }
    session.results.erase(session.results.begin(), end);
    session.refused.erase(session.refused.begin(), session.refused.lower_bound(session.mark));
    if (session.mark > session.refused_to) {  // every overflow refusal is below the mark now
      session.refused_from = 1;
      session.refused_to = 0;
    }
  }
  if (sequence < session.mark) return verdict;  // already answered: never applied again
  auto stored = session.results.find(sequence);
  if (stored != session.results.end()) {
    verdict.kind = Verdict::Kind::kDuplicate;
    verdict.stored_result = stored->second.bytes;
    verdict.stored_failed = stored->second.failed;
    return verdict;
  }
  bool refused = session.refused.count(sequence) != 0 ||
                 (session.refused_from <= sequence && sequence <= session.refused_to);
  if (refused || Full(session)) {
    Refuse(session, sequence);  // for good: later copies of it are refused too
    verdict.kind = Verdict::Kind::kTooManyResults;
    return verdict;
  }
  verdict.kind = Verdict::Kind::kApply;
  return verdict;
}

void SessionTable::Record(uint64_t id, uint64_t sequence, std::string result, bool failed) {
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return;
  Session& session = it->second;
  auto [stored, added] = session.results.try_emplace(sequence);
  if (!added) session.held_bytes -= stored->second.bytes.size() + kResultWeight;
  session.held_bytes += result.size() + kResultWeight;
  stored->second = StoredResult{std::move(result), failed};
}

void SessionTable::Sweep(uint64_t log_time) {
  while (!by_deadline_.empty()) {
    ++examined_;
    auto [deadline, id] = *by_deadline_.begin();
    if (log_time <= deadline) break;  // the earliest deadline is not past: no other is
    Erase(sessions_.find(id));
  }
}

void SessionTable::Erase(std::map<uint64_t, Session>::iterator it) {
  by_deadline_.erase({Deadline(it->second), it->first});
  sessions_.erase(it);
}

void SessionTable::Reindex() {
  by_deadline_.clear();
  for (const auto& [id, session] : sessions_) by_deadline_.emplace(Deadline(session), id);
}

namespace {

void PutU64(std::string& out, uint64_t v) { util::PutLittle(out, v, 8); }
bool GetU64(const std::string& in, size_t& pos, uint64_t& v) {
  if (in.size() - pos < 8) return false;
  v = util::LoadLittle(in.data() + pos, 8);
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
    PutU64(out, session.max_results);
    PutU64(out, session.max_result_bytes);
    PutU64(out, session.refused_from);
    PutU64(out, session.refused_to);
    PutU64(out, session.refused.size());
    for (uint64_t sequence : session.refused) PutU64(out, sequence);
    PutU64(out, session.results.size());
    for (const auto& [sequence, result] : session.results) {
      PutU64(out, sequence);
      out.push_back(static_cast<char>(result.failed ? 1 : 0));
      PutU64(out, result.bytes.size());
      out += result.bytes;
    }
  }
  return out;
}

bool SessionTable::Decode(const std::string& in, SessionEncoding encoding) {
  size_t pos = 0;
  uint64_t count = 0;
  std::map<uint64_t, Session> sessions;
  uint64_t next_id = 0;
  const bool expiry = encoding == SessionEncoding::kWithExpiry;
  const bool bytes = expiry || encoding == SessionEncoding::kWithBytes;
  const bool limits = bytes || encoding == SessionEncoding::kWithLimits;
  if (!GetU64(in, pos, next_id) || !GetU64(in, pos, count)) return false;
  for (uint64_t i = 0; i < count; ++i) {
    uint64_t id = 0, results = 0;
    Session session;
    session.expiry_ms = options_.expiry_ms;
    if (!GetU64(in, pos, id) || !GetU64(in, pos, session.last_active) ||
        (expiry && (!GetU64(in, pos, session.expiry_ms) || session.expiry_ms == 0)) ||
        !GetU64(in, pos, session.mark)) {
      return false;
    }
    if (limits && !GetU64(in, pos, session.max_results)) return false;
    if (bytes && !GetU64(in, pos, session.max_result_bytes)) return false;
    if (limits &&
        (!GetU64(in, pos, session.refused_from) || !GetU64(in, pos, session.refused_to))) {
      return false;
    }
    if (bytes) {
      uint64_t refused = 0;
      if (!GetU64(in, pos, refused) || refused > kRefusedKept) return false;
      for (uint64_t r = 0; r < refused; ++r) {
        uint64_t sequence = 0;
        // Ascending, and at or above the mark.
        if (!GetU64(in, pos, sequence) || sequence < session.mark ||
            (!session.refused.empty() && sequence <= *session.refused.rbegin())) {
          return false;
        }
        session.refused.insert(session.refused.end(), sequence);
      }
    }
    if (!GetU64(in, pos, results)) return false;
    // The refused range is empty in its one form, or reaches the mark.
    bool empty = session.refused_from == 1 && session.refused_to == 0;
    if (!empty &&
        (session.refused_from > session.refused_to || session.refused_to < session.mark)) {
      return false;
    }
    if (session.max_results != 0 && results > session.max_results) return false;
    // Ids are handed out in order from 1, and are stored in ascending order.
    if (id == 0 || id >= next_id || (!sessions.empty() && id <= sessions.rbegin()->first)) {
      return false;
    }
    for (uint64_t r = 0; r < results; ++r) {
      uint64_t sequence = 0, size = 0;
      if (!GetU64(in, pos, sequence)) return false;
      StoredResult result;
      if (encoding != SessionEncoding::kResultsOnly) {
        if (pos == in.size() || static_cast<uint8_t>(in[pos]) > 1) return false;
        result.failed = in[pos++] == 1;
      }
      // A refused sequence number never has a stored result.
      if (!GetU64(in, pos, size) || in.size() - pos < size || sequence < session.mark ||
          session.results.count(sequence) != 0 || session.refused.count(sequence) != 0) {
        return false;
      }
      result.bytes = in.substr(pos, size);
      session.held_bytes += size + kResultWeight;
      session.results[sequence] = std::move(result);
      pos += size;
    }
    sessions[id] = std::move(session);
  }
  if (pos != in.size()) return false;
  next_id_ = next_id;
  sessions_ = std::move(sessions);
  Reindex();
  return true;
}

}  // namespace synod::statemachine
