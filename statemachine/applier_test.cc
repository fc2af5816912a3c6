// Tests of the state-machine layer: envelopes, exactly-once sessions (dedup
// with repeated and out-of-order sequence numbers, the mark, expiry identical
// on every replica), replay after a crash, and snapshot round trips.
#include "statemachine/applier.h"

#include <gtest/gtest.h>
#include <kj/debug.h>
#include <kj/exception.h>

#include <memory>
#include <new>
#include <optional>
#include <random>
#include <stdexcept>

#include "paxos/configuration.h"
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

std::string Register(uint64_t nonce, uint64_t stamp = 0, SessionLimits limits = {},
                     uint64_t expiry_ms = 0) {
  Envelope e;
  e.kind = EnvelopeKind::kRegisterSession;
  e.session = nonce;
  e.stamp_ms = stamp;
  e.max_sessions = limits.max_sessions;
  e.max_session_results = limits.max_results;
  e.max_session_result_bytes = limits.max_result_bytes;
  e.expiry_ms = expiry_ms;
  return EncodeEnvelope(e);
}

std::string Tick(uint64_t stamp, std::optional<paxos::Ballot> ballot = std::nullopt) {
  Envelope e;
  e.kind = EnvelopeKind::kTick;
  e.stamp_ms = stamp;
  e.stamp_ballot = ballot;
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
  std::vector<CommandOutcome> Value(paxos::ValuePtr value) {
    return applier_.Apply(paxos::CommittedEntry{++slot_, std::move(value)});
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
  EXPECT_EQ(DecodeEnvelope(RestampEnvelope(bytes, 1234, paxos::Ballot{3, 1}))->stamp_ms, 1234u);
  EXPECT_EQ(EnvelopeStamp(bytes), 99u);
  EXPECT_EQ(EnvelopeStamp(Tick(5000)), 5000u);
  EXPECT_EQ(EnvelopeStamp("add 5"), 0u);
  EXPECT_EQ(EnvelopeStamp(bytes.substr(0, 9)), 0u);
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

// A configuration change is the runtime's: the slot counts as applied, the
// user's machine never sees it, and the commands around it apply as usual.
TEST(Applier, AConfigurationChangeNeverReachesTheStateMachine) {
  TestCounter counter;
  Applier applier(counter, SessionOptions{});
  Log log(applier);
  uint64_t session = log.Slot({Register(7)})[0].session;
  EXPECT_EQ(log.Slot({Command(session, 1, 1, "add 2")})[0].result, "2");
  paxos::Configuration next = paxos::Configuration({1, 2, 3}).WithLearner(4, "127.0.0.1:7004");
  EXPECT_TRUE(log.Value(paxos::MakeConfigurationValue(0, next)).empty());
  EXPECT_EQ(applier.applied(), 3u);
  EXPECT_EQ(log.Slot({Command(session, 2, 2, "add 3")})[0].result, "5");
  EXPECT_EQ(counter.applies, 2);
}

// The applier follows the configuration through the log with the core's rule
// (paxos::NextConfiguration): a change takes effect only if derived from the
// configuration in effect, and its slot is recorded.
TEST(Applier, TracksTheConfigurationSetByChosenChanges) {
  const paxos::Configuration initial({1, 2, 3});
  TestCounter counter;
  Applier applier(counter, SessionOptions{}, initial);
  EXPECT_EQ(applier.config(), (paxos::ConfigAt{0, initial}));
  Log log(applier);
  log.Slot({Register(7)});
  paxos::Configuration with_learner = initial.WithLearner(4, "127.0.0.1:7004");
  log.Value(paxos::MakeConfigurationValue(0, with_learner));  // slot 2
  EXPECT_EQ(applier.config(), (paxos::ConfigAt{2, with_learner}));
  // Derived from the configuration of slot 0, no longer in effect: void.
  log.Value(paxos::MakeConfigurationValue(0, initial.WithRemoved(3)));  // slot 3
  EXPECT_EQ(applier.config(), (paxos::ConfigAt{2, with_learner}));
  paxos::Configuration promoted = with_learner.WithPromoted(4);
  log.Value(paxos::MakeConfigurationValue(2, promoted));  // slot 4
  log.Slot({Tick(5)});
  EXPECT_EQ(applier.config(), (paxos::ConfigAt{4, promoted}));
  EXPECT_EQ(applier.applied(), 5u);
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

// A session's expiry travels in its registration entry: replicas configured
// with different defaults (different --session-expiry-ms) still decide
// expiry identically, and a snapshot keeps each session's own expiry.
TEST(Applier, SessionExpiryRecordedInTheLogWinsOverEachReplicasDefault) {
  std::vector<std::vector<std::string>> batches = {
      {Register(1, 100, {}, 500), Register(2, 100)},  // 1: 500 ms; 2: the applier's default
      {Command(1, 1, 1, "add 1", 550)},
      {Tick(1060)},
      {Command(1, 2, 2, "add 2"), Command(2, 1, 1, "add 3")},  // 1 idle 510 ms: expired
  };
  using S = CommandOutcome::Status;
  for (uint64_t default_expiry : {100u, 400000u}) {
    SessionOptions options;
    options.expiry_ms = default_expiry;
    TestCounter counter;
    Applier applier(counter, options);
    Log log(applier);
    std::vector<CommandOutcome> last;
    for (size_t i = 0; i < 3; ++i) log.Slot(batches[i]);
    // Snapshot and restore before the deciding slot: the expiry survives it.
    StringWriter snapshot;
    applier.Snapshot(snapshot);
    TestCounter restored_counter;
    Applier restored(restored_counter, options);
    StringReader reader(snapshot.chunks);
    ASSERT_TRUE(restored.Restore(reader));
    last = restored.Apply(paxos::CommittedEntry{4, paxos::MakeCommandsValue(batches[3])});
    ASSERT_EQ(last.size(), 2u);
    EXPECT_EQ(last[0].status, S::kSessionExpired) << "default " << default_expiry;
    // Session 2 carries no expiry: the default decides (old entries).
    EXPECT_EQ(last[1].status, default_expiry == 100u ? S::kSessionExpired : S::kOk);
  }
  std::optional<Envelope> decoded = DecodeEnvelope(Register(9, 1, {}, 1234));
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->expiry_ms, 1234u);
  EXPECT_EQ(decoded->max_sessions, 0u);
  EXPECT_EQ(decoded->max_session_results, 0u);
  decoded = DecodeEnvelope(Register(9, 1, SessionLimits{3, 4}, 1234));
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->max_sessions, 3u);
  EXPECT_EQ(decoded->max_session_results, 4u);
  EXPECT_EQ(decoded->expiry_ms, 1234u);
  EXPECT_EQ(DecodeEnvelope(Register(9, 1))->expiry_ms, 0u);
  EXPECT_EQ(DecodeEnvelope(Register(9, 1, SessionLimits{3, 4}))->expiry_ms, 0u);
  // The expiry follows all three limits (each written, 0 for none).
  std::string full = Register(9, 1, SessionLimits{3, 4}, 1234);
  EXPECT_EQ(full.size(), 18u + 32u);
  EXPECT_EQ(DecodeEnvelope(full)->max_session_result_bytes, 0u);
  decoded = DecodeEnvelope(Register(9, 1, SessionLimits{3, 4, 5}, 1234));
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->max_session_result_bytes, 5u);
  EXPECT_EQ(decoded->expiry_ms, 1234u);
  // An explicit 0 expiry is not valid, nor a tail of expiry alone.
  std::string limited = Register(9, 1, SessionLimits{3, 4, 5});
  EXPECT_FALSE(DecodeEnvelope(limited + std::string(8, '\0')));
  EXPECT_FALSE(DecodeEnvelope(Register(9, 1) + std::string(8, '\x01')));
  EXPECT_FALSE(DecodeEnvelope(full + "x"));
  EXPECT_FALSE(DecodeEnvelope(full.substr(0, full.size() - 1)));
}

