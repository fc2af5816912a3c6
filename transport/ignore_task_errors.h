// IgnoreTaskErrors: a kj::TaskSet error handler for task sets whose tasks
// handle their own failures in their continuations (so nothing reaches it).
// Thread: the event loop's, like the TaskSet that uses it.
#pragma once

#include <kj/async.h>

namespace synod::transport {

class IgnoreTaskErrors final : public kj::TaskSet::ErrorHandler {
 public:
  void taskFailed(kj::Exception&&) override {}
};

}  // namespace synod::transport
