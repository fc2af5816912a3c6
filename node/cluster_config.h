// ClusterConfig: the static member list of a cluster, parsed from the
// command-line form "1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003".
//
// Plain value type. Parsing never throws: it returns the config or a message
// saying exactly what is wrong with the input.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "paxos/types.h"
#include "util/status.h"

namespace synod::node {

// One member: its replica id and the address it listens on (peers and clients).
struct MemberAddress {
  paxos::ReplicaId id = paxos::kNoReplica;
  std::string host;
  uint16_t port = 0;

  std::string Endpoint() const { return host + ":" + std::to_string(port); }
};

struct ClusterConfig {
  std::vector<MemberAddress> members;  // sorted by id

  // The member with `id`, or null.
  const MemberAddress* Find(paxos::ReplicaId id) const;
  std::vector<paxos::ReplicaId> Ids() const;
  // Canonical text form (sorted), e.g. "1=127.0.0.1:7001,2=127.0.0.1:7002".
  std::string ToString() const;
};

// The member list a data directory was created with, kept in the file
// `data_dir`/members (ClusterConfig::ToString plus a newline) so a restart
// with another --members is caught before the replica talks to anyone.
// `has_history`: the directory's log recovered a promise, entries or a
// snapshot. If the file exists: "" when it names the same members as
// `config`; if it names others, the file is rewritten from `config` when the
// directory has no history (nothing was promised under the old list: a typo
// is corrected by restarting), else an error naming both lists, the file and
// how to recover. If it is absent it is written only when the directory has
// no history; a directory with history but no file (made before the file
// existed) is left to RecordMembers once a peer confirmed the list.
// `*recorded` is set true iff the file was written. An error if the file is
// unreadable or the write fails. `data_dir` must exist. Any thread; touches
// only that file.
std::string CheckRecordedMembers(const std::string& data_dir, const ClusterConfig& config,
                                 bool has_history, bool* recorded);

// Writes `config` to `data_dir`/members (temporary file, fsync, rename, fsync
// of the directory): "" or why not. Any thread.
std::string RecordMembers(const std::string& data_dir, const ClusterConfig& config);

// Parses the --members form. Rules: 1 to 9 members; ids are positive integers,
// distinct; host is an IPv4 address or host name; port 1-65535; no two members
// share an address. kInvalidArgument with a message saying what is wrong
// otherwise.
Result<ClusterConfig> ParseClusterConfig(const std::string& text);

}  // namespace synod::node
