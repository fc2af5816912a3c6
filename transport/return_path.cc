// ReturnPath implementation: one held deliver() call per peer, completed
// empty by a newer call, by the sweep after max_hold, or at destruction.

#include "transport/return_path.h"

namespace synod::transport {

namespace {

// Completes a held call with no replies, unless its caller went away (the
// call's context is then gone too and must not be touched).
void CompleteEmpty(ReturnPath::HeldCall& call) {
  if (call.fulfiller->isWaiting()) call.fulfiller->fulfill();
}

}  // namespace

ReturnPath::ReturnPath(EventLoop& loop, std::chrono::milliseconds max_hold)
    : loop_(loop),
      max_hold_(max_hold),
      sweep_timer_(loop.io()),
      alive_(std::make_shared<bool>(true)) {}

ReturnPath::~ReturnPath() {
  *alive_ = false;
  sweep_timer_.cancel();
  for (auto& [peer, held] : held_) CompleteEmpty(held.call);
}

kj::Promise<void> ReturnPath::Hold(paxos::ReplicaId from, DeliverContext context) {
  auto paf = kj::newPromiseAndFulfiller<void>();
  auto it = held_.find(from);
  if (it != held_.end()) {
    CompleteEmpty(it->second.call);
    held_.erase(it);
  }
  held_.emplace(from, Held{HeldCall{context, kj::mv(paf.fulfiller)}, Clock::now()});
  ArmSweep();
  if (observer_) observer_(from);
  return kj::mv(paf.promise);
}

std::optional<ReturnPath::HeldCall> ReturnPath::Take(paxos::ReplicaId peer) {
  auto it = held_.find(peer);
  if (it == held_.end()) return std::nullopt;
  HeldCall call = kj::mv(it->second.call);
  held_.erase(it);
  if (!call.fulfiller->isWaiting()) return std::nullopt;
  return call;
}

void ReturnPath::SetHeldObserver(std::function<void(paxos::ReplicaId)> observer) {
  observer_ = std::move(observer);
}

void ReturnPath::ArmSweep() {
  if (sweep_armed_) return;
  sweep_armed_ = true;
  sweep_timer_.expires_after(max_hold_);
  sweep_timer_.async_wait([this, alive = alive_](const boost::system::error_code& ec) {
    if (ec || !*alive) return;
    sweep_armed_ = false;
    Sweep();
  });
}

void ReturnPath::Sweep() {
  const Clock::time_point limit = Clock::now() - max_hold_;
  for (auto it = held_.begin(); it != held_.end();) {
    if (it->second.since <= limit || !it->second.call.fulfiller->isWaiting()) {
      CompleteEmpty(it->second.call);
      it = held_.erase(it);
    } else {
      ++it;
    }
  }
  if (!held_.empty()) ArmSweep();
}

}  // namespace synod::transport
