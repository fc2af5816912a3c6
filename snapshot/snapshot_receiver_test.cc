// SnapshotReceiver: resumable transfer into a store — crash halfway and
// resume, duplicates and gaps, corruption and wrong sizes, crash at every
// step of Finish, cleanup of stale partial receives, write failures.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "snapshot/snapshot_layout.h"
#include "snapshot/snapshot_test_support.h"

namespace synod::snapshot {
namespace {

class TransferTest : public SnapshotStoreTest {
 protected:
  void SetUp() override {
    SnapshotStoreTest::SetUp();
    leader_dir_ = root_ + "/leader";
    leader_ = OpenStoreAt(leader_dir_);
  }

  // Sends [from, to) of `source` to `receiver` in 64 KiB pieces.
  static void Send(const SnapshotSource& source, SnapshotReceiver& receiver, uint64_t from,
                   uint64_t to) {
    std::string piece;
    for (uint64_t offset = from; offset < to; offset += piece.size()) {
      ASSERT_EQ(StatusOf(source.ReadAt(offset, std::min<uint64_t>(64 << 10, to - offset), piece)),
                Status::Ok());
      ASSERT_FALSE(piece.empty());
      ASSERT_EQ(StatusOf(receiver.Append(offset, piece)), Status::Ok());
    }
  }

