// Snapshot benchmarks: take / transfer / install rates and restart
// time against history length, on the real file system under /tmp (fsync on)
// and real TCP on 127.0.0.1.
//
//   BM_SnapshotTake/<MB>      Applier::Snapshot of a state machine holding <MB>
//                             MiB of 1 KiB values into memory (capture), then
//                             SnapshotStore BeginWrite + SnapshotSink + Commit
//                             (write). Counters: capture_MiB/s, write_MiB/s;
//                             bytes_per_second is the whole take.
//   BM_SnapshotTransfer/<MB>  SnapshotFetcher pulling the snapshot from a
//                             Server + StoreSnapshotProvider through a
//                             StoreChunkSink into an empty second store:
//                             connect, hello, chunked reads, CRC check,
//                             durable install. One EventLoop thread runs both
//                             ends (default chunk and window); the sink writes
//                             on its own thread.
//   BM_SnapshotInstall/<MB>   OpenReader (size + CRC32C check) + ChunkReader +
//                             Applier::Restore into a fresh state machine.
//   BM_RestartReplayWholeLog/<H>  LevelDbLogStorage::Open + Load of H entries
//                             (one ~100-byte command each) and replay of every
//                             entry through an Applier.
//   BM_RestartFromSnapshot/<H>    the same history compacted to its last 1000
//                             entries: Open + Load, SnapshotStore::Open +
//                             OpenReader + Restore of the snapshot at H-1000,
//                             replay of the last 1000 entries.
// The restart state machine is a key-value map over 65536 keys, so its state
// (and snapshot) stops growing at ~6 MB while the log keeps growing. Files are
// in the page cache (warm restarts). Run (Release or RelWithDebInfo build):
//   build/<dir>/benchmarks/synod-snapshot-bench
#include <benchmark/benchmark.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "log/leveldb_log_storage.h"
#include "node/snapshotter.h"
#include "node/store_chunk_sink.h"
#include "node/store_snapshot_provider.h"
#include "snapshot/snapshot_store.h"
#include "statemachine/applier.h"
#include "statemachine/envelope.h"
#include "tests/support/temp_dir.h"
#include "transport/event_loop.h"
#include "transport/server.h"
#include "transport/snapshot_fetcher.h"

namespace synod::benchmarks {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using snapshot::SnapshotMeta;
using snapshot::SnapshotStore;
using statemachine::Applier;
using test_support::TempDir;

constexpr double kMiB = 1024.0 * 1024.0;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// Key-value state machine: a command is an 8-byte key followed by the value.
// Snapshot writes (key, length, value) records in chunks of about 64 KiB.
class KvMachine final : public statemachine::StateMachine {
 public:
  std::string Apply(std::string_view command, const statemachine::ApplyContext&) override {
    if (command.size() < 8) return "bad command";
    uint64_t key;
    std::memcpy(&key, command.data(), 8);
    data_[key].assign(command.substr(8));
    return {};
  }
  void Put(uint64_t key, std::string value) { data_[key] = std::move(value); }
  size_t size() const { return data_.size(); }

  void Snapshot(statemachine::SnapshotWriter& out) const override {
    constexpr size_t kChunkBytes = 64 << 10;
    std::string chunk;
    chunk.reserve(kChunkBytes + 2048);
    for (const auto& [key, value] : data_) {
      const uint32_t length = static_cast<uint32_t>(value.size());
      chunk.append(reinterpret_cast<const char*>(&key), 8);
      chunk.append(reinterpret_cast<const char*>(&length), 4);
      chunk.append(value);
      if (chunk.size() >= kChunkBytes) {
        out.Write(chunk);
        chunk.clear();
      }
    }
    if (!chunk.empty()) out.Write(chunk);
  }

  bool Restore(statemachine::SnapshotReader& in) override {
    std::map<uint64_t, std::string> data;
    std::string chunk;
    while (in.Read(chunk)) {
      for (size_t at = 0; at < chunk.size();) {
        if (chunk.size() - at < 12) return false;
        uint64_t key;
        uint32_t length;
        std::memcpy(&key, chunk.data() + at, 8);
        std::memcpy(&length, chunk.data() + at + 8, 4);
        at += 12;
        if (chunk.size() - at < length) return false;
        data.emplace_hint(data.end(), key, chunk.substr(at, length));
        at += length;
      }
    }
    data_ = std::move(data);
    return true;
  }

