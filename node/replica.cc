#include "node/replica.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <charconv>
#include <chrono>
#include <filesystem>
#include <variant>

#include "node/join_bootstrap.h"
#include "node/join_marker.h"
#include "node/os_random.h"
#include "statemachine/envelope.h"
#include "transport/internal_error.h"
#include "transport/types.h"
#include "util/crc32c.h"

namespace synod::node {

namespace {

constexpr std::chrono::seconds kWaiterTimeout{30};
constexpr std::chrono::milliseconds kBootstrapPoll{100};

std::string RegisterKey(uint64_t nonce) { return "r:" + std::to_string(nonce); }
std::string CommandKey(uint64_t session, uint64_t sequence) {
  return "c:" + std::to_string(session) + ":" + std::to_string(sequence);
}

// Wall clock in ms since the Unix epoch: read only for a brand-new cluster's
// first log time (LeaderClock's origin), never to stamp later commands.
uint64_t WallClockMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

transport::Role WireRole(paxos::Role role) {
  switch (role) {
    case paxos::Role::kLeader:
      return transport::Role::kLeader;
    case paxos::Role::kCandidate:
    case paxos::Role::kPreCandidate:
      return transport::Role::kCandidate;
    case paxos::Role::kFollower:
      break;
  }
  return transport::Role::kFollower;
}

// Parses the 16-hex-digit form RecordClusterId stores; false if malformed or 0.
bool ParseHexId(const std::string& text, uint64_t* out) {
  if (text.empty() || text.size() > 16) return false;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), *out, 16);
  return error == std::errc() && end == text.data() + text.size() && *out != 0;
}

// True if `next` has a learner that `before` does not have as a member.
bool AddsLearner(const paxos::Configuration& before, const paxos::Configuration& next) {
  for (const paxos::Member& member : next.member_list()) {
    if (member.role == paxos::MemberRole::kLearner && !before.Contains(member.id)) return true;
  }
  return false;
}

// CRC32C of everything a snapshot of `applier` would hold (never stored).
uint32_t StateDigest(const statemachine::Applier& applier) {
  class DigestWriter final : public statemachine::SnapshotWriter {
   public:
    void Write(std::string_view chunk) override { crc.Update(chunk); }
    util::Crc32cStream crc;
  } writer;
  applier.Snapshot(writer);
  return writer.crc.value();
}

// Sets `status`'s membership fields from the core's configuration; member
// addresses come from `book` (the configuration's address, else the static
// list's), else what the configuration records (possibly "").
void AddMembership(const paxos::CoreStatus& core, const AddressBook& book,
                   transport::ReplicaStatus& status) {
  status.config_slot = core.config_slot;
  for (paxos::Member member : core.config.member_list()) {
    if (const MemberAddress* known = book.Find(member.id)) member.address = known->Endpoint();
    status.members.push_back(std::move(member));
  }
  status.membership = core.membership;
}

}  // namespace

// A client call with one outcome per command, answered once all are known.
struct Replica::PendingCall {
  std::vector<transport::Outcome> outcomes;
  std::vector<bool> known;
  size_t remaining = 0;
  transport::SubmitDone done;
  paxos::ReplicaId leader_hint = paxos::kNoReplica;
  std::chrono::steady_clock::time_point created = std::chrono::steady_clock::now();

  void Set(size_t index, transport::Outcome outcome) {
    if (known[index]) return;
    known[index] = true;
    outcomes[index] = std::move(outcome);
    if (--remaining == 0 && done) {
      transport::ClientReply reply{std::move(outcomes), leader_hint};
      auto finish = std::move(done);
      done = nullptr;
      finish(std::move(reply));
    }
  }
};

// Persists on the storage thread, or on the loop thread when the write is
// small and the storage thread idle (WritePlacement); completes on the loop
// thread. Completions are dropped once the replica is gone (`alive` expired):
// the loop may still run them while it drains after the replica was destroyed.
class Replica::StoragePersister final : public Persister {
 public:
  StoragePersister(boost::asio::io_context& loop, BackgroundWriter& writer,
                   log::LogStorage& storage, std::weak_ptr<bool> alive)
      : loop_(loop), writer_(writer), storage_(storage), alive_(std::move(alive)) {}
  void Persist(std::optional<paxos::Ballot> promised, std::vector<paxos::SlotEntry> entries,
               std::vector<paxos::SlotEntry> chosen_marks, WritePlacement placement,
               std::function<void()> done) override {
    Write write{promised, std::move(entries), std::move(chosen_marks)};
    switch (placement) {
      case WritePlacement::kStorageThread:
        return Submit(std::move(write), std::move(done));
      case WritePlacement::kLoopNow:
        return PersistOnLoop(std::move(write), std::move(done));
      case WritePlacement::kLoopAfterSends:
        // The sends were queued on this loop a moment ago: the transport
        // flushes them in a posted handler, and Cap'n Proto writes them to
        // the socket in the KJ turns that handler schedules. Two hops through
        // the loop's queue put this write after them.
        boost::asio::post(loop_, [this, alive = alive_, write = std::move(write),
                                  done = std::move(done)]() mutable {
          if (!alive.lock()) return;
          boost::asio::post(
              loop_, [this, alive, write = std::move(write), done = std::move(done)]() mutable {
                if (alive.lock()) PersistOnLoop(std::move(write), std::move(done));
              });
        });
        return;
    }
  }
  void WriteCompaction(paxos::Slot through) override {
    log::LogStorage& storage = storage_;
    writer_.Submit([&storage, through] { storage.Compact(through); }, nullptr);
  }
  void WriteUnsynced(std::vector<paxos::SlotEntry> entries) override {
    log::LogStorage& storage = storage_;
    // Unsynced: cheap enough to run here when ordering allows (writer idle).
    if (writer_.Idle()) return storage.WriteUnsynced(entries);
    writer_.Submit([&storage, entries = std::move(entries)] { storage.WriteUnsynced(entries); },
                   nullptr);
  }

