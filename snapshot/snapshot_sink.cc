#include "snapshot/snapshot_sink.h"

#include "snapshot/snapshot_layout.h"
#include "snapshot/snapshot_store.h"
#include "util/byte_order.h"

namespace synod::snapshot {

using util::PutLittle;

SnapshotSink::SnapshotSink(SnapshotStore& store, uint64_t slot, util::UniqueFd fd,
                           size_t buffer_bytes)
    : store_(store),
      slot_(slot),
      temp_path_(store.PathOf(TempDataName(slot))),
      fd_(std::move(fd)),
      buffer_bytes_(buffer_bytes) {
  buffer_.reserve(buffer_bytes_);
  Emit(kDataMagic);
}

SnapshotSink::~SnapshotSink() {
  Abort();
  store_.ReleaseWrite(TempDataName(slot_));
}

void SnapshotSink::Write(std::string_view chunk) {
  if (finished_) {
    error_ = "SnapshotSink::Write after Commit or Abort";
    return;
  }
  if (!ok()) return;
  std::string header;
  PutLittle(header, chunk.size(), kChunkHeaderSize);
  Emit(header);
  Emit(chunk);
}

void SnapshotSink::Emit(std::string_view bytes) {
  if (!ok()) return;
  crc_.Update(bytes);
  size_ += bytes.size();
  if (buffer_.size() + bytes.size() > buffer_bytes_ && !Flush()) return;
  if (bytes.size() >= buffer_bytes_) {
    // A large chunk: written without a copy.
    if (Status written = util::WriteAll(fd_.get(), bytes, temp_path_); !written.ok()) {
      error_ = written.message();
    }
    return;
  }
  buffer_.append(bytes);
}

bool SnapshotSink::Flush() {
  if (buffer_.empty()) return true;
  Status written = util::WriteAll(fd_.get(), buffer_, temp_path_);
  buffer_.clear();
  if (!written.ok()) error_ = written.message();
  return written.ok();
}

Result<SnapshotMeta> SnapshotSink::Commit() {
  if (finished_) return Status::InvalidArgument("SnapshotSink::Commit after Commit or Abort");
  if (!ok() || !Flush()) {
    std::string message = "snapshot at slot " + std::to_string(slot_) + " not taken: " + error_;
    Abort();
    return Status::IoError(message);
  }
  SnapshotMeta meta{slot_, size_, crc_.value(), slot_};
  bool crashed = false;
  if (Status installed = store_.Install(fd_.get(), TempDataName(slot_), meta, &crashed);
      !installed.ok()) {
    if (crashed) {
      finished_ = true;  // a simulated crash leaves everything where it was
      fd_.Reset();
    } else {
      Abort();
    }
    return installed;
  }
  finished_ = true;
  fd_.Reset();
  return meta;
}

void SnapshotSink::Abort() {
  if (finished_) return;
  finished_ = true;
  fd_.Reset();
  (void)util::RemoveFile(temp_path_);  // best effort: Open removes leftovers anyway
}

}  // namespace synod::snapshot
