// Envelope: how a client's command travels through the log. Every entry in a
// slot's batch is one envelope; the applier decodes it, runs sessions and
// deduplication, and hands the payload to the user's StateMachine.
//
// Kinds:
//   kRegisterSession — opens a session; its result is the new session id.
//                      `session` carries the client's random request id (a
//                      nonce) so the replica can answer the right caller.
//                      The leader that proposes it appends its session
//                      limits (SessionLimits in session_table.h) and the
//                      session's idle lifetime `expiry_ms`. Older logs hold
//                      it without both (no limits, the applier's default
//                      expiry) or with limits only (the default expiry).
//   kCommand         — (session id, sequence number, lowest sequence number
//                      the client has not yet seen answered, payload).
//   kTick            — carries only a leader time stamp (advances log time).
//   kClusterId       — the random cluster id a new cluster's first leader
//                      proposes (`session` holds it); the first one applied wins.
// Every envelope carries the proposing leader's time stamp (ms of log time,
// 0 = none; node/leader_clock.h) and, when a leader of this version stamped
// it, that leader's ballot (the "stamp ballot"; older envelopes have none).
// The applier counts a stamp only if its ballot is at least the ballot of the
// last stamp that counted (statemachine/applier.h); log time = max(previous
// log time, counted stamps), so it never goes back.
//
// Encoding: magic 0x53, kind byte (bit 0x80 set: a stamp ballot follows the
// stamp), stamp (u64), [stamp ballot round (u64), replica (u64)], then the
// kind's fields; integers little-endian.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "paxos/types.h"

namespace synod::statemachine {

enum class EnvelopeKind : uint8_t { kRegisterSession = 1, kCommand = 2, kTick = 3, kClusterId = 4 };

struct Envelope {
  EnvelopeKind kind = EnvelopeKind::kCommand;
  uint64_t stamp_ms = 0;
  // The ballot of the leader that stamped it (nullopt: an older envelope,
  // whose stamp counts whatever the ballot of earlier stamps).
  std::optional<paxos::Ballot> stamp_ballot;
  uint64_t session = 0;            // kCommand: session id; kRegisterSession: nonce
  uint64_t sequence = 0;           // kCommand: 1, 2, 3, ... per session
  uint64_t lowest_unanswered = 0;  // kCommand: results below it may be forgotten
  std::string payload;             // kCommand: the user's command bytes
  // kRegisterSession: the proposing leader's limits (0 = none). The tail is
  // nonce [+ max_sessions + max_session_results [+ max_session_result_bytes
  // [+ expiry_ms]]]: each field is written when it or a later one is set, so
  // registrations without limits keep their old bytes.
  uint64_t max_sessions = 0;
  uint64_t max_session_results = 0;
  // kRegisterSession: the proposing leader's per-session byte limit (0 =
  // none).
  uint64_t max_session_result_bytes = 0;
  // kRegisterSession: the session's idle lifetime in ms of log time (0: the
  // applier's default, 600000).
  uint64_t expiry_ms = 0;
};

std::string EncodeEnvelope(const Envelope& envelope);
// nullopt for bytes that are not an envelope.
std::optional<Envelope> DecodeEnvelope(std::string_view bytes);

// True if `bytes` start like a kRegisterSession envelope (its magic and
// kind, with or without a stamp ballot), whether or not the rest decodes.
bool IsRegistrationEnvelope(std::string_view bytes);

// Re-encodes `encoded` with a new stamp and stamp ballot (leaders stamp the
// commands they propose). Returns `encoded` unchanged if it is not an
// envelope (bad magic or kind, or too short for a stamp).
std::string RestampEnvelope(std::string_view encoded, uint64_t stamp_ms,
                            const paxos::Ballot& stamp_ballot);

// The stamp of `encoded` without decoding the rest; 0 if it is not an
// envelope (bad magic or kind, too short) or carries no stamp.
uint64_t EnvelopeStamp(std::string_view encoded);

}  // namespace synod::statemachine