 private:
  // One synced write's contents (see Persister::Persist).
  struct Write {
    std::optional<paxos::Ballot> promised;
    std::vector<paxos::SlotEntry> entries;
    std::vector<paxos::SlotEntry> chosen_marks;
  };
  // On the loop thread if the writer is idle (so the write is ordered after
  // every earlier one), else on the writer. `done` always runs later, posted.
  void PersistOnLoop(Write write, std::function<void()> done) {
    if (!writer_.Idle()) return Submit(std::move(write), std::move(done));
    storage_.PersistWithChosenMarks(write.promised, write.entries, write.chosen_marks);
    boost::asio::post(loop_, WhileAlive(std::move(done)));
  }
  void Submit(Write write, std::function<void()> done) {
    log::LogStorage& storage = storage_;
    writer_.Submit(
        [&storage, write = std::move(write)] {
          storage.PersistWithChosenMarks(write.promised, write.entries, write.chosen_marks);
        },
        WhileAlive(std::move(done)));
  }
  // `fn`, made to do nothing once the replica is gone (the loop may still
  // run queued handlers while it drains after the replica was destroyed).
  std::function<void()> WhileAlive(std::function<void()> fn) const {
    return [alive = alive_, fn = std::move(fn)] {
      if (alive.lock()) fn();
    };
  }

  boost::asio::io_context& loop_;
  BackgroundWriter& writer_;
  log::LogStorage& storage_;
  std::weak_ptr<bool> alive_;
};

class Replica::SnapshotRequests final : public SnapshotNeeds {
 public:
  explicit SnapshotRequests(Replica& replica) : replica_(replica) {}
  void FetchSnapshot(const paxos::SnapshotFetch& fetch) override { replica_.FetchSnapshot(fetch); }

 private:
  Replica& replica_;
};

class Replica::NetworkSink final : public MessageSink {
 public:
  // `handshake_only`: the replica's stale_links_, which outlives this sink.
  NetworkSink(transport::PeerNetwork& peers, const std::set<paxos::ReplicaId>& handshake_only)
      : peers_(peers), handshake_only_(handshake_only) {}
  // Nothing goes to a --members entry the configuration does not know: its
  // link exists for the handshake only (FollowConfiguration).
  void Send(const paxos::Message& message) override {
    if (handshake_only_.contains(message.to)) return;
    peers_.Send(message);
  }

 private:
  transport::PeerNetwork& peers_;
  const std::set<paxos::ReplicaId>& handshake_only_;
};

class Replica::ApplySink final : public CommitSink {
 public:
  explicit ApplySink(Replica& replica) : replica_(replica) {}
  void Apply(const paxos::CommittedEntry& entry) override { replica_.OnApplied(entry); }

 private:
  Replica& replica_;
};

Replica::Replica(transport::EventLoop& loop, ReplicaOptions options,
                 statemachine::StateMachine& machine, std::shared_ptr<spdlog::logger> logger)
    : loop_(loop),
      options_(std::move(options)),
      machine_(machine),
      logger_(std::move(logger)),
      tick_timer_(loop.io()),
      bootstrap_timer_(loop.io()),
      // A replica that formed a new cluster and knows of no slot anyone
      // accepted starts log time from its wall clock; all later time is
      // monotonic from applied log time.
      leader_clock_([this] { return KnowsOfAnySlot() ? 0 : WallClockMs(); }),
      fetch_log_(loop.io(), logger_, std::chrono::seconds(10)) {
  random_.seed(options_.seed != 0 ? options_.seed : OsRandom64());
  core_random_ = std::make_unique<paxos::SplitMix64>(random_());
}

Replica::~Replica() {
  alive_.reset();  // storage completions still queued on the loop become no-ops
  tick_timer_.cancel();
  bootstrap_timer_.cancel();
  server_.reset();
  peers_.reset();
  return_path_.reset();
  fetcher_.reset();
  join_.reset();
  chunk_sink_.reset();   // finishes the fetched chunks' writes
  writer_.reset();       // finishes queued writes
  snapshotter_.reset();  // finishes a snapshot write in flight
}

Status Replica::Start(std::function<void()> on_ready, std::function<void(std::string)> on_fatal) {
  return transport::CallOrExit(
      "the network thread", [&] { return StartOrThrow(std::move(on_ready), std::move(on_fatal)); });
}

