#include "paxos/configuration.h"

#include <algorithm>
#include <stdexcept>

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
  Index();
}

void Configuration::Index() {
  std::sort(members_.begin(), members_.end(),
            [](const Member& a, const Member& b) { return a.id < b.id; });
  std::sort(retired_.begin(), retired_.end());
  retired_.erase(std::unique(retired_.begin(), retired_.end()), retired_.end());
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

size_t Configuration::CountVoters(const std::vector<ReplicaId>& ids) const {
  return static_cast<size_t>(
      std::count_if(ids.begin(), ids.end(), [this](ReplicaId id) { return IsVoter(id); }));
}

Configuration Configuration::WithLearner(ReplicaId id, std::string address) const {
  std::vector<Member> members = members_;
  members.push_back(Member{id, MemberRole::kLearner, std::move(address)});
  return Configuration(std::move(members), retired_);
}

Configuration Configuration::WithPromoted(ReplicaId id) const {
  std::vector<Member> members = members_;
  for (Member& m : members) {
    if (m.id == id) {
      if (m.role != MemberRole::kLearner) {
        throw std::invalid_argument("replica " + std::to_string(id) + " is not a learner");
      }
      m.role = MemberRole::kVoter;
      return Configuration(std::move(members), retired_);
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
  members.erase(it);
  std::vector<ReplicaId> retired = retired_;
  retired.push_back(id);
  return Configuration(std::move(members), std::move(retired));
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
  if (pos != bytes.size()) return std::nullopt;
  try {
    return Configuration(std::move(members), std::move(retired));
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
