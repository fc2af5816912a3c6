// Sample messages of every type (see test_messages.h).

#include "transport/test_messages.h"

#include <string>

namespace synod::transport::testing {

std::vector<paxos::Message> OneOfEachMessage(paxos::ReplicaId from, paxos::ReplicaId to) {
  using namespace paxos;
  const Ballot b{7, from};
  const Ballot higher{9, to};
  ValuePtr cmds = MakeCommandsValue({"set a=1", std::string("\0bin\xff", 5), "x"});
  ValuePtr noop = NoopValue();
  std::vector<MessageBody> bodies;
  bodies.push_back(PreVoteRequest{42});
  bodies.push_back(PreVoteReply{true, higher});
  bodies.push_back(Prepare{b, 5, Ballot{6, 1}});
  bodies.push_back(
      Promise{b,
              5,
              9,
              true,
              4,
              3,
              {SlotEntry{5, Entry{b, cmds, false}}, SlotEntry{6, Entry{{}, noop, true}}}});
  bodies.push_back(Accept{b, 11, cmds, 10});
  bodies.push_back(Accepted{b, 11});
  bodies.push_back(Reject{b, higher});
  bodies.push_back(Heartbeat{b, 10});
  bodies.push_back(HeartbeatReply{b, 10});
  bodies.push_back(CatchupRequest{3, 8});
  bodies.push_back(CatchupReply{{CommittedEntry{3, cmds}, CommittedEntry{4, noop}}, 2});
  bodies.push_back(TimeoutNow{b});
  std::vector<Message> out;
  for (MessageBody& body : bodies) out.push_back(Message{from, to, std::move(body)});
  return out;
}

}  // namespace synod::transport::testing
