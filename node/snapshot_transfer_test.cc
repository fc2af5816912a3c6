// Snapshot transfer through the real stack (TCP on 127.0.0.1, Cap'n Proto
// RPC, Server + StoreSnapshotProvider on one side, SnapshotFetcher through a
// StoreChunkSink into a second store on the other): full transfer, resume
// after either side goes away halfway, corruption, a peer with nothing or too
// old, pruning during the transfer, refusal, cancel, and no fsync of received
// chunks on the network thread. No sleeps: the loop runs until a condition
// holds or a deadline passes.

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <stdlib.h>
#include <sys/resource.h>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <optional>
#include <sstream>
#include <thread>

#include "node/snapshotter.h"
#include "node/store_chunk_sink.h"
#include "node/store_snapshot_provider.h"
#include "paxos/core.h"
#include "paxos/random.h"
#include "snapshot/snapshot_store.h"
#include "tests/support/status_testing.h"
#include "tests/support/temp_dir.h"
#include "transport/server.h"
#include "transport/snapshot_fetcher.h"
#include "transport/snapshot_provider.h"

namespace {

// Counts fsync/fdatasync calls of this process while watching: those made on
// the watched thread and those made elsewhere.
std::atomic<bool> g_watching{false};
std::thread::id g_watched;
std::atomic<int> g_syncs_on_watched{0};
std::atomic<int> g_syncs_elsewhere{0};

void RecordSync() {
  if (!g_watching.load()) return;
  if (std::this_thread::get_id() == g_watched) {
    ++g_syncs_on_watched;
  } else {
    ++g_syncs_elsewhere;
  }
}

}  // namespace

// This test binary's fsync and fdatasync: counted, then the C library's.
extern "C" int fsync(int fd) {
  RecordSync();
  static auto real = reinterpret_cast<int (*)(int)>(dlsym(RTLD_NEXT, "fsync"));
  return real(fd);
}

extern "C" int fdatasync(int fd) {
  RecordSync();
  static auto real = reinterpret_cast<int (*)(int)>(dlsym(RTLD_NEXT, "fdatasync"));
  return real(fd);
}

namespace synod::node {
namespace {

using transport::ClusterId;
using transport::EventLoop;
using transport::FetchResult;
using transport::PeerEndpoint;
using transport::PeerMessageHandler;
using transport::Server;
using transport::ServerOptions;
using transport::SnapshotFetcher;
using transport::SnapshotFetcherOptions;
using transport::SnapshotProvider;

// Counts the syncs of the process from construction to destruction, split
// into those on the constructing thread (the network thread) and the rest.
class SyncWatch {
 public:
  SyncWatch() {
    g_syncs_on_watched = 0;
    g_syncs_elsewhere = 0;
    g_watched = std::this_thread::get_id();
    g_watching = true;
  }
  ~SyncWatch() { g_watching = false; }
  int on_this_thread() const { return g_syncs_on_watched.load(); }
  int elsewhere() const { return g_syncs_elsewhere.load(); }
};

using namespace std::chrono_literals;
using snapshot::SnapshotMeta;
using snapshot::SnapshotStore;

constexpr ClusterId kCluster = 0xC2u;
constexpr auto kWait = 30s;  // generous: sanitizer builds are slow
constexpr size_t kBigSnapshot = 20u << 20;

class NullPeerHandler : public PeerMessageHandler {
 public:
  void OnPeerMessage(paxos::Message) override {}
};

// Wraps a provider: counts reads, can flip one byte or answer "gone".
class TestProvider : public SnapshotProvider {
 public:
  explicit TestProvider(SnapshotProvider& inner) : inner_(inner) {}

  std::optional<SnapshotMeta> LatestSnapshot() override { return inner_.LatestSnapshot(); }

  Status ReadSnapshot(const SnapshotMeta& meta, uint64_t offset, size_t max,
                      std::string& out) override {
    ++reads;
    Status read = inner_.ReadSnapshot(meta, offset, max, out);
    if (!read.ok()) return read;
    if (flip_at && *flip_at >= offset && *flip_at < offset + out.size()) {
      out[*flip_at - offset] = static_cast<char>(out[*flip_at - offset] ^ 0x20);
    }
    return Status::Ok();
  }

