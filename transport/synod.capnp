# Wire schema of Synod: replica-to-replica Paxos messages and client requests.
#
# These types never leave transport/: codec.h converts them to and from the
# plain structs of paxos/. Every connection starts at the bootstrap interface
# Handshake; only an accepted hello() hands out a Peer or Client capability.
# Fields are only ever added (with new ordinals), never renumbered.

@0xfdc5a732befa9ca5;

$import "/capnp/c++.capnp".namespace("synod::wire");

struct Ballot {
  round @0 :UInt64;
  replica @1 :UInt32;
}

enum ValueKind {
  noop @0;
  commands @1;
  configuration @2;  # one encoded configuration change (paxos/configuration.h)
}

# A slot's value: a no-op, a batch of opaque client commands, or a
# configuration change (never handed to the state machine).
struct Value {
  kind @0 :ValueKind;
  commands @1 :List(Data);
}

struct SlotEntry {
  slot @0 :UInt64;
  ballot @1 :Ballot;
  value @2 :Value;
  chosen @3 :Bool;
}

struct CommittedEntry {
  slot @0 :UInt64;
  value @1 :Value;
}

struct PreVoteRequest { firstUnchosen @0 :UInt64; }
struct PreVoteReply { granted @0 :Bool; promised @1 :Ballot; }
struct Prepare {
  ballot @0 :Ballot;
  fromSlot @1 :UInt64;
  # Campaign started by TimeoutNow: the ballot of the leader that handed over
  # (unset: none). Acceptors following that ballot skip leader stickiness.
  transferFrom @2 :Ballot;
}
struct Promise {
  ballot @0 :Ballot;
  fromSlot @1 :UInt64;
  nextSlot @2 :UInt64;
  more @3 :Bool;
  chosenPoint @4 :UInt64;
  entries @5 :List(SlotEntry);
  compacted @6 :UInt64;  # acceptor deleted slots <= compacted (chosen, in its snapshot)
}
struct Accept { ballot @0 :Ballot; slot @1 :UInt64; value @2 :Value; commit @3 :UInt64; }
struct Accepted { ballot @0 :Ballot; slot @1 :UInt64; }
struct Reject { ballot @0 :Ballot; promised @1 :Ballot; }
struct Heartbeat { ballot @0 :Ballot; commit @1 :UInt64; }
struct HeartbeatReply { ballot @0 :Ballot; chosenPoint @1 :UInt64; }
struct CatchupRequest { fromSlot @0 :UInt64; toSlot @1 :UInt64; }
struct CatchupReply {
  entries @0 :List(CommittedEntry);
  compacted @1 :UInt64;  # sender deleted slots <= compacted: fetch its snapshot
}
struct TimeoutNow { ballot @0 :Ballot; }  # leadership transfer: start phase 1 at once

# One Paxos message with its addressing (mirrors paxos::Message).
struct Message {
  from @0 :UInt32;
  to @1 :UInt32;
  body :union {
    preVoteRequest @2 :PreVoteRequest;
    preVoteReply @3 :PreVoteReply;
    prepare @4 :Prepare;
    promise @5 :Promise;
    accept @6 :Accept;
    accepted @7 :Accepted;
    reject @8 :Reject;
    heartbeat @9 :Heartbeat;
    heartbeatReply @10 :HeartbeatReply;
    catchupRequest @11 :CatchupRequest;
    catchupReply @12 :CatchupReply;
    timeoutNow @13 :TimeoutNow;
  }
}

# Replica-to-replica service. The sender coalesces everything queued for one
# peer into one deliver() call (bounded by bytes); several calls are in flight
# per connection. Paxos tolerates loss and reordering, so a message may travel
# either way: in a deliver() call of its sender, or in the `replies` of the
# receiver's latest deliver() call to its sender, which the sender holds open
# briefly for that (transport/return_path.h). One TCP message then carries
# both the return and the answer (e.g. Accept -> Accepted).
interface PeerService {
  deliver @0 (messages :List(Message)) -> (replies :List(Message));

