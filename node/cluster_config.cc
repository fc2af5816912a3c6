#include "node/cluster_config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "util/file_io.h"

namespace synod::node {

namespace {

bool ParseUnsigned(const std::string& text, uint64_t max, uint64_t& out) {
  if (text.empty() || text.size() > 10) return false;
  for (char c : text) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  out = std::stoull(text);
  return out <= max;
}

bool ValidHost(const std::string& host) {
  if (host.empty() || host.size() > 253) return false;
  for (char c : host) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-') return false;
  }
  return true;
}

Status Error(const std::string& message) { return Status::InvalidArgument(message); }

std::string ErrnoText() { return std::strerror(errno); }

}  // namespace

const MemberAddress* ClusterConfig::Find(paxos::ReplicaId id) const {
  for (const MemberAddress& member : members) {
    if (member.id == id) return &member;
  }
  return nullptr;
}

std::vector<paxos::ReplicaId> ClusterConfig::Ids() const {
  std::vector<paxos::ReplicaId> ids;
  for (const MemberAddress& member : members) ids.push_back(member.id);
  return ids;
}

std::string ClusterConfig::ToString() const {
  std::string out;
  for (const MemberAddress& member : members) {
    if (!out.empty()) out += ",";
    out += std::to_string(member.id) + "=" + member.Endpoint();
  }
  return out;
}

std::string RecordMembers(const std::string& data_dir, const ClusterConfig& config) {
  // Written under a temporary name, synced, renamed and the directory synced,
  // so a crash never leaves a half-written list behind.
  return util::WriteFileAtomically(data_dir, "members", config.ToString() + "\n").message();
}

std::string CheckRecordedMembers(const std::string& data_dir, const ClusterConfig& config,
                                 bool has_history, bool* recorded) {
  *recorded = false;
  const std::string path = data_dir + "/members";
  const std::string given = config.ToString();
  struct stat info;
  if (::stat(path.c_str(), &info) == 0) {
    std::ifstream in(path);
    std::string stored;
    if (!in || !std::getline(in, stored)) return "cannot read " + path;
    Result<ClusterConfig> parsed = ParseClusterConfig(stored);
    if (parsed.ok() && parsed->ToString() == given) return "";
    if (has_history) {
      std::string recorded_text =
          parsed.ok() ? "belongs to a cluster of members " + parsed->ToString()
                      : "records a corrupt member list (" + parsed.status().message() + ")";
      return "data directory " + data_dir + " " + recorded_text + " (" + path +
             "), but --members says " + given +
             "; refusing to start: every member must be started with the list the cluster was "
             "created with. If --members is the right list and the file is not (e.g. it was "
             "recorded from a mistyped --members), stop this member, correct or delete " +
             path +
             " and start it again; that is safe only if every member id still names the same "
             "replica at the address --members gives (a deleted file is recorded again once a "
             "peer states the same list)";
    }
  } else if (errno != ENOENT) {
    return "cannot stat " + path + ": " + ErrnoText();
  } else if (has_history) {
    return "";  // recorded once a peer confirms the list (RecordMembers)
  }
  std::string error = RecordMembers(data_dir, config);
  if (!error.empty()) return error;
  *recorded = true;
  return "";
}

Result<ClusterConfig> ParseClusterConfig(const std::string& text) {
  if (text.empty()) return Error("--members is empty (expected e.g. 1=127.0.0.1:7001,...)");
  ClusterConfig config;
  std::stringstream items(text);
  std::string item;
  std::set<std::string> endpoints;
  while (std::getline(items, item, ',')) {
    size_t eq = item.find('=');
    size_t colon = item.rfind(':');
    if (eq == std::string::npos || colon == std::string::npos || colon < eq) {
      return Error("member '" + item + "' is not of the form ID=HOST:PORT");
    }
    uint64_t id = 0, port = 0;
    if (!ParseUnsigned(item.substr(0, eq), UINT32_MAX, id) || id == 0) {
      return Error("member '" + item + "': the id must be a positive integer");
    }
    std::string host = item.substr(eq + 1, colon - eq - 1);
    if (!ValidHost(host)) return Error("member '" + item + "': bad host '" + host + "'");
    if (!ParseUnsigned(item.substr(colon + 1), 65535, port) || port == 0) {
      return Error("member '" + item + "': the port must be 1-65535");
    }
    MemberAddress member{static_cast<paxos::ReplicaId>(id), host, static_cast<uint16_t>(port)};
    if (config.Find(member.id) != nullptr) {
      return Error("replica id " + std::to_string(id) + " is listed twice");
    }
    if (!endpoints.insert(member.Endpoint()).second) {
      return Error("address " + member.Endpoint() + " is listed twice");
    }
    config.members.push_back(member);
  }
  if (config.members.empty()) return Error("--members lists no member");
  if (config.members.size() > 9) return Error("at most 9 members are supported");
  std::sort(config.members.begin(), config.members.end(),
            [](const MemberAddress& a, const MemberAddress& b) { return a.id < b.id; });
  return config;
}

}  // namespace synod::node
