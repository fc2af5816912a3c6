// Asio-timer-backed KJ promises.

#include "transport/timer.h"

#include <boost/asio/steady_timer.hpp>
#include <memory>

namespace synod::transport {
namespace {

// Shared by the promise (which cancels on drop) and the pending Asio handler.
struct TimerState {
  explicit TimerState(boost::asio::io_context& io) : timer(io) {}
  boost::asio::steady_timer timer;
  kj::Own<kj::PromiseFulfiller<void>> fulfiller;
};

}  // namespace

kj::Promise<void> Delay(boost::asio::io_context& io, Clock::duration delay) {
  auto state = std::make_shared<TimerState>(io);
  auto paf = kj::newPromiseAndFulfiller<void>();
  state->fulfiller = kj::mv(paf.fulfiller);
  state->timer.expires_after(delay);
  state->timer.async_wait([state](const boost::system::error_code& ec) {
    if (!ec && state->fulfiller->isWaiting()) state->fulfiller->fulfill();
    state->fulfiller = nullptr;
  });
  return paf.promise.attach(kj::defer([state] { state->timer.cancel(); }));
}

}  // namespace synod::transport
