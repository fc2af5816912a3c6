#include "util/status.h"

#include <gtest/gtest.h>

#include <memory>

namespace synod {
namespace {

TEST(StatusTest, DefaultIsOkWithNoMessage) {
  Status status;
  EXPECT_TRUE(status.ok());
  EXPECT_EQ(status.code(), Status::Code::kOk);
  EXPECT_EQ(status.message(), "");
  EXPECT_EQ(status.ToString(), "ok");
}

TEST(StatusTest, ErrorsKeepCodeAndMessage) {
  Status status = Status::IoError("fsync /d/x: No space left on device");
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(status.code(), Status::Code::kIoError);
  EXPECT_EQ(status.message(), "fsync /d/x: No space left on device");
  EXPECT_EQ(status.ToString(), "I/O error: fsync /d/x: No space left on device");
  EXPECT_TRUE(Status::NotFound("x").IsNotFound());
  EXPECT_TRUE(Status::Corruption("x").IsCorruption());
  EXPECT_FALSE(Status::InvalidArgument("x").IsNotFound());
}

TEST(StatusTest, WithContextPrefixesFailuresOnly) {
  EXPECT_TRUE(Status::Ok().WithContext("open log").ok());
  Status status = Status::Corruption("bad crc").WithContext("snapshot 7");
  EXPECT_EQ(status.code(), Status::Code::kCorruption);
  EXPECT_EQ(status.message(), "snapshot 7: bad crc");
}

TEST(ResultTest, HoldsValueOrStatus) {
  Result<int> good = 5;
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, 5);
  EXPECT_TRUE(good.status().ok());

  Result<int> bad = Status::NotFound("no snapshot");
  EXPECT_FALSE(bad.ok());
  EXPECT_TRUE(bad.status().IsNotFound());
  EXPECT_EQ(bad.status().message(), "no snapshot");
}

TEST(ResultTest, MovesOnlyValues) {
  Result<std::unique_ptr<int>> result = std::make_unique<int>(3);
  ASSERT_TRUE(result.ok());
  std::unique_ptr<int> taken = std::move(result).value();
  EXPECT_EQ(*taken, 3);
}

}  // namespace
}  // namespace synod
