// SnapshotFetcher implementation: connect, peer hello, snapshotInfo, then a
// window of readSnapshot calls whose replies are appended in offset order.

#include "transport/snapshot_fetcher.h"

#include <kj/debug.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <map>

#include "snapshot/snapshot_store.h"
#include "transport/exit_on_task_error.h"
#include "transport/logging.h"
#include "transport/owned_connect.h"
#include "transport/peer_hello.h"
#include "transport/rpc_connection.h"
#include "transport/timer.h"

namespace synod::transport {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

std::string Describe(const kj::Exception& e) { return e.getDescription().cStr(); }

}  // namespace

struct SnapshotFetcher::Impl {
  enum class Phase { kIdle, kConnecting, kInfo, kTransfer, kInstalling };

  Impl(EventLoop& l, snapshot::SnapshotStore& s, SnapshotFetcherOptions o)
      : loop(l),
        store(s),
        options(std::move(o)),
        log(LoggerOrDefault(options.logger)),
        resolver(l.io()),
        connect_timer(l.io()),
        overall_timer(l.io()),
        alive(std::make_shared<bool>(true)) {
    // A reply must stay well under the reader's message limit.
    size_t max_chunk = std::min(kMaxSnapshotChunkBytes, options.limits.max_message_bytes / 2);
    options.chunk_bytes =
        std::clamp<size_t>(options.chunk_bytes, 1, std::max<size_t>(max_chunk, 1));
    options.window = std::max<size_t>(options.window, 1);
  }

  ~Impl() {
    *alive = false;
    Teardown(false);
  }

  void Fetch(uint64_t at_least_slot, Done callback) {
    if (phase != Phase::kIdle) {
      FetchResult refused;
      refused.error = "a snapshot fetch is already in progress";
      return Deliver(std::move(callback), std::move(refused));
    }
    done = std::move(callback);
    at_least = at_least_slot;
    result = FetchResult{};
    started = Clock::now();
    phase = Phase::kConnecting;
    uint64_t gen = generation;
    overall_timer.expires_after(options.overall_timeout);
    overall_timer.async_wait([this, gen, a = alive](const boost::system::error_code& ec) {
      if (ec || !*a || gen != generation) return;
      End(gen, "no complete transfer within overall_timeout (" +
                   std::to_string(options.overall_timeout.count()) + " ms)");
    });
    Connect(gen);
  }

  void Connect(uint64_t gen) {
    const PeerEndpoint& peer = options.peer;
    resolver.async_resolve(
        peer.host, std::to_string(peer.port),
        [this, gen, a = alive](const boost::system::error_code& ec,
                               tcp::resolver::results_type results) {
          if (!*a || gen != generation) return;
          if (ec) return End(gen, "resolve " + options.peer.host + ": " + ec.message());
          socket = std::make_shared<tcp::socket>(loop.io());
          ConnectOwned(socket, results, [this, gen, a](const boost::system::error_code& cec) {
            if (!*a || gen != generation) return;
            if (cec) return End(gen, "connect: " + cec.message());
            OnConnected(gen);
          });
        });
    connect_timer.expires_after(options.connect_timeout);
    connect_timer.async_wait([this, gen, a = alive](const boost::system::error_code& ec) {
      if (ec || !*a || gen != generation || phase != Phase::kConnecting) return;
      End(gen, "no handshake within connect_timeout");
    });
  }

  void OnConnected(uint64_t gen) {
    conn = kj::heap<RpcConnection>(std::move(*socket), options.limits, options.write_stall_timeout);
    socket.reset();
    tasks = kj::heap<kj::TaskSet>(task_errors);
    tasks->add(SayPeerHello(*conn, options.cluster_id, options.self, options.peer.id)
                   .then([this, gen](PeerHello&& hello) { OnHello(gen, kj::mv(hello)); },
                         [this, gen](kj::Exception&& e) {
                           EndLater(gen, "hello failed: " + Describe(e));
                         }));
    tasks->add(conn->OnDisconnect().then(
        [this, gen] { EndLater(gen, "disconnected"); },
        [this, gen](kj::Exception&& e) { EndLater(gen, "disconnected: " + Describe(e)); }));
  }

  void OnHello(uint64_t gen, PeerHello hello) {
    if (!hello.info.accepted) return EndLater(gen, "refused: " + hello.info.reason);
    peer = kj::mv(hello.peer);
    connect_timer.cancel();
    phase = Phase::kInfo;
    auto call =
        KJ_ASSERT_NONNULL(peer)
            .snapshotInfoRequest()
            .send()
            .then([this, gen](capnp::Response<wire::PeerService::SnapshotInfoResults>&& response) {
              CallOrExitUnlessKj("a snapshot fetch", [&] { OnInfo(gen, response); });
            })
            .exclusiveJoin(
                FailAfter<void>(loop.io(), options.call_timeout, "snapshotInfo deadline exceeded"));
    tasks->add(call.catch_(
        [this, gen](kj::Exception&& e) { EndLater(gen, "snapshotInfo failed: " + Describe(e)); }));
  }

