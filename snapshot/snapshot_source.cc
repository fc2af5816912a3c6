#include "snapshot/snapshot_source.h"

#include <algorithm>
#include <string_view>

#include "snapshot/snapshot_layout.h"
#include "util/byte_order.h"

namespace synod::snapshot {

using util::TakeLittle;

namespace {

constexpr size_t kReadAhead = size_t{1} << 20;

}  // namespace

SnapshotSource::SnapshotSource(SnapshotMeta meta, util::UniqueFd fd, std::string path)
    : meta_(meta), fd_(std::move(fd)), path_(std::move(path)) {}

Status SnapshotSource::ReadAt(uint64_t offset, size_t max_bytes, std::string& out) const {
  out.clear();
  if (offset >= meta_.size_bytes) return Status::Ok();
  size_t want = static_cast<size_t>(std::min<uint64_t>(max_bytes, meta_.size_bytes - offset));
  if (Status read = util::ReadAt(fd_.get(), offset, want, out, path_); !read.ok()) return read;
  if (out.size() != want) {
    out.clear();
    return Status::Corruption(path_ + " ended before its recorded size " +
                              std::to_string(meta_.size_bytes));
  }
  return Status::Ok();
}

ChunkReader::ChunkReader(const SnapshotSource& source) : source_(source) {}

bool ChunkReader::Read(std::string& chunk) {
  chunk.clear();
  if (!ok() || at_end_) return false;
  if (!started_) {
    std::string magic;
    if (!Take(kDataMagic.size(), magic)) return false;
    if (magic != kDataMagic) {
      status_ = Status::Corruption("snapshot " + DescribeMeta(source_.meta()) +
                                   " is not a snapshot data file");
      return false;
    }
    started_ = true;
  }
  const uint64_t size = source_.meta().size_bytes;
  uint64_t consumed = file_pos_ - (buffer_.size() - buffer_pos_);
  if (consumed == size) {
    at_end_ = true;
    return false;
  }
  std::string header;
  if (!Take(kChunkHeaderSize, header)) return false;
  std::string_view header_view = header;
  uint64_t length = TakeLittle(header_view, kChunkHeaderSize);
  consumed += kChunkHeaderSize;
  if (length > size - consumed) {
    status_ = Status::Corruption(
        "snapshot " + DescribeMeta(source_.meta()) + " has a chunk of " + std::to_string(length) +
        " bytes at offset " + std::to_string(consumed) + " running past its end (corrupt framing)");
    return false;
  }
  return Take(static_cast<size_t>(length), chunk);
}

bool ChunkReader::Take(size_t size, std::string& out) {
  out.clear();
  size_t from_buffer = std::min(size, buffer_.size() - buffer_pos_);
  out.append(buffer_, buffer_pos_, from_buffer);
  buffer_pos_ += from_buffer;
  size_t rest = size - from_buffer;
  if (rest == 0) return true;
  std::string piece;
  if (rest >= kReadAhead) {  // a large chunk: read it directly, not through the buffer
    if (Status read = source_.ReadAt(file_pos_, rest, piece); !read.ok()) {
      status_ = read;
      return false;
    }
    file_pos_ += piece.size();
    if (piece.size() != rest) {
      status_ =
          Status::Corruption("snapshot " + DescribeMeta(source_.meta()) + " ends inside a chunk");
      return false;
    }
    out.append(piece);
    return true;
  }
  if (Status read = source_.ReadAt(file_pos_, kReadAhead, buffer_); !read.ok()) {
    status_ = read;
    return false;
  }
  file_pos_ += buffer_.size();
  buffer_pos_ = 0;
  if (buffer_.size() < rest) {
    status_ =
        Status::Corruption("snapshot " + DescribeMeta(source_.meta()) + " ends inside a chunk");
    return false;
  }
  out.append(buffer_, 0, rest);
  buffer_pos_ = rest;
  return true;
}

}  // namespace synod::snapshot
