// ExitOnTaskError: the kj::TaskSet error handler of every task set in
// transport/. Tasks handle their own failures (network errors, refusals) in
// their continuations, so an exception reaching the task set was thrown by
// that handling itself: an internal failure, which ends the process
// (ExitOnInternalError, exit 70) rather than being dropped.
// Thread: the event loop's, like the TaskSet that uses it.
#pragma once

#include <kj/async.h>

#include "transport/internal_error.h"

namespace synod::transport {

class ExitOnTaskError final : public kj::TaskSet::ErrorHandler {
 public:
  void taskFailed(kj::Exception&& e) override {
    ExitOnInternalError("a network task", e.getDescription().cStr());
  }
};

}  // namespace synod::transport
