// The `synod-sim lessons two-leaders` subcommand: replays one random
// simulator run by seed (tests/sim/random_run.h, the same schedule
// `synod-sim --seed S --runs 1` runs) while watching it, finds the simulated
// times at which two running replicas both believe they lead (role leader,
// different ballots), and narrates what each ballot achieved then: slots
// chosen (ground truth: a true majority durably accepted it in that ballot),
// Accepts refused, client commands offered to it, and whether the clients'
// history is linearizable.
//
//   synod-sim lessons two-leaders [--seed S] [--replicas 3|5|7] [--break NAME] [--check]
//
// Exit 0 after the narration; 2 if the run shows no moment with two leaders
// (the message says so; try another seed); 1 if the run had a safety
// violation, or with --check if a claim of the lesson failed (each named);
// 64 for a usage error.
#pragma once

#include <cstdint>
#include <ostream>

namespace synod::sim::lessons {

// Entry point; `argv` starts after "two-leaders". Returns the exit status.
int TwoLeadersMain(int argc, char** argv, std::ostream& out, std::ostream& err);

}  // namespace synod::sim::lessons