Status Replica::StartOrThrow(std::function<void()> on_ready,
                             std::function<void(std::string)> on_fatal) {
  if (Status valid = options_.Validate(); !valid.ok()) return valid;
  on_ready_ = std::move(on_ready);
  on_fatal_ = std::move(on_fatal);

  log::LevelDbOptions storage_options;
  storage_options.dir = options_.data_dir;
  storage_options.replica_id = options_.id;
  storage_options.preallocate_log_files = options_.preallocate_log;
  auto opened = log::LevelDbLogStorage::Open(storage_options);
  if (!opened.ok()) return opened.status();
  storage_ = std::move(*opened);
  log::RecoveredLog recovered = storage_->Load();
  // A directory that promised nothing (absent or empty, or a first start that
  // never reached its peers) has no history: it bootstraps like a new one,
  // and its recorded member list may still be corrected.
  bool snapshots = false;
  std::error_code ignored;
  for (auto it =
           std::filesystem::recursive_directory_iterator(options_.data_dir + "/snapshots", ignored);
       !ignored && it != std::filesystem::recursive_directory_iterator(); it.increment(ignored)) {
    // The store's own lock file (snapshot/snapshot_store.h) is no snapshot.
    if (it->is_regular_file() && it->path().filename() != "LOCK") snapshots = true;
  }
  const bool promised_anything = !recovered.paxos.promised.IsNull() ||
                                 !recovered.paxos.entries.empty() ||
                                 recovered.paxos.compacted != 0 || recovered.applied != 0 ||
                                 !recovered.metadata.cluster_id.empty() || snapshots;
  had_history_at_start_ = promised_anything;
  if (!promised_anything && (options_.join || HasJoinMarker(options_.data_dir)) &&
      MayRecordJoinMarker(options_.data_dir)) {
    // First of all: this directory is a joiner's. From now on no start of it
    // builds an initial configuration from --members (it may name only some
    // members, and this replica as a voter): it starts from a snapshot only.
    // Recorded again at each start without history, with this start's own
    // entry: a joiner refused for a mistyped address (nothing fetched, nothing
    // promised) is corrected by restarting it with the right one. Never over
    // a file that records a configuration change (a joiner that served, or a
    // founder after a change: that replica's history is lost):
    // CheckRecordedMembers refuses the start.
    if (Status marked = RecordJoinMarker(options_.data_dir, *options_.cluster.Find(options_.id));
        !marked.ok()) {
      return marked.WithContext("cannot record the join in " + options_.data_dir);
    }
  }
  const bool joined = HasJoinMarker(options_.data_dir);
  if (options_.join && promised_anything && !joined) {
    logger_->info("data directory has history: --join has no effect, recovering");
  }
  bool members_recorded = false;
  std::string members_problem = CheckRecordedMembers(
      options_.data_dir, options_.cluster, options_.id, promised_anything, &members_recorded);
  if (!members_problem.empty()) return Status::InvalidArgument(members_problem);
  Result<std::optional<RecordedMembers>> recorded_members = ReadRecordedMembers(options_.data_dir);
  if (!recorded_members.ok()) return recorded_members.status();
  recorded_members_ = std::move(*recorded_members);
  if (members_recorded) {
    logger_->info("recorded the member list {} in {}/members", options_.cluster.ToString(),
                  options_.data_dir);
  }
  members_unconfirmed_ = promised_anything && !members_recorded &&
                         !std::filesystem::exists(options_.data_dir + "/members");
  if (members_unconfirmed_) {
    logger_->warn(
        "data directory {} has history but no recorded member list: recording {} once "
        "a peer states the same list",
        options_.data_dir, options_.cluster.ToString());
  }
  cluster_id_recorded_ = !recovered.metadata.cluster_id.empty();
  uint64_t agreed_id = 0;
  if (cluster_id_recorded_ && !ParseHexId(recovered.metadata.cluster_id, &agreed_id)) {
    return Status::Corruption("the log in " + options_.data_dir +
                              " records a malformed cluster id '" + recovered.metadata.cluster_id +
                              "'");
  }
  logger_->info("replica {} opened {}: {} (promised {}, {} entries, cluster id {})", options_.id,
                options_.data_dir, recovered.fresh ? "fresh" : "recovering",
                recovered.paxos.promised.ToString(), recovered.paxos.entries.size(),
                cluster_id_recorded_ ? recovered.metadata.cluster_id : "none yet");

  // Until the core starts the book is the static list: the initial
  // configuration (its ids, all voters) records no addresses.
  book_ = AddressBook::From(paxos::ConfigAt{0, paxos::Configuration(options_.cluster.Ids())},
                            options_.cluster);
  std::vector<transport::PeerEndpoint> endpoints = book_.Endpoints();
  // Handshakes state the agreed id once the log has one; until then the
  // member-list hash (docs/runtime.md, "Cluster id"): of the static list.
  member_list_id_ = transport::MemberListClusterId(endpoints);
  transport::ClusterId cluster_id = agreed_id != 0 ? agreed_id : member_list_id_;
  wire_cluster_id_ = cluster_id;
  const MemberAddress* self = options_.cluster.Find(options_.id);

  transport::ServerOptions server_options;
  server_options.host = self->host;
  server_options.port = self->port;
  server_options.cluster_id = cluster_id;
  server_options.member_list_id = member_list_id_;
  server_options.members = options_.cluster.ToString();
  server_options.self = options_.id;
  for (paxos::ReplicaId id : options_.cluster.Ids()) {
    if (id != options_.id) server_options.peers.push_back(id);
  }
  server_options.has_history = [this] { return HasHistory(); };
  Result<std::unique_ptr<Snapshotter>> snapshotter =
      Snapshotter::Open(loop_.io(), options_.data_dir + "/snapshots");
  if (!snapshotter.ok()) {
    return snapshotter.status().WithContext("cannot open the snapshots in " + options_.data_dir);
  }
  snapshotter_ = std::move(*snapshotter);
  snapshot_provider_ = std::make_unique<StoreSnapshotProvider>(snapshotter_->store());
  server_options.snapshot_provider = snapshot_provider_.get();
  server_options.logger = logger_;
  return_path_ = std::make_unique<transport::ReturnPath>(loop_);
  server_options.return_path = return_path_.get();
  server_ = std::make_unique<transport::Server>(loop_, server_options, this, this);
  Status listening = server_->Listen();
  if (!listening.ok()) {
    return listening.WithContext("cannot listen on " + self->Endpoint());
  }

  transport::PeerNetworkOptions peer_options;
  peer_options.cluster_id = cluster_id;
  peer_options.member_list_id = member_list_id_;
  peer_options.self = options_.id;
  peer_options.peers = endpoints;
  peer_options.logger = logger_;
  peer_options.return_path = return_path_.get();
  peer_options.reply_handler = this;
  peers_ = std::make_unique<transport::PeerNetwork>(loop_, peer_options);
  peers_->SetHandshakeObserver([this](paxos::ReplicaId peer, const transport::HandshakeInfo& info) {
    if (info.accepted) {
      logger_->debug("peer {} answered the handshake (history: {})", peer, info.has_history);
      if (members_unconfirmed_ && info.config_slot == 0 &&
          info.server_members == options_.cluster.ToString()) {
        // A peer that accepted us states our list: record it (off this thread).
        // Only a peer whose configuration never changed: after a change a
        // member may run with another list than the founding one (and state
        // its configuration's book), so an equal list proves nothing then.
        members_unconfirmed_ = false;
        writer_->Submit(
            [dir = options_.data_dir, cluster = options_.cluster, log = logger_, peer] {
              std::string error = RecordMembers(dir, cluster);
              if (error.empty()) {
                log->info("recorded the member list {} in {}/members (peer {} states it)",
                          cluster.ToString(), dir, peer);
              } else {
                log->error("cannot record the member list: {}", error);
              }
            },
            nullptr);
      }
    } else if (info.removed && info.server_cluster == wire_cluster_id_ &&
               (!stale_links_.contains(peer) ||
                (info.server_replica == peer && info.config_slot > followed_config_slot_))) {
      // (From a --members entry our configuration does not know: only the
      // replica we dialled, stating a later configuration than ours.)
      // A member of this very cluster says a chosen change removed us.
      StopRemoved("replica " + std::to_string(peer) + " says so, configuration slot " +
                  std::to_string(info.config_slot));
    } else if (join_) {
      // Joining: members refuse this replica until they applied its addition.
      logger_->debug("peer {} refused our handshake: {}", peer, info.reason);
    } else if (stale_links_.contains(peer)) {
      // A --members entry our configuration does not know, dialled for the
      // handshake only: refused now and then for as long as it is listed.
      std::string line = fmt::format(
          "peer {} (listed in --members, not in the configuration) "
          "refused our handshake: {}",
          peer, info.reason);
      if (peer_link_log_.Admit("stale/" + std::to_string(peer), line, transport::Clock::now())) {
        logger_->warn("{}", line);
      }
    } else {
      // Rate-limited: a refusing peer is asked again every backoff_max.
      std::string line = fmt::format("peer {} refused our handshake: {}", peer, info.reason);
      if (peer_link_log_.Admit("refused/" + std::to_string(peer), line, transport::Clock::now())) {
        logger_->warn("{}", line);
      }
    }
  });

  writer_ = std::make_unique<BackgroundWriter>(loop_.io());
  persister_ = std::make_unique<StoragePersister>(loop_.io(), *writer_, *storage_, alive_);
  network_sink_ = std::make_unique<NetworkSink>(*peers_, stale_links_);
  apply_sink_ = std::make_unique<ApplySink>(*this);
  snapshot_requests_ = std::make_unique<SnapshotRequests>(*this);

  if (joined && !snapshotter_->store().Latest()) {
    if (options_.cluster.members.size() < 2) {
      return Status::InvalidArgument(
          options_.data_dir +
          " is a joining replica's (no snapshot yet): --members must name "
          "at least one current member besides replica " +
          std::to_string(options_.id));
    }
    // Joined, not yet started from a snapshot (a receive may be partial): go
    // on joining, with or without --join on this command line.
    StartJoin();
  } else if (had_history_at_start_) {
    StartCore(recovered);
  } else {
    logger_->info(
        "empty data directory: waiting until every member answers, to form a new cluster");
    CheckBootstrap();
  }
  return Status::Ok();
}

