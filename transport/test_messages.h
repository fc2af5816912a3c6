// Sample Paxos messages of every type, for transport tests and the benchmark.
#pragma once

#include <vector>

#include "paxos/message.h"

namespace synod::transport::testing {

// One message of each of the 11 body types, from `from` to `to`, with
// non-default values in every field (values with several commands, a no-op,
// binary bytes including NULs).
std::vector<paxos::Message> OneOfEachMessage(paxos::ReplicaId from, paxos::ReplicaId to);

}  // namespace synod::transport::testing
