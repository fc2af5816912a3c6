#include "paxos/options.h"

namespace synod::paxos {

std::string CoreOptions::Validate() const {
  if (heartbeat_ticks == 0) return "heartbeat_ticks must be at least 1";
  if (election_ticks <= heartbeat_ticks * 2) {
    return "election_ticks must exceed twice heartbeat_ticks";
  }
  if (window_slots == 0) return "window_slots must be at least 1";
  if (max_batch_commands == 0) return "max_batch_commands must be at least 1";
  if (max_batch_bytes == 0) return "max_batch_bytes must be at least 1";
  if (max_pending_bytes == 0) return "max_pending_bytes must be at least 1";
  if (max_page_entries == 0) return "max_page_entries must be at least 1";
  if (max_page_bytes == 0) return "max_page_bytes must be at least 1";
  return "";
}

}  // namespace synod::paxos