void Replica::StartJoin() {
  if (!chunk_sink_) {
    chunk_sink_ = std::make_unique<StoreChunkSink>(loop_.io(), snapshotter_->store(), logger_);
  }
  JoinOptions join_options;
  join_options.self = *options_.cluster.Find(options_.id);
  for (const MemberAddress& member : options_.cluster.members) {
    if (member.id != options_.id) join_options.others.members.push_back(member);
  }
  logger_->info("joining a running cluster: asking {} for the leader's configuration",
                join_options.others.ToString());
  join_options.logger = logger_;
  JoinBootstrap::Hooks hooks;
  hooks.agreed_id = [this](transport::ClusterId id) {
    // Our peer hellos state it: a member that removed this id says so
    // (the handshake observer stops this replica).
    if (id == wire_cluster_id_) return;
    wire_cluster_id_ = id;
    peers_->SetClusterId(id);
    server_->SetClusterId(id);  // clients stating it (status probes) are served
  };
  hooks.listed = [this](transport::ClusterId id, const std::vector<paxos::Member>& members) {
    join_cluster_id_ = id;
    server_->SetClusterId(id);
    std::vector<paxos::ReplicaId> ids;
    ClusterConfig located;
    for (const paxos::Member& member : members) {
      if (member.id == options_.id) continue;
      ids.push_back(member.id);
      Result<ClusterConfig> one =
          ParseClusterConfig(std::to_string(member.id) + "=" + member.address);
      if (one.ok()) located.members.push_back(one->members[0]);
    }
    server_->SetPeers(std::move(ids));
    std::vector<transport::PeerEndpoint> endpoints;
    for (const MemberAddress& m : located.members) endpoints.push_back({m.id, m.host, m.port});
    peers_->SetPeers(std::move(endpoints));
  };
  hooks.installed = [this](paxos::ReplicaId) {
    // Not from inside the join's own callback: it is destroyed first.
    boost::asio::post(loop_.io(), [this, alive = std::weak_ptr<bool>(alive_)] {
      if (!alive.lock() || !join_) return;
      join_.reset();
      StartCore(storage_->Load());
    });
  };
  hooks.fatal = [this](std::string reason) { Fatal(reason); };
  join_ = std::make_unique<JoinBootstrap>(loop_, *chunk_sink_, std::move(join_options),
                                          std::move(hooks));
  join_->Start();
}

