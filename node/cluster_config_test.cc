#include "node/cluster_config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <vector>

#include "node/join_marker.h"

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
  EXPECT_EQ(CheckRecordedMembers(dir, first, /*self=*/1, /*has_history=*/false, &recorded), "");
  EXPECT_TRUE(recorded);
  EXPECT_EQ(CheckRecordedMembers(dir, first, /*self=*/1, /*has_history=*/true, &recorded), "");
  EXPECT_FALSE(recorded);
  std::string error =
      CheckRecordedMembers(dir, second, /*self=*/1, /*has_history=*/true, &recorded);
  EXPECT_NE(error.find(first.ToString()), std::string::npos) << error;
  EXPECT_NE(error.find(second.ToString()), std::string::npos) << error;
  // The refusal says how to recover: which file, and when that is safe.
  EXPECT_NE(error.find("correct or delete " + dir + "/members"), std::string::npos) << error;
  EXPECT_NE(error.find("safe only if"), std::string::npos) << error;
  {
    std::ofstream corrupt(dir + "/members", std::ios::trunc);
    corrupt << "1=nonsense\n";
  }
  error = CheckRecordedMembers(dir, first, /*self=*/1, /*has_history=*/true, &recorded);
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
  ASSERT_EQ(CheckRecordedMembers(dir, typo, /*self=*/1, /*has_history=*/false, &recorded), "");
  // Nothing was promised under the typo: the corrected list replaces it.
  EXPECT_EQ(CheckRecordedMembers(dir, right, /*self=*/1, /*has_history=*/false, &recorded), "");
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
  EXPECT_EQ(CheckRecordedMembers(dir, given, /*self=*/1, /*has_history=*/true, &recorded), "");
  EXPECT_FALSE(recorded);
  EXPECT_FALSE(std::filesystem::exists(dir + "/members"));
  EXPECT_EQ(RecordMembers(dir, given), "");  // what the replica does once a peer agrees
  EXPECT_EQ(ReadMembersFile(dir), given.ToString());
  std::filesystem::remove_all(dir);
}

