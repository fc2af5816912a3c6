#include "node/cluster_config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <string_view>

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

// The members file's "#" lines (cluster_config.h, RecordedMembers).
constexpr std::string_view kInitialHeader = "# initial=";
constexpr std::string_view kJoinedHeader = "# joined";
constexpr std::string_view kSlotHeader = "# config_slot=";
// A recorded list may hold a whole configuration (at most 16 members, with
// room to spare), unlike --members (9).
constexpr size_t kMaxListedMembers = 64;
// A founding list was a --members value.
constexpr size_t kMaxFounders = 9;
// Far above any valid file (64 members of at most ~270 bytes, twice).
constexpr size_t kMaxFileBytes = 64 * 1024;

// ParseClusterConfig's rules with at most `max_members` members; the message
// for empty text is the caller's.
Result<ClusterConfig> ParseMemberList(const std::string& text, size_t max_members);

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

Result<RecordedMembers> ParseRecordedMembers(const std::string& text, const std::string& path) {
  auto corrupt = [&](const std::string& what) {
    return Status::Corruption(path + " is malformed: " + what);
  };
  std::vector<std::string> lines;
  std::stringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  if (lines.empty()) return corrupt("it is empty");
  RecordedMembers recorded;
  if (lines[0].empty() || lines[0][0] != '#') {
    // The one-line form. Later lines are ignored, as every earlier build did.
    Result<ClusterConfig> list = ParseMemberList(lines[0], kMaxListedMembers);
    if (!list.ok()) return corrupt("a corrupt member list (" + list.status().message() + ")");
    recorded.initial = *list;
    recorded.book = *list;
    return recorded;
  }
  bool slot_seen = false;
  size_t at = 0;
  for (; at < lines.size() && !lines[at].empty() && lines[at][0] == '#'; ++at) {
    const std::string& line = lines[at];
    const std::string quoted = "line '" + line + "'";
    if (line.rfind(kInitialHeader, 0) == 0) {
      if (recorded.initial) return corrupt("a second " + quoted);
      Result<ClusterConfig> list =
          ParseMemberList(line.substr(kInitialHeader.size()), kMaxFounders);
      if (!list.ok()) return corrupt(quoted + ": " + list.status().message());
      recorded.initial = *list;
    } else if (line == kJoinedHeader) {
      if (recorded.joined) return corrupt("a second " + quoted);
      recorded.joined = true;
    } else if (line.rfind(kSlotHeader, 0) == 0) {
      if (slot_seen) return corrupt("a second " + quoted);
      const std::string digits = line.substr(kSlotHeader.size());
      uint64_t slot = 0;
      auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), slot);
      if (digits.empty() || !std::isdigit(static_cast<unsigned char>(digits[0])) ||
          error != std::errc() || end != digits.data() + digits.size() || slot == 0) {
        return corrupt(quoted + ": the slot must be a positive integer");
      }
      slot_seen = true;
      recorded.config_slot = slot;
    } else {
      return corrupt("unknown " + quoted + " (known: '" + std::string(kInitialHeader) + "LIST', '" +
                     std::string(kJoinedHeader) + "', '" + std::string(kSlotHeader) + "S')");
    }
  }
  if (recorded.initial && recorded.joined) {
    return corrupt("it records both a founding list and '" + std::string(kJoinedHeader) + "'");
  }
  if (!recorded.initial && !recorded.joined) {
    return corrupt("it records neither a founding list ('" + std::string(kInitialHeader) +
                   "LIST') nor '" + std::string(kJoinedHeader) + "'");
  }
  if (recorded.initial && recorded.config_slot == 0) {
    return corrupt("it records a founding list but no '" + std::string(kSlotHeader) + "S' line");
  }
  if (at == lines.size()) return corrupt("the member list after the '#' lines is missing");
  if (at + 1 != lines.size()) return corrupt("more than one line follows the '#' lines");
  Result<ClusterConfig> book = ParseMemberList(lines[at], kMaxListedMembers);
  if (!book.ok()) return corrupt("a corrupt member list (" + book.status().message() + ")");
  recorded.book = *book;
  return recorded;
}

Result<std::optional<RecordedMembers>> ReadRecordedMembers(const std::string& data_dir) {
  const std::string path = data_dir + "/members";
  Result<std::string> text = util::ReadSmallFile(path, kMaxFileBytes);
  if (!text.ok()) {
    if (text.status().IsNotFound()) return std::optional<RecordedMembers>();
    return text.status();
  }
  Result<RecordedMembers> parsed = ParseRecordedMembers(*text, path);
  if (!parsed.ok()) return parsed.status();
  return std::optional<RecordedMembers>(std::move(*parsed));
}