void Replica::Fatal(const std::string& reason) {
  logger_->error("{}", reason);
  if (on_fatal_) on_fatal_(reason);
}

void Replica::CheckBootstrap() {
  std::vector<paxos::ReplicaId> waiting;
  for (paxos::ReplicaId id : options_.cluster.Ids()) {
    if (id == options_.id) continue;
    transport::PeerLinkState link = peers_->LinkState(id);
    if (link.handshakes == 0 || !link.last_handshake.accepted) {
      waiting.push_back(id);
      continue;
    }
    if (link.last_handshake.has_history) {
      std::string reason =
          "replica " + std::to_string(options_.id) + " has an empty data directory (" +
          options_.data_dir + ") but member " + std::to_string(id) +
          " already has history: this replica lost its data (or is new) and must be replaced "
          "through membership change, not restarted under its old identity — it may have made "
          "promises it no longer remembers (to add a new replica: 'members add ID=HOST:PORT', "
          "then 'serve --join' it)";
      Fatal(reason);
      return;
    }
  }
  if (waiting.empty()) {
    logger_->info("every member is reachable and new: forming a new cluster");
    StartCore(storage_->Load());
    return;
  }
  bootstrap_timer_.expires_after(kBootstrapPoll);
  bootstrap_timer_.async_wait(
      [this, alive = std::weak_ptr<bool>(alive_)](const boost::system::error_code& error) {
        if (!error && alive.lock()) CheckBootstrap();  // fired just before ~Replica: skip
      });
}

void Replica::StartCore(const log::RecoveredLog& recovered) {
  // The initial configuration (slot 0), all voters, from which the log is
  // replayed when no snapshot covers it: the founding list the members file
  // recorded, never this start's --members. Once a change was recorded a
  // restart may name other members (CheckRecordedMembers), and a replay from
  // another initial configuration would void the changes on this replica
  // only (each is checked against the configuration before it) and leave it
  // counting votes of ids that are no voters. A one-line file is the
  // founding list and equals --members (checked), as does --members for a
  // directory without a file. A joined replica has no founding list: it
  // starts only from a snapshot (its configuration).
  paxos::Configuration initial = paxos::Configuration(options_.cluster.Ids());
  const bool joined = recorded_members_ && recorded_members_->joined;
  if (joined) {
    initial = paxos::Configuration::Empty();
  } else if (recorded_members_) {
    initial = paxos::Configuration(recorded_members_->initial->Ids());
  }
  applier_ = std::make_unique<statemachine::Applier>(machine_, statemachine::SessionOptions{},
                                                     std::move(initial));
  Result<paxos::Slot> restored = RestoreLatestSnapshot(recovered);
  if (!restored.ok()) {
    Fatal(restored.status().message());
    return;
  }
  if (joined && *restored == 0) {
    Fatal("data directory " + options_.data_dir + " belongs to a replica that joined a running " +
          "cluster (" + options_.data_dir + "/members) but holds no complete snapshot: it has " +
          "no initial configuration to start from, and must not take one from --members");
    return;
  }
  const bool only_the_join_snapshot = recovered.paxos.entries.empty() &&
                                      recovered.paxos.compacted == 0 &&
                                      recovered.paxos.promised.IsNull();
  if (joined && recorded_members_->config_slot == 0 && only_the_join_snapshot &&
      applier_->config().config.IsVoter(options_.id)) {
    // The join's snapshot (this replica never followed a configuration: its
    // members file records none; its log never held anything). A joiner is
    // added as a learner and promoted only once it reports progress, so its
    // first snapshot never makes it a voter; one that does comes from
    // another cluster or history (the status check trusted one leader's
    // answer). Never serve from it. A joiner that served (its log holds
    // entries or was compacted) is not checked: it may have been promoted
    // while its members file could not be rewritten (disk full).
    Fatal("the snapshot replica " + std::to_string(options_.id) + " joined with (slot " +
          std::to_string(*restored) + ", configuration " + applier_->config().config.ToString() +
          " set at slot " + std::to_string(applier_->config().slot) +
          ") makes it a voter, but a joining replica is added as a learner: refusing to serve "
          "from it; this snapshot is not the cluster's that added this replica (check --members; "
          "then empty " +
          options_.data_dir + " and join again)");
    return;
  }
  if (!recorded_members_ && members_unconfirmed_) {
    // No members file beside history: the initial configuration can only
    // come from this start's --members, which is right only while the log
    // above the snapshot holds no configuration change (a replay from a
    // wrong initial configuration voids every change on this replica only).
    for (const paxos::SlotEntry& stored : recovered.paxos.entries) {
      if (stored.slot > *restored && stored.entry.value != nullptr &&
          stored.entry.value->kind == paxos::ValueKind::kConfiguration) {
        Fatal("data directory " + options_.data_dir + " has no members file but its log holds " +
              "a membership change (slot " + std::to_string(stored.slot) + "), so --members " +
              "cannot be trusted as the founding list; refusing to start: copy the members " +
              "file of another founder (its '# initial=' line is the founding list) into " +
              options_.data_dir + " and start again");
        return;
      }
    }
  }
  const paxos::Slot snapshot_slot = *restored;
  // Log time so far: the snapshot's (replay of the chosen log reports more).
  leader_clock_.Applied(applier_->log_time_ms(), std::chrono::steady_clock::now());
  // The configuration in effect after the snapshot's slot (the initial one
  // without a snapshot); the core follows changes in the log after it.
  core_ = std::make_unique<paxos::Core>(options_.id, applier_->config(), options_.ToCoreOptions(),
                                        *core_random_, recovered.paxos, snapshot_slot);
  pump_ = std::make_unique<ReadyPump>(*core_, *persister_, *network_sink_, *apply_sink_,
                                      snapshot_requests_.get());
  AfterInput();  // replays chosen entries after the snapshot into the state machine
  book_ = AddressBook::From(applier_->config(), options_.cluster);
  for (paxos::ReplicaId id : book_.Conflicts(options_.cluster)) {
    logger_->warn(
        "replica {} is at {} in the configuration (set at slot {}) but at {} in --members: "
        "using the configuration's address",
        id, book_.Find(id)->Endpoint(), applier_->config().slot,
        options_.cluster.Find(id)->Endpoint());
  }
  logger_->info(
      "replica {} serving on {} (snapshot at slot {}, replayed up to slot {}; members {} set at "
      "slot {})",
      options_.id, options_.cluster.Find(options_.id)->Endpoint(), snapshot_slot,
      applier_->applied(), book_.ToString(), applier_->config().slot);
  if (!FollowConfiguration()) return;  // its own log says it was removed: never serve
  serving_ = true;
  OnTick();
  if (on_ready_) on_ready_();
}

