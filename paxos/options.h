// Tunables of the paxos core. All durations are in ticks (the runtime decides
// how long a tick is); the core has no clock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace synod::paxos {

struct CoreOptions {
  // A leader sends heartbeats (and re-sends unacknowledged accepts) this often.
  uint32_t heartbeat_ticks = 2;
  // Base election timeout; each follower waits a random time in
  // [election_ticks, 2 * election_ticks) without hearing a leader before a pre-vote.
  uint32_t election_ticks = 10;
  // Maximum number of slots a leader has proposed but not yet seen chosen.
  uint32_t window_slots = 64;
  // Maximum commands and bytes batched into one slot.
  uint32_t max_batch_commands = 256;
  size_t max_batch_bytes = 1 << 20;
  // Commands queued at the leader waiting for a free slot; beyond this Propose
  // refuses with kBusy (backpressure instead of unbounded memory).
  size_t max_pending_commands = 100000;
  // Bytes of those queued commands; beyond this Propose refuses with kBusy too
  // (a call is always taken into an empty queue, so one call larger than the
  // limit is not refused forever).
  size_t max_pending_bytes = 256u << 20;
  // Promise pages and catch-up replies stop after this many entries or bytes.
  uint32_t max_page_entries = 256;
  size_t max_page_bytes = 4 << 20;

  // Returns an empty string if the options are usable, else what is wrong.
  std::string Validate() const;
};

}  // namespace synod::paxos
