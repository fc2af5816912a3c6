// Binary encoding of what log/ stores: ballots, slot entries (with their
// values) and the metadata record. Little-endian fixed-width integers and
// length-prefixed byte strings; every decoder validates lengths and enums and
// reports corruption instead of crashing.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "paxos/types.h"

namespace synod::log {

// The on-disk format this build writes and reads.
inline constexpr uint32_t kFormatVersion = 1;

// Identity of a data directory.
struct LogMetadata {
  uint32_t format_version = kFormatVersion;
  paxos::ReplicaId replica_id = paxos::kNoReplica;
  std::string cluster_id;  // empty until the cluster has agreed on one
};

std::string EncodeBallot(const paxos::Ballot& ballot);
std::optional<paxos::Ballot> DecodeBallot(std::string_view bytes);

std::string EncodeEntry(const paxos::Entry& entry);
// nullopt if the bytes are not a valid entry.
std::optional<paxos::Entry> DecodeEntry(std::string_view bytes);

std::string EncodeMetadata(const LogMetadata& metadata);
std::optional<LogMetadata> DecodeMetadata(std::string_view bytes);

std::string EncodeSlot(paxos::Slot slot);
std::optional<paxos::Slot> DecodeSlot(std::string_view bytes);

}  // namespace synod::log
