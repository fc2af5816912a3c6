// Member-list cluster id and outcome names.

#include "transport/types.h"

#include <algorithm>

namespace synod::transport {

ClusterId MemberListClusterId(std::vector<PeerEndpoint> members) {
  std::sort(members.begin(), members.end(),
            [](const PeerEndpoint& a, const PeerEndpoint& b) { return a.id < b.id; });
  std::string text;
  for (const PeerEndpoint& m : members) {
    if (!text.empty()) text += ',';
    text += std::to_string(m.id) + "=" + m.host + ":" + std::to_string(m.port);
  }
  uint64_t hash = 14695981039346656037ull;  // FNV-1a 64 offset basis
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ull;  // FNV-1a 64 prime
  }
  return hash == 0 ? 1 : hash;
}

const char* OutcomeStatusName(OutcomeStatus status) {
  switch (status) {
    case OutcomeStatus::kOk:
      return "ok";
    case OutcomeStatus::kNotLeader:
      return "notLeader";
    case OutcomeStatus::kBusy:
      return "busy";
    case OutcomeStatus::kSessionExpired:
      return "sessionExpired";
    case OutcomeStatus::kUnknown:
      return "unknown";
    case OutcomeStatus::kError:
      return "error";
    case OutcomeStatus::kApplyFailed:
      return "applyFailed";
    case OutcomeStatus::kRefused:
      return "refused";
  }
  return "invalid";
}

const char* TransferStatusName(TransferStatus status) {
  switch (status) {
    case TransferStatus::kHandedOver:
      return "handedOver";
    case TransferStatus::kResumed:
      return "resumed";
    case TransferStatus::kNotLeader:
      return "notLeader";
    case TransferStatus::kInvalid:
      return "invalid";
    case TransferStatus::kBusy:
      return "busy";
  }
  return "invalid";
}

const char* MemberChangeKindName(MemberChangeKind kind) {
  switch (kind) {
    case MemberChangeKind::kAddLearner:
      return "addLearner";
    case MemberChangeKind::kPromote:
      return "promote";
    case MemberChangeKind::kRemove:
      return "remove";
  }
  return "invalid";
}

const char* ChangeStatusName(ChangeStatus status) {
  switch (status) {
    case ChangeStatus::kDone:
      return "done";
    case ChangeStatus::kNotLeader:
      return "notLeader";
    case ChangeStatus::kInvalid:
      return "invalid";
    case ChangeStatus::kBusy:
      return "busy";
    case ChangeStatus::kBehind:
      return "behind";
    case ChangeStatus::kUnknown:
      return "unknown";
    case ChangeStatus::kSuperseded:
      return "superseded";
  }
  return "invalid";
}

std::string MissingFeaturesReason(paxos::ReplicaId id, uint32_t features, uint32_t required) {
  const uint32_t missing = required & ~features;
  if (missing == 0) return "";
  const std::string who = "replica " + std::to_string(id);
  if (missing == kFeatureRetiredAddresses) {
    return who + " runs an older build that cannot read removed members' addresses: upgrade it";
  }
  return who + " runs an older build (feature bits " + std::to_string(features) + ", " +
         std::to_string(required) + " required): upgrade it";
}

}  // namespace synod::transport
