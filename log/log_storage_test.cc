// Tests of log/: encoding, LevelDB storage over a fault-injecting disk (crash
// recovery, torn unsynced tails, fatal write failures) and over the real file
// system (refusal of bad data directories).
#include <gtest/gtest.h>
#include <leveldb/db.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "log/entry_codec.h"
#include "log/fault_injection_env.h"
#include "log/leveldb_log_storage.h"
#include "log/memory_log_storage.h"
#include "paxos/configuration.h"
#include "tests/support/status_testing.h"

namespace synod::log {
namespace {

using paxos::Ballot;
using paxos::Entry;
using paxos::SlotEntry;

// Fatal handler for tests: throws instead of exiting (it still never returns).
struct FatalError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
void ThrowFatal(const std::string& message) { throw FatalError(message); }

SlotEntry MakeEntry(paxos::Slot slot, uint64_t round, std::vector<std::string> commands,
                    bool chosen = false) {
  return SlotEntry{slot,
                   Entry{Ballot{round, 1}, paxos::MakeCommandsValue(std::move(commands)), chosen}};
}

TEST(EntryCodec, RoundTripsAndRejectsGarbage) {
  Entry entry{Ballot{7, 3}, paxos::MakeCommandsValue({"a", std::string("\0b", 2)}), true};
  std::optional<Entry> decoded = DecodeEntry(EncodeEntry(entry));
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->ballot, entry.ballot);
  EXPECT_TRUE(decoded->chosen);
  EXPECT_TRUE(paxos::SameValue(decoded->value, entry.value));
  Entry noop{Ballot{}, paxos::NoopValue(), false};
  ASSERT_TRUE(DecodeEntry(EncodeEntry(noop)));
  std::string bytes = EncodeEntry(entry);
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    EXPECT_FALSE(DecodeEntry(bytes.substr(0, cut))) << "truncated at " << cut;
  }
  EXPECT_FALSE(DecodeEntry(bytes + "x"));
  EXPECT_FALSE(DecodeEntry("garbage"));
  EXPECT_EQ(DecodeSlot(EncodeSlot(123456789)), 123456789u);
  EXPECT_LT(EncodeSlot(255), EncodeSlot(256)) << "keys sort in slot order";
}

// A configuration change is stored as such (never as a batch of commands)
// and comes back byte for byte; a malformed one is corruption.
TEST(EntryCodec, RoundTripsAConfigurationChange) {
  paxos::Configuration next = paxos::Configuration({1, 2, 3}).WithLearner(4, "127.0.0.1:7004");
  Entry entry{Ballot{5, 2}, paxos::MakeConfigurationValue(9, next), true};
  std::optional<Entry> decoded = DecodeEntry(EncodeEntry(entry));
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->value->kind, paxos::ValueKind::kConfiguration);
  EXPECT_TRUE(paxos::SameValue(decoded->value, entry.value));
  std::optional<paxos::ConfigurationChange> change =
      paxos::DecodeConfigurationValue(*decoded->value);
  ASSERT_TRUE(change);
  EXPECT_EQ(change->base_slot, 9u);
  EXPECT_EQ(change->config, next);
  auto bogus = std::make_shared<paxos::Value>();
  bogus->kind = paxos::ValueKind::kConfiguration;
  bogus->commands = {"not a configuration"};
  EXPECT_FALSE(DecodeEntry(EncodeEntry(Entry{Ballot{5, 2}, bogus, false})));
}

class SimulatedDisk : public ::testing::Test {
 protected:
  LevelDbOptions Options() {
    LevelDbOptions options;
    options.dir = "/data/r1";
    options.replica_id = 1;
    options.env = &env_;
    options.fatal = ThrowFatal;
    return options;
  }
  std::unique_ptr<LevelDbLogStorage> OpenOrFail() {
    auto result = LevelDbLogStorage::Open(Options());
    EXPECT_EQ(StatusOf(result), Status::Ok());
    return std::move(result).value();
  }
  FaultInjectionEnv env_;
};