// A fresh directory for one test, removed when the test ends.
class MembersDir {
 public:
  explicit MembersDir(const std::string& name)
      : path_(::testing::TempDir() + "/synod-members-" + name + "-" + std::to_string(::getpid())) {
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~MembersDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }
  std::string file() const { return path_ + "/members"; }
  std::string Text() const {
    std::ifstream in(file());
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  void Write(const std::string& text) const {
    std::ofstream out(file(), std::ios::trunc);
    out << text;
  }

 private:
  std::string path_;
};

constexpr const char* kFounders = "1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003";
// The founders after "add 4 learner" (slot 7).
constexpr const char* kGrown =
    "1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003,4=127.0.0.1:7004";

ClusterConfig List(const std::string& text) { return ParseClusterConfig(text).value(); }

// CheckRecordedMembers for replica `self` of a directory with history.
std::string CheckWithHistory(const MembersDir& dir, const std::string& members,
                             paxos::ReplicaId self) {
  bool recorded = true;
  std::string error = CheckRecordedMembers(dir.path(), List(members), self, true, &recorded);
  EXPECT_FALSE(recorded);
  return error;
}

TEST(RecordedMembers, AFounderWhoseConfigurationNeverChangedKeepsTheOneLineFormAndExactRule) {
  MembersDir dir("one-line");
  bool recorded = false;
  ASSERT_EQ(CheckRecordedMembers(dir.path(), List(kFounders), 1, false, &recorded), "");
  EXPECT_TRUE(recorded);
  EXPECT_EQ(dir.Text(), std::string(kFounders) + "\n");  // byte-identical to earlier builds
  Result<std::optional<RecordedMembers>> read = ReadRecordedMembers(dir.path());
  ASSERT_TRUE(read.ok()) << read.status().message();
  ASSERT_TRUE(read->has_value());
  const RecordedMembers& members = **read;
  EXPECT_TRUE(members.OneLine());
  EXPECT_FALSE(members.joined);
  EXPECT_EQ(members.config_slot, 0u);
  ASSERT_TRUE(members.initial.has_value());
  EXPECT_EQ(members.initial->ToString(), kFounders);
  EXPECT_EQ(members.book.ToString(), kFounders);
  // With history the list must be exactly the recorded one: a subset or a
  // list naming another member is refused, though the addresses agree.
  EXPECT_EQ(CheckWithHistory(dir, kFounders, 1), "");
  EXPECT_NE(CheckWithHistory(dir, kGrown, 1).find("belongs to a cluster of members"),
            std::string::npos);
  EXPECT_NE(CheckWithHistory(dir, "1=127.0.0.1:7001,2=127.0.0.1:7002", 1).find(kFounders),
            std::string::npos);
  EXPECT_EQ(dir.Text(), std::string(kFounders) + "\n");
  // Lines after the first were ignored by earlier builds: still.
  dir.Write(std::string(kFounders) + "\nleftover\n");
  EXPECT_EQ(CheckWithHistory(dir, kFounders, 1), "");
  EXPECT_TRUE(ReadRecordedMembers(dir.path()).ok());
  // No file at all.
  MembersDir empty("none");
  read = ReadRecordedMembers(empty.path());
  ASSERT_TRUE(read.ok());
  EXPECT_FALSE(read->has_value());
}

TEST(RecordedMembers, AfterAChangeAnyListAgreeingWithTheRecordedAddressesIsAccepted) {
  MembersDir dir("changed");
  ASSERT_EQ(RecordMembers(dir.path(), List(kFounders)), "");
  Result<bool> written = RecordConfiguration(dir.path(), 7, kGrown);
  ASSERT_TRUE(written.ok()) << written.status().message();
  EXPECT_TRUE(*written);
  EXPECT_EQ(dir.Text(), "# initial=" + std::string(kFounders) + "\n# config_slot=7\n" +
                            std::string(kGrown) + "\n");
  Result<std::optional<RecordedMembers>> read = ReadRecordedMembers(dir.path());
  ASSERT_TRUE(read.ok() && read->has_value()) << read.status().message();
  EXPECT_FALSE((*read)->OneLine());
  EXPECT_EQ((*read)->config_slot, 7u);
  EXPECT_EQ((*read)->initial->ToString(), kFounders);
  EXPECT_EQ((*read)->book.ToString(), kGrown);

  // The founding list, a list naming the added member, a subset, a list
  // naming an id the book does not know: all at the recorded addresses.
  EXPECT_EQ(CheckWithHistory(dir, kFounders, 1), "");
  EXPECT_EQ(CheckWithHistory(dir, kGrown, 1), "");
  EXPECT_EQ(CheckWithHistory(dir, "1=127.0.0.1:7001,4=127.0.0.1:7004", 1), "");
  // Replica 4 is no founder: a founder's file is not its directory's.
  std::string foreign = CheckWithHistory(dir, "4=127.0.0.1:7004", 4);
  EXPECT_NE(
      foreign.find("records the founding members " + std::string(kFounders) + " without replica 4"),
      std::string::npos)
      << foreign;
  EXPECT_EQ(CheckWithHistory(dir, "1=127.0.0.1:7001,9=127.0.0.1:7009", 1), "");

  // A member the book lists at another address: refused, naming the id,
  // both addresses and the file.
  std::string error = CheckWithHistory(dir, "1=127.0.0.1:7001,4=127.0.0.1:7014", 1);
  EXPECT_NE(error.find("replica 4 is at 127.0.0.1:7004 in " + dir.file()), std::string::npos)
      << error;
  EXPECT_NE(error.find("--members says 127.0.0.1:7014"), std::string::npos) << error;
  EXPECT_NE(error.find("slot 7"), std::string::npos) << error;
  // Its own address changed: the same.
  error = CheckWithHistory(dir, "1=127.0.0.1:7011", 1);
  EXPECT_NE(error.find("replica 1 is at 127.0.0.1:7001"), std::string::npos) << error;

  // A book without this replica: refused.
  ASSERT_TRUE(RecordConfiguration(dir.path(), 9, "1=127.0.0.1:7001,2=127.0.0.1:7002").ok());
  error = CheckWithHistory(dir, "3=127.0.0.1:7003,1=127.0.0.1:7001", 3);
  EXPECT_NE(error.find("without replica 3"), std::string::npos) << error;
  EXPECT_NE(error.find(dir.file()), std::string::npos) << error;

  // Without history the file is never rewritten from --members either: a
  // recorded change beside no history means the replica's data was lost.
  const std::string before = dir.Text();
  for (const char* members : {"1=127.0.0.1:7021", kFounders}) {
    bool recorded = true;
    error = CheckRecordedMembers(dir.path(), List(members), 1, false, &recorded);
    EXPECT_NE(error.find("records a configuration change (slot 9)"), std::string::npos) << error;
    EXPECT_NE(error.find("holds no Paxos history"), std::string::npos) << error;
    EXPECT_FALSE(recorded);
    EXPECT_EQ(dir.Text(), before);
  }
}

TEST(RecordedMembers, TheFoundingListIsKeptAcrossRewritesAndSlotsNeverGoBack) {
  MembersDir dir("rewrites");
  // Before any file: nothing to keep, nothing written (a directory from
  // before the file keeps the exact rule).
  Result<bool> written = RecordConfiguration(dir.path(), 5, kGrown);
  ASSERT_FALSE(written.ok());
  EXPECT_TRUE(written.status().IsNotFound()) << written.status().message();
  EXPECT_FALSE(std::filesystem::exists(dir.file()));

  ASSERT_EQ(RecordMembers(dir.path(), List(kFounders)), "");
  ASSERT_TRUE(RecordConfiguration(dir.path(), 5, kGrown).value());
  // 3 removed, 5 added: the founding list stays.
  const std::string later = "1=127.0.0.1:7001,2=127.0.0.1:7002,4=127.0.0.1:7004,5=h5:7005";
  ASSERT_TRUE(RecordConfiguration(dir.path(), 12, later).value());
  const std::string expected =
      "# initial=" + std::string(kFounders) + "\n# config_slot=12\n" + later + "\n";
  EXPECT_EQ(dir.Text(), expected);
  // The same or an older configuration (a restart replaying its log): kept.
  EXPECT_FALSE(RecordConfiguration(dir.path(), 12, kGrown).value());
  EXPECT_FALSE(RecordConfiguration(dir.path(), 5, kGrown).value());
  EXPECT_EQ(dir.Text(), expected);
  // A malformed book is never written.
  written = RecordConfiguration(dir.path(), 13, "1=127.0.0.1:7001,oops");
  ASSERT_FALSE(written.ok());
  EXPECT_NE(written.status().message().find("malformed address book"), std::string::npos);
  EXPECT_EQ(dir.Text(), expected);
  // A configuration may hold more members than --members (up to 16).
  std::string big;
  for (int id = 1; id <= 16; ++id) {
    big +=
        (big.empty() ? "" : ",") + std::to_string(id) + "=127.0.0.1:" + std::to_string(7000 + id);
  }
  ASSERT_TRUE(RecordConfiguration(dir.path(), 20, big).value());
  Result<std::optional<RecordedMembers>> read = ReadRecordedMembers(dir.path());
  ASSERT_TRUE(read.ok()) << read.status().message();
  EXPECT_EQ((*read)->book.members.size(), 16u);
  EXPECT_EQ((*read)->initial->ToString(), kFounders);
}

TEST(RecordedMembers, AJoinedDirectoryHasNoFoundingList) {
  MembersDir dir("joined");
  ASSERT_TRUE(RecordJoined(dir.path(), MemberAddress{4, "127.0.0.1", 7004}).ok());
  EXPECT_EQ(dir.Text(), "# joined\n4=127.0.0.1:7004\n");
  Result<std::optional<RecordedMembers>> read = ReadRecordedMembers(dir.path());
  ASSERT_TRUE(read.ok() && read->has_value()) << read.status().message();
  EXPECT_TRUE((*read)->joined);
  EXPECT_FALSE((*read)->initial.has_value());
  EXPECT_FALSE((*read)->OneLine());
  EXPECT_EQ((*read)->config_slot, 0u);
  EXPECT_EQ((*read)->book.ToString(), "4=127.0.0.1:7004");
  // Any list naming it at its address, with or without history; never
  // rewritten from --members (that would make it a founder).
  for (bool history : {false, true}) {
    bool recorded = true;
    EXPECT_EQ(CheckRecordedMembers(dir.path(), List(kGrown), 4, history, &recorded), "");
    EXPECT_FALSE(recorded);
    std::string error = CheckRecordedMembers(dir.path(), List("1=127.0.0.1:7001,4=127.0.0.1:7014"),
                                             4, history, &recorded);
    EXPECT_NE(error.find("replica 4 is at 127.0.0.1:7004"), std::string::npos) << error;
    EXPECT_NE(error.find("recorded when it joined"), std::string::npos) << error;
    EXPECT_EQ(dir.Text(), "# joined\n4=127.0.0.1:7004\n");
  }
  // A change applied later keeps the marker.
  ASSERT_TRUE(RecordConfiguration(dir.path(), 30, kGrown).value());
  EXPECT_EQ(dir.Text(), "# joined\n# config_slot=30\n" + std::string(kGrown) + "\n");
  read = ReadRecordedMembers(dir.path());
  ASSERT_TRUE(read.ok()) << read.status().message();
  EXPECT_TRUE((*read)->joined);
  EXPECT_FALSE((*read)->initial.has_value());
  EXPECT_EQ((*read)->config_slot, 30u);
}

TEST(RecordedMembers, AMalformedHeaderedFileIsRefusedNeverRewritten) {
  const std::string founders = std::string(kFounders);
  struct Case {
    std::string text;
    const char* mentions;
  };
  for (const Case& c : std::vector<Case>{
           {"# bogus\n" + founders + "\n", "unknown line '# bogus'"},
           {"# initial=" + founders + "\n# config_slot=3\n# color=red\n" + founders + "\n",
            "unknown line '# color=red'"},
           {"# initial=" + founders + "\n" + founders + "\n", "no '# config_slot=S' line"},
           {"# initial=" + founders + "\n# joined\n" + founders + "\n", "both"},
           {"# config_slot=3\n" + founders + "\n", "neither"},
           {"# joined\n# joined\n4=h:1\n", "a second line '# joined'"},
           {"# joined\n# config_slot=0\n4=h:1\n", "positive integer"},
           {"# joined\n# config_slot=x\n4=h:1\n", "positive integer"},
           {"# joined\n# config_slot=99999999999999999999999\n4=h:1\n", "positive integer"},
           {"# initial=1=nonsense\n# config_slot=3\n" + founders + "\n", "'# initial=1=nonsense'"},
           {"# initial=" + founders + "\n# config_slot=3\n", "is missing"},
           {"# initial=" + founders + "\n# config_slot=3\n" + founders + "\n" + founders + "\n",
            "more than one line"},
           {"# joined\n4=h:1,x\n", "corrupt member list"},
           // A founding list was a --members value: at most 9 founders.
           {"# initial=1=h:1,2=h:2,3=h:3,4=h:4,5=h:5,6=h:6,7=h:7,8=h:8,9=h:9,10=h:10\n"
            "# config_slot=3\n" +
                founders + "\n",
            "at most 9 members"},
       }) {
    MembersDir dir("corrupt");
    dir.Write(c.text);
    Result<std::optional<RecordedMembers>> read = ReadRecordedMembers(dir.path());
    ASSERT_FALSE(read.ok()) << c.text;
    EXPECT_TRUE(read.status().IsCorruption()) << c.text;
    EXPECT_NE(read.status().message().find(dir.file() + " is malformed"), std::string::npos)
        << read.status().message();
    EXPECT_NE(read.status().message().find(c.mentions), std::string::npos)
        << "'" << c.text << "' gave: " << read.status().message();
    for (bool history : {false, true}) {
      bool recorded = true;
      std::string error = CheckRecordedMembers(dir.path(), List(kFounders), 1, history, &recorded);
      EXPECT_NE(error.find(c.mentions), std::string::npos) << c.text << " gave: " << error;
      EXPECT_NE(error.find("refusing to start"), std::string::npos) << error;
      EXPECT_FALSE(recorded);
      EXPECT_EQ(dir.Text(), c.text);
    }
    EXPECT_FALSE(RecordConfiguration(dir.path(), 50, kGrown).ok());
    EXPECT_EQ(dir.Text(), c.text);
  }
}

// A join marker replaces only a file that says nothing worth keeping: none,
// a malformed one-line file, a founding list never changed, a join marker
// without a configuration.
TEST(JoinMarker, MayReplaceOnlyAFileThatRecordsNoChange) {
  MembersDir dir("join-marker");
  EXPECT_TRUE(MayRecordJoinMarker(dir.path())) << "no file";
  ASSERT_EQ(RecordMembers(dir.path(), ParseClusterConfig(kFounders).value()), "");
  EXPECT_TRUE(MayRecordJoinMarker(dir.path())) << "a one-line founding list";
  ASSERT_TRUE(RecordConfiguration(dir.path(), 7, kGrown).ok());
  EXPECT_FALSE(MayRecordJoinMarker(dir.path())) << "a founder that applied a change";
  ASSERT_TRUE(RecordJoined(dir.path(), MemberAddress{4, "127.0.0.1", 7004}).ok());
  EXPECT_TRUE(MayRecordJoinMarker(dir.path())) << "a join marker alone";
  ASSERT_TRUE(RecordConfiguration(dir.path(), 9, kGrown).ok());
  EXPECT_FALSE(MayRecordJoinMarker(dir.path())) << "a joiner that served";
  dir.Write("# joined\n# joined\n4=127.0.0.1:7004\n");
  EXPECT_FALSE(MayRecordJoinMarker(dir.path())) << "a malformed headered file is kept";
  dir.Write("");
  EXPECT_TRUE(MayRecordJoinMarker(dir.path())) << "empty: a founder's start rewrites it too";
  dir.Write("1=127.0.0.1:7001,garbage\n");
  EXPECT_TRUE(MayRecordJoinMarker(dir.path())) << "a malformed list: rewritten too";
}

}  // namespace
}  // namespace synod::node
