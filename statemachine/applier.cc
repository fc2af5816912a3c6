#include "statemachine/applier.h"

#include <new>

#include "paxos/invariant.h"

namespace synod::statemachine {

namespace {

// Snapshot header magics: SNAP5 stores sessions as SessionEncoding::kWithBytes;
// older snapshots, still restored: SNAP4 as kWithLimits, SNAP3 as kWithStatus,
// SNAP2 as kResultsOnly.
constexpr char kMagicCurrent[] = "SYNODSNAP5";
constexpr char kMagicWithLimits[] = "SYNODSNAP4";
constexpr char kMagicWithStatus[] = "SYNODSNAP3";
constexpr char kMagicResultsOnly[] = "SYNODSNAP2";
constexpr size_t kMagicSize = 10;

std::string EncodeHeader(uint64_t applied, uint64_t log_time, uint64_t cluster_id,
                         const std::string& sessions) {
  std::string out = kMagicCurrent;
  for (uint64_t v : {applied, log_time, cluster_id}) {
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
  }
  return out + sessions;
}

}  // namespace

Applier::Applier(StateMachine& machine, SessionOptions options)
    : machine_(machine), sessions_(options), options_(options) {
  SYNOD_INVARIANT(options.sweep_every_slots > 0, "sessions are swept every N slots, N > 0");
}

std::vector<CommandOutcome> Applier::Apply(const paxos::CommittedEntry& entry) {
  SYNOD_INVARIANT(entry.slot == applied_ + 1, "entries are applied in slot order, once");
  SYNOD_INVARIANT(entry.value != nullptr, "a committed entry has a value");
  applied_ = entry.slot;
  std::vector<CommandOutcome> outcomes;
  for (const std::string& bytes : entry.value->commands) {
    CommandOutcome outcome;
    outcome.slot = entry.slot;
    std::optional<Envelope> envelope = DecodeEnvelope(bytes);
    if (!envelope && IsRegistrationEnvelope(bytes)) {
      throw UnknownRegistrationFormat(
          "slot " + std::to_string(entry.slot) +
          ": a session registration in a format this build does not know (proposed by a newer "
          "build?); run the same build on every member");
    }
    if (!envelope) {
      outcome.status = CommandOutcome::Status::kInvalid;
      outcomes.push_back(std::move(outcome));
      continue;
    }
    log_time_ms_ = std::max(log_time_ms_, envelope->stamp_ms);
    outcome.kind = envelope->kind;
    switch (envelope->kind) {
      case EnvelopeKind::kTick:
        continue;  // advances log time only
      case EnvelopeKind::kClusterId:
        if (cluster_id_ != 0 || envelope->session == 0) continue;  // the first one wins
        cluster_id_ = envelope->session;
        outcome.session = cluster_id_;
        break;
      case EnvelopeKind::kRegisterSession:
        outcome.nonce = envelope->session;
        outcome.session = sessions_.Register(
            log_time_ms_, SessionLimits{envelope->max_sessions, envelope->max_session_results,
                                        envelope->max_session_result_bytes});
        if (outcome.session == 0) {
          outcome.status = CommandOutcome::Status::kRefused;
          outcome.result = "too many sessions";
        } else {
          outcome.result = std::to_string(outcome.session);
        }
        break;
      case EnvelopeKind::kCommand: {
        outcome.session = envelope->session;
        outcome.sequence = envelope->sequence;
        SessionTable::Verdict verdict = sessions_.Check(envelope->session, envelope->sequence,
                                                        envelope->lowest_unanswered, log_time_ms_);
        if (verdict.kind == SessionTable::Verdict::Kind::kExpired) {
          outcome.status = CommandOutcome::Status::kSessionExpired;
        } else if (verdict.kind == SessionTable::Verdict::Kind::kTooManyResults) {
          outcome.status = CommandOutcome::Status::kRefused;
          outcome.result = "session holds too many unacknowledged results";
        } else if (verdict.kind == SessionTable::Verdict::Kind::kDuplicate) {
          outcome.duplicate = true;
          if (verdict.stored_failed) outcome.status = CommandOutcome::Status::kFailed;
          outcome.result = std::move(verdict.stored_result);
        } else {
          bool ok = ApplyCommand(envelope->payload, ApplyContext{entry.slot, log_time_ms_},
                                 outcome.result);
          if (!ok) outcome.status = CommandOutcome::Status::kFailed;
          sessions_.Record(envelope->session, envelope->sequence, outcome.result, !ok);
        }
        break;
      }
    }
    outcomes.push_back(std::move(outcome));
  }
  if (entry.slot % options_.sweep_every_slots == 0) sessions_.Sweep(log_time_ms_);
  return outcomes;
}

bool Applier::ApplyCommand(std::string_view payload, const ApplyContext& context,
                           std::string& result) {
  try {
    result = machine_.Apply(payload, context);
    return true;
  } catch (const std::bad_alloc&) {
    throw;  // not a property of the command: replicas may differ
  } catch (const InvariantViolation&) {
    throw;  // Synod's own state is corrupt
  } catch (const std::exception& e) {
    result = e.what();
    return false;
  }
}

void Applier::Snapshot(SnapshotWriter& out) const {
  out.Write(EncodeHeader(applied_, log_time_ms_, cluster_id_, sessions_.Encode()));
  machine_.Snapshot(out);
}

bool Applier::Restore(SnapshotReader& in) {
  std::string header;
  constexpr size_t kHeader = kMagicSize + 3 * 8;
  if (!in.Read(header) || header.size() < kHeader) return false;
  SessionEncoding encoding;
  if (header.compare(0, kMagicSize, kMagicCurrent) == 0) {
    encoding = SessionEncoding::kWithBytes;
  } else if (header.compare(0, kMagicSize, kMagicWithLimits) == 0) {
    encoding = SessionEncoding::kWithLimits;
  } else if (header.compare(0, kMagicSize, kMagicWithStatus) == 0) {
    encoding = SessionEncoding::kWithStatus;
  } else if (header.compare(0, kMagicSize, kMagicResultsOnly) == 0) {
    encoding = SessionEncoding::kResultsOnly;
  } else {
    return false;
  }
  uint64_t values[3] = {0, 0, 0};
  for (int v = 0; v < 3; ++v) {
    for (int i = 0; i < 8; ++i) {
      values[v] |= static_cast<uint64_t>(static_cast<uint8_t>(header[kMagicSize + 8 * v + i]))
                   << (8 * i);
    }
  }
  SessionTable sessions(options_);
  if (!sessions.Decode(header.substr(kHeader), encoding)) return false;
  if (!machine_.Restore(in)) return false;
  sessions_ = std::move(sessions);
  applied_ = values[0];
  log_time_ms_ = values[1];
  cluster_id_ = values[2];
  return true;
}

}  // namespace synod::statemachine
