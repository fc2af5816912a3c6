// KJ promises backed by Asio timers. Internal to transport/.
//
// Used for per-call deadlines (promise.exclusiveJoin(TimeoutAfter(...))) and
// reconnect backoff. Network thread only.
#pragma once

#include <kj/async.h>
#include <kj/debug.h>

#include <boost/asio/io_context.hpp>

#include "transport/types.h"

namespace synod::transport {

// A promise fulfilled once `delay` has passed. Dropping the promise cancels
// the underlying Asio timer.
kj::Promise<void> Delay(boost::asio::io_context& io, Clock::duration delay);

// A promise rejected with a kj OVERLOADED exception whose description is
// `what` once `delay` has passed; for racing against a call.
template <typename T>
kj::Promise<T> FailAfter(boost::asio::io_context& io, Clock::duration delay, const char* what) {
  return Delay(io, delay).then(
      [what]() -> kj::Promise<T> { return KJ_EXCEPTION(OVERLOADED, what); });
}

}  // namespace synod::transport
