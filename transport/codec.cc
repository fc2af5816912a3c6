// Cap'n Proto <-> paxos/ conversions with validation (see codec.h).

#include "transport/codec.h"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/exception.h>

#include <cstring>
#include <type_traits>
#include <utility>

#include "paxos/configuration.h"

namespace synod::transport {
namespace {

using paxos::Ballot;
using paxos::Slot;

// --- encoding -------------------------------------------------------------

void PutBallot(const Ballot& b, wire::Ballot::Builder out) {
  out.setRound(b.round);
  out.setReplica(b.replica);
}

void PutValue(const paxos::ValuePtr& value, wire::Value::Builder out) {
  if (value == nullptr || value->kind == paxos::ValueKind::kNoop) {
    out.setKind(wire::ValueKind::NOOP);
    return;
  }
  out.setKind(value->kind == paxos::ValueKind::kConfiguration ? wire::ValueKind::CONFIGURATION
                                                              : wire::ValueKind::COMMANDS);
  auto list = out.initCommands(static_cast<unsigned>(value->commands.size()));
  for (unsigned i = 0; i < value->commands.size(); ++i) {
    const std::string& c = value->commands[i];
    list.set(i, capnp::Data::Reader(reinterpret_cast<const kj::byte*>(c.data()), c.size()));
  }
}

struct BodyEncoder {
  wire::Message::Body::Builder out;

  void operator()(const paxos::PreVoteRequest& m) {
    out.initPreVoteRequest().setFirstUnchosen(m.first_unchosen);
  }
  void operator()(const paxos::PreVoteReply& m) {
    auto b = out.initPreVoteReply();
    b.setGranted(m.granted);
    PutBallot(m.promised, b.initPromised());
  }
  void operator()(const paxos::Prepare& m) {
    auto b = out.initPrepare();
    PutBallot(m.ballot, b.initBallot());
    b.setFromSlot(m.from_slot);
    if (!m.transfer_from.IsNull()) PutBallot(m.transfer_from, b.initTransferFrom());
  }
  void operator()(const paxos::Promise& m) {
    auto b = out.initPromise();
    PutBallot(m.ballot, b.initBallot());
    b.setFromSlot(m.from_slot);
    b.setNextSlot(m.next_slot);
    b.setMore(m.more);
    b.setChosenPoint(m.chosen_point);
    b.setCompacted(m.compacted);
    auto entries = b.initEntries(static_cast<unsigned>(m.entries.size()));
    for (unsigned i = 0; i < m.entries.size(); ++i) {
      const paxos::SlotEntry& se = m.entries[i];
      auto e = entries[i];
      e.setSlot(se.slot);
      PutBallot(se.entry.ballot, e.initBallot());
      PutValue(se.entry.value, e.initValue());
      e.setChosen(se.entry.chosen);
    }
  }
  void operator()(const paxos::Accept& m) {
    auto b = out.initAccept();
    PutBallot(m.ballot, b.initBallot());
    b.setSlot(m.slot);
    PutValue(m.value, b.initValue());
    b.setCommit(m.commit);
  }
  void operator()(const paxos::Accepted& m) {
    auto b = out.initAccepted();
    PutBallot(m.ballot, b.initBallot());
    b.setSlot(m.slot);
  }
  void operator()(const paxos::Reject& m) {
    auto b = out.initReject();
    PutBallot(m.ballot, b.initBallot());
    PutBallot(m.promised, b.initPromised());
  }
  void operator()(const paxos::Heartbeat& m) {
    auto b = out.initHeartbeat();
    PutBallot(m.ballot, b.initBallot());
    b.setCommit(m.commit);
  }
  void operator()(const paxos::HeartbeatReply& m) {
    auto b = out.initHeartbeatReply();
    PutBallot(m.ballot, b.initBallot());
    b.setChosenPoint(m.chosen_point);
  }
  void operator()(const paxos::CatchupRequest& m) {
    auto b = out.initCatchupRequest();
    b.setFromSlot(m.from_slot);
    b.setToSlot(m.to_slot);
  }
  void operator()(const paxos::CatchupReply& m) {
    auto b = out.initCatchupReply();
    b.setCompacted(m.compacted);
    auto entries = b.initEntries(static_cast<unsigned>(m.entries.size()));
    for (unsigned i = 0; i < m.entries.size(); ++i) {
      entries[i].setSlot(m.entries[i].slot);
      PutValue(m.entries[i].value, entries[i].initValue());
    }
  }
  void operator()(const paxos::TimeoutNow& m) {
    auto b = out.initTimeoutNow();
    PutBallot(m.ballot, b.initBallot());
  }
};

size_t ValueBytes(const paxos::ValuePtr& value) {
  if (value == nullptr) return 16;
  size_t n = 32;
  for (const std::string& c : value->commands) n += c.size() + 16;
  return n;
}

// --- decoding -------------------------------------------------------------

// Decoding context: limits plus the first error found.
class Decoder {
 public:
  explicit Decoder(const Limits& limits) : limits_(limits) {}

