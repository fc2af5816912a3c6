// AddressBook: who is where. The address of every member of a configuration,
// taken from the configuration itself when it records one (Member::address,
// "HOST:PORT"), else from the static --members list; a member neither knows
// has no entry. Retired ids are not members, so they are never in the book;
// nor are static entries of ids the configuration does not name.
//
// Plain value type: no I/O, no clock; copy freely. Any thread (one owner).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "node/cluster_config.h"
#include "paxos/configuration.h"
#include "transport/types.h"

namespace synod::node {

class AddressBook {
 public:
  // An empty book (no member known).
  AddressBook() = default;

  // The members of `config.config` (voters and learners) with their
  // addresses: the configuration's when it is a well-formed HOST:PORT (the
  // rules of ParseClusterConfig), else `static_members`' entry for the id,
  // else none. A malformed configuration address counts as none.
  static AddressBook From(const paxos::ConfigAt& config, const ClusterConfig& static_members);

  // The address of member `id`, or null (not a member, or no known address).
  const MemberAddress* Find(paxos::ReplicaId id) const;
  // Every member with a known address except `except` (e.g. this replica's
  // own id; kNoReplica: none left out), sorted by id.
  std::vector<transport::PeerEndpoint> Endpoints(paxos::ReplicaId except = paxos::kNoReplica) const;
  // "1=h:p,2=h:p" (ClusterConfig::ToString's form), sorted by id; members
  // without a known address are left out.
  std::string ToString() const;
  // Ids whose `static_members` address differs from the address the
  // configuration records for them (static entries of ids without a
  // configuration address never conflict), sorted.
  std::vector<paxos::ReplicaId> Conflicts(const ClusterConfig& static_members) const;

  bool operator==(const AddressBook&) const = default;

 private:
  struct Entry {
    MemberAddress address;
    bool from_config = false;  // the configuration recorded it (else: the static list)
    bool operator==(const Entry& other) const {
      return address.id == other.address.id && address.host == other.address.host &&
             address.port == other.address.port && from_config == other.from_config;
    }
  };
  std::map<paxos::ReplicaId, Entry> entries_;
};

}  // namespace synod::node
