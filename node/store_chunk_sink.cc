// StoreChunkSink implementation: each call becomes one job on the sink's
// BackgroundWriter; its result travels back in a shared slot.

#include "node/store_chunk_sink.h"

#include <optional>
#include <string>
#include <utility>

namespace synod::node {

StoreChunkSink::StoreChunkSink(boost::asio::io_context& loop, snapshot::SnapshotStore& store,
                               std::shared_ptr<spdlog::logger> logger)
    : store_(store), log_(std::move(logger)), writer_(loop) {}

StoreChunkSink::~StoreChunkSink() { *alive_ = false; }

void StoreChunkSink::Run(std::function<void()> job, std::function<void()> done) {
  writer_.Submit(std::move(job), [done = std::move(done), a = alive_] {
    if (*a) done();
  });
}

void StoreChunkSink::Begin(const snapshot::SnapshotMeta& meta,
                           std::function<void(Result<uint64_t>)> done) {
  auto out = std::make_shared<std::optional<Result<uint64_t>>>();
  Run(
      [this, meta, out] {
        Result<std::unique_ptr<snapshot::SnapshotReceiver>> receiver = store_.BeginReceive(meta);
        if (!receiver.ok()) {
          out->emplace(receiver.status());
        } else {
          receiver_ = std::move(*receiver);
          out->emplace(receiver_->received_bytes());
        }
      },
      [out, done = std::move(done)] { done(std::move(**out)); });
}

void StoreChunkSink::Append(uint64_t offset, std::string bytes, std::function<void(Status)> done) {
  auto out = std::make_shared<Status>();
  Run(
      [this, offset, bytes = std::move(bytes), out] {
        if (receiver_ == nullptr) {
          *out = Status::IoError("no snapshot receive is open");
        } else {
          *out = receiver_->Append(offset, bytes);
        }
      },
      [out, done = std::move(done)] { done(std::move(*out)); });
}

void StoreChunkSink::Finish(std::function<void(Result<snapshot::SnapshotMeta>)> done) {
  auto out = std::make_shared<std::optional<Result<snapshot::SnapshotMeta>>>();
  Run(
      [this, out] {
        if (receiver_ == nullptr) {
          out->emplace(Status::IoError("no snapshot receive is open"));
          return;
        }
        out->emplace(receiver_->Finish());
        receiver_.reset();
      },
      [out, done = std::move(done)] { done(std::move(**out)); });
}

void StoreChunkSink::Stop(bool abandon) {
  Run(
      [this, abandon] {
        if (receiver_ == nullptr) return;
        if (abandon) {
          receiver_->Abandon();
        } else if (receiver_->received_bytes() > receiver_->durable_bytes()) {
          if (Status synced = receiver_->Sync(); !synced.ok()) {
            log_->warn("cannot keep the partial snapshot for a resume: {}", synced.message());
          }
        }
        receiver_.reset();
      },
      [] {});
}

}  // namespace synod::node
