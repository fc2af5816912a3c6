// Replica: the runtime that turns the parts into a server — the paxos core,
// LevelDB storage, the Cap'n Proto transport and the applier over the user's
// StateMachine, all driven from one event-loop thread.
//
// Flow: a client's submit() → Core::Propose → Ready → (messages out at once;
// promises/accepts persisted on the storage thread; replies that report them
// sent only after) → chosen → Applier → the waiting client is answered.
// Ticks come from an Asio timer every ReplicaOptions::TickMs().
//
// Bootstrap: a replica with an empty data directory starts its core only
// once every member answered the handshake without history (a brand-new
// cluster); if any member has history it refuses to start, because a member
// that lost its data must be replaced, not rejoined (it may have made
// promises it no longer remembers). The first leader of a new cluster
// proposes a random cluster id, recorded in the log and in storage; once
// applied, handshakes state and require it (docs/runtime.md, "Cluster id").
// A replica started with ReplicaOptions::join instead waits until the
// leader's configuration names it, fetches a snapshot and starts from that
// (node/join_bootstrap.h); its directory is marked (node/join_marker.h) so
// that it never starts from --members.
//
// Snapshots (node/replica_snapshots.cc): every ReplicaOptions::snapshot_every
// applied commands (or snapshot_log_bytes of log) the applier's state is
// captured and written by the Snapshotter; once durable, the core compacts the
// log below it minus log_tail. A replica behind a peer's compacted log fetches
// that peer's snapshot over the transport, restores it and continues from the
// log; a restart restores the latest snapshot and replays only what follows.
//
// Log time: the leader stamps every command it proposes (with its ballot) and
// proposes a time tick once a second; log time = max(previous, counted
// stamps), counting a stamp only if its ballot is not below the last counted
// one's. Stamps come from the LeaderClock (node/leader_clock.h): this
// replica's applied log time plus monotonic time elapsed since it was
// applied (at the earliest, since the leader took over), never its wall clock.
//
// Threading: construct, Start, and destroy on the EventLoop's thread.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>

#include "log/leveldb_log_storage.h"
#include "node/address_book.h"
#include "node/background_writer.h"
#include "node/join_bootstrap.h"
#include "node/leader_clock.h"
#include "node/member_change_plan.h"
#include "node/ready_pump.h"
#include "node/replica_options.h"
#include "node/snapshotter.h"
#include "node/store_chunk_sink.h"
#include "node/store_snapshot_provider.h"
#include "paxos/core.h"
#include "statemachine/applier.h"
#include "transport/event_loop.h"
#include "transport/handlers.h"
#include "transport/peer_network.h"
#include "transport/rate_limited_log.h"
#include "transport/server.h"
#include "transport/snapshot_fetcher.h"
#include "util/status.h"

namespace spdlog {
class logger;
}

namespace synod::node {

class Replica final : public transport::PeerMessageHandler, public transport::ClientRequestHandler {
 public:
  // `machine` and `loop` must outlive the replica. `on_ready` runs once, when
  // the replica serves (its core started); `on_fatal` runs if it must stop
  // (bootstrap refusal), with the reason.
  Replica(transport::EventLoop& loop, ReplicaOptions options, statemachine::StateMachine& machine,
          std::shared_ptr<spdlog::logger> logger);
  ~Replica() override;
  Replica(const Replica&) = delete;
  Replica& operator=(const Replica&) = delete;

  // Opens storage, listens, connects to peers. Ok, or a clear error whose
  // message names the cause (bad data dir, a data dir recorded for another
  // member list, address in use, a joiner's data dir without another member
  // in --members, ...). The core starts once bootstrap allows it (or, when
  // joining, once a snapshot is installed); then `on_ready` is called. An exception thrown inside
  // (a replay's Apply, say) ends the process (exit 70), as one escaping a handler run by the
  // EventLoop does.
  Status Start(std::function<void()> on_ready, std::function<void(std::string)> on_fatal);

