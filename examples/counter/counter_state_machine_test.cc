// Tests of the counter example: "add N key K" applies once per key whoever
// sends it, a repeat returns the counter marked "duplicate" and changes
// nothing, bad keys and refusals change nothing, keys survive a snapshot
// (and a snapshot without keys is the one-chunk format from before keys).
#include "examples/counter/counter_state_machine.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace synod::examples {
namespace {

using statemachine::ApplyContext;

// Collects snapshot chunks; hands them back in order.
class Buffer : public statemachine::SnapshotWriter, public statemachine::SnapshotReader {
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

std::string Apply(CounterStateMachine& m, const std::string& command) {
  return m.Apply(command, ApplyContext{});
}

TEST(CounterStateMachine, AddAndGet) {
  CounterStateMachine m;
  EXPECT_EQ(Apply(m, "add 5"), "5");
  EXPECT_EQ(Apply(m, "add 5"), "10");  // without a key, every add adds
  EXPECT_EQ(Apply(m, "add -3"), "7");
  EXPECT_EQ(Apply(m, "get"), "7");
  EXPECT_EQ(Apply(m, "add x"), "error: bad number");
  EXPECT_EQ(Apply(m, "mul 2"), "error: unknown command");
  EXPECT_EQ(m.value(), 7);
}

TEST(CounterStateMachine, KeyedAddAppliesOncePerKey) {
  CounterStateMachine m;
  EXPECT_EQ(Apply(m, CounterStateMachine::AddCommand(1, "job-7")), "1");
  EXPECT_EQ(Apply(m, CounterStateMachine::AddCommand(1, "job-7")), "1 duplicate");
  EXPECT_EQ(Apply(m, "add 100 key job-7"), "1 duplicate");  // the key decides, not N
  EXPECT_EQ(Apply(m, "add 1 key job-8"), "2");
  EXPECT_EQ(Apply(m, "add 1"), "3");
  EXPECT_EQ(Apply(m, "add 1 key job-7"), "3 duplicate");
  EXPECT_EQ(m.value(), 3);
}

TEST(CounterStateMachine, BadKeysAndRefusalsChangeNothing) {
  CounterStateMachine m;
  EXPECT_EQ(Apply(m, "add 1 key "), "error: bad key");
  EXPECT_EQ(Apply(m, "add 1 key a b"), "error: bad key");
  EXPECT_EQ(Apply(m, "add 1 key " + std::string(CounterStateMachine::kMaxKeyLength + 1, 'k')),
            "error: bad key");
  EXPECT_EQ(Apply(m, "add x key k"), "error: bad number");
  EXPECT_EQ(Apply(m, "add 9223372036854775807 key big"), "9223372036854775807");
  // Overflow is refused and does not spend the key.
  EXPECT_EQ(Apply(m, "add 1 key k"), "error: overflow");
  EXPECT_EQ(Apply(m, "add -1 key k"), "9223372036854775806");
  EXPECT_TRUE(CounterStateMachine::ValidKey(std::string(CounterStateMachine::kMaxKeyLength, 'k')));
}

TEST(CounterStateMachine, TooManyKeysIsRefused) {
  CounterStateMachine m;
  for (size_t i = 0; i < CounterStateMachine::kMaxKeys; ++i) {
    ASSERT_EQ(Apply(m, "add 1 key k" + std::to_string(i)), std::to_string(i + 1));
  }
  EXPECT_EQ(Apply(m, "add 1 key one-more"), "error: too many keys");
  EXPECT_EQ(Apply(m, "add 1 key k0"), std::to_string(CounterStateMachine::kMaxKeys) + " duplicate");
  EXPECT_EQ(Apply(m, "add 1"), std::to_string(CounterStateMachine::kMaxKeys + 1));
}

TEST(CounterStateMachine, SnapshotKeepsKeys) {
  CounterStateMachine m;
  Apply(m, "add 4");
  Buffer plain;
  m.Snapshot(plain);
  EXPECT_EQ(plain.chunks, std::vector<std::string>{"4"});  // as before keys existed

  Apply(m, "add 1 key b");
  Apply(m, "add 1 key a");
  Buffer b;
  m.Snapshot(b);
  EXPECT_EQ(b.chunks, (std::vector<std::string>{"6", "a", "b"}));
  CounterStateMachine restored;
  Apply(restored, "add 1 key c");  // Restore replaces everything
  ASSERT_TRUE(restored.Restore(b));
  EXPECT_EQ(Apply(restored, "add 1 key a"), "6 duplicate");
  EXPECT_EQ(Apply(restored, "add 1 key c"), "7");

  CounterStateMachine old_format;
  ASSERT_TRUE(old_format.Restore(plain));
  EXPECT_EQ(old_format.value(), 4);

  Buffer bad;
  bad.chunks = {"6", "a", "a"};
  EXPECT_FALSE(restored.Restore(bad));
  bad = Buffer();
  bad.chunks = {"6", "a b"};
  EXPECT_FALSE(restored.Restore(bad));
}

}  // namespace
}  // namespace synod::examples
