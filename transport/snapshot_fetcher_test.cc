// SnapshotFetcher against a Server on 127.0.0.1 serving bytes from memory,
// into a sink whose completions the test releases by hand: flow control
// towards a slow disk, a resume point from the sink, a lost connection once
// every byte is here, a failed write and a refused receive. (With the real
// store adapters: node/snapshot_transfer_test.cc.) No sleeps: the loop runs
// until a condition holds or a deadline passes.

#include "transport/snapshot_fetcher.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/null_sink.h>

#include <algorithm>
#include <boost/asio/ip/tcp.hpp>
#include <deque>
#include <optional>
#include <string>

#include "transport/rpc_connection.h"
#include "transport/server.h"
#include "transport/snapshot_chunk_sink.h"
#include "transport/snapshot_provider.h"

namespace synod::transport {
namespace {

using namespace std::chrono_literals;
using snapshot::SnapshotMeta;

constexpr ClusterId kCluster = 0xF1u;
constexpr auto kWait = 10s;  // generous: sanitizer builds are slow
constexpr size_t kChunk = 64u << 10;

class NullPeerHandler : public PeerMessageHandler {
 public:
  void OnPeerMessage(paxos::Message) override {}
};

// Serves one snapshot held in memory (its CRC is not checked here: that is
// the sink's job).
class MemoryProvider : public SnapshotProvider {
 public:
  MemoryProvider(uint64_t slot, std::string content) : content_(std::move(content)) {
    meta_.applied_slot = meta_.id = slot;
    meta_.size_bytes = content_.size();
    meta_.crc32c = 0x5EED;
  }
  std::optional<SnapshotMeta> LatestSnapshot() override { return meta_; }
  Status ReadSnapshot(const SnapshotMeta& meta, uint64_t offset, size_t max,
                      std::string& out) override {
    if (meta != meta_) return Status::NotFound("gone");
    out = content_.substr(std::min<uint64_t>(offset, content_.size()), max);
    return Status::Ok();
  }
  const SnapshotMeta& meta() const { return meta_; }
  const std::string& content() const { return content_; }

 private:
  SnapshotMeta meta_;
  std::string content_;
};

// Records every call; completions wait until the test releases them.
class HeldSink : public SnapshotChunkSink {
 public:
  void Begin(const SnapshotMeta& meta, std::function<void(Result<uint64_t>)> done) override {
    begun = meta;
    begin_done = std::move(done);
  }
  void Append(uint64_t offset, std::string bytes, std::function<void(Status)> done) override {
    EXPECT_EQ(offset, held + received.size()) << "appends out of order";
    received += bytes;
    appends.push_back(std::move(done));
  }
  void Finish(std::function<void(Result<SnapshotMeta>)> done) override {
    finish_done = std::move(done);
  }
  void Stop(bool abandon) override { stops.push_back(abandon); }

  // Completes the oldest pending append with `status`.
  void Write(Status status = Status::Ok()) {
    auto done = std::move(appends.front());
    appends.pop_front();
    done(std::move(status));
  }

  uint64_t held = 0;  // the resume point the test answers Begin with
  std::optional<SnapshotMeta> begun;
  std::function<void(Result<uint64_t>)> begin_done;
  std::string received;  // bytes handed over, in order (after the resume point)
  std::deque<std::function<void(Status)>> appends;
  std::function<void(Result<SnapshotMeta>)> finish_done;
  std::vector<bool> stops;
};

// A peer on 127.0.0.1 (not a Server) that accepts any hello as replica 1,
// offers a snapshot of `size` bytes, holds back its reply to the read at
// offset 0 forever and answers every other read at once: replies out of
// offset order, as a hostile or very uneven peer may send them. Counts the
// reads it was asked for.
class HoldingPeer {
 public:
  HoldingPeer(EventLoop& loop, uint64_t size)
      : acceptor_(loop.io(),
                  boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0)),
        size_(size) {
    Accept();
  }
  uint16_t port() const { return acceptor_.local_endpoint().port(); }
  size_t reads() const { return *reads_; }

 private:
  class Peer final : public wire::PeerService::Server {
   public:
    Peer(uint64_t size, std::shared_ptr<size_t> reads) : size_(size), reads_(std::move(reads)) {}
    kj::Promise<void> snapshotInfo(SnapshotInfoContext context) override {
      auto results = context.getResults();
      results.setFound(true);
      results.setAppliedSlot(80);
      results.setSizeBytes(size_);
      results.setCrc32c(0x5EED);
      return kj::READY_NOW;
    }
    kj::Promise<void> readSnapshot(ReadSnapshotContext context) override {
      ++*reads_;
      auto params = context.getParams();
      if (params.getOffset() == 0) return kj::NEVER_DONE;
      size_t length = std::min<uint64_t>(params.getMaxBytes(), size_ - params.getOffset());
      context.getResults().initData(static_cast<unsigned>(length));
      return kj::READY_NOW;
    }

   private:
    uint64_t size_;
    std::shared_ptr<size_t> reads_;
  };

