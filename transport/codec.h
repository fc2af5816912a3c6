// Conversions between the wire types of synod.capnp and the plain structs of
// paxos/ and types.h. Internal to transport/.
//
// Encoding cannot fail. Decoding validates everything it reads (enum values,
// missing values, list sizes, slot ranges, replica ids) and returns an error
// instead of crashing (a kCorruption Status for peer messages, an error text
// for client replies and status); it also catches Cap'n Proto's exceptions
// for malformed pointers. This is the fuzz target's decode path.
#pragma once

#include <string>
#include <vector>

#include "paxos/message.h"
#include "transport/synod.capnp.h"
#include "transport/types.h"
#include "util/status.h"

namespace synod::transport {

// Writes `message` into `out`. `message.body` values must be non-null where
// the paxos struct requires a value (Accept, entries).
void EncodeMessage(const paxos::Message& message, wire::Message::Builder out);

// Approximate number of wire bytes EncodeMessage produces, for batching.
size_t EstimateWireBytes(const paxos::Message& message);

// Reads `in` into `*out`. Ok, or kCorruption saying what is wrong (and `*out`
// is unspecified). Never throws on bad input (std::bad_alloc propagates).
Status DecodeMessage(wire::Message::Reader in, const Limits& limits, paxos::Message* out);

// Reads a list of messages (one deliver() call). Ok, or kCorruption with the
// first error (prefixed with the message index). Never throws on bad input
// (std::bad_alloc propagates).
Status DecodeMessages(capnp::List<wire::Message>::Reader in, const Limits& limits,
                      std::vector<paxos::Message>* out);

// Decodes a standalone serialized PeerBatch (flat, unpacked Cap'n Proto bytes).
// Used by the fuzz target and by tests. Ok, or kCorruption with the error.
// Never throws on bad input.
Status DecodePeerBatchBytes(const void* data, size_t size, const Limits& limits,
                            std::vector<paxos::Message>* out);

// Serializes `messages` as a standalone PeerBatch (flat, unpacked), the
// inverse of DecodePeerBatchBytes.
std::string EncodePeerBatchBytes(const std::vector<paxos::Message>& messages);

// Client reply conversions. Decoding checks enum values and that the number
// of outcomes equals `expected_outcomes`.
void EncodeClientReply(const ClientReply& reply, wire::ClientService::SubmitResults::Builder out);
std::string DecodeClientReply(wire::ClientService::SubmitResults::Reader in,
                              size_t expected_outcomes, ClientReply* out);

// Status conversions; decoding checks the role enum.
void EncodeStatus(const ReplicaStatus& status, wire::Status::Builder out);
std::string DecodeStatus(wire::Status::Reader in, ReplicaStatus* out);

// transferLeader() reply conversions; decoding checks the status enum (an
// unknown one is an error).
void EncodeTransferReply(const TransferReply& reply,
                         wire::ClientService::TransferLeaderResults::Builder out);
std::string DecodeTransferReply(wire::ClientService::TransferLeaderResults::Reader in,
                                TransferReply* out);

// changeMembers() conversions. DecodeMemberChange checks the kind enum and
// bounds the address (kMaxMemberChangeAddress bytes); what the change means
// is the handler's to check. DecodeChangeReply checks the status enum. Both
// return "" or what is wrong.
constexpr size_t kMaxMemberChangeAddress = 1024;
void EncodeMemberChange(const MemberChange& change, wire::MemberChange::Builder out);
std::string DecodeMemberChange(wire::MemberChange::Reader in, MemberChange* out);
void EncodeChangeReply(const ChangeReply& reply,
                       wire::ClientService::ChangeMembersResults::Builder out);
std::string DecodeChangeReply(wire::ClientService::ChangeMembersResults::Reader in,
                              ChangeReply* out);

}  // namespace synod::transport