  int reads = 0;
  std::optional<uint64_t> flip_at;

 private:
  SnapshotProvider& inner_;
};

// Deterministic pseudo-random bytes.
std::string Bytes(size_t size, uint64_t seed) {
  std::string out(size, '\0');
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (char& c : out) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    c = static_cast<char>(x);
  }
  return out;
}

class SnapshotTransferTest : public ::testing::Test {
 protected:
  SnapshotTransferTest() : log_sink_(std::make_shared<spdlog::sinks::ostream_sink_mt>(log_text_)) {
    logger_ = std::make_shared<spdlog::logger>("test", log_sink_);
  }

  std::unique_ptr<SnapshotStore> OpenStore(const std::string& name,
                                           snapshot::SnapshotStoreOptions options = {}) {
    return ValueOrFail(SnapshotStore::Open(root_ + "/" + name, std::move(options)));
  }

  // Writes a snapshot of `content` (in uneven chunks) at `slot`.
  SnapshotMeta WriteSnapshot(SnapshotStore& store, uint64_t slot, const std::string& content) {
    auto sink = ValueOrFail(store.BeginWrite(slot));
    EXPECT_NE(sink, nullptr);
    if (sink == nullptr) return SnapshotMeta{};
    for (size_t at = 0, n = 1; at < content.size(); at += n, n = n * 7 % 300001 + 1000) {
      sink->Write(std::string_view(content).substr(at, n));
    }
    return ValueOrFail(sink->Commit());
  }

  // The chunks of `meta` in `store` as Restore would see them, concatenated.
  static std::string Restored(SnapshotStore& store, const SnapshotMeta& meta) {
    auto source = ValueOrFail(store.OpenReader(meta));
    if (source == nullptr) return "";
    snapshot::ChunkReader reader(*source);
    std::string all;
    std::string chunk;
    while (reader.Read(chunk)) all += chunk;
    EXPECT_TRUE(reader.ok()) << reader.status().ToString();
    EXPECT_TRUE(reader.at_end());
    return all;
  }

  std::unique_ptr<StoreChunkSink> Sink(SnapshotStore& store) {
    return std::make_unique<StoreChunkSink>(loop_.io(), store, logger_);
  }

  // `features`: what the server states in hello replies (fewer: an older build).
  std::unique_ptr<Server> StartServer(SnapshotProvider* provider,
                                      uint32_t features = transport::kFeatures) {
    ServerOptions options;
    options.features = features;
    options.cluster_id = kCluster;
    options.self = 1;
    options.peers = {2};
    options.logger = logger_;
    options.snapshot_provider = provider;
    auto server = std::make_unique<Server>(loop_, options, &peer_handler_, nullptr);
    EXPECT_EQ(server->Listen(), Status::Ok());
    return server;
  }

  SnapshotFetcherOptions FetchOptions(uint16_t port) {
    SnapshotFetcherOptions options;
    options.peer = PeerEndpoint{1, "127.0.0.1", port};
    options.cluster_id = kCluster;
    options.self = 2;
    options.logger = logger_;
    return options;
  }

  // Starts a fetch; the result lands in `out`.
  static void Start(SnapshotFetcher& fetcher, uint64_t at_least, std::optional<FetchResult>& out) {
    fetcher.Fetch(at_least, [&out](FetchResult r) { out = std::move(r); });
  }

  FetchResult FetchAndWait(SnapshotFetcher& fetcher, uint64_t at_least = 0) {
    std::optional<FetchResult> result;
    Start(fetcher, at_least, result);
    EXPECT_TRUE(loop_.RunUntil([&] { return result.has_value(); }, kWait));
    if (result) return std::move(*result);
    FetchResult none;
    none.status = Status::Unavailable("no result in time");
    return none;
  }

