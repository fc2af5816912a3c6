#include "tests/sim/sim_types.h"

#include <sstream>

namespace synod::sim {

Break ParseBreak(const std::string& name) {
  if (name == "skip-persist") return Break::kSkipPersist;
  if (name == "small-quorum") return Break::kSmallQuorum;
  if (name == "no-dedup") return Break::kNoDedup;
  if (name == "hide-compaction") return Break::kHideCompaction;
  if (name == "stale-snapshot") return Break::kStaleSnapshot;
  if (name == "stale-commit-point") return Break::kStaleCommitPoint;
  if (name == "resend-expired") return Break::kResendExpired;
  if (name == "config-before-own-value") return Break::kConfigBeforeOwnValue;
  if (name == "two-configs-in-flight") return Break::kTwoConfigsInFlight;
  if (name == "stale-config-quorum") return Break::kStaleConfigQuorum;
  if (name == "count-ahead") return Break::kCountAhead;
  if (name == "keep-old-promises") return Break::kKeepOldPromises;
  if (name == "propose-over-gap") return Break::kProposeOverGap;
  if (name == "transfer-never-ends") return Break::kTransferNeverEnds;
  if (name == "none") return Break::kNone;
  throw std::invalid_argument("unknown --break variant '" + name +
                              "' (expected skip-persist, small-quorum, no-dedup, hide-compaction, "
                              "stale-snapshot, stale-commit-point, resend-expired, "
                              "config-before-own-value, two-configs-in-flight, "
                              "stale-config-quorum, count-ahead, keep-old-promises, "
                              "propose-over-gap or transfer-never-ends)");
}

std::string BreakName(Break broken) {
  switch (broken) {
    case Break::kNone:
      return "none";
    case Break::kSkipPersist:
      return "skip-persist";
    case Break::kSmallQuorum:
      return "small-quorum";
    case Break::kNoDedup:
      return "no-dedup";
    case Break::kHideCompaction:
      return "hide-compaction";
    case Break::kStaleSnapshot:
      return "stale-snapshot";
    case Break::kStaleCommitPoint:
      return "stale-commit-point";
    case Break::kResendExpired:
      return "resend-expired";
    case Break::kConfigBeforeOwnValue:
      return "config-before-own-value";
    case Break::kTwoConfigsInFlight:
      return "two-configs-in-flight";
    case Break::kStaleConfigQuorum:
      return "stale-config-quorum";
    case Break::kCountAhead:
      return "count-ahead";
    case Break::kKeepOldPromises:
      return "keep-old-promises";
    case Break::kProposeOverGap:
      return "propose-over-gap";
    case Break::kTransferNeverEnds:
      return "transfer-never-ends";
  }
  return "none";
}

paxos::MembershipBreak MembershipRuleBroken(Break broken) {
  switch (broken) {
    case Break::kConfigBeforeOwnValue:
      return paxos::MembershipBreak::kConfigBeforeOwnValue;
    case Break::kTwoConfigsInFlight:
      return paxos::MembershipBreak::kTwoConfigsInFlight;
    case Break::kStaleConfigQuorum:
      return paxos::MembershipBreak::kStaleConfigQuorum;
    case Break::kCountAhead:
      return paxos::MembershipBreak::kCountAhead;
    case Break::kKeepOldPromises:
      return paxos::MembershipBreak::kKeepOldPromises;
    case Break::kProposeOverGap:
      return paxos::MembershipBreak::kProposeOverGap;
    default:
      return paxos::MembershipBreak::kNone;
  }
}

bool MembershipRun(const SimOptions& options) {
  if (options.force_membership || !options.also_broken.empty() ||
      MembershipRuleBroken(options.broken) != paxos::MembershipBreak::kNone) {
    return true;
  }
  return (options.seed * 0xD1B54A32D192ED03ull >> 40) % 4 == 0;
}

std::string ClientCommand::Encode() const {
  return op + " " + std::to_string(client) + " " + std::to_string(seq) + " " +
         std::to_string(value) + (session != 0 ? " " + std::to_string(session) : "");
}

ClientCommand ClientCommand::Decode(const std::string& text) {
  std::istringstream in(text);
  ClientCommand command;
  if (!(in >> command.op >> command.client >> command.seq >> command.value) ||
      (command.op != "add" && command.op != "get") ||
      (!(in >> std::ws).eof() &&
       (!(in >> command.session) || command.session == 0 || !(in >> std::ws).eof()))) {
    throw SimViolation("a chosen command was never proposed by any client: '" + text + "'");
  }
  return command;
}

}  // namespace synod::sim
