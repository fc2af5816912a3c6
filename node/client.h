// Client: submits commands to a Synod cluster with exactly-once semantics.
//
// It connects to any member (short per-attempt deadlines), follows leader
// hints, skips members that are down, and keeps retrying while there is no
// leader until the command's timeout. Before its first command it learns the
// cluster id and the full member list from the members it lists: it adopts
// what more than half of them state in their hello replies (never one
// member's word), then says hello with that id everywhere, skips listed
// members that stated something else, and follows leader hints to members it
// does not list at the addresses that majority stated. It opens a session through the log
// first; every command then carries (session, sequence number, lowest
// unanswered sequence number), so a retry after a failover is applied once.
// Many commands may be in flight; the transport coalesces them into few calls.
//
// Sessions: a command belongs to the session it was first sent on, for its
// whole life; every retry carries that session and sequence number. A session
// ends when a command of it is answered "session expired" (the replicas never
// apply anything of it again). Then every command of it that may have been
// proposed finishes as kUnknown — it may have been applied before the expiry,
// and re-sending it under another session would apply it twice — and only
// commands that surely were never proposed are re-sent, as new commands of a
// new session. The decision is DecideNextStep (client_policy.h), reached from
// each attempt's result by DecideAfterAttempt (client_outcome.h).
//
// Outcomes: kOk; kFailed only when the command surely never took effect (no
// attempt could have reached a leader that proposed it) or when it was
// applied as a failure (the StateMachine's Apply threw: `error` names the
// exception's message; Apply throws before changing state, so the command
// had no effect either way) or refused by a session limit (never applied,
// now or later); otherwise kUnknown — once a command may have been proposed
// it is never reported as failed unless its failure was applied or it was
// refused for good. The rule is DecideAfterAttempt (client_outcome.h). A
// command too large for one transport message (see MaxCommandBytes) fails at
// once with kFailed. An internal failure in the
// client's loop ends the process (exit 70, transport/internal_error.h).
//
// Threading: network thread of the EventLoop only; callbacks run there.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "node/client_policy.h"
#include "node/cluster_config.h"
#include "transport/client_connection.h"
#include "transport/event_loop.h"

