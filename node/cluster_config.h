// ClusterConfig: the static member list of a cluster, parsed from the
// command-line form "1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003".
//
// Plain value type. Parsing never throws: it returns the config or a message
// saying exactly what is wrong with the input.
#pragma once

#include <cstdint>
#include <optional>
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

// What a data directory's `members` file records (docs/runtime.md,
// "Members file"). Three forms, one line each after optional "# " headers:
//  - a founder whose configuration never changed: the founding list alone
//    ("1=h:p,2=h:p,3=h:p"; the form every earlier build wrote);
//  - a founder after a configuration change was applied here:
//    "# initial=LIST" (the founding list, carried over unchanged by every
//    rewrite), "# config_slot=S", then the address book of the configuration
//    set at slot S;
//  - a replica that joined a running cluster: "# joined", "# config_slot=S"
//    once a change was recorded, then the book (before that: its own entry).
struct RecordedMembers {
  // The founding list (the initial configuration's members): the one line of
  // the first form, "# initial=" of the second; nullopt iff `joined`.
  std::optional<ClusterConfig> initial;
  bool joined = false;
  paxos::Slot config_slot = 0;  // the recorded configuration's slot; 0: no change recorded
  ClusterConfig book;           // who is where in it (the first form: the founding list)

  // The first form: a restart must pass exactly this list as --members.
  bool OneLine() const { return !joined && config_slot == 0; }
};

// Parses a members file's content; `path` names the file in errors.
// Corruption with a message naming the file and what is wrong (an unknown or
// repeated "#" line, a malformed list or slot, a missing or extra line, both
// or neither of "# initial=" and "# joined", "# initial=" without
// "# config_slot="). The first form's lines after its first are ignored, as
// every earlier build did. Never throws.
Result<RecordedMembers> ParseRecordedMembers(const std::string& text, const std::string& path);

// Reads `data_dir`/members: nullopt if there is none; an error (naming the
// file) if it is unreadable or malformed (ParseRecordedMembers). Any thread.
Result<std::optional<RecordedMembers>> ReadRecordedMembers(const std::string& data_dir);

// Checks this start's --members (`config`, with this replica's id `self`)
// against `data_dir`/members and records the founding list when there is
// none yet. `has_history`: the directory's log recovered a promise, entries
// or a snapshot. Returns "" to go on, else why the replica must not start.
//  - The first form (one line): "" when it names the same members as
//    `config`; if it names others, the file is rewritten from `config` when
//    the directory has no history (nothing was promised under the old list:
//    a typo is corrected by restarting), else an error naming both lists,
//    the file and how to recover.
//  - A file with "#" headers (a change was recorded, or the replica joined):
//    "" when every member of its book that `config` names has the same
//    address there and the book names `self` (the ids `config` names beyond
//    the book do not matter: the replica starts from the recorded
//    configuration, not from --members). Else an error naming the id, both
//    addresses and the file. One that records a change ("# config_slot=",
//    a founder's or a joined member's) in a directory without history is
//    refused: that replica's data was lost, it is replaced under a new id.
//    Such a file is never rewritten here, and a
//    malformed one is refused whatever `has_history` says (rewriting it from
//    --members could turn a joined member into a founder).
//  - No file: written (first form) only when the directory has no history; a
//    directory with history but no file (made before the file existed) is
//    left to RecordMembers once a peer confirmed the list.
// `*recorded` is set true iff the file was written. An error if the file is
// unreadable or the write fails. `data_dir` must exist. Any thread; touches
// only that file.
std::string CheckRecordedMembers(const std::string& data_dir, const ClusterConfig& config,
                                 paxos::ReplicaId self, bool has_history, bool* recorded);

// Writes `config` to `data_dir`/members in the first form (temporary file,
// fsync, rename, fsync of the directory): "" or why not. Any thread.
std::string RecordMembers(const std::string& data_dir, const ClusterConfig& config);

// After the configuration set at `config_slot` (> 0) was applied: rewrites
// `data_dir`/members in the second or third form with `book` (the
// configuration's address book, "1=h:p,..."), keeping the founding list (of
// either earlier form) or the joined marker the file holds. True if written;
// false if the file already records `config_slot` or a later one (nothing
// to do: a restart replaying its log applies the changes again). NotFound if
// there is no file (a directory with history from before the file: its
// list stays unconfirmed and the exact rule applies); Corruption if the file
// or `book` is malformed; IoError if a write fails (the file then holds the
// old or the new content, both consistent). Atomic as RecordMembers. Any
// thread; call from one thread at a time per directory.
Result<bool> RecordConfiguration(const std::string& data_dir, paxos::Slot config_slot,
                                 const std::string& book);

// The data directory of a replica that joins a running cluster: writes
// "# joined" and `self`'s own entry (the third form), atomically as
// RecordMembers. It has no founding list, so it never builds an initial
// configuration (it starts from a snapshot). Ok or why not. Any thread.
Status RecordJoined(const std::string& data_dir, const MemberAddress& self);

// Parses the --members form. Rules: 1 to 9 members; ids are positive integers,
// distinct; host is an IPv4 address or host name; port 1-65535; no two members
// share an address. kInvalidArgument with a message saying what is wrong
// otherwise.
Result<ClusterConfig> ParseClusterConfig(const std::string& text);

}  // namespace synod::node
