#include "node/member_change_plan.h"

#include <optional>
#include <stdexcept>
#include <vector>

#include "node/endpoint_key.h"

namespace synod::node {

namespace {

std::string Id(paxos::ReplicaId id) { return std::to_string(id); }

ChangePlan Refuse(std::string reason) {
  ChangePlan plan;
  plan.action = ChangePlan::Action::kRefuse;
  plan.reason = std::move(reason);
  return plan;
}

ChangePlan Already() {
  ChangePlan plan;
  plan.action = ChangePlan::Action::kAlready;
  return plan;
}

// Derives `next` with `derive`; a malformed result (which the rules above
// should have excluded) is a refusal naming it, never an exception.
template <typename Derive>
ChangePlan Propose(Derive&& derive) {
  try {
    ChangePlan plan;
    plan.action = ChangePlan::Action::kPropose;
    plan.next = derive();
    return plan;
  } catch (const std::invalid_argument& e) {
    return Refuse(e.what());
  }
}

// The member whose address names the same socket as `address`
// (EndpointKey), or null.
const paxos::Member* MemberAt(const paxos::Configuration& config, const std::string& address) {
  const std::string key = EndpointKey(address);
  for (const paxos::Member& member : config.member_list()) {
    if (!member.address.empty() && EndpointKey(member.address) == key) return &member;
  }
  return nullptr;
}

// The lowest removed id whose recorded address names the same socket as
// `address` (EndpointKey), or nullopt.
std::optional<paxos::ReplicaId> RetiredAt(const paxos::Configuration& config,
                                          const std::string& address) {
  const std::string key = EndpointKey(address);
  for (paxos::ReplicaId id : config.retired()) {
    const std::string* used = config.RetiredAddress(id);
    if (used != nullptr && !used->empty() && EndpointKey(*used) == key) return id;
  }
  return std::nullopt;
}

ChangePlan PlanAdd(const paxos::Configuration& filled, const transport::MemberChange& change) {
  Result<ClusterConfig> parsed = ParseClusterConfig(Id(change.replica) + "=" + change.address);
  if (!parsed.ok()) {
    return Refuse("bad address '" + change.address + "': " + parsed.status().message());
  }
  if (parsed.value().members.size() != 1 || parsed.value().members[0].id != change.replica) {
    return Refuse("bad address '" + change.address + "': not one HOST:PORT");
  }
  const std::string address = parsed.value().members[0].Endpoint();  // canonical form
  if (filled.IsRetired(change.replica)) {
    return Refuse("replica id " + Id(change.replica) + " was removed and cannot be reused");
  }
  if (const paxos::Member* member = filled.Find(change.replica)) {
    if (member->role == paxos::MemberRole::kLearner && member->address == address) {
      return Already();
    }
    return Refuse("replica " + Id(change.replica) + " is already a member (" +
                  paxos::MemberRoleName(member->role) + " at " +
                  (member->address.empty() ? std::string("an unknown address") : member->address) +
                  ")");
  }
  if (filled.members().size() >= kMaxMembers) {
    return Refuse("the configuration has " + std::to_string(filled.members().size()) +
                  " members, the most it may have");
  }
  if (const paxos::Member* user = MemberAt(filled, address)) {
    return Refuse("address " + address + " is in use by replica " + Id(user->id) +
                  (user->address == address ? "" : " (at " + user->address + ")"));
  }
  if (std::optional<paxos::ReplicaId> user = RetiredAt(filled, address)) {
    const std::string& used = *filled.RetiredAddress(*user);
    return Refuse("address " + address + " was used by removed replica " + Id(*user) +
                  (used == address ? "" : " (at " + used + ")"));
  }
  return Propose([&] { return filled.WithLearner(change.replica, address); });
}

ChangePlan PlanPromote(const paxos::Configuration& filled, const transport::MemberChange& change) {
  if (filled.IsRetired(change.replica)) {
    return Refuse("replica " + Id(change.replica) + " was removed from the cluster");
  }
  if (!filled.Contains(change.replica)) {
    return Refuse("replica " + Id(change.replica) + " is not a member");
  }
  if (filled.IsVoter(change.replica)) return Already();
  return Propose([&] { return filled.WithPromoted(change.replica); });
}

ChangePlan PlanRemove(const paxos::Configuration& filled, const transport::MemberChange& change,
                      paxos::ReplicaId self) {
  if (filled.IsRetired(change.replica)) return Already();
  if (!filled.Contains(change.replica)) {
    return Refuse("replica " + Id(change.replica) + " is not a member");
  }
  if (filled.IsVoter(change.replica) && filled.voters().size() == 1) {
    return Refuse("removing replica " + Id(change.replica) + " would leave no voter");
  }
  if (change.replica == self) {
    ChangePlan plan;
    plan.action = ChangePlan::Action::kHandOver;
    return plan;
  }
  return Propose([&] { return filled.WithRemoved(change.replica); });
}

}  // namespace

paxos::Configuration WithStaticAddresses(const paxos::Configuration& current,
                                         const ClusterConfig& static_members) {
  std::vector<paxos::Member> members = current.member_list();
  bool changed = false;
  for (paxos::Member& member : members) {
    if (!member.address.empty()) continue;
    if (const MemberAddress* known = static_members.Find(member.id)) {
      member.address = known->Endpoint();
      changed = true;
    }
  }
  if (!changed) return current;
  return current.WithMembers(std::move(members));
}

bool RecordsRemovedAddress(const paxos::Configuration& config) {
  for (paxos::ReplicaId id : config.retired()) {
    if (!config.RetiredAddress(id)->empty()) return true;
  }
  return false;
}

std::string OlderBuildMember(const paxos::Configuration& current, const paxos::Configuration& next,
                             paxos::ReplicaId self, const MemberFeatures& features_of) {
  if (!RecordsRemovedAddress(next)) return "";
  for (const paxos::Configuration* config : {&current, &next}) {
    for (paxos::ReplicaId id : config->members()) {
      if (id == self) continue;
      std::optional<uint32_t> features = features_of(id);
      if (features && (*features & transport::kFeatureRetiredAddresses) == 0) {
        return "replica " + Id(id) +
               " runs an older build that cannot read removed members' addresses: upgrade every "
               "member first";
      }
    }
  }
  return "";
}

ChangePlan PlanMemberChange(const paxos::Configuration& current,
                            const transport::MemberChange& change, paxos::ReplicaId self,
                            const ClusterConfig& static_members) {
  if (change.replica == paxos::kNoReplica) return Refuse("replica id 0 is not valid");
  if (current.members().empty()) return Refuse("no configuration is known yet");
  paxos::Configuration filled = WithStaticAddresses(current, static_members);
  switch (change.kind) {
    case transport::MemberChangeKind::kAddLearner:
      return PlanAdd(filled, change);
    case transport::MemberChangeKind::kPromote:
      return PlanPromote(filled, change);
    case transport::MemberChangeKind::kRemove:
      return PlanRemove(filled, change, self);
  }
  return Refuse("unknown member change kind");
}

}  // namespace synod::node