  const std::string& error() const { return error_; }
  bool Fail(std::string what) {
    if (error_.empty()) error_ = std::move(what);
    return false;
  }

  bool GetBallot(wire::Ballot::Reader in, const char* field, Ballot* out) {
    out->round = in.getRound();
    out->replica = in.getReplica();
    if (out->round != 0 && out->replica == paxos::kNoReplica) {
      return Fail(std::string(field) + ": ballot with a round but no replica");
    }
    return true;
  }

  bool GetList(size_t size, const char* field) {
    if (size > limits_.max_list_items) {
      return Fail(std::string(field) + ": " + std::to_string(size) + " items exceed the limit of " +
                  std::to_string(limits_.max_list_items));
    }
    return true;
  }

  bool GetValue(bool present, wire::Value::Reader in, const char* field, paxos::ValuePtr* out) {
    if (!present) return Fail(std::string(field) + ": missing value");
    switch (in.getKind()) {
      case wire::ValueKind::NOOP:
        if (in.hasCommands() && in.getCommands().size() != 0) {
          return Fail(std::string(field) + ": a no-op value carries commands");
        }
        *out = paxos::NoopValue();
        return true;
      case wire::ValueKind::COMMANDS: {
        auto list = in.getCommands();
        if (list.size() == 0) return Fail(std::string(field) + ": a commands value has none");
        if (!GetList(list.size(), field)) return false;
        std::vector<std::string> commands;
        commands.reserve(list.size());
        for (capnp::Data::Reader c : list) {
          commands.emplace_back(reinterpret_cast<const char*>(c.begin()), c.size());
        }
        *out = paxos::MakeCommandsValue(std::move(commands));
        return true;
      }
      case wire::ValueKind::CONFIGURATION: {
        auto list = in.getCommands();
        if (list.size() != 1) {
          return Fail(std::string(field) + ": a configuration value carries one payload");
        }
        auto value = std::make_shared<paxos::Value>();
        value->kind = paxos::ValueKind::kConfiguration;
        value->commands.emplace_back(reinterpret_cast<const char*>(list[0].begin()),
                                     list[0].size());
        if (!paxos::DecodeConfigurationValue(*value)) {
          return Fail(std::string(field) + ": malformed configuration change");
        }
        *out = std::move(value);
        return true;
      }
    }
    return Fail(std::string(field) + ": unknown value kind " +
                std::to_string(static_cast<unsigned>(in.getKind())));
  }