// Snapshots written before sessions carried their expiry still restore.
TEST(Applier, RestoresTheOlderSnapshotFormatWithTheDefaultExpiry) {
  auto u64 = [](uint64_t v) {
    std::string out;
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
    return out;
  };
  // applied 2, log time 20, cluster 0; next id 2; session 1: active at 20,
  // mark 1, result of sequence 1 "5".
  std::string header = "SYNODSNAP2" + u64(2) + u64(20) + u64(0) + u64(2) + u64(1) + u64(1) +
                       u64(20) + u64(1) + u64(1) + u64(1) + u64(1) + "5";
  SessionOptions options;
  options.expiry_ms = 1000;
  TestCounter counter;
  Applier applier(counter, options);
  StringReader reader({header, "5"});
  ASSERT_TRUE(applier.Restore(reader));
  auto retry = applier.Apply(
      paxos::CommittedEntry{3, paxos::MakeCommandsValue({Command(1, 1, 1, "add 5", 1000)})});
  EXPECT_TRUE(retry[0].duplicate);
  auto late = applier.Apply(
      paxos::CommittedEntry{4, paxos::MakeCommandsValue({Command(1, 2, 2, "add 5", 2001)})});
  EXPECT_EQ(late[0].status, CommandOutcome::Status::kSessionExpired);
}

// One line per outcome: everything a waiting client could observe.
std::string Describe(const std::vector<CommandOutcome>& outcomes) {
  std::string out;
  for (const CommandOutcome& o : outcomes) {
    out += std::to_string(static_cast<int>(o.status)) + "/" +
           std::to_string(static_cast<int>(o.kind)) + "/" + std::to_string(o.session) + "/" +
           std::to_string(o.sequence) + "/" + std::to_string(o.nonce) + "/" +
           (o.duplicate ? "dup" : "new") + "/" + o.result + "/" + std::to_string(o.slot) + "\n";
  }
  return out;
}

// A seeded log with registrations, commands on live, expired and unknown
// sessions, repeated and out-of-order sequence numbers, moving marks, log time
// that sometimes lags, no-ops (null batches) and garbage.
std::vector<std::optional<std::vector<std::string>>> RandomLog(uint32_t seed, size_t slots,
                                                               SessionLimits limits = {}) {
  std::mt19937 rng(seed);
  std::vector<std::optional<std::vector<std::string>>> log;
  uint64_t now = 0, registered = 0;
  for (size_t slot = 0; slot < slots; ++slot) {
    if (rng() % 10 == 0) {
      log.push_back(std::nullopt);  // a no-op
      continue;
    }
    std::vector<std::string> batch;
    size_t size = 1 + rng() % 3;
    for (size_t i = 0; i < size; ++i) {
      now += rng() % 25;
      uint64_t stamp = rng() % 8 == 0 ? now / 2 : now;  // a lagging leader's stamp
      switch (rng() % 10) {
        case 0:
          batch.push_back(Register(rng(), stamp, limits));
          ++registered;
          break;
        case 1:
          batch.push_back(Tick(stamp));
          break;
        case 2:
          batch.push_back(rng() % 2 ? "garbage" : Command(registered + 5, 1, 1, "add 9", stamp));
          break;
        default: {
          if (registered == 0) break;
          uint64_t session = 1 + rng() % registered;
          uint64_t seq = 1 + rng() % 6;
          uint64_t lowest = 1 + rng() % seq;
          std::string payload = rng() % 4 == 0 ? "get" : "add " + std::to_string(rng() % 100);
          batch.push_back(Command(session, seq, lowest, payload, stamp));
        }
      }
    }
    if (batch.empty()) batch.push_back(Tick(now));
    log.push_back(std::move(batch));
  }
  return log;
}

paxos::CommittedEntry SlotOf(const std::vector<std::optional<std::vector<std::string>>>& log,
                             size_t index) {
  const auto& batch = log[index];
  return paxos::CommittedEntry{index + 1,
                               batch ? paxos::MakeCommandsValue(*batch) : paxos::NoopValue()};
}

std::string SnapshotBytes(const Applier& applier) {
  StringWriter writer;
  applier.Snapshot(writer);
  std::string all;
  for (const std::string& chunk : writer.chunks) all += chunk + "|";
  return all;
}

// A replica that snapshots at slot k, crashes (losing its memory) and restarts
// from that snapshot must, for every k, give the same outcomes as a replica
// that never crashed, end in the same state and session table (byte for byte),
// and apply every command exactly once in total. With session limits in the
// registrations, refusals (of both kinds) must be identical too.
void CheckRestartFromASnapshotAtAnySlot(SessionLimits limits) {
  SessionOptions options;
  options.expiry_ms = 120;
  options.sweep_every_slots = 7;
  for (uint32_t seed : {1u, 2u, 3u}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    auto log = RandomLog(seed, 120, limits);
    TestCounter reference_counter;
    Applier reference(reference_counter, options);
    std::vector<std::string> expected;
    int expired = 0, duplicates = 0, fresh_applies = 0, refused_registrations = 0,
        refused_commands = 0;
    for (size_t i = 0; i < log.size(); ++i) {
      std::vector<CommandOutcome> outcomes = reference.Apply(SlotOf(log, i));
      for (const CommandOutcome& o : outcomes) {
        if (o.status == CommandOutcome::Status::kRefused) {
          (o.kind == EnvelopeKind::kRegisterSession ? refused_registrations : refused_commands)++;
        }
        if (o.kind != EnvelopeKind::kCommand || o.status == CommandOutcome::Status::kInvalid) {
          continue;
        }
        if (o.status == CommandOutcome::Status::kSessionExpired) ++expired;
        if (o.status == CommandOutcome::Status::kOk) (o.duplicate ? duplicates : fresh_applies)++;
      }
      expected.push_back(Describe(outcomes));
    }
    // The log exercises every path, and only fresh commands reach the machine.
    EXPECT_GT(expired, 0);
    EXPECT_GT(duplicates, 0);
    EXPECT_EQ(reference_counter.applies, fresh_applies);
    if (limits.max_sessions != 0) {
      EXPECT_GT(refused_registrations, 0);
      EXPECT_GT(refused_commands, 0);
    } else {
      EXPECT_EQ(refused_registrations + refused_commands, 0);
    }
    const std::string final_state = SnapshotBytes(reference);

    for (size_t k = 0; k <= log.size(); ++k) {
      SCOPED_TRACE("snapshot at slot " + std::to_string(k));
      TestCounter before_counter;
      Applier before(before_counter, options);
      for (size_t i = 0; i < k; ++i) ASSERT_EQ(Describe(before.Apply(SlotOf(log, i))), expected[i]);
      StringWriter snapshot;
      before.Snapshot(snapshot);

      TestCounter after_counter;  // the restarted process: nothing in memory
      Applier after(after_counter, options);
      StringReader reader(snapshot.chunks);
      ASSERT_TRUE(after.Restore(reader));
      ASSERT_EQ(after.applied(), k);
      for (size_t i = k; i < log.size(); ++i) {
        ASSERT_EQ(Describe(after.Apply(SlotOf(log, i))), expected[i]);
      }
      EXPECT_EQ(SnapshotBytes(after), final_state);
      EXPECT_EQ(before_counter.applies + after_counter.applies, reference_counter.applies);
    }
  }
}

TEST(Applier, RestartFromASnapshotAtAnySlotIsIndistinguishable) {
  CheckRestartFromASnapshotAtAnySlot(SessionLimits{});
}

