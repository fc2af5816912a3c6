// The join marker: the members file of a replica that joined a running
// cluster (serve --join) says `# joined` (RecordJoined, cluster_config.h)
// instead of a founding list. Such a directory never builds an initial
// configuration from --members: until it holds a complete snapshot, a start
// (with or without --join) resumes the join (docs/runtime.md, "Membership").
//
// Plain functions over that file; any thread.
#pragma once

#include <string>

#include "node/cluster_config.h"
#include "util/status.h"

namespace synod::node {

// Records durably (RecordJoined: temp file, fsync, rename, directory fsync)
// that `data_dir` is the directory of replica `self` joining a running
// cluster; replaces any members file there. `data_dir` must exist. The I/O
// error otherwise.
Status RecordJoinMarker(const std::string& data_dir, const MemberAddress& self);

// True if `data_dir`'s members file says `# joined` (false if it is absent,
// unreadable or malformed: CheckRecordedMembers refuses the latter two).
bool HasJoinMarker(const std::string& data_dir);

// True if `data_dir`'s members file records a configuration change
// ("# config_slot=", a founder's or a joined member's): the replica applied
// a change there, so a directory without history lost its data and the file
// must not be replaced by a join marker. False if it is absent, unreadable
// or malformed (CheckRecordedMembers decides about those).
bool RecordsConfigurationChange(const std::string& data_dir);

}  // namespace synod::node
