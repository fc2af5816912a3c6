// Session limits under adversarial logs: exactly-once under random retries,
// acknowledgements and expiry with snapshot round trips at every slot; the
// cost of expiry and refusals measured structurally (sessions examined); a
// refusal refuses no more than it must.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <random>

#include "statemachine/applier.h"

namespace synod::statemachine {
namespace {

class Counter : public StateMachine {
 public:
  std::string Apply(std::string_view command, const ApplyContext&) override {
    ++applies;
    value += 1;
    return std::to_string(value) + ":" + std::string(command);
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

class Writer : public SnapshotWriter {
 public:
  void Write(std::string_view chunk) override { chunks.emplace_back(chunk); }
  std::vector<std::string> chunks;
};
class Reader : public SnapshotReader {
 public:
  explicit Reader(std::vector<std::string> c) : chunks(std::move(c)) {}
  bool Read(std::string& chunk) override {
    if (next >= chunks.size()) return false;
    chunk = chunks[next++];
    return true;
  }
  std::vector<std::string> chunks;
  size_t next = 0;
};

std::string Cmd(uint64_t session, uint64_t seq, uint64_t lowest, uint64_t stamp) {
  Envelope e;
  e.kind = EnvelopeKind::kCommand;
  e.session = session;
  e.sequence = seq;
  e.lowest_unanswered = lowest;
  e.payload = "s" + std::to_string(session) + "q" + std::to_string(seq);
  e.stamp_ms = stamp;
  return EncodeEnvelope(e);
}
std::string Reg(uint64_t nonce, uint64_t stamp, SessionLimits limits) {
  Envelope e;
  e.kind = EnvelopeKind::kRegisterSession;
  e.session = nonce;
  e.stamp_ms = stamp;
  e.max_sessions = limits.max_sessions;
  e.max_session_results = limits.max_results;
  e.max_session_result_bytes = limits.max_result_bytes;
  return EncodeEnvelope(e);
}

// Random adversarial log: per (session, seq) a command is never applied twice,
// never applied after any copy was refused, never refused after it was applied
// (a retry gets the stored result or "expired"), and duplicates return exactly
// the result of the one application. A replica restored from a snapshot at a
// random slot gives identical outcomes.
TEST(SessionLimits, ExactlyOnceUnderRandomRetriesAcksAndExpiry) {
  int n_refused = 0, n_fresh = 0, n_dup = 0, n_reg_refused = 0, n_refused_then_expired = 0;
  for (uint32_t seed = 1; seed <= 300; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 rng(seed);
    SessionOptions options;
    options.expiry_ms = 200;
    options.sweep_every_slots = 1 + rng() % 9;
    Counter c1, c2;
    Applier a(c1, options);
    std::unique_ptr<Applier> b;  // restored copy
    size_t restore_at = 5 + rng() % 150;
    std::vector<paxos::CommittedEntry> log;
    uint64_t now = 0;
    std::vector<uint64_t> sessions;
    std::map<uint64_t, uint64_t> mark_of;  // client-side mark per session (mostly monotone)
    struct Seen {
      int fresh = 0;
      bool refused = false;
      std::string result;
    };
    std::map<std::pair<uint64_t, uint64_t>, Seen> seen;
    for (paxos::Slot slot = 1; slot <= 200; ++slot) {
      std::vector<std::string> batch;
      size_t n = 1 + rng() % 4;
      for (size_t i = 0; i < n; ++i) {
        uint64_t r = rng() % 100;
        if (r < 3)
          now += 150 + rng() % 200;  // may expire sessions
        else if (r < 40)
          now += rng() % 5;
        uint64_t stamp = rng() % 6 == 0 ? now / 2 : now;
        if (r < 12 || sessions.empty()) {
          SessionLimits limits{1 + rng() % 3, 1 + rng() % 4, 0};
          if (rng() % 3 == 0) limits.max_result_bytes = 1 + rng() % 200;
          if (rng() % 5 == 0) limits = SessionLimits{};
          batch.push_back(Reg(rng(), stamp, limits));
        } else {
          uint64_t s = sessions[rng() % sessions.size()];
          if (rng() % 10 == 0) s = 1 + rng() % 12;  // maybe unknown
          uint64_t seq = 1 + rng() % 14;
          uint64_t& m = mark_of[s];
          if (rng() % 4 == 0) m = std::max<uint64_t>(m, rng() % 14);
          uint64_t lowest = rng() % 8 == 0 ? rng() % 16 : m;  // sometimes stale / wild
          batch.push_back(Cmd(s, seq, lowest, stamp));
        }
      }
      paxos::CommittedEntry entry{slot, paxos::MakeCommandsValue(batch)};
      auto outs = a.Apply(entry);
      if (b) {
        auto outs_b = b->Apply(entry);
        ASSERT_EQ(outs.size(), outs_b.size());
        for (size_t i = 0; i < outs.size(); ++i) {
          ASSERT_EQ(outs[i].status, outs_b[i].status) << "slot " << slot;
          ASSERT_EQ(outs[i].result, outs_b[i].result) << "slot " << slot;
          ASSERT_EQ(outs[i].session, outs_b[i].session);
        }
      }
      for (const CommandOutcome& o : outs) {
        if (o.kind == EnvelopeKind::kRegisterSession && o.session == 0) ++n_reg_refused;
        if (o.kind == EnvelopeKind::kRegisterSession && o.session != 0) {
          sessions.push_back(o.session);
        }
        if (o.kind != EnvelopeKind::kCommand || o.status == CommandOutcome::Status::kInvalid) {
          continue;
        }
        Seen& s = seen[{o.session, o.sequence}];
        if (o.status == CommandOutcome::Status::kRefused) {
          ASSERT_EQ(s.fresh, 0) << "refused after it was applied: session " << o.session << " seq "
                                << o.sequence << " slot " << slot;
          s.refused = true;
          ++n_refused;
        } else if ((o.status == CommandOutcome::Status::kOk ||
                    o.status == CommandOutcome::Status::kFailed) &&
                   !o.duplicate) {
          ASSERT_FALSE(s.refused) << "applied after a refusal: session " << o.session << " seq "
                                  << o.sequence << " slot " << slot;
          ASSERT_EQ(s.fresh, 0) << "applied twice";
          s.fresh = 1;
          ++n_fresh;
          s.result = o.result;
        } else if (o.duplicate) {
          ASSERT_EQ(s.fresh, 1);
          ASSERT_EQ(o.result, s.result);
          ++n_dup;
        } else if (s.refused) {
          ++n_refused_then_expired;
        }
      }
      // Snapshot round trip of the session table at every slot.
      Writer w;
      a.Snapshot(w);
      Counter c3;
      Applier copy(c3, options);
      Reader rd(w.chunks);
      ASSERT_TRUE(copy.Restore(rd)) << "own snapshot does not restore at slot " << slot;
      Writer w2;
      copy.Snapshot(w2);
      ASSERT_EQ(w.chunks, w2.chunks);
      if (slot == restore_at) {
        c2.value = 0;
        b = std::make_unique<Applier>(c2, options);
        Reader r2(w.chunks);
        ASSERT_TRUE(b->Restore(r2));
      }
    }
  }
  // The log exercises every path.
  EXPECT_GT(n_refused, 0);
  EXPECT_GT(n_fresh, 0);
  EXPECT_GT(n_dup, 0);
  EXPECT_GT(n_reg_refused, 0);
  EXPECT_GT(n_refused_then_expired, 0);
}

// A full table refuses a flood of registrations, each at a new log time,
// without walking the table: expiry looks only at the least recently active
// sessions.
TEST(SessionLimits, RefusedRegistrationsAtAFullTableExamineNoOtherSessions) {
  Counter c;
  Applier a(c, SessionOptions{});
  paxos::Slot slot = 0;
  const uint64_t kSessions = 2000;
  const SessionLimits limits{kSessions, 100};
  std::vector<std::string> batch;
  for (uint64_t i = 0; i < kSessions; ++i) batch.push_back(Reg(i + 1, 1, limits));
  a.Apply(paxos::CommittedEntry{++slot, paxos::MakeCommandsValue(batch)});
  ASSERT_EQ(a.sessions().size(), kSessions);
  const uint64_t before = a.sessions().examined();
  const uint64_t kFlood = 2000;
  for (uint64_t i = 0; i < kFlood; ++i) {
    auto outs = a.Apply(
        paxos::CommittedEntry{++slot, paxos::MakeCommandsValue({Reg(100000 + i, 2 + i, limits)})});
    ASSERT_EQ(outs[0].status, CommandOutcome::Status::kRefused);
  }
  // At most one live session looked at per refusal (the oldest, to stop),
  // and one per periodic sweep of the applier.
  EXPECT_LE(a.sessions().examined() - before,
            kFlood + kFlood / SessionOptions{}.sweep_every_slots + 1);
}

// Expiry drops exactly the expired sessions and looks at one more.
TEST(SessionLimits, ExpiryExaminesOnlyTheExpiredSessions) {
  SessionOptions options;
  options.expiry_ms = 1000;
  SessionTable table(options);
  for (uint64_t t = 0; t < 1000; ++t) ASSERT_NE(table.Register(t), 0u);  // session t + 1 at t
  // Touch the oldest one: it is active again.
  ASSERT_EQ(table.Check(1, 1, 1, 999).kind, SessionTable::Verdict::Kind::kApply);
  const uint64_t before = table.examined();
  table.Sweep(1901);  // expires those last active before 901: sessions 2..901
  EXPECT_EQ(table.size(), 100u);
  EXPECT_LE(table.examined() - before, 900u + 1u);
  // The survivors are session 1 and the ones active at 901..999.
  EXPECT_EQ(table.Check(1, 2, 1, 1901).kind, SessionTable::Verdict::Kind::kApply);
  EXPECT_EQ(table.Check(902, 1, 1, 1901).kind, SessionTable::Verdict::Kind::kApply);
  EXPECT_EQ(table.Check(2, 1, 1, 1901).kind, SessionTable::Verdict::Kind::kExpired);
  EXPECT_EQ(table.Check(901, 1, 1, 1901).kind, SessionTable::Verdict::Kind::kExpired);
}

// Sessions carry their own expiry: the index orders them by deadline (last
// activity + expiry), so short-lived sessions active after long-lived ones
// are still dropped, and a sweep looks only at the expired ones and one more.
TEST(SessionLimits, ExpiryWithPerSessionLifetimesExaminesOnlyTheExpiredSessions) {
  SessionTable table(SessionOptions{});
  for (uint64_t t = 0; t < 500; ++t) ASSERT_NE(table.Register(t, {}, 100000), 0u);  // 1..500
  for (uint64_t t = 500; t < 1000; ++t) ASSERT_NE(table.Register(t, {}, 10), 0u);   // 501..1000
  const uint64_t before = table.examined();
  table.Sweep(2000);  // the short-lived ones expired by 1010, the long-lived ones live
  EXPECT_EQ(table.size(), 500u);
  EXPECT_LE(table.examined() - before, 500u + 1u);
  EXPECT_EQ(table.Check(1, 1, 1, 2000).kind, SessionTable::Verdict::Kind::kApply);
  EXPECT_EQ(table.Check(501, 1, 1, 2000).kind, SessionTable::Verdict::Kind::kExpired);
  // Activity moves a session's deadline: session 2 touched at 2000 outlives
  // session 3 untouched since 2.
  ASSERT_EQ(table.Check(2, 1, 1, 2000).kind, SessionTable::Verdict::Kind::kApply);
  table.Sweep(100003);
  EXPECT_EQ(table.Check(3, 1, 1, 100003).kind, SessionTable::Verdict::Kind::kExpired);
  EXPECT_EQ(table.Check(2, 2, 1, 100003).kind, SessionTable::Verdict::Kind::kApply);
  // A deadline beyond the largest log time never comes.
  uint64_t forever = table.Register(100003, {}, UINT64_MAX);
  table.Sweep(UINT64_MAX);
  EXPECT_EQ(table.Check(forever, 1, 1, UINT64_MAX).kind, SessionTable::Verdict::Kind::kApply);
}

// A refused command with a wild sequence number refuses only itself: once the
// client acknowledges, the session's next commands apply.
TEST(SessionLimits, OneWildRefusalRefusesOnlyItself) {
  Counter c;
  Applier a(c, SessionOptions{});
  paxos::Slot slot = 0;
  auto apply = [&](std::string cmd) {
    return a.Apply(paxos::CommittedEntry{++slot, paxos::MakeCommandsValue({cmd})})[0];
  };
  uint64_t s = apply(Reg(1, 1, SessionLimits{10, 1})).session;
  EXPECT_EQ(apply(Cmd(s, 1, 1, 1)).status, CommandOutcome::Status::kOk);
  EXPECT_EQ(apply(Cmd(s, 1000000, 1, 1)).status, CommandOutcome::Status::kRefused);
  EXPECT_EQ(apply(Cmd(s, 2, 1, 1)).status, CommandOutcome::Status::kRefused);
  // The client acknowledges 1 and 2 (mark 3): there is room again.
  EXPECT_EQ(apply(Cmd(s, 3, 3, 1)).status, CommandOutcome::Status::kOk);
  // The refused ones stay refused.
  EXPECT_EQ(apply(Cmd(s, 1000000, 4, 1)).status, CommandOutcome::Status::kRefused);
  EXPECT_EQ(apply(Cmd(s, 2, 4, 1)).status, CommandOutcome::Status::kSessionExpired);
  EXPECT_EQ(apply(Cmd(s, 4, 4, 1)).status, CommandOutcome::Status::kOk);
  EXPECT_EQ(c.applies, 3);
}

// The byte limit: a session stops taking results once the ones it holds
// weigh the limit (size + kResultWeight each); acknowledging makes room.
TEST(SessionLimits, ASessionStopsTakingResultsAtItsByteLimit) {
  Counter c;
  Applier a(c, SessionOptions{});
  paxos::Slot slot = 0;
  auto apply = [&](std::string cmd) {
    return a.Apply(paxos::CommittedEntry{++slot, paxos::MakeCommandsValue({cmd})})[0];
  };
  // Results here are "N:s1qQ" (6 bytes for N, Q < 10): 70 each with their weight.
  static_assert(SessionTable::kResultWeight == 64);
  uint64_t s = apply(Reg(1, 1, SessionLimits{10, 1000, 3 * 70})).session;
  for (uint64_t seq = 1; seq <= 3; ++seq) {
    ASSERT_EQ(apply(Cmd(s, seq, 1, 1)).status, CommandOutcome::Status::kOk) << seq;
  }
  auto refused = apply(Cmd(s, 4, 1, 1));
  EXPECT_EQ(refused.status, CommandOutcome::Status::kRefused);
  EXPECT_EQ(refused.result, "session holds too many unacknowledged results");
  EXPECT_TRUE(apply(Cmd(s, 2, 1, 1)).duplicate);
  // Acknowledging 1 frees 70 bytes: one more fits; the refused 4 stays refused.
  EXPECT_EQ(apply(Cmd(s, 5, 2, 1)).status, CommandOutcome::Status::kOk);
  EXPECT_EQ(apply(Cmd(s, 4, 2, 1)).status, CommandOutcome::Status::kRefused);
  EXPECT_EQ(apply(Cmd(s, 6, 2, 1)).status, CommandOutcome::Status::kRefused);
  EXPECT_EQ(c.applies, 4);
  // The limit is in the snapshot.
  Writer w;
  a.Snapshot(w);
  Counter c2;
  Applier b(c2, SessionOptions{});
  Reader r(w.chunks);
  ASSERT_TRUE(b.Restore(r));
  auto again =
      b.Apply(paxos::CommittedEntry{slot + 1, paxos::MakeCommandsValue({Cmd(s, 7, 2, 1)})});
  EXPECT_EQ(again[0].status, CommandOutcome::Status::kRefused);
}

// Beyond kRefusedKept refused sequence numbers, further refusals widen a
// range that is cleared once the mark passes its top; none is ever applied.
TEST(SessionLimits, RefusalsBeyondTheKeptOnesStillStayRefused) {
  Counter c;
  Applier a(c, SessionOptions{});
  paxos::Slot slot = 0;
  auto apply = [&](std::string cmd) {
    return a.Apply(paxos::CommittedEntry{++slot, paxos::MakeCommandsValue({cmd})})[0];
  };
  uint64_t s = apply(Reg(1, 1, SessionLimits{10, 1})).session;
  ASSERT_EQ(apply(Cmd(s, 1, 1, 1)).status, CommandOutcome::Status::kOk);
  const uint64_t kept = SessionTable::kRefusedKept;
  for (uint64_t seq = 2; seq <= kept + 3; ++seq) {  // kept ones, then 2 beyond: kept+2, kept+3
    ASSERT_EQ(apply(Cmd(s, seq, 1, 1)).status, CommandOutcome::Status::kRefused);
  }
  // Room again (mark 2); all refused ones stay refused.
  for (uint64_t seq = 2; seq <= kept + 3; ++seq) {
    ASSERT_EQ(apply(Cmd(s, seq, 2, 1)).status, CommandOutcome::Status::kRefused) << seq;
  }
  EXPECT_EQ(apply(Cmd(s, kept + 10, 2, 1)).status, CommandOutcome::Status::kOk);
  EXPECT_EQ(c.applies, 2);
}

}  // namespace
}  // namespace synod::statemachine
