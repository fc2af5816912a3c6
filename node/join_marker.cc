#include "node/join_marker.h"

#include <fstream>

namespace synod::node {

Status RecordJoinMarker(const std::string& data_dir, const MemberAddress& self) {
  return RecordJoined(data_dir, self);
}

bool HasJoinMarker(const std::string& data_dir) {
  Result<std::optional<RecordedMembers>> recorded = ReadRecordedMembers(data_dir);
  return recorded.ok() && recorded->has_value() && (*recorded)->joined;
}

bool MayRecordJoinMarker(const std::string& data_dir) {
  Result<std::optional<RecordedMembers>> recorded = ReadRecordedMembers(data_dir);
  if (!recorded.ok()) {
    // Malformed in the first form (no "#" line: empty, or a bad list), as a
    // founder's start rewrites it from --members too; never a malformed
    // headered file, nor one that cannot be read (CheckRecordedMembers
    // refuses those and keeps them).
    if (!recorded.status().IsCorruption()) return false;
    std::ifstream in(data_dir + "/members");
    if (!in) return false;
    return in.peek() != '#';
  }
  if (!recorded->has_value()) return true;
  const RecordedMembers& members = **recorded;
  return members.OneLine() || (members.joined && members.config_slot == 0);
}

}  // namespace synod::node