TEST_F(SimulatedDisk, FreshDirectoryThenRecoveryAfterCrash) {
  {
    auto storage = OpenOrFail();
    ASSERT_TRUE(storage);
    EXPECT_TRUE(storage->Load().fresh);
    storage->Persist(Ballot{2, 1}, {MakeEntry(1, 2, {"x"}, true), MakeEntry(2, 2, {"y"})});
    storage->Persist(std::nullopt, {MakeEntry(3, 2, {"z"})});
    storage->SetClusterId("c-123");
  }
  env_.Crash();  // everything was synced: nothing is lost
  auto storage = OpenOrFail();
  ASSERT_TRUE(storage);
  RecoveredLog log = storage->Load();
  EXPECT_FALSE(log.fresh);
  EXPECT_EQ(log.metadata.cluster_id, "c-123");
  EXPECT_EQ(log.paxos.promised, (Ballot{2, 1}));
  ASSERT_EQ(log.paxos.entries.size(), 3u);
  EXPECT_EQ(log.paxos.entries[0].slot, 1u);
  EXPECT_TRUE(log.paxos.entries[0].entry.chosen);
  EXPECT_EQ(log.paxos.entries[2].entry.value->commands[0], "z");
}

TEST_F(SimulatedDisk, AConfigurationChangeSurvivesARestart) {
  paxos::Configuration next = paxos::Configuration({1, 2, 3}).WithRemoved(3);
  {
    auto storage = OpenOrFail();
    ASSERT_TRUE(storage);
    storage->Persist(
        Ballot{2, 1},
        {SlotEntry{1, Entry{Ballot{2, 1}, paxos::MakeConfigurationValue(0, next), true}}});
  }
  env_.Crash();
  auto storage = OpenOrFail();
  ASSERT_TRUE(storage);
  RecoveredLog log = storage->Load();
  ASSERT_EQ(log.paxos.entries.size(), 1u);
  std::optional<paxos::ConfigurationChange> change =
      paxos::DecodeConfigurationValue(*log.paxos.entries[0].entry.value);
  ASSERT_TRUE(change);
  EXPECT_EQ(change->config, next);
}

TEST_F(SimulatedDisk, CompactionDeletesThePrefixAndSurvivesOnlyOnceSynced) {
  {
    auto storage = OpenOrFail();
    ASSERT_TRUE(storage);
    std::vector<SlotEntry> entries;
    for (paxos::Slot slot = 1; slot <= 100; ++slot) entries.push_back(MakeEntry(slot, 1, {"c"}));
    storage->Persist(Ballot{1, 1}, entries);
    storage->Compact(60);
    storage->Compact(50);  // lower: ignored
    RecoveredLog now = storage->Load();
    EXPECT_EQ(now.paxos.compacted, 60u);
    ASSERT_EQ(now.paxos.entries.size(), 40u);
    EXPECT_EQ(now.paxos.entries.front().slot, 61u);
    storage->Compact(70);  // unsynced and followed by no sync: a crash undoes it
  }
  env_.Crash();
  {
    auto storage = OpenOrFail();
    RecoveredLog log = storage->Load();
    EXPECT_EQ(log.paxos.compacted, 0u) << "compaction is unsynced until a later sync";
    EXPECT_EQ(log.paxos.entries.size(), 100u) << "a lost deletion leaves true entries";
    storage->Compact(60);
    storage->Persist(std::nullopt, {MakeEntry(101, 1, {"d"})});  // syncs the deletion too
  }
  env_.Crash();
  auto storage = OpenOrFail();
  RecoveredLog log = storage->Load();
  EXPECT_EQ(log.paxos.compacted, 60u);
  ASSERT_EQ(log.paxos.entries.size(), 41u);
  EXPECT_EQ(log.paxos.entries.front().slot, 61u);
  EXPECT_EQ(log.paxos.entries.back().slot, 101u);
}

