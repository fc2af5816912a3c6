// `synod-bench gap`: the longest time clients see no commit while a
// disruption runs (disruption.h), against a quiet window of the same length.
#pragma once

#include <string>

#include "node/cli.h"

namespace synod::benchmarks {

// Usage lines of `gap`.
std::string GapUsage();

// Runs `synod-bench gap` with `flags`. Starts its own cluster (BenchCluster),
// runs --clients closed-loop callers on one Client, and after a quiet window
// of --duration-s runs the --event disruption on a thread of its own, then
// measures for max(--duration-s, the disruption's length) more. Prints one
// report line on stdout (progress and the disruption's steps on stderr).
// Exit: 0 with the report when every command succeeded and commits resumed;
// 1 with the report and a loud reason on stderr when a command failed, its
// outcome is unknown, it got no answer, commits did not resume, or the
// disruption could not finish; 2 when `--event transfer` is asked of a
// build without leadership transfer (before starting anything); 64 on bad
// flags (the problem and `usage` on stderr).
int RunGapCommand(const node::CliFlags& flags, const std::string& usage);

}  // namespace synod::benchmarks
