#include "snapshot/snapshot_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <map>

#include "snapshot/snapshot_layout.h"

namespace synod::snapshot {

namespace {

namespace fs = std::filesystem;

using util::ErrnoMessage;

constexpr char kLockName[] = "LOCK";

// Names of the entries of `dir`. An I/O error if it cannot be listed.
Status ListNames(const std::string& dir, std::vector<std::string>& names) {
  names.clear();
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    names.push_back(it->path().filename().string());
  }
  if (ec) return Status::IoError("cannot list " + dir + ": " + ec.message());
  std::sort(names.begin(), names.end());
  return Status::Ok();
}

const char* StepName(InstallStep step) {
  switch (step) {
    case InstallStep::kSyncData:
      return "sync data";
    case InstallStep::kWriteMetaTemp:
      return "write meta";
    case InstallStep::kRenameMeta:
      return "rename meta";
    case InstallStep::kRenameData:
      return "rename data";
    case InstallStep::kSyncDirectory:
      return "sync directory";
    case InstallStep::kPrune:
      return "prune";
  }
  return "?";
}

// Checks an open data file against its meta: exact size, then CRC32C.
Status VerifyOpenFile(int fd, const SnapshotMeta& meta, const std::string& path) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return Status::IoError(ErrnoMessage("cannot stat", path));
  if (static_cast<uint64_t>(st.st_size) != meta.size_bytes) {
    return Status::Corruption("snapshot " + path + " has " + std::to_string(st.st_size) +
                              " bytes but its meta says " + DescribeMeta(meta) + " (corrupt)");
  }
  Result<uint32_t> checksum = util::ChecksumFile(fd, meta.size_bytes, path);
  if (!checksum.ok()) return checksum.status();
  const uint32_t crc = *checksum;
  if (crc != meta.crc32c) {
    char actual[16];
    std::snprintf(actual, sizeof actual, "%08x", crc);
    return Status::Corruption("snapshot " + path + " has CRC32C " + actual + " but its meta says " +
                              DescribeMeta(meta) + " (corrupt)");
  }
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<SnapshotStore>> SnapshotStore::Open(std::string dir,
                                                           SnapshotStoreOptions options) {
  if (dir.empty()) return Status::InvalidArgument("no snapshot directory given");
  if (options.keep == 0) {
    return Status::InvalidArgument("SnapshotStoreOptions::keep must be >= 1");
  }
  if (options.write_buffer_bytes == 0) options.write_buffer_bytes = 1;
  if (Status created = util::CreateDirectoryDurably(dir); !created.ok()) return created;

  const std::string lock_path = dir + "/" + kLockName;
  util::UniqueFd lock(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!lock.valid()) return Status::IoError(ErrnoMessage("cannot open", lock_path));
  if (::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
    return Status::Unavailable(
        ErrnoMessage("snapshot directory is in use by another store: cannot lock", lock_path));
  }
  std::unique_ptr<SnapshotStore> store(
      new SnapshotStore(std::move(dir), std::move(options), std::move(lock)));
  if (Status recovered = store->Recover(); !recovered.ok()) return recovered;
  return store;
}

SnapshotStore::SnapshotStore(std::string dir, SnapshotStoreOptions options, util::UniqueFd lock)
    : dir_(std::move(dir)), options_(std::move(options)), lock_(std::move(lock)) {}

SnapshotStore::~SnapshotStore() = default;

Status SnapshotStore::Recover() {
  std::vector<std::string> names;
  if (Status listed = ListNames(dir_, names); !listed.ok()) return listed;
  struct SlotFiles {
    bool data = false;
    bool meta = false;
  };
  std::map<uint64_t, SlotFiles> snapshots;
  std::vector<std::pair<std::string, ParsedName>> receives;
  bool removed = false;
  auto remove = [&](const std::string& name) {
    removed = true;
    return util::RemoveFile(PathOf(name));
  };
  for (const std::string& name : names) {
    std::optional<ParsedName> parsed = ParseName(name);
    if (!parsed) continue;  // not ours (LOCK, or a file someone else put there): leave it
    switch (parsed->kind) {
      case FileKind::kTempData:
      case FileKind::kTempMeta:
      case FileKind::kTempProgress:
        if (Status s = remove(name); !s.ok()) return s;  // an interrupted write
        break;
      case FileKind::kData:
        snapshots[parsed->slot].data = true;
        break;
      case FileKind::kMeta:
        snapshots[parsed->slot].meta = true;
        break;
      case FileKind::kPart:
      case FileKind::kProgress:
        receives.emplace_back(name, *parsed);
        break;
    }
  }

  // A snapshot is complete when its meta decodes, names its own slot, and its
  // data file has exactly the recorded size. Anything else is the remains of
  // an interrupted install (or damage) and is removed.
  std::vector<SnapshotMeta> complete;
  for (const auto& [slot, files] : snapshots) {
    std::optional<SnapshotMeta> meta;
    if (files.meta) {
      const std::string meta_path = PathOf(MetaName(slot));
      std::error_code ec;
      uint64_t meta_size = fs::file_size(meta_path, ec);
      if (ec) return Status::IoError("cannot stat " + meta_path + ": " + ec.message());
      std::string bytes;
      // A meta of the wrong size is torn or foreign; one that cannot be read
      // is an I/O error, which fails Open rather than deleting anything.
      if (meta_size == kEncodedMetaSize) {
        Result<std::string> read = util::ReadSmallFile(meta_path, kEncodedMetaSize);
        if (!read.ok()) return read.status();
        bytes = std::move(*read);
      }
      meta = DecodeMeta(bytes);
      if (meta && meta->applied_slot != slot) meta.reset();
    }
    if (meta && files.data) {
      std::error_code ec;
      uint64_t size = fs::file_size(PathOf(DataName(slot)), ec);
      if (ec) return Status::IoError("cannot stat " + PathOf(DataName(slot)) + ": " + ec.message());
      if (size == meta->size_bytes && size >= kDataMagic.size()) {
        complete.push_back(*meta);
        continue;
      }
    }
    if (files.meta) {
      if (Status s = remove(MetaName(slot)); !s.ok()) return s;
    }
    if (files.data) {
      if (Status s = remove(DataName(slot)); !s.ok()) return s;
    }
  }

  // Partial receives are kept for resuming, unless a complete snapshot at
  // least as new exists, or the progress record's data file is gone.
  std::set<std::string> names_present(names.begin(), names.end());
  const uint64_t latest = complete.empty() ? 0 : complete.back().applied_slot;
  for (const auto& [name, parsed] : receives) {
    bool stale = !complete.empty() && parsed.slot <= latest;
    bool orphan = parsed.kind == FileKind::kProgress &&
                  names_present.count(PartName(parsed.slot, parsed.crc)) == 0;
    if (stale || orphan) {
      if (Status s = remove(name); !s.ok()) return s;
    }
  }
  if (removed) {
    if (Status synced = util::SyncDirectory(dir_); !synced.ok()) return synced;
  }

  std::lock_guard<std::mutex> lock(mu_);
  complete_ = std::move(complete);
  return PruneLocked();
}

std::optional<SnapshotMeta> SnapshotStore::Latest() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (complete_.empty()) return std::nullopt;
  return complete_.back();
}