  // transport::PeerMessageHandler
  void OnPeerMessage(paxos::Message message) override;
  // transport::ClientRequestHandler
  void OnSubmit(std::vector<std::string> commands, transport::SubmitDone done) override;
  transport::ReplicaStatus OnStatus() override;
  // Leader: Core::TransferLeadership(target), answered once the transfer
  // ended (handedOver / resumed) or at once if refused (replica_transfer.cc).
  // `target` == this leader: handedOver at once. A second request for the
  // target of the running transfer waits for that transfer.
  void OnTransferLeader(paxos::ReplicaId target, transport::TransferDone done) override;
  // Leader: one configuration step (replica_membership.cc), checked by
  // PlanMemberChange and proposed with Core::ProposeConfiguration; answered
  // once the value chosen at its slot was applied here (done, or superseded
  // if another change took effect first; busy if another value took the
  // slot), at once if refused or already in effect, or unknown if the slot
  // was not applied here within a bound. A promotion waits (up to
  // change.wait_ms, at most a minute) until the learner reported a chosen
  // point within window_slots of this leader's: else behind. Removing this
  // leader starts a leadership transfer and answers busy (retry: the new
  // leader removes it). A removal or promotion after which fewer than a
  // quorum of the voters are reachable (QuorumAfterChange) is refused, and so
  // is any change while a member's known build cannot read the result
  // (PlanCheckedChange: OlderBuildMember).
  void OnChangeMembers(transport::MemberChange change, transport::ChangeDone done) override;

  // Before a shutdown (SIGTERM to `serve`): if this replica leads, hands
  // leadership to the voter it knows to be most caught up (highest chosen
  // point reported in heartbeat replies, among connected peers) and calls
  // `done` once another replica leads, the transfer ended without one, or
  // after 1.5 election timeouts at most; otherwise (not leading, no voter to
  // hand over to, refused) calls `done` at once. `done` runs on the loop,
  // once; a later call replaces an earlier one's `done` (which then never runs).
  void HandOverLeadership(std::function<void()> done);

  // Takes a snapshot now (on demand, e.g. SIGUSR1 to `serve`), unless one is
  // being written; the log is compacted once it is durable.
  void TakeSnapshotNow();

 private:
  class StoragePersister;
  class NetworkSink;
  class ApplySink;
  class SnapshotRequests;
  struct PendingCall;
  struct Waiter {
    std::shared_ptr<PendingCall> call;
    size_t index = 0;
  };