void Replica::OnTick() {
  if (core_) {
    core_->Tick();
    AfterInput();
    if (++ticks_ % (1000 / options_.TickMs() + 1) == 0) {
      ExpireWaiters();
      ReportPeerLinks();
      ProposeTimeTick();
    }
  }
  tick_timer_.expires_after(std::chrono::milliseconds(options_.TickMs()));
  tick_timer_.async_wait(
      [this, alive = std::weak_ptr<bool>(alive_)](const boost::system::error_code& error) {
        if (!error && alive.lock()) OnTick();  // fired just before ~Replica: skip
      });
}

void Replica::AfterInput() {
  pump_->Pump();
  ReportRoleChanges();
  CheckTransfers();
  CheckMembership();
}

void Replica::ReportRoleChanges() {
  paxos::CoreStatus status = core_->Status();
  if (status.role == last_role_ && status.leader == last_leader_) return;
  if (status.role == paxos::Role::kLeader && last_role_ != paxos::Role::kLeader) {
    leader_clock_.Lead(status.leader_ballot, std::chrono::steady_clock::now());
    logger_->info("became leader with ballot {} (log time continues from {} ms)",
                  status.leader_ballot.ToString(),
                  leader_clock_.Stamp(status.leader_ballot, std::chrono::steady_clock::now()));
    if (!cluster_id_recorded_ && !cluster_id_proposed_ && applier_->cluster_id() == 0) {
      statemachine::Envelope envelope;
      envelope.kind = statemachine::EnvelopeKind::kClusterId;
      // From the OS, not random_: two clusters started with one explicit
      // --seed must still get different ids. Never 0.
      envelope.session = OsRandom64() | 1;
      envelope.stamp_ms = LeaderStamp();
      envelope.stamp_ballot = status.leader_ballot;
      if (core_->Propose({statemachine::EncodeEnvelope(envelope)}).status ==
          paxos::ProposeResult::Status::kAccepted) {
        cluster_id_proposed_ = true;
      }
    }
  } else if (status.role == paxos::Role::kCandidate && last_role_ != paxos::Role::kCandidate) {
    logger_->info("campaigning with ballot {}", status.promised.ToString());
  } else if (status.role == paxos::Role::kFollower && status.leader != last_leader_ &&
             status.leader != paxos::kNoReplica) {
    logger_->info("following leader {} (ballot {})", status.leader,
                  status.leader_ballot.ToString());
  } else if (last_role_ == paxos::Role::kLeader && status.role != paxos::Role::kLeader) {
    logger_->warn("stepped down as leader");
  }
  last_role_ = status.role;
  last_leader_ = status.leader;
  pump_->Pump();
}

void Replica::OnPeerMessage(paxos::Message message) {
  if (logger_->should_log(spdlog::level::trace)) {
    logger_->trace("recv {}", paxos::DescribeMessage(message));
  }
  if (!core_) return;  // not serving yet: Paxos tolerates the loss
  // A removed member's messages (they may come back in the returns of our
  // own deliver() calls, past the handshake's refusal) never reach the
  // core: its ballots must not move ours.
  if (applier_->config().config.IsRetired(message.from)) return;
  NoteHistory(message);
  NoteTransferMessage(message);
  core_->Step(message);
  AfterInput();
}

