// Tests the README's StateMachine example (extracted from README.md into
// readme_state_machine.h at configure time): it compiles with -Wall -Wextra
// -Werror, validates its input instead of throwing, and round-trips snapshots.
#include <gtest/gtest.h>

#include <vector>

#include "readme_state_machine.h"

namespace {

using synod::statemachine::ApplyContext;

class Chunks final : public synod::statemachine::SnapshotWriter,
                     public synod::statemachine::SnapshotReader {
 public:
  void Write(std::string_view chunk) override { chunks.emplace_back(chunk); }
  bool Read(std::string& chunk) override {
    if (next >= chunks.size()) return false;
    chunk = chunks[next++];
    return true;
  }
  std::vector<std::string> chunks;
  size_t next = 0;
};

TEST(ReadmeExample, AddsGetsAndAnswersBadInputWithoutThrowing) {
  CounterStateMachine counter;
  ApplyContext context;
  EXPECT_EQ(counter.Apply("add 5", context), "5");
  EXPECT_EQ(counter.Apply("add -2", context), "3");
  for (const char* bad : {"add x", "add ", "add 5x", "add 99999999999999999999", "sub 1", ""}) {
    std::string result;
    EXPECT_NO_THROW(result = counter.Apply(bad, context)) << bad;
    EXPECT_EQ(result.rfind("error:", 0), 0u) << bad << " -> " << result;
  }
  EXPECT_EQ(counter.Apply("add 9223372036854775807", context), "error: overflow");
  EXPECT_EQ(counter.Apply("get", context), "3");
}

TEST(ReadmeExample, SnapshotsRoundTripAndBadSnapshotsAreRefused) {
  CounterStateMachine counter;
  counter.Apply("add 42", ApplyContext{});
  Chunks snapshot;
  counter.Snapshot(snapshot);
  CounterStateMachine restored;
  ASSERT_TRUE(restored.Restore(snapshot));
  EXPECT_EQ(restored.Apply("get", ApplyContext{}), "42");
  Chunks garbage;
  garbage.chunks = {"not a number"};
  bool ok = true;
  EXPECT_NO_THROW(ok = restored.Restore(garbage));
  EXPECT_FALSE(ok);
  Chunks empty;
  EXPECT_FALSE(restored.Restore(empty));
}

}  // namespace