TEST(Applier, RestartFromASnapshotAtAnySlotIsIndistinguishableWithSessionLimits) {
  CheckRestartFromASnapshotAtAnySlot(SessionLimits{2, 2});
}

// The configuration and the slot that set it travel in the snapshot: a
// replica restored from it (restart, or a snapshot fetched from a peer)
// knows the configuration governing the next slot without the log.
TEST(Applier, SnapshotsCarryTheConfiguration) {
  const paxos::Configuration initial({1, 2, 3});
  TestCounter counter;
  Applier applier(counter, SessionOptions{}, initial);
  Log log(applier);
  uint64_t session = log.Slot({Register(7)})[0].session;
  paxos::Configuration next = initial.WithLearner(4, "127.0.0.1:7004");
  log.Value(paxos::MakeConfigurationValue(0, next));  // slot 2
  log.Slot({Command(session, 1, 1, "add 5")});
  StringWriter snapshot;
  applier.Snapshot(snapshot);
  ASSERT_EQ(snapshot.chunks.at(0).substr(0, 10), "SYNODSNAP8");

  TestCounter restored_counter;
  Applier restored(restored_counter, SessionOptions{}, initial);
  StringReader reader(snapshot.chunks);
  ASSERT_TRUE(restored.Restore(reader));
  EXPECT_EQ(restored.config(), (paxos::ConfigAt{2, next}));
  EXPECT_EQ(restored.applied(), 3u);
  EXPECT_EQ(restored_counter.value, 5);
  EXPECT_EQ(SnapshotBytes(restored), SnapshotBytes(applier));
  // The next change is judged against the restored configuration.
  paxos::Configuration promoted = next.WithPromoted(4);
  for (Applier* a : {&applier, &restored}) {
    a->Apply(paxos::CommittedEntry{4, paxos::MakeConfigurationValue(2, promoted)});
    EXPECT_EQ(a->config(), (paxos::ConfigAt{4, promoted}));
  }
}

// Replicas that snapshot at different slots of a log with configuration
// changes (some void: a stale base, or not a valid change), restart from the
// snapshot and replay the rest, agree with one that applied it all: the same
// configuration after every slot, and the same bytes (the state digest).
TEST(Applier, RestartFromASnapshotAtAnySlotKeepsTheConfiguration) {
  const paxos::Configuration initial({1, 2, 3});
  paxos::Configuration c1 = initial.WithLearner(4, "h:4");
  paxos::Configuration c2 = c1.WithPromoted(4);
  paxos::Configuration c3 = c2.WithRemoved(1);
  std::vector<paxos::ValuePtr> log;
  auto tick = [&] { log.push_back(paxos::MakeCommandsValue({Tick(10 * (log.size() + 1))})); };
  tick();
  log.push_back(paxos::MakeConfigurationValue(0, c1));  // slot 2: takes effect
  tick();
  log.push_back(paxos::MakeConfigurationValue(0, initial.WithRemoved(2)));  // 4: stale base
  log.push_back(paxos::MakeConfigurationValue(2, c2));                      // 5: takes effect
  log.push_back(paxos::MakeConfigurationValue(5, c2));                      // 6: no change, void
  tick();
  log.push_back(paxos::MakeConfigurationValue(5, c3));  // 8: takes effect
  tick();
  std::vector<paxos::ConfigAt> expected;
  TestCounter reference_counter;
  Applier reference(reference_counter, SessionOptions{}, initial);
  for (size_t i = 0; i < log.size(); ++i) {
    reference.Apply(paxos::CommittedEntry{i + 1, log[i]});
    expected.push_back(reference.config());
  }
  EXPECT_EQ(expected[3], (paxos::ConfigAt{2, c1}));
  EXPECT_EQ(expected.back(), (paxos::ConfigAt{8, c3}));
  for (size_t k = 0; k <= log.size(); ++k) {
    SCOPED_TRACE("snapshot at slot " + std::to_string(k));
    TestCounter before_counter;
    Applier before(before_counter, SessionOptions{}, initial);
    for (size_t i = 0; i < k; ++i) before.Apply(paxos::CommittedEntry{i + 1, log[i]});
    StringWriter snapshot;
    before.Snapshot(snapshot);
    TestCounter after_counter;
    Applier after(after_counter, SessionOptions{}, initial);
    StringReader reader(snapshot.chunks);
    ASSERT_TRUE(after.Restore(reader));
    EXPECT_EQ(after.config(), k == 0 ? (paxos::ConfigAt{0, initial}) : expected[k - 1]);
    for (size_t i = k; i < log.size(); ++i) {
      after.Apply(paxos::CommittedEntry{i + 1, log[i]});
      ASSERT_EQ(after.config(), expected[i]) << "after slot " << i + 1;
    }
    EXPECT_EQ(SnapshotBytes(after), SnapshotBytes(reference));
  }
}

// SYNODSNAP7 snapshots (written before the configuration was recorded)
// restore with the initial configuration at slot 0, and are then written as
// SYNODSNAP8.
TEST(Applier, RestoresSnapshotsWithoutAConfigurationAsTheInitialOne) {
  TestCounter counter;
  Applier untracked(counter, SessionOptions{});
  Log log(untracked);
  uint64_t session = log.Slot({Register(7, 10)})[0].session;
  log.Slot({Command(session, 1, 1, "add 5", 20)});
  const std::string current = SnapshotBytes(untracked);
  StringWriter writer;
  untracked.Snapshot(writer);
  // SYNODSNAP8 of an applier without a configuration: magic, five fields,
  // config slot 0, length 0, sessions. SYNODSNAP7 is the same without the
  // two configuration fields.
  std::string header = writer.chunks.at(0);
  ASSERT_EQ(header.substr(0, 10), "SYNODSNAP8");
  ASSERT_EQ(header.substr(50, 16), std::string(16, '\0'));
  std::string old_header = "SYNODSNAP7" + header.substr(10, 40) + header.substr(66);

  const paxos::Configuration initial({1, 2, 3});
  TestCounter restored_counter;
  Applier restored(restored_counter, SessionOptions{}, initial);
  StringReader reader({old_header, writer.chunks.at(1)});
  ASSERT_TRUE(restored.Restore(reader));
  EXPECT_EQ(restored.config(), (paxos::ConfigAt{0, initial}));
  EXPECT_EQ(restored.applied(), 2u);
  EXPECT_EQ(restored.log_time_ms(), 20u);
  EXPECT_EQ(restored_counter.value, 5);
  auto retry = restored.Apply(
      paxos::CommittedEntry{3, paxos::MakeCommandsValue({Command(session, 1, 1, "add 5")})});
  EXPECT_TRUE(retry[0].duplicate);
  EXPECT_EQ(SnapshotBytes(restored).substr(0, 10), "SYNODSNAP8");

  // A SYNODSNAP8 without a configuration restores the initial one too.
  TestCounter again_counter;
  Applier again(again_counter, SessionOptions{}, initial);
  StringReader again_reader(writer.chunks);
  ASSERT_TRUE(again.Restore(again_reader));
  EXPECT_EQ(again.config(), (paxos::ConfigAt{0, initial}));
}

