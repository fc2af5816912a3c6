// SnapshotFetcher implementation: a Dialer for connect and peer hello,
// snapshotInfo, then a window of readSnapshot calls whose replies go to the
// sink in offset order.

#include "transport/snapshot_fetcher.h"

#include <kj/debug.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <map>

#include "transport/dialer.h"
#include "transport/exit_on_task_error.h"
#include "transport/logging.h"
#include "transport/rpc_connection.h"
#include "transport/timer.h"

namespace synod::transport {

namespace asio = boost::asio;

namespace {

std::string Describe(const kj::Exception& e) { return e.getDescription().cStr(); }

}  // namespace

struct SnapshotFetcher::Impl {
  enum class Phase { kIdle, kConnecting, kInfo, kBeginning, kTransfer, kInstalling };

  Impl(EventLoop& l, SnapshotChunkSink& s, SnapshotFetcherOptions o)
      : loop(l),
        sink(s),
        options(std::move(o)),
        log(LoggerOrDefault(options.logger)),
        dialer(l),
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
      refused.status = Status::Unavailable("a snapshot fetch is already in progress");
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
    DialOptions dial;
    dial.server = options.peer;
    dial.role = wire::ConnectionRole::PEER;
    dial.cluster_id = options.cluster_id;
    dial.self = options.self;
    dial.limits = options.limits;
    dial.connect_timeout = options.connect_timeout;
    dial.write_stall_timeout = options.write_stall_timeout;
    dialer.Dial(std::move(dial), [this, gen](Result<Dialed> dialed) {
      if (!dialed.ok()) return End(gen, dialed.status().message());
      OnDialed(gen, std::move(dialed.value()));
    });
  }

  void OnDialed(uint64_t gen, Dialed dialed) {
    if (!dialed.info.accepted) return End(gen, "refused: " + dialed.info.reason);
    std::string older_build =
        MissingFeaturesReason(options.peer.id, dialed.info.features, options.required_features);
    if (!older_build.empty()) return End(gen, "refused: " + older_build);  // `dialed` closes it
    conn = kj::mv(dialed.conn);
    peer = KJ_ASSERT_NONNULL(dialed.service).castAs<wire::PeerService>();
    tasks = kj::heap<kj::TaskSet>(task_errors);
    tasks->add(conn->OnDisconnect().then(
        [this, gen] { EndLater(gen, "disconnected"); },
        [this, gen](kj::Exception&& e) { EndLater(gen, "disconnected: " + Describe(e)); }));
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
    phase = Phase::kBeginning;
    receiving = true;
    sink.Begin(meta, [this, gen, a = alive](Result<uint64_t> held) {
      if (*a) OnBegun(gen, std::move(held));
    });
  }

  void OnBegun(uint64_t gen, Result<uint64_t> held) {
    if (gen != generation || phase != Phase::kBeginning) return;
    if (!held.ok()) {
      receiving = false;
      return End(gen, "local snapshot store refused: " + held.status().message());
    }
    result.resumed_from = *held;
    next_request = next_append = written = result.resumed_from;
    phase = Phase::kTransfer;
    if (written == result.meta.size_bytes) return Install(gen);
    Pump(gen);
  }

  // Keeps up to `window` chunks requested but not yet handed to the sink
  // (reads in flight plus replies waiting in `ready` for an earlier one),
  // while bytes remain unrequested and fewer than `window` chunks wait in the
  // sink.
  void Pump(uint64_t gen) {
    const snapshot::SnapshotMeta& meta = result.meta;
    while (in_flight + ready.size() < options.window && appending < options.window &&
           next_request < meta.size_bytes) {
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
      return EndLater(
          gen,
          "peer pruned snapshot " + snapshot::DescribeMeta(result.meta) + " during the transfer",
          /*gone=*/true);
    }
    capnp::Data::Reader data = reply.getData();
    if (data.size() != length) {
      return EndLater(gen, "peer sent " + std::to_string(data.size()) + " bytes at offset " +
                               std::to_string(offset) + ", expected " + std::to_string(length) +
                               " (chunk_bytes above the peer's max_snapshot_chunk_bytes?)");
    }
    ready.emplace(offset, std::string(reinterpret_cast<const char*>(data.begin()), data.size()));
    // Hand over every chunk that is next in offset order (replies may be reordered).
    while (!ready.empty() && ready.begin()->first == next_append) {
      size_t size = ready.begin()->second.size();
      ++appending;
      sink.Append(next_append, std::move(ready.begin()->second),
                  [this, gen, size, a = alive](Status status) {
                    if (*a) OnWritten(gen, size, status);
                  });
      next_append += size;
      result.bytes_transferred += size;
      ready.erase(ready.begin());
    }
    if (AllReceived()) overall_timer.cancel();  // nothing left to wait for from the peer
    Pump(gen);
  }

  // Every byte of the snapshot is here (handed to the sink or installing).
  bool AllReceived() const {
    return phase == Phase::kInstalling ||
           (phase == Phase::kTransfer && next_append == result.meta.size_bytes);
  }