std::vector<SnapshotMeta> SnapshotStore::List() const {
  std::lock_guard<std::mutex> lock(mu_);
  return complete_;
}

Result<std::unique_ptr<SnapshotSink>> SnapshotStore::BeginWrite(uint64_t applied_slot) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!complete_.empty() && applied_slot <= complete_.back().applied_slot) {
    return Status::InvalidArgument(
        "cannot take a snapshot at slot " + std::to_string(applied_slot) +
        ": not newer than the latest snapshot " + DescribeMeta(complete_.back()));
  }
  const std::string name = TempDataName(applied_slot);
  if (active_.count(name) != 0) {
    return Status::InvalidArgument("a snapshot at slot " + std::to_string(applied_slot) +
                                   " is already being taken");
  }
  const std::string path = PathOf(name);
  util::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd.valid()) return Status::IoError(ErrnoMessage("cannot create", path));
  active_.insert(name);
  return std::unique_ptr<SnapshotSink>(
      new SnapshotSink(*this, applied_slot, std::move(fd), options_.write_buffer_bytes));
}

Status SnapshotStore::VerifyFile(const SnapshotMeta& meta) const {
  const std::string path = PathOf(DataName(meta.applied_slot));
  util::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return Status::IoError(ErrnoMessage("cannot open snapshot", path));
  return VerifyOpenFile(fd.get(), meta, path);
}

