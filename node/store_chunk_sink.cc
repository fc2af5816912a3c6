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
        std::string error;
        receiver_ = store_.BeginReceive(meta, &error);
        if (receiver_ == nullptr) {
          out->emplace(Status::Unavailable(error));
        } else {
          out->emplace(receiver_->received_bytes());
        }
      },
      [out, done = std::move(done)] { done(std::move(**out)); });
}

void StoreChunkSink::Append(uint64_t offset, std::string bytes, std::function<void(Status)> done) {
  auto out = std::make_shared<Status>();
  Run(
      [this, offset, bytes = std::move(bytes), out] {
        std::string error;
        if (receiver_ == nullptr) {
          *out = Status::IoError("no snapshot receive is open");
        } else if (!receiver_->Append(offset, bytes, &error)) {
          *out = Status::IoError(error);
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
        std::string error;
        std::optional<snapshot::SnapshotMeta> installed = receiver_->Finish(&error);
        receiver_.reset();
        if (installed) {
          out->emplace(*installed);
        } else {
          out->emplace(Status::IoError(error));
        }
      },
      [out, done = std::move(done)] { done(std::move(**out)); });
}

void StoreChunkSink::Stop(bool abandon) {
  Run(
      [this, abandon] {
        if (receiver_ == nullptr) return;
        std::string error;
        if (abandon) {
          receiver_->Abandon();
        } else if (receiver_->received_bytes() > receiver_->durable_bytes() &&
                   !receiver_->Sync(&error)) {
          log_->warn("cannot keep the partial snapshot for a resume: {}", error);
        }
        receiver_.reset();
      },
      [] {});
}

}  // namespace synod::node