  // The sink wrote (or failed to write) the chunk of `size` bytes handed next.
  void OnWritten(uint64_t gen, size_t size, const Status& status) {
    if (gen != generation || phase != Phase::kTransfer) return;
    --appending;
    if (!status.ok()) {
      result.bytes_transferred = written - result.resumed_from;
      return End(gen, "local snapshot store: " + status.message());
    }
    written += size;
    if (written == result.meta.size_bytes) return Install(gen);
    Pump(gen);
  }

  // Every byte is written: the sink checks and installs. From an Asio handler.
  void Install(uint64_t gen) {
    phase = Phase::kInstalling;
    receiving = false;  // Finish ends the receive
    overall_timer.cancel();
    sink.Finish([this, gen, a = alive](Result<snapshot::SnapshotMeta> installed) {
      if (!*a || gen != generation) return;
      if (!installed.ok()) return End(gen, "install failed: " + installed.status().message());
      result.status = Status::Ok();
      result.meta = *installed;
      End(gen, "");
    });
  }

  // Ends the fetch from an Asio handler (never inside a KJ callback of it).
  void EndLater(uint64_t gen, std::string why, bool gone = false) {
    asio::post(loop.io(), [this, gen, why = std::move(why), gone, a = alive] {
      // A lost connection no longer matters once every byte is here.
      if (!*a || gen != generation || AllReceived()) return;
      result.gone = gone;
      End(gen, why);
    });
  }

  // Tears the attempt down and reports `result` (with `why` as its error).
  void End(uint64_t gen, const std::string& why) {
    if (gen != generation || phase == Phase::kIdle) return;
    if (!result.ok()) result.status = Status::Unavailable(why);
    Teardown(result.gone);
    result.seconds = std::chrono::duration<double>(Clock::now() - started).count();
    if (result.ok()) {
      log->info("transport: installed snapshot {} from {}:{} ({} bytes in {:.3f} s, resumed at {})",
                snapshot::DescribeMeta(result.meta), options.peer.host, options.peer.port,
                result.bytes_transferred, result.seconds, result.resumed_from);
    } else {
      log->info("transport: snapshot fetch from {}:{} failed after {} bytes: {}", options.peer.host,
                options.peer.port, result.bytes_transferred, result.status.message());
    }
    Deliver(std::move(done), std::move(result));
  }

  // Closes the connection; keeps (durably) or abandons the partial receive.
  void Teardown(bool abandon) {
    ++generation;
    phase = Phase::kIdle;
    overall_timer.cancel();
    dialer.Cancel();
    tasks = nullptr;  // cancels calls in flight
    peer = nullptr;
    conn = nullptr;
    in_flight = 0;
    appending = 0;
    ready.clear();
    if (receiving) sink.Stop(abandon);  // after the chunks handed to it
    receiving = false;
  }

  void Deliver(Done callback, FetchResult r) {
    if (!callback) return;
    asio::post(loop.io(), [callback = std::move(callback), r = std::move(r), a = alive]() mutable {
      if (*a) callback(std::move(r));
    });
  }

  EventLoop& loop;
  SnapshotChunkSink& sink;
  SnapshotFetcherOptions options;
  std::shared_ptr<spdlog::logger> log;
  Dialer dialer;
  asio::steady_timer overall_timer;
  std::shared_ptr<bool> alive;
  uint64_t generation = 0;  // bumped by every teardown; stale callbacks compare it
  Phase phase = Phase::kIdle;
  Done done;
  uint64_t at_least = 0;
  Clock::time_point started;
  FetchResult result;                     // of the fetch in flight
  bool receiving = false;                 // the sink has a receive open (Begin called)
  uint64_t next_request = 0;              // first byte not yet requested
  uint64_t next_append = 0;               // first byte not yet handed to the sink
  uint64_t written = 0;                   // first byte the sink has not yet written
  size_t in_flight = 0;                   // readSnapshot calls outstanding
  size_t appending = 0;                   // chunks handed to the sink, not yet written
  std::map<uint64_t, std::string> ready;  // replies ahead of next_append, by offset (with
                                          // in_flight at most window)
  ExitOnTaskError task_errors;
  kj::Own<RpcConnection> conn;
  kj::Maybe<wire::PeerService::Client> peer;
  kj::Own<kj::TaskSet> tasks;  // calls, disconnect watch
};

SnapshotFetcher::SnapshotFetcher(EventLoop& loop, SnapshotChunkSink& sink,
                                 SnapshotFetcherOptions options)
    : impl_(std::make_unique<Impl>(loop, sink, std::move(options))) {}

SnapshotFetcher::~SnapshotFetcher() = default;

void SnapshotFetcher::Fetch(uint64_t at_least_slot, Done done) {
  impl_->Fetch(at_least_slot, std::move(done));
}

void SnapshotFetcher::Cancel() { impl_->End(impl_->generation, "cancelled"); }

bool SnapshotFetcher::busy() const { return impl_->phase != Impl::Phase::kIdle; }

}  // namespace synod::transport
