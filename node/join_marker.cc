#include "node/join_marker.h"

#include <filesystem>

#include "util/file_io.h"

namespace synod::node {

namespace {
constexpr const char* kMarker = "joined";
}  // namespace

Status RecordJoinMarker(const std::string& data_dir, const MemberAddress& self) {
  return util::WriteFileAtomically(
      data_dir, kMarker,
      "joined a running cluster as " + std::to_string(self.id) + "=" + self.Endpoint() + "\n");
}

bool HasJoinMarker(const std::string& data_dir) {
  std::error_code error;
  return std::filesystem::is_regular_file(data_dir + "/" + kMarker, error);
}

}  // namespace synod::node
