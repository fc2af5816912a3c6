#include "log/entry_codec.h"

#include <cstring>

#include "paxos/configuration.h"
#include "util/byte_order.h"

namespace synod::log {

namespace {

void PutU32(std::string& out, uint32_t v) { util::PutLittle(out, v, 4); }
void PutU64(std::string& out, uint64_t v) { util::PutLittle(out, v, 8); }
void PutBytes(std::string& out, std::string_view bytes) {
  PutU32(out, static_cast<uint32_t>(bytes.size()));
  out.append(bytes);
}

// Sequential reader over a byte string; every Get fails once input runs out.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}
  bool GetU8(uint8_t& v) {
    if (bytes_.size() < 1) return false;
    v = static_cast<uint8_t>(bytes_[0]);
    bytes_.remove_prefix(1);
    return true;
  }
  bool GetU32(uint32_t& v) {
    if (bytes_.size() < 4) return false;
    v = static_cast<uint32_t>(util::TakeLittle(bytes_, 4));
    return true;
  }
  bool GetU64(uint64_t& v) {
    if (bytes_.size() < 8) return false;
    v = util::TakeLittle(bytes_, 8);
    return true;
  }
  bool GetBytes(std::string& out) {
    uint32_t size = 0;
    if (!GetU32(size) || bytes_.size() < size) return false;
    out.assign(bytes_.data(), size);
    bytes_.remove_prefix(size);
    return true;
  }
  bool Done() const { return bytes_.empty(); }

 private:
  std::string_view bytes_;
};

constexpr uint8_t kEntryTag = 0xE1;
constexpr uint8_t kMetaTag = 0x4D;

}  // namespace

std::string EncodeBallot(const paxos::Ballot& ballot) {
  std::string out;
  PutU64(out, ballot.round);
  PutU32(out, ballot.replica);
  return out;
}

std::optional<paxos::Ballot> DecodeBallot(std::string_view bytes) {
  Reader in(bytes);
  paxos::Ballot ballot;
  if (!in.GetU64(ballot.round) || !in.GetU32(ballot.replica) || !in.Done()) return std::nullopt;
  return ballot;
}

std::string EncodeEntry(const paxos::Entry& entry) {
  std::string out;
  // One allocation: a slot may carry hundreds of KiB of commands.
  size_t size = 1 + 8 + 4 + 1 + 1 + 4;
  for (const std::string& command : entry.value->commands) size += 4 + command.size();
  out.reserve(size);
  out.push_back(static_cast<char>(kEntryTag));
  PutU64(out, entry.ballot.round);
  PutU32(out, entry.ballot.replica);
  out.push_back(entry.chosen ? 1 : 0);
  out.push_back(static_cast<char>(entry.value->kind));
  PutU32(out, static_cast<uint32_t>(entry.value->commands.size()));
  for (const std::string& command : entry.value->commands) PutBytes(out, command);
  return out;
}

std::optional<paxos::Entry> DecodeEntry(std::string_view bytes) {
  Reader in(bytes);
  uint8_t tag = 0, chosen = 0, kind = 0;
  uint32_t count = 0;
  paxos::Entry entry;
  if (!in.GetU8(tag) || tag != kEntryTag || !in.GetU64(entry.ballot.round) ||
      !in.GetU32(entry.ballot.replica) || !in.GetU8(chosen) || chosen > 1 || !in.GetU8(kind) ||
      !in.GetU32(count)) {
    return std::nullopt;
  }
  entry.chosen = chosen == 1;
  if (kind == static_cast<uint8_t>(paxos::ValueKind::kNoop)) {
    if (count != 0 || !in.Done()) return std::nullopt;
    entry.value = paxos::NoopValue();
    return entry;
  }
  if (kind == static_cast<uint8_t>(paxos::ValueKind::kConfiguration)) {
    // One encoded configuration change (paxos/configuration.h).
    auto value = std::make_shared<paxos::Value>();
    value->kind = paxos::ValueKind::kConfiguration;
    value->commands.resize(1);
    if (count != 1 || !in.GetBytes(value->commands[0]) || !in.Done() ||
        !paxos::DecodeConfigurationValue(*value)) {
      return std::nullopt;
    }
    entry.value = std::move(value);
    return entry;
  }
  if (kind != static_cast<uint8_t>(paxos::ValueKind::kCommands) || count == 0 ||
      count > bytes.size()) {
    return std::nullopt;
  }
  std::vector<std::string> commands(count);
  for (std::string& command : commands) {
    if (!in.GetBytes(command)) return std::nullopt;
  }
  if (!in.Done()) return std::nullopt;
  entry.value = paxos::MakeCommandsValue(std::move(commands));
  return entry;
}

std::string EncodeMetadata(const LogMetadata& metadata) {
  std::string out;
  out.push_back(static_cast<char>(kMetaTag));
  PutU32(out, metadata.format_version);
  PutU32(out, metadata.replica_id);
  PutBytes(out, metadata.cluster_id);
  return out;
}

std::optional<LogMetadata> DecodeMetadata(std::string_view bytes) {
  Reader in(bytes);
  uint8_t tag = 0;
  LogMetadata metadata;
  if (!in.GetU8(tag) || tag != kMetaTag || !in.GetU32(metadata.format_version)) {
    return std::nullopt;
  }
  // A newer format may append fields: only the version is read in that case.
  if (metadata.format_version > kFormatVersion) return metadata;
  if (!in.GetU32(metadata.replica_id) || !in.GetBytes(metadata.cluster_id) || !in.Done()) {
    return std::nullopt;
  }
  return metadata;
}

std::string EncodeSlot(paxos::Slot slot) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((slot >> (8 * (7 - i))) & 0xFF);
  return out;  // big-endian: keys iterate in slot order
}

std::optional<paxos::Slot> DecodeSlot(std::string_view bytes) {
  if (bytes.size() != 8) return std::nullopt;
  paxos::Slot slot = 0;
  for (int i = 0; i < 8; ++i) slot = (slot << 8) | static_cast<uint8_t>(bytes[i]);
  return slot;
}

}  // namespace synod::log
