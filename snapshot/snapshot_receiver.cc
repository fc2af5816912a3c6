#include "snapshot/snapshot_receiver.h"

#include <cstdio>

#include "snapshot/error.h"
#include "snapshot/snapshot_layout.h"
#include "snapshot/snapshot_store.h"

namespace synod::snapshot {

SnapshotReceiver::SnapshotReceiver(SnapshotStore& store, SnapshotMeta meta, util::UniqueFd fd,
                                   uint64_t durable, util::Crc32cStream crc)
    : store_(store),
      meta_(meta),
      part_path_(store.PathOf(PartName(meta.applied_slot, meta.crc32c))),
      fd_(std::move(fd)),
      received_(durable),
      durable_(durable),
      crc_(crc) {}

SnapshotReceiver::~SnapshotReceiver() {
  store_.ReleaseReceive(PartName(meta_.applied_slot, meta_.crc32c));
}

bool SnapshotReceiver::Failed(std::string* error, const std::string& message) {
  if (error_.empty()) error_ = message;
  return Fail(error, message);
}

bool SnapshotReceiver::Append(uint64_t offset, std::string_view bytes, std::string* error) {
  if (!error_.empty()) return Fail(error, "receiver failed earlier: " + error_);
  if (finished_) return Fail(error, "SnapshotReceiver::Append after Finish or Abandon");
  if (offset > received_) {
    return Fail(error, "gap in snapshot transfer: got offset " + std::to_string(offset) +
                           ", expected at most " + std::to_string(received_));
  }
  if (offset > meta_.size_bytes || bytes.size() > meta_.size_bytes - offset) {
    return Fail(error, "snapshot bytes [" + std::to_string(offset) + ", " +
                           std::to_string(offset + bytes.size()) + ") run past its size " +
                           std::to_string(meta_.size_bytes));
  }
  if (offset + bytes.size() <= received_) return true;  // a duplicate
  bytes.remove_prefix(static_cast<size_t>(received_ - offset));
  Status written = util::WriteAll(fd_.get(), bytes, part_path_);
  if (!written.ok()) return Failed(error, written.message());
  crc_.Update(bytes);
  received_ += bytes.size();
  unsynced_ += bytes.size();
  if (unsynced_ >= store_.options_.receive_sync_bytes) return Sync(error);
  return true;
}

bool SnapshotReceiver::Sync(std::string* error) {
  if (!error_.empty()) return Fail(error, "receiver failed earlier: " + error_);
  if (finished_) return Fail(error, "SnapshotReceiver::Sync after Finish or Abandon");
  // The part file first: a progress record must never claim bytes that are
  // not durable yet. A failed fsync makes the file's content unknown, so the
  // receiver stops; a new BeginReceive resumes from the last durable length.
  Status status = util::SyncFd(fd_.get(), part_path_);
  if (!status.ok()) return Failed(error, status.message());
  ReceiveProgress progress{meta_, received_};
  status = util::WriteFileAtomically(store_.dir(), ProgressName(meta_.applied_slot, meta_.crc32c),
                                     EncodeProgress(progress));
  if (!status.ok()) return Failed(error, status.message());
  durable_ = received_;
  unsynced_ = 0;
  return true;
}

std::optional<SnapshotMeta> SnapshotReceiver::Finish(std::string* error) {
  if (!error_.empty()) {
    Fail(error, "receiver failed earlier: " + error_);
    return std::nullopt;
  }
  if (finished_) {
    Fail(error, "SnapshotReceiver::Finish after Finish or Abandon");
    return std::nullopt;
  }
  std::string message;
  if (received_ != meta_.size_bytes) {
    message = "received " + std::to_string(received_) + " bytes of snapshot " +
              DescribeMeta(meta_) + "; discarded";
  } else if (crc_.value() != meta_.crc32c) {
    char actual[16];
    std::snprintf(actual, sizeof actual, "%08x", crc_.value());
    message = "received snapshot " + DescribeMeta(meta_) + " has CRC32C " + actual +
              " (corrupt in transfer); discarded";
  }
  if (!message.empty()) {
    RemoveFiles();
    Failed(error, message);
    return std::nullopt;
  }
  bool crashed = false;
  if (!store_.Install(fd_.get(), PartName(meta_.applied_slot, meta_.crc32c), meta_, &crashed,
                      &message)) {
    if (crashed) {
      finished_ = true;  // a simulated crash leaves everything where it was
      fd_.Reset();
    } else {
      RemoveFiles();
    }
    Failed(error, message);
    return std::nullopt;
  }
  finished_ = true;
  fd_.Reset();
  // The progress record is stale now. If this removal is lost in a crash,
  // Open removes it (a receive not newer than the latest snapshot).
  (void)util::RemoveFile(store_.PathOf(ProgressName(meta_.applied_slot, meta_.crc32c)));
  return meta_;
}

void SnapshotReceiver::Abandon() {
  if (finished_) return;
  RemoveFiles();
}

void SnapshotReceiver::RemoveFiles() {
  finished_ = true;
  fd_.Reset();
  // Best effort: a later BeginReceive or Open removes leftovers.
  (void)util::RemoveFile(part_path_);
  (void)util::RemoveFile(store_.PathOf(ProgressName(meta_.applied_slot, meta_.crc32c)));
}

}  // namespace synod::snapshot