  bool GetBody(wire::Message::Body::Reader in, paxos::MessageBody* out) {
    switch (in.which()) {
      case wire::Message::Body::PRE_VOTE_REQUEST: {
        paxos::PreVoteRequest m;
        m.first_unchosen = in.getPreVoteRequest().getFirstUnchosen();
        *out = m;
        return true;
      }
      case wire::Message::Body::PRE_VOTE_REPLY: {
        auto r = in.getPreVoteReply();
        paxos::PreVoteReply m;
        m.granted = r.getGranted();
        if (!GetBallot(r.getPromised(), "preVoteReply.promised", &m.promised)) return false;
        *out = m;
        return true;
      }
      case wire::Message::Body::PREPARE: {
        auto r = in.getPrepare();
        paxos::Prepare m;
        if (!GetBallot(r.getBallot(), "prepare.ballot", &m.ballot)) return false;
        m.from_slot = r.getFromSlot();
        if (r.hasTransferFrom() &&
            !GetBallot(r.getTransferFrom(), "prepare.transferFrom", &m.transfer_from)) {
          return false;
        }
        *out = m;
        return true;
      }
      case wire::Message::Body::PROMISE:
        return GetPromise(in.getPromise(), out);
      case wire::Message::Body::ACCEPT: {
        auto r = in.getAccept();
        paxos::Accept m;
        if (!GetBallot(r.getBallot(), "accept.ballot", &m.ballot)) return false;
        m.slot = r.getSlot();
        if (m.slot == 0) return Fail("accept.slot: slot 0");
        if (!GetValue(r.hasValue(), r.getValue(), "accept.value", &m.value)) return false;
        m.commit = r.getCommit();
        *out = std::move(m);
        return true;
      }
      case wire::Message::Body::ACCEPTED: {
        auto r = in.getAccepted();
        paxos::Accepted m;
        if (!GetBallot(r.getBallot(), "accepted.ballot", &m.ballot)) return false;
        m.slot = r.getSlot();
        if (m.slot == 0) return Fail("accepted.slot: slot 0");
        *out = m;
        return true;
      }
      case wire::Message::Body::REJECT: {
        auto r = in.getReject();
        paxos::Reject m;
        if (!GetBallot(r.getBallot(), "reject.ballot", &m.ballot)) return false;
        if (!GetBallot(r.getPromised(), "reject.promised", &m.promised)) return false;
        *out = m;
        return true;
      }
      case wire::Message::Body::HEARTBEAT: {
        auto r = in.getHeartbeat();
        paxos::Heartbeat m;
        if (!GetBallot(r.getBallot(), "heartbeat.ballot", &m.ballot)) return false;
        m.commit = r.getCommit();
        *out = m;
        return true;
      }
      case wire::Message::Body::HEARTBEAT_REPLY: {
        auto r = in.getHeartbeatReply();
        paxos::HeartbeatReply m;
        if (!GetBallot(r.getBallot(), "heartbeatReply.ballot", &m.ballot)) return false;
        m.chosen_point = r.getChosenPoint();
        *out = m;
        return true;
      }
      case wire::Message::Body::CATCHUP_REQUEST: {
        auto r = in.getCatchupRequest();
        paxos::CatchupRequest m;
        m.from_slot = r.getFromSlot();
        m.to_slot = r.getToSlot();
        *out = m;
        return true;
      }
      case wire::Message::Body::CATCHUP_REPLY: {
        auto entries = in.getCatchupReply().getEntries();
        if (!GetList(entries.size(), "catchupReply.entries")) return false;
        paxos::CatchupReply m;
        m.compacted = in.getCatchupReply().getCompacted();
        m.entries.reserve(entries.size());
        for (auto e : entries) {
          paxos::CommittedEntry ce;
          ce.slot = e.getSlot();
          if (ce.slot == 0) return Fail("catchupReply.entries: slot 0");
          if (!GetValue(e.hasValue(), e.getValue(), "catchupReply.entries.value", &ce.value)) {
            return false;
          }
          m.entries.push_back(std::move(ce));
        }
        *out = std::move(m);
        return true;
      }
      case wire::Message::Body::TIMEOUT_NOW: {
        paxos::TimeoutNow m;
        if (!GetBallot(in.getTimeoutNow().getBallot(), "timeoutNow.ballot", &m.ballot)) {
          return false;
        }
        *out = m;
        return true;
      }
    }
    return Fail("unknown message type " + std::to_string(static_cast<unsigned>(in.which())));
  }

