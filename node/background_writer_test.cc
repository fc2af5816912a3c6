#include "node/background_writer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

namespace synod::node {
namespace {

TEST(BackgroundWriter, RunsJobsInOrderOffTheLoopAndCompletesOnTheLoop) {
  boost::asio::io_context loop;
  auto keep_running = boost::asio::make_work_guard(loop);  // the loop waits for completions
  std::vector<int> order;
  std::thread::id loop_thread = std::this_thread::get_id();
  std::atomic<bool> job_off_loop{true};
  int completions = 0;
  {
    BackgroundWriter writer(loop);
    for (int i = 0; i < 5; ++i) {
      writer.Submit(
          [&, i] {
            if (std::this_thread::get_id() == loop_thread) job_off_loop = false;
            order.push_back(i);
          },
          [&] {
            EXPECT_EQ(std::this_thread::get_id(), loop_thread);
            ++completions;
          });
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (completions < 5 && std::chrono::steady_clock::now() < deadline) {
      loop.run_one_for(std::chrono::milliseconds(100));
    }
  }
  EXPECT_EQ(completions, 5);
  EXPECT_TRUE(job_off_loop);
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
}

TEST(BackgroundWriter, IsIdleOnlyWhenNothingIsQueuedOrRunning) {
  boost::asio::io_context loop;
  auto keep_running = boost::asio::make_work_guard(loop);
  BackgroundWriter writer(loop);
  EXPECT_TRUE(writer.Idle());
  std::atomic<bool> release{false};
  std::atomic<bool> started{false};
  bool done = false;
  writer.Submit(
      [&] {
        started = true;
        while (!release) std::this_thread::yield();
      },
      [&] { done = true; });
  writer.Submit([] {}, nullptr);
  EXPECT_FALSE(writer.Idle()) << "two jobs queued";
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!started && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  EXPECT_FALSE(writer.Idle()) << "one running, one queued";
  release = true;
  while (!done && std::chrono::steady_clock::now() < deadline) {
    loop.run_one_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(done);
  while (!writer.Idle() && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  EXPECT_TRUE(writer.Idle());
}

// A job that throws must not pass for a finished write: the process ends.
TEST(BackgroundWriterDeathTest, AJobThatThrowsEndsTheProcessWithStatus70) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        boost::asio::io_context loop;
        BackgroundWriter writer(loop);
        writer.Submit([] { throw std::runtime_error("disk on fire"); }, nullptr);
      },
      ::testing::ExitedWithCode(70),
      "synod: fatal internal error in the storage thread: std::runtime_error: disk on fire");
}

}  // namespace
}  // namespace synod::node
