// PlanMemberChange: what a leader does with one requested configuration step
// (transport::MemberChange) against the configuration that governs its next
// slots. Pure: no core, no I/O, so every rule is unit-tested on its own.
//
// The rules a change must pass before it is proposed (the core checks the
// step again: ValidateChange, its base slot):
//   add ID=HOST:PORT  the address is one HOST:PORT; ID was never removed;
//                     ID is no member (a learner at that very address: the
//                     change is already in effect); no member uses the
//                     address and no removed member used it (the
//                     configuration records their addresses; spellings
//                     of one address are one: EndpointKey); fewer than
//                     kMaxMembers members.
//   promote ID        ID is a member and not removed; a voter already: in effect.
//   remove ID         ID is a member (removed before: in effect); at least one
//                     voter stays; ID is the leader itself: leadership must
//                     move first (kHandOver).
// The first change fills in the addresses the configuration lacks (the
// initial one has none) from the static member list, so that from then on
// the log carries every member's address.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "node/cluster_config.h"
#include "paxos/configuration.h"
#include "transport/types.h"

namespace synod::node {

// Most members (voters and learners) a configuration may have: an add
// beyond it is refused. Every configuration value carries the whole list.
constexpr size_t kMaxMembers = 16;

struct ChangePlan {
  enum class Action : uint8_t {
    kPropose,   // propose `next` (derived from the current configuration)
    kAlready,   // the change is in effect: nothing to propose
    kRefuse,    // refused for good; `reason` says why
    kHandOver,  // the leader removes itself: hand leadership over first, then retry
  };
  Action action = Action::kRefuse;
  paxos::Configuration next = paxos::Configuration::Empty();
  std::string reason;
};

// `current`: the configuration governing the leader's next slots;
// `self`: the leader; `static_members`: its --members (addresses of members
// the configuration has none for). Never throws.
ChangePlan PlanMemberChange(const paxos::Configuration& current,
                            const transport::MemberChange& change, paxos::ReplicaId self,
                            const ClusterConfig& static_members);

// What a member's build supports: the transport::kFeature* bits it stated
// in its latest hello (reply to our dial, or its own hello to our server);
// nullopt when not known (never heard from since this replica started).
using MemberFeatures = std::function<std::optional<uint32_t>(paxos::ReplicaId)>;

// "" unless `next` records a removed member's address and a member of
// `current` or `next` other than `self` runs a build without
// transport::kFeatureRetiredAddresses (as `features_of` knows it: members
// whose build is unknown are not checked); then the reason to refuse the
// change: such a build cannot read `next`, voids it, and would follow other
// voters than the rest (docs/protocol.md, "Membership change"). Never throws.
std::string OlderBuildMember(const paxos::Configuration& current, const paxos::Configuration& next,
                             paxos::ReplicaId self, const MemberFeatures& features_of);

// True if `config` records the address of a removed member (a retired id
// with a non-empty RetiredAddress): a build without
// transport::kFeatureRetiredAddresses cannot read it. Never throws.
bool RecordsRemovedAddress(const paxos::Configuration& config);

// `current` with every member's empty address taken from `static_members`
// (members it does not name keep ""; retired ids keep theirs). Never throws.
paxos::Configuration WithStaticAddresses(const paxos::Configuration& current,
                                         const ClusterConfig& static_members);

}  // namespace synod::node