  bool GetPromise(wire::Promise::Reader r, paxos::MessageBody* out) {
    paxos::Promise m;
    if (!GetBallot(r.getBallot(), "promise.ballot", &m.ballot)) return false;
    m.from_slot = r.getFromSlot();
    m.next_slot = r.getNextSlot();
    if (m.next_slot < m.from_slot) return Fail("promise: nextSlot below fromSlot");
    m.more = r.getMore();
    m.chosen_point = r.getChosenPoint();
    m.compacted = r.getCompacted();
    auto entries = r.getEntries();
    if (!GetList(entries.size(), "promise.entries")) return false;
    m.entries.reserve(entries.size());
    for (auto e : entries) {
      paxos::SlotEntry se;
      se.slot = e.getSlot();
      if (se.slot == 0) return Fail("promise.entries: slot 0");
      if (!GetBallot(e.getBallot(), "promise.entries.ballot", &se.entry.ballot)) return false;
      if (!GetValue(e.hasValue(), e.getValue(), "promise.entries.value", &se.entry.value)) {
        return false;
      }
      se.entry.chosen = e.getChosen();
      m.entries.push_back(std::move(se));
    }
    *out = std::move(m);
    return true;
  }

  bool GetMessage(wire::Message::Reader in, paxos::Message* out) {
    out->from = in.getFrom();
    out->to = in.getTo();
    if (out->from == paxos::kNoReplica) return Fail("message: from is 0");
    if (out->to == paxos::kNoReplica) return Fail("message: to is 0");
    return GetBody(in.getBody(), &out->body);
  }

 private:
  const Limits& limits_;
  std::string error_;
};

// Runs `fn` and turns a Cap'n Proto / KJ exception (what a malformed message
// raises) into an error text. Other exceptions (std::bad_alloc) propagate.
template <typename Fn>
std::string Guarded(Fn&& fn) {
  try {
    return fn();
  } catch (const kj::Exception& e) {
    return std::string("malformed message: ") + e.getDescription().cStr();
  }
}

// Ok for "", else kCorruption carrying the error text unchanged.
Status CorruptionUnlessEmpty(std::string error) {
  return error.empty() ? Status::Ok() : Status::Corruption(std::move(error));
}

}  // namespace

void EncodeMessage(const paxos::Message& message, wire::Message::Builder out) {
  out.setFrom(message.from);
  out.setTo(message.to);
  std::visit(BodyEncoder{out.getBody()}, message.body);
}

size_t EstimateWireBytes(const paxos::Message& message) {
  size_t n = 64;
  std::visit(
      [&n](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, paxos::Accept>) {
          n += ValueBytes(m.value);
        } else if constexpr (std::is_same_v<T, paxos::Promise>) {
          for (const auto& se : m.entries) n += 48 + ValueBytes(se.entry.value);
        } else if constexpr (std::is_same_v<T, paxos::CatchupReply>) {
          for (const auto& ce : m.entries) n += 24 + ValueBytes(ce.value);
        }
      },
      message.body);
  return n;
}

Status DecodeMessage(wire::Message::Reader in, const Limits& limits, paxos::Message* out) {
  return CorruptionUnlessEmpty(Guarded([&]() -> std::string {
    Decoder d(limits);
    d.GetMessage(in, out);
    return d.error();
  }));
}

Status DecodeMessages(capnp::List<wire::Message>::Reader in, const Limits& limits,
                      std::vector<paxos::Message>* out) {
  return CorruptionUnlessEmpty(Guarded([&]() -> std::string {
    if (in.size() > limits.max_list_items) {
      return "batch of " + std::to_string(in.size()) + " messages exceeds the limit";
    }
    out->clear();
    out->reserve(in.size());
    for (unsigned i = 0; i < in.size(); ++i) {
      Decoder d(limits);
      paxos::Message m;
      if (!d.GetMessage(in[i], &m)) return "message " + std::to_string(i) + ": " + d.error();
      out->push_back(std::move(m));
    }
    return "";
  }));
}

Status DecodePeerBatchBytes(const void* data, size_t size, const Limits& limits,
                            std::vector<paxos::Message>* out) {
  if (size % sizeof(capnp::word) != 0) {
    return Status::Corruption("batch size is not a whole number of words");
  }
  if (size > limits.max_message_bytes) {
    return Status::Corruption("batch larger than the message size limit");
  }
  // Copy into word-aligned storage: the input may be unaligned.
  kj::Array<capnp::word> words = kj::heapArray<capnp::word>(size / sizeof(capnp::word));
  if (size != 0) std::memcpy(words.begin(), data, size);
  return CorruptionUnlessEmpty(Guarded([&]() -> std::string {
    capnp::ReaderOptions options;
    options.traversalLimitInWords = limits.max_message_bytes / sizeof(capnp::word);
    capnp::FlatArrayMessageReader reader(words, options);
    // Ok's message is empty; every failure of DecodeMessages is kCorruption.
    return DecodeMessages(reader.getRoot<wire::PeerBatch>().getMessages(), limits, out).message();
  }));
}