// A configuration field that does not make sense is refused, never misread.
TEST(Applier, RestoreRejectsABadConfiguration) {
  const paxos::Configuration initial({1, 2, 3});
  TestCounter counter;
  Applier applier(counter, SessionOptions{}, initial);
  Log log(applier);
  log.Slot({Register(7)});
  log.Value(paxos::MakeConfigurationValue(0, initial.WithLearner(4, "h:4")));  // slot 2
  StringWriter writer;
  applier.Snapshot(writer);
  const std::string header = writer.chunks.at(0);
  const std::string encoded = initial.WithLearner(4, "h:4").Encode();
  ASSERT_EQ(header.substr(66, encoded.size()), encoded);
  auto restores = [&](const std::string& changed) {
    TestCounter c;
    Applier a(c, SessionOptions{}, initial);
    StringReader reader({changed, writer.chunks.at(1)});
    return a.Restore(reader);
  };
  EXPECT_TRUE(restores(header));
  std::string bad = header;
  bad[50] = 3;  // config slot 3 > applied 2
  EXPECT_FALSE(restores(bad));
  bad = header;
  bad[58] = static_cast<char>(encoded.size() - 1);  // length cuts the encoding short
  EXPECT_FALSE(restores(bad));
  bad = header;
  bad[58] = static_cast<char>(0xff);  // longer than the header
  bad[59] = static_cast<char>(0xff);
  EXPECT_FALSE(restores(bad));
  bad = header;
  bad[66] ^= 1;  // not a configuration encoding
  EXPECT_FALSE(restores(bad));
  // No configuration recorded (length 0) but a slot that set one.
  bad = header.substr(0, 58) + std::string(8, '\0') + header.substr(66 + encoded.size());
  EXPECT_FALSE(restores(bad));
  EXPECT_FALSE(restores(header.substr(0, 60)));
}

TEST(Applier, AFailedRestoreLeavesTheApplierUnchanged) {
  TestCounter counter;
  Applier applier(counter, SessionOptions{});
  Log log(applier);
  uint64_t session = log.Slot({Register(1, 10)})[0].session;
  log.Slot({Command(session, 1, 1, "add 5", 20)});
  StringWriter snapshot;
  applier.Snapshot(snapshot);
  // A valid header whose machine part is missing: the machine refuses it.
  StringReader truncated({snapshot.chunks[0]});
  EXPECT_FALSE(applier.Restore(truncated));
  EXPECT_EQ(applier.applied(), 2u);
  EXPECT_EQ(applier.sessions().size(), 1u);
  auto retry = log.Slot({Command(session, 1, 1, "add 5")});
  EXPECT_TRUE(retry[0].duplicate);
}

