#include "node/snapshotter.h"

#include <vector>

#include "snapshot/snapshot_sink.h"
#include "snapshot/snapshot_source.h"

namespace synod::node {
namespace {

// Collects a snapshot's chunks in memory (the capture half of Take).
class CaptureWriter final : public statemachine::SnapshotWriter {
 public:
  void Write(std::string_view chunk) override { chunks.emplace_back(chunk); }
  std::vector<std::string> chunks;
};

}  // namespace

Result<snapshot::SnapshotMeta> WriteSnapshot(snapshot::SnapshotStore& store, paxos::Slot slot,
                                             const std::vector<std::string>& chunks) {
  Result<std::unique_ptr<snapshot::SnapshotSink>> sink = store.BeginWrite(slot);
  if (!sink.ok()) return sink.status();
  for (const std::string& chunk : chunks) (*sink)->Write(chunk);
  return (*sink)->Commit();
}

Status RestoreSnapshot(snapshot::SnapshotStore& store, const snapshot::SnapshotMeta& meta,
                       statemachine::Applier& applier) {
  Result<std::unique_ptr<snapshot::SnapshotSource>> source = store.OpenReader(meta);
  if (!source.ok()) return source.status();
  snapshot::ChunkReader reader(**source);
  bool restored = applier.Restore(reader);
  // The state machine need not read past its last chunk; anything left over
  // means it did not read what it wrote.
  std::string leftover;
  bool trailing = restored && reader.ok() && !reader.at_end() && reader.Read(leftover);
  if (!reader.ok()) {
    return reader.status().WithContext("reading snapshot " + std::to_string(meta.applied_slot));
  }
  if (!restored || trailing) {
    return Status::Corruption("snapshot " + std::to_string(meta.applied_slot) +
                              " is not one this state machine wrote (Restore refused it)");
  }
  if (applier.applied() != meta.applied_slot) {
    return Status::Corruption("snapshot " + std::to_string(meta.applied_slot) +
                              " holds applied index " + std::to_string(applier.applied()));
  }
  return Status::Ok();
}

Result<std::unique_ptr<Snapshotter>> Snapshotter::Open(boost::asio::io_context& loop,
                                                       const std::string& dir) {
  Result<std::unique_ptr<snapshot::SnapshotStore>> store = snapshot::SnapshotStore::Open(dir);
  if (!store.ok()) return store.status();
  return std::unique_ptr<Snapshotter>(new Snapshotter(loop, std::move(*store)));
}

Snapshotter::Snapshotter(boost::asio::io_context& loop,
                         std::unique_ptr<snapshot::SnapshotStore> store)
    : store_(std::move(store)), writer_(std::make_unique<BackgroundWriter>(loop)) {}

Snapshotter::~Snapshotter() {
  alive_.reset();
  writer_.reset();  // finishes (or aborts) the write in flight before the store goes
}

bool Snapshotter::Take(const statemachine::Applier& applier, TakeDone done) {
  if (taking_) return false;
  auto capture = std::make_shared<CaptureWriter>();
  applier.Snapshot(*capture);
  taking_ = true;
  paxos::Slot slot = applier.applied();
  auto result = std::make_shared<std::optional<Result<snapshot::SnapshotMeta>>>();
  snapshot::SnapshotStore& store = *store_;
  writer_->Submit(
      [&store, slot, capture, result] {
        result->emplace(WriteSnapshot(store, slot, capture->chunks));
        capture->chunks.clear();
      },
      [this, alive = std::weak_ptr<bool>(alive_), result, done = std::move(done)] {
        if (!alive.lock()) return;
        taking_ = false;
        done(std::move(**result));
      });
  return true;
}

}  // namespace synod::node
