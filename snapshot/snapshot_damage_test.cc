// SnapshotStore recovery: every kind of damage a crash can leave (missing or
// torn files, truncation at every byte, leftovers) falls back to the previous
// complete snapshot, never a torn one.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "snapshot/snapshot_layout.h"
#include "snapshot/snapshot_test_support.h"

namespace synod::snapshot {
namespace {

class DamagedStoreTest : public SnapshotStoreTest {
 protected:
  void SetUp() override {
    SnapshotStoreTest::SetUp();
    pristine_ = root_ + "/pristine";
    auto store = OpenStoreAt(pristine_);
    auto old_meta = WriteSnapshot(*store, 10, Small(10));
    auto new_meta = WriteSnapshot(*store, 20, Small(20));
    ASSERT_TRUE(old_meta && new_meta);
    old_ = *old_meta;
    new_ = *new_meta;
  }

  // Copies the pristine directory to dir_, lets `damage` change it, reopens,
  // and expects the old snapshot to be the latest and the new one's files gone.
  void ExpectFallsBackToOld(const std::function<void()>& damage) {
    fs::remove_all(dir_);
    fs::create_directories(fs::path(dir_).parent_path());
    fs::copy(pristine_, dir_);
    fs::remove(Path("LOCK"));
    damage();
    auto store = OpenStore();
    ASSERT_TRUE(store);
    ASSERT_EQ(store->Latest(), old_);
    EXPECT_EQ(Files(), (std::vector<std::string>{DataName(10), MetaName(10)}));
    ExpectContent(*store, old_, Small(10));
  }

  std::string pristine_;
  SnapshotMeta old_;
  SnapshotMeta new_;
};

TEST_F(DamagedStoreTest, MetaWithoutData) {
  ExpectFallsBackToOld([&] { fs::remove(Path(DataName(20))); });
}

TEST_F(DamagedStoreTest, MetaWithTempDataOnly) {  // crash between the two renames
  ExpectFallsBackToOld([&] { fs::rename(Path(DataName(20)), Path(TempDataName(20))); });
}

TEST_F(DamagedStoreTest, DataWithoutMeta) {
  ExpectFallsBackToOld([&] { fs::remove(Path(MetaName(20))); });
}

TEST_F(DamagedStoreTest, DataWithOnlyTempMeta) {  // crash before the meta rename
  ExpectFallsBackToOld([&] { fs::rename(Path(MetaName(20)), Path(MetaName(20) + ".tmp")); });
}

TEST_F(DamagedStoreTest, MetaForAnotherSlot) {
  ExpectFallsBackToOld([&] {
    fs::copy_file(Path(MetaName(10)), Path(MetaName(20)), fs::copy_options::overwrite_existing);
  });
}

TEST_F(DamagedStoreTest, TornMetaAtEveryLength) {
  const std::string meta_bytes = ReadAll(pristine_ + "/" + MetaName(20));
  ASSERT_EQ(meta_bytes.size(), kEncodedMetaSize);
  for (size_t length = 0; length < meta_bytes.size(); ++length) {
    SCOPED_TRACE(length);
    ExpectFallsBackToOld([&] { WriteRaw(Path(MetaName(20)), meta_bytes.substr(0, length)); });
  }
  ExpectFallsBackToOld([&] { WriteRaw(Path(MetaName(20)), meta_bytes + "x"); });
  for (size_t i = 0; i < meta_bytes.size(); i += 5) {
    std::string flipped = meta_bytes;
    flipped[i] ^= 0x04;
    ExpectFallsBackToOld([&] { WriteRaw(Path(MetaName(20)), flipped); });
  }
}

TEST_F(DamagedStoreTest, DataTruncatedAtEveryByte) {
  const std::string data = ReadAll(pristine_ + "/" + DataName(20));
  ASSERT_EQ(data.size(), new_.size_bytes);
  for (size_t length = 0; length < data.size(); ++length) {
    SCOPED_TRACE(length);
    ExpectFallsBackToOld([&] { fs::resize_file(Path(DataName(20)), length); });
  }
  ExpectFallsBackToOld([&] { WriteRaw(Path(DataName(20)), data + "extra"); });
}

TEST_F(DamagedStoreTest, LeftoverTempFilesAreRemoved) {
  fs::remove_all(dir_);
  fs::create_directories(fs::path(dir_).parent_path());
  fs::copy(pristine_, dir_);
  WriteRaw(Path(TempDataName(30)), "half a snapshot");
  WriteRaw(Path(MetaName(30) + ".tmp"), "half a meta");
  WriteRaw(Path(ProgressName(40, 1) + ".tmp"), "half a progress");
  WriteRaw(Path("notes.txt"), "not ours");
  auto store = OpenStore();
  EXPECT_EQ(store->Latest(), new_);
  EXPECT_EQ(Files(), (std::vector<std::string>{"notes.txt", DataName(10), MetaName(10),
                                               DataName(20), MetaName(20)}));
}

// --- receiving ---------------------------------------------------------------

}  // namespace
}  // namespace synod::snapshot