std::string EncodePeerBatchBytes(const std::vector<paxos::Message>& messages) {
  capnp::MallocMessageBuilder builder;
  auto list =
      builder.initRoot<wire::PeerBatch>().initMessages(static_cast<unsigned>(messages.size()));
  for (unsigned i = 0; i < messages.size(); ++i) EncodeMessage(messages[i], list[i]);
  kj::Array<capnp::word> words = capnp::messageToFlatArray(builder);
  kj::ArrayPtr<const char> bytes = words.asChars();
  return std::string(bytes.begin(), bytes.size());
}

void EncodeClientReply(const ClientReply& reply, wire::ClientService::SubmitResults::Builder out) {
  auto list = out.initOutcomes(static_cast<unsigned>(reply.outcomes.size()));
  for (unsigned i = 0; i < reply.outcomes.size(); ++i) {
    const Outcome& o = reply.outcomes[i];
    list[i].setStatus(static_cast<wire::OutcomeStatus>(o.status));
    list[i].setResult(
        capnp::Data::Reader(reinterpret_cast<const kj::byte*>(o.result.data()), o.result.size()));
    list[i].setSlot(o.slot);
  }
  out.setLeaderHint(reply.leader_hint);
}

std::string DecodeClientReply(wire::ClientService::SubmitResults::Reader in,
                              size_t expected_outcomes, ClientReply* out) {
  return Guarded([&]() -> std::string {
    auto list = in.getOutcomes();
    if (list.size() != expected_outcomes) {
      return "reply has " + std::to_string(list.size()) + " outcomes for " +
             std::to_string(expected_outcomes) + " commands";
    }
    out->outcomes.clear();
    out->outcomes.reserve(list.size());
    for (auto o : list) {
      auto status = static_cast<unsigned>(o.getStatus());
      if (status > static_cast<unsigned>(OutcomeStatus::kRefused)) {
        return "unknown outcome status " + std::to_string(status);
      }
      Outcome outcome;
      outcome.status = static_cast<OutcomeStatus>(status);
      auto result = o.getResult();
      outcome.result.assign(reinterpret_cast<const char*>(result.begin()), result.size());
      outcome.slot = o.getSlot();
      out->outcomes.push_back(std::move(outcome));
    }
    out->leader_hint = in.getLeaderHint();
    return "";
  });
}

// Bound on the members a status may list (a configuration has far fewer).
constexpr unsigned kMaxStatusMembers = 1024;

void EncodeStatus(const ReplicaStatus& status, wire::Status::Builder out) {
  out.setId(status.id);
  out.setRole(static_cast<wire::Role>(status.role));
  PutBallot(status.ballot, out.initBallot());
  out.setChosenPoint(status.chosen_point);
  out.setApplied(status.applied);
  out.setLeader(status.leader);
  out.setStateDigest(status.state_digest);
  out.setConfigSlot(status.config_slot);
  auto members = out.initMembers(static_cast<unsigned>(status.members.size()));
  for (unsigned i = 0; i < status.members.size(); ++i) {
    const paxos::Member& member = status.members[i];
    members[i].setId(member.id);
    members[i].setLearner(member.role == paxos::MemberRole::kLearner);
    members[i].setAddress(member.address);
  }
  out.setMembership(static_cast<wire::Membership>(status.membership));
}