  test_support::TempDir tmp_{"synod-xfer"};
  const std::string root_ = tmp_.path().string();
  std::ostringstream log_text_;
  std::shared_ptr<spdlog::sinks::ostream_sink_mt> log_sink_;
  std::shared_ptr<spdlog::logger> logger_;
  NullPeerHandler peer_handler_;
  EventLoop loop_;  // transport objects are test-body locals, destroyed before it
};

TEST_F(SnapshotTransferTest, TransfersAndInstallsAnIdenticalSnapshot) {
  auto source_store = OpenStore("src");
  std::string content = Bytes(kBigSnapshot, 1);
  SnapshotMeta meta = WriteSnapshot(*source_store, 500, content);
  StoreSnapshotProvider provider(*source_store);
  auto server = StartServer(&provider);
  auto local = OpenStore("dst");
  auto sink = Sink(*local);
  SnapshotFetcher fetcher(loop_, *sink, FetchOptions(server->port()));

  std::optional<FetchResult> result;
  Start(fetcher, 400, result);
  EXPECT_TRUE(fetcher.busy());
  std::optional<FetchResult> second;
  Start(fetcher, 0, second);  // refused: one fetch at a time
  ASSERT_TRUE(loop_.RunUntil([&] { return result && second; }, kWait));
  EXPECT_FALSE(second->ok());
  EXPECT_NE(second->status.message().find("already in progress"), std::string::npos)
      << second->status.message();

  ASSERT_TRUE(result->ok()) << result->status.message();
  EXPECT_FALSE(fetcher.busy());
  EXPECT_EQ(result->meta, meta);
  EXPECT_EQ(result->bytes_transferred, meta.size_bytes);
  EXPECT_EQ(result->resumed_from, 0u);
  EXPECT_GT(result->seconds, 0.0);
  EXPECT_EQ(local->Latest(), meta);
  EXPECT_EQ(server->stats().snapshot_bytes_served, meta.size_bytes);
  EXPECT_EQ(Restored(*local, meta), content);

  std::string a, b;
  auto src = ValueOrFail(source_store->OpenReader(meta));
  auto dst = ValueOrFail(local->OpenReader(meta));
  ASSERT_TRUE(src && dst);
  ASSERT_EQ(src->ReadAt(0, meta.size_bytes, a), Status::Ok());
  ASSERT_EQ(dst->ReadAt(0, meta.size_bytes, b), Status::Ok());
  EXPECT_TRUE(a == b);  // byte-identical files
}

// The configuration travels inside the applier's snapshot bytes: a replica
// that fetched a snapshot taken after a configuration change restores it and
// hands it to its core (as Replica::InstallLatestFromStore does).
TEST_F(SnapshotTransferTest, AFetchedSnapshotCarriesTheConfiguration) {
  class Counter : public statemachine::StateMachine {
   public:
    std::string Apply(std::string_view, const statemachine::ApplyContext&) override {
      return std::to_string(++value);
    }
    void Snapshot(statemachine::SnapshotWriter& out) const override {
      out.Write(std::to_string(value));
    }
    bool Restore(statemachine::SnapshotReader& in) override {
      std::string chunk;
      if (!in.Read(chunk)) return false;
      value = std::stoll(chunk);
      return true;
    }
    int64_t value = 0;
  };
  class Chunks : public statemachine::SnapshotWriter {
   public:
    void Write(std::string_view chunk) override { chunks.emplace_back(chunk); }
    std::vector<std::string> chunks;
  };
  const paxos::Configuration initial({1, 2, 3});
  const paxos::Configuration next = initial.WithLearner(4, "127.0.0.1:7004");
  Counter source_machine;
  statemachine::Applier source(source_machine, statemachine::SessionOptions{}, initial);
  source.Apply(paxos::CommittedEntry{1, paxos::NoopValue()});
  source.Apply(paxos::CommittedEntry{2, paxos::MakeConfigurationValue(0, next)});
  source.Apply(paxos::CommittedEntry{3, paxos::NoopValue()});
  Chunks chunks;
  source.Snapshot(chunks);
  auto source_store = OpenStore("src");
  SnapshotMeta meta = ValueOrFail(node::WriteSnapshot(*source_store, 3, chunks.chunks));
  StoreSnapshotProvider provider(*source_store);
  auto server = StartServer(&provider);
  auto local = OpenStore("dst");
  auto sink = Sink(*local);
  SnapshotFetcher fetcher(loop_, *sink, FetchOptions(server->port()));
  FetchResult result = FetchAndWait(fetcher, 3);
  ASSERT_TRUE(result.ok()) << result.status.message();
  ASSERT_EQ(local->Latest(), meta);

  Counter machine;
  statemachine::Applier applier(machine, statemachine::SessionOptions{}, initial);
  ASSERT_EQ(RestoreSnapshot(*local, meta, applier), Status::Ok());
  EXPECT_EQ(applier.applied(), 3u);
  EXPECT_EQ(applier.config(), (paxos::ConfigAt{2, next}));

  paxos::SplitMix64 random(1);
  paxos::Core core(2, paxos::ConfigAt{0, initial}, paxos::CoreOptions{}, random,
                   paxos::DurableState{}, 0);
  ASSERT_TRUE(core.InstallSnapshot(3, applier.config()));
  EXPECT_EQ(core.Status().config, next);
  EXPECT_EQ(core.Status().config_slot, 2u);
}

TEST_F(SnapshotTransferTest, ResumesAfterTheServerGoesAwayHalfway) {
  auto source_store = OpenStore("src");
  std::string content = Bytes(kBigSnapshot, 2);
  SnapshotMeta meta = WriteSnapshot(*source_store, 77, content);
  StoreSnapshotProvider store_provider(*source_store);
  TestProvider provider(store_provider);
  auto server = StartServer(&provider);
  auto local = OpenStore("dst");
  auto sink = Sink(*local);
  SnapshotFetcher fetcher(loop_, *sink, FetchOptions(server->port()));

  std::optional<FetchResult> first;
  Start(fetcher, 0, first);
  ASSERT_TRUE(loop_.RunUntil([&] { return provider.reads >= 8 || first; }, kWait));
  ASSERT_FALSE(first.has_value());
  server.reset();  // the peer crashes mid-transfer
  ASSERT_TRUE(loop_.RunUntil([&] { return first.has_value(); }, kWait));
  EXPECT_FALSE(first->ok());
  EXPECT_NE(first->status.message().find("disconnected"), std::string::npos)
      << first->status.message();
  EXPECT_GT(first->bytes_transferred, 0u);
  EXPECT_LT(first->bytes_transferred, meta.size_bytes);
  EXPECT_EQ(local->Latest(), std::nullopt);

  server = StartServer(&provider);  // back, on a new port
  SnapshotFetcher again(loop_, *sink, FetchOptions(server->port()));
  FetchResult second = FetchAndWait(again);
  ASSERT_TRUE(second.ok()) << second.status.message();
  EXPECT_EQ(second.resumed_from, first->bytes_transferred);  // kept durably on failure
  EXPECT_EQ(second.bytes_transferred, meta.size_bytes - second.resumed_from);
  EXPECT_LT(second.bytes_transferred, meta.size_bytes);
  EXPECT_EQ(local->Latest(), meta);
  EXPECT_EQ(Restored(*local, meta), content);
}

TEST_F(SnapshotTransferTest, ResumesAfterTheReceiverRestartsHalfway) {
  auto source_store = OpenStore("src");
  std::string content = Bytes(kBigSnapshot, 3);
  SnapshotMeta meta = WriteSnapshot(*source_store, 78, content);
  StoreSnapshotProvider store_provider(*source_store);
  TestProvider provider(store_provider);
  auto server = StartServer(&provider);
  snapshot::SnapshotStoreOptions local_options;
  local_options.receive_sync_bytes = 2u << 20;
  auto local = OpenStore("dst", local_options);
  auto sink = Sink(*local);

  auto fetcher = std::make_unique<SnapshotFetcher>(loop_, *sink, FetchOptions(server->port()));
  bool called = false;
  fetcher->Fetch(0, [&](FetchResult) { called = true; });
  ASSERT_TRUE(loop_.RunUntil([&] { return provider.reads >= 10 || called; }, kWait));
  ASSERT_FALSE(called);
  fetcher.reset();  // the receiving process stops: fetcher, sink, then store go away
  sink.reset();
  local.reset();
  loop_.RunFor(10ms);
  EXPECT_FALSE(called);  // destruction drops the callback

  local = OpenStore("dst", local_options);  // a new process opens the same directory
  sink = Sink(*local);
  SnapshotFetcher again(loop_, *sink, FetchOptions(server->port()));
  FetchResult result = FetchAndWait(again);
  ASSERT_TRUE(result.ok()) << result.status.message();
  EXPECT_GT(result.resumed_from, 0u);
  EXPECT_EQ(result.bytes_transferred, meta.size_bytes - result.resumed_from);
  EXPECT_EQ(local->Latest(), meta);
  EXPECT_EQ(Restored(*local, meta), content);
}

// A full disk stands in as a file size limit (EFBIG, SIGXFSZ ignored) while
// the first fetch runs.
TEST_F(SnapshotTransferTest, AFullDiskFailsTheFetchCleanlyAndALaterOneResumes) {
  auto source_store = OpenStore("src");
  std::string content = Bytes(kBigSnapshot, 9);
  SnapshotMeta meta = WriteSnapshot(*source_store, 79, content);
  StoreSnapshotProvider store_provider(*source_store);
  auto server = StartServer(&store_provider);
  snapshot::SnapshotStoreOptions local_options;
  local_options.receive_sync_bytes = 2u << 20;
  auto local = OpenStore("dst", local_options);
  auto sink = Sink(*local);

  struct rlimit saved;
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
  struct rlimit limited = saved;
  limited.rlim_cur = 9u << 20;
  auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &limited), 0);
  FetchResult full;
  {
    SnapshotFetcher fetcher(loop_, *sink, FetchOptions(server->port()));
    full = FetchAndWait(fetcher);
  }
  sink.reset();  // joins the sink's thread: its Stop is done
  ::setrlimit(RLIMIT_FSIZE, &saved);
  std::signal(SIGXFSZ, old_handler);
  EXPECT_FALSE(full.ok());
  EXPECT_NE(full.status.message().find("local snapshot store"), std::string::npos)
      << full.status.message();
  EXPECT_LT(full.bytes_transferred, meta.size_bytes);
  EXPECT_EQ(local->Latest(), std::nullopt);  // nothing partial installed

  sink = Sink(*local);
  SnapshotFetcher again(loop_, *sink, FetchOptions(server->port()));
  FetchResult result = FetchAndWait(again);
  ASSERT_TRUE(result.ok()) << result.status.message();
  EXPECT_GT(result.resumed_from, 0u);  // the durable part before the failure
  EXPECT_LE(result.resumed_from, 9u << 20);
  EXPECT_EQ(local->Latest(), meta);
  EXPECT_EQ(Restored(*local, meta), content);
}