// Chosen marks are small records of their own, not the entry written again:
// they survive a crash once a later write is synced, are lost (harmlessly)
// otherwise, mark only the entry at their slot, and go with compaction.
TEST_F(SimulatedDisk, ChosenMarksAreRecordsOfTheirOwn) {
  {
    auto storage = OpenOrFail();
    ASSERT_TRUE(storage);
    std::vector<SlotEntry> entries;
    for (paxos::Slot slot = 1; slot <= 10; ++slot) entries.push_back(MakeEntry(slot, 1, {"v"}));
    storage->Persist(Ballot{1, 1}, entries);
    // Marks for 2 and 3 alone (unsynced), then 4 and 11 (no entry) riding
    // in the synced write of slot 12's accept.
    storage->WriteUnsynced({MakeEntry(2, 1, {"v"}, true), MakeEntry(3, 1, {"v"}, true)});
    storage->PersistWithChosenMarks(std::nullopt, {MakeEntry(12, 1, {"w"})},
                                    {MakeEntry(4, 1, {"v"}, true), MakeEntry(11, 1, {"x"}, true)});
    storage->WriteUnsynced({MakeEntry(5, 1, {"v"}, true)});  // never synced
  }
  env_.Crash();
  {
    auto storage = OpenOrFail();
    RecoveredLog log = storage->Load();
    ASSERT_EQ(log.paxos.entries.size(), 11u) << "a mark without an entry adds none";
    std::vector<paxos::Slot> chosen;
    for (const SlotEntry& se : log.paxos.entries) {
      if (se.entry.chosen) chosen.push_back(se.slot);
      EXPECT_EQ(se.entry.value->commands[0], se.slot == 12 ? "w" : "v") << se.slot;
    }
    EXPECT_EQ(chosen, (std::vector<paxos::Slot>{2, 3, 4})) << "slot 5's mark was never synced";
    // A later accept at a marked slot (a new leader re-proposing the chosen
    // value in a higher ballot) keeps the slot chosen.
    storage->Persist(Ballot{2, 2}, {MakeEntry(3, 2, {"v"})});
    storage->Compact(2);  // deletes slot 1 and 2's entries and slot 2's mark
    storage->Persist(std::nullopt, {MakeEntry(13, 2, {"u"})});  // syncs the deletion
  }
  env_.Crash();
  auto storage = OpenOrFail();
  RecoveredLog log = storage->Load();
  EXPECT_EQ(log.paxos.compacted, 2u);
  ASSERT_EQ(log.paxos.entries.front().slot, 3u);
  EXPECT_TRUE(log.paxos.entries.front().entry.chosen);
  EXPECT_EQ(log.paxos.entries.front().entry.ballot, (Ballot{2, 1}));
  EXPECT_TRUE(log.paxos.entries[1].entry.chosen) << "slot 4";
  EXPECT_FALSE(log.paxos.entries[2].entry.chosen) << "slot 5";
}

TEST_F(SimulatedDisk, TornUnsyncedTailIsDroppedAndTheFailureIsFatal) {
  {
    auto storage = OpenOrFail();
    storage->Persist(Ballot{1, 1}, {MakeEntry(1, 1, {"kept"})});
    env_.SetFailSyncs(true);  // the next write reaches the file but never its sync
    EXPECT_THROW(storage->Persist(Ballot{5, 1}, {MakeEntry(2, 5, {"lost"})}), FatalError);
    env_.SetFailSyncs(false);
  }
  env_.Crash();  // the unsynced tail is torn off
  auto storage = OpenOrFail();
  ASSERT_TRUE(storage);
  RecoveredLog log = storage->Load();
  EXPECT_EQ(log.paxos.promised, (Ballot{1, 1}));
  ASSERT_EQ(log.paxos.entries.size(), 1u);
  EXPECT_EQ(log.paxos.entries[0].entry.value->commands[0], "kept");
}

// A power cut while a batch was in flight may leave any prefix of its unsynced
// bytes on disk. At every cut, recovery must succeed and yield either the
// state before the batch or the state after it, never a part of it.
TEST(TornTail, EveryCutRecoversTheWholeBatchOrNothingOfIt) {
  int before = 0, after = 0;
  for (size_t cut = 0; cut <= 256; ++cut) {
    SCOPED_TRACE("unsynced bytes kept: " + std::to_string(cut));
    FaultInjectionEnv env;
    LevelDbOptions options;
    options.dir = "/data/torn";
    options.replica_id = 1;
    options.env = &env;
    options.fatal = ThrowFatal;
    {
      auto opened = LevelDbLogStorage::Open(options);
      ASSERT_EQ(StatusOf(opened), Status::Ok());
      (*opened)->Persist(Ballot{1, 1}, {MakeEntry(1, 1, {"kept"})});
      env.SetFailSyncs(true);
      EXPECT_THROW((*opened)->Persist(Ballot{5, 1},
                                      {MakeEntry(1, 5, {"replaced"}), MakeEntry(2, 5, {"new"})}),
                   FatalError);
      env.SetFailSyncs(false);
    }
    env.Crash(cut);
    auto reopened = LevelDbLogStorage::Open(options);
    ASSERT_EQ(StatusOf(reopened), Status::Ok());
    RecoveredLog log = (*reopened)->Load();
    if (log.paxos.promised == Ballot{1, 1}) {
      ++before;
      ASSERT_EQ(log.paxos.entries.size(), 1u);
      EXPECT_EQ(log.paxos.entries[0].entry.value->commands[0], "kept");
    } else {
      ++after;
      EXPECT_EQ(log.paxos.promised, (Ballot{5, 1}));
      ASSERT_EQ(log.paxos.entries.size(), 2u);
      EXPECT_EQ(log.paxos.entries[0].entry.value->commands[0], "replaced");
      EXPECT_EQ(log.paxos.entries[1].entry.value->commands[0], "new");
    }
  }
  EXPECT_GT(before, 0) << "short cuts lose the unsynced batch";
  EXPECT_GT(after, 0) << "a cut past the whole batch keeps it (it did reach the disk)";
}

