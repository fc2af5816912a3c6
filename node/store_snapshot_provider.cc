// StoreSnapshotProvider implementation.

#include "node/store_snapshot_provider.h"

#include <algorithm>
#include <vector>

namespace synod::node {

StoreSnapshotProvider::StoreSnapshotProvider(snapshot::SnapshotStore& store) : store_(store) {}

StoreSnapshotProvider::~StoreSnapshotProvider() = default;

std::optional<snapshot::SnapshotMeta> StoreSnapshotProvider::LatestSnapshot() {
  return store_.Latest();
}

bool StoreSnapshotProvider::ReadSnapshot(const snapshot::SnapshotMeta& meta, uint64_t offset,
                                         size_t max, std::string& out, bool* gone,
                                         std::string* error) {
  *gone = false;
  out.clear();
  std::vector<snapshot::SnapshotMeta> all = store_.List();
  if (std::find(all.begin(), all.end(), meta) == all.end()) {
    if (source_ != nullptr && source_->meta() == meta) source_.reset();
    *gone = true;
    return true;
  }
  if (source_ == nullptr || source_->meta() != meta) {
    source_.reset();
    std::string why;
    source_ = store_.OpenReader(meta, &why);
    if (source_ == nullptr) {
      if (error != nullptr) *error = "cannot serve snapshot: " + why;
      return false;
    }
  }
  return source_->ReadAt(offset, max, out, error);
}

}  // namespace synod::node
