// StoreChunkSink: receives a snapshot fetched from a peer into this replica's
// SnapshotStore (transport::SnapshotChunkSink over snapshot::SnapshotReceiver),
// with every write, fsync and the install on a thread of its own, so the
// network thread never waits for the disk while a snapshot arrives.
//
// Ownership: owns its thread and the receive in progress; the store and the
// io_context must outlive it. Thread: methods on the loop thread; the store
// work runs on the sink's thread in call order; completions are posted back
// to the loop (dropped once the sink is gone). The destructor finishes the
// work already queued (a Stop's fsync included), then joins.
#pragma once

#include <spdlog/logger.h>

#include <boost/asio/io_context.hpp>
#include <memory>

#include "node/background_writer.h"
#include "snapshot/snapshot_store.h"
#include "transport/snapshot_chunk_sink.h"

namespace synod::node {

class StoreChunkSink final : public transport::SnapshotChunkSink {
 public:
  StoreChunkSink(boost::asio::io_context& loop, snapshot::SnapshotStore& store,
                 std::shared_ptr<spdlog::logger> logger);
  ~StoreChunkSink() override;
  StoreChunkSink(const StoreChunkSink&) = delete;
  StoreChunkSink& operator=(const StoreChunkSink&) = delete;

  // SnapshotStore::BeginReceive (the store's Status if it refuses).
  void Begin(const snapshot::SnapshotMeta& meta,
             std::function<void(Result<uint64_t> held)> done) override;
  // SnapshotReceiver::Append (its Status; kIoError if no receive is open).
  void Append(uint64_t offset, std::string bytes, std::function<void(Status)> done) override;
  // SnapshotReceiver::Finish (its Status).
  void Finish(std::function<void(Result<snapshot::SnapshotMeta> installed)> done) override;
  // SnapshotReceiver::Sync (if anything is unsynced) or Abandon; a failed
  // fsync is logged (the next receive starts from the last durable length).
  void Stop(bool abandon) override;

 private:
  // Runs `job` on the sink's thread, then `done` on the loop unless the sink is gone.
  void Run(std::function<void()> job, std::function<void()> done);

  snapshot::SnapshotStore& store_;
  std::shared_ptr<spdlog::logger> log_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  // Touched only by jobs on the sink's thread.
  std::unique_ptr<snapshot::SnapshotReceiver> receiver_;
  BackgroundWriter writer_;  // last: joined before the receiver goes
};

}  // namespace synod::node