TEST_F(SimulatedDisk, AnInterruptedFirstStartIsFreshAgain) {
  {
    // The first start created LevelDB's files, then died before it recorded
    // its identity: nothing was promised, so it starts fresh.
    leveldb::Options options;
    options.env = &env_;
    options.create_if_missing = true;
    leveldb::DB* db = nullptr;
    ASSERT_TRUE(leveldb::DB::Open(options, "/data/r1", &db).ok());
    delete db;
  }
  auto storage = OpenOrFail();
  ASSERT_TRUE(storage);
  EXPECT_TRUE(storage->Load().fresh);
  EXPECT_EQ(storage->Load().metadata.replica_id, 1u);
}

TEST_F(SimulatedDisk, RefusesALogWithoutItsIdentityRecord) {
  {
    leveldb::Options options;
    options.env = &env_;
    options.create_if_missing = true;
    leveldb::DB* db = nullptr;
    ASSERT_TRUE(leveldb::DB::Open(options, "/data/r1", &db).ok());
    ASSERT_TRUE(db->Put(leveldb::WriteOptions(), "promised", EncodeBallot(Ballot{3, 1})).ok());
    delete db;
  }
  std::string error = StatusOf(LevelDbLogStorage::Open(Options())).message();
  EXPECT_NE(error.find("identity"), std::string::npos) << error;
  EXPECT_NE(error.find("/data/r1"), std::string::npos) << error;
}

TEST_F(SimulatedDisk, RefusesACorruptRecord) {
  { auto storage = OpenOrFail(); }
  {
    leveldb::Options options;
    options.env = &env_;
    leveldb::DB* db = nullptr;
    ASSERT_TRUE(leveldb::DB::Open(options, "/data/r1", &db).ok());
    ASSERT_TRUE(db->Put(leveldb::WriteOptions(), "promised", "short").ok());
    delete db;
  }
  std::string error = StatusOf(LevelDbLogStorage::Open(Options())).message();
  EXPECT_NE(error.find("corrupt promised ballot"), std::string::npos) << error;
  EXPECT_NE(error.find("/data/r1"), std::string::npos) << error;
}

TEST_F(SimulatedDisk, FailedWriteIsFatalAndNamesThePath) {
  auto storage = OpenOrFail();
  env_.SetFailWrites(true);
  try {
    storage->Persist(Ballot{1, 1}, {MakeEntry(1, 1, {"x"})});
    FAIL() << "a failed write must be fatal";
  } catch (const FatalError& error) {
    EXPECT_NE(std::string(error.what()).find("/data/r1"), std::string::npos) << error.what();
  }
  env_.SetFailWrites(false);
}

// The default handler really ends the process, with status 74 and a message
// naming the directory (a death test: it runs in a child process).
TEST_F(SimulatedDisk, TheDefaultFatalHandlerExitsNamingThePath) {
  ::testing::FLAGS_gtest_death_test_style = "threadsafe";
  LevelDbOptions options = Options();
  options.fatal = ExitOnFatalStorageError;
  auto opened = LevelDbLogStorage::Open(options);
  ASSERT_EQ(StatusOf(opened), Status::Ok());
  env_.SetFailSyncs(true);
  EXPECT_EXIT((*opened)->Persist(Ballot{1, 1}, {MakeEntry(1, 1, {"x"})}),
              ::testing::ExitedWithCode(74), "synod: fatal storage error: .* in /data/r1 failed");
  env_.SetFailSyncs(false);
}

