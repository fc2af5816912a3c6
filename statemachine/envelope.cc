#include "statemachine/envelope.h"

namespace synod::statemachine {

namespace {

constexpr uint8_t kMagic = 0x53;  // 'S'

void PutU64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

bool GetU64(std::string_view& in, uint64_t& v) {
  if (in.size() < 8) return false;
  v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(in[i])) << (8 * i);
  in.remove_prefix(8);
  return true;
}

}  // namespace

std::string EncodeEnvelope(const Envelope& envelope) {
  std::string out;
  out.reserve(34 + envelope.payload.size());
  out.push_back(static_cast<char>(kMagic));
  out.push_back(static_cast<char>(envelope.kind));
  PutU64(out, envelope.stamp_ms);
  if (envelope.kind == EnvelopeKind::kRegisterSession ||
      envelope.kind == EnvelopeKind::kClusterId) {
    PutU64(out, envelope.session);
  }
  if (envelope.kind == EnvelopeKind::kRegisterSession &&
      (envelope.max_sessions != 0 || envelope.max_session_results != 0 ||
       envelope.max_session_result_bytes != 0)) {
    PutU64(out, envelope.max_sessions);
    PutU64(out, envelope.max_session_results);
    if (envelope.max_session_result_bytes != 0) PutU64(out, envelope.max_session_result_bytes);
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
  if (kind < 1 || kind > 4) return std::nullopt;
  envelope.kind = static_cast<EnvelopeKind>(kind);
  if (!GetU64(in, envelope.stamp_ms)) return std::nullopt;
  if (envelope.kind == EnvelopeKind::kRegisterSession ||
      envelope.kind == EnvelopeKind::kClusterId) {
    if (!GetU64(in, envelope.session)) return std::nullopt;
    if (envelope.kind == EnvelopeKind::kRegisterSession && !in.empty() &&
        (!GetU64(in, envelope.max_sessions) || !GetU64(in, envelope.max_session_results) ||
         (!in.empty() && !GetU64(in, envelope.max_session_result_bytes)))) {
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
         static_cast<uint8_t>(bytes[1]) == static_cast<uint8_t>(EnvelopeKind::kRegisterSession);
}

std::string RestampEnvelope(std::string_view encoded, uint64_t stamp_ms) {
  std::string out(encoded);
  if (out.size() < 10 || static_cast<uint8_t>(out[0]) != kMagic) return out;
  for (int i = 0; i < 8; ++i) out[2 + i] = static_cast<char>((stamp_ms >> (8 * i)) & 0xFF);
  return out;
}

uint64_t EnvelopeStamp(std::string_view encoded) {
  if (encoded.size() < 10 || static_cast<uint8_t>(encoded[0]) != kMagic) return 0;
  encoded.remove_prefix(2);
  uint64_t stamp = 0;
  return GetU64(encoded, stamp) ? stamp : 0;
}

}  // namespace synod::statemachine
