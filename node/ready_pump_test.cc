#include "node/ready_pump.h"

#include <gtest/gtest.h>

namespace synod::node {
namespace {

using namespace paxos;

// Holds writes until the test releases them.
class ManualPersister : public Persister {
 public:
  void Persist(std::optional<Ballot> promised, std::vector<SlotEntry> entries,
               std::vector<SlotEntry> chosen_marks, WritePlacement placement,
               std::function<void()> done) override {
    ASSERT_FALSE(pending_) << "at most one write outstanding";
    placement_ = placement;
    promised_ = promised;
    entries_ = std::move(entries);
    marks_in_synced_write_ = std::move(chosen_marks);
    pending_ = std::move(done);
  }
  void Complete() {
    auto done = std::move(pending_);
    pending_ = nullptr;
    done();
  }
  void WriteUnsynced(std::vector<SlotEntry> entries) override {
    ASSERT_FALSE(pending_) << "unsynced writes are queued behind the synced one";
    unsynced_.insert(unsynced_.end(), entries.begin(), entries.end());
  }
  void WriteCompaction(Slot through) override { compacted_ = through; }
  bool pending() const { return static_cast<bool>(pending_); }
  Slot compacted_ = 0;
  std::vector<SlotEntry> unsynced_;
  std::vector<SlotEntry> entries_;
  std::vector<SlotEntry> marks_in_synced_write_;
  std::optional<Ballot> promised_;
  WritePlacement placement_ = WritePlacement::kStorageThread;

