#include "snapshot/snapshot_layout.h"

#include <cstdio>

#include "util/byte_order.h"
#include "util/crc32c.h"

namespace synod::snapshot {

using util::Crc32c;
using util::PutLittle;
using util::TakeLittle;

namespace {

constexpr size_t kSlotDigits = 20;
constexpr size_t kCrcDigits = 8;
constexpr std::string_view kProgressMagic = "SYNSRECV";

std::string SlotText(uint64_t slot) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%020llu", static_cast<unsigned long long>(slot));
  return buffer;
}

std::string CrcText(uint32_t crc) {
  char buffer[16];
  std::snprintf(buffer, sizeof buffer, "%08x", crc);
  return buffer;
}

// Parses exactly `digits` characters of decimal (base 10) or lowercase hex (base 16).
std::optional<uint64_t> ParseDigits(std::string_view text, size_t digits, int base) {
  if (text.size() != digits) return std::nullopt;
  uint64_t value = 0;
  for (char c : text) {
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (base == 16 && c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else {
      return std::nullopt;
    }
    if (value > (UINT64_MAX - static_cast<uint64_t>(d)) / static_cast<uint64_t>(base)) {
      return std::nullopt;
    }
    value = value * static_cast<uint64_t>(base) + static_cast<uint64_t>(d);
  }
  return value;
}

bool ConsumePrefix(std::string_view& text, std::string_view prefix) {
  if (text.substr(0, prefix.size()) != prefix) return false;
  text.remove_prefix(prefix.size());
  return true;
}

bool ConsumeSuffix(std::string_view& text, std::string_view suffix) {
  if (text.size() < suffix.size() || text.substr(text.size() - suffix.size()) != suffix) {
    return false;
  }
  text.remove_suffix(suffix.size());
  return true;
}

}  // namespace

std::string DataName(uint64_t slot) { return "snap-" + SlotText(slot) + ".data"; }
std::string MetaName(uint64_t slot) { return "snap-" + SlotText(slot) + ".meta"; }
std::string TempDataName(uint64_t slot) { return "snap-" + SlotText(slot) + ".tmp"; }
std::string PartName(uint64_t slot, uint32_t crc) {
  return "recv-" + SlotText(slot) + "-" + CrcText(crc) + ".part";
}
std::string ProgressName(uint64_t slot, uint32_t crc) {
  return "recv-" + SlotText(slot) + "-" + CrcText(crc) + ".progress";
}

std::optional<ParsedName> ParseName(std::string_view name) {
  ParsedName parsed{FileKind::kData};
  if (ConsumePrefix(name, "snap-")) {
    if (ConsumeSuffix(name, ".data")) {
      parsed.kind = FileKind::kData;
    } else if (ConsumeSuffix(name, ".meta.tmp")) {
      parsed.kind = FileKind::kTempMeta;
    } else if (ConsumeSuffix(name, ".meta")) {
      parsed.kind = FileKind::kMeta;
    } else if (ConsumeSuffix(name, ".tmp")) {
      parsed.kind = FileKind::kTempData;
    } else {
      return std::nullopt;
    }
    std::optional<uint64_t> slot = ParseDigits(name, kSlotDigits, 10);
    if (!slot) return std::nullopt;
    parsed.slot = *slot;
    return parsed;
  }
  if (ConsumePrefix(name, "recv-")) {
    if (ConsumeSuffix(name, ".part")) {
      parsed.kind = FileKind::kPart;
    } else if (ConsumeSuffix(name, ".progress.tmp")) {
      parsed.kind = FileKind::kTempProgress;
    } else if (ConsumeSuffix(name, ".progress")) {
      parsed.kind = FileKind::kProgress;
    } else {
      return std::nullopt;
    }
    if (name.size() != kSlotDigits + 1 + kCrcDigits || name[kSlotDigits] != '-') {
      return std::nullopt;
    }
    std::optional<uint64_t> slot = ParseDigits(name.substr(0, kSlotDigits), kSlotDigits, 10);
    std::optional<uint64_t> crc = ParseDigits(name.substr(kSlotDigits + 1), kCrcDigits, 16);
    if (!slot || !crc) return std::nullopt;
    parsed.slot = *slot;
    parsed.crc = static_cast<uint32_t>(*crc);
    return parsed;
  }
  return std::nullopt;
}

std::string EncodeProgress(const ReceiveProgress& progress) {
  std::string out(kProgressMagic);
  out += EncodeMeta(progress.meta);
  PutLittle(out, progress.durable_bytes, 8);
  PutLittle(out, Crc32c(out), 4);
  return out;
}

std::optional<ReceiveProgress> DecodeProgress(std::string_view bytes) {
  if (bytes.size() != kEncodedProgressSize) return std::nullopt;
  if (bytes.substr(0, kProgressMagic.size()) != kProgressMagic) return std::nullopt;
  std::string_view trailer = bytes.substr(kEncodedProgressSize - 4);
  if (TakeLittle(trailer, 4) != Crc32c(bytes.substr(0, kEncodedProgressSize - 4))) {
    return std::nullopt;
  }
  std::optional<SnapshotMeta> meta =
      DecodeMeta(bytes.substr(kProgressMagic.size(), kEncodedMetaSize));
  if (!meta) return std::nullopt;
  std::string_view rest = bytes.substr(kProgressMagic.size() + kEncodedMetaSize);
  ReceiveProgress progress{*meta, TakeLittle(rest, 8)};
  if (progress.durable_bytes > progress.meta.size_bytes) return std::nullopt;
  return progress;
}

}  // namespace synod::snapshot