Result<std::unique_ptr<SnapshotSource>> SnapshotStore::OpenReader(const SnapshotMeta& meta) {
  const std::string path = PathOf(DataName(meta.applied_slot));
  util::UniqueFd fd;
  {
    // Opened under the lock so that pruning cannot remove it in between; once
    // open, the file stays readable even if it is pruned later.
    std::lock_guard<std::mutex> lock(mu_);
    if (std::find(complete_.begin(), complete_.end(), meta) == complete_.end()) {
      return Status::NotFound("no complete snapshot " + DescribeMeta(meta) + " in " + dir_ +
                              " (never installed, or pruned)");
    }
    fd = util::UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  }
  if (!fd.valid()) return Status::IoError(ErrnoMessage("cannot open snapshot", path));
  if (Status verified = VerifyOpenFile(fd.get(), meta, path); !verified.ok()) return verified;
  return std::unique_ptr<SnapshotSource>(new SnapshotSource(meta, std::move(fd), path));
}

Result<std::unique_ptr<SnapshotReceiver>> SnapshotStore::BeginReceive(const SnapshotMeta& meta) {
  std::lock_guard<std::mutex> lock(mu_);
  if (receiving_) return Status::Unavailable("another snapshot receive is in progress");
  if (!complete_.empty() && meta.applied_slot <= complete_.back().applied_slot) {
    return Status::InvalidArgument("refusing snapshot " + DescribeMeta(meta) +
                                   ": not newer than the latest " + DescribeMeta(complete_.back()));
  }
  if (meta.size_bytes < kDataMagic.size()) {
    return Status::InvalidArgument("refusing snapshot " + DescribeMeta(meta) +
                                   ": too small to be one");
  }
  const std::string part_name = PartName(meta.applied_slot, meta.crc32c);
  const std::string progress_name = ProgressName(meta.applied_slot, meta.crc32c);

  // Partial receives of other snapshots are dead: remove them.
  std::vector<std::string> names;
  if (Status listed = ListNames(dir_, names); !listed.ok()) return listed;
  for (const std::string& name : names) {
    std::optional<ParsedName> parsed = ParseName(name);
    if (!parsed || (parsed->kind != FileKind::kPart && parsed->kind != FileKind::kProgress &&
                    parsed->kind != FileKind::kTempProgress)) {
      continue;
    }
    if (name == part_name || name == progress_name) continue;
    if (Status removed = util::RemoveFile(PathOf(name)); !removed.ok()) return removed;
  }

  // Resume from the durable length recorded for this very snapshot, if any.
  uint64_t durable = 0;
  Result<std::string> bytes = util::ReadSmallFile(PathOf(progress_name), kEncodedProgressSize);
  if (bytes.ok()) {
    std::optional<ReceiveProgress> progress = DecodeProgress(*bytes);
    if (progress && progress->meta == meta) {
      durable = progress->durable_bytes;
    } else if (Status removed = util::RemoveFile(PathOf(progress_name)); !removed.ok()) {
      return removed;
    }
  }
  const std::string part_path = PathOf(part_name);
  util::UniqueFd fd(::open(part_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!fd.valid()) return Status::IoError(ErrnoMessage("cannot open", part_path));
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) {
    return Status::IoError(ErrnoMessage("cannot stat", part_path));
  }
  if (static_cast<uint64_t>(st.st_size) < durable) durable = 0;  // damaged: start over
  // Bytes past the durable length were never fsynced: they may be garbage.
  if (::ftruncate(fd.get(), static_cast<off_t>(durable)) != 0) {
    return Status::IoError(ErrnoMessage("cannot truncate", part_path));
  }
  Result<uint32_t> crc = util::ChecksumFile(fd.get(), durable, part_path);
  if (!crc.ok()) return crc.status();
  if (::lseek(fd.get(), static_cast<off_t>(durable), SEEK_SET) < 0) {
    return Status::IoError(ErrnoMessage("cannot seek in", part_path));
  }
  receiving_ = true;
  active_.insert(part_name);
  return std::unique_ptr<SnapshotReceiver>(
      new SnapshotReceiver(*this, meta, std::move(fd), durable, util::Crc32cStream::Resume(*crc)));
}