TEST(SessionTable, DecodeRejectsInconsistentTablesAndKeepsItsState) {
  SessionTable table(SessionOptions{});
  uint64_t id = table.Register(0);
  ASSERT_EQ(table.Check(id, 3, 2, 0).kind, SessionTable::Verdict::Kind::kApply);
  table.Record(id, 3, "r3");
  const std::string good = table.Encode();
  SessionTable copy(SessionOptions{});
  ASSERT_TRUE(copy.Decode(good));
  EXPECT_EQ(copy.Encode(), good);
  EXPECT_EQ(copy.Check(id, 3, 2, 0).stored_result, "r3");

  auto patch_u64 = [](std::string bytes, size_t at, uint64_t v) {
    for (int i = 0; i < 8; ++i) bytes[at + i] = static_cast<char>((v >> (8 * i)) & 0xFF);
    return bytes;
  };
  // Layout: next_id, count, then id, last_active, expiry, mark, max_results,
  // refused_from, refused_to, result count, (seq, status byte, size, bytes)...
  EXPECT_FALSE(copy.Decode(patch_u64(good, 16, 0))) << "session id 0";
  EXPECT_FALSE(copy.Decode(patch_u64(good, 16, 9))) << "id not yet handed out";
  EXPECT_FALSE(copy.Decode(patch_u64(good, 32, 0))) << "no expiry";
  EXPECT_FALSE(copy.Decode(patch_u64(good, 40, 4))) << "a result below the mark";
  EXPECT_FALSE(copy.Decode(good.substr(0, good.size() - 1))) << "truncated";
  EXPECT_FALSE(copy.Decode(good + "x")) << "trailing bytes";
  EXPECT_EQ(copy.Encode(), good) << "a failed decode changes nothing";
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

// The counter, plus commands whose Apply throws: "throw-int", "throw-bad-alloc",
// "throw-invariant"; "add x" throws std::invalid_argument (std::stoll).
class ThrowingCounter : public TestCounter {
 public:
  std::string Apply(std::string_view command, const ApplyContext& context) override {
    if (command == "throw-int") throw 42;
    if (command == "throw-bad-alloc") throw std::bad_alloc();
    if (command == "throw-invariant") SYNOD_INVARIANT(false, "broken on purpose");
    if (command == "throw-kj") KJ_FAIL_REQUIRE("refused by the machine", command.size());
    if (command == "throw-kj-fatal") {
      kj::throwFatalException(KJ_EXCEPTION(FAILED, "fatal from the machine"));
    }
    if (command == "throw-long")
      throw std::runtime_error("first line\n" + std::string(100000, 'x'));
    if (command == "throw-huge-line") throw std::runtime_error(std::string(100000, 'y'));
    return TestCounter::Apply(command, context);
  }
};

TEST(Applier, AStdExceptionFromApplyIsThatCommandsFailedResult) {
  ThrowingCounter counter;
  Applier applier(counter, SessionOptions{});
  Log log(applier);
  uint64_t session = log.Slot({Register(1)})[0].session;
  EXPECT_EQ(log.Slot({Command(session, 1, 1, "add 5")})[0].result, "5");
  // One batch: the command before and after the thrower are applied as usual.
  auto outcomes = log.Slot({Command(session, 2, 1, "add 1"), Command(session, 3, 1, "add x"),
                            Command(session, 4, 1, "add 2")});
  ASSERT_EQ(outcomes.size(), 3u);
  EXPECT_EQ(outcomes[0].status, CommandOutcome::Status::kOk);
  EXPECT_EQ(outcomes[1].status, CommandOutcome::Status::kFailed);
  EXPECT_FALSE(outcomes[1].duplicate);
  EXPECT_EQ(outcomes[1].result, "stoll");  // std::invalid_argument's what()
  EXPECT_EQ(outcomes[2].status, CommandOutcome::Status::kOk);
  EXPECT_EQ(outcomes[2].result, "8");
  EXPECT_EQ(applier.applied(), 3u);
  // A retry of the failed command gets the same failure; Apply is not run again.
  int applies = counter.applies;
  auto retry = log.Slot({Command(session, 3, 1, "add x")});
  EXPECT_EQ(retry[0].status, CommandOutcome::Status::kFailed);
  EXPECT_TRUE(retry[0].duplicate);
  EXPECT_EQ(retry[0].result, "stoll");
  EXPECT_EQ(counter.applies, applies);
  EXPECT_EQ(counter.value, 8);
}

TEST(Applier, AFailedResultIsTheSameOnEveryReplicaAndAfterASnapshot) {
  ThrowingCounter counter_a, counter_b;
  Applier a(counter_a, SessionOptions{}), b(counter_b, SessionOptions{});
  Log log_a(a), log_b(b);
  std::vector<std::vector<std::string>> slots = {{Register(1)},
                                                 {Command(1, 1, 1, "add 5")},
                                                 {Command(1, 2, 1, "add y")},
                                                 {Command(1, 3, 1, "add 1")}};
  for (const auto& slot : slots) {
    EXPECT_EQ(Describe(log_a.Slot(slot)), Describe(log_b.Slot(slot)));
  }
  EXPECT_EQ(SnapshotBytes(a), SnapshotBytes(b));
  // A replica restored from a's snapshot answers a retry with the same failure.
  StringWriter snapshot;
  a.Snapshot(snapshot);
  ThrowingCounter counter_c;
  Applier c(counter_c, SessionOptions{});
  StringReader reader(snapshot.chunks);
  ASSERT_TRUE(c.Restore(reader));
  EXPECT_EQ(SnapshotBytes(c), SnapshotBytes(a));
  auto retry = c.Apply(paxos::CommittedEntry{
      c.applied() + 1, paxos::MakeCommandsValue({Command(1, 2, 1, "add y")})});
  ASSERT_EQ(retry.size(), 1u);
  EXPECT_EQ(retry[0].status, CommandOutcome::Status::kFailed);
  EXPECT_TRUE(retry[0].duplicate);
  EXPECT_EQ(retry[0].result, "stoll");
  EXPECT_EQ(counter_c.applies, 0);
}

// A KJ exception's what() holds the throw site's file:line and a stack trace
// whose addresses differ per process: the stored failure is its description
// only, so two replicas (and snapshots) agree. Any failure text is bounded to
// its first line and at most kMaxFailureBytes.

TEST(Applier, KjExceptionsAndLongMessagesGiveTheSameBoundedFailureEverywhere) {
  ThrowingCounter counter_a, counter_b;
  Applier a(counter_a, SessionOptions{}), b(counter_b, SessionOptions{});
  Log log_a(a), log_b(b);
  std::vector<std::vector<std::string>> slots = {{Register(1)},
                                                 {Command(1, 1, 1, "throw-kj")},
                                                 {Command(1, 2, 1, "throw-kj-fatal")},
                                                 {Command(1, 3, 1, "throw-long")},
                                                 {Command(1, 4, 1, "throw-huge-line")}};
  std::vector<std::vector<CommandOutcome>> results;
  for (const auto& slot : slots) {
    auto outcomes = log_a.Slot(slot);
    EXPECT_EQ(Describe(outcomes), Describe(log_b.Slot(slot)));
    results.push_back(outcomes);
  }
  EXPECT_EQ(SnapshotBytes(a), SnapshotBytes(b));
  for (size_t i = 1; i < results.size(); ++i) {
    ASSERT_EQ(results[i].size(), 1u);
    EXPECT_EQ(results[i][0].status, CommandOutcome::Status::kFailed);
    EXPECT_EQ(results[i][0].result.find('\n'), std::string::npos) << i;
    EXPECT_LE(results[i][0].result.size(), Applier::kMaxFailureBytes) << i;
  }
  EXPECT_NE(results[1][0].result.find("refused by the machine"), std::string::npos);
  EXPECT_EQ(results[1][0].result.find("stack:"), std::string::npos);
  EXPECT_EQ(results[1][0].result.find("applier_test.cc"), std::string::npos);
  EXPECT_EQ(results[2][0].result, "fatal from the machine");
  EXPECT_EQ(results[3][0].result, "first line");
  EXPECT_EQ(results[4][0].result, std::string(Applier::kMaxFailureBytes, 'y'));
}

TEST(Applier, BadAllocInvariantsAndNonStdExceptionsFromApplyPropagate) {
  for (const char* command : {"throw-bad-alloc", "throw-invariant", "throw-int"}) {
    ThrowingCounter counter;
    Applier applier(counter, SessionOptions{});
    Log log(applier);
    uint64_t session = log.Slot({Register(1)})[0].session;
    bool threw = false;
    try {
      log.Slot({Command(session, 1, 1, command)});
    } catch (const std::bad_alloc&) {
      threw = std::string(command) == "throw-bad-alloc";
    } catch (const InvariantViolation&) {
      threw = std::string(command) == "throw-invariant";
    } catch (int) {
      threw = std::string(command) == "throw-int";
    }
    EXPECT_TRUE(threw) << command;
  }
}

TEST(Applier, RestoresSnapshotsWhoseSessionsHoldNoStatus) {
  // A SYNODSNAP2 snapshot: session results are bytes only (all answers).
  auto u64 = [](uint64_t v) {
    std::string out;
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
    return out;
  };
  std::string header = "SYNODSNAP2" + u64(2) + u64(0) + u64(0);
  header += u64(2) + u64(1);                    // next id, one session
  header += u64(1) + u64(0) + u64(0) + u64(1);  // id 1, last active, mark, one result
  header += u64(1) + u64(1) + "5";              // sequence 1: "5"
  TestCounter counter;
  Applier applier(counter, SessionOptions{});
  StringReader reader({header, "5"});
  ASSERT_TRUE(applier.Restore(reader));
  EXPECT_EQ(counter.value, 5);
  auto retry = applier.Apply(
      paxos::CommittedEntry{3, paxos::MakeCommandsValue({Command(1, 1, 1, "add 5")})});
  EXPECT_EQ(retry[0].status, CommandOutcome::Status::kOk);
  EXPECT_TRUE(retry[0].duplicate);
  EXPECT_EQ(retry[0].result, "5");
}

TEST(SessionTable, StoresFailuresAndRejectsUnknownStatusBytes) {
  SessionTable table(SessionOptions{});
  uint64_t id = table.Register(0);
  ASSERT_EQ(table.Check(id, 1, 1, 0).kind, SessionTable::Verdict::Kind::kApply);
  table.Record(id, 1, "boom", /*failed=*/true);
  SessionTable copy(SessionOptions{});
  std::string good = table.Encode();
  ASSERT_TRUE(copy.Decode(good));
  SessionTable::Verdict verdict = copy.Check(id, 1, 1, 0);
  EXPECT_EQ(verdict.kind, SessionTable::Verdict::Kind::kDuplicate);
  EXPECT_TRUE(verdict.stored_failed);
  EXPECT_EQ(verdict.stored_result, "boom");
  // next_id, count, id, last_active, expiry, mark, max_results, refused_from,
  // refused_to, result count, sequence: then the status byte.
  std::string bad = good;
  bad[11 * 8] = 2;
  EXPECT_FALSE(copy.Decode(bad));
}

TEST(Applier, AppliesOnlyInSlotOrder) {
  TestCounter counter;
  Applier applier(counter, SessionOptions{});
  EXPECT_THROW(applier.Apply(paxos::CommittedEntry{2, paxos::NoopValue()}), InvariantViolation);
}

TEST(Envelope, RegistrationsCarryLimitsAndOldOnesStillDecode) {
  std::string limited = Register(5, 7, SessionLimits{10, 20});
  std::optional<Envelope> e = DecodeEnvelope(limited);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->session, 5u);
  EXPECT_EQ(e->max_sessions, 10u);
  EXPECT_EQ(e->max_session_results, 20u);
  EXPECT_EQ(DecodeEnvelope(RestampEnvelope(limited, 9, paxos::Ballot{1, 2}))->max_session_results,
            20u);
  // A registration written before limits existed: same bytes, no limits.
  std::string old = Register(5, 7);
  EXPECT_EQ(old.size(), 18u);
  EXPECT_EQ(DecodeEnvelope(old)->max_sessions, 0u);
  EXPECT_FALSE(DecodeEnvelope(limited.substr(0, limited.size() - 1)));
  EXPECT_FALSE(DecodeEnvelope(limited + "x"));
  // The byte limit follows the two others, only when set.
  EXPECT_EQ(limited.size(), 18u + 16u);
  std::string with_bytes = Register(5, 7, SessionLimits{10, 20, 30});
  EXPECT_EQ(with_bytes.size(), 18u + 24u);
  e = DecodeEnvelope(with_bytes);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->max_sessions, 10u);
  EXPECT_EQ(e->max_session_results, 20u);
  EXPECT_EQ(e->max_session_result_bytes, 30u);
  EXPECT_EQ(DecodeEnvelope(Register(5, 7, SessionLimits{0, 0, 30}))->max_session_result_bytes, 30u);
  EXPECT_FALSE(DecodeEnvelope(with_bytes.substr(0, with_bytes.size() - 1)));
  EXPECT_FALSE(DecodeEnvelope(with_bytes + std::string(8, '\0')));
  EXPECT_TRUE(IsRegistrationEnvelope(with_bytes + "x"));
  // Registrations a leader proposes carry a stamp ballot (a flag in the kind byte).
  EXPECT_TRUE(IsRegistrationEnvelope(RestampEnvelope(with_bytes, 9, paxos::Ballot{1, 2}) + "x"));
  EXPECT_FALSE(IsRegistrationEnvelope(Tick(1)));
}

