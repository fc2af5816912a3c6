// The join marker: a file `joined` in a data directory that says the
// directory belongs to a replica that joined a running cluster (serve
// --join), not to a founder. Such a directory never builds an initial
// configuration from --members: until it holds a complete snapshot, a start
// (with or without --join) resumes the join (docs/runtime.md, "Membership").
//
// Plain functions over one file; any thread.
#pragma once

#include <string>

#include "node/cluster_config.h"
#include "util/status.h"

namespace synod::node {

// Records durably (written to a temp file, fsynced, renamed, directory
// fsynced) that `data_dir` is the directory of replica `self` joining a
// running cluster. `data_dir` must exist. The I/O error otherwise.
Status RecordJoinMarker(const std::string& data_dir, const MemberAddress& self);

// True if `data_dir` holds the join marker (RecordJoinMarker ran there).
bool HasJoinMarker(const std::string& data_dir);

}  // namespace synod::node
