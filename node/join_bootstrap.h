// JoinBootstrap: an empty replica joining a running cluster (serve --join).
// It asks the members it lists for the leader's status every `round` (a
// node::Client, so the cluster id is learned as a client learns it: what a
// majority of them state, never a member-list hash) until the leader's
// configuration names this replica; meanwhile it says (at once, then every
// 10 s) that it is waiting to be added. Once named at its own address it
// hands the agreed cluster id and the configuration's members to its owner,
// then fetches a snapshot from the leader, else from the other members, into
// the store (backing off between full rounds) and reports it installed. The
// owner starts the core from that snapshot (docs/runtime.md, "Membership").
//
// Threading: the EventLoop's thread only (constructor, methods, destructor,
// and every hook runs there, never from inside Start). Destroying it stops
// the join (a fetch in flight is cancelled; its partial data stays in the
// store for a later resume). The sink must outlive it.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "node/client.h"
#include "node/cluster_config.h"
#include "transport/event_loop.h"
#include "transport/rate_limited_log.h"
#include "transport/snapshot_chunk_sink.h"
#include "transport/snapshot_fetcher.h"
#include "transport/types.h"

namespace spdlog {
class logger;
}

namespace synod::node {

struct JoinOptions {
  MemberAddress self;    // this replica: its id and the address it listens on
  ClusterConfig others;  // the members to ask (--members without this replica); not empty
  std::chrono::milliseconds round{200};              // between status rounds
  std::chrono::milliseconds wait_log_period{10000};  // between "waiting to be added" lines
  std::shared_ptr<spdlog::logger> logger;            // not null
};

class JoinBootstrap {
 public:
  struct Hooks {
    // The members agreed on cluster id `id` (called after every status
    // round that learned it, also before this replica is named).
    std::function<void(transport::ClusterId id)> agreed_id;
    // The leader's configuration names this replica at its address: the
    // agreed id and that configuration's members (with their addresses).
    // Called before the first fetch of each round of fetches.
    std::function<void(transport::ClusterId id, const std::vector<paxos::Member>& members)> listed;
    // A snapshot from replica `from` is installed in the store. The join is
    // over: the owner destroys the JoinBootstrap (not from inside the hook).
    std::function<void(paxos::ReplicaId from)> installed;
    // The join cannot go on (named at another address): the reason.
    std::function<void(std::string reason)> fatal;
  };

  // `loop` and `sink` must outlive this object.
  JoinBootstrap(transport::EventLoop& loop, transport::SnapshotChunkSink& sink, JoinOptions options,
                Hooks hooks);
  ~JoinBootstrap();
  JoinBootstrap(const JoinBootstrap&) = delete;
  JoinBootstrap& operator=(const JoinBootstrap&) = delete;

  // Starts the first status round (posted: nothing runs inside Start).
  void Start();

 private:
  void Round();
  void OnLeaderStatus(std::optional<transport::ReplicaStatus> status, const std::string& error);
  // Logs `text` as the "waiting" line now and then every wait_log_period.
  void SayWaiting(const std::string& text);
  // Fetches from sources_[next_source_], or, past the last, starts over
  // with a status round after a back-off.
  void FetchNext();
  void OnFetched(paxos::ReplicaId from, const transport::FetchResult& result);
  void After(std::chrono::milliseconds delay, void (JoinBootstrap::*step)());

  transport::EventLoop& loop_;
  transport::SnapshotChunkSink& sink_;
  JoinOptions options_;
  Hooks hooks_;
  std::unique_ptr<Client> client_;
  bool relearn_ = false;  // the client settled on a member-list hash: replace it
  std::unique_ptr<transport::SnapshotFetcher> fetcher_;
  boost::asio::steady_timer timer_;
  transport::ClusterId cluster_id_ = 0;           // agreed, once learned
  std::vector<transport::PeerEndpoint> sources_;  // leader first, then the other members
  size_t next_source_ = 0;
  std::optional<transport::Clock::time_point> last_waiting_line_;
  std::string last_waiting_text_;
  transport::RateLimitedLog log_;  // other warnings: one line per kind per 10 s, then a summary
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace synod::node