  # Snapshot transfer (catch-up of a replica behind the sender's compacted
  # log; see docs/transport.md, "Snapshot transfer"). The caller pulls: it asks
  # for the latest snapshot's identity, then reads byte ranges of exactly that
  # snapshot with a bounded number of reads in flight. A server without a
  # snapshot provider fails both calls.

  # The server's latest complete snapshot; found is false if it has none.
  snapshotInfo @1 () -> (found :Bool, appliedSlot :UInt64, sizeBytes :UInt64, crc32c :UInt32);

  # Up to maxBytes of the snapshot (appliedSlot, crc32c, sizeBytes, as
  # snapshotInfo reported it) from `offset`: exactly
  # min(maxBytes, size - offset) bytes (the server may lower maxBytes to its
  # own chunk limit, which is at least 1 MiB). gone: that snapshot no longer
  # exists there (pruned); start again from snapshotInfo.
  readSnapshot @2 (appliedSlot :UInt64, crc32c :UInt32, offset :UInt64, maxBytes :UInt32,
                   sizeBytes :UInt64) -> (data :Data, gone :Bool);
}

enum OutcomeStatus {
  ok @0;              # applied; `result` holds the state machine's answer
  notLeader @1;       # not applied; try `leaderHint`
  busy @2;            # not applied; back off and retry
  sessionExpired @3;  # the client session is gone; start a new one
  unknown @4;         # may or may not have been applied (e.g. leadership lost)
  error @5;           # rejected by the state machine or malformed; `result` says why
  applyFailed @6;     # applied as a failure: the state machine's apply threw;
                      # `result` holds the exception's message (the same on every
                      # replica and for every retry)
  refused @7;         # refused by a session limit; never applied, now or later;
                      # `result` says which limit
}

struct Outcome {
  status @0 :OutcomeStatus;
  result @1 :Data;
  slot @2 :UInt64;
}

enum Role {
  follower @0;
  candidate @1;
  leader @2;
}

# A replica's status, for status pages and tooling.
struct Status {
  id @0 :UInt32;
  role @1 :Role;
  ballot @2 :Ballot;
  chosenPoint @3 :UInt64;
  applied @4 :UInt64;
  leader @5 :UInt32;  # 0 when unknown
  # CRC32C of the applied state (the applier's snapshot bytes: applied index,
  # log time, configuration, sessions, state machine). Equal on replicas at
  # the same applied index. Computed per status call: O(state size).
  stateDigest @6 :UInt32;
  # Membership (servers that predate it leave these at their defaults: slot 0,
  # no members, voter). configSlot: the slot whose chosen value set the
  # configuration this replica knows (0: the initial one); members: that
  # configuration, sorted by id; membership: this replica's place in it.
  configSlot @7 :UInt64;
  members @8 :List(StatusMember);
  membership @9 :Membership;
}

# One member of a configuration, as `Status` reports it.
struct StatusMember {
  id @0 :UInt32;
  learner @1 :Bool;   # false: a voter
  address @2 :Text;   # "HOST:PORT" ("" if the replica does not know it)
}

enum Membership {
  voter @0;
  learner @1;
  notMember @2;  # not (yet) named by the configuration it knows
  removed @3;    # a chosen change removed it
}

# Client-facing service. `commands` are opaque encoded envelopes (their content
# is defined by the runtime); outcomes come back in the same order.
interface ClientService {
  submit @0 (commands :List(Data)) -> (outcomes :List(Outcome), leaderHint :UInt32);
  status @1 () -> (status :Status);
  # Asks the leader to hand leadership to the voter `target` and answers once
  # the transfer ended (see TransferStatus); `target` naming the leader itself
  # answers handedOver with leaderHint = target. A server that predates this
  # method fails the call (unimplemented).
  transferLeader @2 (target :UInt32)
      -> (status :TransferStatus, leaderHint :UInt32, reason :Text);
  # Asks the leader to change the configuration by one step (see MemberChange)
  # and answers once the change took effect, was refused, or its fate became
  # unknown to this replica (see ChangeStatus). configSlot: the slot whose
  # chosen value set the configuration the change is in effect in (done);
  # behind: how many slots the learner lagged (behind); proposedSlot: where
  # the change was proposed (unknown, superseded); already: the change was in effect
  # before this call (done). A server that predates this method fails the
  # call (unimplemented).
  changeMembers @3 (change :MemberChange)
      -> (status :ChangeStatus, leaderHint :UInt32, reason :Text, configSlot :UInt64,
          behind :UInt64, proposedSlot :UInt64, already :Bool);
}

