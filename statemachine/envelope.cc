#include "statemachine/envelope.h"

#include <limits>

#include "util/byte_order.h"

namespace synod::statemachine {

namespace {

constexpr uint8_t kMagic = 0x53;       // 'S'
constexpr uint8_t kBallotFlag = 0x80;  // in the kind byte: a stamp ballot follows the stamp
constexpr size_t kStampEnd = 2 + 8;    // magic, kind, stamp
constexpr size_t kBallotEnd = kStampEnd + 16;

void PutU64(std::string& out, uint64_t v) { util::PutLittle(out, v, 8); }

bool GetU64(std::string_view& in, uint64_t& v) {
  if (in.size() < 8) return false;
  v = util::TakeLittle(in, 8);
  return true;
}

// The kind byte's kind (without the flag); false if it names no kind.
bool ValidKind(uint8_t byte) {
  uint8_t kind = byte & static_cast<uint8_t>(~kBallotFlag);
  return kind >= 1 && kind <= 4;
}

void PutBallot(std::string& out, const paxos::Ballot& ballot) {
  PutU64(out, ballot.round);
  PutU64(out, ballot.replica);
}

}  // namespace

std::string EncodeEnvelope(const Envelope& envelope) {
  std::string out;
  out.reserve(50 + envelope.payload.size());
  out.push_back(static_cast<char>(kMagic));
  uint8_t kind = static_cast<uint8_t>(envelope.kind);
  if (envelope.stamp_ballot) kind |= kBallotFlag;
  out.push_back(static_cast<char>(kind));
  PutU64(out, envelope.stamp_ms);
  if (envelope.stamp_ballot) PutBallot(out, *envelope.stamp_ballot);
  if (envelope.kind == EnvelopeKind::kRegisterSession ||
      envelope.kind == EnvelopeKind::kClusterId) {
    PutU64(out, envelope.session);
  }
  // Registration tail: none (old), limits (16 bytes), limits + byte limit
  // (24), or limits + byte limit + expiry (32).
  if (envelope.kind == EnvelopeKind::kRegisterSession &&
      (envelope.max_sessions != 0 || envelope.max_session_results != 0 ||
       envelope.max_session_result_bytes != 0 || envelope.expiry_ms != 0)) {
    PutU64(out, envelope.max_sessions);
    PutU64(out, envelope.max_session_results);
    if (envelope.max_session_result_bytes != 0 || envelope.expiry_ms != 0) {
      PutU64(out, envelope.max_session_result_bytes);
    }
    if (envelope.expiry_ms != 0) PutU64(out, envelope.expiry_ms);
  }
  if (envelope.kind == EnvelopeKind::kCommand) {
    PutU64(out, envelope.session);
    PutU64(out, envelope.sequence);
    PutU64(out, envelope.lowest_unanswered);
    out.append(envelope.payload);
  }
  return out;
}

std::optional<Envelope> DecodeEnvelope(std::string_view in) {
  if (in.size() < 2 || static_cast<uint8_t>(in[0]) != kMagic) return std::nullopt;
  Envelope envelope;
  uint8_t kind = static_cast<uint8_t>(in[1]);
  in.remove_prefix(2);
  if (!ValidKind(kind)) return std::nullopt;
  envelope.kind = static_cast<EnvelopeKind>(kind & static_cast<uint8_t>(~kBallotFlag));
  if (!GetU64(in, envelope.stamp_ms)) return std::nullopt;
  if ((kind & kBallotFlag) != 0) {
    uint64_t round = 0;
    uint64_t replica = 0;
    if (!GetU64(in, round) || !GetU64(in, replica) ||
        replica > std::numeric_limits<paxos::ReplicaId>::max()) {
      return std::nullopt;
    }
    envelope.stamp_ballot = paxos::Ballot{round, static_cast<paxos::ReplicaId>(replica)};
  }
  if (envelope.kind == EnvelopeKind::kRegisterSession ||
      envelope.kind == EnvelopeKind::kClusterId) {
    if (!GetU64(in, envelope.session)) return std::nullopt;
    if (envelope.kind == EnvelopeKind::kRegisterSession && !in.empty() &&
        (!GetU64(in, envelope.max_sessions) || !GetU64(in, envelope.max_session_results) ||
         (!in.empty() && !GetU64(in, envelope.max_session_result_bytes)) ||
         (!in.empty() && (!GetU64(in, envelope.expiry_ms) || envelope.expiry_ms == 0)))) {
      return std::nullopt;
    }
    if (!in.empty()) return std::nullopt;
    return envelope;
  }
  if (envelope.kind == EnvelopeKind::kTick) {
    if (!in.empty()) return std::nullopt;
    return envelope;
  }
  if (!GetU64(in, envelope.session) || !GetU64(in, envelope.sequence) ||
      !GetU64(in, envelope.lowest_unanswered)) {
    return std::nullopt;
  }
  envelope.payload.assign(in.data(), in.size());
  return envelope;
}

bool IsRegistrationEnvelope(std::string_view bytes) {
  return bytes.size() >= 2 && static_cast<uint8_t>(bytes[0]) == kMagic &&
         (static_cast<uint8_t>(bytes[1]) & static_cast<uint8_t>(~kBallotFlag)) ==
             static_cast<uint8_t>(EnvelopeKind::kRegisterSession);
}

std::string RestampEnvelope(std::string_view encoded, uint64_t stamp_ms,
                            const paxos::Ballot& stamp_ballot) {
  if (encoded.size() < kStampEnd || static_cast<uint8_t>(encoded[0]) != kMagic ||
      !ValidKind(static_cast<uint8_t>(encoded[1]))) {
    return std::string(encoded);
  }
  const uint8_t kind = static_cast<uint8_t>(encoded[1]);
  const bool had_ballot = (kind & kBallotFlag) != 0;
  if (had_ballot && encoded.size() < kBallotEnd) return std::string(encoded);  // not decodable
  std::string out;
  out.reserve(encoded.size() + (had_ballot ? 0 : 16));
  out.push_back(static_cast<char>(kMagic));
  out.push_back(static_cast<char>(kind | kBallotFlag));
  PutU64(out, stamp_ms);
  PutBallot(out, stamp_ballot);
  out.append(encoded.substr(had_ballot ? kBallotEnd : kStampEnd));
  return out;
}

uint64_t EnvelopeStamp(std::string_view encoded) {
  if (encoded.size() < kStampEnd || static_cast<uint8_t>(encoded[0]) != kMagic ||
      !ValidKind(static_cast<uint8_t>(encoded[1]))) {
    return 0;
  }
  encoded.remove_prefix(2);
  uint64_t stamp = 0;
  return GetU64(encoded, stamp) ? stamp : 0;
}

}  // namespace synod::statemachine