  Status StartOrThrow(std::function<void()> on_ready, std::function<void(std::string)> on_fatal);
  void CheckBootstrap();
  // A joiner's data directory without a complete snapshot: runs a
  // JoinBootstrap (node/join_bootstrap.h) and starts the core once it
  // installed a snapshot. Loop thread.
  void StartJoin();
  void StartCore(const log::RecoveredLog& recovered);
  void OnTick();
  void AfterInput();
  void OnApplied(const paxos::CommittedEntry& entry);
  // Records the cluster id the log agreed on in storage (once) and makes the
  // transport state it and require it in handshakes from then on.
  void RecordClusterId(uint64_t id);
  void Answer(const std::string& key, transport::Outcome outcome);
  void ExpireWaiters();
  void ReportRoleChanges();
  // Leader only: proposes a time tick so log time advances while idle
  // (leases and session expiry are decided in log time).
  void ProposeTimeTick();
  // Leader only: the stamp for a value proposed now (LeaderClock::Stamp).
  uint64_t LeaderStamp();
  // Before the core steps `message`: notes a Promise reporting any chosen,
  // compacted or accepted slot (for KnowsOfAnySlot).
  void NoteHistory(const paxos::Message& message);
  // True unless this replica formed a new cluster and has neither applied
  // nor heard of a slot anyone accepted: only then may the LeaderClock start
  // from the wall clock.
  bool KnowsOfAnySlot() const;
  // Logs peers that connected or disconnected since the last call.
  void ReportPeerLinks();
  bool HasHistory() const;
  // --- snapshots (replica_snapshots.cc) ---
  // Restores the applier from the latest durable snapshot; returns its slot
  // (0: none) or why it cannot (the replica must not start).
  Result<paxos::Slot> RestoreLatestSnapshot(const log::RecoveredLog& recovered);
  // After applying an entry: takes a snapshot when one is due.
  void MaybeTakeSnapshot(const paxos::CommittedEntry& entry);
  // Ready::fetch_snapshot: fetches the peer's snapshot (one fetch at a time).
  void FetchSnapshot(const paxos::SnapshotFetch& fetch);
  void OnSnapshotFetched(const transport::FetchResult& result);
  // Restores the store's latest snapshot if it is newer than what the core
  // delivered (a fetch installed it, possibly in an attempt whose answer was
  // lost), then tells the core. Stops the replica if the restore fails.
  void InstallLatestFromStore();
  // Logs `reason` and hands it to on_fatal (the replica must stop).
  void Fatal(const std::string& reason);
  // --- leadership transfer (replica_transfer.cc) ---
  // After every input: once the running transfer ended, answers the
  // transferLeader calls waiting for it, re-dispatches or refuses the parked
  // submits, and finishes a shutdown hand-over.
  void CheckTransfers();
  // Notes the chosen point a peer reports (HeartbeatReply), for the choice of
  // a shutdown hand-over's target, and a TimeoutNow (this replica takes over).
  void NoteTransferMessage(const paxos::Message& message);
  // True (and `done` kept until the transfer ends) if a transfer runs here,
  // or this replica campaigns after a TimeoutNow (for at most an election
  // timeout): the submit is answered by CheckTransfers once the transfer or
  // campaign ended (proposed if this replica leads then, else "not leader"
  // with a hint), so clients reach the new leader at once instead of
  // retrying after a back-off. False, too, once the parked commands would
  // exceed the core's queue limits (the submit then takes the ordinary path).
  bool ParkWhileTransferring(std::vector<std::string>& commands, transport::SubmitDone& done);
  void FinishHandOver(const char* how);
  // The connected voter (not this replica) heard from within an election
  // timeout with the highest chosen point its heartbeat replies reported;
  // kNoReplica if there is none.
  paxos::ReplicaId PickHandOverTarget(const paxos::CoreStatus& status);
  // --- membership changes (replica_membership.cc) ---
  // After the configuration in effect changed (start, an applied change, an
  // installed snapshot): rebuilds book_ from it, links the peer network to
  // the members of it and of the previous configuration (where the core
  // sends: Proposer::Targets) and, for the handshake only, to the --members
  // entries it neither names nor retired (a member among them refuses a
  // removed replica, saying so), allows the members as peers and tells the
  // server which ids were removed (their hellos are refused, saying so) and,
  // after a change, the member list it states; stops this replica if it is
  // one of the removed; else records a changed configuration in the members
  // file (RecordConfigurationFile). False if it stopped. Loop thread.
  bool FollowConfiguration();
  // Rewrites the members file (RecordConfiguration) with `config` (slot > 0)
  // on the writer thread; failures are logged. Loop thread.
  void RecordConfigurationFile(const paxos::ConfigAt& config);
  // Stops the replica (Fatal, once, posted to the loop): it was removed from
  // the cluster; `evidence` says who or what says so.
  void StopRemoved(const std::string& evidence);
  // One changeMembers() call: waiting for its learner to catch up (slot 0)
  // or for the value proposed at `slot` to be applied here.
  struct ChangeWaiter {
    transport::MemberChange change;
    paxos::Slot slot = 0;
    paxos::ValuePtr value;  // what was proposed at `slot`
    std::chrono::steady_clock::time_point deadline;
    transport::ChangeDone done;
  };
  // The one way to decide a change (every path that proposes uses it):
  // PlanMemberChange against `status.config`; a kPropose plan becomes kRefuse
  // (with the reason) when a member's build cannot read `next`
  // (OlderBuildMember over KnownFeatures; the member `next` removes only
  // while it is reachable) or, with `check_quorum`, when too
  // few of its voters would be reachable (QuorumAfterChange).
  ChangePlan PlanCheckedChange(const paxos::CoreStatus& status,
                               const transport::MemberChange& change, bool check_quorum) const;
  // The feature bits replica `id` stated in its latest hello, either way:
  // the reply to our link's dial and its hello to our server (both known:
  // the bits both have); nullopt if neither is known.
  std::optional<uint32_t> KnownFeatures(paxos::ReplicaId id) const;
  // Proposes `next` (derived from the configuration set at `base_slot`) and
  // parks `done` until its slot is applied, or answers at once if refused.
  // Only for a kPropose plan of PlanCheckedChange.
  void ProposeChange(const paxos::Configuration& next, paxos::Slot base_slot,
                     transport::MemberChange change, transport::ChangeDone done);
  // Removing this leader: starts a transfer to PickHandOverTarget (unless one
  // runs) and answers busy, or invalid if no voter is connected.
  void HandOverBeforeRemoval(transport::ChangeDone done);
  // Slots the learner `id` lags this leader's chosen point by, by its last
  // heartbeat reply; nullopt if it sent none within an election timeout
  // (absent, paused, cut off: never caught up).
  std::optional<paxos::Slot> LearnerLag(paxos::ReplicaId id, const paxos::CoreStatus& status) const;
  // True if `id` sent a heartbeat reply within an election timeout.
  bool HeardFromRecently(paxos::ReplicaId id) const;
  // "" if a quorum of `next`'s voters is reachable (this replica, or heard
  // from recently); else why proposing `next` would strand the cluster.
  std::string QuorumAfterChange(const paxos::Configuration& next) const;
  // After applying `entry`: answers the changes waiting for its slot.
  void AnswerChangeAt(const paxos::CommittedEntry& entry);
  // After every input: proposes promotions whose learner caught up, and
  // answers changes past their deadline or whose slot a snapshot covered.
  void CheckMembership();

