#include "paxos/message.h"

#include <type_traits>

namespace synod::paxos {

namespace {

std::string Describe(const PreVoteRequest& m) {
  return "PreVote first_unchosen=" + std::to_string(m.first_unchosen);
}
std::string Describe(const PreVoteReply& m) {
  return std::string("PreVoteReply ") + (m.granted ? "granted" : "denied") +
         " promised=" + m.promised.ToString();
}
std::string Describe(const Prepare& m) {
  return "Prepare b=" + m.ballot.ToString() + " from=" + std::to_string(m.from_slot) +
         (m.transfer_from.IsNull() ? "" : " transfer_from=" + m.transfer_from.ToString());
}
std::string Describe(const Promise& m) {
  return "Promise b=" + m.ballot.ToString() + " [" + std::to_string(m.from_slot) + "," +
         std::to_string(m.next_slot) + ") n=" + std::to_string(m.entries.size()) +
         (m.more ? " more" : "") + " chosen=" + std::to_string(m.chosen_point);
}
std::string Describe(const Accept& m) {
  return "Accept b=" + m.ballot.ToString() + " s=" + std::to_string(m.slot) +
         " commit=" + std::to_string(m.commit);
}
std::string Describe(const Accepted& m) {
  return "Accepted b=" + m.ballot.ToString() + " s=" + std::to_string(m.slot);
}
std::string Describe(const Reject& m) {
  return "Reject b=" + m.ballot.ToString() + " promised=" + m.promised.ToString();
}
std::string Describe(const Heartbeat& m) {
  return "Heartbeat b=" + m.ballot.ToString() + " commit=" + std::to_string(m.commit);
}
std::string Describe(const HeartbeatReply& m) {
  return "HeartbeatReply b=" + m.ballot.ToString() + " chosen=" + std::to_string(m.chosen_point);
}
std::string Describe(const CatchupRequest& m) {
  return "CatchupRequest [" + std::to_string(m.from_slot) + "," + std::to_string(m.to_slot) + "]";
}
std::string Describe(const CatchupReply& m) {
  return "CatchupReply n=" + std::to_string(m.entries.size());
}
std::string Describe(const TimeoutNow& m) { return "TimeoutNow b=" + m.ballot.ToString(); }

}  // namespace

std::string DescribeMessage(const Message& message) {
  return std::to_string(message.from) + "->" + std::to_string(message.to) + " " +
         std::visit([](const auto& body) { return Describe(body); }, message.body);
}

}  // namespace synod::paxos