void Replica::OnSubmit(std::vector<std::string> commands, transport::SubmitDone done) {
  if (ParkWhileTransferring(commands, done)) return;
  auto call = std::make_shared<PendingCall>();
  call->outcomes.resize(commands.size());
  call->known.assign(commands.size(), false);
  call->remaining = commands.size();
  call->done = std::move(done);
  paxos::CoreStatus status = core_ ? core_->Status() : paxos::CoreStatus{};
  call->leader_hint = status.leader;
  auto refuse_all = [&](transport::OutcomeStatus why) {
    for (size_t i = 0; i < commands.size(); ++i) call->Set(i, transport::Outcome{why, "", 0});
  };
  if (!core_ || status.role != paxos::Role::kLeader) {
    refuse_all(transport::OutcomeStatus::kNotLeader);
    return;
  }
  std::vector<std::string> proposals;
  const uint64_t now = LeaderStamp();
  const paxos::Ballot ballot = core_->Status().leader_ballot;
  for (size_t i = 0; i < commands.size(); ++i) {
    std::optional<statemachine::Envelope> envelope = statemachine::DecodeEnvelope(commands[i]);
    if (!envelope || (envelope->kind != statemachine::EnvelopeKind::kCommand &&
                      envelope->kind != statemachine::EnvelopeKind::kRegisterSession)) {
      call->Set(i, transport::Outcome{transport::OutcomeStatus::kError, "malformed command", 0});
      continue;
    }
    std::string key = envelope->kind == statemachine::EnvelopeKind::kRegisterSession
                          ? RegisterKey(envelope->session)
                          : CommandKey(envelope->session, envelope->sequence);
    waiters_.emplace(key, Waiter{call, i});
    if (envelope->kind == statemachine::EnvelopeKind::kRegisterSession) {
      // The session limits and lifetime travel in the log: every replica
      // decides with these.
      envelope->stamp_ms = now;
      envelope->stamp_ballot = ballot;
      envelope->max_sessions = options_.max_sessions;
      envelope->max_session_results = options_.max_session_results;
      envelope->max_session_result_bytes = options_.max_session_result_bytes;
      envelope->expiry_ms = options_.session_expiry_ms;
      proposals.push_back(statemachine::EncodeEnvelope(*envelope));
      continue;
    }
    proposals.push_back(statemachine::RestampEnvelope(commands[i], now, ballot));
  }
  if (proposals.empty()) return;
  paxos::ProposeResult result = core_->Propose(std::move(proposals));
  if (result.status != paxos::ProposeResult::Status::kAccepted) {
    // Not proposed: answer only this call's waiters (an earlier call with the
    // same command may still be in the log).
    bool transferring = result.status == paxos::ProposeResult::Status::kTransferring;
    bool busy = result.status == paxos::ProposeResult::Status::kBusy || transferring;
    transport::OutcomeStatus why =
        busy ? transport::OutcomeStatus::kBusy : transport::OutcomeStatus::kNotLeader;
    std::string reason;
    if (transferring) {
      // Clients retry busy answers shortly; by then a new leader answers.
      reason = "leadership transfer in progress: retry shortly";
    } else if (busy) {
      paxos::CoreOptions limits = options_.ToCoreOptions();
      reason = "overloaded: the leader's queue of commands waiting for a slot is full (limits " +
               std::to_string(limits.max_pending_commands) + " commands, " +
               std::to_string(limits.max_pending_bytes) + " bytes)";
    }
    for (auto it = waiters_.begin(); it != waiters_.end();) {
      if (it->second.call == call) {
        size_t index = it->second.index;
        it = waiters_.erase(it);
        call->Set(index, transport::Outcome{why, reason, 0});
      } else {
        ++it;
      }
    }
    return;
  }
  AfterInput();
}

void Replica::OnApplied(const paxos::CommittedEntry& entry) {
  std::optional<paxos::ConfigAt> before;
  if (entry.value != nullptr && entry.value->kind == paxos::ValueKind::kConfiguration) {
    before = applier_->config();
  }
  std::vector<statemachine::CommandOutcome> outcomes = applier_->Apply(entry);
  AnswerChangeAt(entry);
  if (before && applier_->config().slot != before->slot) {
    const bool added_learner = AddsLearner(before->config, applier_->config().config);
    previous_config_ = std::move(before);
    // A replica joining needs a snapshot to start from: every member takes
    // one now (not during StartCore's replay: those adds are long done).
    if (serving_ && FollowConfiguration() && added_learner) {
      if (snapshotter_->taking()) {
        snapshot_again_ = true;  // the one being written may predate the change
      } else {
        TakeSnapshotNow();
      }
    }
  }
  leader_clock_.Applied(applier_->log_time_ms(), std::chrono::steady_clock::now());
  for (statemachine::CommandOutcome& outcome : outcomes) {
    switch (outcome.kind) {
      case statemachine::EnvelopeKind::kClusterId:
        RecordClusterId(outcome.session);
        break;
      case statemachine::EnvelopeKind::kRegisterSession:
        // A refused registration (a session limit) is a definite failure.
        Answer(RegisterKey(outcome.nonce),
               transport::Outcome{outcome.status == statemachine::CommandOutcome::Status::kRefused
                                      ? transport::OutcomeStatus::kRefused
                                      : transport::OutcomeStatus::kOk,
                                  outcome.result, outcome.slot});
        break;
      case statemachine::EnvelopeKind::kCommand: {
        transport::OutcomeStatus status = transport::OutcomeStatus::kSessionExpired;
        if (outcome.status == statemachine::CommandOutcome::Status::kOk) {
          status = transport::OutcomeStatus::kOk;
        } else if (outcome.status == statemachine::CommandOutcome::Status::kRefused) {
          status = transport::OutcomeStatus::kRefused;  // never applied; result says why
        } else if (outcome.status == statemachine::CommandOutcome::Status::kFailed) {
          status = transport::OutcomeStatus::kApplyFailed;
          if (!outcome.duplicate) {
            logger_->error("slot {}: the state machine's Apply threw on command {}.{}: {}",
                           outcome.slot, outcome.session, outcome.sequence, outcome.result);
          }
        }
        Answer(CommandKey(outcome.session, outcome.sequence),
               transport::Outcome{status, outcome.result, outcome.slot});
        break;
      }
      case statemachine::EnvelopeKind::kTick:
        break;
    }
  }
  MaybeTakeSnapshot(entry);
}

