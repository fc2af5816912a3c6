#include "node/join_bootstrap.h"

#include <spdlog/logger.h>

#include <algorithm>

namespace synod::node {

namespace {

// One leader-status query: its whole time, and each member's share.
constexpr std::chrono::milliseconds kQueryTimeout{2000};
constexpr std::chrono::milliseconds kAttemptTimeout{500};
// Pause after every source failed to give a snapshot (members take one when
// they apply the change that added this replica: one appears shortly).
constexpr std::chrono::milliseconds kFetchBackoff{1000};

// `address` ("HOST:PORT") of replica `id` with the --members rules, or nullopt.
std::optional<transport::PeerEndpoint> ParseEndpoint(paxos::ReplicaId id,
                                                     const std::string& address) {
  if (address.empty()) return std::nullopt;
  Result<ClusterConfig> parsed = ParseClusterConfig(std::to_string(id) + "=" + address);
  if (!parsed.ok() || parsed->members.size() != 1) return std::nullopt;
  const MemberAddress& member = parsed->members[0];
  return transport::PeerEndpoint{member.id, member.host, member.port};
}

ClientOptions QueryOptions(const ClusterConfig& others) {
  ClientOptions options;
  options.cluster = others;
  options.timeout = kQueryTimeout;
  options.attempt_timeout = kAttemptTimeout;
  return options;
}

}  // namespace

JoinBootstrap::JoinBootstrap(transport::EventLoop& loop, transport::SnapshotChunkSink& sink,
                             JoinOptions options, Hooks hooks)
    : loop_(loop),
      sink_(sink),
      options_(std::move(options)),
      hooks_(std::move(hooks)),
      timer_(loop.io()),
      log_(loop.io(), options_.logger, std::chrono::seconds(10)) {}

JoinBootstrap::~JoinBootstrap() {
  alive_.reset();
  timer_.cancel();
  fetcher_.reset();
  client_.reset();
}

void JoinBootstrap::Start() { After(std::chrono::milliseconds(0), &JoinBootstrap::Round); }

void JoinBootstrap::After(std::chrono::milliseconds delay, void (JoinBootstrap::*step)()) {
  timer_.expires_after(delay);
  timer_.async_wait(
      [this, step, alive = std::weak_ptr<bool>(alive_)](const boost::system::error_code& error) {
        if (!error && alive.lock()) (this->*step)();
      });
}

void JoinBootstrap::Round() {
  if (!client_ || relearn_)
    client_ = std::make_unique<Client>(loop_, QueryOptions(options_.others));
  relearn_ = false;
  client_->QueryLeaderStatus(
      [this, alive = std::weak_ptr<bool>(alive_)](std::optional<transport::ReplicaStatus> status,
                                                  std::string error) {
        if (alive.lock()) OnLeaderStatus(std::move(status), error);
      });
}

void JoinBootstrap::OnLeaderStatus(std::optional<transport::ReplicaStatus> status,
                                   const std::string& error) {
  const std::string self = std::to_string(options_.self.id) + "=" + options_.self.Endpoint();
  if (!status) {
    log_.Warn("join/no-leader", "joining: no leader of " + options_.others.ToString() +
                                    " answered (" + error + "); asking again");
    return After(options_.round, &JoinBootstrap::Round);
  }
  std::optional<transport::ClusterId> agreed = client_->AgreedClusterId();
  if (!agreed) {
    // Never a member-list hash: a cluster that has not agreed on its id has
    // no log this replica could join yet. Learn again next round.
    log_.Warn("join/no-id", "joining: the cluster has not agreed on its id yet: waiting");
    relearn_ = true;  // a new client next round (not this one: we are in its callback)
    return After(options_.round, &JoinBootstrap::Round);
  }
  cluster_id_ = *agreed;
  hooks_.agreed_id(cluster_id_);
  auto me = std::find_if(status->members.begin(), status->members.end(),
                         [&](const paxos::Member& m) { return m.id == options_.self.id; });
  if (me == status->members.end()) {
    SayWaiting("replica " + std::to_string(options_.self.id) + " (" + options_.self.Endpoint() +
               ") is waiting to be added to the cluster: run 'members add " + self + " --members " +
               options_.others.ToString() + "'");
    return After(options_.round, &JoinBootstrap::Round);
  }
  if (me->address != options_.self.Endpoint()) {
    return hooks_.fatal("the cluster added replica " + std::to_string(options_.self.id) + " at " +
                        me->address + ", not at " + options_.self.Endpoint() +
                        " (this replica's --members)");
  }
  if (me->role != paxos::MemberRole::kLearner) {
    // A joiner starts with nothing; a voter's acceptor state (its promises
    // and accepted values) is part of every quorum it was in. A voter that
    // lost its data and came back under its id would vote as if it had never
    // promised anything: two values could be chosen for one slot. A learner
    // is promoted only once it reported progress, so no joiner is a voter.
    return hooks_.fatal(
        "replica " + std::to_string(options_.self.id) + " is a voter of the cluster " +
        "(configuration slot " + std::to_string(status->config_slot) +
        "): a voter whose data was lost cannot join again under its id (it would have " +
        "forgotten its promises); remove it ('members remove " + std::to_string(options_.self.id) +
        "') and add a replacement under a new id " +
        "('members add ID=HOST:PORT', then 'serve --join')");
  }
  if (last_waiting_line_) {
    options_.logger->info("replica {} was added to the cluster (configuration slot {})",
                          options_.self.id, status->config_slot);
    last_waiting_line_.reset();
  }
  sources_.clear();
  next_source_ = 0;
  for (const paxos::Member& member : status->members) {
    if (member.id == options_.self.id) continue;
    std::optional<transport::PeerEndpoint> endpoint = ParseEndpoint(member.id, member.address);
    if (!endpoint) continue;
    if (member.id == status->id) {
      sources_.insert(sources_.begin(), *endpoint);  // the leader first
    } else {
      sources_.push_back(*endpoint);
    }
  }
  hooks_.listed(cluster_id_, status->members);
  FetchNext();
}

void JoinBootstrap::SayWaiting(const std::string& text) {
  const transport::Clock::time_point now = transport::Clock::now();
  if (last_waiting_line_ && now - *last_waiting_line_ < options_.wait_log_period &&
      text == last_waiting_text_) {
    return;
  }
  options_.logger->warn("{}", text);
  last_waiting_line_ = now;
  last_waiting_text_ = text;
}

void JoinBootstrap::FetchNext() {
  if (next_source_ >= sources_.size()) return After(kFetchBackoff, &JoinBootstrap::Round);
  const transport::PeerEndpoint peer = sources_[next_source_++];
  transport::SnapshotFetcherOptions fetch_options;
  fetch_options.peer = peer;
  fetch_options.cluster_id = cluster_id_;
  fetch_options.self = options_.self.id;
  fetch_options.logger = options_.logger;
  fetcher_ = std::make_unique<transport::SnapshotFetcher>(loop_, sink_, fetch_options);
  options_.logger->info("joining: fetching a snapshot from replica {} at {}:{}", peer.id, peer.host,
                        peer.port);
  fetcher_->Fetch(1, [this, from = peer.id,
                      alive = std::weak_ptr<bool>(alive_)](transport::FetchResult result) {
    if (alive.lock()) OnFetched(from, result);
  });
}

void JoinBootstrap::OnFetched(paxos::ReplicaId from, const transport::FetchResult& result) {
  if (result.ok()) {
    options_.logger->info(
        "joining: installed the snapshot of replica {} at slot {}: {} bytes in {:.2f} s (resumed "
        "from {})",
        from, result.meta.applied_slot, result.bytes_transferred, result.seconds,
        result.resumed_from);
    return hooks_.installed(from);
  }
  log_.Warn(
      "join/fetch/" + std::to_string(from),
      "joining: no snapshot from replica " + std::to_string(from) + ": " + result.status.message());
  FetchNext();
}

}  // namespace synod::node