  class Hello final : public wire::Handshake::Server {
   public:
    Hello(uint64_t size, std::shared_ptr<size_t> reads) : size_(size), reads_(std::move(reads)) {}
    kj::Promise<void> hello(HelloContext context) override {
      auto results = context.getResults();
      results.setAccepted(true);
      results.setServerReplica(1);
      results.setServerCluster(kCluster);
      results.setPeer(kj::heap<Peer>(size_, reads_));
      return kj::READY_NOW;
    }

   private:
    uint64_t size_;
    std::shared_ptr<size_t> reads_;
  };

  void Accept() {
    acceptor_.async_accept(
        [this](const boost::system::error_code& ec, boost::asio::ip::tcp::socket socket) {
          if (ec) return;
          connections_.push_back(kj::heap<RpcConnection>(std::move(socket), Limits{},
                                                         std::chrono::seconds(30),
                                                         kj::heap<Hello>(size_, reads_), 1u << 30));
          Accept();
        });
  }

  boost::asio::ip::tcp::acceptor acceptor_;
  uint64_t size_;
  std::shared_ptr<size_t> reads_ = std::make_shared<size_t>(0);
  std::vector<kj::Own<RpcConnection>> connections_;
};

std::string Pattern(size_t size) {
  std::string out(size, '\0');
  for (size_t i = 0; i < size; ++i) out[i] = static_cast<char>(i * 131 + i / 7);
  return out;
}

class SnapshotFetcherTest : public ::testing::Test {
 protected:
  std::unique_ptr<Server> StartServer(SnapshotProvider* provider) {
    ServerOptions options;
    options.cluster_id = kCluster;
    options.self = 1;
    options.peers = {2};
    options.logger = logger_;
    options.snapshot_provider = provider;
    auto server = std::make_unique<Server>(loop_, options, &peer_handler_, nullptr);
    EXPECT_EQ(server->Listen(), Status::Ok());
    return server;
  }

  SnapshotFetcherOptions FetchOptions(uint16_t port, size_t window) {
    SnapshotFetcherOptions options;
    options.peer = PeerEndpoint{1, "127.0.0.1", port};
    options.cluster_id = kCluster;
    options.self = 2;
    options.chunk_bytes = kChunk;
    options.window = window;
    options.logger = logger_;
    return options;
  }

  // Starts a fetch and runs until the sink was asked to Begin.
  void StartAndBegin(SnapshotFetcher& fetcher, HeldSink& sink, std::optional<FetchResult>& out) {
    fetcher.Fetch(0, [&out](FetchResult r) { out = std::move(r); });
    ASSERT_TRUE(loop_.RunUntil([&] { return sink.begin_done != nullptr || out; }, kWait));
    ASSERT_FALSE(out.has_value()) << out->status.message();
  }