 private:
  std::map<uint64_t, std::string> data_;
};

// Collects a snapshot's chunks in memory (as node::Snapshotter's capture does).
class CaptureWriter final : public statemachine::SnapshotWriter {
 public:
  void Write(std::string_view chunk) override {
    bytes += chunk.size();
    chunks.emplace_back(chunk);
  }
  std::vector<std::string> chunks;
  uint64_t bytes = 0;
};

// A machine holding `mib` MiB of 1 KiB values.
void Fill(KvMachine& machine, int64_t mib) {
  const std::string value(1024, 'v');
  for (uint64_t key = 0; key < static_cast<uint64_t>(mib) * 1024; ++key) machine.Put(key, value);
}

// Restores `applier` from `meta` exactly as a replica does.
bool RestoreFrom(SnapshotStore& store, const SnapshotMeta& meta, Applier& applier,
                 std::string* error) {
  Status restored = node::RestoreSnapshot(store, meta, applier);
  *error = restored.message();
  return restored.ok();
}

std::unique_ptr<SnapshotStore> OpenStore(const std::string& dir, benchmark::State& state) {
  Result<std::unique_ptr<SnapshotStore>> store = SnapshotStore::Open(dir);
  if (!store.ok()) {
    state.SkipWithError(store.status().message().c_str());
    return nullptr;
  }
  return std::move(*store);
}

void SetMiBRate(benchmark::State& state, const char* name, uint64_t bytes, double seconds) {
  if (seconds > 0) state.counters[name] = static_cast<double>(bytes) / kMiB / seconds;
}

void BM_SnapshotTake(benchmark::State& state) {
  TempDir dir{"synod-snapshot-bench"};
  KvMachine machine;
  Fill(machine, state.range(0));
  Applier applier(machine, statemachine::SessionOptions{});
  std::unique_ptr<SnapshotStore> store = OpenStore(dir / "snapshots", state);
  if (!store) return;
  uint64_t slot = 0, bytes = 0;
  double capture_s = 0, write_s = 0;
  for (auto _ : state) {
    const Clock::time_point start = Clock::now();
    auto capture = std::make_unique<CaptureWriter>();
    applier.Snapshot(*capture);
    const Clock::time_point captured = Clock::now();
    if (Result<SnapshotMeta> written = node::WriteSnapshot(*store, ++slot, capture->chunks);
        !written.ok()) {
      state.SkipWithError(written.status().message().c_str());
      break;
    }
    const Clock::time_point written = Clock::now();
    capture_s += Seconds(captured - start);
    write_s += Seconds(written - captured);
    bytes += capture->bytes;
    state.PauseTiming();  // freeing the capture is not part of taking it
    capture.reset();
    state.ResumeTiming();
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  SetMiBRate(state, "capture_MiB/s", bytes, capture_s);
  SetMiBRate(state, "write_MiB/s", bytes, write_s);
}
BENCHMARK(BM_SnapshotTake)->Arg(1)->Arg(16)->Arg(64)->Unit(benchmark::kMillisecond)->UseRealTime();

// A store holding one snapshot of a `mib` MiB machine (at slot 1).
struct SnapshotFixture {
  TempDir dir{"synod-snapshot-bench"};
  std::unique_ptr<SnapshotStore> store;
  SnapshotMeta meta;

  bool Build(int64_t mib, benchmark::State& state) {
    KvMachine machine;
    Fill(machine, mib);
    Applier applier(machine, statemachine::SessionOptions{});
    applier.Apply(paxos::CommittedEntry{1, paxos::NoopValue()});  // the snapshot is at slot 1
    CaptureWriter capture;
    applier.Snapshot(capture);
    store = OpenStore(dir / "source", state);
    if (!store) return false;
    Result<SnapshotMeta> written = node::WriteSnapshot(*store, 1, capture.chunks);
    if (!written.ok()) {
      state.SkipWithError(written.status().message().c_str());
      return false;
    }
    meta = *written;
    return true;
  }
};

class NullPeerHandler final : public transport::PeerMessageHandler {
 public:
  void OnPeerMessage(paxos::Message) override {}
};

void BM_SnapshotTransfer(benchmark::State& state) {
  SnapshotFixture source;
  if (!source.Build(state.range(0), state)) return;
  auto logger = std::make_shared<spdlog::logger>("snapshot-bench",
                                                 std::make_shared<spdlog::sinks::null_sink_mt>());
  transport::EventLoop loop;
  node::StoreSnapshotProvider provider(*source.store);
  transport::ServerOptions server_options;
  server_options.cluster_id = 0xB0u;
  server_options.self = 1;
  server_options.peers = {2};
  server_options.snapshot_provider = &provider;
  server_options.logger = logger;
  NullPeerHandler peer_handler;  // the fetcher says hello as a peer
  transport::Server server(loop, server_options, &peer_handler, nullptr);
  if (Status listening = server.Listen(); !listening.ok()) {
    state.SkipWithError(listening.message().c_str());
    return;
  }
  transport::SnapshotFetcherOptions fetch_options;
  fetch_options.peer = transport::PeerEndpoint{1, "127.0.0.1", server.port()};
  fetch_options.cluster_id = server_options.cluster_id;
  fetch_options.self = 2;
  fetch_options.logger = logger;

  // One fetch into a fresh store; "" or why it failed.
  int attempt = 0;
  auto fetch_once = [&](bool timed) -> std::string {
    if (timed) state.PauseTiming();
    const std::string dest = source.dir / ("dest-" + std::to_string(++attempt));
    std::string error;
    Result<std::unique_ptr<SnapshotStore>> opened = SnapshotStore::Open(dest);
    if (!opened.ok()) return opened.status().message();
    std::unique_ptr<SnapshotStore> store = std::move(*opened);
    auto sink = std::make_unique<node::StoreChunkSink>(loop.io(), *store, logger);
    auto fetcher = std::make_unique<transport::SnapshotFetcher>(loop, *sink, fetch_options);
    std::optional<transport::FetchResult> result;
    if (timed) state.ResumeTiming();
    fetcher->Fetch(0, [&result](transport::FetchResult r) { result = std::move(r); });
    const bool finished = loop.RunUntil([&] { return result.has_value(); }, 120s);
    if (timed) state.PauseTiming();
    if (!finished) {
      error = "fetch did not finish";
    } else if (!result->ok()) {
      error = result->status.message();
    } else if (result->meta.crc32c != source.meta.crc32c) {
      error = "fetched a different snapshot";
    }
    fetcher.reset();
    sink.reset();
    store.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dest, ignored);
    if (timed) state.ResumeTiming();
    return error;
  };
  // Warm-up: the provider verifies the snapshot's CRC32C on its first read.
  if (std::string error = fetch_once(false); !error.empty()) {
    state.SkipWithError(error.c_str());
    return;
  }
  for (auto _ : state) {
    if (std::string error = fetch_once(true); !error.empty()) {
      state.SkipWithError(error.c_str());
      break;
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * source.meta.size_bytes));
}
BENCHMARK(BM_SnapshotTransfer)->Arg(16)->Arg(64)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_SnapshotInstall(benchmark::State& state) {
  SnapshotFixture source;
  if (!source.Build(state.range(0), state)) return;
  for (auto _ : state) {
    auto machine = std::make_unique<KvMachine>();
    auto applier = std::make_unique<Applier>(*machine, statemachine::SessionOptions{});
    std::string error;
    if (!RestoreFrom(*source.store, source.meta, *applier, &error) ||
        machine->size() != static_cast<size_t>(state.range(0)) * 1024) {
      state.SkipWithError(error.empty() ? "restored the wrong state" : error.c_str());
      break;
    }
    state.PauseTiming();  // tearing the restored state down is not part of installing it
    applier.reset();
    machine.reset();
    state.ResumeTiming();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * source.meta.size_bytes));
}
BENCHMARK(BM_SnapshotInstall)->Arg(16)->Arg(64)->Unit(benchmark::kMillisecond)->UseRealTime();