TEST_F(SnapshotTransferTest, CorruptionInTransferIsCaughtBeforeInstall) {
  auto source_store = OpenStore("src");
  std::string content = Bytes(3u << 20, 4);
  SnapshotMeta meta = WriteSnapshot(*source_store, 9, content);
  StoreSnapshotProvider store_provider(*source_store);
  TestProvider provider(store_provider);
  provider.flip_at = meta.size_bytes / 2;
  auto server = StartServer(&provider);
  auto local = OpenStore("dst");
  auto sink = Sink(*local);
  SnapshotFetcher fetcher(loop_, *sink, FetchOptions(server->port()));

  FetchResult bad = FetchAndWait(fetcher);
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.status.message().find("CRC32C"), std::string::npos) << bad.status.message();
  EXPECT_EQ(local->Latest(), std::nullopt);

  provider.flip_at.reset();  // the partial file was discarded: a retry starts over
  FetchResult good = FetchAndWait(fetcher);
  ASSERT_TRUE(good.ok()) << good.status.message();
  EXPECT_EQ(good.resumed_from, 0u);
  EXPECT_EQ(local->Latest(), meta);
  EXPECT_EQ(Restored(*local, meta), content);
}

TEST_F(SnapshotTransferTest, PeerWithNothingOrTooOldOrNoProvider) {
  auto source_store = OpenStore("src");
  StoreSnapshotProvider provider(*source_store);
  auto server = StartServer(&provider);
  auto local = OpenStore("dst");
  auto sink = Sink(*local);
  SnapshotFetcher fetcher(loop_, *sink, FetchOptions(server->port()));

  FetchResult nothing = FetchAndWait(fetcher);
  EXPECT_FALSE(nothing.ok());
  EXPECT_NE(nothing.status.message().find("has no snapshot"), std::string::npos)
      << nothing.status.message();

  WriteSnapshot(*source_store, 10, Bytes(1000, 5));
  FetchResult old = FetchAndWait(fetcher, 11);
  EXPECT_FALSE(old.ok());
  EXPECT_NE(old.status.message().find("no snapshot at or after slot 11"), std::string::npos)
      << old.status.message();
  EXPECT_EQ(old.meta.applied_slot, 10u);
  EXPECT_EQ(local->Latest(), std::nullopt);

  auto bare = StartServer(nullptr);
  SnapshotFetcher from_bare(loop_, *sink, FetchOptions(bare->port()));
  FetchResult none = FetchAndWait(from_bare);
  EXPECT_FALSE(none.ok());
  EXPECT_NE(none.status.message().find("serves no snapshots"), std::string::npos)
      << none.status.message();
}