  std::shared_ptr<spdlog::logger> logger_ =
      std::make_shared<spdlog::logger>("test", std::make_shared<spdlog::sinks::null_sink_mt>());
  NullPeerHandler peer_handler_;
  EventLoop loop_;  // transport objects are test-body locals, destroyed before it
};

TEST_F(SnapshotFetcherTest, ASlowSinkHoldsBackTheReadsAndTheFetchResumesWhereItSays) {
  MemoryProvider provider(70, Pattern(16 * kChunk));
  auto server = StartServer(&provider);
  HeldSink sink;
  SnapshotFetcher fetcher(loop_, sink, FetchOptions(server->port(), /*window=*/2));
  std::optional<FetchResult> result;
  StartAndBegin(fetcher, sink, result);
  EXPECT_EQ(sink.begun, provider.meta());
  const uint64_t resume = 4 * kChunk;  // an earlier attempt left this much
  sink.held = resume;
  sink.begin_done(resume);

  // With no write done, the reads stop once `window` chunks wait for the disk
  // (plus the replies that were in flight then): never more than 2 x window.
  ASSERT_TRUE(loop_.RunUntil([&] { return server->stats().snapshot_reads >= 3; }, kWait));
  loop_.RunFor(50ms);
  EXPECT_EQ(server->stats().snapshot_reads, 3u);
  EXPECT_EQ(sink.appends.size(), 3u);

  // Each write let through makes room for more reads.
  while (!sink.finish_done) {
    ASSERT_TRUE(loop_.RunUntil([&] { return !sink.appends.empty() || sink.finish_done; }, kWait));
    if (!sink.appends.empty()) sink.Write();
    EXPECT_LT(sink.appends.size(), 4u);
  }
  EXPECT_EQ(sink.received, provider.content().substr(resume));
  EXPECT_EQ(server->stats().snapshot_bytes_served, provider.meta().size_bytes - resume);
  sink.finish_done(provider.meta());
  ASSERT_TRUE(loop_.RunUntil([&] { return result.has_value(); }, kWait));
  ASSERT_TRUE(result->ok()) << result->status.message();
  EXPECT_EQ(result->resumed_from, resume);
  EXPECT_EQ(result->bytes_transferred, provider.meta().size_bytes - resume);
  EXPECT_TRUE(sink.stops.empty());
}

TEST_F(SnapshotFetcherTest, RepliesOutOfOrderDoNotGrowTheReorderBufferBeyondTheWindow) {
  HoldingPeer peer(loop_, 64 * kChunk);
  HeldSink sink;
  SnapshotFetcher fetcher(loop_, sink, FetchOptions(peer.port(), /*window=*/2));
  std::optional<FetchResult> result;
  StartAndBegin(fetcher, sink, result);
  sink.begin_done(0);
  // The first chunk never comes, so nothing reaches the sink; the replies
  // after it wait here. Reads in flight plus replies waiting stay within the
  // window, or this buffer would grow to the whole snapshot.
  ASSERT_TRUE(loop_.RunUntil([&] { return peer.reads() >= 2; }, kWait));
  loop_.RunFor(100ms);
  EXPECT_EQ(peer.reads(), 2u);
  EXPECT_TRUE(sink.appends.empty());
  EXPECT_FALSE(result.has_value());
}

TEST_F(SnapshotFetcherTest, ALostConnectionOnceEveryByteIsHereDoesNotEndTheFetch) {
  MemoryProvider provider(71, Pattern(3 * kChunk));
  auto server = StartServer(&provider);
  HeldSink sink;
  SnapshotFetcher fetcher(loop_, sink, FetchOptions(server->port(), /*window=*/4));
  std::optional<FetchResult> result;
  StartAndBegin(fetcher, sink, result);
  sink.begin_done(0);
  ASSERT_TRUE(loop_.RunUntil([&] { return sink.appends.size() == 3; }, kWait));
  server.reset();  // the peer goes away while the last writes are pending
  loop_.RunFor(50ms);
  EXPECT_FALSE(result.has_value()) << result->status.message();
  while (!sink.appends.empty()) sink.Write();
  ASSERT_TRUE(loop_.RunUntil([&] { return sink.finish_done != nullptr; }, kWait));
  sink.finish_done(provider.meta());
  ASSERT_TRUE(loop_.RunUntil([&] { return result.has_value(); }, kWait));
  EXPECT_TRUE(result->ok()) << result->status.message();
}

TEST_F(SnapshotFetcherTest, AFailedWriteEndsTheFetchAndKeepsWhatWasWritten) {
  MemoryProvider provider(72, Pattern(8 * kChunk));
  auto server = StartServer(&provider);
  HeldSink sink;
  SnapshotFetcher fetcher(loop_, sink, FetchOptions(server->port(), /*window=*/2));
  std::optional<FetchResult> result;
  StartAndBegin(fetcher, sink, result);
  sink.begin_done(0);
  ASSERT_TRUE(loop_.RunUntil([&] { return sink.appends.size() == 2; }, kWait));
  sink.Write();
  sink.Write(Status::IoError("disk full"));
  ASSERT_TRUE(loop_.RunUntil([&] { return result.has_value(); }, kWait));
  EXPECT_FALSE(result->ok());
  EXPECT_EQ(result->status.message(), "local snapshot store: disk full");
  EXPECT_EQ(result->bytes_transferred, kChunk);     // written before the failure
  EXPECT_EQ(sink.stops, std::vector<bool>{false});  // kept for a resume
  EXPECT_FALSE(fetcher.busy());
}

TEST_F(SnapshotFetcherTest, ARefusedReceiveEndsTheFetchWithoutAStop) {
  MemoryProvider provider(73, Pattern(kChunk));
  auto server = StartServer(&provider);
  HeldSink sink;
  SnapshotFetcher fetcher(loop_, sink, FetchOptions(server->port(), /*window=*/2));
  std::optional<FetchResult> result;
  StartAndBegin(fetcher, sink, result);
  sink.begin_done(Status::Unavailable("another receive is in progress"));
  ASSERT_TRUE(loop_.RunUntil([&] { return result.has_value(); }, kWait));
  EXPECT_FALSE(result->ok());
  EXPECT_EQ(result->status.message(),
            "local snapshot store refused: another receive is in progress");
  EXPECT_TRUE(sink.stops.empty());
  EXPECT_EQ(server->stats().snapshot_reads, 0u);
}

TEST_F(SnapshotFetcherTest, DestroyingTheFetcherStopsTheReceiveForAResume) {
  MemoryProvider provider(74, Pattern(8 * kChunk));
  auto server = StartServer(&provider);
  HeldSink sink;
  auto fetcher =
      std::make_unique<SnapshotFetcher>(loop_, sink, FetchOptions(server->port(), /*window=*/2));
  std::optional<FetchResult> result;
  StartAndBegin(*fetcher, sink, result);
  sink.begin_done(0);
  ASSERT_TRUE(loop_.RunUntil([&] { return sink.appends.size() == 2; }, kWait));
  fetcher.reset();
  EXPECT_EQ(sink.stops, std::vector<bool>{false});
  sink.Write();  // a late completion finds no fetcher: nothing happens
  loop_.RunFor(10ms);
  EXPECT_FALSE(result.has_value());
}

}  // namespace
}  // namespace synod::transport
