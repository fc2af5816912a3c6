// SnapshotMeta: what identifies a complete snapshot file and lets a reader
// check it, plus its on-disk encoding (the `.meta` file next to each snapshot).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace synod::snapshot {

// Facts about one snapshot's data file. Value type.
struct SnapshotMeta {
  uint64_t applied_slot = 0;  // the state includes every slot <= applied_slot
  uint64_t size_bytes = 0;    // exact length of the data file
  uint32_t crc32c = 0;        // CRC32C of the whole data file
  uint64_t id = 0;            // == applied_slot (one snapshot per slot per store)

  bool operator==(const SnapshotMeta&) const = default;
};

// Length of EncodeMeta's output; always the same.
inline constexpr size_t kEncodedMetaSize = 44;

// Fixed-size binary record: magic, format version, the fields, and a CRC32C
// of everything before it. Pure function.
std::string EncodeMeta(const SnapshotMeta& meta);

// Inverse of EncodeMeta. Returns nullopt for anything EncodeMeta did not
// write: wrong length, magic or version, or a failing record checksum.
std::optional<SnapshotMeta> DecodeMeta(std::string_view bytes);

// "slot=… size=… crc32c=… id=…", for error messages and logs.
std::string DescribeMeta(const SnapshotMeta& meta);

}  // namespace synod::snapshot
