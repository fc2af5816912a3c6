// Basic value types of the Multi-Paxos core: replica ids, slots, ballots,
// values (batches of opaque commands) and per-slot acceptor entries.
//
// All types here are plain data: copyable, comparable, no I/O.
#pragma once

#include <compare>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace synod::paxos {

// Identifies a replica within a cluster. 0 is never a valid replica id.
using ReplicaId = uint32_t;
inline constexpr ReplicaId kNoReplica = 0;

// Position in the replicated log. Slots start at 1; 0 means "none".
using Slot = uint64_t;

// A proposal number: (round, replica). Totally ordered, round first, so two
// replicas never share a ballot. The null ballot (round 0) is below all others
// and is never used to propose.
struct Ballot {
  uint64_t round = 0;
  ReplicaId replica = kNoReplica;

  bool IsNull() const { return round == 0; }
  auto operator<=>(const Ballot&) const = default;
  std::string ToString() const;  // "round.replica"
};

// What a slot holds. kNoop fills a hole left by a failed leader and applies
// nothing; kCommands carries a batch of opaque client commands, applied in
// order; kConfiguration carries one encoded configuration change in
// `commands[0]` (paxos/configuration.h): the runtime applies it to its member
// list, never to the user's state machine.
enum class ValueKind : uint8_t { kNoop = 0, kCommands = 1, kConfiguration = 2 };

// The value decided for one slot. Immutable once created; shared by pointer so
// that a value sent to many peers and kept in the log is stored once.
struct Value {
  ValueKind kind = ValueKind::kNoop;
  std::vector<std::string> commands;  // empty for kNoop; one payload for kConfiguration

  bool operator==(const Value&) const = default;
  size_t ByteSize() const;  // approximate encoded size, for paging and batching
};
using ValuePtr = std::shared_ptr<const Value>;

// Returns a shared no-op value.
ValuePtr NoopValue();
// Returns a value holding `commands` (which must not be empty).
ValuePtr MakeCommandsValue(std::vector<std::string> commands);
// Deep equality of two value pointers (both non-null).
bool SameValue(const ValuePtr& a, const ValuePtr& b);

// An acceptor's durable record for one slot.
//   ballot: the ballot in which this acceptor accepted `value`; null if the
//           acceptor never accepted here and only learned the chosen value.
//   chosen: the value is known chosen (learned, never re-derived at restart).
struct Entry {
  Ballot ballot;
  ValuePtr value;
  bool chosen = false;
};

// A slot and its entry, as persisted and reported.
struct SlotEntry {
  Slot slot = 0;
  Entry entry;
};

// A chosen value handed to the application, in slot order.
struct CommittedEntry {
  Slot slot = 0;
  ValuePtr value;
};

}  // namespace synod::paxos
