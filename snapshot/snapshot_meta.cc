#include "snapshot/snapshot_meta.h"

#include <cstdio>

#include "util/byte_order.h"
#include "util/crc32c.h"

namespace synod::snapshot {

using util::Crc32c;
using util::PutLittle;
using util::TakeLittle;

namespace {

constexpr std::string_view kMagic = "SYNSMETA";
constexpr uint32_t kVersion = 1;

}  // namespace

std::string EncodeMeta(const SnapshotMeta& meta) {
  std::string out(kMagic);
  PutLittle(out, kVersion, 4);
  PutLittle(out, meta.applied_slot, 8);
  PutLittle(out, meta.size_bytes, 8);
  PutLittle(out, meta.crc32c, 4);
  PutLittle(out, meta.id, 8);
  PutLittle(out, Crc32c(out), 4);
  return out;
}

std::optional<SnapshotMeta> DecodeMeta(std::string_view bytes) {
  if (bytes.size() != kEncodedMetaSize) return std::nullopt;
  if (bytes.substr(0, kMagic.size()) != kMagic) return std::nullopt;
  std::string_view trailer = bytes.substr(kEncodedMetaSize - 4);
  if (TakeLittle(trailer, 4) != Crc32c(bytes.substr(0, kEncodedMetaSize - 4))) return std::nullopt;
  std::string_view in = bytes.substr(kMagic.size());
  if (TakeLittle(in, 4) != kVersion) return std::nullopt;
  SnapshotMeta meta;
  meta.applied_slot = TakeLittle(in, 8);
  meta.size_bytes = TakeLittle(in, 8);
  meta.crc32c = static_cast<uint32_t>(TakeLittle(in, 4));
  meta.id = TakeLittle(in, 8);
  return meta;
}

std::string DescribeMeta(const SnapshotMeta& meta) {
  char buffer[128];
  std::snprintf(buffer, sizeof buffer, "slot=%llu size=%llu crc32c=%08x id=%llu",
                static_cast<unsigned long long>(meta.applied_slot),
                static_cast<unsigned long long>(meta.size_bytes), meta.crc32c,
                static_cast<unsigned long long>(meta.id));
  return buffer;
}

}  // namespace synod::snapshot
