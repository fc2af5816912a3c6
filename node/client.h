// Client: submits commands to a Synod cluster with exactly-once semantics.
//
// It connects to any member (short per-attempt deadlines), follows leader
// hints, skips members that are down, and keeps retrying while there is no
// leader until the command's timeout. It opens a session through the log
// first; every command then carries (session, sequence number, lowest
// unanswered sequence number), so a retry after a failover is applied once.
// Many commands may be in flight; the transport coalesces them into few calls.
//
// Outcomes: kOk; kFailed only when the command surely never took effect (no
// attempt could have reached a leader that proposed it) or when it was
// applied as a failure (the StateMachine's Apply threw: `error` names the
// exception's message; Apply throws before changing state, so the command
// had no effect either way); otherwise kUnknown — once a command may have
// been proposed it is never reported as failed unless its failure was
// applied. An internal failure in the client's loop ends the process
// (exit 70, transport/internal_error.h).
//
// Threading: network thread of the EventLoop only; callbacks run there.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "node/cluster_config.h"
#include "transport/client_connection.h"
#include "transport/event_loop.h"

namespace synod::node {

struct ClientOptions {
  ClusterConfig cluster;
  std::chrono::milliseconds timeout{10000};         // per command, all retries included
  std::chrono::milliseconds attempt_timeout{1500};  // per attempt at one member
};

struct ClientResult {
  enum class Status : uint8_t { kOk, kFailed, kUnknown };
  Status status = Status::kFailed;
  std::string result;                           // the state machine's answer (kOk)
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

  // Runs `payload` through the log; `done` is called exactly once, unless the
  // client is destroyed first (then never).
  void Execute(std::string payload, std::function<void(ClientResult)> done);

  // Asks every member for its status; nullopt for members that do not answer.
  using Statuses =
      std::vector<std::pair<paxos::ReplicaId, std::optional<transport::ReplicaStatus>>>;
  void QueryStatuses(std::function<void(Statuses)> done);

 private:
  struct Operation;
  void EnsureSession();
  void Attempt(const std::shared_ptr<Operation>& op);
  void OnResult(const std::shared_ptr<Operation>& op, paxos::ReplicaId target,
                transport::SubmitResult result);
  void RetryLater(const std::shared_ptr<Operation>& op, std::chrono::milliseconds delay);
  void Finish(const std::shared_ptr<Operation>& op, ClientResult result);
  void OnSessionReady(uint64_t session);
  void OnSessionFailed(const ClientResult& why);
  transport::ClientConnection& Connection(paxos::ReplicaId id);
  paxos::ReplicaId NextMember(paxos::ReplicaId after) const;
  uint64_t LowestUnanswered() const;
  // After member `refused_by` refused our hello for a wrong cluster id: adopt
  // the id it stated, once (a client may know only some members, so its own
  // member-list hash may differ). Returns true if it changed the id.
  bool LearnClusterId(paxos::ReplicaId refused_by);
  void QueryOne(size_t index, bool may_learn,
                std::function<void(std::optional<transport::ReplicaStatus>)> done);

  transport::EventLoop& loop_;
  ClientOptions options_;
  transport::ClusterId cluster_id_;
  bool cluster_id_learned_ = false;
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
