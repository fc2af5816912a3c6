#include "node/join_marker.h"

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
  if (!recorded.ok()) return true;  // nothing to keep: CheckRecordedMembers rewrites it too
  if (!recorded->has_value()) return true;
  const RecordedMembers& members = **recorded;
  return members.OneLine() || (members.joined && members.config_slot == 0);
}

}  // namespace synod::node