namespace synod::node {

struct ClientOptions {
  ClusterConfig cluster;
  std::chrono::milliseconds timeout{10000};         // per command, all retries included
  std::chrono::milliseconds attempt_timeout{1500};  // per attempt at one member
  // The connections' message limits: a command that cannot fit one message
  // with its envelope and framing fails at once (Client::MaxCommandBytes).
  transport::Limits limits;
};

struct ClientResult {
  enum class Status : uint8_t { kOk, kFailed, kUnknown };
  Status status = Status::kFailed;
  std::string result;    // the state machine's answer (kOk)
  paxos::Slot slot = 0;  // where it was applied (kOk; kFailed applied as a failure)
  paxos::ReplicaId leader = paxos::kNoReplica;  // who answered (kOk)
  std::string error;                            // why, otherwise
};

class Client {
 public:
  // `loop` must outlive the client.
  Client(transport::EventLoop& loop, ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Runs `payload` through the log; `done` is called exactly once, never
  // from inside Execute, unless the client is destroyed first (then never).
  // A payload larger than MaxCommandBytes() fails with kFailed, naming the limit.
  void Execute(std::string payload, std::function<void(ClientResult)> done);

  // Largest payload Execute can send: options.limits.max_message_bytes less
  // the envelope and room for the call's framing.
  size_t MaxCommandBytes() const;

  // Asks every member for its status; nullopt for members that do not answer.
  using Statuses =
      std::vector<std::pair<paxos::ReplicaId, std::optional<transport::ReplicaStatus>>>;
  void QueryStatuses(std::function<void(Statuses)> done);

  // The leader's status (its configuration is the current one): asks the
  // listed members in turn and follows the leader a member names (also one
  // it does not list, at the address the majority stated) until a member
  // answers as leader or options.timeout passes. `done` runs once, never
  // from inside this call, unless the client is destroyed first: the
  // leader's status, or nullopt and why none (node/client_members.cc).
  using LeaderStatusDone =
      std::function<void(std::optional<transport::ReplicaStatus>, std::string)>;
  void QueryLeaderStatus(LeaderStatusDone done);
  // The cluster's agreed (random) id, once a call learned it from a majority
  // of the listed members; nullopt before, and while they state only their
  // member-list hash (the cluster has not agreed on an id yet).
  std::optional<transport::ClusterId> AgreedClusterId() const;

  // Hands leadership to the voter `target` (client_transfer.cc): asks the
  // leader (following hints from any member), then waits, polling statuses,
  // until `target` reports that it leads. `done` runs exactly once, never
  // from inside TransferLeader (unless the client is destroyed first): kOk
  // (leader = target) once it leads; kFailed when surely nothing moved (the
  // leader refused: `target` is not a voter, or the transfer ended with the
  // old leader still leading; or no leader answered within the timeout
  // before any request could have started a transfer); kUnknown otherwise
  // (options.timeout passed after a transfer may have started).
  void TransferLeader(paxos::ReplicaId target, std::function<void(ClientResult)> done);

  // One configuration step (client_change_members.cc): asks the leader
  // (following hints from any member; retrying while it is busy) and waits
  // for its answer. `done` runs exactly once, never from inside this call
  // (unless the client is destroyed first): kOk once the change is in effect
  // (slot = the slot whose chosen value set that configuration), also when it
  // already was because an earlier attempt of this call may have proposed
  // it; kFailed when surely nothing changed (refused: the reason, including
  // "already" when the change was in effect before this call, a learner too
  // far behind, another change first; or no attempt could have proposed it
  // before the timeout); kUnknown when options.timeout passed after an
  // attempt may have proposed it. A promotion asks the leader to wait for
  // the learner's catch-up for most of the remaining time.
  void ChangeMembers(transport::MemberChange change, std::function<void(ClientResult)> done);

 private:
  struct Change;
  void ChangeAttempt(const std::shared_ptr<Change>& change);
  void OnChangeReply(const std::shared_ptr<Change>& change, paxos::ReplicaId member,
                     std::optional<transport::ChangeReply> reply, bool maybe_sent,
                     const std::string& error);
  void ChangeLater(const std::shared_ptr<Change>& change, std::chrono::milliseconds delay);
  void FinishChange(const std::shared_ptr<Change>& change, ClientResult result);
  struct Operation;
  struct Transfer;
  void TransferAttempt(const std::shared_ptr<Transfer>& transfer);
  void OnTransferReply(const std::shared_ptr<Transfer>& transfer, paxos::ReplicaId member,
                       std::optional<transport::TransferReply> reply, bool maybe_sent,
                       const std::string& error);
  // Polls a status until `transfer->target` is seen leading, or the deadline.
  void AwaitLeader(const std::shared_ptr<Transfer>& transfer);
  void TransferLater(const std::shared_ptr<Transfer>& transfer, std::chrono::milliseconds delay,
                     void (Client::*step)(const std::shared_ptr<Transfer>&));
  void FinishTransfer(const std::shared_ptr<Transfer>& transfer, ClientResult result);
  // True if the client can address member `id` (listed, or in the learned list).
  bool Addressable(paxos::ReplicaId id) const;
  void EnsureSession();
  // Gives `op` the current session and the next sequence number and sends it,
  // or queues it until a session is open.
  void Start(const std::shared_ptr<Operation>& op);
  // True if the session `op` was first sent on is no longer the open one.
  bool SessionEnded(const Operation& op) const;
  // What the client knows about `op` now (client_policy.h).
  CommandFacts FactsNow(const Operation& op) const;
  // Acts on `step` (decided by client_outcome.h / client_policy.h) for `op`:
  // finishes it (with `answer`, its status set and its error filled in if
  // empty), retries it after `retry_delay`, or re-sends it on a new session.
  void Proceed(const std::shared_ptr<Operation>& op, NextStep step, ClientResult answer,
               std::chrono::milliseconds retry_delay);
  void Attempt(const std::shared_ptr<Operation>& op);
  void OnResult(const std::shared_ptr<Operation>& op, paxos::ReplicaId target,
                transport::SubmitResult result);
  void RetryLater(const std::shared_ptr<Operation>& op, std::chrono::milliseconds delay);
  void Finish(const std::shared_ptr<Operation>& op, ClientResult result);
  void OnSessionReady(uint64_t session);
  void OnSessionFailed(const ClientResult& why);
  // A connection to member `id` (listed, or in the learned member list).
  transport::ClientConnection& Connection(paxos::ReplicaId id);
  // The listed member after `after` that did not dissent from the majority.
  paxos::ReplicaId NextMember(paxos::ReplicaId after) const;
  uint64_t LowestUnanswered() const;
  // --- cluster id learning ---
  // Runs `next` once the cluster id is settled, or after a learning round
  // that found no majority (then `next` sees id_settled_ false).
  void WithClusterId(std::function<void()> next);
  void StartLearning();
  // Asks `member` in this round on a new connection (probes_, probed_at_).
  void Probe(const MemberAddress& member);
  std::optional<ClusterConfig> ListIncludingOurs(const std::string& text) const;
  void OnStatement(uint64_t round, paxos::ReplicaId id, const transport::HandshakeInfo& info);
  // After member `target` refused our hello: learn the id again (id_settled_
  // false) if the settled id is a member-list hash and the member states
  // another id (the cluster agreed on its id since). Never once an agreed id
  // is settled: a cluster's agreed id never changes, so another id then is
  // another cluster (or a leftover of one) on these addresses.
  void RelearnIfTheClusterAgreedSince(paxos::ReplicaId target);
  void QueryOne(size_t index, std::function<void(std::optional<transport::ReplicaStatus>)> done);
  // One step of QueryLeaderStatus (node/client_members.cc).
  struct LeaderQuery;
  void AskForLeader(const std::shared_ptr<LeaderQuery>& query);

  transport::EventLoop& loop_;
  ClientOptions options_;
  // The id this client says hello with: the hash of its own member list until
  // it learned the cluster's.
  transport::ClusterId cluster_id_;
  bool id_settled_ = false;  // cluster_id_ is what a majority of the listed members stated
  // The settled id is the hash of the member list it was stated with (the
  // cluster had not agreed on its random id yet), or was stated without a
  // list (an older member: it cannot be told from a hash).
  bool settled_on_hash_ = false;
  bool learning_ = false;  // a learning round is under way
  uint64_t learn_round_ = 0;
  std::map<paxos::ReplicaId, transport::HandshakeInfo> statements_;  // this round's
  // This round's probes: a fresh connection per listed member, so every
  // round hears what the member states now (an open connection keeps the
  // reply to its own, possibly old, hello). Commands never use them; an
  // accepted probe may become the member's connection once the id settles.
  std::map<paxos::ReplicaId, std::unique_ptr<transport::ClientConnection>> probes_;
  std::map<paxos::ReplicaId, std::string> probed_at_;  // this round: address asked ("host:port")
  std::vector<std::function<void()>> waiting_for_id_;
  std::string learn_error_;  // why the last round settled nothing
  std::unique_ptr<boost::asio::steady_timer> learn_timer_;
  // The full member list the majority stated (addresses of unlisted members).
  std::optional<ClusterConfig> cluster_members_;
  std::vector<paxos::ReplicaId> dissenters_;  // listed members that stated something else
  // Status queries of members asked with their own stated id (no majority).
  std::map<paxos::ReplicaId, std::unique_ptr<transport::ClientConnection>> status_connections_;
  // Seeded from OsRandom64, never from a clock: the session-registration
  // nonces it draws must differ between client processes.
  std::mt19937_64 random_;
  std::map<paxos::ReplicaId, std::unique_ptr<transport::ClientConnection>> connections_;
  paxos::ReplicaId leader_guess_;

  enum class SessionState { kNone, kRegistering, kReady } session_state_ = SessionState::kNone;
  uint64_t session_ = 0;
  uint64_t next_sequence_ = 1;
  std::map<uint64_t, std::shared_ptr<Operation>> in_flight_;  // by sequence
  std::vector<std::shared_ptr<Operation>> waiting_for_session_;
  bool closing_ = false;  // set by the destructor
  // Reset by the destructor; callbacks the loop may still run (timers,
  // connections' posted results and status answers) hold it weakly.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace synod::node