TEST(Applier, RegistrationsBeyondMaxSessionsAreRefusedUntilSessionsExpire) {
  SessionOptions options;
  options.expiry_ms = 1000;
  TestCounter counter;
  Applier applier(counter, options);
  Log log(applier);
  const SessionLimits limits{2, 100};
  auto first = log.Slot({Register(1, 0, limits), Register(2, 0, limits), Register(3, 0, limits)});
  ASSERT_EQ(first.size(), 3u);
  EXPECT_EQ(first[0].status, CommandOutcome::Status::kOk);
  EXPECT_EQ(first[1].status, CommandOutcome::Status::kOk);
  EXPECT_EQ(first[2].status, CommandOutcome::Status::kRefused);
  EXPECT_EQ(first[2].nonce, 3u);  // the caller is answered
  EXPECT_EQ(first[2].session, 0u);
  EXPECT_EQ(first[2].result, "too many sessions");
  EXPECT_EQ(applier.sessions().size(), 2u);
  // The limit that counts is the one the registration carries.
  EXPECT_EQ(log.Slot({Register(4, 10, SessionLimits{3, 100})})[0].session, 3u);
  EXPECT_EQ(log.Slot({Register(5, 20, limits)})[0].status, CommandOutcome::Status::kRefused);
  // Session 1 stays active; 2 and 3 expire: room for one more (no id was spent
  // on a refusal).
  log.Slot({Command(1, 1, 1, "add 1", 900)});
  auto later = log.Slot({Register(6, 1500, limits), Register(7, 1500, limits)});
  EXPECT_EQ(later[0].status, CommandOutcome::Status::kOk);
  EXPECT_EQ(later[0].session, 4u);
  EXPECT_EQ(later[1].status, CommandOutcome::Status::kRefused);
  EXPECT_EQ(applier.sessions().size(), 2u);
}

TEST(Applier, ASessionAtItsResultCapRefusesNewCommandsForGood) {
  TestCounter counter;
  Applier applier(counter, SessionOptions{});
  Log log(applier);
  uint64_t session = log.Slot({Register(1, 0, SessionLimits{100, 3})})[0].session;
  // The client never acknowledges (lowest unanswered stays 1): 3 results kept.
  for (uint64_t seq = 1; seq <= 3; ++seq) log.Slot({Command(session, seq, 1, "add 1")});
  EXPECT_EQ(counter.value, 3);
  auto refused = log.Slot({Command(session, 4, 1, "add 100")});
  EXPECT_EQ(refused[0].status, CommandOutcome::Status::kRefused);
  EXPECT_EQ(refused[0].result, "session holds too many unacknowledged results");
  EXPECT_EQ(refused[0].sequence, 4u);
  // Stored answers are still given; the refused command stays refused.
  EXPECT_TRUE(log.Slot({Command(session, 2, 1, "add 1")})[0].duplicate);
  EXPECT_EQ(log.Slot({Command(session, 4, 1, "add 100")})[0].status,
            CommandOutcome::Status::kRefused);
  // The client acknowledges 1-3: new commands apply again, but a late copy of
  // the refused 4 is never applied, neither while the mark is at it nor after.
  auto fresh = log.Slot({Command(session, 5, 4, "add 10")});
  EXPECT_EQ(fresh[0].status, CommandOutcome::Status::kOk);
  EXPECT_EQ(log.Slot({Command(session, 4, 4, "add 100")})[0].status,
            CommandOutcome::Status::kRefused);
  log.Slot({Command(session, 6, 6, "add 10")});
  EXPECT_EQ(log.Slot({Command(session, 4, 6, "add 100")})[0].status,
            CommandOutcome::Status::kSessionExpired);
  EXPECT_EQ(counter.value, 23);
  EXPECT_EQ(counter.applies, 5);
}

TEST(Applier, RestoresSnapshotsWrittenBeforeLimitsExisted) {
  auto u64 = [](uint64_t v) {
    std::string out;
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
    return out;
  };
  // Applied 2, log time 20, cluster id 0; one session (id 1, last active 20,
  // mark 1) holding result "5" of sequence 1 (SYNODSNAP3 and 4: with its
  // status byte; SYNODSNAP4: no result limit, no refused range); then the
  // machine.
  for (const std::string magic : {"SYNODSNAP2", "SYNODSNAP3", "SYNODSNAP4"}) {
    SCOPED_TRACE(magic);
    std::string status = magic != "SYNODSNAP2" ? std::string(1, '\0') : std::string();
    std::string limits = magic == "SYNODSNAP4" ? u64(0) + u64(1) + u64(0) : std::string();
    std::string header = magic + u64(2) + u64(20) + u64(0);  // applied, log time, cluster id
    header += u64(2) + u64(1);                               // next id, one session
    header += u64(1) + u64(20) + u64(1) + limits + u64(1);   // id, last active, mark, one result
    header += u64(1) + status + u64(1) + "5";                // sequence 1: "5"
    TestCounter counter;
    Applier applier(counter, SessionOptions{});
    StringReader reader({header, "5"});
    ASSERT_TRUE(applier.Restore(reader));
    EXPECT_EQ(applier.applied(), 2u);
    auto retry = applier.Apply(
        paxos::CommittedEntry{3, paxos::MakeCommandsValue({Command(1, 1, 1, "add 5")})});
    EXPECT_TRUE(retry[0].duplicate);
    // Its session has no result limit (as when it was registered).
    for (uint64_t seq = 2; seq <= 200; ++seq) {
      auto outcome = applier.Apply(
          paxos::CommittedEntry{seq + 2, paxos::MakeCommandsValue({Command(1, seq, 1, "add 1")})});
      ASSERT_EQ(outcome[0].status, CommandOutcome::Status::kOk);
    }
    EXPECT_EQ(counter.value, 204);
    EXPECT_EQ(SnapshotBytes(applier).substr(0, 10), "SYNODSNAP8");
  }
}

TEST(Envelope, StampBallotsRoundTripAndRestampAddsOrReplacesThem) {
  const paxos::Ballot b{7, 3};
  // Without a ballot (as every envelope written before stamp ballots): none.
  std::string old_bytes = Command(7, 3, 2, "add 5", 99);
  EXPECT_FALSE(DecodeEnvelope(old_bytes)->stamp_ballot);
  std::string stamped = RestampEnvelope(old_bytes, 1234, b);
  std::optional<Envelope> e = DecodeEnvelope(stamped);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->stamp_ms, 1234u);
  ASSERT_TRUE(e->stamp_ballot);
  EXPECT_EQ(*e->stamp_ballot, b);
  EXPECT_EQ(e->session, 7u);
  EXPECT_EQ(e->sequence, 3u);
  EXPECT_EQ(e->lowest_unanswered, 2u);
  EXPECT_EQ(e->payload, "add 5");
  EXPECT_EQ(EnvelopeStamp(stamped), 1234u);
  // Restamping again replaces stamp and ballot, nothing else.
  std::optional<Envelope> again = DecodeEnvelope(RestampEnvelope(stamped, 5, paxos::Ballot{9, 1}));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->stamp_ms, 5u);
  EXPECT_EQ(*again->stamp_ballot, (paxos::Ballot{9, 1}));
  EXPECT_EQ(again->payload, "add 5");
  EXPECT_EQ(EncodeEnvelope(*again), RestampEnvelope(stamped, 5, paxos::Ballot{9, 1}));
  // Every kind carries it.
  for (EnvelopeKind kind : {EnvelopeKind::kRegisterSession, EnvelopeKind::kCommand,
                            EnvelopeKind::kTick, EnvelopeKind::kClusterId}) {
    Envelope in;
    in.kind = kind;
    in.stamp_ms = 42;
    in.stamp_ballot = b;
    in.session = 11;
    std::optional<Envelope> out = DecodeEnvelope(EncodeEnvelope(in));
    ASSERT_TRUE(out) << static_cast<int>(kind);
    EXPECT_EQ(out->kind, kind);
    EXPECT_EQ(*out->stamp_ballot, b);
    EXPECT_EQ(out->stamp_ms, 42u);
  }
  // A ballot flag without the ballot's bytes is not an envelope.
  EXPECT_FALSE(DecodeEnvelope(Tick(5, b).substr(0, 20)));
  EXPECT_EQ(RestampEnvelope(Tick(5, b).substr(0, 20), 9, b), Tick(5, b).substr(0, 20));
}

