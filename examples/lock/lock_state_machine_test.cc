// Tests of the replicated lock: fencing tokens strictly increase per lock
// (also release-then-acquire inside one batch), no two owners hold one lock
// at one log time (seeded random schedules against an independent oracle),
// expiry is identical on independently fed machines and after a restart from
// a snapshot, renew and release after expiry are refused and change nothing
// (as every "error: ..." result), and lagging leader stamps (through the
// real Applier) never move log time back, so they never revive a lease.
#include "examples/lock/lock_state_machine.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <vector>

#include "statemachine/applier.h"
#include "statemachine/envelope.h"

namespace synod::examples {
namespace {

using statemachine::ApplyContext;

// Collects snapshot chunks; hands them back in order.
class Buffer : public statemachine::SnapshotWriter, public statemachine::SnapshotReader {
 public:
  void Write(std::string_view chunk) override { chunks_.emplace_back(chunk); }
  bool Read(std::string& chunk) override {
    if (next_ >= chunks_.size()) return false;
    chunk = chunks_[next_++];
    return true;
  }
  std::string All() const {
    std::string all;
    for (const auto& c : chunks_) all += c;
    return all;
  }

 private:
  std::vector<std::string> chunks_;
  size_t next_ = 0;
};

std::string Snap(const LockStateMachine& m) {
  Buffer b;
  m.Snapshot(b);
  return b.All();
}

// Token in "granted token=T ..." / "renewed token=T ..."; 0 otherwise.
uint64_t TokenOf(const std::string& result) {
  size_t at = result.find("token=");
  if (at == std::string::npos) return 0;
  return std::stoull(result.substr(at + 6));
}

bool Granted(const std::string& r) { return r.rfind("granted ", 0) == 0; }

ApplyContext At(uint64_t t, uint64_t slot = 1) { return ApplyContext{slot, t}; }

TEST(LockStateMachine, GrantsHoldsRenewsReleases) {
  LockStateMachine m;
  EXPECT_EQ(m.Apply("status a", At(100)), "free");
  EXPECT_EQ(m.Apply("acquire a alice 1000", At(100)), "granted token=1 ttl=1000");
  EXPECT_EQ(m.Apply("acquire a bob 1000", At(600)), "held owner=alice token=1 remaining=500");
  EXPECT_EQ(m.Apply("status a", At(700)), "held owner=alice token=1 remaining=400");
  EXPECT_EQ(m.Apply("renew a alice 1", At(900)), "renewed token=1 ttl=1000");
  EXPECT_EQ(m.Apply("status a", At(1500)), "held owner=alice token=1 remaining=400");
  EXPECT_EQ(m.Apply("renew a bob 1", At(1500)), "error: not the holder");
  EXPECT_EQ(m.Apply("renew a alice 7", At(1500)), "error: not the holder");
  EXPECT_EQ(m.Apply("release a bob 1", At(1500)), "error: not the holder");
  EXPECT_EQ(m.Apply("release a alice 1", At(1600)), "released token=1");
  EXPECT_EQ(m.Apply("status a", At(1600)), "free");
  EXPECT_EQ(m.Apply("renew a alice 1", At(1600)), "error: lock is free");
  EXPECT_EQ(m.Apply("acquire a bob 50", At(1600)), "granted token=2 ttl=50");
  // Re-acquire by the holder keeps the token and extends the lease.
  EXPECT_EQ(m.Apply("acquire a bob 80", At(1620)), "granted token=2 ttl=80");
  EXPECT_EQ(m.Apply("status a", At(1690)), "held owner=bob token=2 remaining=10");
}

TEST(LockStateMachine, BadInputIsAnErrorAndChangesNothing) {
  LockStateMachine m;
  m.Apply("acquire a alice 1000", At(0));
  std::string before = Snap(m);
  for (const char* bad :
       {"", "acquire", "acquire a alice", "acquire a alice 0", "acquire a alice -5",
        "acquire a alice 99999999999", "acquire a alice 10x", "acquire  alice 10",
        "acquire a alice 10 extra", "renew a alice", "renew a alice one", "release a", "status",
        "status a b", "steal a", "acquire a\x01 alice 10",
        "acquire a alice 18446744073709551616"}) {
    EXPECT_EQ(m.Apply(bad, At(10)).rfind("error: ", 0), 0u) << "'" << bad << "'";
  }
  EXPECT_FALSE(Granted(m.Apply("acquire " + std::string(129, 'x') + " o 10", At(10))));
  EXPECT_EQ(Snap(m), before);
}

TEST(LockStateMachine, RenewAtOrAfterExpiryFails) {
  LockStateMachine m;
  m.Apply("acquire a alice 1000", At(0));
  EXPECT_EQ(m.Apply("renew a alice 1", At(999)), "renewed token=1 ttl=1000");
  EXPECT_EQ(m.Apply("renew a alice 1", At(1998)), "renewed token=1 ttl=1000");
  EXPECT_EQ(m.Apply("renew a alice 1", At(2997)), "renewed token=1 ttl=1000");
  EXPECT_EQ(m.Apply("status a", At(3996)), "held owner=alice token=1 remaining=1");
  EXPECT_EQ(m.Apply("renew a alice 1", At(3997)), "error: lease expired 0 ms ago");
  EXPECT_EQ(m.Apply("renew a alice 1", At(3999)), "error: lease expired 2 ms ago");
  EXPECT_EQ(m.Apply("status a", At(3997)), "free");
  EXPECT_EQ(m.Apply("acquire a bob 10", At(4000)), "granted token=2 ttl=10");
  EXPECT_EQ(m.Apply("renew a alice 1", At(4001)), "error: not the holder");
}

// Releasing a lease that already ended is refused, and like every refusal it
// changes nothing: the lock was free already, and the next grant is fresh.
TEST(LockStateMachine, ReleaseAfterExpiryIsRefusedAndChangesNothing) {
  LockStateMachine m;
  m.Apply("acquire a alice 1000", At(0));
  std::string before = Snap(m);
  EXPECT_EQ(m.Apply("release a alice 1", At(1000)), "error: lease had already expired");
  EXPECT_EQ(Snap(m), before);
  EXPECT_EQ(m.Apply("release a alice 1", At(1500)), "error: lease had already expired");
  EXPECT_EQ(m.Apply("renew a alice 1", At(1500)), "error: lease expired 500 ms ago");
  EXPECT_EQ(Snap(m), before);
  EXPECT_EQ(m.Apply("status a", At(1500)), "free");
  EXPECT_EQ(m.Apply("acquire a bob 10", At(1500)), "granted token=2 ttl=10");
  EXPECT_EQ(m.Apply("release a alice 1", At(1501)), "error: not the holder");
}

TEST(LockStateMachine, ExpiredLeaseIsTakenOverWithAHigherToken) {
  LockStateMachine m;
  EXPECT_EQ(TokenOf(m.Apply("acquire a alice 1000", At(0))), 1u);
  EXPECT_FALSE(Granted(m.Apply("acquire a bob 1000", At(999))));
  EXPECT_EQ(m.Apply("acquire a bob 1000", At(1000)), "granted token=2 ttl=1000");
  // Other locks have their own counters.
  EXPECT_EQ(TokenOf(m.Apply("acquire b bob 1000", At(1000))), 1u);
}

// Release then acquire inside one slot's batch (same log time): the new
// grant still gets a higher token.
TEST(LockStateMachine, ReleaseThenAcquireInOneBatchYieldsAHigherToken) {
  LockStateMachine m;
  statemachine::Applier applier(m, statemachine::SessionOptions{});
  auto reg = [](uint64_t nonce) {
    statemachine::Envelope e;
    e.kind = statemachine::EnvelopeKind::kRegisterSession;
    e.session = nonce;
    e.stamp_ms = 5000;
    return statemachine::EncodeEnvelope(e);
  };
  auto out = applier.Apply({1, paxos::MakeCommandsValue({reg(1)})});
  uint64_t session = out[0].session;
  uint64_t seq = 0;
  auto cmd = [&](const std::string& payload) {
    statemachine::Envelope e;
    e.kind = statemachine::EnvelopeKind::kCommand;
    e.session = session;
    e.sequence = ++seq;
    e.lowest_unanswered = seq;
    e.payload = payload;
    e.stamp_ms = 5000;
    return statemachine::EncodeEnvelope(e);
  };
  std::vector<std::string> batch;
  batch.push_back(cmd("acquire L alice 1000"));
  for (int i = 0; i < 5; ++i) {
    batch.push_back(
        cmd("release L " + std::string(i % 2 ? "bob" : "alice") + " " + std::to_string(i + 1)));
    batch.push_back(cmd("acquire L " + std::string(i % 2 ? "alice" : "bob") + " 1000"));
  }
  out = applier.Apply({2, paxos::MakeCommandsValue(std::move(batch))});
  ASSERT_EQ(out.size(), 11u);
  uint64_t last = 0;
  for (size_t i = 0; i < out.size(); i += 2) {
    ASSERT_TRUE(Granted(out[i].result)) << out[i].result;
    EXPECT_GT(TokenOf(out[i].result), last);
    last = TokenOf(out[i].result);
    if (i + 1 < out.size()) {
      EXPECT_EQ(out[i + 1].result.rfind("released", 0), 0u) << out[i + 1].result;
    }
  }
  EXPECT_EQ(last, 6u);
  EXPECT_EQ(m.locks().at("L").last_token, 6u);
}

// A random schedule of commands over a few locks and owners, with log time
// moving forward irregularly (sometimes standing still for a whole batch).
struct Step {
  std::string command;
  uint64_t time;
};
std::vector<Step> RandomSchedule(uint64_t seed, int count) {
  std::mt19937_64 rng(seed);
  const char* locks[] = {"a", "b"};
  const char* owners[] = {"o1", "o2", "o3"};
  std::vector<Step> steps;
  uint64_t time = 1000;
  for (int i = 0; i < count; ++i) {
    if (rng() % 3 == 0) time += rng() % 400;
    std::string lock = locks[rng() % 2], owner = owners[rng() % 3];
    std::string token = std::to_string(rng() % 6 + 1);
    switch (rng() % 5) {
      case 0:
      case 1:
        steps.push_back(
            {"acquire " + lock + " " + owner + " " + std::to_string(rng() % 900 + 1), time});
        break;
      case 2:
        steps.push_back({"renew " + lock + " " + owner + " " + token, time});
        break;
      case 3:
        steps.push_back({"release " + lock + " " + owner + " " + token, time});
        break;
      default:
        steps.push_back({"status " + lock, time});
    }
  }
  return steps;
}

// Independent oracle built only from results: for every lock, the current
// lease (owner, token, end). Checks that a grant to another owner never
// happens while a lease is live, tokens strictly increase per grant, the
// machine's `status` agrees with the oracle at every step, and no "error: ..."
// result changes the state.
TEST(LockStateMachine, NoTwoOwnersAtOneLogTimeAndTokensIncrease) {
  for (uint64_t seed = 1; seed <= 50; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    LockStateMachine m;
    struct Lease {
      std::string owner;
      uint64_t token = 0;
      uint64_t end = 0;
      uint64_t ttl = 0;
    };
    std::map<std::string, Lease> oracle;
    std::map<std::string, uint64_t> highest;
    int grants = 0;
    for (const Step& s : RandomSchedule(seed, 2000)) {
      std::istringstream in(s.command);
      std::string verb, lock, owner;
      uint64_t n = 0;
      in >> verb >> lock >> owner >> n;
      Lease& lease = oracle[lock];
      bool live = !lease.owner.empty() && s.time < lease.end;
      std::string before = Snap(m);
      std::string r = m.Apply(s.command, At(s.time));
      if (r.rfind("error: ", 0) == 0) {
        ASSERT_EQ(Snap(m), before) << "'" << s.command << "' -> " << r << " changed the state";
      }
      if (verb == "acquire") {
        if (Granted(r)) {
          ++grants;
          ASSERT_TRUE(!live || lease.owner == owner) << "two owners at log time " << s.time;
          uint64_t token = TokenOf(r);
          if (live) {
            ASSERT_EQ(token, lease.token);
          } else {
            ASSERT_GT(token, highest[lock]);
          }
          highest[lock] = token;
          lease = {owner, token, s.time + n, n};
        } else {
          ASSERT_TRUE(live && lease.owner != owner) << r;
        }
      } else if (verb == "renew") {
        bool ok = r.rfind("renewed", 0) == 0;
        ASSERT_EQ(ok, live && lease.owner == owner && lease.token == n) << r;
        if (ok) lease.end = s.time + lease.ttl;
      } else if (verb == "release") {
        bool mine = !lease.owner.empty() && lease.owner == owner && lease.token == n;
        ASSERT_EQ(r.rfind("released", 0) == 0, mine && live) << r;
        if (mine && live) lease = Lease{};
      }
      std::string expect;
      if (!oracle[lock].owner.empty() && s.time < oracle[lock].end) {
        expect = "held owner=" + oracle[lock].owner +
                 " token=" + std::to_string(oracle[lock].token) +
                 " remaining=" + std::to_string(oracle[lock].end - s.time);
      } else {
        expect = "free";
      }
      ASSERT_EQ(m.Apply("status " + lock, At(s.time)), expect);
    }
    EXPECT_GT(grants, 100);
  }
}

// Two machines fed the same log independently, and a third restored from a
// snapshot taken halfway, give identical results and identical state.
TEST(LockStateMachine, ExpiryIsIdenticalOnEveryReplicaAndAfterRestart) {
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    std::vector<Step> steps = RandomSchedule(seed * 7919, 1000);
    LockStateMachine a, b;
    std::unique_ptr<LockStateMachine> c;
    for (size_t i = 0; i < steps.size(); ++i) {
      if (i == steps.size() / 2) {
        Buffer snapshot;
        a.Snapshot(snapshot);
        c = std::make_unique<LockStateMachine>();
        c->Apply("acquire junk junk 5", At(0));  // Restore must replace it all
        ASSERT_TRUE(c->Restore(snapshot));
      }
      std::string ra = a.Apply(steps[i].command, At(steps[i].time, i + 1));
      ASSERT_EQ(ra, b.Apply(steps[i].command, At(steps[i].time, i + 1)));
      if (c) {
        ASSERT_EQ(ra, c->Apply(steps[i].command, At(steps[i].time, i + 1)));
      }
    }
    EXPECT_EQ(Snap(a), Snap(b));
    EXPECT_EQ(Snap(a), Snap(*c));
  }
}

TEST(LockStateMachine, SnapshotKeepsTokenCountersOfFreeLocks) {
  LockStateMachine m;
  m.Apply("acquire a alice 100", At(0));
  m.Apply("release a alice 1", At(1));
  m.Apply("acquire a bob 100", At(2));
  m.Apply("release a bob 2", At(3));
  Buffer snapshot;
  m.Snapshot(snapshot);
  LockStateMachine restored;
  ASSERT_TRUE(restored.Restore(snapshot));
  EXPECT_EQ(restored.Apply("acquire a carol 100", At(4)), "granted token=3 ttl=100");
}

TEST(LockStateMachine, RestoreRefusesMalformedSnapshotsAndKeepsState) {
  for (const char* bad :
       {"", "synod-lock-v2\n", "synod-lock-v1", "synod-lock-v1\na\n", "synod-lock-v1\na x\n",
        "synod-lock-v1\na 1 o 5\n", "synod-lock-v1\na 0 o 5 5\n", "synod-lock-v1\na 1 o 5 0\n",
        "synod-lock-v1\na 1\na 2\n", "synod-lock-v1\na 1\nb 2"}) {
    LockStateMachine m;
    m.Apply("acquire keep me 100", At(0));
    std::string before = Snap(m);
    Buffer snapshot;
    snapshot.Write(bad);
    EXPECT_FALSE(m.Restore(snapshot)) << bad;
    EXPECT_EQ(Snap(m), before);
  }
}

// Through the real Applier: a new leader whose clock lags stamps commands
// with older times; log time stays at the maximum, so a lease is neither
// extended (revived) nor shortened by the lagging stamps.
TEST(LockStateMachine, LaggingLeaderStampsNeverMoveLogTimeBack) {
  LockStateMachine m;
  statemachine::Applier applier(m, statemachine::SessionOptions{});
  paxos::Slot slot = 0;
  auto apply = [&](std::vector<std::string> batch) {
    return applier.Apply({++slot, paxos::MakeCommandsValue(std::move(batch))});
  };
  auto envelope = [](statemachine::EnvelopeKind kind, uint64_t stamp, uint64_t session,
                     uint64_t seq, std::string payload) {
    statemachine::Envelope e;
    e.kind = kind;
    e.stamp_ms = stamp;
    e.session = session;
    e.sequence = seq;
    e.lowest_unanswered = seq;
    e.payload = std::move(payload);
    return statemachine::EncodeEnvelope(e);
  };
  using K = statemachine::EnvelopeKind;
  uint64_t session = apply({envelope(K::kRegisterSession, 100000, 9, 0, "")})[0].session;
  uint64_t seq = 0;
  auto cmd = [&](uint64_t stamp, const std::string& payload) {
    return apply({envelope(K::kCommand, stamp, session, ++seq, payload)})[0].result;
  };
  // Old leader (clock ~100 s): alice gets a 1 s lease ending at 101000.
  EXPECT_EQ(cmd(100000, "acquire L alice 1000"), "granted token=1 ttl=1000");
  apply({envelope(K::kTick, 100900, 0, 0, "")});
  // New leader whose clock lags by 50 s: time stays at 100900.
  EXPECT_EQ(cmd(50900, "status L"), "held owner=alice token=1 remaining=100");
  EXPECT_EQ(cmd(50950, "acquire L bob 1000"), "held owner=alice token=1 remaining=100");
  EXPECT_EQ(applier.log_time_ms(), 100900u);
  // Its ticks catch up only once they pass the old maximum: the lease ends
  // exactly at 101000 log time, neither earlier nor later.
  apply({envelope(K::kTick, 60000, 0, 0, "")});
  EXPECT_EQ(cmd(60000, "status L"), "held owner=alice token=1 remaining=100");
  apply({envelope(K::kTick, 100999, 0, 0, "")});
  EXPECT_EQ(cmd(100999, "renew L alice 1"), "renewed token=1 ttl=1000");
  // Renewed at 100999: ends at 101999. A lagging stamp cannot revive it later.
  apply({envelope(K::kTick, 101999, 0, 0, "")});
  EXPECT_EQ(cmd(70000, "renew L alice 1"), "error: lease expired 0 ms ago");
  EXPECT_EQ(cmd(70001, "acquire L bob 1000"), "granted token=2 ttl=1000");
  EXPECT_EQ(cmd(70002, "status L"), "held owner=bob token=2 remaining=1000");
}

// Two replicas' Appliers fed the same chosen log, where leadership changes
// between leaders whose clocks are skewed by up to +-5 s (so stamps jump back
// and forth), and a third restored from the first's snapshot halfway (a
// restarted replica): identical outcomes, identical state, and log time
// never decreases.
TEST(LockStateMachine, SkewedLeadersGiveIdenticalDecisionsOnEveryReplica) {
  using K = statemachine::EnvelopeKind;
  for (uint64_t seed = 1; seed <= 10; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 rng(seed);
    std::vector<std::vector<std::string>> log;
    uint64_t real_time = 1000000;
    int64_t skew = 0;
    std::vector<Step> steps = RandomSchedule(seed * 31, 600);
    size_t next = 0;
    uint64_t sequence = 0;
    statemachine::Envelope reg;
    reg.kind = K::kRegisterSession;
    reg.session = 77;
    reg.stamp_ms = real_time;
    log.push_back({statemachine::EncodeEnvelope(reg)});
    while (next < steps.size()) {
      if (rng() % 10 == 0) skew = static_cast<int64_t>(rng() % 10001) - 5000;  // new leader
      real_time += rng() % 300;
      std::vector<std::string> batch;
      size_t size = rng() % 4 + 1;
      for (size_t i = 0; i < size && next < steps.size(); ++i, ++next) {
        statemachine::Envelope e;
        e.kind = K::kCommand;
        e.session = 1;
        e.sequence = ++sequence;
        e.lowest_unanswered = sequence;
        e.payload = steps[next].command;
        e.stamp_ms = static_cast<uint64_t>(static_cast<int64_t>(real_time) + skew);
        batch.push_back(statemachine::EncodeEnvelope(e));
      }
      if (rng() % 5 == 0) {
        statemachine::Envelope tick;
        tick.kind = K::kTick;
        tick.stamp_ms = static_cast<uint64_t>(static_cast<int64_t>(real_time) + skew);
        batch.push_back(statemachine::EncodeEnvelope(tick));
      }
      log.push_back(std::move(batch));
    }
    LockStateMachine ma, mb, mc;
    statemachine::Applier a(ma, {}), b(mb, {}), c(mc, {});
    bool c_started = false;
    uint64_t last_time = 0;
    for (size_t slot = 1; slot <= log.size(); ++slot) {
      if (slot == log.size() / 2) {
        Buffer snapshot;
        a.Snapshot(snapshot);
        ASSERT_TRUE(c.Restore(snapshot));
        c_started = true;
      }
      auto value = [&] { return paxos::MakeCommandsValue(log[slot - 1]); };
      auto oa = a.Apply({slot, value()});
      auto ob = b.Apply({slot, value()});
      ASSERT_EQ(oa.size(), ob.size());
      for (size_t i = 0; i < oa.size(); ++i) ASSERT_EQ(oa[i].result, ob[i].result);
      if (c_started) {
        auto oc = c.Apply({slot, value()});
        ASSERT_EQ(oa.size(), oc.size());
        for (size_t i = 0; i < oa.size(); ++i) ASSERT_EQ(oa[i].result, oc[i].result);
      }
      ASSERT_GE(a.log_time_ms(), last_time);
      last_time = a.log_time_ms();
    }
    EXPECT_EQ(Snap(ma), Snap(mb));
    EXPECT_EQ(Snap(ma), Snap(mc));
    EXPECT_FALSE(ma.locks().empty());
  }
}

}  // namespace
}  // namespace synod::examples
