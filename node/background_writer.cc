#include "node/background_writer.h"

#include <boost/asio/post.hpp>

#include "transport/internal_error.h"

namespace synod::node {

BackgroundWriter::BackgroundWriter(boost::asio::io_context& loop)
    : loop_(loop),
      worker_([this] { transport::CallOrExit("the storage thread", [this] { Run(); }); }) {}

BackgroundWriter::~BackgroundWriter() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  worker_.join();
}

void BackgroundWriter::Submit(std::function<void()> job, std::function<void()> done) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    jobs_.emplace_back(std::move(job), std::move(done));
  }
  wake_.notify_one();
}

bool BackgroundWriter::Idle() {
  std::lock_guard<std::mutex> lock(mutex_);
  return jobs_.empty() && running_ == 0;
}

void BackgroundWriter::Run() {
  while (true) {
    std::pair<std::function<void()>, std::function<void()>> next;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
      if (jobs_.empty()) return;  // stopping and drained
      next = std::move(jobs_.front());
      jobs_.pop_front();
      ++running_;
    }
    transport::CallOrExit("the storage thread", next.first);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      --running_;
    }
    if (next.second) boost::asio::post(loop_, std::move(next.second));
  }
}

}  // namespace synod::node