TEST_F(SimulatedDisk, RefusesAnotherReplicasOrClustersLog) {
  {
    auto storage = OpenOrFail();
    storage->SetClusterId("cluster-a");
  }
  LevelDbOptions other_replica = Options();
  other_replica.replica_id = 2;
  EXPECT_NE(StatusOf(LevelDbLogStorage::Open(other_replica)).message().find("belongs to replica 1"),
            std::string::npos);
  LevelDbOptions other_cluster = Options();
  other_cluster.expected_cluster_id = "cluster-b";
  EXPECT_NE(StatusOf(LevelDbLogStorage::Open(other_cluster)).message().find("cluster-a"),
            std::string::npos);
  LevelDbOptions same_cluster = Options();
  same_cluster.expected_cluster_id = "cluster-a";
  EXPECT_EQ(StatusOf(LevelDbLogStorage::Open(same_cluster)), Status::Ok());
}

TEST_F(SimulatedDisk, RefusesANewerFormat) {
  { auto storage = OpenOrFail(); }
  {
    leveldb::Options options;
    options.env = &env_;
    leveldb::DB* db = nullptr;
    ASSERT_TRUE(leveldb::DB::Open(options, "/data/r1", &db).ok());
    LogMetadata future;
    future.format_version = kFormatVersion + 1;
    future.replica_id = 1;
    ASSERT_TRUE(db->Put(leveldb::WriteOptions(), "meta", EncodeMetadata(future)).ok());
    delete db;
  }
  std::string error = StatusOf(LevelDbLogStorage::Open(Options())).message();
  EXPECT_NE(error.find("newer"), std::string::npos) << error;
  EXPECT_NE(error.find("/data/r1"), std::string::npos) << error;
}

// Real file system: a temporary directory per test.
class RealDisk : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("synod-log-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  LevelDbOptions Options(const std::filesystem::path& dir) {
    LevelDbOptions options;
    options.dir = dir.string();
    options.replica_id = 1;
    options.fatal = ThrowFatal;
    return options;
  }
  std::filesystem::path dir_;
};

TEST_F(RealDisk, AbsentAndEmptyDirectoriesAreFresh) {
  auto absent = LevelDbLogStorage::Open(Options(dir_ / "a" / "b"));
  ASSERT_EQ(StatusOf(absent), Status::Ok());
  EXPECT_TRUE((*absent)->Load().fresh);
  std::filesystem::create_directories(dir_ / "empty");
  auto empty = LevelDbLogStorage::Open(Options(dir_ / "empty"));
  ASSERT_EQ(StatusOf(empty), Status::Ok());
  EXPECT_TRUE((*empty)->Load().fresh);
}

TEST_F(RealDisk, RefusesANonEmptyDirectoryWithoutALog) {
  std::filesystem::create_directories(dir_);
  std::ofstream(dir_ / "notes.txt") << "not a log";
  std::string error = StatusOf(LevelDbLogStorage::Open(Options(dir_))).message();
  EXPECT_NE(error.find("CURRENT"), std::string::npos) << error;
  EXPECT_NE(error.find(dir_.string()), std::string::npos) << error;
}

TEST_F(RealDisk, RefusesMissingOrCorruptFiles) {
  {
    auto opened = LevelDbLogStorage::Open(Options(dir_));
    ASSERT_EQ(StatusOf(opened), Status::Ok());
    (*opened)->Persist(Ballot{1, 1}, {MakeEntry(1, 1, {"x"})});
  }
  // Corrupt every file LevelDB needs except CURRENT: the manifest is garbage.
  for (const auto& file : std::filesystem::directory_iterator(dir_)) {
    if (file.path().filename().string().rfind("MANIFEST", 0) == 0) {
      std::ofstream(file.path(), std::ios::trunc) << "garbage garbage garbage";
    }
  }
  std::string error = StatusOf(LevelDbLogStorage::Open(Options(dir_))).message();
  EXPECT_NE(error, "");
  EXPECT_NE(error.find(dir_.string()), std::string::npos) << error;
  // A missing manifest is refused too.
  for (const auto& file : std::filesystem::directory_iterator(dir_)) {
    if (file.path().filename().string().rfind("MANIFEST", 0) == 0) {
      std::filesystem::remove(file.path());
    }
  }
  EXPECT_NE(StatusOf(LevelDbLogStorage::Open(Options(dir_))).message(), "");
}