// ---- Restart time against history length ----

constexpr paxos::Slot kTailEntries = 1000;  // entries kept after compaction
constexpr uint64_t kKeys = 65536;           // restart state machine key space
constexpr paxos::ReplicaId kReplica = 1;

// Command of slot `slot`: slot 1 registers session 1, later slots are commands
// of that session with a 100-byte payload (8-byte key + 92-byte value).
std::string CommandAt(paxos::Slot slot) {
  statemachine::Envelope envelope;
  if (slot == 1) {
    envelope.kind = statemachine::EnvelopeKind::kRegisterSession;
    envelope.session = 42;  // nonce
    return statemachine::EncodeEnvelope(envelope);
  }
  envelope.kind = statemachine::EnvelopeKind::kCommand;
  envelope.session = 1;
  envelope.sequence = slot - 1;
  envelope.lowest_unanswered = slot - 1;
  const uint64_t key = (slot * 0x9E3779B97F4A7C15ull) % kKeys;
  envelope.payload.assign(reinterpret_cast<const char*>(&key), 8);
  envelope.payload.append(92, static_cast<char>('a' + slot % 26));
  return statemachine::EncodeEnvelope(envelope);
}

std::unique_ptr<log::LevelDbLogStorage> OpenLog(const std::string& dir, std::string* error) {
  log::LevelDbOptions options;
  options.dir = dir;
  options.replica_id = kReplica;
  Result<std::unique_ptr<log::LevelDbLogStorage>> opened = log::LevelDbLogStorage::Open(options);
  if (!opened.ok()) {
    *error = opened.status().message();
    return nullptr;
  }
  return std::move(*opened);
}

