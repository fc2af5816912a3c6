// EventLoop tests: KJ promises and Asio handlers make progress on one thread;
// Post/Stop work from other threads; Asio-timer-backed KJ delays.

#include "transport/event_loop.h"

#include <gtest/gtest.h>
#include <kj/async.h>
#include <kj/debug.h>

#include <atomic>
#include <thread>

#include "transport/timer.h"

namespace synod::transport {
namespace {

using namespace std::chrono_literals;

TEST(EventLoopTest, RunsKjContinuationsFromAsio) {
  EventLoop loop;
  int steps = 0;
  kj::Promise<void> chain = kj::evalLater([&] { ++steps; })
                                .then([&] { ++steps; })
                                .then([&] { ++steps; })
                                .eagerlyEvaluate(nullptr);
  EXPECT_EQ(steps, 0);
  EXPECT_TRUE(loop.RunUntil([&] { return steps == 3; }, 5s));
}

TEST(EventLoopTest, LongKjChainsDoNotStarveAsioHandlers) {
  EventLoop loop;
  // A KJ loop that always has work (re-queues itself) must still let Asio run.
  bool stop = false;
  std::function<kj::Promise<void>()> spin = [&]() -> kj::Promise<void> {
    if (stop) return kj::READY_NOW;
    return kj::evalLater([&] { return spin(); });
  };
  kj::Promise<void> spinning = spin().eagerlyEvaluate(nullptr);
  bool posted_ran = false;
  loop.Post([&] { posted_ran = true; });
  EXPECT_TRUE(loop.RunUntil([&] { return posted_ran; }, 5s));
  stop = true;
  loop.RunFor(10ms);
}

TEST(EventLoopTest, DelayFiresAfterItsDuration) {
  EventLoop loop;
  bool fired = false;
  Clock::time_point start = Clock::now();
  kj::Promise<void> p = Delay(loop.io(), 30ms).then([&] { fired = true; }).eagerlyEvaluate(nullptr);
  EXPECT_TRUE(loop.RunUntil([&] { return fired; }, 5s));
  EXPECT_GE(Clock::now() - start, 30ms);
}

TEST(EventLoopTest, DroppedDelayNeverFires) {
  EventLoop loop;
  bool fired = false;
  {
    kj::Promise<void> p =
        Delay(loop.io(), 1ms).then([&] { fired = true; }).eagerlyEvaluate(nullptr);
  }
  loop.RunFor(30ms);
  EXPECT_FALSE(fired);
}

TEST(EventLoopTest, FailAfterRejectsAsOverloaded) {
  EventLoop loop;
  kj::Maybe<kj::Exception> error;
  kj::Promise<void> p = kj::Promise<void>(kj::NEVER_DONE)
                            .exclusiveJoin(FailAfter<void>(loop.io(), 5ms, "deadline"))
                            .then([] {}, [&](kj::Exception&& e) { error = kj::mv(e); })
                            .eagerlyEvaluate(nullptr);
  EXPECT_TRUE(loop.RunUntil([&] { return error != nullptr; }, 5s));
  KJ_IF_MAYBE (e, error) {
    EXPECT_EQ(e->getType(), kj::Exception::Type::OVERLOADED);
  }
}

TEST(EventLoopTest, PostAndStopFromAnotherThread) {
  EventLoop loop;
  std::atomic<bool> ran_on_loop{false};
  const std::thread::id loop_thread = std::this_thread::get_id();
  std::thread other([&] {
    loop.Post([&] {
      ran_on_loop = std::this_thread::get_id() == loop_thread;
      loop.Stop();
    });
  });
  loop.Run();  // returns only because the posted handler called Stop()
  other.join();
  EXPECT_TRUE(ran_on_loop);
}

TEST(EventLoopTest, RunUntilGivesUpAtTheDeadline) {
  EventLoop loop;
  Clock::time_point start = Clock::now();
  EXPECT_FALSE(loop.RunUntil([] { return false; }, 20ms));
  EXPECT_GE(Clock::now() - start, 20ms);
}

}  // namespace
}  // namespace synod::transport
