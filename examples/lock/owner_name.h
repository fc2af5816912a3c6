// Lock owner names that no other process uses, on this host or any other.
//
// Two processes that send the same owner name are one owner to the lock: the
// second one's acquire is answered as a re-acquire by the holder, with the
// holder's token, so both would act under one term. `synod-lock run` (without
// --owner) and every term of the `Election` recipe therefore hold locks under
// names built here.
#pragma once

#include <cstddef>
#include <string>

#include "examples/lock/lock_state_machine.h"

namespace synod::examples {

// The shortest `max_length` UniqueOwnerName accepts: pid (at most 10 digits),
// '-', 16 random hex digits.
inline constexpr size_t kMinUniqueOwnerLength = 10 + 1 + 16;

// "<host>-<pid>-<16 hex digits from the OS random source>" (node::OsRandom64),
// a fresh random part on every call. Characters of the host name that a lock
// name may not contain become '_'. The host part is shortened, or dropped with
// its '-', so that the name has at most `max_length` characters; the pid and
// the random digits are never cut (host and pid alone repeat across hosts
// that share a name and across containers). `max_length` below
// kMinUniqueOwnerLength is treated as kMinUniqueOwnerLength. Thread: any.
std::string UniqueOwnerName(size_t max_length = LockStateMachine::kMaxNameLength);

}  // namespace synod::examples
