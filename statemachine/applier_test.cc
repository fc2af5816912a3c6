// Tests of the state-machine layer: envelopes, exactly-once sessions (dedup
// with repeated and out-of-order sequence numbers, the mark, expiry identical
// on every replica), replay after a crash, and snapshot round trips.
#include "statemachine/applier.h"

#include <gtest/gtest.h>

#include <memory>

#include "paxos/invariant.h"

namespace synod::statemachine {
namespace {

// A counter: "add N" adds, "get" reads; results are the value after.
class TestCounter : public StateMachine {
 public:
  std::string Apply(std::string_view command, const ApplyContext&) override {
    ++applies;
    if (command.rfind("add ", 0) == 0) value += std::stoll(std::string(command.substr(4)));
    return std::to_string(value);
  }
  void Snapshot(SnapshotWriter& out) const override { out.Write(std::to_string(value)); }
  bool Restore(SnapshotReader& in) override {
    std::string chunk;
    if (!in.Read(chunk)) return false;
    value = std::stoll(chunk);
    return true;
  }
  int64_t value = 0;
  int applies = 0;
};

std::string Command(uint64_t session, uint64_t seq, uint64_t lowest, const std::string& payload,
                    uint64_t stamp = 0) {
  Envelope e;
  e.kind = EnvelopeKind::kCommand;
  e.session = session;
  e.sequence = seq;
  e.lowest_unanswered = lowest;
  e.payload = payload;
  e.stamp_ms = stamp;
  return EncodeEnvelope(e);
}

std::string Register(uint64_t nonce, uint64_t stamp = 0) {
  Envelope e;
  e.kind = EnvelopeKind::kRegisterSession;
  e.session = nonce;
  e.stamp_ms = stamp;
  return EncodeEnvelope(e);
}

std::string Tick(uint64_t stamp) {
  Envelope e;
  e.kind = EnvelopeKind::kTick;
  e.stamp_ms = stamp;
  return EncodeEnvelope(e);
}

// Feeds slots 1, 2, ... one batch each.
class Log {
 public:
  explicit Log(Applier& applier) : applier_(applier) {}
  std::vector<CommandOutcome> Slot(std::vector<std::string> batch) {
    return applier_.Apply(
        paxos::CommittedEntry{++slot_, paxos::MakeCommandsValue(std::move(batch))});
  }
  std::vector<CommandOutcome> Noop() {
    return applier_.Apply(paxos::CommittedEntry{++slot_, paxos::NoopValue()});
  }