  std::string leader_dir_;
  std::unique_ptr<SnapshotStore> leader_;
};

TEST_F(TransferTest, ResumesAfterACrashHalfwayAndInstalls) {
  const Content content{11, 200, 1024, 256 << 10};
  auto meta = WriteSnapshot(*leader_, 500, content);
  ASSERT_TRUE(meta);
  auto source = ValueOrFail(leader_->OpenReader(*meta));
  ASSERT_TRUE(source);
  const uint64_t half = meta->size_bytes / 2;
  {
    auto follower = OpenStore(SnapshotStoreOptions{.receive_sync_bytes = 1 << 20});
    ASSERT_TRUE(WriteSnapshot(*follower, 100, Small(1)));  // an older local snapshot
    auto receiver = ValueOrFail(follower->BeginReceive(*meta));
    ASSERT_TRUE(receiver);
    EXPECT_EQ(receiver->received_bytes(), 0u);
    Send(*source, *receiver, 0, half);
    EXPECT_EQ(receiver->received_bytes(), half);
    EXPECT_GT(receiver->durable_bytes(), 0u);
  }  // crash: receiver and store vanish; bytes after the last sync are not durable
  // The unsynced tail may hold anything after a real crash.
  {
    std::ofstream part(Path(PartName(500, meta->crc32c)), std::ios::binary | std::ios::app);
    part << std::string(3000, '\x5a');
  }
  auto follower = OpenStore();
  EXPECT_EQ(follower->Latest()->applied_slot, 100u);  // the partial receive is not a snapshot
  auto receiver = ValueOrFail(follower->BeginReceive(*meta));
  ASSERT_TRUE(receiver);
  const uint64_t resume = receiver->received_bytes();
  EXPECT_GT(resume, 0u);
  EXPECT_LE(resume, half);
  EXPECT_EQ(resume % (1 << 20), 0u) << "resumes from a durable sync point";
  Send(*source, *receiver, resume, meta->size_bytes);
  auto installed = receiver->Finish();
  ASSERT_EQ(StatusOf(installed), Status::Ok());
  EXPECT_EQ(*installed, *meta);
  receiver.reset();
  EXPECT_EQ(follower->Latest(), meta);
  EXPECT_EQ(Files(),
            (std::vector<std::string>{DataName(100), MetaName(100), DataName(500), MetaName(500)}));
  follower.reset();
  follower = OpenStore();
  ASSERT_EQ(follower->Latest(), meta);
  ExpectContent(*follower, *meta, content);
}

TEST_F(TransferTest, ExplicitSyncMakesProgressDurable) {
  auto meta = WriteSnapshot(*leader_, 7, Content{3, 40, 100, 5000});
  auto source = ValueOrFail(leader_->OpenReader(*meta));
  {
    auto follower = OpenStore();
    auto receiver = ValueOrFail(follower->BeginReceive(*meta));
    Send(*source, *receiver, 0, 1000);
    EXPECT_EQ(receiver->durable_bytes(), 0u);  // below receive_sync_bytes
    ASSERT_EQ(StatusOf(receiver->Sync()), Status::Ok());
    EXPECT_EQ(receiver->durable_bytes(), 1000u);
    Send(*source, *receiver, 1000, 1500);
  }
  auto follower = OpenStore();
  auto receiver = ValueOrFail(follower->BeginReceive(*meta));
  ASSERT_TRUE(receiver);
  EXPECT_EQ(receiver->received_bytes(), 1000u);
  Send(*source, *receiver, 1000, meta->size_bytes);
  ASSERT_EQ(StatusOf(receiver->Finish()), Status::Ok());
}

TEST_F(TransferTest, DuplicatesAreIgnoredAndGapsRefused) {
  auto meta = WriteSnapshot(*leader_, 7, Content{3, 10, 100, 200});
  auto source = ValueOrFail(leader_->OpenReader(*meta));
  std::string all;
  ASSERT_EQ(StatusOf(source->ReadAt(0, meta->size_bytes + 10, all)), Status::Ok());
  ASSERT_EQ(all.size(), meta->size_bytes);
  auto follower = OpenStore();
  auto receiver = ValueOrFail(follower->BeginReceive(*meta));
  std::string_view bytes = all;
  ASSERT_EQ(StatusOf(receiver->Append(0, bytes.substr(0, 100))), Status::Ok());
  EXPECT_EQ(StatusOf(receiver->Append(0, bytes.substr(0, 100))), Status::Ok());  // exact duplicate
  EXPECT_EQ(StatusOf(receiver->Append(50, bytes.substr(50, 30))),
            Status::Ok());  // inside what we have
  EXPECT_EQ(receiver->received_bytes(), 100u);
  Status gap = receiver->Append(101, bytes.substr(101, 10));
  EXPECT_FALSE(gap.ok());
  EXPECT_NE(gap.message().find("gap"), std::string::npos) << gap.message();
  EXPECT_EQ(StatusOf(receiver->Append(60, bytes.substr(60, 100))),
            Status::Ok());  // overlaps, extends
  EXPECT_EQ(receiver->received_bytes(), 160u);
  EXPECT_FALSE(receiver->Append(160, all.substr(160) + "x").ok());  // past the end
  ASSERT_EQ(StatusOf(receiver->Append(160, bytes.substr(160))), Status::Ok());
  ASSERT_EQ(StatusOf(receiver->Finish()), Status::Ok());
  EXPECT_FALSE(receiver->Append(0, bytes.substr(0, 1)).ok());  // after Finish
  EXPECT_EQ(follower->Latest(), meta);
}

TEST_F(TransferTest, CorruptedByteInTransferFailsFinishAndDiscards) {
  auto meta = WriteSnapshot(*leader_, 7, Content{3, 40, 100, 5000});
  auto source = ValueOrFail(leader_->OpenReader(*meta));
  std::string all;
  ASSERT_EQ(StatusOf(source->ReadAt(0, meta->size_bytes, all)), Status::Ok());
  all[all.size() / 3] ^= 0x01;
  auto follower = OpenStore();
  auto receiver = ValueOrFail(follower->BeginReceive(*meta));
  ASSERT_EQ(StatusOf(receiver->Append(0, all)), Status::Ok());
  Status corrupt = StatusOf(receiver->Finish());
  EXPECT_TRUE(corrupt.IsCorruption()) << corrupt.ToString();
  EXPECT_NE(corrupt.message().find("CRC32C"), std::string::npos) << corrupt.message();
  EXPECT_FALSE(follower->Latest());
  EXPECT_TRUE(Files().empty());
  receiver.reset();
  // A fresh attempt works.
  receiver = ValueOrFail(follower->BeginReceive(*meta));
  ASSERT_EQ(receiver->received_bytes(), 0u);
  ASSERT_EQ(StatusOf(source->ReadAt(0, meta->size_bytes, all)), Status::Ok());
  ASSERT_EQ(StatusOf(receiver->Append(0, all)), Status::Ok());
  ASSERT_EQ(StatusOf(receiver->Finish()), Status::Ok());
}

TEST_F(TransferTest, WrongSizeFailsFinish) {
  auto meta = WriteSnapshot(*leader_, 7, Content{3, 40, 100, 5000});
  auto source = ValueOrFail(leader_->OpenReader(*meta));
  std::string all;
  ASSERT_EQ(StatusOf(source->ReadAt(0, meta->size_bytes, all)), Status::Ok());
  auto follower = OpenStore();
  SnapshotMeta longer = *meta;
  longer.size_bytes += 1;
  auto receiver = ValueOrFail(follower->BeginReceive(longer));
  ASSERT_EQ(StatusOf(receiver->Append(0, all)), Status::Ok());
  Status short_by_one = StatusOf(receiver->Finish());
  EXPECT_FALSE(short_by_one.ok());
  EXPECT_NE(short_by_one.message().find("received"), std::string::npos) << short_by_one.message();
  receiver.reset();
  SnapshotMeta shorter = *meta;
  shorter.size_bytes -= 1;
  receiver = ValueOrFail(follower->BeginReceive(shorter));
  EXPECT_FALSE(receiver->Append(0, all).ok());
  ASSERT_EQ(StatusOf(receiver->Append(0, std::string_view(all).substr(0, shorter.size_bytes))),
            Status::Ok());
  EXPECT_FALSE(receiver->Finish().ok());
  EXPECT_FALSE(follower->Latest());
  EXPECT_TRUE(Files().empty());
}

TEST_F(TransferTest, CrashAtEveryFinishStepLeavesOldOrNew) {
  auto meta = WriteSnapshot(*leader_, 70, Content{3, 40, 100, 5000});
  auto source = ValueOrFail(leader_->OpenReader(*meta));
  std::string all;
  ASSERT_EQ(StatusOf(source->ReadAt(0, meta->size_bytes, all)), Status::Ok());
  for (InstallStep crash_step : kAllSteps) {
    SCOPED_TRACE(static_cast<int>(crash_step));
    fs::remove_all(dir_);
    {
      auto follower = OpenStore();
      ASSERT_TRUE(WriteSnapshot(*follower, 10, Small(1)));
    }
    {
      SnapshotStoreOptions options;
      options.crash_before = [crash_step](InstallStep step) { return step == crash_step; };
      auto follower = OpenStore(std::move(options));
      auto receiver = ValueOrFail(follower->BeginReceive(*meta));
      ASSERT_TRUE(receiver);
      ASSERT_EQ(StatusOf(receiver->Append(0, all)), Status::Ok());
      ASSERT_EQ(StatusOf(receiver->Sync()), Status::Ok());
      Status crashed = StatusOf(receiver->Finish());
      EXPECT_FALSE(crashed.ok());
      EXPECT_NE(crashed.message().find("simulated crash"), std::string::npos) << crashed.message();
    }
    auto follower = OpenStore();
    const bool renamed =
        crash_step == InstallStep::kSyncDirectory || crash_step == InstallStep::kPrune;
    ASSERT_TRUE(follower->Latest());
    EXPECT_EQ(follower->Latest()->applied_slot, renamed ? 70u : 10u);
    if (!renamed) {  // the durable partial file is still there: finish it now
      auto receiver = ValueOrFail(follower->BeginReceive(*meta));
      ASSERT_TRUE(receiver);
      EXPECT_EQ(receiver->received_bytes(), meta->size_bytes);
      ASSERT_EQ(StatusOf(receiver->Finish()), Status::Ok());
    }
    ASSERT_EQ(follower->Latest(), meta);
    ExpectContent(*follower, *meta, Content{3, 40, 100, 5000});
    EXPECT_EQ(Files(),
              (std::vector<std::string>{DataName(10), MetaName(10), DataName(70), MetaName(70)}));
  }
}

TEST_F(TransferTest, StalePartialReceivesAreCleaned) {
  auto meta30 = WriteSnapshot(*leader_, 30, Content{1, 20, 100, 3000});
  auto meta60 = WriteSnapshot(*leader_, 60, Content{2, 20, 100, 3000});
  auto source30 = ValueOrFail(leader_->OpenReader(*meta30));
  auto source60 = ValueOrFail(leader_->OpenReader(*meta60));
  const std::string part30 = PartName(30, meta30->crc32c);
  const std::string part60 = PartName(60, meta60->crc32c);
  auto begin_partial = [&](SnapshotStore& store, const SnapshotMeta& meta,
                           const SnapshotSource& source) {
    auto receiver = ValueOrFail(store.BeginReceive(meta));
    ASSERT_TRUE(receiver);
    Send(source, *receiver, 0, 1000);
    ASSERT_EQ(StatusOf(receiver->Sync()), Status::Ok());
  };
  {
    // Open keeps a partial receive newer than the latest snapshot.
    auto store = OpenStore();
    begin_partial(*store, *meta30, *source30);
  }
  {
    auto store = OpenStore();
    EXPECT_EQ(Files(), (std::vector<std::string>{part30, ProgressName(30, meta30->crc32c)}));
    // A new receive of another snapshot removes the old partial one.
    begin_partial(*store, *meta60, *source60);
    EXPECT_EQ(Files(), (std::vector<std::string>{part60, ProgressName(60, meta60->crc32c)}));
    // A local snapshot at least as new makes the partial receive stale: pruned.
    ASSERT_TRUE(WriteSnapshot(*store, 60, Small(6)));
    EXPECT_EQ(Files(), (std::vector<std::string>{DataName(60), MetaName(60)}));
  }
  {
    // Open removes partial receives older than the latest snapshot.
    auto store = OpenStore();
    WriteRaw(Path(PartName(50, 1)), "old");
    WriteRaw(Path(ProgressName(50, 1)), "old");
    WriteRaw(Path(ProgressName(90, 1)), "progress without its part file");
  }
  auto store = OpenStore();
  EXPECT_EQ(Files(), (std::vector<std::string>{DataName(60), MetaName(60)}));
}

TEST_F(TransferTest, WriteFailureStopsTheReceiverAndItResumesLater) {
  const Content content{5, 64, 1000, 30000};
  auto meta = WriteSnapshot(*leader_, 9, content);
  auto source = ValueOrFail(leader_->OpenReader(*meta));
  std::string all;
  ASSERT_EQ(StatusOf(source->ReadAt(0, meta->size_bytes, all)), Status::Ok());
  ASSERT_GT(all.size(), 300u << 10);
  uint64_t durable = 0;
  {
    auto follower = OpenStore(SnapshotStoreOptions{.receive_sync_bytes = 64 << 10});
    auto receiver = ValueOrFail(follower->BeginReceive(*meta));
    struct rlimit old_limit;
    ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old_limit), 0);
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit limit = old_limit;
    limit.rlim_cur = 200 << 10;  // write(2) fails with EFBIG past 200 KiB
    ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &limit), 0);
    Status failed;
    for (uint64_t offset = 0; offset < all.size() && failed.ok(); offset += 32 << 10) {
      failed = receiver->Append(offset, std::string_view(all).substr(offset, 32 << 10));
    }
    ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &old_limit), 0);
    EXPECT_FALSE(failed.ok());
    EXPECT_NE(failed.message().find("cannot write"), std::string::npos) << failed.message();
    durable = receiver->durable_bytes();
    EXPECT_GT(durable, 0u);
    EXPECT_LE(durable, 200u << 10);
    EXPECT_FALSE(receiver->Append(receiver->received_bytes(), "x").ok()) << "latched";
    EXPECT_FALSE(receiver->Finish().ok());
    EXPECT_FALSE(follower->Latest());
  }
  auto follower = OpenStore();
  auto receiver = ValueOrFail(follower->BeginReceive(*meta));
  ASSERT_TRUE(receiver);
  EXPECT_EQ(receiver->received_bytes(), durable);
  Send(*source, *receiver, durable, meta->size_bytes);
  ASSERT_EQ(StatusOf(receiver->Finish()), Status::Ok());
  ExpectContent(*follower, *meta, content);
}

TEST_F(TransferTest, OnlyOneReceiveAtATime) {
  auto meta = WriteSnapshot(*leader_, 30, Small(1));
  auto follower = OpenStore();
  auto first = ValueOrFail(follower->BeginReceive(*meta));
  ASSERT_TRUE(first);
  EXPECT_FALSE(follower->BeginReceive(*meta).ok());
  first.reset();
  EXPECT_EQ(StatusOf(follower->BeginReceive(*meta)), Status::Ok());
}

TEST_F(TransferTest, AbandonRemovesThePartialFile) {
  auto meta = WriteSnapshot(*leader_, 30, Small(1));
  auto source = ValueOrFail(leader_->OpenReader(*meta));
  auto follower = OpenStore();
  auto receiver = ValueOrFail(follower->BeginReceive(*meta));
  Send(*source, *receiver, 0, 10);
  ASSERT_EQ(StatusOf(receiver->Sync()), Status::Ok());
  receiver->Abandon();
  EXPECT_TRUE(Files().empty());
}

}  // namespace
}  // namespace synod::snapshot