Status SnapshotStore::Install(int data_fd, const std::string& temp_name, const SnapshotMeta& meta,
                              bool* crashed) {
  std::lock_guard<std::mutex> lock(mu_);
  *crashed = false;
  auto reached = [&](InstallStep step) {
    if (options_.crash_before && options_.crash_before(step)) {
      *crashed = true;
      return Status::IoError(std::string("simulated crash before install step: ") + StepName(step));
    }
    return Status::Ok();
  };
  if (!complete_.empty() && meta.applied_slot <= complete_.back().applied_slot) {
    return Status::InvalidArgument("snapshot " + DescribeMeta(meta) +
                                   " is not newer than the latest " +
                                   DescribeMeta(complete_.back()) + "; not installed");
  }
  const std::string data_path = PathOf(DataName(meta.applied_slot));
  const std::string meta_path = PathOf(MetaName(meta.applied_slot));
  const std::string meta_temp = meta_path + ".tmp";
  const std::string temp_path = PathOf(temp_name);

  if (Status s = reached(InstallStep::kSyncData); !s.ok()) return s;
  if (Status s = util::SyncFd(data_fd, temp_path); !s.ok()) return s;

  if (Status s = reached(InstallStep::kWriteMetaTemp); !s.ok()) return s;
  {
    util::UniqueFd fd(::open(meta_temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd.valid()) return Status::IoError(ErrnoMessage("cannot create", meta_temp));
    Status written = util::WriteAll(fd.get(), EncodeMeta(meta), meta_temp);
    if (written.ok()) written = util::SyncFd(fd.get(), meta_temp);
    if (!written.ok()) {
      (void)util::RemoveFile(meta_temp);
      return written;
    }
  }

  if (Status s = reached(InstallStep::kRenameMeta); !s.ok()) return s;
  if (::rename(meta_temp.c_str(), meta_path.c_str()) != 0) {
    Status failed = Status::IoError(ErrnoMessage("cannot rename " + meta_temp + " to", meta_path));
    (void)util::RemoveFile(meta_temp);
    return failed;
  }

  if (Status s = reached(InstallStep::kRenameData); !s.ok()) return s;
  if (::rename(temp_path.c_str(), data_path.c_str()) != 0) {
    Status failed = Status::IoError(ErrnoMessage("cannot rename " + temp_path + " to", data_path));
    (void)util::RemoveFile(meta_path);  // a meta without data is not a snapshot
    return failed;
  }

  if (Status s = reached(InstallStep::kSyncDirectory); !s.ok()) return s;
  if (Status synced = util::SyncDirectory(dir_); !synced.ok()) {
    // Whether the renames are durable is unknown: do not report success, and
    // take the snapshot back out (meta first) so that this process does not
    // see a snapshot it was told failed.
    (void)util::RemoveFile(meta_path);
    (void)util::RemoveFile(data_path);
    return synced;
  }
  complete_.push_back(meta);

  if (Status s = reached(InstallStep::kPrune); !s.ok()) return s;
  // The snapshot is durable; a failure to prune only leaves extra files that
  // the next install or Open removes, so it does not fail the install.
  (void)PruneLocked();
  return Status::Ok();
}

Status SnapshotStore::PruneLocked() {
  bool removed = false;
  while (complete_.size() > options_.keep) {
    const uint64_t slot = complete_.front().applied_slot;
    // Meta first: data without meta is recognisably incomplete.
    if (Status s = util::RemoveFile(PathOf(MetaName(slot))); !s.ok()) return s;
    complete_.erase(complete_.begin());
    removed = true;
    if (Status s = util::RemoveFile(PathOf(DataName(slot))); !s.ok()) return s;
  }
  if (!complete_.empty()) {
    const uint64_t latest = complete_.back().applied_slot;
    std::vector<std::string> names;
    if (Status listed = ListNames(dir_, names); !listed.ok()) return listed;
    for (const std::string& name : names) {
      std::optional<ParsedName> parsed = ParseName(name);
      if (!parsed || parsed->slot > latest) continue;
      if (parsed->kind != FileKind::kPart && parsed->kind != FileKind::kProgress) continue;
      if (active_.count(PartName(parsed->slot, parsed->crc)) != 0) continue;  // live receiver
      if (Status s = util::RemoveFile(PathOf(name)); !s.ok()) return s;
      removed = true;
    }
  }
  return removed ? util::SyncDirectory(dir_) : Status::Ok();
}

void SnapshotStore::ReleaseWrite(const std::string& temp_name) {
  std::lock_guard<std::mutex> lock(mu_);
  active_.erase(temp_name);
}

void SnapshotStore::ReleaseReceive(const std::string& part_name) {
  std::lock_guard<std::mutex> lock(mu_);
  active_.erase(part_name);
  receiving_ = false;
}

}  // namespace synod::snapshot