// Applies the chosen entries above applier.applied() in slot order; returns
// the last slot applied.
paxos::Slot Replay(const log::RecoveredLog& recovered, Applier& applier) {
  std::vector<const paxos::SlotEntry*> entries;
  entries.reserve(recovered.paxos.entries.size());
  for (const paxos::SlotEntry& e : recovered.paxos.entries) entries.push_back(&e);
  std::sort(entries.begin(), entries.end(),
            [](const paxos::SlotEntry* a, const paxos::SlotEntry* b) { return a->slot < b->slot; });
  for (const paxos::SlotEntry* e : entries) {
    if (e->slot <= applier.applied()) continue;
    if (e->slot != applier.applied() + 1 || !e->entry.chosen) break;
    applier.Apply(paxos::CommittedEntry{e->slot, e->entry.value});
  }
  return applier.applied();
}

// Two data directories holding the same history of H entries: "full" keeps
// the whole log; "compacted" has a snapshot at H-1000 and the log compacted
// through it. Built once per H (the first benchmark that needs it).
struct History {
  TempDir dir{"synod-snapshot-bench"};
  paxos::Slot length = 0;
  std::string error;

  explicit History(paxos::Slot h) : length(h) {
    std::unique_ptr<log::LevelDbLogStorage> full = OpenLog(dir / "full", &error);
    if (!full) return;
    std::unique_ptr<log::LevelDbLogStorage> compacted = OpenLog(dir / "compacted", &error);
    if (!compacted) return;
    std::vector<paxos::SlotEntry> batch;
    for (paxos::Slot slot = 1; slot <= h; ++slot) {
      batch.push_back(paxos::SlotEntry{
          slot, paxos::Entry{{1, kReplica}, paxos::MakeCommandsValue({CommandAt(slot)}), true}});
      if (batch.size() == 1000 || slot == h) {
        full->Persist(paxos::Ballot{1, kReplica}, batch);
        compacted->Persist(paxos::Ballot{1, kReplica}, batch);
        batch.clear();
      }
    }
    // The snapshot of the state after h - kTailEntries, then compaction.
    const paxos::Slot through = h - kTailEntries;
    KvMachine machine;
    Applier applier(machine, statemachine::SessionOptions{});
    log::RecoveredLog recovered = full->Load();
    recovered.paxos.entries.erase(
        std::remove_if(recovered.paxos.entries.begin(), recovered.paxos.entries.end(),
                       [&](const paxos::SlotEntry& e) { return e.slot > through; }),
        recovered.paxos.entries.end());
    if (Replay(recovered, applier) != through) {
      error = "replay to the snapshot point failed";
      return;
    }
    Result<std::unique_ptr<SnapshotStore>> store = SnapshotStore::Open(dir / "snapshots");
    if (!store.ok()) {
      error = store.status().message();
      return;
    }
    CaptureWriter capture;
    applier.Snapshot(capture);
    if (Result<SnapshotMeta> written = node::WriteSnapshot(**store, through, capture.chunks);
        !written.ok()) {
      error = written.status().message();
      return;
    }
    compacted->SetApplied(through);
    compacted->Compact(through);
  }
};

History* HistoryOf(paxos::Slot h, benchmark::State& state) {
  static std::map<paxos::Slot, std::unique_ptr<History>> histories;
  std::unique_ptr<History>& history = histories[h];
  if (!history) history = std::make_unique<History>(h);
  if (!history->error.empty()) {
    state.SkipWithError(history->error.c_str());
    return nullptr;
  }
  return history.get();
}

// Where a restart's time goes: seconds per phase, summed over iterations.
struct RestartPhases {
  double open = 0, load = 0, restore = 0, replay = 0;

