// PlanMemberChange: every rule a requested configuration step must pass
// before a leader proposes it, on plain configurations.
#include "node/member_change_plan.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <optional>

namespace synod::node {
namespace {

using Action = ChangePlan::Action;
using transport::MemberChange;
using transport::MemberChangeKind;

ClusterConfig Static() {
  return ParseClusterConfig("1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003").value();
}

// The founders 1-3 (no addresses: the initial configuration has none),
// learner 4 at 127.0.0.1:7004, and 5 removed.
paxos::Configuration Grown() {
  return paxos::Configuration({{1, paxos::MemberRole::kVoter, ""},
                               {2, paxos::MemberRole::kVoter, ""},
                               {3, paxos::MemberRole::kVoter, ""},
                               {4, paxos::MemberRole::kLearner, "127.0.0.1:7004"}},
                              {5});
}

ChangePlan Plan(MemberChangeKind kind, paxos::ReplicaId id, std::string address = "",
                paxos::ReplicaId self = 1, const paxos::Configuration& current = Grown()) {
  return PlanMemberChange(current, MemberChange{kind, id, std::move(address), 0}, self, Static());
}

TEST(MemberChangePlan, AddFillsInTheFoundersAddressesAndAddsALearner) {
  ChangePlan plan = Plan(MemberChangeKind::kAddLearner, 6, "127.0.0.1:7006");
  ASSERT_EQ(plan.action, Action::kPropose) << plan.reason;
  ASSERT_NE(plan.next.Find(6), nullptr);
  EXPECT_EQ(plan.next.Find(6)->role, paxos::MemberRole::kLearner);
  EXPECT_EQ(plan.next.Find(6)->address, "127.0.0.1:7006");
  EXPECT_EQ(plan.next.Find(1)->address, "127.0.0.1:7001");
  EXPECT_EQ(plan.next.Find(3)->address, "127.0.0.1:7003");
  EXPECT_EQ(plan.next.retired(), std::vector<paxos::ReplicaId>{5});
  EXPECT_EQ(paxos::ValidateChange(Grown(), plan.next), "");
}

TEST(MemberChangePlan, AddTakesTheAddressInItsCanonicalForm) {
  ChangePlan plan = Plan(MemberChangeKind::kAddLearner, 6, "127.0.0.1:07006");
  ASSERT_EQ(plan.action, Action::kPropose) << plan.reason;
  EXPECT_EQ(plan.next.Find(6)->address, "127.0.0.1:7006");
}

TEST(MemberChangePlan, AddOfTheSameLearnerAtTheSameAddressIsAlreadyInEffect) {
  EXPECT_EQ(Plan(MemberChangeKind::kAddLearner, 4, "127.0.0.1:7004").action, Action::kAlready);
}

TEST(MemberChangePlan, AddIsRefusedForAMemberARemovedIdAnAddressInUseOrABadAddress) {
  ChangePlan plan = Plan(MemberChangeKind::kAddLearner, 4, "127.0.0.1:7104");
  EXPECT_EQ(plan.action, Action::kRefuse);
  EXPECT_EQ(plan.reason, "replica 4 is already a member (learner at 127.0.0.1:7004)");
  plan = Plan(MemberChangeKind::kAddLearner, 2, "127.0.0.1:7002");
  EXPECT_EQ(plan.reason, "replica 2 is already a member (voter at 127.0.0.1:7002)");
  plan = Plan(MemberChangeKind::kAddLearner, 5, "127.0.0.1:7005");
  EXPECT_EQ(plan.action, Action::kRefuse);
  EXPECT_EQ(plan.reason, "replica id 5 was removed and cannot be reused");
  plan = Plan(MemberChangeKind::kAddLearner, 6, "127.0.0.1:7003");
  EXPECT_EQ(plan.action, Action::kRefuse);
  EXPECT_EQ(plan.reason, "address 127.0.0.1:7003 is in use by replica 3")
      << "a founder's address is known from the static list";
  plan = Plan(MemberChangeKind::kAddLearner, 6, "127.0.0.1:7004");
  EXPECT_EQ(plan.reason, "address 127.0.0.1:7004 is in use by replica 4");
  // Another spelling of an address in use is the address in use.
  for (const char* spelling :
       {"localhost:7003", "127.1:7003", "127.0.0.01:7003", "LOCALHOST.:7003"}) {
    plan = Plan(MemberChangeKind::kAddLearner, 6, spelling);
    EXPECT_EQ(plan.action, Action::kRefuse) << spelling;
    EXPECT_EQ(plan.reason,
              std::string("address ") + spelling + " is in use by replica 3 (at 127.0.0.1:7003)");
  }
  plan = Plan(MemberChangeKind::kAddLearner, 6, "127.0.0.1:99999");
  EXPECT_EQ(plan.action, Action::kRefuse);
  EXPECT_EQ(plan.reason.rfind("bad address '127.0.0.1:99999': ", 0), 0u) << plan.reason;
  plan = Plan(MemberChangeKind::kAddLearner, 0, "127.0.0.1:7006");
  EXPECT_EQ(plan.reason, "replica id 0 is not valid");
  // A raw request may smuggle a list in the address: one HOST:PORT only.
  plan = Plan(MemberChangeKind::kAddLearner, 9, "127.0.0.1:7009,2=10.9.9.9:1");
  EXPECT_EQ(plan.action, Action::kRefuse);
  EXPECT_EQ(plan.reason, "bad address '127.0.0.1:7009,2=10.9.9.9:1': not one HOST:PORT");
}

TEST(MemberChangePlan, AddIsRefusedAtAnAddressARemovedMemberUsed) {
  // 6 was a learner at 127.0.0.1:7006 and was removed; 5 was removed
  // without an address (Grown()).
  paxos::Configuration current = Grown().WithLearner(6, "127.0.0.1:7006").WithRemoved(6);
  ChangePlan plan = Plan(MemberChangeKind::kAddLearner, 7, "127.0.0.1:7006", 1, current);
  EXPECT_EQ(plan.action, Action::kRefuse);
  EXPECT_EQ(plan.reason, "address 127.0.0.1:7006 was used by removed replica 6");
  plan = Plan(MemberChangeKind::kAddLearner, 7, "127.0.0.1:07006", 1, current);
  EXPECT_EQ(plan.reason, "address 127.0.0.1:7006 was used by removed replica 6")
      << "compared in canonical form";
  plan = Plan(MemberChangeKind::kAddLearner, 7, "localhost:7006", 1, current);
  EXPECT_EQ(plan.reason, "address localhost:7006 was used by removed replica 6 (at 127.0.0.1:7006)")
      << "another spelling of a removed member's address";
  EXPECT_EQ(Plan(MemberChangeKind::kAddLearner, 7, "127.0.0.1:7007", 1, current).action,
            Action::kPropose);

  // A founder removed by the first change: its address comes from the
  // static list, as the other founders' do, and is kept by later changes.
  paxos::Configuration founders({1, 2, 3});
  plan = Plan(MemberChangeKind::kRemove, 3, "", 1, founders);
  ASSERT_EQ(plan.action, Action::kPropose) << plan.reason;
  paxos::Configuration after_remove = plan.next;
  plan = Plan(MemberChangeKind::kAddLearner, 7, "127.0.0.1:7003", 1, after_remove);
  EXPECT_EQ(plan.action, Action::kRefuse);
  EXPECT_EQ(plan.reason, "address 127.0.0.1:7003 was used by removed replica 3");
  plan = Plan(MemberChangeKind::kAddLearner, 7, "127.0.0.1:7007", 1, after_remove);
  ASSERT_EQ(plan.action, Action::kPropose) << plan.reason;
  EXPECT_EQ(paxos::ValidateChange(after_remove, plan.next), "");
  plan = Plan(MemberChangeKind::kAddLearner, 8, "127.0.0.1:7003", 1, plan.next);
  EXPECT_EQ(plan.reason, "address 127.0.0.1:7003 was used by removed replica 3");
}

TEST(MemberChangePlan, AddIsRefusedBeyondTheMostMembersAConfigurationMayHave) {
  std::vector<paxos::Member> members;
  for (paxos::ReplicaId id = 1; id <= kMaxMembers; ++id) {
    members.push_back({id, id <= 3 ? paxos::MemberRole::kVoter : paxos::MemberRole::kLearner,
                       "127.0.0.1:" + std::to_string(7000 + id)});
  }
  paxos::Configuration full(members, {});
  ChangePlan plan = Plan(MemberChangeKind::kAddLearner, 40, "127.0.0.1:7040", 1, full);
  EXPECT_EQ(plan.action, Action::kRefuse);
  EXPECT_EQ(plan.reason, "the configuration has 16 members, the most it may have");
  members.pop_back();
  EXPECT_EQ(Plan(MemberChangeKind::kAddLearner, 40, "127.0.0.1:7040", 1,
                 paxos::Configuration(members, {}))
                .action,
            Action::kPropose);
}

TEST(MemberChangePlan, PromoteMakesALearnerAVoter) {
  ChangePlan plan = Plan(MemberChangeKind::kPromote, 4);
  ASSERT_EQ(plan.action, Action::kPropose) << plan.reason;
  EXPECT_TRUE(plan.next.IsVoter(4));
  EXPECT_EQ(plan.next.voters().size(), 4u);
  EXPECT_EQ(Plan(MemberChangeKind::kPromote, 2).action, Action::kAlready);
  plan = Plan(MemberChangeKind::kPromote, 6);
  EXPECT_EQ(plan.action, Action::kRefuse);
  EXPECT_EQ(plan.reason, "replica 6 is not a member");
  plan = Plan(MemberChangeKind::kPromote, 5);
  EXPECT_EQ(plan.reason, "replica 5 was removed from the cluster");
}

TEST(MemberChangePlan, RemoveRetiresForGoodAndKeepsAVoter) {
  ChangePlan plan = Plan(MemberChangeKind::kRemove, 3);
  ASSERT_EQ(plan.action, Action::kPropose) << plan.reason;
  EXPECT_FALSE(plan.next.Contains(3));
  EXPECT_TRUE(plan.next.IsRetired(3));
  EXPECT_TRUE(plan.next.IsRetired(5));
  EXPECT_EQ(Plan(MemberChangeKind::kRemove, 5).action, Action::kAlready);
  plan = Plan(MemberChangeKind::kRemove, 6);
  EXPECT_EQ(plan.action, Action::kRefuse);
  EXPECT_EQ(plan.reason, "replica 6 is not a member");
  EXPECT_EQ(Plan(MemberChangeKind::kRemove, 1, "", /*self=*/1).action, Action::kHandOver);
  paxos::Configuration alone(
      {{1, paxos::MemberRole::kVoter, ""}, {4, paxos::MemberRole::kLearner, "127.0.0.1:7004"}}, {});
  plan = Plan(MemberChangeKind::kRemove, 1, "", 1, alone);
  EXPECT_EQ(plan.action, Action::kRefuse);
  EXPECT_EQ(plan.reason, "removing replica 1 would leave no voter");
  EXPECT_EQ(Plan(MemberChangeKind::kRemove, 4, "", 1, alone).action, Action::kPropose);
}

TEST(MemberChangePlan, StaticAddressesNeverOverwriteTheConfigurations) {
  paxos::Configuration moved(
      {{1, paxos::MemberRole::kVoter, "10.0.0.1:7001"}, {2, paxos::MemberRole::kVoter, ""}}, {});
  paxos::Configuration filled = WithStaticAddresses(moved, Static());
  EXPECT_EQ(filled.Find(1)->address, "10.0.0.1:7001");
  EXPECT_EQ(filled.Find(2)->address, "127.0.0.1:7002");
}

TEST(MemberChangePlan, FillingInAddressesKeepsTheRetiredOnes) {
  paxos::Configuration current({{1, paxos::MemberRole::kVoter, ""},
                                {2, paxos::MemberRole::kVoter, ""},
                                {4, paxos::MemberRole::kLearner, "127.0.0.1:7004"}},
                               {3, 5}, {"127.0.0.1:7003", ""});
  paxos::Configuration filled = WithStaticAddresses(current, Static());
  EXPECT_EQ(filled.Find(1)->address, "127.0.0.1:7001");
  ASSERT_NE(filled.RetiredAddress(3), nullptr);
  EXPECT_EQ(*filled.RetiredAddress(3), "127.0.0.1:7003");
  EXPECT_EQ(*filled.RetiredAddress(5), "") << "a retired id's address is never filled in";
  EXPECT_EQ(paxos::ValidateChange(current, filled), "");
}

TEST(MemberChangePlan, AChangeThatRecordsARemovedAddressWaitsForEveryConnectedMemberToUpgrade) {
  std::map<paxos::ReplicaId, uint32_t> connected = {{2, transport::kFeatures},
                                                    {3, transport::kFeatureRuntimeMembership}};
  MemberFeatures features_of = [&](paxos::ReplicaId id) -> std::optional<uint32_t> {
    auto it = connected.find(id);
    if (it == connected.end()) return std::nullopt;
    return it->second;
  };
  paxos::Configuration current = WithStaticAddresses(Grown(), Static());
  paxos::Configuration removing = current.WithRemoved(4);  // records 127.0.0.1:7004
  EXPECT_EQ(OlderBuildMember(current, removing, 1, features_of),
            "replica 3 runs an older build that cannot read removed members' addresses: "
            "upgrade every member first");
  // Nothing recorded: every build reads it.
  EXPECT_EQ(OlderBuildMember(current, current.WithPromoted(4), 1, features_of), "");
  connected[3] = transport::kFeatures;
  EXPECT_EQ(OlderBuildMember(current, removing, 1, features_of), "");
  connected.erase(3);  // down: not known, not checked
  EXPECT_EQ(OlderBuildMember(current, removing, 1, features_of), "");
  connected[1] = 0;  // the leader itself is not asked
  connected[6] = 0;  // a learner the change adds counts too
  EXPECT_EQ(OlderBuildMember(current, removing, 1, features_of), "");
  EXPECT_EQ(OlderBuildMember(removing, removing.WithLearner(6, "127.0.0.1:7006"), 1, features_of),
            "replica 6 runs an older build that cannot read removed members' addresses: "
            "upgrade every member first");
  // A running older-build member is not removed either: it would not read
  // its removal and would go on counting quorums of `current` with the
  // replicas that did not apply it yet. (One that is down is not known:
  // Replica::PlanCheckedChange hides the features of an unreachable member.)
  connected[3] = transport::kFeatureRuntimeMembership;
  EXPECT_NE(OlderBuildMember(current, current.WithRemoved(3), 1, features_of), "");
  connected.erase(3);
  EXPECT_EQ(OlderBuildMember(current, current.WithRemoved(3), 1, features_of), "");
}

TEST(MemberChangePlan, RecordsRemovedAddressOnlyForARetiredIdWithAnAddress) {
  paxos::Configuration current = WithStaticAddresses(Grown(), Static());
  EXPECT_FALSE(RecordsRemovedAddress(current));
  EXPECT_TRUE(RecordsRemovedAddress(current.WithRemoved(4)));  // records 127.0.0.1:7004
  // Removed before any address was known (the initial configuration): "".
  EXPECT_FALSE(RecordsRemovedAddress(Grown().WithRemoved(2)));
}

}  // namespace
}  // namespace synod::node
