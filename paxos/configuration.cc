#include "paxos/configuration.h"

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace synod::paxos {

const char* MemberRoleName(MemberRole role) {
  return role == MemberRole::kVoter ? "voter" : "learner";
}

const char* MembershipName(Membership membership) {
  switch (membership) {
    case Membership::kVoter:
      return "voter";
    case Membership::kLearner:
      return "learner";
    case Membership::kNotMember:
      return "not-member";
    case Membership::kRemoved:
      return "removed";
  }
  return "unknown";
}

Configuration::Configuration(std::vector<ReplicaId> voters) {
  if (voters.empty()) throw std::invalid_argument("configuration has no members");
  for (ReplicaId id : voters) members_.push_back(Member{id, MemberRole::kVoter, ""});
  Index();
}

Configuration::Configuration(std::vector<Member> members, std::vector<ReplicaId> retired)
    : members_(std::move(members)), retired_(std::move(retired)) {
  retired_addresses_.resize(retired_.size());
  Index();
}

Configuration::Configuration(std::vector<Member> members, std::vector<ReplicaId> retired,
                             std::vector<std::string> retired_addresses)
    : members_(std::move(members)),
      retired_(std::move(retired)),
      retired_addresses_(std::move(retired_addresses)) {
  if (retired_addresses_.size() != retired_.size()) {
    throw std::invalid_argument("retired ids and their addresses differ in number");
  }
  Index();
}

void Configuration::Index() {
  std::sort(members_.begin(), members_.end(),
            [](const Member& a, const Member& b) { return a.id < b.id; });
  std::vector<std::pair<ReplicaId, std::string>> retired;
  for (size_t i = 0; i < retired_.size(); ++i) {
    retired.emplace_back(retired_[i], std::move(retired_addresses_[i]));
  }
  std::sort(retired.begin(), retired.end());
  retired_.clear();
  retired_addresses_.clear();
  for (auto& [id, address] : retired) {
    if (!retired_.empty() && retired_.back() == id) {
      if (retired_addresses_.back() != address) {
        throw std::invalid_argument("retired replica " + std::to_string(id) +
                                    " is listed with two addresses");
      }
      continue;  // listed twice: once is enough
    }
    retired_.push_back(id);
    retired_addresses_.push_back(std::move(address));
  }
  ids_.clear();
  voters_.clear();
  for (const Member& m : members_) {
    if (m.id == kNoReplica) throw std::invalid_argument("replica id 0 is reserved");
    if (!ids_.empty() && ids_.back() == m.id) {
      throw std::invalid_argument("configuration lists a replica id twice");
    }
    if (std::binary_search(retired_.begin(), retired_.end(), m.id)) {
      throw std::invalid_argument("replica id " + std::to_string(m.id) +
                                  " was removed and cannot be a member again");
    }
    ids_.push_back(m.id);
    if (m.role == MemberRole::kVoter) voters_.push_back(m.id);
  }
  if (voters_.empty()) throw std::invalid_argument("configuration has no voters");
  quorum_size_ = voters_.size() / 2 + 1;
}

bool Configuration::Contains(ReplicaId id) const {
  return std::binary_search(ids_.begin(), ids_.end(), id);
}

bool Configuration::IsVoter(ReplicaId id) const {
  return std::binary_search(voters_.begin(), voters_.end(), id);
}

bool Configuration::IsRetired(ReplicaId id) const {
  return std::binary_search(retired_.begin(), retired_.end(), id);
}

const Member* Configuration::Find(ReplicaId id) const {
  for (const Member& m : members_) {
    if (m.id == id) return &m;
  }
  return nullptr;
}

const std::string* Configuration::RetiredAddress(ReplicaId id) const {
  auto it = std::lower_bound(retired_.begin(), retired_.end(), id);
  if (it == retired_.end() || *it != id) return nullptr;
  return &retired_addresses_[static_cast<size_t>(it - retired_.begin())];
}

std::optional<ReplicaId> Configuration::AddressUser(std::string_view address) const {
  if (address.empty()) return std::nullopt;
  for (const Member& m : members_) {
    if (m.address == address) return m.id;
  }
  for (size_t i = 0; i < retired_.size(); ++i) {
    if (retired_addresses_[i] == address) return retired_[i];
  }
  return std::nullopt;
}

size_t Configuration::CountVoters(const std::vector<ReplicaId>& ids) const {
  return static_cast<size_t>(
      std::count_if(ids.begin(), ids.end(), [this](ReplicaId id) { return IsVoter(id); }));
}

Configuration Configuration::WithLearner(ReplicaId id, std::string address) const {
  std::vector<Member> members = members_;
  members.push_back(Member{id, MemberRole::kLearner, std::move(address)});
  return Configuration(std::move(members), retired_, retired_addresses_);
}

Configuration Configuration::WithPromoted(ReplicaId id) const {
  std::vector<Member> members = members_;
  for (Member& m : members) {
    if (m.id == id) {
      if (m.role != MemberRole::kLearner) {
        throw std::invalid_argument("replica " + std::to_string(id) + " is not a learner");
      }
      m.role = MemberRole::kVoter;
      return Configuration(std::move(members), retired_, retired_addresses_);
    }
  }
  throw std::invalid_argument("replica " + std::to_string(id) + " is not a member");
}

Configuration Configuration::WithRemoved(ReplicaId id) const {
  std::vector<Member> members = members_;
  auto it =
      std::find_if(members.begin(), members.end(), [id](const Member& m) { return m.id == id; });
  if (it == members.end()) {
    throw std::invalid_argument("replica " + std::to_string(id) + " is not a member");
  }
  std::vector<ReplicaId> retired = retired_;
  std::vector<std::string> addresses = retired_addresses_;
  retired.push_back(id);
  addresses.push_back(std::move(it->address));
  members.erase(it);
  return Configuration(std::move(members), std::move(retired), std::move(addresses));
}

Configuration Configuration::WithMembers(std::vector<Member> members) const {
  return Configuration(std::move(members), retired_, retired_addresses_);
}

Configuration Configuration::WithQuorumSizeForTesting(size_t quorum_size) const {
  Configuration copy = *this;
  copy.quorum_size_ = quorum_size;
  return copy;
}

namespace {

void PutU64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

bool GetU64(const std::string& in, size_t& pos, uint64_t& v) {
  if (pos > in.size() || in.size() - pos < 8) return false;
  v = 0;
  for (int i = 0; i < 8; ++i) v |= uint64_t{static_cast<unsigned char>(in[pos + i])} << (8 * i);
  pos += 8;
  return true;
}

constexpr char kConfigMagic[] = "SYNODCFG1";
constexpr size_t kConfigMagicSize = sizeof(kConfigMagic) - 1;
constexpr uint64_t kMaxIds = 1 << 16;

}  // namespace

std::string Configuration::Encode() const {
  std::string out(kConfigMagic, kConfigMagicSize);
  PutU64(out, members_.size());
  for (const Member& m : members_) {
    PutU64(out, m.id);
    PutU64(out, static_cast<uint64_t>(m.role));
    PutU64(out, m.address.size());
    out += m.address;
  }
  PutU64(out, retired_.size());
  for (ReplicaId id : retired_) PutU64(out, id);
  // The retired addresses: count, then (id, length, bytes) for each
  // non-empty one in id order; absent when there are none, so such a
  // configuration's bytes are those of a build without retired addresses.
  uint64_t known = static_cast<uint64_t>(
      std::count_if(retired_addresses_.begin(), retired_addresses_.end(),
                    [](const std::string& address) { return !address.empty(); }));
  if (known == 0) return out;
  PutU64(out, known);
  for (size_t i = 0; i < retired_.size(); ++i) {
    if (retired_addresses_[i].empty()) continue;
    PutU64(out, retired_[i]);
    PutU64(out, retired_addresses_[i].size());
    out += retired_addresses_[i];
  }
  return out;
}

std::optional<Configuration> Configuration::Decode(const std::string& bytes) {
  if (bytes.compare(0, kConfigMagicSize, kConfigMagic) != 0) return std::nullopt;
  size_t pos = kConfigMagicSize;
  uint64_t count = 0;
  if (!GetU64(bytes, pos, count) || count > kMaxIds) return std::nullopt;
  std::vector<Member> members;
  for (uint64_t i = 0; i < count; ++i) {
    uint64_t id = 0, role = 0, length = 0;
    if (!GetU64(bytes, pos, id) || !GetU64(bytes, pos, role) || !GetU64(bytes, pos, length)) {
      return std::nullopt;
    }
    if (id > UINT32_MAX || role > 1 || length > bytes.size() - pos) return std::nullopt;
    members.push_back(Member{static_cast<ReplicaId>(id), static_cast<MemberRole>(role),
                             bytes.substr(pos, length)});
    pos += length;
  }
  if (!GetU64(bytes, pos, count) || count > kMaxIds) return std::nullopt;
  std::vector<ReplicaId> retired;
  for (uint64_t i = 0; i < count; ++i) {
    uint64_t id = 0;
    if (!GetU64(bytes, pos, id) || id > UINT32_MAX) return std::nullopt;
    retired.push_back(static_cast<ReplicaId>(id));
  }
  std::vector<std::string> addresses(retired.size());
  if (pos != bytes.size()) {
    // The retired addresses, only in the form Encode writes (at least one,
    // ids ascending, each retired, no "" address): no second spelling.
    if (!GetU64(bytes, pos, count) || count == 0 || count > retired.size()) return std::nullopt;
    uint64_t previous = 0;
    for (uint64_t i = 0; i < count; ++i) {
      uint64_t id = 0, length = 0;
      if (!GetU64(bytes, pos, id) || !GetU64(bytes, pos, length)) return std::nullopt;
      if (id <= previous || id > UINT32_MAX || length == 0 || length > bytes.size() - pos) {
        return std::nullopt;
      }
      previous = id;
      bool found = false;
      for (size_t j = 0; j < retired.size(); ++j) {
        if (retired[j] != id) continue;
        addresses[j] = bytes.substr(pos, length);
        found = true;
      }
      if (!found) return std::nullopt;
      pos += length;
    }
    if (pos != bytes.size()) return std::nullopt;
  }
  try {
    return Configuration(std::move(members), std::move(retired), std::move(addresses));
  } catch (const std::invalid_argument&) {
    return std::nullopt;
  }
}

std::string Configuration::ToString() const {
  std::string out;
  for (ReplicaId id : voters_) out += (out.empty() ? "" : ",") + std::to_string(id);
  std::string learners;
  for (const Member& m : members_) {
    if (m.role == MemberRole::kLearner) {
      learners += (learners.empty() ? "" : ",") + std::to_string(m.id);
    }
  }
  if (!learners.empty()) out += " learners=" + learners;
  std::string retired;
  for (ReplicaId id : retired_) retired += (retired.empty() ? "" : ",") + std::to_string(id);
  if (!retired.empty()) out += " retired=" + retired;
  return out;
}

std::string ValidateChange(const Configuration& from, const Configuration& to) {
  if (to.voters().empty()) return "a configuration needs at least one voter";
  if (to == from) return "the configuration is unchanged";
  for (ReplicaId id : from.retired()) {
    if (!to.IsRetired(id)) return "removed replica " + std::to_string(id) + " must stay retired";
    // A retired id's address is part of its retirement (no new member may
    // take it), so a change that drops or alters it is void like one that
    // drops the id. The runtime never builds one (it derives every change
    // from the configuration in effect, whose With* keep the addresses), so
    // this only stops a foreign or faulty proposer, and it is a function of
    // (from, to) alone: every replica and every replay decide alike. It
    // voids nothing a build without retired addresses accepted: such builds
    // record none, so every retired address in their logs and snapshots is
    // "" before and after each change. (A newly retired id's address is the
    // proposer's, like every member address: not checked here, for the same
    // reason: older builds retired members with "" whatever they had.)
    if (*to.RetiredAddress(id) != *from.RetiredAddress(id)) {
      return "removed replica " + std::to_string(id) + " must keep its address";
    }
  }
  for (ReplicaId id : from.members()) {
    if (!to.Contains(id) && !to.IsRetired(id)) {
      return "replica " + std::to_string(id) + " leaves without being retired";
    }
  }
  for (ReplicaId id : to.retired()) {
    if (!from.Contains(id) && !from.IsRetired(id)) {
      return "replica " + std::to_string(id) + " is retired but was never a member";
    }
  }
  for (ReplicaId id : to.members()) {
    if (from.IsRetired(id)) {
      return "replica id " + std::to_string(id) + " was removed and cannot be reused";
    }
  }
  return "";
}

ValuePtr MakeConfigurationValue(Slot base_slot, const Configuration& config) {
  auto value = std::make_shared<Value>();
  value->kind = ValueKind::kConfiguration;
  std::string payload;
  PutU64(payload, base_slot);
  payload += config.Encode();
  value->commands.push_back(std::move(payload));
  return value;
}

std::optional<ConfigurationChange> DecodeConfigurationValue(const Value& value) {
  if (value.kind != ValueKind::kConfiguration || value.commands.size() != 1) return std::nullopt;
  const std::string& payload = value.commands[0];
  size_t pos = 0;
  uint64_t base = 0;
  if (!GetU64(payload, pos, base)) return std::nullopt;
  std::optional<Configuration> config = Configuration::Decode(payload.substr(pos));
  if (!config) return std::nullopt;
  return ConfigurationChange{base, std::move(*config)};
}

ConfigAt NextConfiguration(const ConfigAt& current, Slot slot, const Value& value) {
  if (value.kind != ValueKind::kConfiguration || slot <= current.slot) return current;
  std::optional<ConfigurationChange> change = DecodeConfigurationValue(value);
  if (!change || change->base_slot != current.slot) return current;
  if (!ValidateChange(current.config, change->config).empty()) return current;
  return ConfigAt{slot, std::move(change->config)};
}

}  // namespace synod::paxos