 private:
  Applier& applier_;
  paxos::Slot slot_ = 0;
};

TEST(Envelope, RoundTripsAndRejectsGarbage) {
  std::string bytes = Command(7, 3, 2, "add 5", 99);
  std::optional<Envelope> e = DecodeEnvelope(bytes);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->session, 7u);
  EXPECT_EQ(e->sequence, 3u);
  EXPECT_EQ(e->lowest_unanswered, 2u);
  EXPECT_EQ(e->payload, "add 5");
  EXPECT_EQ(e->stamp_ms, 99u);
  EXPECT_EQ(DecodeEnvelope(RestampEnvelope(bytes, 1234))->stamp_ms, 1234u);
  EXPECT_EQ(DecodeEnvelope(Register(42))->session, 42u);
  EXPECT_FALSE(DecodeEnvelope(""));
  EXPECT_FALSE(DecodeEnvelope("add 5"));
  for (size_t cut = 1; cut < 34; ++cut) EXPECT_FALSE(DecodeEnvelope(bytes.substr(0, cut))) << cut;
}

TEST(Applier, RegistersSessionsAndAppliesOnce) {
  TestCounter counter;
  Applier applier(counter, SessionOptions{});
  Log log(applier);
  auto registered = log.Slot({Register(111)});
  ASSERT_EQ(registered.size(), 1u);
  EXPECT_EQ(registered[0].nonce, 111u);
  uint64_t session = registered[0].session;
  EXPECT_EQ(registered[0].result, std::to_string(session));

  auto first = log.Slot({Command(session, 1, 1, "add 5")});
  EXPECT_EQ(first[0].result, "5");
  // The same command again (a retry after failover), even in one batch twice.
  auto again = log.Slot({Command(session, 1, 1, "add 5"), Command(session, 1, 1, "add 5")});
  EXPECT_TRUE(again[0].duplicate);
  EXPECT_EQ(again[0].result, "5");
  EXPECT_EQ(again[1].result, "5");
  EXPECT_EQ(counter.value, 5);
  EXPECT_EQ(counter.applies, 1);
}

TEST(Applier, OutOfOrderSequenceNumbersAreEachAppliedOnce) {
  TestCounter counter;
  Applier applier(counter, SessionOptions{});
  Log log(applier);
  uint64_t session = log.Slot({Register(1)})[0].session;
  // Commands 1..3 in flight; after a failover 3 and 2 land before 1.
  log.Slot({Command(session, 3, 1, "add 100")});
  log.Slot({Command(session, 2, 1, "add 10")});
  log.Slot({Command(session, 1, 1, "add 1")});
  log.Slot({Command(session, 2, 1, "add 10"), Command(session, 3, 1, "add 100")});
  EXPECT_EQ(counter.value, 111);
  EXPECT_EQ(counter.applies, 3);
}

TEST(Applier, BelowTheMarkAndUnknownSessionsAreRefusedNotApplied) {
  TestCounter counter;
  Applier applier(counter, SessionOptions{});
  Log log(applier);
  uint64_t session = log.Slot({Register(1)})[0].session;
  log.Slot({Command(session, 1, 1, "add 1")});
  log.Slot({Command(session, 2, 2, "add 2")});  // the client saw 1's answer
  auto stale = log.Slot({Command(session, 1, 1, "add 1")});
  EXPECT_EQ(stale[0].status, CommandOutcome::Status::kSessionExpired);
  auto unknown = log.Slot({Command(999, 1, 1, "add 50")});
  EXPECT_EQ(unknown[0].status, CommandOutcome::Status::kSessionExpired);
  auto garbage = log.Slot({"not an envelope"});
  EXPECT_EQ(garbage[0].status, CommandOutcome::Status::kInvalid);
  EXPECT_EQ(counter.value, 3);
}

TEST(Applier, SessionExpiryFollowsLogTimeIdenticallyEverywhere) {
  SessionOptions options;
  options.expiry_ms = 1000;
  // The same log fed to two replicas' appliers.
  std::vector<std::vector<std::string>> batches = {
      {Register(1, 100), Register(2, 100)},
      {Command(1, 1, 1, "add 1", 500)},
      {Tick(1050)},                             // session 2 idle for 950 ms: alive
      {Command(2, 1, 1, "add 2", 1099)},        // still alive (999 ms)
      {Tick(1200), Command(1, 2, 2, "add 3")},  // session 1: 700 ms idle
      {Tick(2300)},
      {Command(1, 3, 3, "add 4"), Command(2, 2, 2, "add 5")},  // both idle > 1000
      {Tick(500)},  // a lagging leader's stamp: time never goes back
  };
  std::vector<std::vector<CommandOutcome::Status>> seen[2];
  for (int replica = 0; replica < 2; ++replica) {
    TestCounter counter;
    Applier applier(counter, options);
    Log log(applier);
    for (const auto& batch : batches) {
      std::vector<CommandOutcome::Status> statuses;
      for (const auto& outcome : log.Slot(batch)) statuses.push_back(outcome.status);
      seen[replica].push_back(statuses);
    }
    EXPECT_EQ(counter.value, 6);
    EXPECT_EQ(applier.log_time_ms(), 2300u);
  }
  EXPECT_EQ(seen[0], seen[1]);
  using S = CommandOutcome::Status;
  EXPECT_EQ(seen[0][6], (std::vector<S>{S::kSessionExpired, S::kSessionExpired}));
  EXPECT_EQ(seen[0][3], (std::vector<S>{S::kOk}));
}

TEST(Applier, ReplayAfterACrashRebuildsTheSameStateWithoutDoubleApplication) {
  std::vector<std::vector<std::string>> batches = {{Register(1)},
                                                   {Command(1, 1, 1, "add 5")},
                                                   {Command(1, 1, 1, "add 5")},
                                                   {Command(1, 2, 1, "add 7")},
                                                   {Command(1, 2, 2, "add 7")}};
  auto run = [&](size_t upto) {
    TestCounter counter;
    Applier applier(counter, SessionOptions{});
    Log log(applier);
    for (size_t i = 0; i < upto; ++i) log.Slot(batches[i]);
    return std::make_pair(counter.value, applier.applied());
  };
  auto before_crash = run(3);
  auto after_restart = run(batches.size());  // in-memory state is rebuilt from slot 1
  EXPECT_EQ(before_crash.first, 5);
  EXPECT_EQ(after_restart.first, 12);
  EXPECT_EQ(after_restart.second, batches.size());
}

class StringWriter : public SnapshotWriter {
 public:
  void Write(std::string_view chunk) override { chunks.emplace_back(chunk); }
  std::vector<std::string> chunks;
};
class StringReader : public SnapshotReader {
 public:
  explicit StringReader(std::vector<std::string> chunks) : chunks_(std::move(chunks)) {}
  bool Read(std::string& chunk) override {
    if (next_ >= chunks_.size()) return false;
    chunk = chunks_[next_++];
    return true;
  }