# One configuration change, as a client asks the leader for it.
struct MemberChange {
  kind @0 :MemberChangeKind;
  replica @1 :UInt32;
  address @2 :Text;   # addLearner: the new member's "HOST:PORT"; empty otherwise
  waitMs @3 :UInt32;  # promote: how long the leader waits for the learner to catch up
}

enum MemberChangeKind {
  addLearner @0;  # a new member that votes in no quorum
  promote @1;     # a learner becomes a voter
  remove @2;      # a member leaves for good (its id can never return)
}

# Answer of ClientService.changeMembers.
enum ChangeStatus {
  done @0;       # in effect at configSlot (already: it was before the call)
  notLeader @1;  # refused: this replica does not lead; try leaderHint (0: unknown)
  invalid @2;    # refused, nothing proposed; see reason
  busy @3;       # refused for now (a change or transfer in flight), nothing proposed; retry
  behind @4;     # promote refused: the learner was `behind` slots behind; nothing proposed
  unknown @5;    # proposed at proposedSlot, then this replica lost track (leadership lost)
  superseded @6; # chosen at proposedSlot but void: another change took effect first; nothing changed
}

# Answer of ClientService.transferLeader.
enum TransferStatus {
  handedOver @0;  # this replica stopped leading (leaderHint: whom it follows, 0: not known
                  # yet), or `target` is this leader, or the transfer ended with this
                  # replica leading after `target` was told to take over (it still may;
                  # leaderHint: this replica): wait until `target` leads
  resumed @1;     # the transfer ended without a new leader; this replica still leads
  notLeader @2;   # refused: this replica does not lead; try leaderHint (0: unknown)
  invalid @3;     # refused: `target` is not a voter (learner, removed, unknown); see reason
  busy @4;        # refused for now (a transfer or configuration change in flight); see reason
}

enum ConnectionRole {
  peer @0;
  client @1;
}

# Handshake.hello features bit: membership changes while running.
const featureRuntimeMembership :UInt32 = 1;
# Handshake.hello features bit: reads configurations that record removed
# members' addresses.
const featureRetiredAddresses :UInt32 = 2;

# Bootstrap capability of every connection.
interface Handshake {
  # Introduce the caller. On acceptance exactly one of peer/client is set (by
  # role). On refusal (wrong cluster id, member list, unknown replica)
  # accepted is false, `reason` says why and the server closes the connection
  # after replying. The server's identity is reported either way (bootstrap
  # and clients learning the cluster id use it).
  # clusterId: the caller's cluster id (the agreed random id once it applied
  # it, else the member-list hash). memberListId: a peer's member-list hash
  # (0: not stated, as older peers and clients send).
  # serverCluster: the server's cluster id, as clusterId. serverMembers: its
  # member list "1=host:port,2=host:port" (empty from older servers).
  # features (both ways): bits of what the sender's build supports; bit 0
  # (featureRuntimeMembership): membership changes while running; bit 1
  # (featureRetiredAddresses): reads removed members' addresses. Older
  # builds send 0. removed: refused because fromReplica was removed from the
  # cluster (it must not rejoin under that id). configSlot: the slot of the
  # configuration the server's accepted and removed peer ids come from (0:
  # its static member list; older servers send 0).
  hello @0 (clusterId :UInt64, fromReplica :UInt32, role :ConnectionRole,
            memberListId :UInt64, features :UInt32)
      -> (accepted :Bool, reason :Text, peer :PeerService, client :ClientService,
          serverReplica :UInt32, serverCluster :UInt64, hasHistory :Bool,
          extensions :AnyPointer, serverMembers :Text, removed :Bool,
          configSlot :UInt64, features :UInt32);
  # `extensions` is reserved for later additions (e.g. snapshot streaming).
}

# Root of a standalone peer batch; used by the fuzz target's decode path.
struct PeerBatch {
  messages @0 :List(Message);
}