namespace {

// The file's text in the second or third form.
std::string HeaderedText(const RecordedMembers& recorded) {
  std::string text;
  if (recorded.initial) text += std::string(kInitialHeader) + recorded.initial->ToString() + "\n";
  if (recorded.joined) text += std::string(kJoinedHeader) + "\n";
  if (recorded.config_slot != 0) {
    text += std::string(kSlotHeader) + std::to_string(recorded.config_slot) + "\n";
  }
  return text + recorded.book.ToString() + "\n";
}

// A headered file (a recorded change, or a joined member) against this
// start's --members: see CheckRecordedMembers.
std::string CheckAgainstBook(const RecordedMembers& recorded, const std::string& path,
                             const ClusterConfig& config, paxos::ReplicaId self) {
  const std::string what =
      recorded.config_slot != 0
          ? "the configuration set at slot " + std::to_string(recorded.config_slot)
          : std::string("this replica's own entry, recorded when it joined");
  if (recorded.initial && recorded.initial->Find(self) == nullptr) {
    // The founding list decides the initial configuration of the replay: a
    // founder's file copied into another replica's directory must not.
    return path + " records the founding members " + recorded.initial->ToString() +
           " without replica " + std::to_string(self) +
           ": refusing to start; this data directory is not replica " + std::to_string(self) +
           "'s (check --id and --data)";
  }
  if (recorded.book.Find(self) == nullptr) {
    return path + " records members " + recorded.book.ToString() + " (" + what +
           ") without replica " + std::to_string(self) +
           ": refusing to start; this data directory is not replica " + std::to_string(self) +
           "'s (check --id and --data)";
  }
  for (const MemberAddress& member : recorded.book.members) {
    const MemberAddress* given = config.Find(member.id);
    if (given == nullptr || given->Endpoint() == member.Endpoint()) continue;
    return "replica " + std::to_string(member.id) + " is at " + member.Endpoint() + " in " + path +
           " (" + what + ") but --members says " + given->Endpoint() +
           "; refusing to start: --members may name any members, but each at the address the "
           "cluster has for it ('members list' shows them)";
  }
  return "";
}

}  // namespace

Result<bool> RecordConfiguration(const std::string& data_dir, paxos::Slot config_slot,
                                 const std::string& book) {
  const std::string path = data_dir + "/members";
  Result<std::optional<RecordedMembers>> current = ReadRecordedMembers(data_dir);
  if (!current.ok()) return current.status();
  if (!current->has_value()) {
    return Status::NotFound(path + " does not exist (a data directory from before the file)");
  }
  RecordedMembers next = std::move(**current);
  if (next.config_slot >= config_slot) return false;
  Result<ClusterConfig> parsed = ParseMemberList(book, kMaxListedMembers);
  if (!parsed.ok()) {
    return Status::Corruption("configuration slot " + std::to_string(config_slot) +
                              ": malformed address book '" + book +
                              "': " + parsed.status().message());
  }
  next.config_slot = config_slot;
  next.book = *parsed;
  Status written = util::WriteFileAtomically(data_dir, "members", HeaderedText(next));
  if (!written.ok()) return written;
  return true;
}

Status RecordJoined(const std::string& data_dir, const MemberAddress& self) {
  RecordedMembers joined;
  joined.joined = true;
  joined.book.members.push_back(self);
  return util::WriteFileAtomically(data_dir, "members", HeaderedText(joined));
}

std::string CheckRecordedMembers(const std::string& data_dir, const ClusterConfig& config,
                                 paxos::ReplicaId self, bool has_history, bool* recorded) {
  *recorded = false;
  const std::string path = data_dir + "/members";
  const std::string given = config.ToString();
  struct stat info;
  if (::stat(path.c_str(), &info) == 0) {
    Result<std::string> text = util::ReadSmallFile(path, kMaxFileBytes);
    if (!text.ok()) return "cannot read " + path + ": " + text.status().message();
    if (!text->empty() && (*text)[0] == '#') {
      // A change was recorded, or this replica joined: --members may differ
      // from the founding list, within the recorded addresses.
      Result<RecordedMembers> headered = ParseRecordedMembers(*text, path);
      if (!headered.ok()) {
        return headered.status().message() +
               "; refusing to start (it is never rewritten from --members: restore it, e.g. "
               "from a member's file with this replica's own entry)";
      }
      if (headered->config_slot > 0 && !has_history) {
        // Written only after this replica applied a change (a founder's, or
        // a joined member's once it served): its log is gone.
        return path + " records a configuration change (slot " +
               std::to_string(headered->config_slot) + ") but " + data_dir +
               " holds no Paxos history: the replica's data was lost or the directory is not "
               "its own; refusing to start (a replica whose data was lost is replaced: "
               "'members add' a new id, 'serve --join' it, then 'members remove' this one)";
      }
      return CheckAgainstBook(*headered, path, config, self);
    }
    Result<RecordedMembers> parsed = ParseRecordedMembers(*text, path);
    if (parsed.ok() && parsed->book.ToString() == given) return "";
    if (has_history) {
      std::string recorded_text =
          parsed.ok() ? "belongs to a cluster of members " + parsed->book.ToString()
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
  return ParseMemberList(text, 9);
}

namespace {

Result<ClusterConfig> ParseMemberList(const std::string& text, size_t max_members) {
  if (text.empty()) return Error("the member list is empty");
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
  if (config.members.empty()) return Error("the list names no member");
  if (config.members.size() > max_members) {
    return Error("at most " + std::to_string(max_members) + " members are supported");
  }
  std::sort(config.members.begin(), config.members.end(),
            [](const MemberAddress& a, const MemberAddress& b) { return a.id < b.id; });
  return config;
}

}  // namespace

}  // namespace synod::node