  void OnInfo(uint64_t gen, wire::PeerService::SnapshotInfoResults::Reader info) {
    std::string who = options.peer.host + ":" + std::to_string(options.peer.port);
    if (!info.getFound()) return EndLater(gen, "peer " + who + " has no snapshot");
    snapshot::SnapshotMeta meta;
    meta.applied_slot = info.getAppliedSlot();
    meta.id = meta.applied_slot;
    meta.size_bytes = info.getSizeBytes();
    meta.crc32c = info.getCrc32c();
    result.meta = meta;
    if (meta.applied_slot < at_least) {
      return EndLater(gen, "peer " + who + " has no snapshot at or after slot " +
                               std::to_string(at_least) +
                               " (its latest: " + snapshot::DescribeMeta(meta) + ")");
    }
    std::string error;
    receiver = store.BeginReceive(meta, &error);
    if (receiver == nullptr) return EndLater(gen, "local snapshot store refused: " + error);
    result.resumed_from = receiver->received_bytes();
    next_request = next_append = result.resumed_from;
    phase = Phase::kTransfer;
    if (next_append == meta.size_bytes) return InstallLater(gen);
    Pump(gen);
  }

  // Keeps `window` reads in flight while bytes remain unrequested.
  void Pump(uint64_t gen) {
    const snapshot::SnapshotMeta& meta = receiver->meta();
    while (in_flight < options.window && next_request < meta.size_bytes) {
      uint64_t offset = next_request;
      size_t length =
          static_cast<size_t>(std::min<uint64_t>(options.chunk_bytes, meta.size_bytes - offset));
      auto request = KJ_ASSERT_NONNULL(peer).readSnapshotRequest();
      request.setAppliedSlot(meta.applied_slot);
      request.setCrc32c(meta.crc32c);
      request.setSizeBytes(meta.size_bytes);
      request.setOffset(offset);
      request.setMaxBytes(static_cast<uint32_t>(length));
      next_request += length;
      ++in_flight;
      auto call =
          request.send()
              .then([this, gen, offset,
                     length](capnp::Response<wire::PeerService::ReadSnapshotResults>&& response) {
                CallOrExitUnlessKj("a snapshot fetch",
                                   [&] { OnChunk(gen, offset, length, response); });
              })
              .exclusiveJoin(FailAfter<void>(loop.io(), options.call_timeout,
                                             "readSnapshot deadline exceeded"));
      tasks->add(call.catch_([this, gen](kj::Exception&& e) {
        EndLater(gen, "readSnapshot failed: " + Describe(e));
      }));
    }
  }

  void OnChunk(uint64_t gen, uint64_t offset, size_t length,
               wire::PeerService::ReadSnapshotResults::Reader reply) {
    --in_flight;
    if (phase != Phase::kTransfer) return;
    if (reply.getGone()) {
      return EndLater(gen,
                      "peer pruned snapshot " + snapshot::DescribeMeta(receiver->meta()) +
                          " during the transfer",
                      /*gone=*/true);
    }
    capnp::Data::Reader data = reply.getData();
    if (data.size() != length) {
      return EndLater(gen, "peer sent " + std::to_string(data.size()) + " bytes at offset " +
                               std::to_string(offset) + ", expected " + std::to_string(length) +
                               " (chunk_bytes above the peer's max_snapshot_chunk_bytes?)");
    }
    ready.emplace(offset, std::string(reinterpret_cast<const char*>(data.begin()), data.size()));
    // Append every chunk that is next in offset order (replies may be reordered).
    while (!ready.empty() && ready.begin()->first == next_append) {
      std::string& bytes = ready.begin()->second;
      std::string error;
      if (!receiver->Append(next_append, bytes, &error)) {
        return EndLater(gen, "local snapshot store: " + error);
      }
      next_append += bytes.size();
      result.bytes_transferred += bytes.size();
      ready.erase(ready.begin());
    }
    if (next_append == receiver->meta().size_bytes) return InstallLater(gen);
    Pump(gen);
  }

