// BackgroundWriter: one worker thread that runs blocking writes (fsyncs) off
// the event loop, and posts each completion back to the loop's io_context.
//
// Ownership: owns its thread; the io_context must outlive the writer.
// Thread: Submit is called on the loop thread; jobs run in submission order on
// the worker; completions run on the loop thread. The destructor finishes
// queued jobs, then joins. An exception escaping a job ends the process (exit
// 70, transport/internal_error.h): a write that failed half-way must never be
// taken for done.
#pragma once

#include <boost/asio/io_context.hpp>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace synod::node {

class BackgroundWriter {
 public:
  explicit BackgroundWriter(boost::asio::io_context& loop);
  ~BackgroundWriter();
  BackgroundWriter(const BackgroundWriter&) = delete;
  BackgroundWriter& operator=(const BackgroundWriter&) = delete;

  // Runs `job` on the worker thread, then `done` (if not null) on the loop thread.
  void Submit(std::function<void()> job, std::function<void()> done);
  // No job queued or running: a job run by the caller now is ordered after
  // every job submitted before (call from the submitting thread only).
  bool Idle();

 private:
  void Run();

  boost::asio::io_context& loop_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::pair<std::function<void()>, std::function<void()>>> jobs_;
  bool stopping_ = false;
  size_t running_ = 0;  // jobs taken by the worker, not yet finished (guarded by mutex_)
  std::thread worker_;
};

}  // namespace synod::node