TEST(Envelope, EnvelopeStampChecksTheKindLikeDecodeEnvelope) {
  std::string tick = Tick(5000);
  for (uint8_t kind : {0, 5, 0x7F, 0x80, 0x85, 0xFF}) {
    std::string bytes = tick;
    bytes[1] = static_cast<char>(kind);
    EXPECT_FALSE(DecodeEnvelope(bytes)) << int(kind);
    EXPECT_EQ(EnvelopeStamp(bytes), 0u) << int(kind);
    EXPECT_EQ(RestampEnvelope(bytes, 1, paxos::Ballot{1, 1}), bytes) << int(kind);
  }
}

TEST(Applier, AStampOfALowerBallotThanTheLastCountedOneIsIgnored) {
  TestCounter counter;
  Applier applier(counter, SessionOptions{});
  Log log(applier);
  const paxos::Ballot b1{1, 1}, b2{2, 2}, b3{3, 1};
  log.Slot({Tick(100'000, b1)});
  EXPECT_EQ(applier.log_time_ms(), 100'000u);
  // The leader of b2 took over after an outage that log time never counted.
  log.Slot({Tick(101'500, b2)});
  EXPECT_EQ(applier.time_ballot(), b2);
  // A late stamp of the deposed b1 leader (its clock ran through the outage),
  // re-proposed and chosen after b2's: it must not move log time.
  log.Slot({Tick(163'000, b1), RestampEnvelope(Command(1, 1, 0, "add 1"), 163'000, b1)});
  EXPECT_EQ(applier.log_time_ms(), 101'500u);
  EXPECT_EQ(applier.time_ballot(), b2);
  log.Slot({Tick(102'000, b2)});
  EXPECT_EQ(applier.log_time_ms(), 102'000u);
  // A higher ballot counts (even below log time: log time stays, the time
  // ballot moves on), and from then on b2 is deposed too.
  log.Slot({Tick(101'900, b3)});
  EXPECT_EQ(applier.log_time_ms(), 102'000u);
  EXPECT_EQ(applier.time_ballot(), b3);
  log.Slot({Tick(200'000, b2)});
  EXPECT_EQ(applier.log_time_ms(), 102'000u);
  log.Slot({Tick(102'500, b3)});
  EXPECT_EQ(applier.log_time_ms(), 102'500u);
}

TEST(Applier, ALowerBallotStampDoesNotExpireSessions) {
  SessionOptions options;
  options.expiry_ms = 10'000;
  options.sweep_every_slots = 1;
  TestCounter counter;
  Applier applier(counter, options);
  Log log(applier);
  uint64_t session = log.Slot({Register(1, 1'000)})[0].session;
  log.Slot({Tick(2'000, paxos::Ballot{2, 2})});
  log.Slot({Tick(60'000, paxos::Ballot{1, 1})});  // a deposed leader's stamp
  EXPECT_EQ(log.Slot({Command(session, 1, 1, "add 1")})[0].status, CommandOutcome::Status::kOk);
}

TEST(Applier, StampsWithoutABallotCountAsBeforeStampBallotsExisted) {
  TestCounter counter;
  Applier applier(counter, SessionOptions{});
  Log log(applier);
  log.Slot({Tick(300), Tick(100)});
  EXPECT_EQ(applier.log_time_ms(), 300u);
  log.Slot({Tick(500, paxos::Ballot{4, 1})});
  // An old leader's stamp (no ballot) counts whatever the time ballot, and
  // leaves the time ballot as it is.
  log.Slot({Tick(900)});
  EXPECT_EQ(applier.log_time_ms(), 900u);
  EXPECT_EQ(applier.time_ballot(), (paxos::Ballot{4, 1}));
  log.Slot({Tick(950, paxos::Ballot{3, 2})});
  EXPECT_EQ(applier.log_time_ms(), 900u);
}

TEST(Applier, SnapshotsKeepTheTimeBallot) {
  TestCounter counter;
  Applier applier(counter, SessionOptions{});
  Log log(applier);
  log.Slot({Tick(10'000, paxos::Ballot{5, 2})});
  StringWriter snapshot;
  applier.Snapshot(snapshot);
  ASSERT_EQ(snapshot.chunks.at(0).substr(0, 10), "SYNODSNAP8");

  TestCounter restored_counter;
  Applier restored(restored_counter, SessionOptions{});
  StringReader reader(snapshot.chunks);
  ASSERT_TRUE(restored.Restore(reader));
  EXPECT_EQ(restored.time_ballot(), (paxos::Ballot{5, 2}));
  EXPECT_EQ(restored.log_time_ms(), 10'000u);
  // Replicas that restored the snapshot and replicas that applied the log
  // decide the next stamps alike.
  for (Applier* a : {&applier, &restored}) {
    a->Apply(
        paxos::CommittedEntry{2, paxos::MakeCommandsValue({Tick(99'000, paxos::Ballot{4, 1})})});
    EXPECT_EQ(a->log_time_ms(), 10'000u);
  }
  EXPECT_EQ(SnapshotBytes(applier), SnapshotBytes(restored));
}

TEST(Applier, RestoresSnapshotsWrittenBeforeStampBallotsWithTimeBallotZero) {
  auto u64 = [](uint64_t v) {
    std::string out;
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
    return out;
  };
  // SYNODSNAP4: applied 2, log time 20, cluster id 0; an empty session table.
  std::string header = std::string("SYNODSNAP4") + u64(2) + u64(20) + u64(0);
  header += u64(1) + u64(0);  // next id, no sessions
  TestCounter counter;
  Applier applier(counter, SessionOptions{});
  StringReader reader({header, "5"});
  ASSERT_TRUE(applier.Restore(reader));
  EXPECT_EQ(applier.log_time_ms(), 20u);
  EXPECT_TRUE(applier.time_ballot().IsNull());
  applier.Apply(
      paxos::CommittedEntry{3, paxos::MakeCommandsValue({Tick(30, paxos::Ballot{1, 1})})});
  EXPECT_EQ(applier.log_time_ms(), 30u);
  EXPECT_EQ(SnapshotBytes(applier).substr(0, 10), "SYNODSNAP8");
  // A header with a time ballot too short for it is rejected.
  for (const std::string magic : {"SYNODSNAP7", "SYNODSNAP8"}) {
    TestCounter other;
    Applier rejecting(other, SessionOptions{});
    StringReader short_reader({magic + u64(2) + u64(20) + u64(0) + u64(1), "5"});
    EXPECT_FALSE(rejecting.Restore(short_reader)) << magic;
  }
}

TEST(SessionTable, DecodeRejectsInconsistentLimits) {
  SessionTable table(SessionOptions{});
  uint64_t id = table.Register(0, SessionLimits{0, 2});
  table.Check(id, 1, 1, 0);
  table.Record(id, 1, "r1");
  table.Check(id, 2, 1, 0);
  table.Record(id, 2, "r2");
  ASSERT_EQ(table.Check(id, 3, 1, 0).kind, SessionTable::Verdict::Kind::kTooManyResults);
  const std::string good = table.Encode();
  SessionTable copy(SessionOptions{});
  ASSERT_TRUE(copy.Decode(good));
  EXPECT_EQ(copy.Encode(), good);
  EXPECT_EQ(copy.Check(id, 3, 1, 0).kind, SessionTable::Verdict::Kind::kTooManyResults);
  auto patch_u64 = [](std::string bytes, size_t at, uint64_t v) {
    for (int i = 0; i < 8; ++i) bytes[at + i] = static_cast<char>((v >> (8 * i)) & 0xFF);
    return bytes;
  };
  // Layout: next_id, count, then id, last_active, expiry, mark, max_results,
  // max_result_bytes, refused_from, refused_to, refused count, refused
  // sequence numbers (here 3), result count, (seq, status, size, bytes)...
  EXPECT_FALSE(copy.Decode(patch_u64(good, 32, 0))) << "expiry 0";
  EXPECT_FALSE(copy.Decode(patch_u64(good, 48, 1))) << "more results than the limit";
  EXPECT_FALSE(copy.Decode(patch_u64(good, 64, 4))) << "refused range upside down";
  EXPECT_FALSE(copy.Decode(patch_u64(patch_u64(good, 64, 0), 72, 0))) << "empty, not as (1, 0)";
  EXPECT_FALSE(copy.Decode(patch_u64(good, 88, 0))) << "refused below the mark";
  EXPECT_FALSE(copy.Decode(patch_u64(good, 88, 1))) << "refused, and a stored result";
  EXPECT_FALSE(copy.Decode(patch_u64(good, 80, SessionTable::kRefusedKept + 1)))
      << "more refused than kept";
  EXPECT_FALSE(copy.Decode(good, SessionEncoding::kWithStatus)) << "not an older layout";
  EXPECT_FALSE(copy.Decode(good, SessionEncoding::kWithLimits)) << "not an older layout";
  EXPECT_FALSE(copy.Decode(good, SessionEncoding::kWithBytes)) << "not an older layout";
  EXPECT_EQ(copy.Encode(), good);
}

// A registration this build cannot decode (a newer format) stops the applier:
// skipping it would hand out other session ids than newer replicas do.
TEST(Applier, ARegistrationInAnUnknownFormatIsFatal) {
  TestCounter counter;
  Applier applier(counter, SessionOptions{});
  std::string newer = Register(5, 7, SessionLimits{10, 20, 30}, 40) + std::string(8, '\1');
  EXPECT_THROW(applier.Apply(paxos::CommittedEntry{1, paxos::MakeCommandsValue({newer})}),
               UnknownRegistrationFormat);
  // The same with the stamp ballot a leader adds (a flag in the kind byte).
  TestCounter stamped_counter;
  Applier stamped(stamped_counter, SessionOptions{});
  std::string newer_stamped =
      RestampEnvelope(Register(5, 7, SessionLimits{10, 20, 30}, 40), 9, paxos::Ballot{1, 1}) +
      std::string(8, '\1');
  EXPECT_THROW(stamped.Apply(paxos::CommittedEntry{1, paxos::MakeCommandsValue({newer_stamped})}),
               UnknownRegistrationFormat);
  // Other bytes that are not an envelope stay invalid, never applied.
  TestCounter other;
  Applier second(other, SessionOptions{});
  auto outcomes = second.Apply(paxos::CommittedEntry{1, paxos::MakeCommandsValue({"junk"})});
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes[0].status, CommandOutcome::Status::kInvalid);
}

TEST(Applier, RestoresSnapshotsWithLimitsButNoByteLimit) {
  auto u64 = [](uint64_t v) {
    std::string out;
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
    return out;
  };
  // SYNODSNAP4: applied 2, log time 20, cluster id 0; session 1 (last active
  // 20, mark 1, result limit 5, refused range [2, 2]) holding result "5" of
  // sequence 1; then the machine.
  std::string header = std::string("SYNODSNAP4") + u64(2) + u64(20) + u64(0);
  header += u64(2) + u64(1);
  header += u64(1) + u64(20) + u64(1) + u64(5) + u64(2) + u64(2) + u64(1);
  header += u64(1) + std::string(1, '\0') + u64(1) + "5";
  TestCounter counter;
  Applier applier(counter, SessionOptions{});
  StringReader reader({header, "5"});
  ASSERT_TRUE(applier.Restore(reader));
  auto apply = [&](const std::string& command) {
    return applier.Apply(
        paxos::CommittedEntry{applier.applied() + 1, paxos::MakeCommandsValue({command})})[0];
  };
  EXPECT_TRUE(apply(Command(1, 1, 1, "add 5")).duplicate);
  EXPECT_EQ(apply(Command(1, 2, 1, "add 1")).status, CommandOutcome::Status::kRefused);
  EXPECT_EQ(apply(Command(1, 3, 1, "add 1")).status, CommandOutcome::Status::kOk);
  // Written again as SYNODSNAP8, it restores to the same table.
  EXPECT_EQ(SnapshotBytes(applier).substr(0, 10), "SYNODSNAP8");
  StringWriter writer;
  applier.Snapshot(writer);
  TestCounter copy_counter;
  Applier copy(copy_counter, SessionOptions{});
  StringReader again(writer.chunks);
  ASSERT_TRUE(copy.Restore(again));
  EXPECT_EQ(SnapshotBytes(copy), SnapshotBytes(applier));
}

// SYNODSNAP6 (byte limits) and SYNODSNAP5 (time ballot, no byte limits)
// snapshots, written before sessions carried their expiry, restore with the
// default expiry and keep their limits and time ballot.
TEST(Applier, RestoresSnap6And5WithTheDefaultExpiry) {
  auto u64 = [](uint64_t v) {
    std::string out;
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
    return out;
  };
  for (const std::string magic : {"SYNODSNAP6", "SYNODSNAP5"}) {
    // applied 2, log time 20, cluster id 0, time ballot (3, 1); next id 2;
    // session 1: active at 20, mark 1, result limit 5 [, byte limit 1000],
    // refused range empty [, no refused sequence numbers], result "5" of
    // sequence 1.
    std::string header = magic + u64(2) + u64(20) + u64(0) + u64(3) + u64(1);
    header += u64(2) + u64(1) + u64(1) + u64(20) + u64(1) + u64(5);
    if (magic == "SYNODSNAP6") header += u64(1000);
    header += u64(1) + u64(0);
    if (magic == "SYNODSNAP6") header += u64(0);
    header += u64(1) + u64(1) + std::string(1, '\0') + u64(1) + "5";
    SessionOptions options;
    options.expiry_ms = 1000;
    TestCounter counter;
    Applier applier(counter, options);
    StringReader reader({header, "5"});
    ASSERT_TRUE(applier.Restore(reader)) << magic;
    EXPECT_EQ(applier.time_ballot(), (paxos::Ballot{3, 1})) << magic;
    auto apply = [&](const std::string& command) {
      return applier.Apply(
          paxos::CommittedEntry{applier.applied() + 1, paxos::MakeCommandsValue({command})})[0];
    };
    EXPECT_TRUE(apply(Command(1, 1, 1, "add 5", 1020)).duplicate) << magic;
    EXPECT_EQ(apply(Command(1, 2, 1, "add 1", 2021)).status,
              CommandOutcome::Status::kSessionExpired)
        << magic;
    EXPECT_EQ(SnapshotBytes(applier).substr(0, 10), "SYNODSNAP8");
  }
}

}  // namespace
}  // namespace synod::statemachine
