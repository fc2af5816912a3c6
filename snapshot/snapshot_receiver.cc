#include "snapshot/snapshot_receiver.h"

#include <cstdio>

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

Status SnapshotReceiver::Failed(Status status) {
  if (error_.ok()) error_ = status;
  return status;
}

Status SnapshotReceiver::Append(uint64_t offset, std::string_view bytes) {
  if (!error_.ok()) return error_.WithContext("receiver failed earlier");
  if (finished_) {
    return Status::InvalidArgument("SnapshotReceiver::Append after Finish or Abandon");
  }
  if (offset > received_) {
    return Status::InvalidArgument("gap in snapshot transfer: got offset " +
                                   std::to_string(offset) + ", expected at most " +
                                   std::to_string(received_));
  }
  if (offset > meta_.size_bytes || bytes.size() > meta_.size_bytes - offset) {
    return Status::InvalidArgument("snapshot bytes [" + std::to_string(offset) + ", " +
                                   std::to_string(offset + bytes.size()) + ") run past its size " +
                                   std::to_string(meta_.size_bytes));
  }
  if (offset + bytes.size() <= received_) return Status::Ok();  // a duplicate
  bytes.remove_prefix(static_cast<size_t>(received_ - offset));
  Status written = util::WriteAll(fd_.get(), bytes, part_path_);
  if (!written.ok()) return Failed(written);
  crc_.Update(bytes);
  received_ += bytes.size();
  unsynced_ += bytes.size();
  if (unsynced_ >= store_.options_.receive_sync_bytes) return Sync();
  return Status::Ok();
}

Status SnapshotReceiver::Sync() {
  if (!error_.ok()) return error_.WithContext("receiver failed earlier");
  if (finished_) return Status::InvalidArgument("SnapshotReceiver::Sync after Finish or Abandon");
  // The part file first: a progress record must never claim bytes that are
  // not durable yet. A failed fsync makes the file's content unknown, so the
  // receiver stops; a new BeginReceive resumes from the last durable length.
  Status status = util::SyncFd(fd_.get(), part_path_);
  if (!status.ok()) return Failed(status);
  ReceiveProgress progress{meta_, received_};
  status = util::WriteFileAtomically(store_.dir(), ProgressName(meta_.applied_slot, meta_.crc32c),
                                     EncodeProgress(progress));
  if (!status.ok()) return Failed(status);
  durable_ = received_;
  unsynced_ = 0;
  return Status::Ok();
}

Result<SnapshotMeta> SnapshotReceiver::Finish() {
  if (!error_.ok()) return error_.WithContext("receiver failed earlier");
  if (finished_) {
    return Status::InvalidArgument("SnapshotReceiver::Finish after Finish or Abandon");
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
    return Failed(Status::Corruption(message));
  }
  bool crashed = false;
  if (Status installed =
          store_.Install(fd_.get(), PartName(meta_.applied_slot, meta_.crc32c), meta_, &crashed);
      !installed.ok()) {
    if (crashed) {
      finished_ = true;  // a simulated crash leaves everything where it was
      fd_.Reset();
    } else {
      RemoveFiles();
    }
    return Failed(installed);
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
