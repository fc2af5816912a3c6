#include "log/leveldb_log_storage.h"

#include <leveldb/env.h>
#include <leveldb/write_batch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <set>
#include <string_view>

#include "util/file_io.h"

namespace synod::log {

namespace {

constexpr char kMetaKey[] = "meta";
constexpr char kPromisedKey[] = "promised";
constexpr char kAppliedKey[] = "applied";
constexpr char kCompactedKey[] = "compacted";
constexpr char kEntryPrefix = 'e';
// A chosen mark: the slot's stored entry is chosen. Written instead of the
// whole entry again with its flag set, which doubled the log's bytes for
// large commands. Sorts after "compacted", like entries.
constexpr char kChosenMarkPrefix = 'k';
// Deleted, last, in every write: each record of the write-ahead log then
// ends in these eight 0xff bytes (kRecordEndMarkerBytes), so a record damaged
// on the medium is not taken for one torn by a crash (TearAwareLogEnv counts
// a record as torn only if it runs past the last non-zero byte) unless the
// damage zeroes its last bytes, however its real payload ends. The key never
// exists: readers, older builds included, never see it.
constexpr char kRecordEndKey[] = "~end\xff\xff\xff\xff\xff\xff\xff\xff";
static_assert(sizeof(kRecordEndKey) - 1 == 4 + kRecordEndMarkerBytes);

// Applies `batch`, with the record-end deletion appended, as one write.
leveldb::Status WriteEndingWithMarker(leveldb::DB& db, bool sync, leveldb::WriteBatch& batch) {
  batch.Delete(kRecordEndKey);
  leveldb::WriteOptions write;
  write.sync = sync;
  return db.Write(write, &batch);
}

std::string EntryKey(paxos::Slot slot) { return std::string(1, kEntryPrefix) + EncodeSlot(slot); }
std::string ChosenMarkKey(paxos::Slot slot) {
  return std::string(1, kChosenMarkPrefix) + EncodeSlot(slot);
}
// Adds a chosen mark (an empty record) for each slot of `marks` to `batch`.
void PutChosenMarks(const std::vector<paxos::SlotEntry>& marks, leveldb::WriteBatch& batch) {
  for (const paxos::SlotEntry& se : marks) batch.Put(ChosenMarkKey(se.slot), "");
}

// True for LevelDB's write-ahead log files: digits followed by ".log".
bool IsWriteAheadLog(const std::string& name) {
  constexpr std::string_view kSuffix = ".log";
  if (name.size() <= kSuffix.size() || name.compare(name.size() - 4, 4, kSuffix) != 0) {
    return false;
  }
  return std::all_of(name.begin(), name.end() - 4, [](char c) { return c >= '0' && c <= '9'; });
}

// The env of every LevelDbLogStorage on the real file system that
// preallocates its log files. Its spares are as large as a log grows before
// LevelDB switches to a new one (write_buffer_size, which the storage leaves
// at LevelDB's default) plus slack for the batch that crosses it. Never
// destroyed (as Env::Default()), so no DB or exit path can outlive it.
PreallocatedLogEnv& ProcessLogEnv() {
  constexpr uint64_t kMiB = 1 << 20;
  static PreallocatedLogEnv* const env = new PreallocatedLogEnv(
      (leveldb::Options().write_buffer_size + kMiB - 1) / kMiB * kMiB + kMiB);
  return *env;
}

// The env of every LevelDbLogStorage on the real file system that does not
// preallocate: its logs are still read with the tear rule, as the directory
// may hold a preallocated log from an earlier run. Never destroyed.
TearAwareLogEnv& ProcessTearAwareEnv() {
  static TearAwareLogEnv* const env = new TearAwareLogEnv();
  return *env;
}

// Makes the env forget a directory when Open fails after it was told about it
// (the directory may be removed next; nothing may be written into it then).
struct ForgetDirectoryOnError {
  PreallocatedLogEnv* env;
  std::string dir;
  bool armed = true;
  ~ForgetDirectoryOnError() {
    if (armed && env != nullptr) env->ForgetDirectory(dir);
  }
};

// Moves `db` (open, so `dir` is locked) to a preallocated write-ahead log at
// once rather than after its first 4 MiB of plain appends: waits for the
// directory's spare, then has LevelDB flush its memtable, which starts a new
// log. The range names no key ("\x01" sorts before every key: each starts
// with a letter or '~'), so nothing else is compacted. Without a spare in
// time the DB keeps its plain log.
void SwitchToPreallocatedLog(PreallocatedLogEnv& env, leveldb::DB& db, const std::string& dir) {
  env.PrepareDirectory(dir);
  if (!env.WaitForSpare(dir, std::chrono::seconds(5))) return;
  const leveldb::Slice no_key("\x01", 1);
  db.CompactRange(&no_key, &no_key);
}

// True if the database holds no record at all.
bool IsEmpty(leveldb::DB& db) {
  std::unique_ptr<leveldb::Iterator> it(db.NewIterator(leveldb::ReadOptions()));
  it->SeekToFirst();
  return !it->Valid() && it->status().ok();
}

// The env a storage with `options` runs on: the preallocating one if given,
// else the tear-aware one on the real file system, else the caller's.
leveldb::Env* ChooseEnv(const LevelDbOptions& options, PreallocatedLogEnv* preallocated) {
  if (preallocated != nullptr) return preallocated;
  if (options.env == nullptr) return &ProcessTearAwareEnv();
  return options.env;
}

// True if `children` of `dir` are only what LevelDB leaves when its very
// first DB::Open was cut short (a crash while creating the database): no
// write-ahead log, no table, no file of Synod's, and CURRENT absent or naming
// the first manifest. A database that ever opened has a write-ahead log and a
// later manifest (each open writes a new one), so such a directory never
// accepted a write and has promised nothing: opening it as new is safe
// (LevelDB takes its lock first, so a creation still running elsewhere
// makes the open fail instead).
bool IsUnfinishedCreation(leveldb::Env& env, const std::string& dir,
                          const std::vector<std::string>& children) {
  static const std::set<std::string> kCreationLeftovers = {
      "LOCK",         "LOG",         "LOG.old",        "CURRENT", "MANIFEST-000001",
      "000001.dbtmp", kSpareLogName, kSpareLogTempName};
  for (const std::string& child : children) {
    if (!kCreationLeftovers.contains(child)) return false;
  }
  if (std::find(children.begin(), children.end(), "CURRENT") == children.end()) return true;
  std::string current;
  if (!leveldb::ReadFileToString(&env, dir + "/CURRENT", &current).ok()) return false;
  return current == "MANIFEST-000001\n";
}

// What the data directory holds before the log is opened.
struct DirectoryState {
  bool exists = false;
  bool fresh = false;  // absent, empty or an unfinished creation: a new replica
};

// Lists `dir` and refuses one that is not empty but holds no whole LevelDB
// log (CURRENT and a write-ahead *.log file): its promises would be forgotten.
// The leftovers of a first creation cut short are not refused: fresh.
Result<DirectoryState> InspectDataDirectory(leveldb::Env& env, const std::string& dir) {
  std::vector<std::string> children;
  DirectoryState state;
  leveldb::Status listed = env.GetChildren(dir, &children);
  // Only "no such directory" means a new replica; any other failure to list
  // (EMFILE, EIO, EACCES, ...) could hide a log whose promises must be kept.
  if (!listed.ok() && !listed.IsNotFound()) {
    return Status::IoError("cannot list data directory " + dir + ": " + listed.ToString() +
                           "; refusing to start rather than forget promises");
  }
  state.exists = listed.ok();
  children.erase(std::remove_if(children.begin(), children.end(),
                                [](const std::string& c) { return c == "." || c == ".."; }),
                 children.end());
  state.fresh = !state.exists || children.empty() || IsUnfinishedCreation(env, dir, children);
  if (state.fresh) return state;
  if (std::find(children.begin(), children.end(), "CURRENT") == children.end()) {
    return Status::Corruption("data directory " + dir +
                              " is not empty but holds no Synod log (missing " + dir +
                              "/CURRENT); refusing to start rather than forget promises");
  }
  // LevelDB always keeps a write-ahead log file (NNNNNN.log) next to CURRENT;
  // without it, the writes since the last compaction would be silently lost.
  if (std::none_of(children.begin(), children.end(), IsWriteAheadLog)) {
    return Status::Corruption("data directory " + dir +
                              " holds a log without its write-ahead file (" + dir +
                              "/*.log is missing); refusing to start rather than forget promises");
  }
  return state;
}

// Creates the data directory `dir` (and missing parents). On the real file
// system the parent of each directory created is fsynced, so the new
// directories survive a crash.
Status CreateDataDirectory(leveldb::Env& env, const std::string& dir, bool real_fs) {
  if (!real_fs) {
    leveldb::Status created = env.CreateDir(dir);
    if (!created.ok()) {
      return Status::IoError("cannot create data directory " + dir + ": " + created.ToString());
    }
    return Status::Ok();
  }
  Status created = util::CreateDirectoryDurably(dir);
  if (!created.ok()) return created.WithContext("cannot create data directory " + dir);
  return Status::Ok();
}

// Opens the LevelDB database in `dir` on `env` with paranoid checks,
// creating it only if `create` (a fresh directory).
Result<std::unique_ptr<leveldb::DB>> OpenDatabase(leveldb::Env& env, const std::string& dir,
                                                  bool create) {
  leveldb::Options db_options;
  db_options.create_if_missing = create;
  db_options.paranoid_checks = true;
  db_options.env = &env;
  leveldb::DB* raw = nullptr;
  leveldb::Status status = leveldb::DB::Open(db_options, dir, &raw);
  if (!status.ok()) {
    std::string message = "cannot open the log in " + dir + ": " + status.ToString();
    return status.IsCorruption() ? Status::Corruption(message) : Status::IoError(message);
  }
  return std::unique_ptr<leveldb::DB>(raw);
}

// Writes the identity record of a new log, synced; on the real file system
// also fsyncs `dir`, so the files LevelDB created in it survive a crash.
Status InitialiseIdentity(leveldb::DB& db, const LogMetadata& metadata, const std::string& dir,
                          bool real_fs) {
  leveldb::WriteBatch batch;
  batch.Put(kMetaKey, EncodeMetadata(metadata));
  leveldb::Status status = WriteEndingWithMarker(db, /*sync=*/true, batch);
  if (!status.ok()) return Status::IoError("cannot initialise " + dir + ": " + status.ToString());
  if (real_fs && !util::SyncDirectory(dir).ok()) return Status::IoError("cannot fsync " + dir);
  return Status::Ok();
}

// Refuses a log recorded in a newer format, or for another replica or cluster.
Status CheckIdentity(const LogMetadata& metadata, const LevelDbOptions& options) {
  const std::string& dir = options.dir;
  if (metadata.format_version > kFormatVersion) {
    return Status::InvalidArgument("log in " + dir + " has format " +
                                   std::to_string(metadata.format_version) +
                                   ", newer than this build's " + std::to_string(kFormatVersion));
  }
  if (metadata.replica_id != options.replica_id) {
    return Status::InvalidArgument("log in " + dir + " belongs to replica " +
                                   std::to_string(metadata.replica_id) + ", not " +
                                   std::to_string(options.replica_id));
  }
  if (!options.expected_cluster_id.empty() && !metadata.cluster_id.empty() &&
      metadata.cluster_id != options.expected_cluster_id) {
    return Status::InvalidArgument("log in " + dir + " belongs to cluster " + metadata.cluster_id +
                                   ", not " + options.expected_cluster_id);
  }
  return Status::Ok();
}

// The log's identity record, checked against `options`; a log without one is
// initialised (and *fresh set) if it holds nothing at all, else refused.
Result<LogMetadata> LoadIdentity(leveldb::DB& db, const LevelDbOptions& options, bool real_fs,
                                 bool* fresh) {
  const std::string& dir = options.dir;
  std::string meta_bytes;
  leveldb::ReadOptions read;
  read.verify_checksums = true;
  leveldb::Status status = db.Get(read, kMetaKey, &meta_bytes);
  if (status.IsNotFound()) {
    // A log without an identity record is refused, unless it holds nothing at
    // all: then a first start was cut short before it recorded anything (it
    // has promised nothing), and initialising it again is safe.
    if (!*fresh && !IsEmpty(db)) {
      return Status::Corruption("log in " + dir + " has no identity record (missing metadata)");
    }
    *fresh = true;
    LogMetadata metadata;
    metadata.replica_id = options.replica_id;
    metadata.cluster_id = options.expected_cluster_id;
    Status initialised = InitialiseIdentity(db, metadata, dir, real_fs);
    if (!initialised.ok()) return initialised;
    return metadata;
  }
  if (!status.ok()) {
    return Status::IoError("cannot read the identity record in " + dir + ": " + status.ToString());
  }
  std::optional<LogMetadata> decoded = DecodeMetadata(meta_bytes);
  if (!decoded) return Status::Corruption("corrupt identity record in " + dir);
  Status checked = CheckIdentity(*decoded, options);
  if (!checked.ok()) return checked;
  return *decoded;
}

}  // namespace

void ExitOnFatalStorageError(const std::string& message) {
  std::fprintf(stderr, "synod: fatal storage error: %s\n", message.c_str());
  std::fflush(stderr);
  std::_Exit(74);
}

Result<std::unique_ptr<LevelDbLogStorage>> LevelDbLogStorage::Open(LevelDbOptions options) {
  const std::string dir = options.dir;
  if (dir.empty()) return Status::InvalidArgument("no data directory given");
  const bool real_fs = options.env == nullptr;
  PreallocatedLogEnv* preallocated =
      real_fs && options.preallocate_log_files ? &ProcessLogEnv() : nullptr;
  leveldb::Env& env = *ChooseEnv(options, preallocated);
  // Declared before the DB, so it runs after the DB is closed.
  ForgetDirectoryOnError forget{preallocated, dir};

  Result<DirectoryState> state = InspectDataDirectory(env, dir);
  if (!state.ok()) return state.status();
  if (!state->exists) {
    Status created = CreateDataDirectory(env, dir, real_fs);
    if (!created.ok()) return created;
  }
  bool fresh = state->fresh;
  Result<std::unique_ptr<leveldb::DB>> db = OpenDatabase(env, dir, fresh);
  if (!db.ok()) return db.status();
  Result<LogMetadata> metadata = LoadIdentity(**db, options, real_fs, &fresh);
  if (!metadata.ok()) return metadata.status();
  if (preallocated != nullptr) SwitchToPreallocatedLog(*preallocated, **db, dir);

  forget.armed = false;  // from here the storage forgets the directory when it closes
  std::unique_ptr<LevelDbLogStorage> storage(new LevelDbLogStorage(
      std::move(options), std::move(*db), fresh, std::move(*metadata), preallocated));
  RecoveredLog check;
  std::string error = storage->LoadChecked(check);
  if (!error.empty()) return Status::Corruption(error);
  storage->first_load_ = std::move(check);  // the first Load() needs no second read
  return storage;
}

LevelDbLogStorage::LevelDbLogStorage(LevelDbOptions options, std::unique_ptr<leveldb::DB> db,
                                     bool fresh, LogMetadata metadata,
                                     PreallocatedLogEnv* preallocated)
    : options_(std::move(options)),
      preallocated_(preallocated),
      db_(std::move(db)),
      fresh_(fresh),
      metadata_(metadata) {
  std::string value;
  if (db_->Get(leveldb::ReadOptions(), kCompactedKey, &value).ok()) {
    compacted_ = DecodeSlot(value).value_or(0);  // Load() reports corruption
  }
}

LevelDbLogStorage::~LevelDbLogStorage() {
  db_.reset();
  if (preallocated_ != nullptr) preallocated_->ForgetDirectory(options_.dir);
}

void LevelDbLogStorage::Write(leveldb::WriteBatch& batch, const char* what, bool sync) {
  first_load_.reset();  // no longer what the log holds
  leveldb::Status status = WriteEndingWithMarker(*db_, sync, batch);
  if (!status.ok()) {
    options_.fatal(std::string(what) + " in " + options_.dir + " failed: " + status.ToString());
  }
}

void LevelDbLogStorage::Persist(const std::optional<paxos::Ballot>& promised,
                                const std::vector<paxos::SlotEntry>& entries) {
  PersistWithChosenMarks(promised, entries, {});
}

void LevelDbLogStorage::WriteUnsynced(const std::vector<paxos::SlotEntry>& entries) {
  leveldb::WriteBatch batch;
  PutChosenMarks(entries, batch);
  Write(batch, "recording chosen marks", /*sync=*/false);
}

void LevelDbLogStorage::PersistWithChosenMarks(const std::optional<paxos::Ballot>& promised,
                                               const std::vector<paxos::SlotEntry>& entries,
                                               const std::vector<paxos::SlotEntry>& chosen_marks) {
  leveldb::WriteBatch batch;
  if (promised) batch.Put(kPromisedKey, EncodeBallot(*promised));
  for (const paxos::SlotEntry& se : entries) batch.Put(EntryKey(se.slot), EncodeEntry(se.entry));
  PutChosenMarks(chosen_marks, batch);
  Write(batch, "persisting acceptor state");
}

void LevelDbLogStorage::Compact(paxos::Slot through) {
  if (through <= compacted_) return;
  leveldb::WriteBatch batch;
  std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(leveldb::ReadOptions()));
  for (auto key : {EntryKey, ChosenMarkKey}) {
    const std::string end = key(through);
    for (it->Seek(key(compacted_ + 1)); it->Valid() && it->key().compare(end) <= 0; it->Next()) {
      batch.Delete(it->key());
    }
  }
  if (!it->status().ok()) {
    options_.fatal("reading the log in " + options_.dir +
                   " to compact it failed: " + it->status().ToString());
  }
  batch.Put(kCompactedKey, EncodeSlot(through));
  Write(batch, "compacting the log", /*sync=*/false);
  compacted_ = through;
}

