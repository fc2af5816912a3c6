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

// True if a join marker may be written over `data_dir`'s members file in a
// directory without history: there is none; or it is malformed in the first
// form (no "#" line: empty or a bad list, which a founder's start rewrites
// from --members too); or it is the one-line founding list of a replica that
// never applied a change (a start without --join by mistake); or a join
// marker that records no configuration yet. False for a file that records a
// configuration change (the replica applied one: its data was lost), a
// malformed headered file and a file that cannot be read: CheckRecordedMembers
// refuses those and keeps them.
bool MayRecordJoinMarker(const std::string& data_dir);

}  // namespace synod::node
