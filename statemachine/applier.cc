#include "statemachine/applier.h"

#include <kj/exception.h>

#include <limits>
#include <new>
#include <optional>

#include "paxos/invariant.h"
#include "util/byte_order.h"

namespace synod::statemachine {

namespace {

// Snapshot header magics: SNAP8 has, after the time ballot, the
// configuration (its slot, the length of its encoding, paxos::Configuration::
// Encode bytes; length 0 for an applier that tracks no configuration), then
// sessions as SessionEncoding::kWithExpiry. Older snapshots, still restored
// (the initial configuration at slot 0, time ballot 0 where absent, sessions
// with the default expiry): SNAP7 (time ballot) as kWithExpiry, SNAP6 (time
// ballot) as kWithBytes, SNAP5 (time ballot) as kWithLimits, SNAP4 as
// kWithLimits, SNAP3 as kWithStatus, SNAP2 as kResultsOnly.
constexpr char kMagicCurrent[] = "SYNODSNAP8";
constexpr char kMagicTimeBallotWithExpiry[] = "SYNODSNAP7";
constexpr char kMagicTimeBallotWithBytes[] = "SYNODSNAP6";
constexpr char kMagicTimeBallotWithLimits[] = "SYNODSNAP5";
constexpr char kMagicWithLimits[] = "SYNODSNAP4";
constexpr char kMagicWithStatus[] = "SYNODSNAP3";
constexpr char kMagicResultsOnly[] = "SYNODSNAP2";
constexpr size_t kMagicSize = 10;

std::string EncodeHeader(uint64_t applied, uint64_t log_time, uint64_t cluster_id,
                         const paxos::Ballot& time_ballot, const paxos::ConfigAt& config,
                         const std::string& sessions) {
  std::string out = kMagicCurrent;
  for (uint64_t v : {applied, log_time, cluster_id, time_ballot.round,
                     static_cast<uint64_t>(time_ballot.replica)}) {
    util::PutLittle(out, v, 8);
  }
  std::string encoded = config.config.members().empty() ? std::string() : config.config.Encode();
  util::PutLittle(out, config.slot, 8);
  util::PutLittle(out, encoded.size(), 8);
  return out + encoded + sessions;
}

// A failure's stored text: `what` up to its first line break, at most
// Applier::kMaxFailureBytes bytes.
std::string BoundedFailure(std::string_view what) {
  what = what.substr(0, what.find_first_of("\r\n"));
  return std::string(what.substr(0, Applier::kMaxFailureBytes));
}

}  // namespace

Applier::Applier(StateMachine& machine, SessionOptions options, paxos::Configuration initial)
    : machine_(machine),
      sessions_(options),
      options_(options),
      initial_(initial),
      config_{0, std::move(initial)} {
  SYNOD_INVARIANT(options.sweep_every_slots > 0, "sessions are swept every N slots, N > 0");
}

std::vector<CommandOutcome> Applier::Apply(const paxos::CommittedEntry& entry) {
  SYNOD_INVARIANT(entry.slot == applied_ + 1, "entries are applied in slot order, once");
  SYNOD_INVARIANT(entry.value != nullptr, "a committed entry has a value");
  applied_ = entry.slot;
  // A configuration change is the runtime's, never the user's state
  // machine's: the slot counts as applied, yields nothing, and sets the
  // configuration if it takes effect (the same rule as the core's).
  if (entry.value->kind == paxos::ValueKind::kConfiguration) {
    config_ = paxos::NextConfiguration(config_, entry.slot, *entry.value);
    return {};
  }
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
    CountStamp(*envelope);
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
        outcome.session =
            sessions_.Register(log_time_ms_,
                               SessionLimits{envelope->max_sessions, envelope->max_session_results,
                                             envelope->max_session_result_bytes},
                               envelope->expiry_ms);
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

void Applier::CountStamp(const Envelope& envelope) {
  if (envelope.stamp_ballot) {
    // A lower ballot: stamped by a leader deposed before the one whose stamp
    // last counted (its clock may run on time the cluster never had).
    if (*envelope.stamp_ballot < time_ballot_) return;
    time_ballot_ = *envelope.stamp_ballot;
  }
  log_time_ms_ = std::max(log_time_ms_, envelope.stamp_ms);
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
  } catch (const kj::Exception& e) {
    // Not what(): that adds the throw site and a stack trace of addresses,
    // which differ per process. The description is the same everywhere.
    result = BoundedFailure(e.getDescription().cStr());
    return false;
  } catch (const std::exception& e) {
    result = BoundedFailure(e.what());
    return false;
  }
}

void Applier::Snapshot(SnapshotWriter& out) const {
  out.Write(
      EncodeHeader(applied_, log_time_ms_, cluster_id_, time_ballot_, config_, sessions_.Encode()));
  machine_.Snapshot(out);
}

bool Applier::Restore(SnapshotReader& in) {
  std::string header;
  if (!in.Read(header) || header.size() < kMagicSize) return false;
  SessionEncoding encoding;
  size_t fields = 3;  // applied, log time, cluster id [, time ballot round, replica]
  bool has_config = false;
  if (header.compare(0, kMagicSize, kMagicCurrent) == 0) {
    encoding = SessionEncoding::kWithExpiry;
    fields = 5;
    has_config = true;
  } else if (header.compare(0, kMagicSize, kMagicTimeBallotWithExpiry) == 0) {
    encoding = SessionEncoding::kWithExpiry;
    fields = 5;
  } else if (header.compare(0, kMagicSize, kMagicTimeBallotWithBytes) == 0) {
    encoding = SessionEncoding::kWithBytes;
    fields = 5;
  } else if (header.compare(0, kMagicSize, kMagicTimeBallotWithLimits) == 0) {
    encoding = SessionEncoding::kWithLimits;
    fields = 5;
  } else if (header.compare(0, kMagicSize, kMagicWithLimits) == 0) {
    encoding = SessionEncoding::kWithLimits;
  } else if (header.compare(0, kMagicSize, kMagicWithStatus) == 0) {
    encoding = SessionEncoding::kWithStatus;
  } else if (header.compare(0, kMagicSize, kMagicResultsOnly) == 0) {
    encoding = SessionEncoding::kResultsOnly;
  } else {
    return false;
  }
  size_t header_size = kMagicSize + fields * 8;
  if (header.size() < header_size) return false;
  uint64_t values[5] = {0, 0, 0, 0, 0};
  for (size_t v = 0; v < fields; ++v) {
    values[v] = util::LoadLittle(header.data() + kMagicSize + 8 * v, 8);
  }
  paxos::ConfigAt config{0, initial_};
  if (has_config) {
    if (header.size() - header_size < 16) return false;
    const uint64_t slot = util::LoadLittle(header.data() + header_size, 8);
    const uint64_t length = util::LoadLittle(header.data() + header_size + 8, 8);
    header_size += 16;
    if (length > header.size() - header_size || slot > values[0]) return false;
    if (length == 0) {
      // Written by an applier that tracks no configuration.
      if (slot != 0) return false;
    } else {
      std::optional<paxos::Configuration> decoded =
          paxos::Configuration::Decode(header.substr(header_size, length));
      if (!decoded) return false;
      config = paxos::ConfigAt{slot, std::move(*decoded)};
    }
    header_size += length;
  }
  SessionTable sessions(options_);
  if (values[4] > std::numeric_limits<paxos::ReplicaId>::max()) return false;
  if (!sessions.Decode(header.substr(header_size), encoding)) return false;
  if (!machine_.Restore(in)) return false;
  sessions_ = std::move(sessions);
  applied_ = values[0];
  log_time_ms_ = values[1];
  cluster_id_ = values[2];
  time_ballot_ = paxos::Ballot{values[3], static_cast<paxos::ReplicaId>(values[4])};
  config_ = std::move(config);
  return true;
}

}  // namespace synod::statemachine