void LevelDbLogStorage::SetClusterId(const std::string& cluster_id) {
  LogMetadata updated = metadata_;
  updated.cluster_id = cluster_id;
  leveldb::WriteBatch batch;
  batch.Put(kMetaKey, EncodeMetadata(updated));
  Write(batch, "recording the cluster id");
  metadata_ = std::move(updated);  // only once durable
}

void LevelDbLogStorage::SetApplied(paxos::Slot applied) {
  leveldb::WriteBatch batch;
  batch.Put(kAppliedKey, EncodeSlot(applied));
  Write(batch, "recording the applied index");
}

std::string LevelDbLogStorage::LoadChecked(RecoveredLog& out) const {
  out = RecoveredLog{};
  out.metadata = metadata_;
  out.fresh = fresh_;
  leveldb::ReadOptions read;
  read.verify_checksums = true;
  std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(read));
  bool skipped_compacted_entries = false, skipped_compacted_marks = false;
  std::vector<paxos::Slot> chosen_marks;  // ascending (key order)
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    std::string_view key(it->key().data(), it->key().size());
    // "compacted" sorts before every entry and mark key, so the compaction
    // point is known here: jump over the deleted prefix instead of walking
    // its deletion markers (restart time must not grow with history).
    struct Range {
      char prefix;
      bool* skipped;
      std::string (*key_of)(paxos::Slot);
    };
    for (Range range : {Range{kEntryPrefix, &skipped_compacted_entries, EntryKey},
                        Range{kChosenMarkPrefix, &skipped_compacted_marks, ChosenMarkKey}}) {
      if (*range.skipped || key.empty() || key[0] != range.prefix) continue;
      *range.skipped = true;
      if (out.paxos.compacted > 0) {
        it->Seek(range.key_of(out.paxos.compacted + 1));
        if (!it->Valid()) break;
        key = std::string_view(it->key().data(), it->key().size());
      }
    }
    if (!it->Valid()) break;
    std::string_view value(it->value().data(), it->value().size());
    if (key == kMetaKey) continue;
    if (key == kPromisedKey) {
      std::optional<paxos::Ballot> ballot = DecodeBallot(value);
      if (!ballot) return "corrupt promised ballot in " + options_.dir;
      out.paxos.promised = *ballot;
    } else if (key == kCompactedKey) {
      std::optional<paxos::Slot> compacted = DecodeSlot(value);
      if (!compacted) return "corrupt compaction point in " + options_.dir;
      out.paxos.compacted = *compacted;
    } else if (key == kAppliedKey) {
      std::optional<paxos::Slot> applied = DecodeSlot(value);
      if (!applied) return "corrupt applied index in " + options_.dir;
      out.applied = *applied;
    } else if (!key.empty() && key[0] == kEntryPrefix) {
      std::optional<paxos::Slot> slot = DecodeSlot(key.substr(1));
      std::optional<paxos::Entry> entry = DecodeEntry(value);
      if (!slot || *slot == 0 || !entry) return "corrupt log entry in " + options_.dir;
      out.paxos.entries.push_back(paxos::SlotEntry{*slot, std::move(*entry)});
    } else if (!key.empty() && key[0] == kChosenMarkPrefix) {
      std::optional<paxos::Slot> slot = DecodeSlot(key.substr(1));
      if (!slot || *slot == 0 || !value.empty()) return "corrupt chosen mark in " + options_.dir;
      chosen_marks.push_back(*slot);
    } else {
      return "unknown record in the log in " + options_.dir;
    }
  }
  if (!it->status().ok())
    return "cannot read the log in " + options_.dir + ": " + it->status().ToString();
  // A mark applies to the entry at its slot (both ascending). A mark without
  // an entry is ignored: it says nothing about a value this log holds.
  auto mark = chosen_marks.begin();
  for (paxos::SlotEntry& se : out.paxos.entries) {
    while (mark != chosen_marks.end() && *mark < se.slot) ++mark;
    if (mark != chosen_marks.end() && *mark == se.slot) se.entry.chosen = true;
  }
  for (const paxos::SlotEntry& se : out.paxos.entries) {
    if (out.paxos.promised < se.entry.ballot) {
      return "log in " + options_.dir + " holds an accept above its promise (corrupt)";
    }
  }
  return "";
}

RecoveredLog LevelDbLogStorage::Load() const {
  if (first_load_) {
    RecoveredLog out = std::move(*first_load_);
    first_load_.reset();
    return out;
  }
  RecoveredLog out;
  std::string error = LoadChecked(out);
  if (!error.empty()) options_.fatal(error);
  return out;
}

}  // namespace synod::log