TEST_F(SnapshotTransferTest, SnapshotPrunedDuringTransferIsReportedGone) {
  snapshot::SnapshotStoreOptions keep_one;
  keep_one.keep = 1;
  auto source_store = OpenStore("src", keep_one);
  SnapshotMeta old_meta = WriteSnapshot(*source_store, 100, Bytes(kBigSnapshot, 6));
  StoreSnapshotProvider store_provider(*source_store);
  TestProvider provider(store_provider);
  auto server = StartServer(&provider);
  auto local = OpenStore("dst");
  auto sink = Sink(*local);
  SnapshotFetcherOptions options = FetchOptions(server->port());
  options.window = 1;
  SnapshotFetcher fetcher(loop_, *sink, options);

  std::optional<FetchResult> result;
  Start(fetcher, 0, result);
  ASSERT_TRUE(loop_.RunUntil([&] { return provider.reads >= 3 || result; }, kWait));
  ASSERT_FALSE(result.has_value());
  std::string content = Bytes(500000, 7);
  SnapshotMeta new_meta = WriteSnapshot(*source_store, 200, content);  // prunes slot 100
  ASSERT_TRUE(loop_.RunUntil([&] { return result.has_value(); }, kWait));
  EXPECT_FALSE(result->ok());
  EXPECT_TRUE(result->gone);
  EXPECT_EQ(result->meta, old_meta);
  EXPECT_NE(result->status.message().find("pruned"), std::string::npos) << result->status.message();

  FetchResult retry = FetchAndWait(fetcher, 150);
  ASSERT_TRUE(retry.ok()) << retry.status.message();
  EXPECT_EQ(retry.meta, new_meta);
  EXPECT_EQ(Restored(*local, new_meta), content);
}

