#include "benchmarks/leader_transfer.h"

#include "transport/event_loop.h"

namespace synod::benchmarks {

bool LeaderTransferAvailable() { return true; }

std::string TransferLeader(const node::ClientOptions& options, paxos::ReplicaId target) {
  transport::EventLoop loop;
  std::string error = "no answer within the timeout";
  bool finished = false;
  {
    node::Client client(loop, options);
    client.TransferLeader(target, [&](node::ClientResult result) {
      finished = true;
      if (result.status == node::ClientResult::Status::kOk && result.leader == target) {
        error.clear();
      } else {
        error = (result.status == node::ClientResult::Status::kUnknown ? "unknown outcome: "
                                                                       : "failed: ") +
                result.error;
      }
    });
    loop.RunUntil([&] { return finished; }, options.timeout + std::chrono::seconds(5));
  }
  return error;
}

}  // namespace synod::benchmarks
