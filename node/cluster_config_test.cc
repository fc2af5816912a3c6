#include "node/cluster_config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace synod::node {
namespace {

TEST(ClusterConfig, ParsesAndSortsMembers) {
  Result<ClusterConfig> parsed =
      ParseClusterConfig("3=127.0.0.1:7003,1=127.0.0.1:7001,2=localhost:7002");
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  ASSERT_EQ(parsed->members.size(), 3u);
  EXPECT_EQ(parsed->members[0].id, 1u);
  EXPECT_EQ(parsed->members[2].port, 7003);
  EXPECT_EQ(parsed->Find(2)->host, "localhost");
  EXPECT_EQ(parsed->ToString(), "1=127.0.0.1:7001,2=localhost:7002,3=127.0.0.1:7003");
}

TEST(ClusterConfig, RejectsBadInputWithAReason) {
  struct Case {
    const char* text;
    const char* mentions;
  };
  for (const Case& c : std::initializer_list<Case>{
           {"", "empty"},
           {"1=127.0.0.1", "ID=HOST:PORT"},
           {"0=127.0.0.1:7001", "positive"},
           {"x=127.0.0.1:7001", "positive"},
           {"1=127.0.0.1:0", "port"},
           {"1=127.0.0.1:70000", "port"},
           {"1=bad host:7001", "bad host"},
           {"1=127.0.0.1:7001,1=127.0.0.1:7002", "twice"},
           {"1=127.0.0.1:7001,2=127.0.0.1:7001", "twice"},
       }) {
    Result<ClusterConfig> parsed = ParseClusterConfig(c.text);
    EXPECT_FALSE(parsed.ok()) << c.text;
    EXPECT_NE(parsed.status().message().find(c.mentions), std::string::npos)
        << "'" << c.text << "' gave: " << parsed.status().message();
  }
}

TEST(ClusterConfig, RecordsTheMemberListAndRefusesAnotherNamingBoth) {
  std::string dir = ::testing::TempDir() + "/synod-members-" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  ClusterConfig first = ParseClusterConfig("1=127.0.0.1:7001,2=127.0.0.1:7002").value();
  ClusterConfig second = ParseClusterConfig("1=127.0.0.1:7001,2=127.0.0.1:7012").value();
  bool recorded = false;
  EXPECT_EQ(CheckRecordedMembers(dir, first, /*has_history=*/false, &recorded), "");
  EXPECT_TRUE(recorded);
  EXPECT_EQ(CheckRecordedMembers(dir, first, /*has_history=*/true, &recorded), "");
  EXPECT_FALSE(recorded);
  std::string error = CheckRecordedMembers(dir, second, /*has_history=*/true, &recorded);
  EXPECT_NE(error.find(first.ToString()), std::string::npos) << error;
  EXPECT_NE(error.find(second.ToString()), std::string::npos) << error;
  // The refusal says how to recover: which file, and when that is safe.
  EXPECT_NE(error.find("correct or delete " + dir + "/members"), std::string::npos) << error;
  EXPECT_NE(error.find("safe only if"), std::string::npos) << error;
  {
    std::ofstream corrupt(dir + "/members", std::ios::trunc);
    corrupt << "1=nonsense\n";
  }
  error = CheckRecordedMembers(dir, first, /*has_history=*/true, &recorded);
  EXPECT_NE(error.find("corrupt"), std::string::npos) << error;
  std::filesystem::remove_all(dir);
}

std::string ReadMembersFile(const std::string& dir) {
  std::ifstream in(dir + "/members");
  std::string line;
  std::getline(in, line);
  return line;
}

TEST(ClusterConfig, ATypoOnADirectoryWithoutHistoryIsCorrectedByARestart) {
  std::string dir = ::testing::TempDir() + "/synod-members-typo-" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  ClusterConfig typo = ParseClusterConfig("1=127.0.0.1:7001,2=127.0.0.1:7012").value();
  ClusterConfig right = ParseClusterConfig("1=127.0.0.1:7001,2=127.0.0.1:7002").value();
  bool recorded = false;
  ASSERT_EQ(CheckRecordedMembers(dir, typo, /*has_history=*/false, &recorded), "");
  // Nothing was promised under the typo: the corrected list replaces it.
  EXPECT_EQ(CheckRecordedMembers(dir, right, /*has_history=*/false, &recorded), "");
  EXPECT_TRUE(recorded);
  EXPECT_EQ(ReadMembersFile(dir), right.ToString());
  std::filesystem::remove_all(dir);
}

TEST(ClusterConfig, ADirectoryWithHistoryButNoListIsNotRecordedUnconfirmed) {
  std::string dir = ::testing::TempDir() + "/synod-members-old-" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  ClusterConfig given = ParseClusterConfig("1=127.0.0.1:7001,2=127.0.0.1:7002").value();
  bool recorded = true;
  EXPECT_EQ(CheckRecordedMembers(dir, given, /*has_history=*/true, &recorded), "");
  EXPECT_FALSE(recorded);
  EXPECT_FALSE(std::filesystem::exists(dir + "/members"));
  EXPECT_EQ(RecordMembers(dir, given), "");  // what the replica does once a peer agrees
  EXPECT_EQ(ReadMembersFile(dir), given.ToString());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace synod::node