TEST_F(SnapshotTransferTest, UnknownPeerIsRefusedAndCancelReports) {
  auto source_store = OpenStore("src");
  WriteSnapshot(*source_store, 5, Bytes(kBigSnapshot, 8));
  StoreSnapshotProvider store_provider(*source_store);
  TestProvider provider(store_provider);
  auto server = StartServer(&provider);
  auto local = OpenStore("dst");
  auto sink = Sink(*local);

  SnapshotFetcherOptions stranger = FetchOptions(server->port());
  stranger.self = 3;  // not a member
  SnapshotFetcher refused(loop_, *sink, stranger);
  FetchResult r = FetchAndWait(refused);
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.status.message().find("refused"), std::string::npos) << r.status.message();

  SnapshotFetcher fetcher(loop_, *sink, FetchOptions(server->port()));
  std::optional<FetchResult> result;
  Start(fetcher, 0, result);
  ASSERT_TRUE(loop_.RunUntil([&] { return provider.reads >= 2 || result; }, kWait));
  fetcher.Cancel();
  EXPECT_FALSE(fetcher.busy());
  ASSERT_TRUE(loop_.RunUntil([&] { return result.has_value(); }, kWait));
  EXPECT_FALSE(result->ok());
  EXPECT_EQ(result->status.message(), "cancelled");
}