// Writes one entry and closes the log, `reopens` extra times (each reopen
// moves the write-ahead log's contents into a table file).
void WriteAndClose(const LevelDbOptions& options, int reopens) {
  for (int i = 0; i <= reopens; ++i) {
    auto opened = LevelDbLogStorage::Open(options);
    ASSERT_EQ(StatusOf(opened), Status::Ok());
    if (i == 0) (*opened)->Persist(Ballot{1, 1}, {MakeEntry(1, 1, {"x"})});
  }
}

// Removes every file in `dir` whose name ends with `suffix`; returns how many.
int RemoveFiles(const std::filesystem::path& dir, const std::string& suffix) {
  int removed = 0;
  for (const auto& file : std::filesystem::directory_iterator(dir)) {
    std::string name = file.path().filename().string();
    if (name.size() >= suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      std::filesystem::remove(file.path());
      ++removed;
    }
  }
  return removed;
}

TEST_F(RealDisk, RefusesAMissingWriteAheadLog) {
  WriteAndClose(Options(dir_), 0);
  ASSERT_GT(RemoveFiles(dir_, ".log"), 0);
  std::string error = StatusOf(LevelDbLogStorage::Open(Options(dir_))).message();
  EXPECT_NE(error.find(".log is missing"), std::string::npos) << error;
  EXPECT_NE(error.find(dir_.string()), std::string::npos) << error;
}

TEST_F(RealDisk, RefusesMissingTableFiles) {
  WriteAndClose(Options(dir_), 1);
  ASSERT_GT(RemoveFiles(dir_, ".ldb"), 0);
  std::string error = StatusOf(LevelDbLogStorage::Open(Options(dir_))).message();
  EXPECT_NE(error, "");
  EXPECT_NE(error.find(dir_.string()), std::string::npos) << error;
}

TEST_F(RealDisk, RefusesAGarbledCurrentFile) {
  WriteAndClose(Options(dir_), 0);
  std::ofstream(dir_ / "CURRENT", std::ios::trunc) << "\x01\x02 not a manifest name";
  std::string error = StatusOf(LevelDbLogStorage::Open(Options(dir_))).message();
  EXPECT_NE(error, "");
  EXPECT_NE(error.find(dir_.string()), std::string::npos) << error;
}

TEST_F(RealDisk, SurvivesReopen) {
  {
    auto opened = LevelDbLogStorage::Open(Options(dir_));
    ASSERT_EQ(StatusOf(opened), Status::Ok());
    (*opened)->Persist(Ballot{3, 1}, {MakeEntry(9, 3, {"nine"})});
    (*opened)->SetApplied(4);
  }
  auto reopened = LevelDbLogStorage::Open(Options(dir_));
  ASSERT_EQ(StatusOf(reopened), Status::Ok());
  RecoveredLog log = (*reopened)->Load();
  EXPECT_EQ(log.paxos.promised, (Ballot{3, 1}));
  ASSERT_EQ(log.paxos.entries.size(), 1u);
  EXPECT_EQ(log.paxos.entries[0].slot, 9u);
  EXPECT_EQ(log.applied, 4u);
}

// Lists every directory with an error other than "not found" (as EMFILE or
// EIO would); everything else is the real file system.
class UnlistableEnv : public leveldb::EnvWrapper {
 public:
  UnlistableEnv() : leveldb::EnvWrapper(leveldb::Env::Default()) {}
  leveldb::Status GetChildren(const std::string& dir, std::vector<std::string>*) override {
    return leveldb::Status::IOError(dir, "Too many open files");
  }
};

// A directory that cannot be listed may hold a log: it is refused, never
// taken for a new replica (which would forget its promises).
TEST_F(RealDisk, ADirectoryThatCannotBeListedIsRefusedNotFresh) {
  {
    auto opened = LevelDbLogStorage::Open(Options(dir_));
    ASSERT_EQ(StatusOf(opened), Status::Ok());
    (*opened)->Persist(Ballot{3, 1}, {MakeEntry(9, 3, {"nine"})});
  }
  UnlistableEnv env;
  LevelDbOptions options = Options(dir_);
  options.env = &env;
  auto opened = LevelDbLogStorage::Open(options);
  EXPECT_FALSE(opened.ok());
  EXPECT_NE(opened.status().message().find("cannot list data directory"), std::string::npos)
      << opened.status().message();
  EXPECT_NE(opened.status().message().find("Too many open files"), std::string::npos)
      << opened.status().message();
}

