// StateMachine: what a Synod user writes. Synod applies every committed
// command to it, in the same order on every replica, exactly once.
//
// Contract for implementers:
//   - Apply must be deterministic: the same sequence of commands from the same
//     state gives the same results and the same state on every replica. Do not
//     read clocks, random numbers, the environment, or unordered-container
//     iteration order that may differ between processes. Time, when needed,
//     comes from the log (ApplyContext::log_time_ms).
//   - Reads are commands too: a read goes through the log, so it is
//     linearizable. Apply the command and return what it read.
//   - Apply is called on one thread at a time (the replica's loop thread);
//     Snapshot/Restore are never called concurrently with Apply.
//   - Snapshot writes the whole state through the writer, in as many chunks as
//     it likes; Restore replaces the whole state with what a Snapshot wrote.
//     The runtime calls Snapshot to compact the log and Restore when a
//     replica installs a snapshot (at start, or one fetched from a peer), so
//     they must round-trip exactly: Restore(Snapshot()) gives the same state.
//   - Errors in a command (bad input) are best returned as results: encode
//     them in the returned bytes. An exception derived from std::exception
//     thrown by Apply (std::invalid_argument from std::stoll, say) becomes
//     that command's result instead, a failure carrying its message (what(),
//     or a kj::Exception's description; first line, at most 1 KiB): the
//     client gets a definite failure naming the message, every replica logs
//     it at error level, records it for retries of the same command, and
//     goes on serving. This is only safe because every replica throws the
//     same exception with the same message for the same command in the same
//     state: a throw that depends on anything else (memory, timing) is
//     non-determinism, a bug of the state machine like any other.
//   - Apply must throw before it changes any state (the strong exception
//     guarantee): validate first, then mutate. A failed result then means
//     the command had no effect on the state machine, which is what clients
//     are told (kFailed, exit 1). Synod cannot undo changes made before a
//     throw: they would stay, on every replica alike, behind a "failed"
//     answer.
//   - std::bad_alloc, exceptions of types not derived from std::exception,
//     and any exception from Snapshot or Restore are not results: the replica
//     stops at once (exit status 70) rather than risk diverging. A command
//     whose Apply throws std::bad_alloc every time stops every replica that
//     applies it, again at each restart (a crash loop): Apply must not let a
//     command allocate unbounded memory (bound sizes and throw, e.g.,
//     std::length_error, which is a result).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace synod::statemachine {

// Facts about the command being applied, identical on every replica.
struct ApplyContext {
  uint64_t slot = 0;         // log position of the command's batch
  uint64_t log_time_ms = 0;  // log time: never decreases, stamped by leaders
};

// Receives a snapshot in chunks. Thread: the caller's.
class SnapshotWriter {
 public:
  virtual ~SnapshotWriter() = default;
  virtual void Write(std::string_view chunk) = 0;
};

// Hands back a snapshot in the chunks it was written in.
class SnapshotReader {
 public:
  virtual ~SnapshotReader() = default;
  // Fills `chunk` with the next chunk; false at the end.
  virtual bool Read(std::string& chunk) = 0;
};

class StateMachine {
 public:
  virtual ~StateMachine() = default;
  // Applies one committed command and returns its result.
  virtual std::string Apply(std::string_view command, const ApplyContext& context) = 0;
  // Writes the whole state.
  virtual void Snapshot(SnapshotWriter& out) const = 0;
  // Replaces the whole state with a snapshot; returns false if it is not one
  // this state machine wrote (the replica then refuses to continue).
  virtual bool Restore(SnapshotReader& in) = 0;
};

}  // namespace synod::statemachine