 private:
  std::vector<std::string> chunks_;
  size_t next_ = 0;
};

TEST(Applier, SnapshotRestoresStateIndexAndSessionsTogether) {
  TestCounter counter;
  Applier applier(counter, SessionOptions{});
  Log log(applier);
  uint64_t session = log.Slot({Register(1, 10)})[0].session;
  log.Slot({Command(session, 1, 1, "add 5", 20)});
  StringWriter snapshot;
  applier.Snapshot(snapshot);

  TestCounter restored_counter;
  Applier restored(restored_counter, SessionOptions{});
  StringReader reader(snapshot.chunks);
  ASSERT_TRUE(restored.Restore(reader));
  EXPECT_EQ(restored.applied(), 2u);
  EXPECT_EQ(restored.log_time_ms(), 20u);
  EXPECT_EQ(restored_counter.value, 5);
  // A retry arriving after the restore is still deduplicated.
  auto retry = restored.Apply(
      paxos::CommittedEntry{3, paxos::MakeCommandsValue({Command(session, 1, 1, "add 5")})});
  EXPECT_TRUE(retry[0].duplicate);
  EXPECT_EQ(restored_counter.value, 5);

  StringReader bad({"garbage"});
  TestCounter other;
  Applier rejecting(other, SessionOptions{});
  EXPECT_FALSE(rejecting.Restore(bad));
}

TEST(Applier, TheFirstClusterIdAppliedWins) {
  TestCounter counter;
  Applier applier(counter, SessionOptions{});
  Log log(applier);
  Envelope first, second;
  first.kind = second.kind = EnvelopeKind::kClusterId;
  first.session = 77;
  second.session = 88;
  auto outcomes = log.Slot({EncodeEnvelope(first), EncodeEnvelope(second)});
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes[0].session, 77u);
  EXPECT_EQ(applier.cluster_id(), 77u);
}

TEST(Applier, AppliesOnlyInSlotOrder) {
  TestCounter counter;
  Applier applier(counter, SessionOptions{});
  EXPECT_THROW(applier.Apply(paxos::CommittedEntry{2, paxos::NoopValue()}), InvariantViolation);
}

}  // namespace
}  // namespace synod::statemachine
