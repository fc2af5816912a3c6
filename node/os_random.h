// OsRandom64: 64 bits from the operating system's random source, for values
// that must differ between processes: a client's session-registration nonce
// (node/client.h), the cluster id a first leader proposes, the default seed
// of a replica's generator (election timing), and synod-lock's default owner.
//
// A clock reading is not such a value. Two client processes started together
// were seen to read the very same steady_clock nanosecond, draw the same
// nonce, and be handed the same session: the second one's first command was
// then answered with the first one's result as a duplicate and never applied.
//
// Thread: any. Errors: never throws. If the OS source is unavailable
// (std::random_device throws), it mixes the clock, the process id and the
// thread id through SplitMix64 instead: weaker, and only very likely (not
// certainly) distinct between processes.
#pragma once

#include <cstdint>

namespace synod::node {

uint64_t OsRandom64();

}  // namespace synod::node