 private:
  std::function<void()> pending_;
};

class RecordingNetwork : public MessageSink {
 public:
  void Send(const Message& message) override { sent.push_back(message); }
  std::vector<Message> sent;
};

class RecordingCommits : public CommitSink {
 public:
  void Apply(const CommittedEntry& entry) override { applied.push_back(entry); }
  void BatchApplied() override { batch_ends.push_back(applied.size()); }
  std::vector<CommittedEntry> applied;
  std::vector<size_t> batch_ends;  // applied.size() at each BatchApplied
};

TEST(ReadyPump, AcceptedLeavesOnlyAfterTheWriteIsDurable) {
  SplitMix64 random(1);
  Core follower(2, Configuration({1, 2, 3}), CoreOptions{}, random, {}, 0);
  ManualPersister persister;
  RecordingNetwork network;
  RecordingCommits commits;
  ReadyPump pump(follower, persister, network, commits);

  Ballot ballot{1, 1};
  follower.Step(Message{1, 2, Accept{ballot, 1, MakeCommandsValue({"x"}), 0}});
  pump.Pump();
  ASSERT_TRUE(persister.pending());
  ASSERT_EQ(persister.entries_.size(), 1u);
  EXPECT_EQ(persister.promised_, ballot);
  EXPECT_TRUE(network.sent.empty()) << "Accepted must wait for the write";
  EXPECT_EQ(persister.placement_, WritePlacement::kLoopNow) << "small, nothing to send first";

  persister.Complete();
  ASSERT_EQ(network.sent.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<Accepted>(network.sent[0].body));
  EXPECT_FALSE(persister.pending());
}

TEST(ReadyPump, ChosenMarkAloneIsWrittenUnsyncedAndBlocksNothing) {
  SplitMix64 random(1);
  Core follower(2, Configuration({1, 2, 3}), CoreOptions{}, random, {}, 0);
  ManualPersister persister;
  RecordingNetwork network;
  RecordingCommits commits;
  ReadyPump pump(follower, persister, network, commits);

  Ballot ballot{1, 1};
  follower.Step(Message{1, 2, Accept{ballot, 1, MakeCommandsValue({"x"}), 0}});
  pump.Pump();
  persister.Complete();
  // The leader says slot 1 is chosen: only the chosen mark changes.
  follower.Step(Message{1, 2, Heartbeat{ballot, 1}});
  pump.Pump();
  EXPECT_FALSE(persister.pending()) << "a chosen mark needs no synced write";
  ASSERT_EQ(persister.unsynced_.size(), 1u);
  EXPECT_EQ(persister.unsynced_[0].slot, 1u);
  EXPECT_TRUE(persister.unsynced_[0].entry.chosen);
  ASSERT_EQ(commits.applied.size(), 1u);

  // A new accept together with a mark: one synced write carries both.
  follower.Step(Message{1, 2, Accept{ballot, 3, MakeCommandsValue({"z"}), 0}});
  follower.Step(Message{1, 2, Accept{ballot, 2, MakeCommandsValue({"y"}), 0}});
  pump.Pump();
  persister.Complete();
  follower.Step(Message{1, 2, Accept{ballot, 4, MakeCommandsValue({"w"}), 2}});
  pump.Pump();
  ASSERT_TRUE(persister.pending());
  ASSERT_EQ(persister.entries_.size(), 1u) << "slot 4's accept";
  EXPECT_EQ(persister.entries_[0].slot, 4u);
  ASSERT_EQ(persister.marks_in_synced_write_.size(), 1u) << "slot 2's chosen mark, as a mark";
  EXPECT_EQ(persister.marks_in_synced_write_[0].slot, 2u);
  EXPECT_TRUE(persister.marks_in_synced_write_[0].entry.chosen);
  EXPECT_EQ(persister.unsynced_.size(), 1u);
  persister.Complete();
}

// BatchApplied follows the last entry of a Ready that commits some, once.
TEST(ReadyPump, BatchAppliedFollowsEachReadysCommittedEntries) {
  SplitMix64 random(1);
  Core follower(2, Configuration({1, 2, 3}), CoreOptions{}, random, {}, 0);
  ManualPersister persister;
  RecordingNetwork network;
  RecordingCommits commits;
  ReadyPump pump(follower, persister, network, commits);

  Ballot ballot{1, 1};
  follower.Step(Message{1, 2, Accept{ballot, 1, MakeCommandsValue({"x"}), 0}});
  follower.Step(Message{1, 2, Accept{ballot, 2, MakeCommandsValue({"y"}), 0}});
  pump.Pump();
  while (persister.pending()) persister.Complete();
  EXPECT_TRUE(commits.batch_ends.empty()) << "nothing committed yet";

  // Slots 1 and 2 are chosen together: one batch of two.
  follower.Step(Message{1, 2, Heartbeat{ballot, 2}});
  pump.Pump();
  ASSERT_EQ(commits.applied.size(), 2u);
  EXPECT_EQ(commits.batch_ends, std::vector<size_t>{2});

  // A Ready that commits nothing calls no BatchApplied.
  follower.Step(Message{1, 2, Accept{ballot, 3, MakeCommandsValue({"z"}), 2}});
  pump.Pump();
  while (persister.pending()) persister.Complete();
  EXPECT_EQ(commits.batch_ends, std::vector<size_t>{2});
}

// How many Accepted for `slot` were handed to the network.
size_t AcceptedFor(const RecordingNetwork& network, Slot slot) {
  size_t count = 0;
  for (const Message& m : network.sent) {
    const auto* accepted = std::get_if<Accepted>(&m.body);
    if (accepted != nullptr && accepted->slot == slot) ++count;
  }
  return count;
}

// The runtime's Apply may feed the core and call Pump again (an answer that
// triggers a proposal), and `done` pumps the next Ready: neither re-entry may
// send a reply before its own write is durable, drop one, or send one twice.
TEST(ReadyPump, ReentrantPumpsNeitherHurryNorLoseReplies) {
  SplitMix64 random(1);
  Core follower(2, Configuration({1, 2, 3}), CoreOptions{}, random, {}, 0);
  ManualPersister persister;
  RecordingNetwork network;
  Ballot ballot{1, 1};
  // Applies like RecordingCommits; on its first entry it also steps an
  // Accept for slot 2 into the core and pumps from inside Apply.
  class ReentrantCommits : public CommitSink {
   public:
    void Apply(const CommittedEntry& entry) override {
      applied.push_back(entry);
      if (applied.size() == 1) {
        core->Step(Message{1, 2, Accept{ballot, 2, MakeCommandsValue({"y"}), 1}});
        pump->Pump();
      }
    }
    Core* core = nullptr;
    ReadyPump* pump = nullptr;
    Ballot ballot;
    std::vector<CommittedEntry> applied;
  } commits;
  ReadyPump pump(follower, persister, network, commits);
  commits.core = &follower;
  commits.pump = &pump;
  commits.ballot = ballot;

  follower.Step(Message{1, 2, Accept{ballot, 1, MakeCommandsValue({"x"}), 0}});
  pump.Pump();
  persister.Complete();
  ASSERT_EQ(AcceptedFor(network, 1), 1u);

  // Slot 1 is chosen; applying it feeds slot 2's Accept and re-enters Pump.
  follower.Step(Message{1, 2, Heartbeat{ballot, 1}});
  pump.Pump();
  ASSERT_EQ(commits.applied.size(), 1u);
  ASSERT_TRUE(persister.pending()) << "slot 2's accept is being written";
  ASSERT_EQ(persister.entries_.size(), 1u);
  EXPECT_EQ(persister.entries_[0].slot, 2u);
  EXPECT_EQ(AcceptedFor(network, 2), 0u) << "slot 2's Accepted waits for its write";

  // Slot 3 arrives while that write runs; completing it pumps slot 3's write
  // from inside `done`.
  follower.Step(Message{1, 2, Accept{ballot, 3, MakeCommandsValue({"z"}), 1}});
  pump.Pump();
  persister.Complete();
  EXPECT_EQ(AcceptedFor(network, 2), 1u);
  ASSERT_TRUE(persister.pending()) << "slot 3's accept is being written";
  EXPECT_EQ(persister.entries_[0].slot, 3u);
  EXPECT_EQ(AcceptedFor(network, 3), 0u) << "slot 3's Accepted waits for its write";
  persister.Complete();
  EXPECT_EQ(AcceptedFor(network, 2), 1u);
  EXPECT_EQ(AcceptedFor(network, 3), 1u);
  EXPECT_FALSE(persister.pending());
}

TEST(ReadyPump, SingleReplicaCommitsThroughTheStorage) {
  SplitMix64 random(1);
  Core core(1, Configuration({1}), CoreOptions{}, random, {}, 0);
  ManualPersister persister;
  RecordingNetwork network;
  RecordingCommits commits;
  ReadyPump pump(core, persister, network, commits);
  for (int i = 0; i < 100 && core.Status().role != Role::kLeader; ++i) {
    core.Tick();
    pump.Pump();
    if (persister.pending()) persister.Complete();
  }
  ASSERT_EQ(core.Status().role, Role::kLeader);
  ASSERT_EQ(core.Propose({"a"}).status, ProposeResult::Status::kAccepted);
  pump.Pump();
  EXPECT_TRUE(commits.applied.empty()) << "not chosen before its own vote is durable";
  ASSERT_TRUE(persister.pending());
  persister.Complete();
  ASSERT_EQ(commits.applied.size(), 1u);
  EXPECT_EQ(commits.applied[0].value->commands[0], "a");
}

// A leader's small write may hold the loop only after its Accepts have left;
// a large one (under load) goes to the storage thread.
TEST(ReadyPump, WritesArePlacedBySizeAndByWhatMustLeaveFirst) {
  SplitMix64 random1(1);
  SplitMix64 random2(2);
  Core leader(1, Configuration({1, 2, 3}), CoreOptions{}, random1, {}, 0);
  Core other(2, Configuration({1, 2, 3}), CoreOptions{}, random2, {}, 0);
  ManualPersister persister;
  RecordingNetwork network;
  RecordingCommits commits;
  ReadyPump pump(leader, persister, network, commits);
  // Completes the leader's write, hands what it sent to replica 2 (whose
  // writes are taken as durable at once) and 2's answers back.
  auto exchange = [&] {
    for (int round = 0; round < 10; ++round) {
      if (persister.pending()) persister.Complete();
      std::vector<Message> sent = std::move(network.sent);
      network.sent.clear();
      for (const Message& m : sent) {
        if (m.to == 2) other.Step(m);
      }
      // Only 2's answers reach 1, so 2 cannot win an election of its own.
      auto answer = [&](const Message& m) {
        if (m.to == 1 &&
            (std::holds_alternative<PreVoteReply>(m.body) ||
             std::holds_alternative<Promise>(m.body) || std::holds_alternative<Accepted>(m.body))) {
          leader.Step(m);
        }
      };
      while (other.HasReady()) {
        Ready ready = other.TakeReady();
        for (const Message& m : ready.messages) answer(m);
        for (const Message& m : ready.messages_after_persist) answer(m);
        other.Advance();
      }
      pump.Pump();
    }
  };
  for (int i = 0; i < 500 && leader.Status().role != Role::kLeader; ++i) {
    leader.Tick();
    other.Tick();
    pump.Pump();
    exchange();
  }
  ASSERT_EQ(leader.Status().role, Role::kLeader);
  ASSERT_FALSE(persister.pending()) << "the election's writes are done";

  ASSERT_EQ(leader.Propose({"small"}).status, ProposeResult::Status::kAccepted);
  pump.Pump();
  ASSERT_TRUE(persister.pending());
  ASSERT_EQ(persister.entries_.size(), 1u);
  EXPECT_EQ(persister.entries_[0].entry.value->commands[0], "small");
  EXPECT_EQ(persister.placement_, WritePlacement::kLoopAfterSends);
  EXPECT_FALSE(network.sent.empty()) << "the Accepts were handed to the network first";
  exchange();

  ASSERT_EQ(leader.Propose({std::string(ReadyPump::kInlineWriteMaxBytes + 1, 'b')}).status,
            ProposeResult::Status::kAccepted);
  pump.Pump();
  ASSERT_TRUE(persister.pending());
  EXPECT_EQ(persister.placement_, WritePlacement::kStorageThread);
  exchange();
  ASSERT_GE(commits.applied.size(), 2u);
  EXPECT_EQ(commits.applied.back().value->commands[0].size(), ReadyPump::kInlineWriteMaxBytes + 1);
}

}  // namespace
}  // namespace synod::node
