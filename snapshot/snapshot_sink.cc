#include "snapshot/snapshot_sink.h"

#include "snapshot/error.h"
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
    Check(util::WriteAll(fd_.get(), bytes, temp_path_), &error_);  // large chunk: no copy
    return;
  }
  buffer_.append(bytes);
}

bool SnapshotSink::Flush() {
  if (buffer_.empty()) return true;
  bool written = Check(util::WriteAll(fd_.get(), buffer_, temp_path_), &error_);
  buffer_.clear();
  return written;
}

std::optional<SnapshotMeta> SnapshotSink::Commit(std::string* error) {
  if (finished_) {
    Fail(error, "SnapshotSink::Commit after Commit or Abort");
    return std::nullopt;
  }
  if (!ok() || !Flush()) {
    std::string message = "snapshot at slot " + std::to_string(slot_) + " not taken: " + error_;
    Abort();
    Fail(error, message);
    return std::nullopt;
  }
  SnapshotMeta meta{slot_, size_, crc_.value(), slot_};
  bool crashed = false;
  if (!store_.Install(fd_.get(), TempDataName(slot_), meta, &crashed, error)) {
    if (crashed) {
      finished_ = true;  // a simulated crash leaves everything where it was
      fd_.Reset();
    } else {
      Abort();
    }
    return std::nullopt;
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
