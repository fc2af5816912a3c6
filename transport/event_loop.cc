// EventLoop implementation: an Asio-driven kj::EventPort.
//
// KJ tells the port setRunnable(true) only when its queue goes from empty to
// non-empty, so the handler posted for it always runs the KJ loop, and
// re-posts itself while the queue is still non-empty after a bounded number
// of turns (fairness with Asio handlers).

#include "transport/event_loop.h"

#include <kj/async.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>

#include "transport/internal_error.h"

namespace synod::transport {
namespace {

// Where an exception escaping a handler is reported (ExitOnInternalError).
constexpr char kThread[] = "the network thread";

namespace asio = boost::asio;

// Turns of the KJ loop per Asio handler before yielding to other handlers.
constexpr unsigned kKjTurnsPerSlice = 256;

class AsioEventPort final : public kj::EventPort {
 public:
  explicit AsioEventPort(asio::io_context& io) : io_(io) {}

  // Must be called once, right after the kj::EventLoop exists.
  void Attach(kj::EventLoop* loop) { loop_ = loop; }
  // After Detach() nothing more is run on the KJ loop (teardown).
  void Detach() { loop_ = nullptr; }

  // Only reached through Promise::wait(), which transport code never uses;
  // runs one Asio handler so a wait still makes progress.
  bool wait() override {
    if (io_.stopped()) io_.restart();
    io_.run_one();
    return false;
  }

  bool poll() override {
    if (io_.stopped()) io_.restart();
    io_.poll();
    return false;
  }

  void setRunnable(bool runnable) override {
    if (runnable) Schedule();
  }

  // Runs queued KJ events (bounded slice), re-scheduling if more remain.
  void RunKj() {
    scheduled_ = false;
    if (loop_ == nullptr || running_) return;
    running_ = true;
    loop_->run(kKjTurnsPerSlice);
    running_ = false;
    if (loop_ != nullptr && loop_->isRunnable()) Schedule();
  }

 private:
  void Schedule() {
    if (scheduled_) return;
    scheduled_ = true;
    asio::post(io_, [this] { RunKj(); });
  }

  asio::io_context& io_;
  kj::EventLoop* loop_ = nullptr;
  bool scheduled_ = false;
  bool running_ = false;
};

}  // namespace

struct EventLoop::Impl {
  asio::io_context io{1};
  AsioEventPort port{io};
  kj::EventLoop kj_loop{port};
  kj::WaitScope wait_scope{kj_loop};

  Impl() { port.Attach(&kj_loop); }

  ~Impl() {
    // Objects using the loop are gone; their sockets and timers are closed,
    // so their handlers complete with operation_aborted. Run them (they
    // release KJ fulfillers) while the KJ loop still exists.
    CallOrExit(kThread, [this] {
      for (int round = 0; round < 8; ++round) {
        io.restart();
        size_t ran = io.poll();
        port.RunKj();
        if (ran == 0 && !kj_loop.isRunnable()) break;
      }
    });
    port.Detach();
  }
};

EventLoop::EventLoop() : impl_(std::make_unique<Impl>()) {}

EventLoop::~EventLoop() = default;

asio::io_context& EventLoop::io() { return impl_->io; }

void EventLoop::Run() {
  auto guard = asio::make_work_guard(impl_->io);
  impl_->io.restart();
  CallOrExit(kThread, [this] { impl_->io.run(); });
}

void EventLoop::Stop() { impl_->io.stop(); }

void EventLoop::Post(std::function<void()> fn) { asio::post(impl_->io, std::move(fn)); }

bool EventLoop::RunUntil(const std::function<bool()>& done, Clock::duration timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  auto guard = asio::make_work_guard(impl_->io);
  while (!done()) {
    Clock::time_point now = Clock::now();
    if (now >= deadline) return done();
    impl_->io.restart();
    CallOrExit(kThread, [&] { impl_->io.run_one_for(deadline - now); });
  }
  return true;
}

void EventLoop::RunFor(Clock::duration duration) {
  RunUntil([] { return false; }, duration);
}

}  // namespace synod::transport