  void Report(benchmark::State& state, bool with_snapshot) const {
    auto ms = [](double s) {
      return benchmark::Counter(s * 1e3, benchmark::Counter::kAvgIterations);
    };
    state.counters["open_ms"] = ms(open);
    state.counters["load_ms"] = ms(load);
    if (with_snapshot) state.counters["restore_ms"] = ms(restore);
    state.counters["replay_ms"] = ms(replay);
  }
};

void BM_RestartReplayWholeLog(benchmark::State& state) {
  const paxos::Slot h = static_cast<paxos::Slot>(state.range(0));
  History* history = HistoryOf(h, state);
  if (history == nullptr) return;
  RestartPhases phases;
  for (auto _ : state) {
    const Clock::time_point start = Clock::now();
    std::string error;
    std::unique_ptr<log::LevelDbLogStorage> storage = OpenLog(history->dir / "full", &error);
    if (!storage) {
      state.SkipWithError(error.c_str());
      break;
    }
    const Clock::time_point opened = Clock::now();
    log::RecoveredLog recovered = storage->Load();
    const Clock::time_point loaded = Clock::now();
    auto machine = std::make_unique<KvMachine>();
    auto applier = std::make_unique<Applier>(*machine, statemachine::SessionOptions{});
    if (Replay(recovered, *applier) != h) {
      state.SkipWithError("replay stopped early");
      break;
    }
    const Clock::time_point replayed = Clock::now();
    phases.open += Seconds(opened - start);
    phases.load += Seconds(loaded - opened);
    phases.replay += Seconds(replayed - loaded);
    state.PauseTiming();  // closing the log and freeing the state is not part of a restart
    recovered = {};
    storage.reset();
    applier.reset();
    machine.reset();
    state.ResumeTiming();
  }
  state.counters["entries"] = static_cast<double>(h);
  phases.Report(state, false);
}

void BM_RestartFromSnapshot(benchmark::State& state) {
  const paxos::Slot h = static_cast<paxos::Slot>(state.range(0));
  History* history = HistoryOf(h, state);
  if (history == nullptr) return;
  RestartPhases phases;
  uint64_t snapshot_bytes = 0;
  for (auto _ : state) {
    const Clock::time_point start = Clock::now();
    std::string error;
    std::unique_ptr<log::LevelDbLogStorage> storage = OpenLog(history->dir / "compacted", &error);
    std::unique_ptr<SnapshotStore> store;
    if (storage) {
      Result<std::unique_ptr<SnapshotStore>> opened =
          SnapshotStore::Open(history->dir / "snapshots");
      if (opened.ok()) {
        store = std::move(*opened);
      } else {
        error = opened.status().message();
      }
    }
    if (!store || !store->Latest()) {
      state.SkipWithError(error.empty() ? "no snapshot" : error.c_str());
      break;
    }
    const Clock::time_point opened = Clock::now();
    log::RecoveredLog recovered = storage->Load();
    const Clock::time_point loaded = Clock::now();
    auto machine = std::make_unique<KvMachine>();
    auto applier = std::make_unique<Applier>(*machine, statemachine::SessionOptions{});
    if (!RestoreFrom(*store, *store->Latest(), *applier, &error)) {
      state.SkipWithError(error.c_str());
      break;
    }
    const Clock::time_point restored = Clock::now();
    if (Replay(recovered, *applier) != h || recovered.paxos.compacted != h - kTailEntries) {
      state.SkipWithError("replay after the snapshot stopped early");
      break;
    }
    const Clock::time_point replayed = Clock::now();
    phases.open += Seconds(opened - start);
    phases.load += Seconds(loaded - opened);
    phases.restore += Seconds(restored - loaded);
    phases.replay += Seconds(replayed - restored);
    state.PauseTiming();
    snapshot_bytes = store->Latest()->size_bytes;
    recovered = {};
    store.reset();
    storage.reset();
    applier.reset();
    machine.reset();
    state.ResumeTiming();
  }
  state.counters["entries"] = static_cast<double>(h);
  state.counters["snapshot_MiB"] = static_cast<double>(snapshot_bytes) / kMiB;
  phases.Report(state, true);
}

BENCHMARK(BM_RestartReplayWholeLog)
    ->Arg(10'000)
    ->Arg(100'000)
    ->Arg(300'000)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_RestartFromSnapshot)
    ->Arg(10'000)
    ->Arg(100'000)
    ->Arg(300'000)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace synod::benchmarks
