#include "tests/sim/transcript.h"

#include <map>
#include <variant>

namespace synod::sim {

using paxos::Ballot;
using paxos::ReplicaId;
using paxos::Slot;

namespace {

// "1..3, 5": the slots as ascending ranges.
std::string Ranges(const std::set<Slot>& slots) {
  std::string out;
  for (auto it = slots.begin(); it != slots.end();) {
    Slot first = *it;
    Slot last = first;
    for (++it; it != slots.end() && *it == last + 1; ++it) last = *it;
    out += (out.empty() ? "" : ", ") + std::to_string(first);
    if (last != first) out += ".." + std::to_string(last);
  }
  return out;
}

std::string Num(uint64_t n) { return std::to_string(n); }

// first_unchosen is not printed: the core leaves it 0.
std::string Body(const paxos::PreVoteRequest&) { return "PreVote"; }
std::string Body(const paxos::PreVoteReply& m) {
  return std::string("PreVoteReply ") + (m.granted ? "granted" : "denied") +
         " promised=" + m.promised.ToString();
}
std::string Body(const paxos::Prepare& m) {
  return "Prepare b=" + m.ballot.ToString() + " from=" + Num(m.from_slot) +
         (m.transfer_from.IsNull() ? "" : " transfer_from=" + m.transfer_from.ToString());
}
std::string Body(const paxos::Promise& m) {
  std::string out = "Promise b=" + m.ballot.ToString() + " slots [" + Num(m.from_slot) + "," +
                    Num(m.next_slot) + ")" + (m.more ? " more" : "") +
                    " chosen=" + Num(m.chosen_point);
  if (m.compacted != 0) out += " compacted=" + Num(m.compacted);
  for (size_t i = 0; i < m.entries.size(); ++i) {
    const paxos::SlotEntry& se = m.entries[i];
    out += (i == 0 ? ": " : ", ") + Num(se.slot) + "@" + se.entry.ballot.ToString() + " " +
           DescribeValue(se.entry.value) + (se.entry.chosen ? " chosen" : "");
  }
  return out;
}
std::string Body(const paxos::Accept& m) {
  return "Accept b=" + m.ballot.ToString() + " slot=" + Num(m.slot) + " commit=" + Num(m.commit) +
         " " + DescribeValue(m.value);
}
std::string Body(const paxos::Accepted& m) {
  return "Accepted b=" + m.ballot.ToString() + " slot=" + Num(m.slot);
}
std::string Body(const paxos::Reject& m) {
  return "Reject b=" + m.ballot.ToString() + " promised=" + m.promised.ToString();
}
std::string Body(const paxos::Heartbeat& m) {
  return "Heartbeat b=" + m.ballot.ToString() + " commit=" + Num(m.commit);
}
std::string Body(const paxos::HeartbeatReply& m) {
  return "HeartbeatReply b=" + m.ballot.ToString() + " chosen=" + Num(m.chosen_point);
}
std::string Body(const paxos::CatchupRequest& m) {
  return "CatchupRequest " + Num(m.from_slot) + ".." + Num(m.to_slot);
}
std::string Body(const paxos::CatchupReply& m) {
  std::string out = "CatchupReply";
  if (m.compacted != 0) out += " compacted=" + Num(m.compacted);
  for (size_t i = 0; i < m.entries.size(); ++i) {
    out +=
        (i == 0 ? ": " : ", ") + Num(m.entries[i].slot) + " " + DescribeValue(m.entries[i].value);
  }
  if (m.entries.empty()) out += " (no entries)";
  return out;
}
std::string Body(const paxos::TimeoutNow& m) { return "TimeoutNow b=" + m.ballot.ToString(); }

// What a replica is, in one line: changes of it are reported.
std::string RoleLine(ReplicaId id, const ReplicaView& view) {
  std::string prefix = Num(id) + " ";
  switch (view.role) {
    case paxos::Role::kLeader:
      return prefix + "is leader b=" + view.leader_ballot.ToString();
    case paxos::Role::kCandidate:
      return prefix + "is candidate b=" + view.promised.ToString();
    case paxos::Role::kPreCandidate:
      return prefix + "is pre-candidate";
    case paxos::Role::kFollower:
      break;
  }
  if (view.leader == paxos::kNoReplica) return prefix + "is follower";
  return prefix + "follows " + Num(view.leader) + " b=" + view.leader_ballot.ToString();
}

void DescribeReplica(const SimCluster& cluster, ReplicaId id, const ReplicaView& before,
                     const ReplicaView& after, std::vector<std::string>& lines) {
  const std::string name = Num(id);
  if (!after.up) return;  // a crash loses nothing durable: lines resume at the restart
  if (!before.up) {
    lines.push_back(name + " restarted promised=" + after.promised.ToString() +
                    " chosen=" + Num(after.chosen_point) + " last=" + Num(after.last_slot));
    return;
  }
  std::string role = RoleLine(id, after);
  if (role != RoleLine(id, before)) lines.push_back(role);

  if (after.durable_promise != before.durable_promise) {
    lines.push_back(name + " persisted promised=" + after.durable_promise.ToString());
  }
  std::map<Ballot, std::set<Slot>> accepts;  // new durable accepts, by ballot
  for (const auto& [slot, ballot] : after.durable_accepts) {
    if (!before.durable_accepts.count({slot, ballot})) accepts[ballot].insert(slot);
  }
  for (const auto& [ballot, slots] : accepts) {
    lines.push_back(name + " persisted accepts b=" + ballot.ToString() + " slots " + Ranges(slots));
  }
  std::set<Slot> marks;
  for (Slot slot : after.durable_marks) {
    if (!before.durable_marks.count(slot)) marks.insert(slot);
  }
  if (!marks.empty()) lines.push_back(name + " persisted chosen marks " + Ranges(marks));

  if (after.chosen_point > before.chosen_point) {
    std::set<Slot> slots;
    for (Slot s = before.chosen_point + 1; s <= after.chosen_point; ++s) slots.insert(s);
    lines.push_back(name + " chosen " + Ranges(slots));
  } else if (after.chosen_point < before.chosen_point) {
    lines.push_back(name + " chosen point back to " + Num(after.chosen_point));
  }

  // Applied since `before`: the new tail, or everything after a restart.
  const std::vector<Slot>& was = before.applied;
  const std::vector<Slot>& now = after.applied;
  bool extends = was.size() <= now.size() && std::equal(was.begin(), was.end(), now.begin());
  for (size_t i = extends ? was.size() : 0; i < now.size(); ++i) {
    lines.push_back(name + " applied " + Num(now[i]) + " " +
                    DescribeValue(cluster.ChosenValue(id, now[i])));
  }
}

}  // namespace

std::string DescribeValue(const paxos::ValuePtr& value) {
  if (value == nullptr) return "none";
  if (value->kind == paxos::ValueKind::kNoop) return "noop";
  std::string out;
  for (const std::string& command : value->commands) {
    out += (out.empty() ? "\"" : " \"") + command + "\"";
  }
  return out;
}

std::string DescribeForTranscript(const paxos::Message& message) {
  return Num(message.from) + "->" + Num(message.to) + " " +
         std::visit([](const auto& body) { return Body(body); }, message.body);
}

ClusterView Observe(const SimCluster& cluster) {
  ClusterView view;
  for (ReplicaId id : cluster.ids()) {
    ReplicaView replica;
    replica.up = cluster.IsUp(id);
    paxos::CoreStatus status = cluster.Status(id);
    replica.role = status.role;
    replica.leader_ballot = status.leader_ballot;
    replica.leader = status.leader;
    replica.chosen_point = status.chosen_point;
    replica.last_slot = status.last_slot;
    replica.promised = status.promised;
    replica.applied = cluster.AppliedSlots(id);
    replica.durable_promise = cluster.checker().DurablePromise(id);
    replica.durable_accepts = cluster.checker().DurableAccepts(id);
    replica.durable_marks = cluster.checker().DurableChosenMarks(id);
    view.push_back(std::move(replica));
  }
  return view;
}

std::vector<std::string> DescribeChanges(const SimCluster& cluster, const ClusterView& before,
                                         const ClusterView& after) {
  std::vector<std::string> lines;
  for (size_t i = 0; i < after.size() && i < before.size(); ++i) {
    DescribeReplica(cluster, static_cast<ReplicaId>(i + 1), before[i], after[i], lines);
  }
  return lines;
}

std::vector<paxos::Message> QueuedMessages(const SimCluster& cluster) {
  std::vector<paxos::Message> out;
  cluster.CountIf([&out](const paxos::Message& message) {
    out.push_back(message);
    return false;
  });
  return out;
}

}  // namespace synod::sim