  transport::EventLoop& loop_;
  ReplicaOptions options_;
  statemachine::StateMachine& machine_;
  std::shared_ptr<spdlog::logger> logger_;
  std::mt19937_64 random_;
  std::unique_ptr<paxos::SplitMix64> core_random_;

  std::unique_ptr<log::LevelDbLogStorage> storage_;
  std::unique_ptr<BackgroundWriter> writer_;
  std::unique_ptr<StoragePersister> persister_;
  std::unique_ptr<NetworkSink> network_sink_;
  std::unique_ptr<ApplySink> apply_sink_;
  std::unique_ptr<SnapshotRequests> snapshot_requests_;
  std::unique_ptr<Snapshotter> snapshotter_;
  std::unique_ptr<StoreSnapshotProvider> snapshot_provider_;
  std::unique_ptr<StoreChunkSink> chunk_sink_;  // where fetches write (made at the first one)
  std::unique_ptr<transport::SnapshotFetcher> fetcher_;
  // While joining (StartJoin until its snapshot is installed), and the
  // cluster id the members agreed on: the snapshot restored must state it.
  std::unique_ptr<JoinBootstrap> join_;
  transport::ClusterId join_cluster_id_ = 0;
  bool fetching_ = false;                     // from FetchSnapshot until OnSnapshotFetched
  transport::ClusterId wire_cluster_id_ = 0;  // the id handshakes use
  transport::ClusterId member_list_id_ = 0;   // hash of options_.cluster's member list
  // Who is where: the static list until the core starts, then the members of
  // the configuration in effect (the configuration's addresses, the static
  // list filling gaps), rebuilt by StartCore and FollowConfiguration. Read by
  // snapshot fetches, status and peer-link reports. Loop thread.
  AddressBook book_;
  // The configuration in effect before the applied one, as the core's
  // ReplicaState::previous_config() (which CoreStatus does not expose) knows
  // it: set when an applied change or an installed snapshot replaced it (also
  // during StartCore's replay); none after a restart from a snapshot. Its
  // members still receive the leader's messages until the next change.
  std::optional<paxos::ConfigAt> previous_config_;
  // A change added a learner while a snapshot was being written: take
  // another once that one is durable (the joiner needs one that names it).
  bool snapshot_again_ = false;
  uint64_t commands_since_snapshot_ = 0;
  uint64_t bytes_since_snapshot_ = 0;
  // Peers' deliver() calls held for answers; used by server_ and peers_.
  std::unique_ptr<transport::ReturnPath> return_path_;
  std::unique_ptr<transport::Server> server_;
  std::unique_ptr<transport::PeerNetwork> peers_;
  std::unique_ptr<statemachine::Applier> applier_;
  std::unique_ptr<paxos::Core> core_;
  std::unique_ptr<ReadyPump> pump_;
  boost::asio::steady_timer tick_timer_;
  boost::asio::steady_timer bootstrap_timer_;
  LeaderClock leader_clock_;  // stamps this replica's proposals while it leads