std::string DecodeStatus(wire::Status::Reader in, ReplicaStatus* out) {
  return Guarded([&]() -> std::string {
    auto role = static_cast<unsigned>(in.getRole());
    if (role > static_cast<unsigned>(Role::kLeader)) return "unknown role " + std::to_string(role);
    out->id = in.getId();
    out->role = static_cast<Role>(role);
    Decoder d(Limits{});
    if (!d.GetBallot(in.getBallot(), "status.ballot", &out->ballot)) return d.error();
    out->chosen_point = in.getChosenPoint();
    out->applied = in.getApplied();
    out->leader = in.getLeader();
    out->state_digest = in.getStateDigest();
    out->config_slot = in.getConfigSlot();
    auto members = in.getMembers();
    if (members.size() > kMaxStatusMembers) {
      return "status lists " + std::to_string(members.size()) + " members";
    }
    out->members.clear();
    for (auto member : members) {
      auto address = member.getAddress();
      out->members.push_back(paxos::Member{
          member.getId(),
          member.getLearner() ? paxos::MemberRole::kLearner : paxos::MemberRole::kVoter,
          std::string(address.begin(), address.size())});
    }
    auto membership = static_cast<unsigned>(in.getMembership());
    if (membership > static_cast<unsigned>(Membership::kRemoved)) {
      return "unknown membership " + std::to_string(membership);
    }
    out->membership = static_cast<Membership>(membership);
    return "";
  });
}

void EncodeTransferReply(const TransferReply& reply,
                         wire::ClientService::TransferLeaderResults::Builder out) {
  out.setStatus(static_cast<wire::TransferStatus>(reply.status));
  out.setLeaderHint(reply.leader_hint);
  out.setReason(reply.reason);
}

std::string DecodeTransferReply(wire::ClientService::TransferLeaderResults::Reader in,
                                TransferReply* out) {
  return Guarded([&]() -> std::string {
    auto status = static_cast<unsigned>(in.getStatus());
    if (status > static_cast<unsigned>(TransferStatus::kBusy)) {
      return "unknown transfer status " + std::to_string(status);
    }
    out->status = static_cast<TransferStatus>(status);
    out->leader_hint = in.getLeaderHint();
    auto reason = in.getReason();
    out->reason.assign(reason.begin(), reason.size());
    return "";
  });
}

void EncodeMemberChange(const MemberChange& change, wire::MemberChange::Builder out) {
  out.setKind(static_cast<wire::MemberChangeKind>(change.kind));
  out.setReplica(change.replica);
  out.setAddress(change.address);
  out.setWaitMs(change.wait_ms);
}

std::string DecodeMemberChange(wire::MemberChange::Reader in, MemberChange* out) {
  return Guarded([&]() -> std::string {
    auto kind = static_cast<unsigned>(in.getKind());
    if (kind > static_cast<unsigned>(MemberChangeKind::kRemove)) {
      return "unknown member change kind " + std::to_string(kind);
    }
    auto address = in.getAddress();
    if (address.size() > kMaxMemberChangeAddress) {
      return "member change address of " + std::to_string(address.size()) + " bytes (at most " +
             std::to_string(kMaxMemberChangeAddress) + ")";
    }
    out->kind = static_cast<MemberChangeKind>(kind);
    out->replica = in.getReplica();
    out->address.assign(address.begin(), address.size());
    out->wait_ms = in.getWaitMs();
    return "";
  });
}

void EncodeChangeReply(const ChangeReply& reply,
                       wire::ClientService::ChangeMembersResults::Builder out) {
  out.setStatus(static_cast<wire::ChangeStatus>(reply.status));
  out.setLeaderHint(reply.leader_hint);
  out.setReason(reply.reason);
  out.setConfigSlot(reply.config_slot);
  out.setBehind(reply.behind);
  out.setProposedSlot(reply.proposed_slot);
  out.setAlready(reply.already);
}

std::string DecodeChangeReply(wire::ClientService::ChangeMembersResults::Reader in,
                              ChangeReply* out) {
  return Guarded([&]() -> std::string {
    auto status = static_cast<unsigned>(in.getStatus());
    if (status > static_cast<unsigned>(ChangeStatus::kSuperseded)) {
      return "unknown change status " + std::to_string(status);
    }
    out->status = static_cast<ChangeStatus>(status);
    out->leader_hint = in.getLeaderHint();
    auto reason = in.getReason();
    out->reason.assign(reason.begin(), reason.size());
    out->config_slot = in.getConfigSlot();
    out->behind = in.getBehind();
    out->proposed_slot = in.getProposedSlot();
    out->already = in.getAlready();
    return "";
  });
}

}  // namespace synod::transport