// A fetcher that requires kFeatureRetiredAddresses (its configuration in
// effect records a removed member's address) reads nothing from a peer whose
// build lacks it: that build may have voided the configuration the snapshot
// would carry. Without the requirement the same peer serves it.
TEST_F(SnapshotTransferTest, APeerWithoutARequiredFeatureIsRefused) {
  auto source_store = OpenStore("src");
  WriteSnapshot(*source_store, 5, Bytes(1000, 3));
  StoreSnapshotProvider store_provider(*source_store);
  TestProvider provider(store_provider);
  auto server = StartServer(&provider, transport::kFeatureRuntimeMembership);
  auto local = OpenStore("dst");
  auto sink = Sink(*local);

  SnapshotFetcherOptions gated = FetchOptions(server->port());
  gated.required_features = transport::kFeatureRetiredAddresses;
  SnapshotFetcher refused(loop_, *sink, gated);
  FetchResult r = FetchAndWait(refused);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status.message(),
            "refused: replica 1 runs an older build that cannot read removed members' addresses: "
            "upgrade it");
  EXPECT_EQ(provider.reads, 0);

  SnapshotFetcher fetcher(loop_, *sink, FetchOptions(server->port()));
  FetchResult fetched = FetchAndWait(fetcher);
  EXPECT_TRUE(fetched.ok()) << fetched.status.message();
}

TEST_F(SnapshotTransferTest, OverallTimeoutEndsTheFetch) {
  auto source_store = OpenStore("src");
  WriteSnapshot(*source_store, 5, Bytes(kBigSnapshot, 9));
  StoreSnapshotProvider provider(*source_store);
  auto server = StartServer(&provider);
  auto local = OpenStore("dst");
  auto sink = Sink(*local);
  SnapshotFetcherOptions options = FetchOptions(server->port());
  options.overall_timeout = 1ms;
  SnapshotFetcher fetcher(loop_, *sink, options);
  FetchResult r = FetchAndWait(fetcher);
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.status.message().find("overall_timeout"), std::string::npos) << r.status.message();
}

TEST_F(SnapshotTransferTest, ReceivedChunksAreSyncedOffTheNetworkThread) {
  auto source_store = OpenStore("src");
  std::string content = Bytes(4u << 20, 10);
  SnapshotMeta meta = WriteSnapshot(*source_store, 40, content);
  StoreSnapshotProvider store_provider(*source_store);
  TestProvider provider(store_provider);
  auto server = StartServer(&provider);
  snapshot::SnapshotStoreOptions local_options;
  local_options.receive_sync_bytes = 256u << 10;  // an fsync every few chunks
  auto local = OpenStore("dst", local_options);
  auto sink = Sink(*local);
  SnapshotFetcherOptions options = FetchOptions(server->port());
  options.chunk_bytes = 64u << 10;

  {
    // A whole transfer: periodic syncs and the install's.
    SyncWatch watch;
    SnapshotFetcher fetcher(loop_, *sink, options);
    FetchResult result = FetchAndWait(fetcher);
    ASSERT_TRUE(result.ok()) << result.status.message();
    EXPECT_EQ(watch.on_this_thread(), 0) << "the network thread fsynced received chunks";
    EXPECT_GE(watch.elsewhere(), 8);
  }
  EXPECT_EQ(Restored(*local, meta), content);

  std::string newer = Bytes(4u << 20, 11);
  WriteSnapshot(*source_store, 41, newer);
  local_options.receive_sync_bytes = 64u << 20;  // only the stop syncs
  auto other = OpenStore("dst2", local_options);
  auto other_sink = Sink(*other);
  {
    // A transfer cut short: the partial file is synced for a resume.
    SyncWatch watch;
    auto fetcher = std::make_unique<SnapshotFetcher>(loop_, *other_sink, options);
    std::optional<FetchResult> result;
    int reads_before = provider.reads;
    Start(*fetcher, 41, result);
    ASSERT_TRUE(
        loop_.RunUntil([&] { return provider.reads >= reads_before + 8 || result; }, kWait));
    ASSERT_FALSE(result.has_value());
    fetcher.reset();
    other_sink.reset();  // finishes the stop's fsync
    EXPECT_EQ(watch.on_this_thread(), 0) << "the network thread fsynced received chunks";
    EXPECT_GE(watch.elsewhere(), 1);
  }
}

}  // namespace
}  // namespace synod::node
