// Tests of the Election recipe's option checks: a candidate, name or ttl the
// lock could never accept is refused at construction with a clear error
// (instead of campaigning forever against `error: bad owner name`).
#include "examples/lock/election.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "examples/lock/lock_state_machine.h"

namespace synod::examples {
namespace {

ElectionOptions Good() { return {"leader", "worker-1", 2000}; }

TEST(ElectionOptions, AcceptsUsableOptions) {
  EXPECT_EQ(Election::OptionsProblem(Good()), "");
  ElectionOptions longest = Good();
  longest.candidate = std::string(Election::kMaxCandidateLength, 'c');
  EXPECT_EQ(Election::OptionsProblem(longest), "");
}

TEST(ElectionOptions, RefusesBadCandidateNameAndTtl) {
  ElectionOptions options = Good();
  options.candidate = std::string(Election::kMaxCandidateLength + 1, 'c');
  EXPECT_NE(Election::OptionsProblem(options).find("candidate"), std::string::npos);
  options.candidate = "";
  EXPECT_NE(Election::OptionsProblem(options).find("candidate"), std::string::npos);
  options.candidate = "has space";
  EXPECT_NE(Election::OptionsProblem(options).find("candidate"), std::string::npos);
  options = Good();
  options.name = "";
  EXPECT_NE(Election::OptionsProblem(options).find("name"), std::string::npos);
  options = Good();
  options.ttl_ms = 0;
  EXPECT_NE(Election::OptionsProblem(options).find("ttl"), std::string::npos);
  options.ttl_ms = LockStateMachine::kMaxTtlMs + 1;
  EXPECT_NE(Election::OptionsProblem(options).find("ttl"), std::string::npos);
}

TEST(ElectionOptions, ConstructorThrowsForATooLongCandidate) {
  transport::EventLoop loop;
  node::ClientOptions client_options;
  client_options.cluster.members.push_back({1, "127.0.0.1", 1});
  node::Client client(loop, client_options);
  ElectionOptions options = Good();
  options.candidate = std::string(Election::kMaxCandidateLength + 1, 'c');
  try {
    Election election(loop, client, options);
    FAIL() << "a candidate over " << Election::kMaxCandidateLength << " characters was accepted";
  } catch (const std::invalid_argument& error) {
    EXPECT_NE(std::string(error.what()).find("candidate"), std::string::npos) << error.what();
  }
  EXPECT_NO_THROW(Election(loop, client, Good()));
}

}  // namespace
}  // namespace synod::examples
