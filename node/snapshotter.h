// Snapshotter: a replica's snapshots — restoring the application from the
// latest durable one at start, taking new ones without stalling the loop for
// longer than capturing the state takes, and restoring a snapshot fetched
// from a peer.
//
// Taking a snapshot has two halves. Capture runs on the loop thread:
// Applier::Snapshot (applied index, log time, sessions, then the user's
// StateMachine::Snapshot) writes into memory. The write to disk (streamed to
// snapshot::SnapshotStore, fsynced, installed atomically) runs on the
// snapshotter's own thread, so accepting and applying commands continue while
// it runs. A StateMachine therefore only needs Snapshot to be a fast,
// consistent serialisation of its state; memory for one copy of the state is
// needed while the write runs.
//
// Ownership: owns the store and its thread. Thread: every method on the loop
// thread; completions run there too (dropped once the Snapshotter is gone).
#pragma once

#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "node/background_writer.h"
#include "snapshot/snapshot_store.h"
#include "statemachine/applier.h"
#include "util/status.h"

namespace synod::node {

// Streams `chunks` (what Applier::Snapshot wrote) into a new snapshot of
// `store` at `slot` and installs it durably. Its meta, or the failure.
// Thread: any one thread (the store is thread-safe).
Result<snapshot::SnapshotMeta> WriteSnapshot(snapshot::SnapshotStore& store, paxos::Slot slot,
                                             const std::vector<std::string>& chunks);

// Restores `applier` from snapshot `meta` of `store` (OpenReader checks its
// size and CRC32C). Ok, or why not (the message says what failed); on an
// error the applier may be half restored and must not be used.
Status RestoreSnapshot(snapshot::SnapshotStore& store, const snapshot::SnapshotMeta& meta,
                       statemachine::Applier& applier);

class Snapshotter {
 public:
  // Opens (creates) `dir`. The store's failure if it cannot.
  static Result<std::unique_ptr<Snapshotter>> Open(boost::asio::io_context& loop,
                                                   const std::string& dir);
  ~Snapshotter();
  Snapshotter(const Snapshotter&) = delete;
  Snapshotter& operator=(const Snapshotter&) = delete;

  snapshot::SnapshotStore& store() { return *store_; }

  // RestoreSnapshot from this store (the replica stops on an error).
  Status Restore(const snapshot::SnapshotMeta& meta, statemachine::Applier& applier) {
    return RestoreSnapshot(*store_, meta, applier);
  }

  // Captures `applier`'s state now and writes it in the background; `done`
  // gets the installed snapshot or the failure. One at a time: returns false
  // (and does nothing) while a write is running.
  using TakeDone = std::function<void(Result<snapshot::SnapshotMeta>)>;
  bool Take(const statemachine::Applier& applier, TakeDone done);
  bool taking() const { return taking_; }

 private:
  Snapshotter(boost::asio::io_context& loop, std::unique_ptr<snapshot::SnapshotStore> store);

  std::unique_ptr<snapshot::SnapshotStore> store_;
  std::unique_ptr<BackgroundWriter> writer_;  // the snapshot thread
  bool taking_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace synod::node
