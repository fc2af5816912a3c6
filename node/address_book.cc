#include "node/address_book.h"

#include <optional>

namespace synod::node {

namespace {

// `address` ("HOST:PORT") of member `id` parsed with the --members rules, or
// nullopt if empty or malformed.
std::optional<MemberAddress> ParseAddress(paxos::ReplicaId id, const std::string& address) {
  if (address.empty()) return std::nullopt;
  Result<ClusterConfig> parsed = ParseClusterConfig(std::to_string(id) + "=" + address);
  if (!parsed.ok() || parsed->members.size() != 1) return std::nullopt;
  return parsed->members[0];
}

}  // namespace

AddressBook AddressBook::From(const paxos::ConfigAt& config, const ClusterConfig& static_members) {
  AddressBook book;
  for (const paxos::Member& member : config.config.member_list()) {
    if (std::optional<MemberAddress> recorded = ParseAddress(member.id, member.address)) {
      book.entries_[member.id] = Entry{*recorded, true};
    } else if (const MemberAddress* fixed = static_members.Find(member.id)) {
      book.entries_[member.id] = Entry{*fixed, false};
    }
  }
  return book;
}

const MemberAddress* AddressBook::Find(paxos::ReplicaId id) const {
  auto it = entries_.find(id);
  return it == entries_.end() ? nullptr : &it->second.address;
}

std::vector<transport::PeerEndpoint> AddressBook::Endpoints(paxos::ReplicaId except) const {
  std::vector<transport::PeerEndpoint> endpoints;
  for (const auto& [id, entry] : entries_) {
    if (id == except) continue;
    endpoints.push_back({id, entry.address.host, entry.address.port});
  }
  return endpoints;
}

std::string AddressBook::ToString() const {
  ClusterConfig listed;
  for (const auto& [id, entry] : entries_) listed.members.push_back(entry.address);
  return listed.ToString();
}

std::vector<paxos::ReplicaId> AddressBook::Conflicts(const ClusterConfig& static_members) const {
  std::vector<paxos::ReplicaId> ids;
  for (const auto& [id, entry] : entries_) {
    if (!entry.from_config) continue;
    const MemberAddress* fixed = static_members.Find(id);
    if (fixed != nullptr && fixed->Endpoint() != entry.address.Endpoint()) ids.push_back(id);
  }
  return ids;
}

}  // namespace synod::node