// Fails LevelDB's creation of any file whose name ends in `suffix`, leaving
// on disk what a crash (kill -9) at that point of DB::Open leaves.
class FailCreatingEnv : public leveldb::EnvWrapper {
 public:
  explicit FailCreatingEnv(std::string suffix)
      : leveldb::EnvWrapper(leveldb::Env::Default()), suffix_(std::move(suffix)) {}
  leveldb::Status NewWritableFile(const std::string& name, leveldb::WritableFile** file) override {
    if (Targeted(name)) return leveldb::Status::IOError(name, "crash here");
    return target()->NewWritableFile(name, file);
  }
  leveldb::Status RenameFile(const std::string& from, const std::string& to) override {
    if (Targeted(to)) return leveldb::Status::IOError(to, "crash here");
    return target()->RenameFile(from, to);
  }

 private:
  bool Targeted(const std::string& name) const {
    return name.size() >= suffix_.size() &&
           name.compare(name.size() - suffix_.size(), suffix_.size(), suffix_) == 0;
  }
  std::string suffix_;
};

// A first Open of `dir` cut short where LevelDB creates a file ending in
// `suffix`.
void CrashFirstOpenBefore(const std::filesystem::path& dir, const std::string& suffix) {
  FailCreatingEnv env(suffix);
  LevelDbOptions options;
  options.dir = dir.string();
  options.replica_id = 1;
  options.env = &env;
  EXPECT_FALSE(LevelDbLogStorage::Open(options).ok());
}

// A replica killed during its very first start (inside LevelDB's creation of
// the database, before CURRENT or before the first write-ahead log) starts
// again as new: it never accepted a write, so it promised nothing. Refused
// before ("not empty but holds no Synod log" / "without its write-ahead file").
TEST_F(RealDisk, AFirstStartCutShortInsideLevelDbStartsAgainAsNew) {
  for (const std::string suffix : {"CURRENT", ".log"}) {
    SCOPED_TRACE("crash before creating *" + suffix);
    std::filesystem::remove_all(dir_);
    CrashFirstOpenBefore(dir_, suffix);
    ASSERT_TRUE(std::filesystem::exists(dir_ / "MANIFEST-000001"));
    {
      auto opened = LevelDbLogStorage::Open(Options(dir_));
      ASSERT_EQ(StatusOf(opened), Status::Ok());
      EXPECT_TRUE((*opened)->Load().fresh);
      (*opened)->Persist(Ballot{4, 1}, {MakeEntry(2, 4, {"two"})});
    }
    auto reopened = LevelDbLogStorage::Open(Options(dir_));
    ASSERT_EQ(StatusOf(reopened), Status::Ok());
    RecoveredLog recovered = (*reopened)->Load();
    EXPECT_FALSE(recovered.fresh);
    EXPECT_EQ(recovered.paxos.promised, (Ballot{4, 1}));
    EXPECT_EQ(recovered.paxos.entries.size(), 1u);
  }
}

// The same leftovers beside anything else (here a file of the runtime's) are
// not a creation cut short: refused as before.
TEST_F(RealDisk, CreationLeftoversBesideOtherFilesAreRefused) {
  CrashFirstOpenBefore(dir_, ".log");
  std::ofstream(dir_ / "members") << "1=127.0.0.1:1\n";
  std::string error = StatusOf(LevelDbLogStorage::Open(Options(dir_))).message();
  EXPECT_NE(error.find("without its write-ahead file"), std::string::npos) << error;
}

TEST(MemoryLogStorage, StoresAndFailsOnDemand) {
  LogMetadata metadata;
  metadata.replica_id = 1;
  MemoryLogStorage storage(metadata, ThrowFatal);
  storage.Persist(Ballot{1, 1}, {MakeEntry(1, 1, {"x"})});
  EXPECT_EQ(storage.Load().paxos.entries.size(), 1u);
  storage.FailNextWrite();
  EXPECT_THROW(storage.Persist(Ballot{2, 1}, {}), FatalError);
  EXPECT_EQ(storage.Load().paxos.promised, (Ballot{1, 1})) << "a failed write stores nothing";
}

}  // namespace
}  // namespace synod::log