  // Expires when the replica is destroyed; guards callbacks queued on the loop.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::function<void()> on_ready_;
  std::function<void(std::string)> on_fatal_;
  bool had_history_at_start_ = false;
  bool heard_of_slots_ = false;  // NoteHistory saw a Promise reporting a slot
  // The data directory has history but no recorded member list: it is
  // recorded once a peer accepts our hello stating the same list. Network thread.
  bool members_unconfirmed_ = false;
  // The data directory's members file as StartOrThrow found it (after
  // CheckRecordedMembers); nullopt: none. StartCore builds the initial
  // configuration from its founding list. Loop thread.
  std::optional<RecordedMembers> recorded_members_;
  bool cluster_id_recorded_ = false;
  bool cluster_id_proposed_ = false;
  uint64_t ticks_ = 0;
  paxos::Role last_role_ = paxos::Role::kFollower;
  paxos::ReplicaId last_leader_ = paxos::kNoReplica;
  // Clients waiting for a command to be applied here, by envelope key.
  std::multimap<std::string, Waiter> waiters_;
  std::map<paxos::ReplicaId, bool> peer_connected_;
  // Leadership transfer: calls waiting for the running one to end, submits
  // parked while it runs, its target, peers' reported chosen points, and a
  // shutdown hand-over's completion and deadline.
  std::vector<transport::TransferDone> transfer_waiters_;
  std::vector<std::pair<std::vector<std::string>, transport::SubmitDone>> parked_submits_;
  size_t parked_commands_ = 0;  // commands in parked_submits_, and their bytes: within the
  size_t parked_bytes_ = 0;     // core's max_pending_commands / max_pending_bytes
  paxos::ReplicaId transfer_target_ = paxos::kNoReplica;
  // The running transfer sent its TimeoutNow (CheckTransfers notes it while
  // the transfer runs): if it ends with this replica leading, the outcome is
  // undecided, as the target may still take over.
  bool transfer_timeout_now_sent_ = false;
  std::map<paxos::ReplicaId, paxos::Slot> peer_chosen_;
  std::map<paxos::ReplicaId, std::chrono::steady_clock::time_point> peer_chosen_at_;  // last report
  bool serving_ = false;                  // StartCore finished (the replay is over)
  paxos::Slot followed_config_slot_ = 0;  // the configuration FollowConfiguration last saw
  bool removed_ = false;                  // StopRemoved ran
  // The --members entries FollowConfiguration links to for the handshake
  // only (neither members nor retired in the configuration in effect); their
  // refusals are logged rate-limited. Loop thread.
  std::set<paxos::ReplicaId> stale_links_;
  // changeMembers() calls waiting for a promotion's catch-up or their slot.
  std::vector<ChangeWaiter> change_waiters_;
  std::function<void()> handover_done_;
  // A TimeoutNow arrived: this replica campaigns to take over until then.
  std::optional<std::chrono::steady_clock::time_point> taking_over_until_;
  std::unique_ptr<boost::asio::steady_timer> handover_timer_;
  // "peer N connected/disconnected": one line per peer, then a summary per 10 s.
  transport::LogRateLimiter peer_link_log_{std::chrono::seconds(10)};
  // FetchSnapshot's warning for a peer without a known address (per peer,
  // one line per 10 s, then a summary). Loop thread.
  transport::RateLimitedLog fetch_log_;
};

}  // namespace synod::node
