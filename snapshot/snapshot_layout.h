// Names and formats of the files in a snapshot directory. Pure functions.
//
//   snap-<slot>.data        complete snapshot data (only after its .meta exists)
//   snap-<slot>.meta        EncodeMeta record of that data file
//   snap-<slot>.tmp         local snapshot being written (removed by Open)
//   snap-<slot>.meta.tmp    meta being written (removed by Open)
//   recv-<slot>-<crc>.part      snapshot being received from a leader (kept by Open)
//   recv-<slot>-<crc>.progress  its durable length (EncodeProgress record)
//
// <slot> is 20 zero-padded decimal digits, <crc> 8 lowercase hex digits, so
// names sort by slot.
//
// Data file format: the 8-byte magic kDataMagic, then one record per chunk the
// state machine wrote: 8-byte little-endian length, then the chunk's bytes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "snapshot/snapshot_meta.h"

namespace synod::snapshot {

inline constexpr std::string_view kDataMagic = "SYNSDATA";
inline constexpr size_t kChunkHeaderSize = 8;

enum class FileKind { kData, kMeta, kTempData, kTempMeta, kPart, kProgress, kTempProgress };

// A parsed file name; crc is set only for receive files.
struct ParsedName {
  FileKind kind;
  uint64_t slot = 0;
  uint32_t crc = 0;
};

std::string DataName(uint64_t slot);
std::string MetaName(uint64_t slot);
std::string TempDataName(uint64_t slot);
std::string PartName(uint64_t slot, uint32_t crc);
std::string ProgressName(uint64_t slot, uint32_t crc);

// Parses a name written by the functions above (or by WriteFileAtomically for
// meta and progress); nullopt for anything else (which the store leaves alone).
std::optional<ParsedName> ParseName(std::string_view name);

// Durable state of a receive: which snapshot, and how many of its bytes the
// .part file holds durably (fsynced before this record was written).
struct ReceiveProgress {
  SnapshotMeta meta;
  uint64_t durable_bytes = 0;
};

// Fixed-size record with magic and CRC32C; Decode returns nullopt on garbage.
std::string EncodeProgress(const ReceiveProgress& progress);
std::optional<ReceiveProgress> DecodeProgress(std::string_view bytes);
inline constexpr size_t kEncodedProgressSize = 8 + kEncodedMetaSize + 8 + 4;

}  // namespace synod::snapshot
