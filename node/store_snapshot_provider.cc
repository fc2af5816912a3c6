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

Status StoreSnapshotProvider::ReadSnapshot(const snapshot::SnapshotMeta& meta, uint64_t offset,
                                           size_t max, std::string& out) {
  out.clear();
  std::vector<snapshot::SnapshotMeta> all = store_.List();
  if (std::find(all.begin(), all.end(), meta) == all.end()) {
    if (source_ != nullptr && source_->meta() == meta) source_.reset();
    return Status::NotFound("snapshot " + snapshot::DescribeMeta(meta) + " is gone");
  }
  if (source_ == nullptr || source_->meta() != meta) {
    source_.reset();
    Result<std::unique_ptr<snapshot::SnapshotSource>> source = store_.OpenReader(meta);
    if (!source.ok()) return source.status().WithContext("cannot serve snapshot");
    source_ = std::move(*source);
  }
  return source_->ReadAt(offset, max, out);
}

}  // namespace synod::node
