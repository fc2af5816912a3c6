// The members of a cluster (voters and learners), the quorum rule over the
// voters, and configuration changes as values in the log.
//
// Quorums are always computed from a Configuration, never from a constant. A
// configuration is replicated state: a kConfiguration value chosen at slot s
// sets the configuration that governs every slot > s (protocol.md).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "paxos/types.h"

namespace synod::paxos {

// A voter counts in quorums and may lead; a learner receives the log, applies
// it and counts in no quorum.
enum class MemberRole : uint8_t { kVoter = 0, kLearner = 1 };
const char* MemberRoleName(MemberRole role);  // "voter" / "learner"

// A replica's place in the configuration it knows (the wire's Membership
// enum in transport/synod.capnp has the same values).
enum class Membership : uint8_t {
  kVoter = 0,
  kLearner = 1,
  kNotMember = 2,  // not (yet) named by the configuration it knows: a replica joining
  kRemoved = 3,    // a configuration change removed it: it no longer campaigns or votes
};
const char* MembershipName(
    Membership membership);  // "voter" / "learner" / "not-member" / "removed"

struct Member {
  ReplicaId id = kNoReplica;
  MemberRole role = MemberRole::kVoter;
  std::string address;  // opaque to the core; the runtime's "HOST:PORT"
  bool operator==(const Member&) const = default;
};

// An immutable list of members (distinct, non-zero ids, at least one voter)
// with majority quorums over the voters, plus the ids removed by earlier
// changes (never members again: ids are not reused) and the address each of
// them had when it was removed (so the runtime never gives it to a new
// member).
class Configuration {
 public:
  // The empty configuration: no members, no quorum. Only a placeholder
  // (a default for structs that carry a configuration).
  static Configuration Empty() { return Configuration(EmptyTag{}, 0); }
  // All `voters` vote; no addresses. Requires: non-empty, ids distinct and
  // non-zero (checked: throws std::invalid_argument naming the problem).
  explicit Configuration(std::vector<ReplicaId> voters);
  // Full form. Requires: at least one voter, ids distinct and non-zero, no
  // member retired (throws std::invalid_argument naming the problem). The
  // retired ids' addresses are "".
  Configuration(std::vector<Member> members, std::vector<ReplicaId> retired);
  // Full form with the retired ids' addresses: `retired_addresses[i]` is
  // the address of `retired[i]` ("" for none). Throws std::invalid_argument
  // as above, and if the two lists differ in length or name one retired id
  // twice with different addresses.
  Configuration(std::vector<Member> members, std::vector<ReplicaId> retired,
                std::vector<std::string> retired_addresses);

  // Ids of every member (voters and learners), sorted.
  const std::vector<ReplicaId>& members() const { return ids_; }
  const std::vector<ReplicaId>& voters() const { return voters_; }
  // Members with roles and addresses, sorted by id.
  const std::vector<Member>& member_list() const { return members_; }
  // Ids removed by earlier changes, sorted.
  const std::vector<ReplicaId>& retired() const { return retired_; }
  bool Contains(ReplicaId id) const;  // a member (voter or learner)
  bool IsVoter(ReplicaId id) const;
  bool IsRetired(ReplicaId id) const;
  const Member* Find(ReplicaId id) const;  // null if not a member
  // The address a retired id had when it was removed: "" if none was
  // recorded (removed before a change filled in its address, or by a build
  // that did not record addresses); null if `id` is not retired.
  const std::string* RetiredAddress(ReplicaId id) const;
  // The member, else the retired id, whose address is `address` (the lowest
  // id if several); nullopt if none does, and always for "" (no address).
  std::optional<ReplicaId> AddressUser(std::string_view address) const;
  // Smallest number of voters that forms a quorum (a strict majority).
  size_t QuorumSize() const { return quorum_size_; }
  bool IsQuorum(size_t votes) const { return votes >= quorum_size_ && quorum_size_ > 0; }
  // How many of `ids` are voters (each counted once if `ids` has no repeats).
  size_t CountVoters(const std::vector<ReplicaId>& ids) const;

  // Derived configurations (not validated as changes: see ValidateChange).
  // Throw std::invalid_argument if the result is malformed.
  Configuration WithLearner(ReplicaId id, std::string address) const;
  Configuration WithPromoted(ReplicaId id) const;  // learner -> voter
  // Retired for good, with the address it has here (maybe "").
  Configuration WithRemoved(ReplicaId id) const;
  // `members` instead of member_list(); the retired ids and their addresses
  // stay (the runtime fills in members' addresses with it).
  Configuration WithMembers(std::vector<Member> members) const;

  // Test-only hook for deliberately broken variants: overrides the quorum size.
  // Used through Core::ShrinkQuorumsForTesting (the simulator's --break
  // small-quorum) to prove the simulator catches the bug.
  Configuration WithQuorumSizeForTesting(size_t quorum_size) const;

  // Binary encoding (a value's payload, snapshots). A configuration whose
  // retired ids all have "" addresses encodes as before retired addresses
  // existed; otherwise a section of the non-empty ones follows the retired
  // ids (which a build without it refuses as malformed). Decode accepts both
  // and returns nullopt for malformed bytes (also any trailing byte).
  std::string Encode() const;
  static std::optional<Configuration> Decode(const std::string& bytes);
  // "1,2,3 learners=4 retired=5" for logs and status pages.
  std::string ToString() const;

  bool operator==(const Configuration& other) const {
    return members_ == other.members_ && retired_ == other.retired_ &&
           retired_addresses_ == other.retired_addresses_;
  }

 private:
  struct EmptyTag {};
  Configuration(EmptyTag, int) {}
  void Index();  // sorts; checks and fills ids_, voters_, quorum_size_

  std::vector<Member> members_;
  std::vector<ReplicaId> retired_;
  std::vector<std::string> retired_addresses_;  // retired_addresses_[i]: retired_[i]'s
  std::vector<ReplicaId> ids_;
  std::vector<ReplicaId> voters_;
  size_t quorum_size_ = 0;
};

// "" if `to` may follow `from` as one change, else the reason: at least one
// voter, every id removed from `from` retired in `to`, `from`'s retired ids
// kept with their addresses, no retired id a member, and a real change. Adding or removing several
// members at once is allowed (no slot is ever governed by two configurations).
std::string ValidateChange(const Configuration& from, const Configuration& to);

// The configuration that governs the slots after `slot`: set by the value
// chosen at `slot` (0 for the initial configuration, which governs slot 1).
struct ConfigAt {
  Slot slot = 0;
  Configuration config = Configuration::Empty();
  bool operator==(const ConfigAt&) const = default;
};

// A configuration change as it travels in the log: the whole new
// configuration and the slot that set the configuration it was derived from.
struct ConfigurationChange {
  Slot base_slot = 0;
  Configuration config = Configuration::Empty();
};
ValuePtr MakeConfigurationValue(Slot base_slot, const Configuration& config);
// Null for a value of another kind or a malformed payload.
std::optional<ConfigurationChange> DecodeConfigurationValue(const Value& value);

// The configuration in effect after `value` is chosen at `slot` (> current.slot),
// when `current` governs `slot`. A change takes effect only if it was derived
// from `current` (base_slot == current.slot) and ValidateChange accepts it;
// otherwise (and for every other kind of value) it is void and `current`
// stays. Deterministic: every replica, every replay, the checker agree.
ConfigAt NextConfiguration(const ConfigAt& current, Slot slot, const Value& value);

}  // namespace synod::paxos