  // Installs from an Asio handler, after the KJ callback that got the last byte.
  void InstallLater(uint64_t gen) {
    phase = Phase::kInstalling;
    asio::post(loop.io(), [this, gen, a = alive] {
      if (!*a || gen != generation) return;
      std::string error;
      std::optional<snapshot::SnapshotMeta> installed = receiver->Finish(&error);
      receiver.reset();
      if (!installed) return End(gen, "install failed: " + error);
      result.ok = true;
      result.meta = *installed;
      End(gen, "");
    });
  }

  // Ends the fetch from an Asio handler (never inside a KJ callback of it).
  void EndLater(uint64_t gen, std::string why, bool gone = false) {
    asio::post(loop.io(), [this, gen, why = std::move(why), gone, a = alive] {
      // A lost connection no longer matters once every byte is here.
      if (!*a || gen != generation || phase == Phase::kInstalling) return;
      result.gone = gone;
      End(gen, why);
    });
  }

  // Tears the attempt down and reports `result` (with `why` as its error).
  void End(uint64_t gen, const std::string& why) {
    if (gen != generation || phase == Phase::kIdle) return;
    if (!result.ok) result.error = why;
    Teardown(result.gone);
    result.seconds = std::chrono::duration<double>(Clock::now() - started).count();
    if (result.ok) {
      log->info("transport: installed snapshot {} from {}:{} ({} bytes in {:.3f} s, resumed at {})",
                snapshot::DescribeMeta(result.meta), options.peer.host, options.peer.port,
                result.bytes_transferred, result.seconds, result.resumed_from);
    } else {
      log->info("transport: snapshot fetch from {}:{} failed after {} bytes: {}", options.peer.host,
                options.peer.port, result.bytes_transferred, result.error);
    }
    Deliver(std::move(done), std::move(result));
  }

  // Closes the connection; keeps (durably) or abandons the partial receive.
  void Teardown(bool abandon) {
    ++generation;
    phase = Phase::kIdle;
    boost::system::error_code ignored;
    connect_timer.cancel();
    overall_timer.cancel();
    resolver.cancel();
    if (socket) socket->close(ignored);
    socket.reset();
    tasks = nullptr;  // cancels hello and calls in flight
    peer = nullptr;
    conn = nullptr;
    in_flight = 0;
    ready.clear();
    if (receiver != nullptr) {
      std::string error;
      if (abandon) {
        receiver->Abandon();
      } else if (receiver->received_bytes() > receiver->durable_bytes() &&
                 !receiver->Sync(&error)) {
        log->warn("transport: cannot keep the partial snapshot for a resume: {}", error);
      }
      receiver.reset();
    }
  }

  void Deliver(Done callback, FetchResult r) {
    if (!callback) return;
    asio::post(loop.io(), [callback = std::move(callback), r = std::move(r), a = alive]() mutable {
      if (*a) callback(std::move(r));
    });
  }

  EventLoop& loop;
  snapshot::SnapshotStore& store;
  SnapshotFetcherOptions options;
  std::shared_ptr<spdlog::logger> log;
  tcp::resolver resolver;
  std::shared_ptr<tcp::socket> socket;  // while connecting (co-owned by the connect)
  asio::steady_timer connect_timer;
  asio::steady_timer overall_timer;
  std::shared_ptr<bool> alive;
  uint64_t generation = 0;  // bumped by every teardown; stale callbacks compare it
  Phase phase = Phase::kIdle;
  Done done;
  uint64_t at_least = 0;
  Clock::time_point started;
  FetchResult result;  // of the fetch in flight
  std::unique_ptr<snapshot::SnapshotReceiver> receiver;
  uint64_t next_request = 0;              // first byte not yet requested
  uint64_t next_append = 0;               // first byte not yet appended
  size_t in_flight = 0;                   // readSnapshot calls outstanding
  std::map<uint64_t, std::string> ready;  // replies ahead of next_append, by offset
  ExitOnTaskError task_errors;
  kj::Own<RpcConnection> conn;
  kj::Maybe<wire::PeerService::Client> peer;
  kj::Own<kj::TaskSet> tasks;  // hello, calls, disconnect watch
};

SnapshotFetcher::SnapshotFetcher(EventLoop& loop, snapshot::SnapshotStore& store,
                                 SnapshotFetcherOptions options)
    : impl_(std::make_unique<Impl>(loop, store, std::move(options))) {}

SnapshotFetcher::~SnapshotFetcher() = default;

void SnapshotFetcher::Fetch(uint64_t at_least_slot, Done done) {
  impl_->Fetch(at_least_slot, std::move(done));
}

void SnapshotFetcher::Cancel() { impl_->End(impl_->generation, "cancelled"); }

bool SnapshotFetcher::busy() const { return impl_->phase != Impl::Phase::kIdle; }

}  // namespace synod::transport
