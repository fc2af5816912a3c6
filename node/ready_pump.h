// ReadyPump: carries out the core's Ready contract (paxos/ready.h) for the
// runtime — messages leave at once, promises/accepts are persisted by the
// Persister, replies that report them leave only after the write is durable,
// committed entries go to the application in order, then Core::Advance().
// The runtime (node::Replica) and the deterministic simulator (tests/sim/)
// both drive their cores through it, each supplying its own seams below.
// Built as synod_ready_pump, which depends on paxos/ only.
//
// Thread: all methods run on the runtime's event-loop thread. The Persister
// may do its write on another thread but must invoke `done` on the loop thread.
#pragma once

#include <functional>
#include <optional>
#include <vector>

#include "paxos/core.h"

namespace synod::node {

// Where a synced write may run (Persister::Persist).
enum class WritePlacement {
  kStorageThread,   // off the loop: a large write, the loop has work meanwhile
  kLoopNow,         // small, nothing to send: may hold the loop for its fsync
  kLoopAfterSends,  // small, but messages were just sent (a leader's Accepts):
                    // may hold the loop once they have been handed to the kernel
};

// Makes acceptor state durable. Implementations: LevelDB on a storage thread
// (production), in-memory (tests). A failed write must not call `done`: it is
// fatal (the implementation reports it and terminates the process).
class Persister {
 public:
  virtual ~Persister() = default;
  // Durably stores `promised` (if set) and `entries` in one atomic write,
  // with `chosen_marks` (as for WriteUnsynced; other slots than `entries`),
  // then calls `done` on the loop thread (never inside Persist). At most one
  // call is outstanding. `placement` says whether the write may run on the
  // loop thread itself (saving two thread hops), and when.
  virtual void Persist(std::optional<paxos::Ballot> promised, std::vector<paxos::SlotEntry> entries,
                       std::vector<paxos::SlotEntry> chosen_marks, WritePlacement placement,
                       std::function<void()> done) = 0;
  // Writes `entries` (chosen marks) after every write submitted before it and
  // before every later one, without a sync; nothing waits for it.
  virtual void WriteUnsynced(std::vector<paxos::SlotEntry> entries) = 0;
  // Deletes stored entries at slots <= `through` (Ready::compact_through), in
  // order with the other writes, without a sync; nothing waits for it.
  virtual void WriteCompaction(paxos::Slot through) = 0;
};

// Acts on Ready::fetch_snapshot (fetch a peer's snapshot and install it).
class SnapshotNeeds {
 public:
  virtual ~SnapshotNeeds() = default;
  virtual void FetchSnapshot(const paxos::SnapshotFetch& fetch) = 0;
};

// Hands messages to the network (fire and forget; loss is tolerated).
class MessageSink {
 public:
  virtual ~MessageSink() = default;
  virtual void Send(const paxos::Message& message) = 0;
};

// Receives chosen entries in slot order, exactly once per core lifetime.
class CommitSink {
 public:
  virtual ~CommitSink() = default;
  virtual void Apply(const paxos::CommittedEntry& entry) = 0;
  // Called once after Apply has run for every entry of one Ready (never for a
  // Ready that commits none), before the rest of that Ready is acted on: the
  // place for work due per batch rather than per entry. Default: nothing.
  virtual void BatchApplied() {}
};

class ReadyPump {
 public:
  // Writes up to this size may run on the loop thread (see
  // Persister::Persist): measured 9% more ops/s at 1 client, 5% fewer at 256
  // when every follower write ran there.
  static constexpr size_t kInlineWriteMaxBytes = 4096;

  // All references must outlive the pump.
  // `snapshots` may be null (fetch requests are then ignored; the core asks again).
  ReadyPump(paxos::Core& core, Persister& persister, MessageSink& network, CommitSink& commits,
            SnapshotNeeds* snapshots = nullptr);

  // Processes Readies until the core has none or a write is in flight. Call
  // after every Step/Tick/Propose.
  void Pump();
  bool write_in_flight() const { return write_in_flight_; }

 private:
  void OnPersisted();

  paxos::Core& core_;
  Persister& persister_;
  MessageSink& network_;
  CommitSink& commits_;
  SnapshotNeeds* snapshots_;
  bool write_in_flight_ = false;
  // The Ready's messages_after_persist while its write is in flight (kept
  // here so that `done` captures only the pump and needs no allocation).
  std::vector<paxos::Message> after_persist_;
};

}  // namespace synod::node