void Replica::RecordClusterId(uint64_t id) {
  if (cluster_id_recorded_ || id == 0) return;
  cluster_id_recorded_ = true;
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(id));
  std::string cluster_id = hex;
  logger_->info("the cluster agreed on id {} (handshakes use it from now on)", cluster_id);
  // New connections must state it; open ones stay (they were checked).
  wire_cluster_id_ = id;
  server_->SetClusterId(id);
  peers_->SetClusterId(id);
  log::LogStorage& storage = *storage_;
  writer_->Submit([&storage, cluster_id] { storage.SetClusterId(cluster_id); }, nullptr);
}

void Replica::Answer(const std::string& key, transport::Outcome outcome) {
  auto [begin, end] = waiters_.equal_range(key);
  std::vector<Waiter> matched;
  for (auto it = begin; it != end; ++it) matched.push_back(it->second);
  waiters_.erase(begin, end);
  for (Waiter& waiter : matched) waiter.call->Set(waiter.index, outcome);
}

void Replica::ExpireWaiters() {
  auto now = std::chrono::steady_clock::now();
  std::vector<Waiter> expired;
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    if (now - it->second.call->created > kWaiterTimeout) {
      expired.push_back(it->second);
      it = waiters_.erase(it);
    } else {
      ++it;
    }
  }
  for (Waiter& waiter : expired) {
    waiter.call->Set(waiter.index, transport::Outcome{transport::OutcomeStatus::kUnknown, "", 0});
  }
}

void Replica::ProposeTimeTick() {
  if (core_->Status().role != paxos::Role::kLeader) return;
  statemachine::Envelope tick;
  tick.kind = statemachine::EnvelopeKind::kTick;
  tick.stamp_ms = LeaderStamp();
  tick.stamp_ballot = core_->Status().leader_ballot;
  core_->Propose({statemachine::EncodeEnvelope(tick)});
  AfterInput();
}

uint64_t Replica::LeaderStamp() {
  return leader_clock_.Stamp(core_->Status().leader_ballot, std::chrono::steady_clock::now());
}

void Replica::NoteHistory(const paxos::Message& message) {
  if (const auto* promise = std::get_if<paxos::Promise>(&message.body)) {
    if (promise->chosen_point > 0 || promise->compacted > 0 || !promise->entries.empty()) {
      heard_of_slots_ = true;
    }
  }
}

bool Replica::KnowsOfAnySlot() const {
  if (HasHistory() || heard_of_slots_) return true;
  if (!core_) return false;
  paxos::CoreStatus status = core_->Status();
  return status.chosen_point > 0 || status.compacted > 0 || status.last_slot > 0;
}

void Replica::ReportPeerLinks() {
  for (const transport::PeerEndpoint& peer : book_.Endpoints(options_.id)) {
    const paxos::ReplicaId id = peer.id;
    bool connected = peers_->LinkState(id).connected;
    bool& was = peer_connected_[id];
    if (connected != was) {
      std::string line = fmt::format("peer {} {}", id, connected ? "connected" : "disconnected");
      if (peer_link_log_.Admit("peer/" + std::to_string(id), line, transport::Clock::now())) {
        logger_->log(connected ? spdlog::level::info : spdlog::level::warn, "{}", line);
      }
      was = connected;
    }
  }
  for (const auto& s : peer_link_log_.TakeDue(transport::Clock::now())) {
    logger_->warn("{} more peer link changes in the last 10 s; latest: {}", s.count, s.latest);
  }
}

bool Replica::HasHistory() const {
  return had_history_at_start_ || (applier_ && applier_->applied() > 0);
}

transport::ReplicaStatus Replica::OnStatus() {
  transport::ReplicaStatus status;
  status.id = options_.id;
  if (!core_) {
    // Waiting to form a cluster or to join one: not a member of anything yet.
    status.membership = transport::Membership::kNotMember;
    return status;
  }
  paxos::CoreStatus core = core_->Status();
  status.role = WireRole(core.role);
  status.ballot = core.role == paxos::Role::kLeader ? core.leader_ballot : core.promised;
  status.chosen_point = core.chosen_point;
  status.applied = applier_->applied();
  status.leader = core.leader;
  status.state_digest = StateDigest(*applier_);
  AddMembership(core, book_, status);
  return status;
}

}  // namespace synod::node
